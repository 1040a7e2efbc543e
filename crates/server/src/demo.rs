//! `serve --demo`: a demo institution and a demo training-site page that uses the real API
//! over HTTP, exactly as an institution's backend would, so one command shows the whole flow.

use std::collections::HashMap;
use std::path::Path;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::admin::{create_tenant, new_api_key};
use crate::crypto::{token_hash, write_private_file};
use crate::error::ApiError;
use crate::http::ApiJson;
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
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("bad response: {e}"))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!(
                "{status}: {}",
                body["error"].as_str().unwrap_or("unknown error")
            ))
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
    let key = new_api_key();
    storage
        .set_api_key_hash(&tenant.id, &token_hash(&key))
        .await?;
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
        "<p>Trainee <strong>{}</strong> (status: {}), purpose <strong>{}</strong>. Enter the code \
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
             <code>{}</code>. Build the web app (trunk build --release) and restart the server \
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
