//! The client of the server's browser-facing contract (docs/api.md): `GET /v1/time`,
//! `GET /v1/customers/{code}`, `POST /v1/status`, `POST /v1/devices` and `POST /v1/verify`,
//! every answer turned into a typed result.
//!
//! [`refusal`] is the one place that maps an error answer to an [`Error`]; it is a pure
//! function of the status and the parsed body, so it is tested on data.

use js_sys::{JSON, Object};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCache, RequestCredentials, RequestInit, Response};
use zeroize::Zeroizing;

use crate::clock::{Sample, device_now_ms};
use crate::error::RegisteredDevice;
use crate::text::concat;
use crate::{Error, js};

/// How long a request may take before it counts as a network failure.
const TIMEOUT_MS: u32 = 15_000;

/// What authorizes a registration.
#[derive(Clone, PartialEq, Eq)]
pub enum Authorization {
    /// An OTP session the training site opened for the trainee (the embedded widget).
    Session(String),
    /// An activation code the institution issued (docs/product.md rule 9).
    Activation {
        /// The institution's 4-digit customer code.
        customer_code: String,
        /// The trainee's login ID.
        user_id: String,
        /// The 6-digit activation code.
        activation_code: String,
    },
}

/// Session tokens and activation codes are credentials: `Debug` shows neither.
impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authorization::Session(_) => f.write_str("Session(redacted)"),
            Authorization::Activation {
                customer_code,
                user_id,
                ..
            } => {
                write!(f, "Activation({customer_code}, {user_id}, redacted)")
            }
        }
    }
}

/// A successful registration (`201` from `POST /v1/devices`).
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The device id the server issued.
    pub device_id: String,
    /// The login ID the device belongs to.
    pub user_id: String,
    /// The institution's customer code, when the server names it.
    pub customer_code: Option<String>,
    /// The request's round trip and the server time in the answer: a free clock measurement.
    pub sample: Sample,
}

/// A successful verification: the single-use pass the training site redeems.
#[derive(Clone, PartialEq, Eq)]
pub struct Pass {
    /// The pass, opaque to the browser.
    pub pass: String,
    /// When it expires, ISO 8601 text.
    pub expires_at: String,
}

/// A pass is a credential until redeemed: `Debug` does not show it.
impl std::fmt::Debug for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pass(redacted, expires {})", self.expires_at)
    }
}

/// Where the user of an OTP session stands (`user_status` in `POST /v1/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// No device is registered for the user.
    Unregistered,
    /// A device is registered and OTP works.
    Active,
    /// Five wrong codes suspended OTP (docs/product.md rule 4).
    Locked,
}

/// What `POST /v1/status` says about an OTP session: whose it is and where they stand, which is
/// what the widget needs to choose its first screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    /// The login ID the session was opened for.
    pub user_id: String,
    /// Registered, suspended, or neither.
    pub user_status: UserStatus,
    /// The registered device, when there is one.
    pub device: Option<RegisteredDevice>,
    /// The institution's name, for "ask your institution" messages.
    pub institution: String,
    /// The institution's customer code.
    pub customer_code: Option<String>,
    /// The institution's PIN policy: 0 (no PIN), 4 or 6 digits.
    pub pin_digits: u8,
    /// A test institution (its codes always get the same answer, `institution.test`): the
    /// widget marks its screens testing only.
    pub test: bool,
}

/// An institution as `GET /v1/customers/{customer_code}` names it: the first step of
/// activation, before the trainee types a login ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The 4-digit customer code.
    pub customer_code: String,
    /// The institution's name.
    pub institution: String,
    /// Its PIN policy: 0 (no PIN), 4 or 6 digits.
    pub pin_digits: u8,
}

/// A PIN policy from the server: 4 or 6, and 0 for anything else (no PIN).
fn pin_policy(body: &JsValue) -> u8 {
    match js::number_field(body, "pin_digits").map(|n| n as i64) {
        Some(4) => 4,
        Some(6) => 6,
        _ => 0,
    }
}

/// The fields of an error answer (`{"error": CODE, "message": TEXT, ...}`) this module uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorBody {
    /// The stable error code.
    pub error: Option<String>,
    /// Attempts left, in `invalid_code` and `invalid_activation` answers.
    pub attempts_left: Option<u32>,
    /// The registered device, in `device_exists` and `unapproved_device` answers.
    pub device: Option<RegisteredDevice>,
}

impl ErrorBody {
    /// Reads an answer parsed with `JSON.parse`; anything else (no body, HTML from a proxy)
    /// gives an empty body.
    pub fn from_json(body: &JsValue) -> ErrorBody {
        ErrorBody {
            error: js::string_field(body, "error"),
            attempts_left: js::number_field(body, "attempts_left")
                .map(|n| n.clamp(0.0, 1_000.0) as u32),
            device: js::field(body, "device").map(|device| RegisteredDevice {
                label: js::string_field(&device, "label").unwrap_or_default(),
                registered_at: js::field(&device, "registered_at")
                    .map(|t| timestamp_text(&t))
                    .unwrap_or_default(),
                this_browser: false,
            }),
        }
    }
}

/// The error an answer with a failure status means. The server's error code decides; without
/// one, the status does (429 is rate limiting, anything else is a server failure).
///
/// ```
/// use cloud_otp_web::Error;
/// use cloud_otp_web::api::{ErrorBody, refusal};
/// let body = ErrorBody { error: Some("invalid_code".into()), attempts_left: Some(2), device: None };
/// assert_eq!(refusal(401, &body), Error::InvalidCode { attempts_left: 2 });
/// assert_eq!(refusal(502, &ErrorBody::default()), Error::Server(502));
/// let proof = ErrorBody { error: Some("invalid_proof".into()), ..ErrorBody::default() };
/// assert_eq!(refusal(400, &proof), Error::KeyNotStorable);
/// ```
pub fn refusal(status: u16, body: &ErrorBody) -> Error {
    let device = || body.device.clone().unwrap_or_default();
    let attempts_left = body.attempts_left.unwrap_or(0);
    match body.error.as_deref() {
        Some("invalid_code") => Error::InvalidCode { attempts_left },
        Some("locked") => Error::Locked,
        Some("replayed") => Error::Replayed,
        Some("unapproved_device") => Error::UnapprovedDevice(device()),
        Some("device_exists") => Error::DeviceExists(device()),
        Some("invalid_session") => Error::InvalidSession,
        Some("invalid_activation") => Error::InvalidActivation { attempts_left },
        Some("activation_expired") => Error::ActivationExpired,
        Some("activation_used") => Error::ActivationUsed,
        Some("not_enrolled") => Error::NotEnrolled,
        Some("unknown_customer") => Error::UnknownCustomer,
        Some("service_closed") => Error::ServiceClosed,
        Some("bad_request") => Error::BadRequest,
        // The key read back from IndexedDB is not the key sent: the browser does not keep keys.
        Some("invalid_proof") => Error::KeyNotStorable,
        Some("rate_limited") => Error::RateLimited,
        _ if status == 429 => Error::RateLimited,
        Some(code) if (400..500).contains(&status) && is_error_code(code) => Error::Refused {
            status,
            code: code.to_owned(),
        },
        _ => Error::Server(status),
    }
}

/// Whether a server error code has the contract's shape (lowercase words joined by `_`), so an
/// unknown one can be passed on without passing on arbitrary text.
fn is_error_code(code: &str) -> bool {
    (1..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// A client for one cloud-otp server.
#[derive(Debug, Clone)]
pub struct Client {
    server: String,
}

/// An answer: the status and the body parsed as JSON (`undefined` when it is not JSON).
struct Answer {
    status: u16,
    body: JsValue,
    sample: Sample,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn refusal(&self) -> Error {
        refusal(self.status, &ErrorBody::from_json(&self.body))
    }
}

impl Client {
    /// A client for `server` (an http(s) URL, see [`crate::accounts::normalize_server`]).
    pub fn new(server: &str) -> Result<Client, Error> {
        Ok(Client {
            server: crate::accounts::normalize_server(server)?,
        })
    }

    /// The server address, normalized.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `GET /v1/time`: one clock measurement.
    pub async fn time(&self) -> Result<Sample, Error> {
        let answer = self.send("GET", "/v1/time", None).await?;
        if !answer.ok() {
            return Err(answer.refusal());
        }
        let server_ms =
            js::number_field(&answer.body, "now_ms").ok_or(Error::Server(answer.status))?;
        Ok(Sample {
            server_ms,
            ..answer.sample
        })
    }

    /// `POST /v1/status`: whose the session is and where they stand; with this browser's
    /// `fingerprint`, also whether the registered device is this browser.
    pub async fn status(
        &self,
        session: &str,
        fingerprint: Option<&str>,
    ) -> Result<SessionStatus, Error> {
        let body = Object::new();
        js::set(&body, "session", session);
        if let Some(fingerprint) = fingerprint {
            js::set(&body, "fingerprint", fingerprint);
        }
        let answer = self.send("POST", "/v1/status", Some(&body)).await?;
        if !answer.ok() {
            return Err(answer.refusal());
        }
        let b = &answer.body;
        let user_id = js::string_field(b, "user_id").ok_or(Error::Server(answer.status))?;
        let user_status = match js::string_field(b, "user_status").as_deref() {
            Some("active") => UserStatus::Active,
            Some("locked") => UserStatus::Locked,
            _ => UserStatus::Unregistered,
        };
        let mut device = ErrorBody::from_json(b).device;
        if let Some(device) = device.as_mut() {
            device.this_browser = js::bool_field(b, "device_is_this_browser") == Some(true);
        }
        let institution = js::field(b, "institution");
        let institution_field = |name| institution.as_ref().and_then(|i| js::string_field(i, name));
        Ok(SessionStatus {
            user_id,
            user_status,
            device,
            institution: institution_field("name").unwrap_or_default(),
            customer_code: institution_field("customer_code"),
            pin_digits: pin_policy(b),
            test: institution_field("test").is_some(),
        })
    }

    /// `GET /v1/customers/{customer_code}`: the institution behind a customer code.
    pub async fn customer(&self, customer_code: &str) -> Result<Customer, Error> {
        if customer_code.len() != 4 || !customer_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidInput("customer_code"));
        }
        let path = concat(&["/v1/customers/", customer_code]);
        let answer = self.send("GET", &path, None).await?;
        if !answer.ok() {
            return Err(answer.refusal());
        }
        let b = &answer.body;
        Ok(Customer {
            customer_code: customer_code.to_owned(),
            institution: js::string_field(b, "institution").ok_or(Error::Server(answer.status))?,
            pin_digits: pin_policy(b),
        })
    }

    /// `POST /v1/devices`. The key is sent here once, base64url-encoded (RFC 4648 section 5),
    /// and the encoded copy is wiped before the request is awaited; `proof` is the key's proof
    /// ([`cloud_otp_core::proof`]) computed with the key as IndexedDB gave it back.
    pub async fn register(
        &self,
        authorization: &Authorization,
        key: &[u8],
        proof: &[u8],
        fingerprint: &str,
        label: &str,
        replace: bool,
    ) -> Result<Registered, Error> {
        let body = Object::new();
        match authorization {
            Authorization::Session(session) => js::set(&body, "session", session.as_str()),
            Authorization::Activation {
                customer_code,
                user_id,
                activation_code,
            } => {
                js::set(&body, "customer_code", customer_code.as_str());
                js::set(&body, "user_id", user_id.as_str());
                js::set(&body, "activation_code", activation_code.as_str());
            }
        }
        {
            let encoded = base64url(key);
            js::set(&body, "secret", encoded.as_str());
        }
        js::set(&body, "proof", base64url(proof).as_str());
        js::set(&body, "fingerprint", fingerprint);
        js::set(&body, "label", label);
        js::set(&body, "replace", replace);
        let answer = self.send("POST", "/v1/devices", Some(&body)).await?;
        if !answer.ok() {
            return Err(answer.refusal());
        }
        let b = &answer.body;
        let missing = || Error::Server(answer.status);
        let device_id = js::string_field(b, "device_id").ok_or_else(missing)?;
        let user_id = js::string_field(b, "user_id").ok_or_else(missing)?;
        // A server that does not send its time still registered the device: the clock is then
        // measured separately.
        let server_ms = js::number_field(b, "server_time_ms").unwrap_or(f64::NAN);
        Ok(Registered {
            device_id,
            user_id,
            customer_code: js::string_field(b, "customer_code"),
            sample: Sample {
                server_ms,
                ..answer.sample
            },
        })
    }

    /// `POST /v1/verify` with a code the trainee typed.
    pub async fn verify(
        &self,
        session: &str,
        device_id: &str,
        fingerprint: &str,
        code: &str,
    ) -> Result<Pass, Error> {
        let body = Object::new();
        js::set(&body, "session", session);
        js::set(&body, "device_id", device_id);
        js::set(&body, "fingerprint", fingerprint);
        js::set(&body, "code", code);
        let answer = self.send("POST", "/v1/verify", Some(&body)).await?;
        if !answer.ok() {
            return Err(answer.refusal());
        }
        let pass = js::string_field(&answer.body, "pass").ok_or(Error::Server(answer.status))?;
        let expires_at = js::field(&answer.body, "expires_at")
            .map(|t| timestamp_text(&t))
            .unwrap_or_default();
        Ok(Pass { pass, expires_at })
    }

    /// Sends one request. Every way the request can fail to get an answer (offline, DNS, CORS,
    /// timeout) is [`Error::Network`]: the browser tells them apart only in the console.
    async fn send(&self, method: &str, path: &str, body: Option<&Object>) -> Result<Answer, Error> {
        let init = RequestInit::new();
        init.set_method(method);
        // The API is authorized by sessions and activation codes, never by cookies.
        init.set_credentials(RequestCredentials::Omit);
        init.set_cache(RequestCache::NoStore);
        if let Ok(signal) = js::abort_after(TIMEOUT_MS) {
            init.set_signal(Some(&signal));
        }
        if let Some(body) = body {
            let text = JSON::stringify(body).map_err(|_| Error::InvalidInput("request"))?;
            init.set_body(&text);
            let headers = Object::new();
            js::set(&headers, "content-type", "application/json");
            init.set_headers(&headers);
        }
        let url = concat(&[&self.server, path]);
        let sent_ms = device_now_ms();
        let response = JsFuture::from(js::global_fetch(&url, &init).map_err(|_| Error::Network)?)
            .await
            .map_err(|_| Error::Network)?;
        let received_ms = device_now_ms();
        // fetch resolves to a Response (Fetch standard); an unchecked cast also takes the
        // Response of a fetch wrapper or polyfill, whose methods are all the module calls.
        let response: Response = response.unchecked_into();
        let status = response.status();
        let text = JsFuture::from(response.text().map_err(|_| Error::Network)?)
            .await
            .map_err(|_| Error::Network)?;
        let body = text
            .as_string()
            .and_then(|t| JSON::parse(&t).ok())
            .unwrap_or(JsValue::UNDEFINED);
        Ok(Answer {
            status,
            body,
            sample: Sample {
                sent_ms,
                received_ms,
                server_ms: f64::NAN,
            },
        })
    }
}

/// A timestamp from the server as ISO 8601 text: kept as is when it is text, converted when it
/// is Unix milliseconds.
fn timestamp_text(value: &JsValue) -> String {
    match (value.as_string(), value.as_f64()) {
        (Some(text), _) => text,
        (None, Some(ms)) if ms.is_finite() => js_sys::Date::new(&JsValue::from_f64(ms))
            .to_iso_string()
            .as_string()
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// base64url without padding (RFC 4648 section 5), in memory that is wiped when dropped.
///
/// ```
/// use cloud_otp_web::api::base64url;
/// assert_eq!(base64url(b"\xfb\xff").as_str(), "-_8");
/// assert_eq!(base64url(b"12345678901234567890").as_str(), "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA");
/// ```
pub fn base64url(bytes: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4));
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]));
        }
    }
    out
}
