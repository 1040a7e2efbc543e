//! The request bodies and query of the HTTP contract and the one parse of each into the
//! checked types the services take. The handlers and [`parse_body`] (which the fuzz targets
//! call) run the same `parse`, so fuzzing exercises the handlers' own checks.

use serde::Deserialize;

use crate::clock::parse_rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::http::parse_json;
use crate::service::administration::AuditFilter;
use crate::service::enrollment::{Authority, BrowserDevice, BrowserEnrollment};
use crate::service::verification::WidgetCode;
use crate::validate::{
    ActivationCode, CustomerCode, DeviceId, Fingerprint, IdempotencyKey, Label, OtpCode, Purpose,
    Token, UserId, WebhookUrl, device_secret, key_proof,
};

/// A session token as the browser sends it: a malformed one is an unusable session.
fn session_token(text: &str) -> ApiResult<Token> {
    Token::parse(text).map_err(|_| ApiError::InvalidSession)
}

/// `POST /v1/status` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    session: String,
    /// The asking browser's fingerprint, when it holds no key for the user: the answer then
    /// says whether the registered device is this browser, whose key was erased.
    fingerprint: Option<String>,
}

/// [`StatusRequest`], checked.
#[derive(Debug, Clone)]
pub struct StatusInput {
    /// The session.
    pub session: Token,
    /// The asking browser's fingerprint, if it holds no key.
    pub fingerprint: Option<Fingerprint>,
}

impl StatusRequest {
    /// The fields, checked: the session's shape, then the fingerprint, if any.
    pub fn parse(&self) -> ApiResult<StatusInput> {
        let session = session_token(&self.session)?;
        let fingerprint = self
            .fingerprint
            .as_deref()
            .map(Fingerprint::parse)
            .transpose()?;
        Ok(StatusInput {
            session,
            fingerprint,
        })
    }
}

/// `POST /v1/devices` body: a session, or customer code + user ID + activation code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    session: Option<String>,
    customer_code: Option<String>,
    user_id: Option<String>,
    activation_code: Option<String>,
    secret: String,
    /// The proof that the browser stored the key and read it back ([`cloud_otp_core::proof`]).
    proof: String,
    fingerprint: String,
    label: String,
    #[serde(default)]
    replace: bool,
}

impl DeviceRequest {
    /// The device fields, checked (malformed input is refused before anything is read), and
    /// the key proven: a browser whose stored key is not the key it sends registers nothing.
    /// Then the choice of session or activation code. `count_attempt` runs for a request by
    /// activation code before its fields are checked, so that probing customer codes and
    /// user IDs, even malformed ones, costs attempts too (the handler's rate limit).
    pub fn parse(
        &self,
        count_attempt: impl FnOnce() -> ApiResult<()>,
    ) -> ApiResult<BrowserEnrollment> {
        let secret = device_secret(&self.secret)?;
        let proof = key_proof(&self.proof)?;
        let fingerprint = Fingerprint::parse(&self.fingerprint)?;
        let label = Label::parse(&self.label)?;
        if !cloud_otp_core::proof_matches(&secret, &proof) {
            return Err(ApiError::InvalidProof);
        }
        let authority = match (
            &self.session,
            &self.customer_code,
            &self.user_id,
            &self.activation_code,
        ) {
            (Some(token), None, None, None) => Authority::Session(session_token(token)?),
            (None, Some(customer), Some(user), Some(code)) => {
                count_attempt()?;
                Authority::Activation {
                    customer: CustomerCode::parse(customer)?,
                    user: UserId::parse(user)?,
                    code: ActivationCode::parse(code)?,
                }
            }
            _ => {
                return Err(ApiError::BadRequest(
                    "send either session, or customer_code with user_id and activation_code".into(),
                ));
            }
        };
        Ok(BrowserEnrollment {
            authority,
            device: BrowserDevice {
                secret,
                fingerprint,
                label,
                replace: self.replace,
            },
        })
    }
}

/// `POST /v1/verify` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    session: String,
    device_id: String,
    fingerprint: String,
    code: String,
}

impl VerifyRequest {
    /// The fields, checked (malformed input is refused before anything is read or counted),
    /// the session's shape last.
    pub fn parse(&self) -> ApiResult<WidgetCode> {
        let code = OtpCode::parse(&self.code)?;
        let device_id = DeviceId::parse(&self.device_id)?;
        let fingerprint = Fingerprint::parse(&self.fingerprint)?;
        Ok(WidgetCode {
            session: session_token(&self.session)?,
            code,
            device_id,
            fingerprint,
        })
    }
}

/// `POST /v1/sessions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    user_id: String,
    purpose: String,
}

impl SessionRequest {
    /// The fields, checked.
    pub fn parse(&self) -> ApiResult<(UserId, Purpose)> {
        Ok((
            UserId::parse(&self.user_id)?,
            Purpose::parse(&self.purpose)?,
        ))
    }
}

/// `POST /v1/siteverify` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteverifyRequest {
    pass: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

impl SiteverifyRequest {
    /// The pass, if it has a pass's shape (an unusable pass is an answer, success false,
    /// not an error), and the idempotency key, which must be well formed when given.
    pub fn parse(&self) -> ApiResult<(Option<Token>, Option<IdempotencyKey>)> {
        let key = self
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose()?;
        Ok((Token::parse(&self.pass).ok(), key))
    }
}

/// `POST /v1/check` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    user_id: String,
    code: String,
}

impl CheckRequest {
    /// The fields, checked.
    pub fn parse(&self) -> ApiResult<(UserId, OtpCode)> {
        Ok((UserId::parse(&self.user_id)?, OtpCode::parse(&self.code)?))
    }
}

/// `POST /v1/users/{user_id}/activation` body: no fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {}

/// `POST /v1/users/{user_id}/authenticator` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorRequest {
    #[serde(default)]
    replace: bool,
}

impl AuthenticatorRequest {
    /// Whether to replace the user's device.
    pub fn replace(&self) -> bool {
        self.replace
    }
}

/// `POST /v1/users/{user_id}/unlock` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    #[serde(default)]
    revoke_device: bool,
}

impl UnlockRequest {
    /// Whether to retire the device too.
    pub fn revoke_device(&self) -> bool {
        self.revoke_device
    }
}

/// `PUT /v1/webhook` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    url: String,
}

impl WebhookRequest {
    /// The receiver's URL, checked.
    pub fn parse(&self) -> ApiResult<WebhookUrl> {
        WebhookUrl::parse(&self.url).map_err(|e| ApiError::WebhookUrlRefused(e.0))
    }
}

/// `GET /v1/audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    user_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

impl AuditQuery {
    /// The filter: user (empty = all), since (RFC 3339, default the beginning), limit (1 to
    /// 1000, default 100).
    pub fn parse(&self) -> ApiResult<AuditFilter> {
        let user = match self.user_id.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => Some(UserId::parse(u)?),
            None => None,
        };
        let since_ms = match self.since.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => parse_rfc3339(s).ok_or_else(|| {
                ApiError::BadRequest("since must be an RFC 3339 timestamp".into())
            })?,
            None => 0,
        };
        let limit = match self.limit.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::BadRequest("limit must be 1 to 1000".into()))?,
            None => 100,
        };
        Ok(AuditFilter {
            user,
            since_ms,
            limit,
        })
    }
}

// ----- request parsing without a server -----

/// The JSON request bodies of the API, one per endpoint that takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestBody {
    /// `POST /v1/status`.
    Status,
    /// `POST /v1/devices`.
    Devices,
    /// `POST /v1/verify`.
    Verify,
    /// `POST /v1/sessions`.
    Sessions,
    /// `POST /v1/siteverify`.
    Siteverify,
    /// `POST /v1/check`.
    Check,
    /// `POST /v1/users/{user_id}/activation`.
    Activation,
    /// `POST /v1/users/{user_id}/authenticator`.
    Authenticator,
    /// `POST /v1/users/{user_id}/unlock`.
    Unlock,
    /// `PUT /v1/webhook`.
    Webhook,
}

impl RequestBody {
    /// Every request body.
    pub const ALL: [RequestBody; 10] = [
        RequestBody::Status,
        RequestBody::Devices,
        RequestBody::Verify,
        RequestBody::Sessions,
        RequestBody::Siteverify,
        RequestBody::Check,
        RequestBody::Activation,
        RequestBody::Authenticator,
        RequestBody::Unlock,
        RequestBody::Webhook,
    ];
}

/// Parses `bytes` as the endpoint's handler does before it touches the database: the JSON
/// into the request type (unknown fields refused), then the request's own `parse`, the one
/// the handler calls. It gives the fuzz targets (fuzz/) and tests the request types without
/// a server; the answer is the error the handler would send, or `Ok` when the request would
/// reach the database. (The handler of `POST /v1/devices` also counts activation attempts,
/// which needs a client address; here the count always allows.)
///
/// ```
/// use cloud_otp_server::api::{RequestBody, parse_body};
/// assert!(parse_body(RequestBody::Check, br#"{"user_id":"u1","code":"123456"}"#).is_ok());
/// let err = parse_body(RequestBody::Check, br#"{"user_id":"u1","code":"12345"}"#).unwrap_err();
/// assert_eq!(err.code().0, "bad_request");
/// assert!(parse_body(RequestBody::Unlock, b"").is_ok());
/// ```
pub fn parse_body(kind: RequestBody, bytes: &[u8]) -> ApiResult<()> {
    match kind {
        RequestBody::Status => parse_json::<StatusRequest>(bytes)?.parse().map(drop),
        RequestBody::Devices => parse_json::<DeviceRequest>(bytes)?
            .parse(|| Ok(()))
            .map(drop),
        RequestBody::Verify => parse_json::<VerifyRequest>(bytes)?.parse().map(drop),
        RequestBody::Sessions => parse_json::<SessionRequest>(bytes)?.parse().map(drop),
        RequestBody::Siteverify => parse_json::<SiteverifyRequest>(bytes)?.parse().map(drop),
        RequestBody::Check => parse_json::<CheckRequest>(bytes)?.parse().map(drop),
        RequestBody::Webhook => parse_json::<WebhookRequest>(bytes)?.parse().map(drop),
        // These bodies are optional: an empty one is the default (`OptionalJson`).
        RequestBody::Activation if !bytes.is_empty() => {
            parse_json::<ActivationRequest>(bytes).map(drop)
        }
        RequestBody::Authenticator if !bytes.is_empty() => {
            parse_json::<AuthenticatorRequest>(bytes).map(drop)
        }
        RequestBody::Unlock if !bytes.is_empty() => parse_json::<UnlockRequest>(bytes).map(drop),
        RequestBody::Activation | RequestBody::Authenticator | RequestBody::Unlock => Ok(()),
    }
}

/// Parses the query string of `GET /v1/audit` as its handler does (see [`parse_body`]).
///
/// ```
/// use cloud_otp_server::api::parse_audit_query;
/// assert!(parse_audit_query("user_id=u1&limit=50").is_ok());
/// assert!(parse_audit_query("limit=0").is_err());
/// assert!(parse_audit_query("color=red").is_err());
/// ```
pub fn parse_audit_query(query: &str) -> ApiResult<()> {
    let uri: axum::http::Uri = format!("/v1/audit?{query}")
        .parse()
        .map_err(|_| ApiError::BadRequest("invalid request line".into()))?;
    let axum::extract::Query(q) = axum::extract::Query::<AuditQuery>::try_from_uri(&uri)
        .map_err(|_| ApiError::BadRequest("invalid query string".into()))?;
    q.parse().map(drop)
}
