//! The metrics over real sockets, on SQLite and PostgreSQL: the server on one loopback port,
//! its metrics router on another (as `--metrics-listen` serves it); a scrape, known traffic (N
//! accepted codes, M wrong, a replay, a malformed code, an unapproved device, a lock and an
//! unlock, registrations of every kind), a second scrape, and every counter moved by exactly
//! the traffic sent. Each server has its own registry, and the test compares deltas anyway.
//! Also: the real binary serves them only on `--metrics-listen`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::binary::{Served, command};
use common::{Backend, Device, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(counters_move_by_exactly_the_traffic_sent);

/// Every sample of a scrape: `name{labels}` (as written) to value.
async fn scrape(client: &reqwest::Client, metrics: &str) -> (HashMap<String, f64>, String) {
    let r = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = r.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect();
    (samples, text)
}

async fn post(client: &reqwest::Client, url: String, key: Option<&str>, body: Value) -> StatusCode {
    let mut r = client.post(url).json(&body);
    if let Some(key) = key {
        r = r.bearer_auth(key);
    }
    r.send().await.unwrap().status()
}

async fn counters_move_by_exactly_the_traffic_sent(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let base = common::serve_on_loopback(app.router.clone()).await;
    let metrics =
        common::serve_on_loopback(cloud_otp_server::metrics::router(app.state.metrics())).await;
    let client = reqwest::Client::new();
    let (before, _) = scrape(&client, &metrics).await;

    // Registrations: three new, one replaced, one after erasure, one by activation code.
    let a = app.register(&key, "trainee-a").await;
    let _b = app.register(&key, "trainee-b").await;
    let c = app.register(&key, "trainee-c").await;
    let session = app.session(&key, "trainee-c").await;
    let mut other = Device::new("c2", "Firefox on Linux").registration(&session);
    other["replace"] = json!(true);
    assert_eq!(
        post(&client, format!("{base}/v1/devices"), None, other).await,
        201
    );
    // The same browser (fingerprint) again, its key lost.
    let session = app.session(&key, "trainee-c").await;
    let mut again = Device::new("c3", "Firefox on Linux").registration(&session);
    again["replace"] = json!(true);
    assert_eq!(
        post(&client, format!("{base}/v1/devices"), None, again).await,
        201
    );
    drop(c);
    let issue = format!("{base}/v1/users/trainee-d/activation");
    let r = client.post(issue).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let code = r.json::<Value>().await.unwrap()["activation_code"].clone();
    let d = Device::new("d", "Safari on macOS");
    let body = json!({
        "customer_code": "5678", "user_id": "trainee-d", "activation_code": code,
        "secret": d.secret_b64(), "proof": d.proof_b64(),
        "fingerprint": d.fingerprint, "label": d.label,
    });
    assert_eq!(
        post(&client, format!("{base}/v1/devices"), None, body).await,
        201
    );

    // Verifications through /v1/check: N = 3 accepted (one a step), M = 2 wrong, 1 replay.
    let check = |user: &str, code: String| {
        post(
            &client,
            format!("{base}/v1/check"),
            Some(&key),
            json!({ "user_id": user, "code": code }),
        )
    };
    let mut last = String::new();
    for _ in 0..3 {
        app.clock.advance(60_000);
        last = a.code_at(app.now_secs());
        assert_eq!(check("trainee-a", last.clone()).await, 200);
    }
    for _ in 0..2 {
        let wrong = a.wrong_code_at(app.now_secs());
        assert_eq!(check("trainee-a", wrong).await, 401);
    }
    assert_ne!(check("trainee-a", last).await, 200);
    // Malformed: not 6 digits.
    assert_eq!(check("trainee-a", "12345".into()).await, 400);
    // Five wrong codes lock trainee-b (the fifth locks), a sixth request finds it locked.
    let b_device = Device::new("trainee-b", "Chrome on Windows");
    for _ in 0..5 {
        let wrong = b_device.wrong_code_at(app.now_secs());
        check("trainee-b", wrong).await;
    }
    let right = b_device.code_at(app.now_secs());
    assert_eq!(check("trainee-b", right).await, 423);
    let unlock = format!("{base}/v1/users/trainee-b/unlock");
    assert_eq!(post(&client, unlock, Some(&key), json!({})).await, 200);
    // An unapproved device: trainee-a's session, another browser's device.
    let session = app.session(&key, "trainee-a").await;
    let stranger = Device {
        id: "someone-else".into(),
        ..Device::new("x", "Edge on Windows")
    };
    let code = a.code_at(app.now_secs());
    let body = stranger.verification(&session, &code);
    assert_eq!(
        post(&client, format!("{base}/v1/verify"), None, body).await,
        409
    );

    let (after, text) = scrape(&client, &metrics).await;
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let expected = [
        ("cloud_otp_verifications_total{outcome=\"accepted\"}", 3.0),
        ("cloud_otp_verifications_total{outcome=\"wrong\"}", 7.0),
        ("cloud_otp_verifications_total{outcome=\"replayed\"}", 1.0),
        ("cloud_otp_verifications_total{outcome=\"malformed\"}", 1.0),
        ("cloud_otp_verifications_total{outcome=\"locked\"}", 1.0),
        (
            "cloud_otp_verifications_total{outcome=\"unapproved_device\"}",
            1.0,
        ),
        ("cloud_otp_locks_total", 1.0),
        ("cloud_otp_unlocks_total", 1.0),
        ("cloud_otp_registrations_total{kind=\"new\"}", 3.0),
        ("cloud_otp_registrations_total{kind=\"replaced\"}", 1.0),
        ("cloud_otp_registrations_total{kind=\"after_erasure\"}", 1.0),
        ("cloud_otp_registrations_total{kind=\"activation\"}", 1.0),
        ("cloud_otp_registrations_total{kind=\"authenticator\"}", 0.0),
        ("cloud_otp_verification_retries_total", 0.0),
        ("cloud_otp_webhooks_delivered_total", 0.0),
        ("cloud_otp_webhooks_failed_total", 0.0),
        // 3 + 2 + 1 + 1 + 5 + 1 requests to /v1/check, by its route.
        (
            "cloud_otp_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/check\"}",
            13.0,
        ),
        (
            "cloud_otp_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/users/{user_id}/unlock\"}",
            1.0,
        ),
    ];
    for (name, value) in expected {
        assert_eq!(delta(name), value, "{name}\n{text}");
    }
    // The verifications that reached the database (all but the malformed one), one at a time:
    // on both databases each was one group read of one and one group commit of one (none
    // spent a session, which on PostgreSQL commits on its own).
    let reads = "cloud_otp_db_group_size_sum{kind=\"read\"}";
    let writes = "cloud_otp_db_group_size_count{kind=\"write\"}";
    assert_eq!(delta(reads), 13.0, "{text}");
    assert_eq!(delta(writes), 13.0, "{text}");
    // No request value is a label: user IDs, keys, codes.
    for secret in ["trainee-", &key, "someone-else"] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
}

/// `serve --metrics-listen` serves the metrics there, and only there.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_metrics_only_on_its_metrics_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut c = command(&dir.path().join("data"));
    c.args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")]);
    let mut server = Served::start(c);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("cloud_otp_verifications_total{outcome=\"accepted\"} 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "cloud_otp_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 1"
        ),
        "{text}"
    );
    let main = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), 404);
    assert!(server.terminate().success());
}
