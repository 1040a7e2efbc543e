//! The institution endpoints, authorized by its API key: sessions, pass redemption, codes
//! checked in its own field, activation codes, authenticator apps, its view of a user,
//! unlock, device removal, erasure, the webhook and the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::refusals::device_view;
use super::requests::{
    ActivationRequest, AuditQuery, AuthenticatorRequest, CheckRequest, SessionRequest,
    SiteverifyRequest, UnlockRequest, WebhookRequest,
};
use crate::AppState;
use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::http::{ApiJson, ApiQuery, Institution, OptionalJson, UserPath};
use crate::metrics::VerificationOutcome;

/// `POST /v1/sessions`: opens an OTP session (10 minutes) for a user and purpose.
pub async fn open_session(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiJson(req): ApiJson<SessionRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (user, purpose) = req.parse()?;
    let now = state.now();
    let opened = state
        .services()
        .open_session(&tenant, &user, &purpose, now)
        .await?;
    let body = json!({
        "session": opened.token,
        "expires_at": rfc3339(opened.expires_ms),
        "user_status": opened.user_status.as_str(),
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `POST /v1/siteverify`: redeems a pass of the calling institution, once.
pub async fn siteverify(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiJson(req): ApiJson<SiteverifyRequest>,
) -> ApiResult<Json<Value>> {
    let (pass, key) = req.parse()?;
    let now = state.now();
    let redeemed = state
        .services()
        .redeem_pass(&tenant, pass.as_ref(), key.as_ref(), now)
        .await?;
    let Some(p) = redeemed else {
        return Ok(Json(
            json!({ "success": false, "error": "invalid_or_used_pass" }),
        ));
    };
    Ok(Json(json!({
        "success": true,
        "user_id": p.user_id,
        "purpose": p.purpose,
        "verified_at": rfc3339(p.verified_ms),
        "device": { "kind": p.device_kind, "label": p.device_label },
        "origin": p.origin,
        "test": tenant.test_mode.is_some(),
    })))
}

/// `POST /v1/check`: verifies a user's code typed into the institution's own field.
pub async fn check(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiJson(req): ApiJson<CheckRequest>,
) -> ApiResult<Json<Value>> {
    let (user, code) = req
        .parse()
        .inspect_err(|_| state.metrics.verification(VerificationOutcome::Malformed))?;
    let now = state.now();
    let step = state
        .services()
        .check_code(&tenant, &user, &code, now)
        .await?;
    Ok(Json(json!({ "success": true, "step": step })))
}

/// `POST /v1/users/{user_id}/activation`: issues a 6-digit activation code valid 3 days,
/// replacing any earlier one.
pub async fn issue_activation(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
    OptionalJson(_): OptionalJson<ActivationRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let now = state.now();
    let issued = state
        .services()
        .issue_activation(&tenant, &user, now)
        .await?;
    let body = json!({
        "customer_code": tenant.customer_code,
        "user_id": user.as_str(),
        "activation_code": issued.code,
        "expires_at": rfc3339(issued.expires_ms),
    });
    Ok((StatusCode::CREATED, Json(body)))
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
    let enrolled = state
        .services()
        .enroll_authenticator(&tenant, &user, req.replace(), now)
        .await?;
    let body = json!({ "device_id": enrolled.device_id, "otpauth_uri": enrolled.otpauth_uri });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /v1/users/{user_id}`: the user's status, failure count and device.
pub async fn user(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
) -> ApiResult<Json<Value>> {
    let view = state.services().user_view(&tenant, &user).await?;
    Ok(Json(json!({
        "user_id": user.as_str(),
        "status": view.status.as_str(),
        "failures": view.failures,
        "device": view.device.as_ref().map(device_view),
    })))
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
    let status = state
        .services()
        .unlock(&tenant, &user, req.revoke_device(), now)
        .await?;
    Ok(Json(json!({ "status": status.as_str() })))
}

/// `DELETE /v1/users/{user_id}/device`: retires the user's device.
pub async fn remove_device(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
) -> ApiResult<StatusCode> {
    let now = state.now();
    state.services().remove_device(&tenant, &user, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/users/{user_id}`: erases every record of the user (docs/api.md).
pub async fn erase_user(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    UserPath(user): UserPath,
) -> ApiResult<StatusCode> {
    let now = state.now();
    state.services().erase_user(&tenant, &user, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/webhook`: sets the institution's webhook; the answer carries the new signing
/// secret, shown only this once.
pub async fn put_webhook(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiJson(req): ApiJson<WebhookRequest>,
) -> ApiResult<Json<Value>> {
    let url = req.parse()?;
    let now = state.now();
    let secret = state.services().set_webhook(&tenant, &url, now).await?;
    Ok(Json(json!({ "url": url.as_str(), "secret": secret })))
}

/// `GET /v1/webhook`: the institution's webhook and its undelivered events.
pub async fn get_webhook(
    State(state): State<AppState>,
    Institution(tenant): Institution,
) -> ApiResult<Json<Value>> {
    let (hook, stats) = state.services().webhook(&tenant).await?;
    Ok(Json(json!({
        "url": hook.as_ref().map(|h| h.url.as_str()),
        "pending": stats.pending,
        "dead": stats.dead,
        "last_error": stats.last_error,
    })))
}

/// `DELETE /v1/webhook`: removes the institution's webhook and its undelivered events.
pub async fn delete_webhook(
    State(state): State<AppState>,
    Institution(tenant): Institution,
) -> ApiResult<StatusCode> {
    state.services().remove_webhook(&tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/audit`: the institution's audit events, oldest first.
pub async fn audit(
    State(state): State<AppState>,
    Institution(tenant): Institution,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let filter = q.parse()?;
    let events = state.services().audit_log(&tenant, &filter).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            json!({
                "at": rfc3339(e.at_ms),
                // An erasure's own event names no user (stored as the empty ID).
                "user_id": Some(e.user_id).filter(|u| !u.is_empty()),
                "event": e.event,
                "outcome": e.outcome,
                "device_label": e.device_label,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}
