//! Isolation between institutions, one test per endpoint: institution B's API key, sessions
//! and customer code never read, verify, unlock, audit, issue an activation code or an
//! authenticator for, remove the device of, or redeem a pass of institution A's users, even
//! with A's user IDs, device ids, codes and passes in hand. After each attempt A's users and
//! audit log are exactly as before, and A's own calls still work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::{Method, StatusCode};
use common::{Backend, Device, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    read_user,
    check_code,
    verify_through_a_session,
    status_of_a_session,
    register_a_device,
    unlock,
    audit,
    issue_activation,
    use_an_activation_code,
    authenticator,
    remove_device,
    redeem_a_pass,
);

/// Two institutions; A has u1 (a browser device, 2 failures), u2 (locked), u3 (an
/// outstanding activation code) and an unredeemed pass of u1.
struct World {
    app: TestApp,
    a: String,
    b: String,
    u1: Device,
    u2: Device,
    pass: String,
    activation: String,
}

async fn world(backend: Backend) -> World {
    let app = TestApp::with_config(backend, |c| c.activation_limit_per_hour = 0).await;
    let a = app.tenant("Acme Academy", "5678", &[]).await;
    let b = app.tenant("Beta School", "9012", &[]).await;
    let u1 = app.register(&a, "u1").await;
    let u2 = app.register(&a, "u2").await;
    let session = app.session(&a, "u1").await;
    let (status, body) = app.verify(&session, &u1, &u1.code_at(app.now_secs())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pass = body["pass"].as_str().unwrap().to_owned();
    app.clock.advance(60_000);
    for _ in 0..2 {
        let wrong = u1.wrong_code_at(app.now_secs());
        let (status, _) = app
            .post(
                "/v1/check",
                Some(&a),
                json!({ "user_id": "u1", "code": wrong }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..5 {
        let wrong = u2.wrong_code_at(app.now_secs());
        app.post(
            "/v1/check",
            Some(&a),
            json!({ "user_id": "u2", "code": wrong }),
        )
        .await;
    }
    let (_, body) = app
        .call(Method::POST, "/v1/users/u3/activation", Some(&a), None)
        .await;
    let activation = body["activation_code"].as_str().unwrap().to_owned();
    let w = World {
        app,
        a,
        b,
        u1,
        u2,
        pass,
        activation,
    };
    let (u1, u2, _) = w.snapshot().await;
    assert_eq!(
        (u1["status"].as_str(), &u1["failures"]),
        (Some("active"), &json!(2))
    );
    assert_eq!(u2["status"], "locked");
    w
}

impl World {
    /// A's users and A's audit log, as A sees them.
    async fn snapshot(&self) -> (Value, Value, Value) {
        let (_, u1) = self.app.get("/v1/users/u1", &self.a).await;
        let (_, u2) = self.app.get("/v1/users/u2", &self.a).await;
        let (_, audit) = self.app.get("/v1/audit?limit=1000", &self.a).await;
        (u1, u2, audit)
    }

    /// B's call, with A's state compared before and after.
    async fn as_b(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let before = self.snapshot().await;
        let answer = self.app.call(method, path, Some(&self.b), body).await;
        assert_eq!(self.snapshot().await, before, "{path} changed A's users");
        answer
    }

    /// A browser call (no API key), with A's state compared before and after.
    async fn browser(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let before = self.snapshot().await;
        let answer = self.app.post(path, None, body).await;
        assert_eq!(self.snapshot().await, before, "{path} changed A's users");
        answer
    }

    /// A's u1 still accepts its right code through A.
    async fn a_still_works(&self) {
        let code = self.u1.code_at(self.app.now_secs());
        let (status, body) = self
            .app
            .post(
                "/v1/check",
                Some(&self.a),
                json!({ "user_id": "u1", "code": code }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// `GET /v1/users/{id}`: B sees its own (unknown) u1, none of A's state.
async fn read_user(backend: Backend) {
    let w = world(backend).await;
    for user in ["u1", "u2"] {
        let (status, body) = w
            .as_b(Method::GET, &format!("/v1/users/{user}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({ "user_id": user, "status": "unregistered", "failures": 0, "device": null })
        );
    }
}

/// `POST /v1/check`: A's right code, sent by B, is no code of B's u1; it is neither accepted
/// nor counted, and stays usable for A.
async fn check_code(backend: Backend) {
    let w = world(backend).await;
    let code = w.u1.code_at(w.app.now_secs());
    let (status, body) = w
        .as_b(
            Method::POST,
            "/v1/check",
            Some(json!({ "user_id": "u1", "code": code })),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_registered"))
    );
    w.a_still_works().await;
}

/// `POST /v1/verify`: a session of B for "u1" cannot drive A's device with A's code.
async fn verify_through_a_session(backend: Backend) {
    let w = world(backend).await;
    let session = w.app.session(&w.b, "u1").await;
    let code = w.u1.code_at(w.app.now_secs());
    let (status, body) = w
        .browser("/v1/verify", w.u1.verification(&session, &code))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_registered"))
    );
    // A's session for u2 is no help either: u2's device is another.
    let session = w.app.session(&w.b, "u2").await;
    let (status, _) = w
        .browser(
            "/v1/verify",
            w.u2.verification(&session, &w.u2.code_at(w.app.now_secs())),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    w.a_still_works().await;
}

/// `POST /v1/status`: B's session shows B's institution and B's unregistered user.
async fn status_of_a_session(backend: Backend) {
    let w = world(backend).await;
    let session = w.app.session(&w.b, "u1").await;
    let (status, body) = w.browser("/v1/status", json!({ "session": session })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["institution"]["name"], "Beta School");
    assert_eq!(
        (body["user_status"].as_str(), &body["device"]),
        (Some("unregistered"), &Value::Null)
    );
}

/// `POST /v1/devices` with a session: B's session registers B's u1, never A's; even with
/// `replace`, A's device stays.
async fn register_a_device(backend: Backend) {
    let w = world(backend).await;
    let session = w.app.session(&w.b, "u1").await;
    let mut request = Device::new("u1", "Firefox on Linux").registration(&session);
    request["replace"] = json!(true);
    let (status, body) = w.browser("/v1/devices", request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, theirs) = w.app.get("/v1/users/u1", &w.b).await;
    assert_eq!(theirs["device"]["label"], "Firefox on Linux");
    w.a_still_works().await;
}

/// `POST /v1/users/{id}/unlock`: B cannot lift A's suspension, nor revoke A's device.
async fn unlock(backend: Backend) {
    let w = world(backend).await;
    for revoke in [false, true] {
        let (status, body) = w
            .as_b(
                Method::POST,
                "/v1/users/u2/unlock",
                Some(json!({ "revoke_device": revoke })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "unregistered");
    }
    let (_, u2) = w.app.get("/v1/users/u2", &w.a).await;
    assert_eq!(u2["status"], "locked");
}

/// `GET /v1/audit`: B's log has none of A's events, filtered or not.
async fn audit(backend: Backend) {
    let w = world(backend).await;
    for path in [
        "/v1/audit",
        "/v1/audit?user_id=u1",
        "/v1/audit?user_id=u2&since=1970-01-01T00:00:00Z&limit=1000",
    ] {
        let (status, body) = w.as_b(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["events"], json!([]), "{path}");
    }
    let (_, mine) = w.app.get("/v1/audit?limit=1000", &w.a).await;
    assert!(mine["events"].as_array().unwrap().len() > 5);
}

/// `POST /v1/users/{id}/activation`: B's code is for B's u1 under B's customer code; with
/// A's customer code it opens nothing (A's u1 has no activation code: not_enrolled).
async fn issue_activation(backend: Backend) {
    let w = world(backend).await;
    let (status, body) = w.as_b(Method::POST, "/v1/users/u1/activation", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["customer_code"], "9012");
    let code = body["activation_code"].as_str().unwrap();
    let device = Device::new("u1", "Chrome on Android");
    let request = |customer: &str| {
        json!({ "customer_code": customer, "user_id": "u1", "activation_code": code,
            "secret": device.secret_b64(), "proof": device.proof_b64(), "fingerprint": device.fingerprint,
            "label": device.label, "replace": true })
    };
    let (status, body) = w.browser("/v1/devices", request("5678")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_enrolled"))
    );
    let (status, _) = w.browser("/v1/devices", request("9012")).await;
    assert_eq!(status, StatusCode::CREATED);
    w.a_still_works().await;
}

/// `POST /v1/devices` with an activation code: A's code for u3, presented under B's customer
/// code, is no code of B's u3 (who has none: not_enrolled), and stays usable for A.
async fn use_an_activation_code(backend: Backend) {
    let w = world(backend).await;
    let device = Device::new("u3", "Chrome on Android");
    let request = |customer: &str| {
        json!({ "customer_code": customer, "user_id": "u3", "activation_code": w.activation,
            "secret": device.secret_b64(), "proof": device.proof_b64(), "fingerprint": device.fingerprint,
            "label": device.label })
    };
    let (status, body) = w.browser("/v1/devices", request("9012")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_enrolled"))
    );
    let (_, theirs) = w.app.get("/v1/users/u3", &w.b).await;
    assert_eq!(theirs["status"], "unregistered");
    let (status, body) = w.app.post("/v1/devices", None, request("5678")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// `POST /v1/users/{id}/authenticator`: B's authenticator for "u1" is B's user's, named
/// after B; A's u1 keeps its browser.
async fn authenticator(backend: Backend) {
    let w = world(backend).await;
    let (status, body) = w
        .as_b(
            Method::POST,
            "/v1/users/u1/authenticator",
            Some(json!({ "replace": true })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.contains("issuer=Beta%20School"), "{uri}");
    // The locked user too: B's u2 is not suspended, A's stays so.
    let (status, _) = w
        .as_b(Method::POST, "/v1/users/u2/authenticator", None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    w.a_still_works().await;
}

/// `DELETE /v1/users/{id}/device`: B has no u1 device to remove, and A's stays.
async fn remove_device(backend: Backend) {
    let w = world(backend).await;
    let (status, body) = w.as_b(Method::DELETE, "/v1/users/u1/device", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_registered"))
    );
    w.a_still_works().await;
}

/// `POST /v1/siteverify`: B cannot redeem A's pass, and trying does not spend it.
async fn redeem_a_pass(backend: Backend) {
    let w = world(backend).await;
    let (status, body) = w
        .as_b(
            Method::POST,
            "/v1/siteverify",
            Some(json!({ "pass": w.pass })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "success": false, "error": "invalid_or_used_pass" })
    );
    let (_, body) = w
        .app
        .post("/v1/siteverify", Some(&w.a), json!({ "pass": w.pass }))
        .await;
    assert_eq!(
        (body["success"].as_bool(), body["user_id"].as_str()),
        (Some(true), Some("u1"))
    );
}
