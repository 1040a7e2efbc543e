//! Brute force: besides the 5-failure lock per user and the 5 attempts per activation code,
//! per-address limits on the public endpoints and, apart from them, on activation attempts;
//! both answer 429 rate_limited with Retry-After, count each client address on its own, and
//! are set with `serve --rate-limit` / `--activation-rate-limit` or their environment
//! variables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::binary::{Served, command, create_tenant};
use common::{Backend, Device, TestApp, json_body};
use serde_json::{Value, json};

on_both_backends!(
    activation_attempts_have_their_own_limit_per_address,
    public_endpoints_are_limited_per_address,
);

/// One request from `ip` (the server trusts X-Forwarded-For in these tests); returns status,
/// Retry-After and body.
async fn from(
    app: &TestApp,
    ip: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("x-forwarded-for", format!("203.0.113.9, {ip}"));
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = app.send(req.body(body).unwrap()).await;
    let status = response.status();
    let retry = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, json_body(response).await)
}

fn activation(device: &Device, customer: &str, user: &str, code: &str) -> Value {
    json!({
        "customer_code": customer, "user_id": user, "activation_code": code,
        "secret": device.secret_b64(), "proof": device.proof_b64(), "fingerprint": device.fingerprint, "label": device.label,
    })
}

async fn activation_attempts_have_their_own_limit_per_address(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.rate_limit_per_minute = 100;
        c.activation_limit_per_hour = 3;
        c.trust_forwarded_for = true;
    })
    .await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let (_, body) = app
        .call(Method::POST, "/v1/users/u1/activation", Some(&key), None)
        .await;
    let code = body["activation_code"].as_str().unwrap().to_owned();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let device = Device::new("u1", "Chrome on Android");
    let attacker = "198.51.100.7";

    // Three attempts from one address: wrong code, wrong code, probing another user (who
    // has no activation code).
    for (user, answer) in [
        (
            "u1",
            (StatusCode::UNAUTHORIZED, "invalid_activation", json!(4)),
        ),
        (
            "u1",
            (StatusCode::UNAUTHORIZED, "invalid_activation", json!(3)),
        ),
        ("u2", (StatusCode::NOT_FOUND, "not_enrolled", Value::Null)),
    ] {
        let (status, _, body) = from(
            &app,
            attacker,
            Method::POST,
            "/v1/devices",
            Some(activation(&device, "5678", user, wrong)),
        )
        .await;
        let got = (
            status,
            body["error"].as_str().unwrap(),
            body["attempts_left"].clone(),
        );
        assert_eq!(got, answer, "{body}");
    }
    // The fourth, even with the right code, is refused before anything is looked up: the
    // hour (T0 is on an hour boundary, the clock 5 s past it) ends in 3595 s.
    let (status, retry, body) = from(
        &app,
        attacker,
        Method::POST,
        "/v1/devices",
        Some(activation(&device, "5678", "u1", &code)),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry.as_deref(), Some("3595"));
    assert_eq!(
        (body["error"].as_str(), &body["retry_after"]),
        (Some("rate_limited"), &json!(3595))
    );
    // Probing customer codes counts the same.
    let (status, _, _) = from(
        &app,
        attacker,
        Method::POST,
        "/v1/devices",
        Some(activation(&device, "0000", "u1", wrong)),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // The same address may still use everything else: the public limit is separate, and a
    // registration through a session is no activation attempt.
    let (status, _, _) = from(&app, attacker, Method::GET, "/v1/time", None).await;
    assert_eq!(status, StatusCode::OK);
    let session = app.session(&key, "u3").await;
    let other = Device::new("u3", "Firefox on Linux");
    let (status, _, body) = from(
        &app,
        attacker,
        Method::POST,
        "/v1/devices",
        Some(other.registration(&session)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The refused attempt did not count against the code: the trainee, from another address,
    // still has 3 attempts and the right code works.
    let (status, _, body) = from(
        &app,
        "192.0.2.44",
        Method::POST,
        "/v1/devices",
        Some(activation(&device, "5678", "u1", &code)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, audit) = app.get("/v1/audit?user_id=u1", &key).await;
    let failed = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "activation_failed")
        .count();
    assert_eq!(failed, 2);

    // After the hour, the attacker's address may try again.
    app.clock.advance(3_595_000);
    let (status, _, body) = from(
        &app,
        attacker,
        Method::POST,
        "/v1/devices",
        Some(activation(&device, "5678", "u9", wrong)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_enrolled")),
        "{body}"
    );
}

async fn public_endpoints_are_limited_per_address(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.rate_limit_per_minute = 4;
        c.activation_limit_per_hour = 0;
        c.trust_forwarded_for = true;
    })
    .await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let a = "198.51.100.1";
    // Four requests of any public endpoint use up the minute...
    let four: [(Method, &str, Option<Value>); 4] = [
        (Method::GET, "/v1/time", None),
        (
            Method::POST,
            "/v1/status",
            Some(json!({ "session": session })),
        ),
        (
            Method::POST,
            "/v1/verify",
            Some(device.verification(&session, &device.wrong_code_at(app.now_secs()))),
        ),
        (Method::POST, "/v1/devices", Some(json!({}))),
    ];
    for (method, path, body) in four {
        let (status, _, body) = from(&app, a, method, path, body).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS, "{path}: {body}");
    }
    // ...then every public endpoint answers 429 with Retry-After (55 s left in the minute),
    // without doing anything: the verification below is not counted as a failure.
    for (method, path, body) in [
        (Method::GET, "/v1/time", None),
        (
            Method::POST,
            "/v1/status",
            Some(json!({ "session": session })),
        ),
        (
            Method::POST,
            "/v1/verify",
            Some(device.verification(&session, &device.wrong_code_at(app.now_secs()))),
        ),
        (
            Method::POST,
            "/v1/devices",
            Some(device.registration(&session)),
        ),
    ] {
        let (status, retry, body) = from(&app, a, method, path, body).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert_eq!(retry.as_deref(), Some("55"), "{path}");
        assert_eq!(body["error"], "rate_limited", "{path}");
    }
    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(user["failures"], 1);
    // Another address is not affected, nor is the institution's backend.
    let (status, _, _) = from(&app, "198.51.100.2", Method::GET, "/v1/time", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/users/u1", &key).await;
    assert_eq!(status, StatusCode::OK);
}

/// POSTs `body` to the binary from a real socket; returns status, Retry-After and error.
async fn post(url: &str, body: &Value) -> (u16, Option<u64>, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

/// The limits of a real `cloud-otp serve`, set by flags and by environment variables.
#[tokio::test(flavor = "multi_thread")]
async fn limits_are_set_by_flags_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (key, _) = create_tenant(command(&data), "Acme Academy", "5678", &[]);
    let device = Device::new("u1", "Chrome on Android");
    let serve = |by_env: bool| {
        let mut c = command(&data);
        c.args(["serve", "--listen", "127.0.0.1:0"]);
        if by_env {
            c.env("CLOUD_OTP_RATE_LIMIT", "3")
                .env("CLOUD_OTP_ACTIVATION_RATE_LIMIT", "1");
        } else {
            c.args(["--rate-limit", "3", "--activation-rate-limit", "1"]);
        }
        c
    };
    for by_env in [false, true] {
        // A fixed window resets at the minute: a run that straddles one is run again.
        for attempt in 0..3 {
            let minute = common::binary::now_secs() / 60;
            let server = Served::start(serve(by_env));
            let seen = exercise(&server, &key, &device).await;
            if common::binary::now_secs() / 60 == minute {
                check(&seen);
                break;
            }
            assert!(attempt < 2, "three runs straddled a minute");
        }
    }
}

/// What [`exercise`] saw: (status, Retry-After, error) per request.
type Seen = Vec<(u16, Option<u64>, Value)>;

/// Two activation attempts, two public requests, one institution request.
async fn exercise(server: &Served, key: &str, device: &Device) -> Seen {
    let devices = server.url("/v1/devices");
    let attempt = activation(device, "5678", "u1", "000000");
    let mut seen = vec![
        post(&devices, &attempt).await,
        post(&devices, &attempt).await,
    ];
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client.get(server.url("/v1/time")).send().await.unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        seen.push((r.status().as_u16(), retry, Value::Null));
    }
    let r = client
        .get(server.url("/v1/users/u1"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    seen.push((r.status().as_u16(), None, Value::Null));
    seen
}

fn check(seen: &Seen) {
    assert_eq!(
        (seen[0].0, seen[0].2["error"].as_str()),
        (404, Some("not_enrolled"))
    );
    // The second activation attempt within the hour: 429, Retry-After up to an hour.
    let (status, retry, body) = &seen[1];
    assert_eq!(*status, 429, "{body}");
    let retry = retry.unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(body["retry_after"], retry);
    // Two of the three requests per minute were used: the third passes, the fourth not.
    assert_eq!(seen[2].0, 200);
    assert_eq!(seen[3].0, 429);
    assert!((1..=60).contains(&seen[3].1.unwrap()));
    // The institution's endpoints are not limited per address.
    assert_eq!(seen[4].0, 200);
}
