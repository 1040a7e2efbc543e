//! The probes of a load balancer or orchestrator (docs/operations.md, "Health"): `GET /healthz`
//! (the process serves) and `GET /readyz` (it can serve: the database answers and the master
//! keys are loaded). Neither is rate limited, authenticated or tied to a tenant, and neither
//! says more than a fixed reason code.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

/// The longest `/readyz` waits for the database: a probe polled every second must not pile
/// up behind a database that hangs.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the server is not ready, as the stable `reason` of a 503 from `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The database did not answer a trivial query in time, or failed it.
    DatabaseUnavailable,
    /// No master key is loaded.
    KeysUnavailable,
}

impl NotReady {
    /// The reason code.
    pub fn code(self) -> &'static str {
        match self {
            NotReady::DatabaseUnavailable => "database_unavailable",
            NotReady::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// A probe's answer: never cached, so a proxy cannot answer for a server that stopped.
fn probe(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `GET /healthz`: 200 `{"status":"ok"}` whenever the process answers HTTP at all.
pub async fn healthz() -> Response {
    probe(StatusCode::OK, json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 `{"ready":true}`, or 503 `{"ready":false,"reason":CODE}`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match readiness(&state).await {
        Ok(()) => probe(StatusCode::OK, json!({ "ready": true })),
        Err(why) => {
            tracing::warn!(reason = why.code(), "not ready");
            probe(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "ready": false, "reason": why.code() }),
            )
        }
    }
}

async fn readiness(state: &AppState) -> Result<(), NotReady> {
    if state.crypto.current().key_count() == 0 {
        return Err(NotReady::KeysUnavailable);
    }
    match tokio::time::timeout(READY_TIMEOUT, state.storage.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "readiness query failed");
            Err(NotReady::DatabaseUnavailable)
        }
        Err(_) => Err(NotReady::DatabaseUnavailable),
    }
}
