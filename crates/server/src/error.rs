//! The API's errors: each has a stable code and HTTP status (docs/api.md lists them all);
//! details that could help an attacker or contain secrets stay in the server log.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::storage::StorageError;
use crate::validate::Invalid;

/// A registered device as error responses and user views show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceView {
    /// `browser` or `authenticator`.
    pub kind: String,
    /// The human label, such as "Chrome on Windows".
    pub label: String,
    /// When it was registered, RFC 3339 UTC.
    pub registered_at: String,
}

/// A handler's answer.
pub type ApiResult<T> = Result<T, ApiError>;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 bad_request: malformed or missing input.
    #[error("{0}")]
    BadRequest(String),
    /// 400 invalid_proof: the registration's proof was not made with the key it sends, so the
    /// browser did not keep the key it would register (docs/api.md, `POST /v1/devices`).
    #[error("the proof does not match the key: this browser did not keep the key it sent")]
    InvalidProof,
    /// 400 webhook_url_refused: the webhook URL is not one this server delivers to (not
    /// `https://` or `http://`, `http://` to a public host, a link-local host, credentials in
    /// it).
    #[error("{0}")]
    WebhookUrlRefused(&'static str),
    /// 401 unauthorized: missing or wrong API key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// 401 invalid_session: unknown, expired or already used OTP session.
    #[error("the OTP session is unknown, expired or already used")]
    InvalidSession,
    /// 401 invalid_activation: a wrong activation code, or one whose attempts are spent.
    #[error("the activation code is wrong")]
    InvalidActivation {
        /// Wrong activation codes still allowed.
        attempts_left: u32,
    },
    /// 401 invalid_code: wrong one-time code.
    #[error("the code is wrong")]
    InvalidCode {
        /// Wrong codes still allowed before the user is suspended.
        attempts_left: u32,
    },
    /// 403 origin_not_allowed: a browser request from an origin the tenant did not register.
    #[error("this site's origin is not registered for this institution")]
    OriginNotAllowed,
    /// 403 service_closed: the institution is not open for service (its `in_service` is
    /// off); its own endpoints keep working.
    #[error("this institution is not open for service")]
    ServiceClosed,
    /// 404 not_found: no such route.
    #[error("no such endpoint")]
    NotFound,
    /// 404 unknown_customer: no institution has this customer code.
    #[error("no institution has this customer code")]
    UnknownCustomer,
    /// 404 not_registered: the user has no registered device.
    #[error("this ID has no registered device")]
    NotRegistered,
    /// 404 unknown_user: the server holds nothing of this user at this institution (an
    /// erasure of a user never seen, or already erased).
    #[error("nothing is stored for this ID at this institution")]
    UnknownUser,
    /// 404 not_enrolled: activation for a login ID that has no activation code at this
    /// institution.
    #[error("this ID has no activation code at this institution; ask the institution for one")]
    NotEnrolled,
    /// 405 method_not_allowed.
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    /// 409 device_exists: the user already has a device and `replace` was not set.
    #[error("this ID already has a registered device")]
    DeviceExists {
        /// The registered device.
        device: DeviceView,
    },
    /// 409 unapproved_device: the request comes from a device other than the registered one.
    #[error("this browser is not the registered device")]
    UnapprovedDevice {
        /// The registered device.
        device: DeviceView,
    },
    /// 409 replayed: a right code that was already used.
    #[error("this code was already used; wait for the next one")]
    Replayed,
    /// 408 request_timeout: the client sent the request body too slowly
    /// ([`crate::Config::client_timeout`]).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 421 wrong_host: the Host header names a host this server does not answer for, such
    /// as a DNS name pointed at a loopback server (DNS rebinding; docs/security.md).
    #[error("this server does not answer for the host named in the Host header")]
    WrongHost,
    /// 410 activation_expired.
    #[error("the activation code has expired; ask the institution for a new one")]
    ActivationExpired,
    /// 410 activation_used: the activation code was already used.
    #[error("this activation code was already used; ask the institution for a new one")]
    ActivationUsed,
    /// 413 payload_too_large.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 415 unsupported_media_type.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 423 locked: five wrong codes in a row suspended OTP for this user.
    #[error(
        "OTP is suspended after too many wrong codes; contact your training institution to \
         confirm your identity and unlock it"
    )]
    Locked,
    /// 429 rate_limited.
    #[error("too many requests; try again later")]
    RateLimited {
        /// Seconds until requests are accepted again.
        retry_after_secs: u64,
    },
    /// 500 internal: a server fault; the detail goes to the log only.
    #[error("internal server error")]
    Internal(String),
    /// 503 busy: the verification could not be completed under contention; retry.
    #[error("the server is busy; try again")]
    Busy,
}

impl ApiError {
    /// The stable error code and HTTP status.
    pub fn code(&self) -> (&'static str, StatusCode) {
        use ApiError::*;
        match self {
            BadRequest(_) => ("bad_request", StatusCode::BAD_REQUEST),
            InvalidProof => ("invalid_proof", StatusCode::BAD_REQUEST),
            WebhookUrlRefused(_) => ("webhook_url_refused", StatusCode::BAD_REQUEST),
            Unauthorized => ("unauthorized", StatusCode::UNAUTHORIZED),
            InvalidSession => ("invalid_session", StatusCode::UNAUTHORIZED),
            InvalidActivation { .. } => ("invalid_activation", StatusCode::UNAUTHORIZED),
            InvalidCode { .. } => ("invalid_code", StatusCode::UNAUTHORIZED),
            OriginNotAllowed => ("origin_not_allowed", StatusCode::FORBIDDEN),
            ServiceClosed => ("service_closed", StatusCode::FORBIDDEN),
            NotFound => ("not_found", StatusCode::NOT_FOUND),
            UnknownCustomer => ("unknown_customer", StatusCode::NOT_FOUND),
            NotRegistered => ("not_registered", StatusCode::NOT_FOUND),
            NotEnrolled => ("not_enrolled", StatusCode::NOT_FOUND),
            UnknownUser => ("unknown_user", StatusCode::NOT_FOUND),
            MethodNotAllowed => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
            DeviceExists { .. } => ("device_exists", StatusCode::CONFLICT),
            UnapprovedDevice { .. } => ("unapproved_device", StatusCode::CONFLICT),
            Replayed => ("replayed", StatusCode::CONFLICT),
            RequestTimeout => ("request_timeout", StatusCode::REQUEST_TIMEOUT),
            WrongHost => ("wrong_host", StatusCode::MISDIRECTED_REQUEST),
            ActivationExpired => ("activation_expired", StatusCode::GONE),
            ActivationUsed => ("activation_used", StatusCode::GONE),
            PayloadTooLarge => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
            UnsupportedMediaType => ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            Locked => ("locked", StatusCode::LOCKED),
            RateLimited { .. } => ("rate_limited", StatusCode::TOO_MANY_REQUESTS),
            Internal(_) => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
            Busy => ("busy", StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// The JSON body: `{"error", "message"}` plus the fields some errors carry.
    pub fn body(&self) -> Value {
        let (code, _) = self.code();
        let mut body = Map::new();
        body.insert("error".into(), json!(code));
        body.insert("message".into(), json!(self.to_string()));
        match self {
            ApiError::InvalidActivation { attempts_left }
            | ApiError::InvalidCode { attempts_left } => {
                body.insert("attempts_left".into(), json!(attempts_left));
            }
            ApiError::DeviceExists { device } | ApiError::UnapprovedDevice { device } => {
                body.insert("device".into(), json!(device));
            }
            ApiError::RateLimited { retry_after_secs } => {
                body.insert("retry_after".into(), json!(retry_after_secs));
            }
            _ => {}
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = code, %detail, "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::BadRequest(e.0.to_owned())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        ApiError::Internal(e.to_string())
    }
}
