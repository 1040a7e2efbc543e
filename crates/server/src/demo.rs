//! `serve --demo`: a demo institution and a demo training-site page that uses the real API
//! over HTTP, exactly as an institution's backend would, so one command shows the whole flow:
//! the embedded widget, and an institution-admin panel that issues activation codes and
//! registers authenticator apps (with the otpauth:// URI as a QR code).

use std::collections::HashMap;
use std::path::Path;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::admin::{create_tenant, rotate_api_key};
use crate::crypto::{token_hash, write_private_file};
use crate::error::ApiError;
use crate::http::{ApiJson, origin_of, path_segment, same_origin};
use crate::statics::escape_html as escape_text;
use crate::storage::{Storage, StorageError};
use crate::validate::{CustomerCode, Origin, Purpose, TenantName, UserId};

/// The demo institution's name.
pub const NAME: &str = "Demo Academy";
/// The demo institution's customer code.
pub const CUSTOMER_CODE: &str = "1234";
/// The file in the data directory that keeps the demo's API key (mode 0600).
pub const KEY_FILE: &str = "demo-api-key";
/// The trainee the demo page starts with.
pub const DEFAULT_USER: &str = "trainee-001";

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Database failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The key file could not be written.
    #[error("demo key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    /// Customer code 1234 belongs to a real institution.
    #[error("customer code {CUSTOMER_CODE} belongs to another institution; the demo needs it")]
    CodeTaken,
    /// The server's URL is not a valid origin.
    #[error("the server URL {0} is not a valid origin")]
    Origin(String),
}

/// What the demo pages need: the API key and where the API listens.
#[derive(Debug, Clone)]
pub struct Demo {
    api_key: String,
    base_url: String,
    client: reqwest::Client,
}

impl Demo {
    /// The demo of the institution with `api_key`, calling the API at `base_url`.
    pub fn new(api_key: String, base_url: String) -> Self {
        Demo {
            api_key,
            base_url,
            client: reqwest::Client::new(),
        }
    }

    async fn call(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.call_api(path, body).await.map_err(|e| e.to_string())
    }

    /// A POST to the API with the demo's key; an error answer keeps its status and body.
    async fn call_api(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .map_err(|e| CallError::Transport(format!("request failed: {e}")))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| CallError::Transport(format!("bad response: {e}")))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(CallError::Api {
                status: status.as_u16(),
                body,
            })
        }
    }
}

/// Why a call of the demo's backend to the API failed.
#[derive(Debug)]
enum CallError {
    /// No usable answer.
    Transport(String),
    /// An error answer of the API.
    Api {
        /// The HTTP status.
        status: u16,
        /// The error body, `{"error", "message", ...}`.
        body: Value,
    },
}

impl CallError {
    /// The API's stable error code, if it answered with one.
    fn code(&self) -> Option<&str> {
        match self {
            CallError::Api { body, .. } => body["error"].as_str(),
            CallError::Transport(_) => None,
        }
    }

    /// The status the demo page answers with: the API's own for its errors (409 for a
    /// device that exists, ...), 502 when the API could not be reached.
    fn status(&self) -> StatusCode {
        match self {
            CallError::Api { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            CallError::Transport(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transport(e) => f.write_str(e),
            CallError::Api { status, .. } => {
                write!(f, "{status}: {}", self.code().unwrap_or("unknown error"))
            }
        }
    }
}

/// Creates the demo institution on first start (later starts reuse it), makes sure
/// `base_url` is one of its origins and that its API key is in the key file; returns the key.
pub async fn ensure_tenant(
    storage: &Storage,
    data_dir: &Path,
    base_url: &str,
    now_ms: i64,
) -> Result<String, DemoError> {
    let origin = Origin::parse(base_url).map_err(|_| DemoError::Origin(base_url.to_owned()))?;
    let key_path = data_dir.join(KEY_FILE);
    let save = |key: &str| {
        // A stale file from an earlier database is replaced.
        let _ = std::fs::remove_file(&key_path);
        write_private_file(&key_path, key.as_bytes())
            .map_err(|e| DemoError::KeyFile(key_path.display().to_string(), e))
    };
    let Some(tenant) = storage.tenant_by_customer_code(CUSTOMER_CODE).await? else {
        let name = TenantName::parse(NAME).map_err(|_| DemoError::CodeTaken)?;
        let code = CustomerCode::parse(CUSTOMER_CODE).map_err(|_| DemoError::CodeTaken)?;
        let (_, key) = create_tenant(storage, &name, &code, &[origin], now_ms).await?;
        save(&key)?;
        return Ok(key);
    };
    if tenant.name != NAME {
        return Err(DemoError::CodeTaken);
    }
    storage.add_origin(&tenant.id, origin.as_str()).await?;
    if let Ok(key) = std::fs::read_to_string(&key_path) {
        let key = key.trim().to_owned();
        if storage
            .tenant_by_key_hash(&token_hash(&key))
            .await?
            .is_some_and(|t| t.id == tenant.id)
        {
            return Ok(key);
        }
    }
    let key = rotate_api_key(storage, &tenant).await?;
    save(&key)?;
    Ok(key)
}

/// Escapes text for the page; braces too, so text can never form a `{{placeholder}}` of the
/// template.
fn escape_html(text: &str) -> String {
    escape_text(text).replace('{', "&#123;")
}

/// The demo's routes under /demo/.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/demo", get(|| async { Redirect::permanent("/demo/") }))
        .route("/demo/", get(page))
        .route("/demo/demo.js", get(script))
        .route("/demo/demo.css", get(style))
        .route("/demo/redeem", post(redeem))
        .route("/demo/activation", post(issue_activation))
        .route("/demo/authenticator", post(register_authenticator))
}

async fn script() -> Response {
    let js = include_str!("../demo/demo.js");
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        js,
    )
        .into_response()
}

async fn style() -> Response {
    let css = include_str!("../demo/demo.css");
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response()
}

/// The training-site page: opens a session for the trainee through the API and embeds the
/// widget with it.
async fn page(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(demo) = state.demo.clone() else {
        return ApiError::NotFound.into_response();
    };
    let params = query.map(|Query(q)| q).unwrap_or_default();
    let raw_user = params.get("user_id").map_or(DEFAULT_USER, String::as_str);
    let raw_purpose = params.get("purpose").map_or("course_entry", String::as_str);
    let options: String = Purpose::KNOWN
        .iter()
        .map(|p| {
            let selected = if *p == raw_purpose { " selected" } else { "" };
            format!("<option value=\"{p}\"{selected}>{p}</option>")
        })
        .collect();
    let render = |status: StatusCode, body: String| {
        let html = include_str!("../demo/page.html")
            .replace("{{user_id}}", &escape_html(raw_user))
            .replace("{{purpose_options}}", &options)
            .replace("{{body}}", &body);
        (status, Html(html)).into_response()
    };
    let (Ok(user), Ok(purpose)) = (UserId::parse(raw_user), Purpose::parse(raw_purpose)) else {
        let msg = "<p class=\"error\">The trainee ID must be 1 to 128 printable characters.</p>";
        return render(StatusCode::BAD_REQUEST, msg.to_owned());
    };
    let request = json!({ "user_id": user.as_str(), "purpose": purpose.as_str() });
    let session = match demo.call("/v1/sessions", &request).await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "demo could not open a session");
            let msg = "<p class=\"error\">The training site could not open an OTP session.</p>";
            return render(StatusCode::BAD_GATEWAY, msg.to_owned());
        }
    };
    let token = session["session"].as_str().unwrap_or_default();
    let status = session["user_status"].as_str().unwrap_or_default();
    let mut body = format!(
        "<p>Trainee <strong>{}</strong> (<span id=\"user-status\">status: {}</span>), purpose <strong>{}</strong>. Enter the code \
         that your registered browser shows; the first time, this browser is registered.</p>\n\
         <cloud-otp server=\"{}\" session=\"{}\"></cloud-otp>",
        escape_html(user.as_str()),
        escape_html(status),
        escape_html(purpose.as_str()),
        escape_html(&demo.base_url),
        escape_html(token),
    );
    if !state.config.dist_dir.join("cloud-otp.js").is_file() {
        body.push_str(&format!(
            "\n<p class=\"notice\">The widget script is not built: there is no cloud-otp.js in \
             <code>{}</code>. Build the web app (scripts/build-web.sh) and restart the server \
             with --dist pointing at it.</p>",
            escape_html(&state.config.dist_dir.display().to_string())
        ));
    }
    render(StatusCode::OK, body)
}

/// `POST /demo/redeem` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemRequest {
    pass: String,
}

/// The training site's backend: redeems the pass with /v1/siteverify and reports the result.
async fn redeem(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RedeemRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let demo = state.demo.clone().ok_or(ApiError::NotFound)?;
    let result = demo
        .call("/v1/siteverify", &json!({ "pass": req.pass }))
        .await;
    result.map(axum::Json).map_err(ApiError::Internal)
}

// ----- the institution-admin panel -----

/// `POST /demo/activation` form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivationForm {
    user_id: String,
}

/// `POST /demo/authenticator` form; the checkbox `replace` is sent only when ticked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthenticatorForm {
    user_id: String,
    #[serde(default)]
    replace: Option<String>,
}

/// A result page of the admin panel.
fn admin_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = include_str!("../demo/admin.html")
        .replace("{{title}}", &escape_html(title))
        .replace("{{body}}", body);
    (status, Html(html)).into_response()
}

fn admin_error(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!("<p class=\"error\">{}</p>", escape_html(message));
    admin_page(status, title, &body)
}

/// The panel's forms change the institution's data with the demo's API key, so only this
/// server's own pages may post them: a browser marks a form posted from another site with
/// `Sec-Fetch-Site: cross-site` or `same-site` (Fetch Metadata), and browsers without Fetch
/// Metadata still send the other site's `Origin` (or `null`) with a form post; both are
/// refused. Clients that send neither header (curl, tests) are not browsers carrying a
/// trainee's visit.
fn from_this_site(state: &AppState, demo: &Demo, headers: &HeaderMap) -> bool {
    let fetch_site_ok = match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(site) => site == "same-origin" || site == "none",
    };
    let origin_ok = match origin_of(headers) {
        None => !headers.contains_key(header::ORIGIN),
        Some(origin) => {
            origin == demo.base_url.to_ascii_lowercase()
                || same_origin(headers, &origin, state.config.trust_forwarded_for)
        }
    };
    fetch_site_ok && origin_ok
}

/// The checks every admin form shares: the demo is on, the post comes from this site, and
/// the form and its login ID are valid.
fn admin_request<T>(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<T>, FormRejection>,
    title: &str,
    user_id: impl Fn(&T) -> &str,
) -> Result<(std::sync::Arc<Demo>, T, UserId), Box<Response>> {
    let Some(demo) = state.demo.clone() else {
        return Err(Box::new(ApiError::NotFound.into_response()));
    };
    if !from_this_site(state, &demo, headers) {
        return Err(Box::new(admin_error(
            StatusCode::FORBIDDEN,
            title,
            "This form can only be sent from the demo's own page.",
        )));
    }
    let Ok(Form(form)) = form else {
        return Err(Box::new(admin_error(
            StatusCode::BAD_REQUEST,
            title,
            "The form was incomplete; go back and fill in the login ID.",
        )));
    };
    let Ok(user) = UserId::parse(user_id(&form)) else {
        return Err(Box::new(admin_error(
            StatusCode::BAD_REQUEST,
            title,
            "The login ID must be 1 to 128 printable characters.",
        )));
    };
    Ok((demo, form, user))
}

/// Plain words for the API's errors the panel can meet.
fn explain(e: &CallError) -> String {
    match (e, e.code()) {
        (CallError::Api { body, .. }, Some("device_exists")) => format!(
            "This login ID already has a registered device ({}, registered {}). Tick \
             \"Replace the current device\" to make the authenticator app its device instead; \
             the old device then stops working.",
            body["device"]["label"].as_str().unwrap_or("unknown"),
            body["device"]["registered_at"]
                .as_str()
                .unwrap_or("unknown"),
        ),
        (_, Some("locked")) => "OTP is suspended for this login ID after five wrong codes. \
             Unlock it first (POST /v1/users/{id}/unlock) after checking who the trainee is."
            .to_owned(),
        (_, Some(code)) => format!("The OTP server refused the request ({code})."),
        (CallError::Transport(_), None) | (CallError::Api { .. }, None) => {
            "The training site could not reach the OTP server.".to_owned()
        }
    }
}

/// `POST /demo/activation`: the institution issues an activation code through the API
/// (`POST /v1/users/{id}/activation`) and shows what to give the trainee.
async fn issue_activation(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ActivationForm>, FormRejection>,
) -> Response {
    let title = "Activation code";
    let (demo, _, user) = match admin_request(&state, &headers, form, title, |f| &f.user_id) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    let path = format!("/v1/users/{}/activation", path_segment(user.as_str()));
    let issued = match demo.call_api(&path, &json!({})).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "demo could not issue an activation code");
            return admin_error(e.status(), title, &explain(&e));
        }
    };
    let field = |name: &str| escape_html(issued[name].as_str().unwrap_or_default());
    let body = format!(
        "<p>An activation code for <strong>{user}</strong>. Give the trainee these values; \
         the code works once, within 3 days, and allows 5 wrong tries.</p>\n\
         <dl class=\"issued\">\n\
         <dt>Customer code</dt><dd><code>{customer}</code></dd>\n\
         <dt>Login ID</dt><dd><code>{user}</code></dd>\n\
         <dt>Activation code</dt><dd><code class=\"big\">{code}</code></dd>\n\
         <dt>Valid until</dt><dd><time datetime=\"{expires}\">{expires}</time></dd>\n\
         </dl>\n\
         <p>The trainee opens <a href=\"/\">the cloud-otp page</a> in the browser that is to \
         show the codes and activates it with the customer code, the login ID and the \
         activation code.</p>",
        user = field("user_id"),
        customer = field("customer_code"),
        code = field("activation_code"),
        expires = field("expires_at"),
    );
    admin_page(StatusCode::OK, title, &body)
}

/// `POST /demo/authenticator`: the institution makes a standard authenticator app the
/// trainee's device through the API (`POST /v1/users/{id}/authenticator`) and shows the
/// otpauth:// URI as a QR code and as text.
async fn register_authenticator(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<AuthenticatorForm>, FormRejection>,
) -> Response {
    let title = "Authenticator app";
    let (demo, form, user) = match admin_request(&state, &headers, form, title, |f| &f.user_id) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    let replace = form.replace.is_some();
    let path = format!("/v1/users/{}/authenticator", path_segment(user.as_str()));
    let made = match demo.call_api(&path, &json!({ "replace": replace })).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "demo could not register an authenticator app");
            return admin_error(e.status(), title, &explain(&e));
        }
    };
    let uri = made["otpauth_uri"].as_str().unwrap_or_default();
    let Some(svg) = qr_svg(uri) else {
        return admin_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            title,
            "The QR code could not be drawn.",
        );
    };
    let body = format!(
        "<p>An authenticator app is now the device of <strong>{user}</strong>{replaced}. The \
         trainee scans this QR code with a standard authenticator app (TOTP: 6 digits, a new \
         code every 60 seconds) and types its codes into the training site, whose backend \
         checks them with <code>POST /v1/check</code>.</p>\n\
         <figure class=\"qr\">{svg}<figcaption>Show this code to the trainee only: it holds \
         the secret key.</figcaption></figure>\n\
         <p>The same key as text, for apps that cannot scan:</p>\n\
         <p><code class=\"uri\">{uri}</code></p>",
        user = escape_html(user.as_str()),
        replaced = if replace {
            ", replacing the device it had"
        } else {
            ""
        },
        uri = escape_html(uri),
    );
    admin_page(StatusCode::OK, title, &body)
}

/// The QR code of `text` as an inline `<svg>` element: drawn with paths and presentation
/// attributes only, which the page's CSP (no inline styles) allows.
fn qr_svg(text: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The renderer writes a standalone document; inside HTML only the element belongs.
    let start = image.find("<svg")?;
    Some(image[start..].replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code of the authenticator key\"",
        1,
    ))
}
