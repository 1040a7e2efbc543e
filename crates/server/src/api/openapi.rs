//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the HTTP API (`crates/server/openapi.json`,
//! kept by hand beside docs/api.md; `tests/openapi.rs` checks it against the router).

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// `GET /v1/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
