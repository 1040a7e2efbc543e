//! Test institutions (`tenant create --test MODE`, in-process and through the binary) and
//! what `/v1/siteverify` tells: a test
//! institution's verifications always pass, always fail or always answer "suspended" whatever
//! the code, never change the trainee's state, and say `"test": true`; a real institution is
//! untouched by them; siteverify names the origin a pass was earned on, and a retry with the
//! same idempotency key gets the same answer, also when retries race.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cloud_otp_server::admin::{TenantOptions, create_tenant_with, rotate_api_key};
use cloud_otp_server::test_mode::TestMode;
use cloud_otp_server::validate::{CustomerCode, Origin, TenantName};
use common::{Backend, Device, TestApp, json_body};
use serde_json::{Value, json};

on_both_backends!(
    always_pass_accepts_any_code_again_and_its_passes_say_test,
    always_fail_never_suspends,
    always_suspended_answers_locked_and_changes_nothing,
    a_test_institution_cannot_reach_a_real_one,
    siteverify_names_the_origin_and_says_test_false_for_a_real_institution,
    a_retried_siteverify_with_its_idempotency_key_gets_the_same_answer,
    racing_retries_with_one_key_all_get_the_answer_and_other_keys_none,
    a_malformed_idempotency_key_is_refused,
    the_widget_status_names_a_test_institution_and_its_mode,
);

const LMS: &str = "https://lms.example";

/// Creates a test institution with `mode`; returns its API key.
async fn test_tenant(app: &TestApp, code: &str, mode: TestMode) -> String {
    let (tenant, key) = create_tenant_with(
        &app.storage,
        &TenantName::parse("CI Academy").unwrap(),
        &CustomerCode::parse(code).unwrap(),
        &[Origin::parse(LMS).unwrap()],
        TenantOptions {
            test_mode: Some(mode),
            ..TenantOptions::default()
        },
        0,
    )
    .await
    .unwrap();
    assert_eq!(tenant.test_mode, Some(mode));
    key
}

/// `POST /v1/verify` from a page of `origin`, as the browser sends it.
async fn verify_from(
    app: &TestApp,
    origin: Option<&str>,
    session: &str,
    device: &Device,
    code: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/v1/verify")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    let body = device.verification(session, code).to_string();
    let response = app.send(request.body(Body::from(body)).unwrap()).await;
    (response.status(), json_body(response).await)
}

/// A pass of `user` (registered as `device`) earned on `origin`.
async fn pass(app: &TestApp, key: &str, device: &Device, user: &str, origin: &str) -> String {
    let session = app.session(key, user).await;
    let code = device.code_at(app.now_secs());
    let (status, body) = verify_from(app, Some(origin), &session, device, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["pass"].as_str().unwrap().to_owned()
}

async fn siteverify(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, body) = app.post("/v1/siteverify", Some(key), body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The user's status and failure count as the institution reads them.
async fn user_state(app: &TestApp, key: &str, user: &str) -> (String, u64) {
    let (status, body) = app.get(&format!("/v1/users/{user}"), key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["status"].as_str().unwrap().to_owned(),
        body["failures"].as_u64().unwrap(),
    )
}

async fn check(app: &TestApp, key: &str, user: &str, code: &str) -> (StatusCode, Value) {
    app.post(
        "/v1/check",
        Some(key),
        json!({ "user_id": user, "code": code }),
    )
    .await
}

async fn always_pass_accepts_any_code_again_and_its_passes_say_test(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = test_tenant(&app, "7001", TestMode::AlwaysPass).await;
    assert!(key.starts_with("cok_test_"), "a test key shows what it is");
    let device = app.register(&key, "ci-user").await;
    for round in 0..3 {
        // The same code, which is not this device's, in three sessions: accepted each time.
        let session = app.session(&key, "ci-user").await;
        let (status, body) = verify_from(&app, Some(LMS), &session, &device, "000000").await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        let answer = siteverify(&app, &key, json!({ "pass": body["pass"] })).await;
        assert_eq!(answer["success"], true, "{answer}");
        assert_eq!(answer["test"], true, "{answer}");
        assert_eq!(answer["origin"], LMS, "{answer}");
        assert_eq!(answer["user_id"], "ci-user");
    }
    for _ in 0..2 {
        let (status, body) = check(&app, &key, "ci-user", "123456").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(
        user_state(&app, &key, "ci-user").await,
        ("active".into(), 0)
    );
    // The format is still checked: a code that is not 6 digits is malformed, as anywhere.
    let (status, body) = check(&app, &key, "ci-user", "12345").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Registration stays real: an unknown user has no device.
    let (status, body) = check(&app, &key, "nobody", "123456").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_registered");
}

async fn always_fail_never_suspends(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = test_tenant(&app, "7002", TestMode::AlwaysFail).await;
    let device = app.register(&key, "ci-user").await;
    for attempt in 0..8 {
        // Even the device's own right code fails, with the same attempts left each time.
        let (status, body) = check(&app, &key, "ci-user", &device.code_at(app.now_secs())).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
        assert_eq!(body["error"], "invalid_code");
        assert_eq!(body["attempts_left"], 4, "attempt {attempt}");
    }
    let session = app.session(&key, "ci-user").await;
    let code = device.code_at(app.now_secs());
    let (status, body) = verify_from(&app, Some(LMS), &session, &device, &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_code");
    assert_eq!(
        user_state(&app, &key, "ci-user").await,
        ("active".into(), 0)
    );
}

async fn always_suspended_answers_locked_and_changes_nothing(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = test_tenant(&app, "7003", TestMode::AlwaysSuspended).await;
    let device = app.register(&key, "ci-user").await;
    let (status, body) = check(&app, &key, "ci-user", &device.code_at(app.now_secs())).await;
    assert_eq!(status, StatusCode::LOCKED, "{body}");
    assert_eq!(body["error"], "locked");
    let session = app.session(&key, "ci-user").await;
    let (status, body) = verify_from(&app, Some(LMS), &session, &device, "000000").await;
    assert_eq!(status, StatusCode::LOCKED, "{body}");
    assert_eq!(body["error"], "locked");
    // Nothing was counted or suspended for real: the institution sees an active user.
    assert_eq!(
        user_state(&app, &key, "ci-user").await,
        ("active".into(), 0)
    );
}

async fn a_test_institution_cannot_reach_a_real_one(backend: Backend) {
    let app = TestApp::new(backend).await;
    let real = app.tenant("Real Academy", "5678", &[LMS]).await;
    let test = test_tenant(&app, "7001", TestMode::AlwaysPass).await;
    assert!(real.starts_with("cok_") && !real.starts_with("cok_test_"));
    // The real institution still checks codes, with a test institution on the same server.
    let trainee = app.register(&real, "u1").await;
    let (status, body) = check(&app, &real, "u1", &trainee.wrong_code_at(app.now_secs())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The test key reaches none of the real institution's users or passes.
    let (status, body) = check(&app, &test, "u1", "000000").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let real_pass = pass(&app, &real, &trainee, "u1", LMS).await;
    let answer = siteverify(&app, &test, json!({ "pass": real_pass })).await;
    assert_eq!(answer["success"], false, "{answer}");
    // A test institution's pass is no pass for the real one.
    let ci = app.register(&test, "u1").await;
    let session = app.session(&test, "u1").await;
    let (_, body) = verify_from(&app, Some(LMS), &session, &ci, "000000").await;
    let answer = siteverify(&app, &real, json!({ "pass": body["pass"] })).await;
    assert_eq!(answer["success"], false, "{answer}");
    // The real pass is still the real institution's, once.
    let answer = siteverify(&app, &real, json!({ "pass": real_pass })).await;
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["test"], false, "{answer}");
    // A replaced test key is a test key again.
    let tenant = app
        .storage
        .tenant_by_customer_code("7001")
        .await
        .unwrap()
        .unwrap();
    let rotated = rotate_api_key(&app.storage, &tenant).await.unwrap();
    assert!(rotated.starts_with("cok_test_"), "{rotated}");
}

async fn the_widget_status_names_a_test_institution_and_its_mode(backend: Backend) {
    let app = TestApp::new(backend).await;
    let real = app.tenant("Real Academy", "5678", &[LMS]).await;
    for (key, mode) in [
        (
            test_tenant(&app, "7001", TestMode::AlwaysPass).await,
            json!("always-pass"),
        ),
        (
            test_tenant(&app, "7002", TestMode::AlwaysFail).await,
            json!("always-fail"),
        ),
        (
            test_tenant(&app, "7003", TestMode::AlwaysSuspended).await,
            json!("always-suspended"),
        ),
        (real, Value::Null),
    ] {
        let session = app.session(&key, "ci-user").await;
        let (status, body) = app
            .post("/v1/status", None, json!({ "session": session }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["institution"]["test"], mode, "{body}");
    }
}

async fn siteverify_names_the_origin_and_says_test_false_for_a_real_institution(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Real Academy", "5678", &[LMS]).await;
    let device = app.register(&key, "u1").await;
    let earned = pass(&app, &key, &device, "u1", LMS).await;
    let answer = siteverify(&app, &key, json!({ "pass": earned })).await;
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["origin"], LMS);
    assert_eq!(answer["test"], false);
    assert_eq!(answer["purpose"], "exam");
    // A request without an Origin header (not a browser): the pass names no origin.
    app.clock.advance(60_000);
    let session = app.session(&key, "u1").await;
    let code = device.code_at(app.now_secs());
    let (status, body) = verify_from(&app, None, &session, &device, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = siteverify(&app, &key, json!({ "pass": body["pass"] })).await;
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["origin"], Value::Null, "{answer}");
    // An origin the institution did not register gets no pass at all.
    app.clock.advance(60_000);
    let session = app.session(&key, "u1").await;
    let code = device.code_at(app.now_secs());
    let (status, body) =
        verify_from(&app, Some("https://evil.example"), &session, &device, &code).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "origin_not_allowed");
}

async fn a_retried_siteverify_with_its_idempotency_key_gets_the_same_answer(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Real Academy", "5678", &[LMS]).await;
    let device = app.register(&key, "u1").await;
    let earned = pass(&app, &key, &device, "u1", LMS).await;
    let k = "4d6e1a2c-8f3b-4b7e-9a51-3c2d1e0f9a8b";
    let first = siteverify(&app, &key, json!({ "pass": earned, "idempotency_key": k })).await;
    assert_eq!(first["success"], true, "{first}");
    let again = siteverify(&app, &key, json!({ "pass": earned, "idempotency_key": k })).await;
    assert_eq!(again, first, "the same key gets the same answer");
    for other in [
        json!({ "pass": earned }),
        json!({ "pass": earned, "idempotency_key": "other" }),
    ] {
        let answer = siteverify(&app, &key, other).await;
        assert_eq!(answer["success"], false, "{answer}");
        assert_eq!(answer["error"], "invalid_or_used_pass");
    }
    // Once the pass has expired (120 s), a retry with the key still gets the answer.
    app.clock.advance(10 * 60_000);
    let late = siteverify(&app, &key, json!({ "pass": earned, "idempotency_key": k })).await;
    assert_eq!(late, first);
    // Another institution with the same pass and key gets nothing.
    let other = app.tenant("Beta School", "9012", &[]).await;
    let answer = siteverify(
        &app,
        &other,
        json!({ "pass": earned, "idempotency_key": k }),
    )
    .await;
    assert_eq!(answer["success"], false, "{answer}");
    // One redemption in the audit log, not one per retry.
    let (_, log) = app.get("/v1/audit", &key).await;
    let redeemed = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "pass_redeemed")
        .count();
    assert_eq!(redeemed, 1, "{log}");
}

async fn racing_retries_with_one_key_all_get_the_answer_and_other_keys_none(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Real Academy", "5678", &[LMS]).await;
    let device = app.register(&key, "u1").await;
    // Ten retries with one key at once: every one gets the pass.
    let earned = pass(&app, &key, &device, "u1", LMS).await;
    let bodies = (0..10).map(|_| json!({ "pass": earned, "idempotency_key": "same" }));
    let answers = at_once(&app, &key, bodies).await;
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
        assert_eq!(answer["success"], true, "{answer}");
    }
    // Ten redemptions with ten keys at once: exactly one gets the pass.
    app.clock.advance(60_000);
    let earned = pass(&app, &key, &device, "u1", LMS).await;
    let bodies = (0..10).map(|i| json!({ "pass": earned, "idempotency_key": format!("key-{i}") }));
    let answers = at_once(&app, &key, bodies).await;
    let won = answers.iter().filter(|a| a["success"] == true).count();
    assert_eq!(won, 1, "{answers:?}");
}

/// Sends each body to `/v1/siteverify` on a task of its own, all at once; their answers.
async fn at_once(app: &TestApp, key: &str, bodies: impl Iterator<Item = Value>) -> Vec<Value> {
    let tasks: Vec<_> = bodies
        .map(|body| {
            let request = Request::builder()
                .method(Method::POST)
                .uri("/v1/siteverify")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let router = app.router.clone();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let response = router.oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                json_body(response).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn a_malformed_idempotency_key_is_refused(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Real Academy", "5678", &[LMS]).await;
    let device = app.register(&key, "u1").await;
    let earned = pass(&app, &key, &device, "u1", LMS).await;
    let long = "k".repeat(65);
    for bad in ["", "with space", long.as_str()] {
        let (status, body) = app
            .post(
                "/v1/siteverify",
                Some(&key),
                json!({ "pass": earned, "idempotency_key": bad }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
    // Nothing was spent: the pass still redeems.
    let answer = siteverify(&app, &key, json!({ "pass": earned })).await;
    assert_eq!(answer["success"], true, "{answer}");
}

/// `cloud-otp tenant ARGS...` on the SQLite database of `data`: (success, stdout, stderr).
fn tenant_command(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloud-otp"))
        .env("CLOUD_OTP_DATA_DIR", data)
        .env_remove("CLOUD_OTP_DATABASE")
        .env_remove("CLOUD_OTP_MASTER_KEY")
        .arg("tenant")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn tenant_create_test_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let create = ["create", "--name", "Acme CI", "--customer-code", "9001"];
    let (ok, stdout, stderr) =
        tenant_command(&data, &[&create[..], &["--test", "always-pass"]].concat());
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("Test institution: every verification is always-pass"),
        "{stdout}"
    );
    assert!(
        stdout.lines().last().unwrap().starts_with("cok_test_"),
        "{stdout}"
    );
    let (ok, stdout, _) = tenant_command(&data, &["list"]);
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        "9001\tAcme CI\tpin off\topen (test: always-pass)"
    );
    // A wrong mode: a clear error, a failing status, and no institution created.
    let other = [
        "create",
        "--name",
        "B",
        "--customer-code",
        "9002",
        "--test",
        "pass",
    ];
    let (ok, _, stderr) = tenant_command(&data, &other);
    assert!(
        !ok && stderr
            .contains("error: --test must be always-pass, always-fail or always-suspended"),
        "{stderr}"
    );
    let (_, stdout, _) = tenant_command(&data, &["list"]);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    // A real institution says so.
    let (ok, stdout, stderr) = tenant_command(
        &data,
        &["create", "--name", "Acme", "--customer-code", "5678"],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("Test institution: no"), "{stdout}");
    assert!(
        !stdout.lines().last().unwrap().starts_with("cok_test_"),
        "{stdout}"
    );
}
