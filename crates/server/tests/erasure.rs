//! Erasing a trainee (`DELETE /v1/users/{user_id}`, `cloud-otp user erase`): afterwards the
//! user is unregistered, its sessions, passes and activation code are refused, the audit log
//! holds nothing that names it (one `user_erased` event without an ID), the ID enrols again as
//! a new user, and another user of the institution and the same ID at another institution are
//! untouched. On both databases, and through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::binary::{Served, authenticator, call, command, create_tenant, now_secs, run};
use common::{Backend, Device, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(
    erasure_removes_every_record_of_one_user,
    erasure_is_refused_without_the_institutions_key,
);

/// The audit events of `key`'s institution, optionally of one user.
async fn audit(app: &TestApp, key: &str, user: Option<&str>) -> Vec<Value> {
    let path = match user {
        Some(u) => format!("/v1/audit?user_id={u}&limit=1000"),
        None => "/v1/audit?limit=1000".to_owned(),
    };
    let (status, body) = app.get(&path, key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

async fn erasure_removes_every_record_of_one_user(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    let b = app.tenant("Academy B", "2222", &[]).await;
    let now = app.now_secs();

    // A's u1: a device, an accepted code with an unredeemed pass, two counted failures, an
    // open session and an outstanding activation code.
    let u1 = app.register(&a, "u1").await;
    let session = app.session(&a, "u1").await;
    let (status, body) = app.verify(&session, &u1, &u1.code_at(now)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pass = body["pass"].as_str().unwrap().to_owned();
    let open = app.session(&a, "u1").await;
    for _ in 0..2 {
        let (status, _) = app.verify(&open, &u1, &u1.wrong_code_at(now)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = app
        .call(Method::POST, "/v1/users/u1/activation", Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let activation = body["activation_code"].as_str().unwrap().to_owned();
    // A's u2 and B's u1, which must stay as they are.
    let u2 = app.register(&a, "u2").await;
    let (status, _) = app
        .post(
            "/v1/check",
            Some(&a),
            json!({"user_id": "u2", "code": u2.code_at(now)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let b1 = app.register(&b, "u1").await;
    let b_audit = audit(&app, &b, Some("u1")).await;
    let u2_audit = audit(&app, &a, Some("u2")).await;
    assert!(!b_audit.is_empty() && !u2_audit.is_empty());
    let (_, u1_before) = app.get("/v1/users/u1", &a).await;
    assert_eq!(u1_before["failures"], 2, "{u1_before}");

    let (status, body) = app
        .call(Method::DELETE, "/v1/users/u1", Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // Status, state and device: gone.
    let (status, body) = app.get("/v1/users/u1", &a).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"user_id": "u1", "status": "unregistered", "failures": 0, "device": null})
    );
    let tenant_a = app
        .storage
        .tenant_by_customer_code("1111")
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.storage
            .user(&tenant_a.id, "u1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.storage
            .activation(&tenant_a.id, "u1")
            .await
            .unwrap()
            .is_none()
    );
    // Old sessions, passes and the activation code are refused.
    let (status, body) = app.verify(&open, &u1, &u1.code_at(now + 60)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_session");
    let (status, body) = app
        .post("/v1/status", None, json!({ "session": open }))
        .await;
    assert_eq!(body["error"], "invalid_session", "{status} {body}");
    let (_, body) = app
        .post("/v1/siteverify", Some(&a), json!({ "pass": pass }))
        .await;
    assert_eq!(
        body,
        json!({"success": false, "error": "invalid_or_used_pass"})
    );
    let fresh = Device::new("u1 activation", "Chrome on Android");
    let mut registration = fresh.registration("");
    let fields = registration.as_object_mut().unwrap();
    fields.remove("session");
    fields.insert("customer_code".into(), json!("1111"));
    fields.insert("user_id".into(), json!("u1"));
    fields.insert("activation_code".into(), json!(activation));
    let (status, body) = app.post("/v1/devices", None, registration).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_enrolled");

    // The audit log: nothing of u1, one user_erased event without an ID.
    assert_eq!(audit(&app, &a, Some("u1")).await, Vec::<Value>::new());
    let all = audit(&app, &a, None).await;
    assert!(
        all.iter().all(|e| e["user_id"] != "u1"),
        "an event still names u1: {all:?}"
    );
    let erased: Vec<&Value> = all.iter().filter(|e| e["event"] == "user_erased").collect();
    assert_eq!(erased.len(), 1, "{all:?}");
    assert_eq!(erased[0]["user_id"], Value::Null);
    assert_eq!(erased[0]["outcome"], "erased");
    assert!(!erased[0]["detail"].as_str().unwrap().contains("u1"));

    // Erasing again, or a user never seen: 404 unknown_user, and nothing more is written.
    for user in ["u1", "never-seen"] {
        let (status, body) = app
            .call(Method::DELETE, &format!("/v1/users/{user}"), Some(&a), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"], "unknown_user");
    }
    assert_eq!(audit(&app, &a, None).await.len(), all.len());

    // The others are untouched, and still work.
    assert_eq!(audit(&app, &b, Some("u1")).await, b_audit);
    assert_eq!(audit(&app, &a, Some("u2")).await, u2_audit);
    let (_, body) = app.get("/v1/users/u1", &b).await;
    assert_eq!(body["status"], "active", "{body}");
    let session_b = app.session(&b, "u1").await;
    let (status, body) = app.verify(&session_b, &b1, &b1.code_at(now)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get("/v1/users/u2", &a).await;
    assert_eq!(body["status"], "active", "{body}");

    // u1 enrols again as a new user: a new device, and its codes work.
    let again = Device::new("u1 again", "Firefox on Linux");
    let session = app.session(&a, "u1").await;
    let (status, body) = app
        .post("/v1/devices", None, again.registration(&session))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let again = Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        ..again
    };
    let (status, body) = app.verify(&session, &again, &again.code_at(now)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = app.get("/v1/users/u1", &a).await;
    assert_eq!(body["status"], "active");
    assert_eq!(body["device"]["label"], "Firefox on Linux");
}

async fn erasure_is_refused_without_the_institutions_key(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    let b = app.tenant("Academy B", "2222", &[]).await;
    app.register(&a, "u1").await;
    let (status, body) = app.call(Method::DELETE, "/v1/users/u1", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // B's key reaches only B's users: A's u1 is unknown there.
    let (status, body) = app
        .call(Method::DELETE, "/v1/users/u1", Some(&b), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "unknown_user");
    let (_, body) = app.get("/v1/users/u1", &a).await;
    assert_eq!(body["status"], "active", "{body}");
    assert!(!audit(&app, &a, Some("u1")).await.is_empty());
    // A malformed ID is a bad request, as everywhere.
    let (status, _) = app
        .call(Method::DELETE, "/v1/users/%20u1", Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// `cloud-otp user erase` against a running server on SQLite: the server sees the user gone
/// at once; a second erasure exits with status 3; an unknown customer code with status 1.
#[tokio::test(flavor = "multi_thread")]
async fn user_erase_command_while_the_server_runs() {
    let data = tempfile::tempdir().unwrap();
    let (key, _) = create_tenant(command(data.path()), "Acme Academy", "5678", &[]);
    let mut serve = command(data.path());
    serve.args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"]);
    let server = Served::start(serve);
    let client = reqwest::Client::new();
    let (device, _) = authenticator(&client, &server.base, &key, "trainee-7").await;
    let check = json!({"user_id": "trainee-7", "code": device.code_at(now_secs())});
    let (status, body) = call(
        &client,
        Method::POST,
        &server.url("/v1/check"),
        Some(&key),
        Some(&check),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");

    let erase = || {
        let mut c = command(data.path());
        c.args(["user", "erase", "--tenant", "5678", "trainee-7"]);
        c.output().unwrap()
    };
    let out = erase();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Erased trainee-7 at customer code 5678"),
        "{stdout}"
    );

    let (_, body) = call(
        &client,
        Method::GET,
        &server.url("/v1/users/trainee-7"),
        Some(&key),
        None,
    )
    .await
    .unwrap();
    assert_eq!(body["status"], "unregistered", "{body}");
    let (_, body) = call(
        &client,
        Method::GET,
        &server.url("/v1/audit?user_id=trainee-7"),
        Some(&key),
        None,
    )
    .await
    .unwrap();
    assert_eq!(body["events"], json!([]), "{body}");
    // The old code no longer checks: there is no device.
    let (status, body) = call(
        &client,
        Method::POST,
        &server.url("/v1/check"),
        Some(&key),
        Some(&check),
    )
    .await
    .unwrap();
    assert_eq!((status, &body["error"]), (404, &json!("not_registered")));

    let again = erase();
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing is stored for trainee-7"));
    let mut wrong = command(data.path());
    wrong.args(["user", "erase", "--customer-code", "9999", "trainee-7"]);
    let (ok, _, stderr) = run(wrong);
    assert!(
        !ok && stderr.contains("no institution has customer code 9999"),
        "{stderr}"
    );
}
