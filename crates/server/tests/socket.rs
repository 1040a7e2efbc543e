//! The server over real TCP sockets (axum::serve on loopback, reqwest as the client), on
//! SQLite and PostgreSQL: the full flow, CORS preflights as a browser sends them, rate
//! limiting by peer address, and two server instances with separate pools on one database
//! verifying the same code concurrently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use cloud_otp_server::clock::ManualClock;
use cloud_otp_server::crypto::{Crypto, MasterKey};
use cloud_otp_server::storage::Storage;
use cloud_otp_server::{AppState, Config, app};
use common::{Backend, Device, T0_MS};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    full_flow_over_a_socket,
    preflight_and_rate_limit_over_a_socket,
    two_server_instances_on_one_database_verify_once,
);

/// A running server: its base URL and clock.
struct Server {
    base: String,
    clock: ManualClock,
}

/// Serves `storage` on a free loopback port with a clock at `now_ms`.
async fn start(storage: Storage, master_hex: &str, now_ms: u64, rate_limit: u32) -> Server {
    let crypto = Crypto::new(&MasterKey::from_hex(master_hex).unwrap());
    storage.ensure_key_check(crypto.key_check()).await.unwrap();
    let clock = ManualClock::new(now_ms);
    let config = Config {
        rate_limit_per_minute: rate_limit,
        ..Config::default()
    };
    let state = AppState::new(storage, crypto, Arc::new(clock.clone()), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Server {
        base: format!("http://{addr}"),
        clock,
    }
}

/// The database URL of `backend` and the directory that holds it (SQLite).
async fn database(backend: Backend) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("shared.db").display()),
        Backend::Postgres => common::pg_database().await,
    };
    (url, dir)
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut req = client.post(url).json(body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn tenant(storage: &Storage, origins: &[&str]) -> String {
    use cloud_otp_server::validate::{CustomerCode, Origin, TenantName};
    let origins: Vec<Origin> = origins.iter().map(|o| Origin::parse(o).unwrap()).collect();
    let name = TenantName::parse("Acme Academy").unwrap();
    let code = CustomerCode::parse("5678").unwrap();
    cloud_otp_server::admin::create_tenant(storage, &name, &code, &origins, 0)
        .await
        .unwrap()
        .1
}

/// Registers `device` for `user` through server `base`; returns it with its id.
async fn register(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    user: &str,
    device: &Device,
) -> Device {
    let (_, s) = post(
        client,
        &format!("{base}/v1/sessions"),
        Some(key),
        &json!({ "user_id": user, "purpose": "exam" }),
    )
    .await;
    let session = s["session"].as_str().unwrap();
    let (status, body) = post(
        client,
        &format!("{base}/v1/devices"),
        None,
        &device.registration(session),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        ..device.clone()
    }
}

async fn full_flow_over_a_socket(backend: Backend) {
    let (url, _dir) = database(backend).await;
    let storage = Storage::connect(&url).await.unwrap();
    let key = tenant(&storage, &[]).await;
    let server = start(storage, &"11".repeat(32), T0_MS + 5_000, 0).await;
    let base = &server.base;
    let client = reqwest::Client::new();

    let r = client.get(format!("{base}/v1/time")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["now_ms"], T0_MS + 5_000);

    let device = register(
        &client,
        base,
        &key,
        "u1",
        &Device::new("u1", "Firefox on Linux"),
    )
    .await;
    let (_, s) = post(
        &client,
        &format!("{base}/v1/sessions"),
        Some(&key),
        &json!({ "user_id": "u1", "purpose": "periodic" }),
    )
    .await;
    let session = s["session"].as_str().unwrap();
    let code = device.code_at((T0_MS + 5_000) / 1000);
    let (status, body) = post(
        &client,
        &format!("{base}/v1/verify"),
        None,
        &device.verification(session, &code),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pass = body["pass"].as_str().unwrap();
    let (status, body) = post(
        &client,
        &format!("{base}/v1/siteverify"),
        Some(&key),
        &json!({ "pass": pass }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["purpose"], "periodic");
    assert_eq!(body["device"]["label"], "Firefox on Linux");
    let (_, body) = post(
        &client,
        &format!("{base}/v1/siteverify"),
        Some(&key),
        &json!({ "pass": pass }),
    )
    .await;
    assert_eq!(body["success"], false);

    // Errors keep their JSON shape over the wire, including axum's own rejections.
    let r = client
        .post(format!("{base}/v1/verify"))
        .body("x".repeat(20_000))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "payload_too_large"
    );
    let r = client
        .get(format!("{base}/v1/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "method_not_allowed"
    );
}

async fn preflight_and_rate_limit_over_a_socket(backend: Backend) {
    let (url, _dir) = database(backend).await;
    let storage = Storage::connect(&url).await.unwrap();
    tenant(&storage, &["https://lms.acme.example"]).await;
    let server = start(storage, &"22".repeat(32), T0_MS + 5_000, 4).await;
    let client = reqwest::Client::new();
    let r = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/verify", server.base),
        )
        .header("origin", "https://lms.acme.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://lms.acme.example"
    );
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    // That preflight was the first of 4 allowed requests from 127.0.0.1 this minute.
    for _ in 0..3 {
        let r = client
            .get(format!("{}/v1/time", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = client
        .get(format!("{}/v1/time", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "55");
    server.clock.advance(55_000);
    let r = client
        .get(format!("{}/v1/time", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn two_server_instances_on_one_database_verify_once(backend: Backend) {
    let (url, _dir) = database(backend).await;
    let master = "33".repeat(32);
    let now = T0_MS + 5_000;
    // Two servers, each with its own connection pool, as two processes would have.
    let first_pool = Storage::connect(&url).await.unwrap();
    let key = tenant(&first_pool, &[]).await;
    let one = start(first_pool, &master, now, 0).await;
    let two = start(Storage::connect(&url).await.unwrap(), &master, now, 0).await;
    let client = reqwest::Client::new();
    let device = register(
        &client,
        &one.base,
        &key,
        "u1",
        &Device::new("u1", "Chrome on Windows"),
    )
    .await;

    let mut sessions = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 { &one.base } else { &two.base };
        let (_, s) = post(
            &client,
            &format!("{base}/v1/sessions"),
            Some(&key),
            &json!({ "user_id": "u1", "purpose": "exam" }),
        )
        .await;
        sessions.push(s["session"].as_str().unwrap().to_owned());
    }
    let code = device.code_at(now / 1000);
    let tasks: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(i, session)| {
            let base = if i % 2 == 0 {
                one.base.clone()
            } else {
                two.base.clone()
            };
            let body = device.verification(session, &code);
            let client = client.clone();
            tokio::spawn(
                async move { post(&client, &format!("{base}/v1/verify"), None, &body).await },
            )
        })
        .collect();
    let mut passes = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => passes.push(body["pass"].as_str().unwrap().to_owned()),
            StatusCode::CONFLICT => assert_eq!(body["error"], "replayed"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        passes.len(),
        1,
        "exactly one of 50 verifications across two servers succeeds"
    );

    // The pass issued by one server is redeemed through the other, once.
    let redeem = |base: String| {
        let client = client.clone();
        let key = key.clone();
        let pass = passes[0].clone();
        async move {
            post(
                &client,
                &format!("{base}/v1/siteverify"),
                Some(&key),
                &json!({ "pass": pass }),
            )
            .await
            .1
        }
    };
    let (a, b) = tokio::join!(redeem(one.base.clone()), redeem(two.base.clone()));
    let successes = [&a, &b].iter().filter(|r| r["success"] == true).count();
    assert_eq!(successes, 1, "a pass is redeemed once: {a} {b}");

    // Wrong codes sent to both servers at once are each counted exactly once.
    let wrong = device.wrong_code_at(now / 1000);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let base = if i % 2 == 0 {
                one.base.clone()
            } else {
                two.base.clone()
            };
            let client = client.clone();
            let key = key.clone();
            let body = json!({ "user_id": "u1", "code": wrong });
            tokio::spawn(async move {
                post(&client, &format!("{base}/v1/check"), Some(&key), &body).await
            })
        })
        .collect();
    let mut left = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::UNAUTHORIZED {
            left.push(body["attempts_left"].as_u64().unwrap());
        } else {
            assert_eq!(status, StatusCode::LOCKED, "{body}");
        }
    }
    left.sort_unstable();
    assert_eq!(left, [1, 2, 3, 4]);
}
