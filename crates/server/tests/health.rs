//! The probes over a real socket, on SQLite and PostgreSQL: `/healthz` and `/readyz` answer
//! 200, keep answering when the client's rate limit is spent, say nothing but a fixed word,
//! and `/readyz` answers 503 `database_unavailable` once the database is really gone (the
//! SQLite pool closed, the PostgreSQL database dropped under the server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cloud_otp_server::storage::Storage;
use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

on_both_backends!(
    probes_answer_and_are_never_rate_limited,
    readyz_is_503_when_the_database_is_gone,
);

/// GET `path`: status, Cache-Control and JSON body.
async fn probe(client: &reqwest::Client, base: &str, path: &str) -> (StatusCode, String, Value) {
    let r = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = r.status();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cache, r.json().await.unwrap())
}

async fn probes_answer_and_are_never_rate_limited(backend: Backend) {
    let app = TestApp::with_config(backend, |c| c.rate_limit_per_minute = 1).await;
    app.tenant("Acme Academy", "5678", &[]).await;
    let base = common::serve_on_loopback(app.router.clone()).await;
    let client = reqwest::Client::new();
    // This address's one request of the minute, then the limit.
    let time = format!("{base}/v1/time");
    assert_eq!(client.get(&time).send().await.unwrap().status(), 200);
    assert_eq!(client.get(&time).send().await.unwrap().status(), 429);
    for _ in 0..20 {
        let (status, cache, body) = probe(&client, &base, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
        assert_eq!(cache, "no-store");
        let (status, cache, body) = probe(&client, &base, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({ "ready": true }));
        assert_eq!(cache, "no-store");
    }
    // The probes did not lift the limit either.
    assert_eq!(client.get(&time).send().await.unwrap().status(), 429);
    // Only GET (and HEAD) are probes.
    let r = client.post(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn readyz_is_503_when_the_database_is_gone(backend: Backend) {
    let app = TestApp::new(backend).await;
    let base = common::serve_on_loopback(app.router.clone()).await;
    let client = reqwest::Client::new();
    assert_eq!(probe(&client, &base, "/readyz").await.0, StatusCode::OK);
    match &app.storage {
        Storage::Sqlite(_) => app.storage.close().await,
        Storage::Postgres(pool) => {
            // The database disappears under the server: its connections are ended and no
            // new one can be opened.
            let name: String = sqlx::query_scalar("SELECT current_database()")
                .fetch_one(pool)
                .await
                .unwrap();
            let mut admin = sqlx::PgConnection::connect(&common::pg_admin_url())
                .await
                .unwrap();
            sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
    for _ in 0..3 {
        let (status, cache, body) = probe(&client, &base, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(
            body,
            json!({ "ready": false, "reason": "database_unavailable" })
        );
        assert_eq!(cache, "no-store");
        // The process itself still serves.
        let (status, _, body) = probe(&client, &base, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
    }
}
