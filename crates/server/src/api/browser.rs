//! The browser endpoints: the clock, the institution of a customer code, a session's status,
//! the registration of this browser and the verification of a code typed in the widget.
//! Each checks the request's Origin against the institution it concerns.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::refusals::device_view;
use super::requests::{DeviceRequest, StatusRequest, VerifyRequest};
use crate::AppState;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::http::{ApiJson, ClientIp, CustomerPath, check_origin};
use crate::metrics::VerificationOutcome;
use crate::service::enrollment::{Authority, Authorized};
use crate::service::open_for_service;
use crate::test_mode::TestMode;

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
    let tenant = state.services().customer(&code).await?;
    check_origin(&state, &headers, &tenant.id).await?;
    open_for_service(&tenant)?;
    Ok(Json(json!({
        "customer_code": tenant.customer_code,
        "institution": tenant.name,
        "pin_digits": tenant.pin_digits.digits(),
    })))
}

/// `POST /v1/status`: what the widget needs to choose its screen for a session.
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StatusRequest>,
) -> ApiResult<Json<Value>> {
    let input = req.parse()?;
    let now = state.now();
    let services = state.services();
    let open = services.usable_session(&input.session, now).await?;
    check_origin(&state, &headers, &open.session.tenant_id).await?;
    let status = services
        .session_status(&open, input.fingerprint.as_ref())
        .await?;
    let (session, tenant) = (&open.session, &open.tenant);
    Ok(Json(json!({
        "user_id": session.user_id,
        "purpose": session.purpose,
        "expires_at": rfc3339(session.expires_ms),
        "user_status": status.user_status.as_str(),
        "attempts_left": status.attempts_left,
        "device": status.device.as_ref().map(device_view),
        "device_is_this_browser": status.device_is_this_browser,
        // A test institution says so, for the widget to mark its screens "testing only".
        "institution": {
            "name": tenant.name,
            "customer_code": tenant.customer_code,
            "test": tenant.test_mode.map(TestMode::as_str),
        },
        "pin_digits": tenant.pin_digits.digits(),
    })))
}

/// `POST /v1/devices`: registers this browser as the user's device.
pub async fn register_device(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<DeviceRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Activation attempts are counted per client address before anything is looked up.
    let enrollment = req.parse(|| {
        state
            .activation_limiter
            .check(ip, state.clock.now_ms())
            .map_err(|retry_after_secs| {
                tracing::warn!(%ip, "activation attempts rate limited");
                ApiError::RateLimited { retry_after_secs }
            })
    })?;
    let now = state.now();
    let services = state.services();
    let enrolled = match &enrollment.authority {
        Authority::Session(token) => {
            let open = services.usable_session(token, now).await?;
            check_origin(&state, &headers, &open.session.tenant_id).await?;
            services
                .register_browser(Authorized::Session(&open), &enrollment.device, now)
                .await?
        }
        Authority::Activation {
            customer,
            user,
            code,
        } => {
            let tenant = services.customer(customer).await?;
            check_origin(&state, &headers, &tenant.id).await?;
            let authorized = Authorized::Activation {
                tenant: &tenant,
                user,
                code,
            };
            services
                .register_browser(authorized, &enrollment.device, now)
                .await?
        }
    };
    let body = json!({
        "device_id": enrolled.device_id,
        "user_id": enrolled.user_id,
        "server_time_ms": now,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// `POST /v1/verify`: checks a code typed in the widget; success spends the session and
/// issues a single-use pass.
pub async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Json<Value>> {
    // Malformed input is refused before anything is read or counted (but in the metrics).
    let input = req
        .parse()
        .inspect_err(|_| state.metrics.verification(VerificationOutcome::Malformed))?;
    let now = state.now();
    let services = state.services();
    let open = services.usable_session(&input.session, now).await?;
    let origin = check_origin(&state, &headers, &open.session.tenant_id).await?;
    let pass = services
        .verify_in_widget(&open, &input, origin.as_deref(), now)
        .await?;
    Ok(Json(
        json!({ "pass": pass.token, "expires_at": rfc3339(pass.expires_ms) }),
    ))
}
