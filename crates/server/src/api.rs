//! The handlers of the HTTP contract (docs/api.md): browser endpoints (authorized by an OTP
//! session or an activation code) and institution endpoints (authorized by an API key).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cloud_otp_core::otpauth::{KeyUri, Kind};
use cloud_otp_core::{Outcome, Secret, verify_with_secret};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::{AuditEvent, AuditOutcome};
use crate::clock::{db_ms, parse_rfc3339, rfc3339};
use crate::crypto::{random_bytes, random_digits, random_id, random_token, token_hash};
use crate::error::{ApiError, DeviceView};
use crate::http::{
    ApiJson, ApiQuery, ClientIp, CustomerPath, Institution, OptionalJson, UserPath, check_origin,
    parse_json,
};
use crate::storage::{
    AuditEntry, Committed, DeviceRecord, NewDevice, NewPass, Registered, Registration,
    SessionRecord, Tenant, UserRecord, VerifyCommit,
};
use crate::validate::{
    ActivationCode, CustomerCode, DeviceId, Fingerprint, Label, OtpCode, Purpose, Token, UserId,
    device_secret, key_proof,
};
use crate::{ACTIVATION_MAX_ATTEMPTS, ACTIVATION_TTL_MS, AppState, PASS_TTL_MS, SESSION_TTL_MS};

/// How often a verification re-reads and decides again when another request changed the
/// user's state in between; each round, one of the competing requests wins.
const MAX_ROUNDS: usize = 100;

type ApiResult<T> = Result<T, ApiError>;

fn device_view(d: &DeviceRecord) -> DeviceView {
    DeviceView {
        kind: d.kind.clone(),
        label: d.label.clone(),
        registered_at: rfc3339(d.registered_ms),
    }
}

/// `unregistered`, `active` or `locked`: what the widget and the institution see.
fn user_status(user: Option<&UserRecord>) -> &'static str {
    match user {
        Some(u) if u.state.locked => "locked",
        Some(u) if u.device.is_some() => "active",
        _ => "unregistered",
    }
}

/// The session a browser presents, if it is known, unused and unexpired, with the tenant
/// that opened it.
async fn usable_session(
    state: &AppState,
    token: &str,
    now: i64,
) -> ApiResult<(String, SessionRecord, Tenant)> {
    let token = Token::parse(token).map_err(|_| ApiError::InvalidSession)?;
    let hash = token_hash(token.as_str());
    let (session, tenant) = state
        .storage
        .session_and_tenant(&hash)
        .await?
        .filter(|(s, _)| s.usable(now))
        .ok_or(ApiError::InvalidSession)?;
    Ok((hash, session, tenant))
}

/// Refuses trainee-facing requests of an institution that is not open for service. Its own
/// administration (activation codes, authenticators, unlocks, audit) is not refused, so it
/// can prepare before it opens.
fn open_for_service(tenant: &Tenant) -> ApiResult<()> {
    if tenant.in_service {
        Ok(())
    } else {
        Err(ApiError::ServiceClosed)
    }
}

// ----- browser endpoints -----

/// `GET /v1/time` response.
#[derive(Debug, Serialize)]
pub struct TimeResponse {
    /// Server time in Unix milliseconds.
    pub now_ms: u64,
}

/// `GET /v1/time`: the server clock, which the browser uses to correct the device clock.
pub async fn time(State(state): State<AppState>) -> Json<TimeResponse> {
    Json(TimeResponse {
        now_ms: state.clock.now_ms(),
    })
}

/// `GET /v1/customers/{customer_code}`: names the institution of a customer code and its PIN
/// policy, for the first step of the activation form (customer code, then login ID, then
/// activation code).
pub async fn customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    CustomerPath(code): CustomerPath,
) -> ApiResult<Json<Value>> {
    let tenant = state
        .storage
        .tenant_by_customer_code(code.as_str())
        .await?
        .ok_or(ApiError::UnknownCustomer)?;
    check_origin(&state, &headers, &tenant.id).await?;
    open_for_service(&tenant)?;
    Ok(Json(json!({
        "customer_code": tenant.customer_code,
        "institution": tenant.name,
        "pin_digits": tenant.pin_digits.digits(),
    })))
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

impl StatusRequest {
    /// The fields, checked: the session's shape and the fingerprint, if any.
    fn checked(&self) -> ApiResult<Option<Fingerprint>> {
        Token::parse(&self.session).map_err(|_| ApiError::InvalidSession)?;
        Ok(self
            .fingerprint
            .as_deref()
            .map(Fingerprint::parse)
            .transpose()?)
    }
}

/// `POST /v1/status`: what the widget needs to choose its screen for a session.
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StatusRequest>,
) -> ApiResult<Json<Value>> {
    let fingerprint = req.checked()?;
    let now = state.now();
    let (_, session, tenant) = usable_session(&state, &req.session, now).await?;
    check_origin(&state, &headers, &session.tenant_id).await?;
    open_for_service(&tenant)?;
    let user = state
        .storage
        .user(&session.tenant_id, &session.user_id)
        .await?;
    let failures = user.as_ref().map_or(0, |u| u.state.failures);
    let device = user.as_ref().and_then(|u| u.device.as_ref());
    // The same fingerprint and no key: this browser registered and then lost its data (the
    // browser erased it after days without a visit, or the trainee cleared it).
    let this_browser = device
        .and_then(|d| d.fingerprint.as_deref())
        .is_some_and(|f| fingerprint.as_ref().is_some_and(|mine| mine.as_str() == f));
    Ok(Json(json!({
        "user_id": session.user_id,
        "purpose": session.purpose,
        "expires_at": rfc3339(session.expires_ms),
        "user_status": user_status(user.as_ref()),
        "attempts_left": state.config.policy.max_failures.saturating_sub(failures),
        "device": device.map(device_view),
        "device_is_this_browser": this_browser,
        "institution": { "name": tenant.name, "customer_code": tenant.customer_code },
        "pin_digits": tenant.pin_digits.digits(),
    })))
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

/// `POST /v1/devices`: registers this browser as the user's device.
pub async fn register_device(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<DeviceRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (secret, fingerprint, label) = req.checked()?;
    let now = state.now();
    let (tenant_id, user_id, activation) = match (
        &req.session,
        &req.customer_code,
        &req.user_id,
        &req.activation_code,
    ) {
        (Some(token), None, None, None) => {
            let (_, session, tenant) = usable_session(&state, token, now).await?;
            check_origin(&state, &headers, &session.tenant_id).await?;
            open_for_service(&tenant)?;
            (session.tenant_id, session.user_id, None)
        }
        (None, Some(customer), Some(user), Some(code)) => {
            // Counted before anything is looked up, so that probing customer codes and user
            // IDs costs attempts too.
            if let Err(retry_after_secs) = state.activation_limiter.check(ip, state.clock.now_ms())
            {
                tracing::warn!(%ip, "activation attempts rate limited");
                return Err(ApiError::RateLimited { retry_after_secs });
            }
            let customer = CustomerCode::parse(customer)?;
            let user = UserId::parse(user)?;
            let code = ActivationCode::parse(code)?;
            let tenant = state
                .storage
                .tenant_by_customer_code(customer.as_str())
                .await?
                .ok_or(ApiError::UnknownCustomer)?;
            check_origin(&state, &headers, &tenant.id).await?;
            // Before the code is checked, so that a closed institution's codes are not spent.
            open_for_service(&tenant)?;
            let user_id = user.as_str().to_owned();
            (tenant.id, user_id, Some((user, code)))
        }
        _ => {
            return Err(ApiError::BadRequest(
                "send either session, or customer_code with user_id and activation_code".into(),
            ));
        }
    };
    let device = new_device(
        "browser",
        label.as_str(),
        Some(fingerprint.as_str()),
        &secret,
        &state,
    );
    let device_id = device.id.clone();
    for _ in 0..MAX_ROUNDS {
        let checked = match &activation {
            Some((user, code)) => {
                Some(check_activation(&state, &tenant_id, user, code, now).await?)
            }
            None => None,
        };
        let registered = register(
            &state,
            &tenant_id,
            &user_id,
            device.clone(),
            req.replace,
            checked,
            now,
        )
        .await?;
        // The activation code was used, or a wrong attempt counted, since it was checked:
        // check it again, which names what happened or lets this registration through.
        if registered == Registered::ActivationGone {
            continue;
        }
        registration_result(registered)?;
        let body = json!({ "device_id": device_id, "user_id": user_id, "server_time_ms": now });
        return Ok((StatusCode::CREATED, Json(body)));
    }
    Err(ApiError::Busy)
}

fn new_device(
    kind: &str,
    label: &str,
    fingerprint: Option<&str>,
    secret: &Secret,
    state: &AppState,
) -> NewDevice {
    let id = random_id();
    let secret_enc = state.crypto.current().seal_secret(&id, secret);
    NewDevice {
        id,
        kind: kind.to_owned(),
        label: label.to_owned(),
        fingerprint: fingerprint.map(str::to_owned),
        secret_enc,
    }
}

async fn register(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
    device: NewDevice,
    replace: bool,
    activation: Option<CheckedActivation>,
    now: i64,
) -> ApiResult<Registered> {
    let registration = Registration {
        tenant_id: tenant_id.to_owned(),
        user_id: user_id.to_owned(),
        device,
        replace,
        activation_attempts: activation.as_ref().map(|a| a.attempts),
        now_ms: now,
    };
    let storage = &state.storage;
    Ok(match &activation {
        Some(a) => {
            storage
                .register_device_by_activation(&registration, &a.code_hash)
                .await?
        }
        None => storage.register_device(&registration).await?,
    })
}

/// An activation code that matched: the attempt count and the code's hash as read, which
/// the registration checks again when it consumes the code.
#[derive(Debug)]
struct CheckedActivation {
    attempts: i64,
    code_hash: String,
}

/// The answer to a registration that was not retried.
fn registration_result(registered: Registered) -> ApiResult<()> {
    match registered {
        Registered::Done { .. } => Ok(()),
        Registered::Exists(d) => Err(ApiError::DeviceExists {
            device: device_view(&d),
        }),
        Registered::Locked => Err(ApiError::Locked),
        // Only a registration by activation code can lose its code; those are retried.
        Registered::ActivationGone => Err(ApiError::Busy),
    }
}

/// Checks an activation code (docs/product.md rule 9): an ID without a code, a used code and an
/// expired code each get their own error, a code whose attempts are spent is dead, a wrong
/// code is counted. Returns the attempt count and code read, which the registration checks
/// again when it consumes the code.
async fn check_activation(
    state: &AppState,
    tenant_id: &str,
    user: &UserId,
    code: &ActivationCode,
    now: i64,
) -> ApiResult<CheckedActivation> {
    let user_id = user.as_str();
    for _ in 0..MAX_ROUNDS {
        let Some(rec) = state.storage.activation(tenant_id, user_id).await? else {
            return Err(ApiError::NotEnrolled);
        };
        if rec.used_ms.is_some() {
            return Err(ApiError::ActivationUsed);
        }
        if rec.attempts >= ACTIVATION_MAX_ATTEMPTS {
            return Err(ApiError::InvalidActivation { attempts_left: 0 });
        }
        if now >= rec.expires_ms {
            return Err(ApiError::ActivationExpired);
        }
        if state.crypto.current().activation_matches(
            tenant_id,
            user_id,
            code.as_str(),
            &rec.code_hash,
        ) {
            return Ok(CheckedActivation {
                attempts: rec.attempts,
                code_hash: rec.code_hash,
            });
        }
        let left = u32::try_from(ACTIVATION_MAX_ATTEMPTS - rec.attempts - 1).unwrap_or(0);
        let event = AuditEntry::new(
            tenant_id,
            user_id,
            now,
            AuditEvent::ActivationFailed,
            AuditOutcome::InvalidActivation,
        )
        .detail(format!("attempts_left={left}"));
        if state
            .storage
            .count_activation_failure(tenant_id, user_id, rec.attempts, &event)
            .await?
        {
            return Err(ApiError::InvalidActivation {
                attempts_left: left,
            });
        }
    }
    Err(ApiError::Busy)
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

/// `POST /v1/verify`: checks a code typed in the widget; success spends the session and
/// issues a single-use pass.
pub async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Json<Value>> {
    // Malformed input is refused before anything is read or counted.
    let (code, device_id, fingerprint) = req.checked()?;
    let now = state.now();
    let (session_hash, session, tenant) = usable_session(&state, &req.session, now).await?;
    check_origin(&state, &headers, &session.tenant_id).await?;
    open_for_service(&tenant)?;
    let via = Via::Widget {
        session_hash: &session_hash,
        purpose: &session.purpose,
        device_id: device_id.as_str(),
        fingerprint: fingerprint.as_str(),
    };
    let verified = run_verification(
        &state,
        &session.tenant_id,
        &session.user_id,
        &code,
        via,
        now,
    )
    .await?;
    let (pass, expires_ms) = verified
        .pass
        .ok_or_else(|| ApiError::Internal("no pass issued".into()))?;
    Ok(Json(
        json!({ "pass": pass, "expires_at": rfc3339(expires_ms) }),
    ))
}

/// Where a code comes from.
#[derive(Debug, Clone, Copy)]
enum Via<'a> {
    /// The widget, with its session and device.
    Widget {
        session_hash: &'a str,
        purpose: &'a str,
        device_id: &'a str,
        fingerprint: &'a str,
    },
    /// The institution's own code field (`/v1/check`).
    Check,
}

#[derive(Debug)]
struct Verified {
    step: u64,
    pass: Option<(String, i64)>,
}

/// One verification as one atomic step: read the state, decide with the core, write only if
/// the state is unchanged; on a conflict, read and decide again.
async fn run_verification(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
    code: &OtpCode,
    via: Via<'_>,
    now: i64,
) -> ApiResult<Verified> {
    let (event, detail) = match via {
        Via::Widget { purpose, .. } => (AuditEvent::Verify, Some(format!("purpose={purpose}"))),
        Via::Check => (AuditEvent::Check, None),
    };
    let audit = |outcome: AuditOutcome, label: &str| {
        let e = AuditEntry::new(tenant_id, user_id, now, event, outcome).device(label);
        match &detail {
            Some(d) => e.detail(d.clone()),
            None => e,
        }
    };
    let now_secs = u64::try_from(now / 1000).unwrap_or(0);
    for _ in 0..MAX_ROUNDS {
        let user = state
            .batches
            .user(tenant_id, user_id)
            .await?
            .ok_or(ApiError::NotRegistered)?;
        let device = user.device.as_ref().ok_or(ApiError::NotRegistered)?;
        if let Via::Widget {
            device_id,
            fingerprint,
            ..
        } = via
        {
            let same = device.id == device_id && device.fingerprint.as_deref() == Some(fingerprint);
            if !same {
                state
                    .batches
                    .audit(audit(AuditOutcome::UnapprovedDevice, &device.label))
                    .await?;
                return Err(ApiError::UnapprovedDevice {
                    device: device_view(device),
                });
            }
        }
        if user.state.locked {
            state
                .batches
                .audit(audit(AuditOutcome::Locked, &device.label))
                .await?;
            return Err(ApiError::Locked);
        }
        let secret = state
            .crypto
            .current()
            .open_secret(&device.id, &device.secret_enc)?;
        let policy = &state.config.policy;
        let (outcome, next) =
            verify_with_secret(policy, &user.state, &secret, code.as_str(), now_secs);
        let mut events = Vec::new();
        let mut spend = None;
        let mut pass = None;
        let result = match outcome {
            Outcome::Accepted { step } => {
                events.push(audit(AuditOutcome::Accepted, &device.label));
                if let Via::Widget {
                    session_hash,
                    purpose,
                    ..
                } = via
                {
                    let token = random_token();
                    let expires_ms = now.saturating_add(PASS_TTL_MS);
                    let new_pass = NewPass {
                        token_hash: token_hash(&token),
                        purpose: purpose.to_owned(),
                        device_id: device.id.clone(),
                        device_kind: device.kind.clone(),
                        device_label: device.label.clone(),
                        expires_ms,
                    };
                    spend = Some((session_hash.to_owned(), new_pass));
                    pass = Some((token, expires_ms));
                }
                Ok(step)
            }
            Outcome::Rejected { attempts_left } => {
                events.push(audit(AuditOutcome::InvalidCode, &device.label));
                Err(ApiError::InvalidCode { attempts_left })
            }
            Outcome::Locked => {
                events.push(audit(AuditOutcome::InvalidCode, &device.label));
                events.push(
                    AuditEntry::new(
                        tenant_id,
                        user_id,
                        now,
                        AuditEvent::Lock,
                        AuditOutcome::Locked,
                    )
                    .device(&device.label)
                    .detail(format!("after {} wrong codes", next.failures)),
                );
                Err(ApiError::Locked)
            }
            Outcome::Replayed => {
                state
                    .batches
                    .audit(audit(AuditOutcome::Replayed, &device.label))
                    .await?;
                return Err(ApiError::Replayed);
            }
            Outcome::Malformed => {
                return Err(ApiError::BadRequest("code must be exactly 6 digits".into()));
            }
        };
        let commit = VerifyCommit {
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            expected_version: user.version,
            state: next,
            spend,
            audit: events,
            now_ms: now,
        };
        match state.batches.commit(commit).await? {
            Committed::Done => return result.map(|step| Verified { step, pass }),
            Committed::Conflict => continue,
            Committed::SessionGone => return Err(ApiError::InvalidSession),
        }
    }
    Err(ApiError::Busy)
}

// ----- institution endpoints -----

/// `POST /v1/sessions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    user_id: String,
    purpose: String,
}

/// `POST /v1/sessions`: opens an OTP session (10 minutes) for a user and purpose.
pub async fn open_session(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiJson(req): ApiJson<SessionRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (user, purpose) = req.checked()?;
    open_for_service(&tenant)?;
    let now = state.now();
    let token = random_token();
    let record = SessionRecord {
        tenant_id: tenant.id.clone(),
        user_id: user.as_str().to_owned(),
        purpose: purpose.as_str().to_owned(),
        expires_ms: now.saturating_add(SESSION_TTL_MS),
        used_ms: None,
    };
    state
        .storage
        .insert_session(&token_hash(&token), &record, now)
        .await?;
    let existing = state.storage.user(&tenant.id, user.as_str()).await?;
    let body = json!({
        "session": token,
        "expires_at": rfc3339(record.expires_ms),
        "user_status": user_status(existing.as_ref()),
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `POST /v1/siteverify` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteverifyRequest {
    pass: String,
}

/// `POST /v1/siteverify`: redeems a pass of the calling institution, once.
pub async fn siteverify(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiJson(req): ApiJson<SiteverifyRequest>,
) -> ApiResult<Json<Value>> {
    let now = state.now();
    let redeemed = match Token::parse(&req.pass) {
        Ok(pass) => {
            state
                .storage
                .redeem_pass(&tenant.id, &token_hash(pass.as_str()), now)
                .await?
        }
        Err(_) => None,
    };
    let Some(p) = redeemed else {
        return Ok(Json(
            json!({ "success": false, "error": "invalid_or_used_pass" }),
        ));
    };
    let event = AuditEntry::new(
        &tenant.id,
        &p.user_id,
        now,
        AuditEvent::PassRedeemed,
        AuditOutcome::Redeemed,
    )
    .device(&p.device_label)
    .detail(format!("purpose={}", p.purpose));
    state.storage.audit(&event).await?;
    Ok(Json(json!({
        "success": true,
        "user_id": p.user_id,
        "purpose": p.purpose,
        "verified_at": rfc3339(p.verified_ms),
        "device": { "kind": p.device_kind, "label": p.device_label },
    })))
}

/// `POST /v1/check` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    user_id: String,
    code: String,
}

/// `POST /v1/check`: verifies a user's code typed into the institution's own field.
pub async fn check(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiJson(req): ApiJson<CheckRequest>,
) -> ApiResult<Json<Value>> {
    let (user, code) = req.checked()?;
    open_for_service(&tenant)?;
    let now = state.now();
    let verified =
        run_verification(&state, &tenant.id, user.as_str(), &code, Via::Check, now).await?;
    Ok(Json(json!({ "success": true, "step": verified.step })))
}

/// `POST /v1/users/{user_id}/activation` body: no fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {}

/// `POST /v1/users/{user_id}/activation`: issues a 6-digit activation code valid 3 days,
/// replacing any earlier one.
pub async fn issue_activation(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
    OptionalJson(_): OptionalJson<ActivationRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.now();
    let code = random_digits(6);
    let expires_ms = now.saturating_add(ACTIVATION_TTL_MS);
    let hash = state
        .crypto
        .current()
        .activation_hash(&tenant.id, user.as_str(), &code);
    state
        .storage
        .put_activation(&tenant.id, user.as_str(), &hash, now, expires_ms)
        .await?;
    let event = AuditEntry::new(
        &tenant.id,
        user.as_str(),
        now,
        AuditEvent::ActivationIssued,
        AuditOutcome::Issued,
    );
    state.storage.audit(&event).await?;
    let body = json!({
        "customer_code": tenant.customer_code,
        "user_id": user.as_str(),
        "activation_code": code,
        "expires_at": rfc3339(expires_ms),
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `POST /v1/users/{user_id}/authenticator` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticatorRequest {
    #[serde(default)]
    replace: bool,
}

/// `POST /v1/users/{user_id}/authenticator`: makes a standard authenticator app the user's
/// device and returns its otpauth:// URI (TOTP, SHA1, 6 digits, 60 s).
pub async fn authenticator(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
    OptionalJson(req): OptionalJson<AuthenticatorRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.now();
    let bytes = random_bytes(20);
    let secret = Secret::new(bytes.to_vec()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let device = new_device("authenticator", "Authenticator app", None, &secret, &state);
    let device_id = device.id.clone();
    let registered = register(
        &state,
        &tenant.id,
        user.as_str(),
        device,
        req.replace,
        None,
        now,
    )
    .await?;
    registration_result(registered)?;
    let policy = &state.config.policy;
    let uri = KeyUri {
        kind: Kind::Totp {
            period: policy.step,
        },
        issuer: Some(tenant.name.clone()),
        account: user.as_str().to_owned(),
        secret,
        algorithm: policy.algorithm,
        digits: policy.digits,
    };
    let body = json!({ "device_id": device_id, "otpauth_uri": uri.to_uri() });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /v1/users/{user_id}`: the user's status, failure count and device.
pub async fn user(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
) -> ApiResult<Json<Value>> {
    let record = state.storage.user(&tenant.id, user.as_str()).await?;
    let failures = record.as_ref().map_or(0, |u| u.state.failures);
    Ok(Json(json!({
        "user_id": user.as_str(),
        "status": user_status(record.as_ref()),
        "failures": failures,
        "device": record.as_ref().and_then(|u| u.device.as_ref()).map(device_view),
    })))
}

/// `POST /v1/users/{user_id}/unlock` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    #[serde(default)]
    revoke_device: bool,
}

/// `POST /v1/users/{user_id}/unlock`: lifts a suspension after the institution's own
/// identity check (docs/product.md rule 4); optionally retires the device too.
pub async fn unlock(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
    OptionalJson(req): OptionalJson<UnlockRequest>,
) -> ApiResult<Json<Value>> {
    let now = state.now();
    state
        .storage
        .unlock(&tenant.id, user.as_str(), req.revoke_device, now)
        .await?;
    let record = state.storage.user(&tenant.id, user.as_str()).await?;
    Ok(Json(json!({ "status": user_status(record.as_ref()) })))
}

/// `DELETE /v1/users/{user_id}/device`: retires the user's device.
pub async fn remove_device(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
) -> ApiResult<StatusCode> {
    if state
        .storage
        .remove_device(&tenant.id, user.as_str(), state.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotRegistered)
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

/// `GET /v1/audit`: the institution's audit events, oldest first.
pub async fn audit(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let (user, since, limit) = q.checked()?;
    let events = state
        .storage
        .audit_events(&tenant.id, user.as_ref().map(UserId::as_str), since, limit)
        .await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at_ms),
                "user_id": e.user_id,
                "event": e.event,
                "outcome": e.outcome,
                "device_label": e.device_label,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

impl AppState {
    /// The current time as stored in the database.
    pub(crate) fn now(&self) -> i64 {
        db_ms(self.clock.now_ms())
    }
}

impl DeviceRequest {
    /// The device fields, checked (malformed input is refused before anything is read), and
    /// the key proven: a browser whose stored key is not the key it sends registers nothing.
    fn checked(&self) -> ApiResult<(Secret, Fingerprint, Label)> {
        let secret = device_secret(&self.secret)?;
        let proof = key_proof(&self.proof)?;
        let fingerprint = Fingerprint::parse(&self.fingerprint)?;
        let label = Label::parse(&self.label)?;
        if !cloud_otp_core::proof_matches(&secret, &proof) {
            return Err(ApiError::InvalidProof);
        }
        Ok((secret, fingerprint, label))
    }
}

impl VerifyRequest {
    /// The fields, checked (malformed input is refused before anything is read or counted).
    fn checked(&self) -> ApiResult<(OtpCode, DeviceId, Fingerprint)> {
        Ok((
            OtpCode::parse(&self.code)?,
            DeviceId::parse(&self.device_id)?,
            Fingerprint::parse(&self.fingerprint)?,
        ))
    }
}

impl SessionRequest {
    /// The fields, checked.
    fn checked(&self) -> ApiResult<(UserId, Purpose)> {
        Ok((
            UserId::parse(&self.user_id)?,
            Purpose::parse(&self.purpose)?,
        ))
    }
}

impl CheckRequest {
    /// The fields, checked.
    fn checked(&self) -> ApiResult<(UserId, OtpCode)> {
        Ok((UserId::parse(&self.user_id)?, OtpCode::parse(&self.code)?))
    }
}

impl AuditQuery {
    /// The filter: user (empty = all), since (Unix ms, default 0), limit (1 to 1000, default
    /// 100).
    fn checked(&self) -> ApiResult<(Option<UserId>, i64, i64)> {
        let user = match self.user_id.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => Some(UserId::parse(u)?),
            None => None,
        };
        let since = match self.since.as_deref().filter(|s| !s.is_empty()) {
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
        Ok((user, since, limit))
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
}

impl RequestBody {
    /// Every request body.
    pub const ALL: [RequestBody; 9] = [
        RequestBody::Status,
        RequestBody::Devices,
        RequestBody::Verify,
        RequestBody::Sessions,
        RequestBody::Siteverify,
        RequestBody::Check,
        RequestBody::Activation,
        RequestBody::Authenticator,
        RequestBody::Unlock,
    ];
}

/// Parses `bytes` as the endpoint's handler does before it touches the database: the JSON
/// into the request type (unknown fields refused), then the fields through their checked
/// types, with the handler's own code. It gives the fuzz targets (fuzz/) and tests the request
/// types without a server; the answer is the error the handler would send, or `Ok` when the
/// request would reach the database.
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
        RequestBody::Status => {
            let req: StatusRequest = parse_json(bytes)?;
            req.checked()?;
        }
        RequestBody::Devices => {
            let req: DeviceRequest = parse_json(bytes)?;
            req.checked()?;
            match (
                &req.session,
                &req.customer_code,
                &req.user_id,
                &req.activation_code,
            ) {
                (Some(token), None, None, None) => {
                    Token::parse(token).map_err(|_| ApiError::InvalidSession)?;
                }
                (None, Some(customer), Some(user), Some(code)) => {
                    CustomerCode::parse(customer)?;
                    UserId::parse(user)?;
                    ActivationCode::parse(code)?;
                }
                _ => {
                    return Err(ApiError::BadRequest(
                        "neither session nor activation".into(),
                    ));
                }
            }
        }
        RequestBody::Verify => {
            let req: VerifyRequest = parse_json(bytes)?;
            req.checked()?;
            Token::parse(&req.session).map_err(|_| ApiError::InvalidSession)?;
        }
        RequestBody::Sessions => {
            parse_json::<SessionRequest>(bytes)?.checked()?;
        }
        RequestBody::Siteverify => {
            // An unusable pass is a 200 with success false, not an error.
            parse_json::<SiteverifyRequest>(bytes)?;
        }
        RequestBody::Check => {
            parse_json::<CheckRequest>(bytes)?.checked()?;
        }
        RequestBody::Activation if !bytes.is_empty() => {
            parse_json::<ActivationRequest>(bytes)?;
        }
        RequestBody::Authenticator if !bytes.is_empty() => {
            parse_json::<AuthenticatorRequest>(bytes)?;
        }
        RequestBody::Unlock if !bytes.is_empty() => {
            parse_json::<UnlockRequest>(bytes)?;
        }
        RequestBody::Activation | RequestBody::Authenticator | RequestBody::Unlock => {}
    }
    Ok(())
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
    q.checked().map(drop)
}
