//! The HTTP contract in-process (tower oneshot), every test on SQLite and on PostgreSQL:
//! the full flow, the time window, replay, the failure lock, devices, activation,
//! authenticator apps (checked against oathtool and pyotp), tenant isolation, bad input, CORS, rate
//! limits, static files, concurrency and encryption at rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cloud_otp_core::otpauth::{KeyUri, Kind};
use cloud_otp_server::clock::{parse_rfc3339, rfc3339};
use common::{Backend, Device, T0_MS, TestApp, json_body};
use serde_json::{Value, json};

on_both_backends!(
    full_flow,
    status_tells_the_widget_what_to_show,
    passes_are_single_use_and_expire_after_120_seconds,
    sessions_expire_after_10_minutes_and_are_spent_by_success,
    previous_step_is_accepted_and_older_or_future_ones_are_not,
    replayed_codes_are_refused_and_not_counted,
    five_wrong_codes_lock_until_the_institution_unlocks,
    a_right_code_resets_the_failure_count,
    unlock_can_revoke_the_device_and_devices_can_be_removed,
    one_device_per_user_and_replace_retires_the_old_one,
    a_browser_whose_key_was_erased_is_told_apart_from_another_device,
    another_browser_is_an_unapproved_device,
    users_without_a_device_are_not_registered,
    tenants_are_isolated,
    activation_codes,
    activation_code_attempts_are_limited,
    authenticator_app_codes_match_oathtool,
    authenticator_app_codes_match_pyotp,
    bad_requests_get_stable_4xx_errors,
    malformed_codes_are_not_counted,
    audit_log_records_and_filters_events,
    cors_allows_registered_origins_on_browser_endpoints_only,
    rate_limit_per_client_address,
    static_files_with_security_headers,
    static_files_are_kept_by_browsers_only_at_their_current_version,
    fifty_concurrent_verifications_of_one_code_succeed_once,
    concurrent_wrong_codes_are_all_counted,
    device_secrets_are_encrypted_at_rest,
);

async fn full_flow(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;

    let (status, body) = app
        .post(
            "/v1/sessions",
            Some(&key),
            json!({ "user_id": "trainee-1", "purpose": "course_entry" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user_status"], "unregistered");
    let expires = parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires, (T0_MS + 5_000 + 600_000) as i64);
    let session = body["session"].as_str().unwrap().to_owned();
    assert!(session.len() >= 43);

    let (status, body) = app.call(Method::GET, "/v1/time", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["now_ms"], T0_MS + 5_000);

    let mut device = Device::new("trainee-1", "Chrome on Windows");
    let (status, body) = app
        .post("/v1/devices", None, device.registration(&session))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user_id"], "trainee-1");
    assert_eq!(body["server_time_ms"], T0_MS + 5_000);
    device.id = body["device_id"].as_str().unwrap().to_owned();

    let code = device.code_at(app.now_secs());
    let (status, body) = app.verify(&session, &device, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pass = body["pass"].as_str().unwrap().to_owned();
    assert_eq!(
        parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap(),
        (T0_MS + 125_000) as i64
    );

    app.clock.advance(3_000);
    let (status, body) = app
        .post("/v1/siteverify", Some(&key), json!({ "pass": pass }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "success": true,
            "user_id": "trainee-1",
            "purpose": "course_entry",
            "verified_at": rfc3339((T0_MS + 5_000) as i64),
            "device": { "kind": "browser", "label": "Chrome on Windows" },
            "origin": null,
            "test": false,
        })
    );

    let (status, body) = app.get("/v1/users/trainee-1", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "active");
    assert_eq!(body["failures"], 0);
    assert_eq!(body["device"]["label"], "Chrome on Windows");
    assert_eq!(
        body["device"]["registered_at"],
        rfc3339((T0_MS + 5_000) as i64)
    );

    let (_, body) = app
        .post(
            "/v1/sessions",
            Some(&key),
            json!({ "user_id": "trainee-1", "purpose": "exam" }),
        )
        .await;
    assert_eq!(body["user_status"], "active");
}

async fn status_tells_the_widget_what_to_show(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let session = app.session(&key, "u1").await;
    let (status, body) = app
        .post("/v1/status", None, json!({ "session": session }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], "u1");
    assert_eq!(body["purpose"], "exam");
    assert_eq!(body["user_status"], "unregistered");
    assert_eq!(body["attempts_left"], 5);
    assert_eq!(body["device"], Value::Null);
    assert_eq!(
        body["institution"],
        json!({ "name": "Acme Academy", "customer_code": "5678", "test": null })
    );

    let device = app.register(&key, "u1").await;
    let (_, body) = app
        .post("/v1/status", None, json!({ "session": session }))
        .await;
    assert_eq!(body["user_status"], "active");
    assert_eq!(body["device"]["label"], device.label);

    let (status, body) = app
        .post("/v1/status", None, json!({ "session": "nope" }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_session"))
    );
}

async fn passes_are_single_use_and_expire_after_120_seconds(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;

    let s1 = app.session(&key, "u1").await;
    let (_, body) = app
        .verify(&s1, &device, &device.code_at(app.now_secs()))
        .await;
    let first = body["pass"].as_str().unwrap().to_owned();
    let redeem = |pass: String| {
        let app = &app;
        let key = key.clone();
        async move {
            app.post("/v1/siteverify", Some(&key), json!({ "pass": pass }))
                .await
                .1
        }
    };
    assert_eq!(redeem(first.clone()).await["success"], true);
    let used = json!({ "success": false, "error": "invalid_or_used_pass" });
    assert_eq!(redeem(first).await, used);
    assert_eq!(redeem("made-up-pass".into()).await, used);
    assert_eq!(redeem(String::new()).await, used);

    // A pass is good for 119.999 s and dead at 120 s.
    let other = app.register(&key, "u2").await;
    app.clock.advance(60_000);
    let s2 = app.session(&key, "u1").await;
    let (_, body) = app
        .verify(&s2, &device, &device.code_at(app.now_secs()))
        .await;
    let older = body["pass"].as_str().unwrap().to_owned();
    app.clock.advance(1);
    let s3 = app.session(&key, "u2").await;
    let (_, body) = app
        .verify(&s3, &other, &other.code_at(app.now_secs()))
        .await;
    let newer = body["pass"].as_str().unwrap().to_owned();
    app.clock.advance(119_999);
    assert_eq!(redeem(older).await, used, "120 s after issue");
    assert_eq!(
        redeem(newer).await["success"],
        true,
        "119.999 s after issue"
    );
}

async fn sessions_expire_after_10_minutes_and_are_spent_by_success(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;

    let old = app.session(&key, "u1").await;
    app.clock.advance(599_999);
    let fresh = app.session(&key, "u1").await;
    let (status, _) = app
        .post("/v1/status", None, json!({ "session": old }))
        .await;
    assert_eq!(status, StatusCode::OK, "still valid just before 10 minutes");
    app.clock.advance(1);
    let code = device.code_at(app.now_secs());
    let (status, body) = app.verify(&old, &device, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_session"))
    );
    let other = Device::new("u1-other", "Firefox on Linux");
    let (status, body) = app
        .post("/v1/devices", None, other.registration(&old))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_session"))
    );

    let (status, _) = app.verify(&fresh, &device, &code).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(60_000);
    let next = device.code_at(app.now_secs());
    let (status, body) = app.verify(&fresh, &device, &next).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_session"))
    );
}

async fn previous_step_is_accepted_and_older_or_future_ones_are_not(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let check = |code: String| {
        let app = &app;
        let key = key.clone();
        async move {
            app.post(
                "/v1/check",
                Some(&key),
                json!({ "user_id": "u1", "code": code }),
            )
            .await
        }
    };
    // Right after a step change, the code of the previous step (t-1) is still accepted.
    app.clock.set(T0_MS + 60_000 + 500);
    let now = app.now_secs();
    let (status, body) = check(device.code_at(now - 60)).await;
    assert_eq!(status, StatusCode::OK, "t-1: {body}");
    assert_eq!(body, json!({ "success": true, "step": now / 60 - 1 }));

    app.clock.advance(5 * 60_000);
    let now = app.now_secs();
    let (status, body) = check(device.code_at(now - 120)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_code")),
        "t-2"
    );
    let (status, body) = check(device.code_at(now + 60)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_code")),
        "t+1"
    );
    let (status, body) = check(device.code_at(now)).await;
    assert_eq!(
        (status, &body["step"]),
        (StatusCode::OK, &json!(now / 60)),
        "t"
    );
}

async fn replayed_codes_are_refused_and_not_counted(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let now = app.now_secs();
    let code = device.code_at(now);
    let body = json!({ "user_id": "u1", "code": code });
    let (status, _) = app.post("/v1/check", Some(&key), body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = app.post("/v1/check", Some(&key), body).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("replayed"))
    );

    // After step t is used, the code of t-1 (still inside the window) is refused too.
    let (status, answer) = app
        .post(
            "/v1/check",
            Some(&key),
            json!({ "user_id": "u1", "code": device.code_at(now - 60) }),
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("replayed"))
    );

    // Through the widget the same rule holds.
    let session = app.session(&key, "u1").await;
    let (status, answer) = app.verify(&session, &device, &code).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::CONFLICT, Some("replayed"))
    );

    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(user["failures"], 0, "replays are not failures");
}

async fn five_wrong_codes_lock_until_the_institution_unlocks(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let wrong = device.wrong_code_at(app.now_secs());
    for left in [4, 3, 2, 1] {
        let (status, body) = app.verify(&session, &device, &wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_code");
        assert_eq!(body["attempts_left"], left);
    }
    let (status, body) = app.verify(&session, &device, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::LOCKED, Some("locked")),
        "fifth"
    );
    assert!(body["message"].as_str().unwrap().contains("institution"));

    // Now even the right code is refused, on every path.
    let right = device.code_at(app.now_secs());
    let (status, _) = app.verify(&session, &device, &right).await;
    assert_eq!(status, StatusCode::LOCKED);
    let (status, _) = app
        .post(
            "/v1/check",
            Some(&key),
            json!({ "user_id": "u1", "code": right }),
        )
        .await;
    assert_eq!(status, StatusCode::LOCKED);
    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(
        (user["status"].as_str(), &user["failures"]),
        (Some("locked"), &json!(5))
    );
    let (_, s) = app
        .post(
            "/v1/sessions",
            Some(&key),
            json!({ "user_id": "u1", "purpose": "exam" }),
        )
        .await;
    assert_eq!(s["user_status"], "locked");
    // A locked user cannot escape by registering another browser.
    let other = Device::new("u1", "Safari on iPhone");
    let (status, body) = app
        .post("/v1/devices", None, json!({ "replace": true, "session": session, "secret": other.secret_b64(), "proof": other.proof_b64(), "fingerprint": other.fingerprint, "label": other.label }))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::LOCKED, Some("locked"))
    );

    let (status, body) = app.post("/v1/users/u1/unlock", Some(&key), json!({})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "status": "active" }))
    );
    let (status, _) = app.verify(&session, &device, &right).await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_right_code_resets_the_failure_count(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let check = |code: String| {
        let app = &app;
        let key = key.clone();
        async move {
            app.post(
                "/v1/check",
                Some(&key),
                json!({ "user_id": "u1", "code": code }),
            )
            .await
        }
    };
    let wrong = device.wrong_code_at(app.now_secs());
    for _ in 0..4 {
        check(wrong.clone()).await;
    }
    let (status, _) = check(device.code_at(app.now_secs())).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = check(wrong).await;
    assert_eq!(body["attempts_left"], 4);
}

async fn unlock_can_revoke_the_device_and_devices_can_be_removed(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let (status, body) = app
        .post(
            "/v1/users/u1/unlock",
            Some(&key),
            json!({ "revoke_device": true }),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "status": "unregistered" }))
    );
    let session = app.session(&key, "u1").await;
    let (status, body) = app
        .verify(&session, &device, &device.code_at(app.now_secs()))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_registered"))
    );

    app.register(&key, "u1").await;
    let (status, body) = app
        .call(Method::DELETE, "/v1/users/u1/device", Some(&key), None)
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = app
        .call(Method::DELETE, "/v1/users/u1/device", Some(&key), None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_registered"))
    );
    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(user["status"], "unregistered");

    // Unlocking a user who never registered is harmless.
    let (status, body) = app
        .call(Method::POST, "/v1/users/nobody/unlock", Some(&key), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "status": "unregistered" }))
    );
}

async fn one_device_per_user_and_replace_retires_the_old_one(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let old = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let mut new = Device::new("u1", "Safari on iPhone");
    let (status, body) = app
        .post("/v1/devices", None, new.registration(&session))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "device_exists");
    assert_eq!(
        body["device"],
        json!({ "kind": "browser", "label": "Chrome on Windows", "registered_at": rfc3339((T0_MS + 5_000) as i64) })
    );

    app.clock.advance(1_000);
    let mut request = new.registration(&session);
    request["replace"] = json!(true);
    let (status, body) = app.post("/v1/devices", None, request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    new.id = body["device_id"].as_str().unwrap().to_owned();

    let code = old.code_at(app.now_secs());
    let (status, body) = app.verify(&session, &old, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("unapproved_device"))
    );
    assert_eq!(body["device"]["label"], "Safari on iPhone");
    let (status, _) = app
        .verify(&session, &new, &new.code_at(app.now_secs()))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, audit) = app.get("/v1/audit?user_id=u1", &key).await;
    let events: Vec<(String, String)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().into(),
                e["device_label"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    for expected in [
        ("device_registered", "Chrome on Windows"),
        ("device_retired", "Chrome on Windows"),
        ("device_replaced", "Safari on iPhone"),
    ] {
        assert!(
            events.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} missing in {events:?}"
        );
    }
}

/// A browser that registered and then lost its key (the browser erased its data, or the
/// trainee cleared it) sends its fingerprint with `/v1/status`: the answer says the registered
/// device is this browser, and registering again is audited as `device_reregistered`, not as
/// another device taking over.
async fn a_browser_whose_key_was_erased_is_told_apart_from_another_device(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let old = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let other = Device::new("u1-other", "Firefox on Linux");
    for (fingerprint, this_browser) in [
        (Some(old.fingerprint.as_str()), true),
        (Some(other.fingerprint.as_str()), false),
        (None, false),
    ] {
        let mut request = json!({ "session": session });
        if let Some(f) = fingerprint {
            request["fingerprint"] = json!(f);
        }
        let (status, body) = app.post("/v1/status", None, request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["device"]["label"], "Chrome on Windows");
        assert_eq!(
            body["device_is_this_browser"],
            json!(this_browser),
            "{fingerprint:?}"
        );
    }
    let (status, body) = app
        .post(
            "/v1/status",
            None,
            json!({ "session": session, "fingerprint": "not hex" }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );

    // The same browser registers again with a new key (the old one is gone with its data).
    let again = Device::new("u1-again", "Chrome on Windows");
    assert_eq!(again.fingerprint, old.fingerprint);
    let mut request = again.registration(&session);
    request["replace"] = json!(true);
    let (status, body) = app.post("/v1/devices", None, request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Then another browser takes over.
    let mut request = other.registration(&session);
    request["replace"] = json!(true);
    let (status, body) = app.post("/v1/devices", None, request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (_, audit) = app.get("/v1/audit?user_id=u1", &key).await;
    let mut events: Vec<(String, String, String)> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"].as_str().unwrap().starts_with("device_"))
        .map(|e| {
            (
                e["event"].as_str().unwrap().into(),
                e["outcome"].as_str().unwrap_or("").into(),
                e["device_label"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    events.sort();
    let expected: Vec<(String, String, String)> = [
        ("device_registered", "registered", "Chrome on Windows"),
        ("device_replaced", "registered", "Firefox on Linux"),
        ("device_reregistered", "registered", "Chrome on Windows"),
        ("device_retired", "replaced", "Chrome on Windows"),
        ("device_retired", "reregistered", "Chrome on Windows"),
    ]
    .iter()
    .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
    .collect();
    assert_eq!(events, expected);
}

async fn another_browser_is_an_unapproved_device(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let code = device.code_at(app.now_secs());

    // Same device id, copied to another machine: the fingerprint differs.
    let copied = Device {
        fingerprint: "ab".repeat(32),
        ..device.clone()
    };
    let (status, body) = app.verify(&session, &copied, &code).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "unapproved_device");
    assert_eq!(body["device"]["label"], "Chrome on Windows");
    assert_eq!(
        body["device"]["registered_at"],
        rfc3339((T0_MS + 5_000) as i64)
    );
    // Another device id altogether.
    let stranger = Device {
        id: "someone-else".into(),
        ..device.clone()
    };
    let (status, _) = app.verify(&session, &stranger, &code).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(user["failures"], 0, "not a failure");
    let (status, _) = app.verify(&session, &device, &code).await;
    assert_eq!(status, StatusCode::OK);
}

async fn users_without_a_device_are_not_registered(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let (status, body) = app
        .post(
            "/v1/check",
            Some(&key),
            json!({ "user_id": "ghost", "code": "123456" }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_registered"))
    );
    let session = app.session(&key, "ghost").await;
    let mut device = Device::new("ghost", "Chrome on Windows");
    device.id = "abc".into();
    let (status, body) = app.verify(&session, &device, "123456").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_registered"))
    );
    let (status, body) = app.get("/v1/users/ghost", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "user_id": "ghost", "status": "unregistered", "failures": 0, "device": null })
    );
}

async fn tenants_are_isolated(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Acme Academy", "5678", &[]).await;
    let b = app.tenant("Beta School", "9012", &[]).await;
    let device = app.register(&a, "u1").await;
    let session = app.session(&a, "u1").await;
    let (_, body) = app
        .verify(&session, &device, &device.code_at(app.now_secs()))
        .await;
    let pass = body["pass"].as_str().unwrap().to_owned();

    // B cannot redeem A's pass, and trying does not spend it.
    let (_, body) = app
        .post("/v1/siteverify", Some(&b), json!({ "pass": pass }))
        .await;
    assert_eq!(body["success"], false);
    let (_, body) = app
        .post("/v1/siteverify", Some(&a), json!({ "pass": pass }))
        .await;
    assert_eq!(body["success"], true);

    // B's "u1" is another person: no device, no lock, no audit of A's.
    let (_, user) = app.get("/v1/users/u1", &b).await;
    assert_eq!(user["status"], "unregistered");
    let wrong = device.wrong_code_at(app.now_secs());
    let (status, _) = app
        .post(
            "/v1/check",
            Some(&b),
            json!({ "user_id": "u1", "code": wrong }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(Method::DELETE, "/v1/users/u1/device", Some(&b), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = app.get("/v1/audit", &b).await;
    assert_eq!(audit["events"], json!([]));
    let (_, user) = app.get("/v1/users/u1", &a).await;
    assert_eq!(user["status"], "active");

    // A session of A is useless with B's pass redemption and vice versa; a B session for
    // "u1" cannot drive A's device.
    let b_session = app.session(&b, "u1").await;
    let (status, _) = app
        .verify(&b_session, &device, &device.code_at(app.now_secs() + 60))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // No key, a wrong key, another scheme: 401.
    for auth in [
        None,
        Some("Bearer cok_wrong"),
        Some("Basic abc"),
        Some("Bearer"),
        Some(""),
    ] {
        let mut req = Request::builder().method(Method::GET).uri("/v1/users/u1");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let response = app.send(req.body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(json_body(response).await["error"], "unauthorized");
    }
}

async fn activation_codes(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let (status, body) = app
        .call(Method::POST, "/v1/users/u1/activation", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["customer_code"], "5678");
    assert_eq!(body["user_id"], "u1");
    let code = body["activation_code"].as_str().unwrap().to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    let expires = parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires, (T0_MS + 5_000) as i64 + 3 * 24 * 3600 * 1000);

    let device = Device::new("u1", "Chrome on Android");
    let request = |customer: &str, user: &str, activation: &str| {
        json!({
            "customer_code": customer, "user_id": user, "activation_code": activation,
            "secret": device.secret_b64(), "proof": device.proof_b64(), "fingerprint": device.fingerprint, "label": device.label,
        })
    };
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let (status, body) = app
        .post("/v1/devices", None, request("5678", "u1", wrong))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_activation");
    assert_eq!(body["attempts_left"], 4);
    let (status, body) = app
        .post("/v1/devices", None, request("0000", "u1", &code))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_customer"))
    );
    let (status, body) = app
        .post("/v1/devices", None, request("5678", "u2", &code))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_enrolled")),
        "a login ID without an activation code"
    );

    let (status, body) = app
        .post("/v1/devices", None, request("5678", "u1", &code))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let device = Device {
        id: body["device_id"].as_str().unwrap().to_owned(),
        ..device.clone()
    };
    let (status, body) = app
        .post("/v1/devices", None, request("5678", "u1", &code))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::GONE, Some("activation_used")),
        "single use"
    );

    let session = app.session(&key, "u1").await;
    let (status, _) = app
        .verify(&session, &device, &device.code_at(app.now_secs()))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A new code for a user with a device: device_exists unless replace.
    let (_, body) = app
        .call(
            Method::POST,
            "/v1/users/u1/activation",
            Some(&key),
            Some(json!({})),
        )
        .await;
    let second = body["activation_code"].as_str().unwrap().to_owned();
    let other = Device::new("u1", "Edge on Windows");
    let mut req = json!({ "customer_code": "5678", "user_id": "u1", "activation_code": second,
        "secret": other.secret_b64(), "proof": other.proof_b64(), "fingerprint": other.fingerprint, "label": other.label });
    let (status, body) = app.post("/v1/devices", None, req.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("device_exists"))
    );
    req["replace"] = json!(true);
    let (status, _) = app.post("/v1/devices", None, req).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "not consumed by the refused attempt"
    );

    // Expiry: valid until 3 days have passed, then activation_expired.
    let (_, body) = app
        .call(Method::POST, "/v1/users/u3/activation", Some(&key), None)
        .await;
    let third = body["activation_code"].as_str().unwrap().to_owned();
    app.clock.advance(3 * 24 * 3600 * 1000);
    let dev3 = Device::new("u3", "Chrome on Mac");
    let (status, body) = app
        .post(
            "/v1/devices",
            None,
            json!({ "customer_code": "5678", "user_id": "u3", "activation_code": third,
            "secret": dev3.secret_b64(), "proof": dev3.proof_b64(), "fingerprint": dev3.fingerprint, "label": dev3.label }),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::GONE, Some("activation_expired"))
    );
}

async fn activation_code_attempts_are_limited(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let (_, body) = app
        .call(Method::POST, "/v1/users/u1/activation", Some(&key), None)
        .await;
    let code = body["activation_code"].as_str().unwrap().to_owned();
    let device = Device::new("u1", "Chrome on Android");
    let attempt = |activation: String| {
        let app = &app;
        let device = device.clone();
        async move {
            app.post("/v1/devices", None, json!({ "customer_code": "5678", "user_id": "u1", "activation_code": activation,
                "secret": device.secret_b64(), "proof": device.proof_b64(), "fingerprint": device.fingerprint, "label": device.label }))
                .await
        }
    };
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for left in [4, 3, 2, 1, 0] {
        let (status, body) = attempt(wrong.into()).await;
        assert_eq!(
            (status, &body["attempts_left"]),
            (StatusCode::UNAUTHORIZED, &json!(left))
        );
    }
    let (status, body) = attempt(code).await;
    assert_eq!(
        (status, &body["error"], &body["attempts_left"]),
        (
            StatusCode::UNAUTHORIZED,
            &json!("invalid_activation"),
            &json!(0)
        )
    );
    let (_, audit) = app.get("/v1/audit?user_id=u1", &key).await;
    let failed = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "activation_failed")
        .count();
    assert_eq!(failed, 5);
}

/// Registers an authenticator app as the device of "trainee 1"; returns its otpauth:// URI.
async fn authenticator_uri(app: &TestApp, key: &str) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/users/trainee%201/authenticator",
            Some(key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["device_id"].as_str().is_some(), "{body}");
    body["otpauth_uri"].as_str().unwrap().to_owned()
}

async fn authenticator_app_codes_match_oathtool(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let uri = KeyUri::parse(&authenticator_uri(&app, &key).await).unwrap();
    assert_eq!(uri.issuer.as_deref(), Some("Acme Academy"));
    assert_eq!(uri.account, "trainee 1");
    assert_eq!(
        uri.kind,
        Kind::Totp {
            period: cloud_otp_core::Step::SIXTY
        }
    );
    assert_eq!(uri.digits, cloud_otp_core::Digits::SIX);
    assert_eq!(uri.algorithm, cloud_otp_core::Algorithm::Sha1);
    assert_eq!(uri.secret.as_bytes().len(), 20);

    // Debian's oathtool, an independent TOTP implementation, plays the authenticator app.
    let now = app.now_secs();
    let out = std::process::Command::new("oathtool")
        .args([
            "--totp",
            "-s",
            "60",
            "-d",
            "6",
            "-b",
            &uri.secret.to_base32(),
            "--now",
            &format!("@{now}"),
        ])
        .output()
        .expect("oathtool is installed (Debian package oathtool)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (status, body) = app
        .post(
            "/v1/check",
            Some(&key),
            json!({ "user_id": "trainee 1", "code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "success": true, "step": now / 60 }));

    let (_, user) = app.get("/v1/users/trainee%201", &key).await;
    assert_eq!(user["device"]["kind"], "authenticator");
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/users/trainee%201/authenticator",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("device_exists"))
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/users/trainee%201/authenticator",
            Some(&key),
            Some(json!({ "replace": true })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// What Debian's pyotp (python3-pyotp), a second independent TOTP implementation, reads from
/// an otpauth:// URI, and its code at `unix_secs`. /usr/bin/python3 explicitly: `python3` on
/// PATH may be another interpreter without Debian's packages.
fn pyotp(uri: &str, unix_secs: u64) -> Value {
    const SCRIPT: &str = "import json, sys, pyotp\n\
        t = pyotp.parse_uri(sys.argv[1])\n\
        print(json.dumps({'kind': type(t).__name__, 'issuer': t.issuer, 'name': t.name,\n\
            'interval': t.interval, 'digits': t.digits, 'digest': t.digest().name,\n\
            'code': t.at(int(sys.argv[2]))}))\n";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, uri, &unix_secs.to_string()])
        .output()
        .expect("/usr/bin/python3 runs (Debian packages python3 and python3-pyotp)");
    assert!(
        out.status.success(),
        "pyotp failed (is python3-pyotp installed? scripts/bootstrap.sh test): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn authenticator_app_codes_match_pyotp(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let uri = &authenticator_uri(&app, &key).await;

    // pyotp reads the institution as issuer, the login ID as label, and the parameters.
    let now = app.now_secs();
    let read = pyotp(uri, now);
    assert_eq!(read["kind"], "TOTP", "{read}");
    assert_eq!(read["issuer"], "Acme Academy");
    assert_eq!(read["name"], "trainee 1");
    assert_eq!(
        (&read["interval"], &read["digits"], read["digest"].as_str()),
        (&json!(60), &json!(6), Some("sha1"))
    );

    // The app's code at the server's time passes the code check once; then it is replayed.
    let code = read["code"].as_str().unwrap().to_owned();
    let check = |code: &str| {
        app.post(
            "/v1/check",
            Some(&key),
            json!({ "user_id": "trainee 1", "code": code }),
        )
    };
    let (status, body) = check(&code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "success": true, "step": now / 60 }));
    let (status, body) = check(&code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("replayed"))
    );

    // A code pyotp gives for another time is wrong now, and wrong codes count toward the lock.
    app.clock.advance(60_000);
    let now = app.now_secs();
    let near = [
        pyotp(uri, now)["code"].clone(),
        pyotp(uri, now - 60)["code"].clone(),
    ];
    let mut wrong = Vec::new();
    let mut at = now + 3600;
    while wrong.len() < 5 {
        let c = pyotp(uri, at)["code"].clone();
        if !near.contains(&c) && !wrong.contains(&c) {
            wrong.push(c);
        }
        at += 60;
    }
    for (i, c) in wrong.iter().enumerate() {
        let (status, body) = check(c.as_str().unwrap()).await;
        if i < 4 {
            assert_eq!(
                (status, &body["attempts_left"]),
                (StatusCode::UNAUTHORIZED, &json!(4 - i)),
                "{body}"
            );
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::LOCKED, Some("locked"))
            );
        }
    }
    let (status, _) = check(near[0].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::LOCKED, "suspended until unlocked");
    let (_, user) = app.get("/v1/users/trainee%201", &key).await;
    assert_eq!(
        (user["status"].as_str(), &user["failures"]),
        (Some("locked"), &json!(5))
    );
}

/// One bad request of `tests/data/bad_requests.json`.
#[derive(Debug, serde::Deserialize)]
struct BadCase {
    name: String,
    method: String,
    path: String,
    #[serde(default)]
    auth: bool,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    raw: Option<String>,
    status: u16,
    error: String,
}

async fn bad_requests_get_stable_4xx_errors(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/bad_requests.json"
    ))
    .unwrap();
    let cases: Vec<BadCase> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() > 40);
    let fill = |s: &str| {
        s.replace("{session}", &session)
            .replace("{device_id}", &device.id)
            .replace("{fingerprint}", &device.fingerprint)
            .replace("{secret}", &device.secret_b64())
            .replace("{proof}", &device.proof_b64())
            .replace("{long_user}", &"x".repeat(129))
            .replace("{big}", &"a".repeat(20_000))
    };
    for case in &cases {
        let mut req = Request::builder()
            .method(case.method.as_str())
            .uri(fill(&case.path));
        if case.auth {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let content_type = case.content_type.clone().or_else(|| {
            (case.body.is_some() || case.raw.is_some()).then(|| "application/json".to_owned())
        });
        if let Some(ct) = content_type.filter(|c| !c.is_empty()) {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let body = match (&case.body, &case.raw) {
            (Some(b), _) => fill(&b.to_string()),
            (None, Some(r)) => fill(r),
            (None, None) => String::new(),
        };
        let response = app.send(req.body(Body::from(body)).unwrap()).await;
        let status = response.status().as_u16();
        let json = json_body(response).await;
        assert_eq!(status, case.status, "case {:?}: {json}", case.name);
        assert_eq!(json["error"], case.error.as_str(), "case {:?}", case.name);
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "case {:?}",
            case.name
        );
        let text = json.to_string();
        assert!(
            !text.contains(&session) && !text.contains(&key),
            "case {:?} echoes a secret",
            case.name
        );
    }
    // None of that counted as a failed code, nothing was half-written.
    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(
        (user["status"].as_str(), &user["failures"]),
        (Some("active"), &json!(0))
    );
    let (status, _) = app
        .verify(&session, &device, &device.code_at(app.now_secs()))
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn malformed_codes_are_not_counted(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    for code in [
        "",
        "12345",
        "1234567",
        "12a456",
        " 12345",
        "１２３４５６",
        "-12345",
        "12345\n",
    ] {
        let (status, body) = app.verify(&session, &device, code).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{code:?}"
        );
        let (status, _) = app
            .post(
                "/v1/check",
                Some(&key),
                json!({ "user_id": "u1", "code": code }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{code:?}");
    }
    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(user["failures"], 0);
}

async fn audit_log_records_and_filters_events(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    app.clock.advance(60_000);
    let session = app.session(&key, "u1").await;
    let wrong = device.wrong_code_at(app.now_secs());
    for _ in 0..5 {
        app.verify(&session, &device, &wrong).await;
    }
    app.post("/v1/users/u1/unlock", Some(&key), json!({})).await;
    app.clock.advance(60_000);
    let (_, body) = app
        .verify(&session, &device, &device.code_at(app.now_secs()))
        .await;
    app.post(
        "/v1/siteverify",
        Some(&key),
        json!({ "pass": body["pass"] }),
    )
    .await;
    app.register(&key, "u2").await;

    let (status, body) = app.get("/v1/audit?user_id=u1", &key).await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<String> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["event"].as_str().unwrap(),
                e["outcome"].as_str().unwrap()
            )
        })
        .collect();
    let expected = [
        "device_registered:registered",
        "verify:invalid_code",
        "verify:invalid_code",
        "verify:invalid_code",
        "verify:invalid_code",
        "verify:invalid_code",
        "lock:locked",
        "unlock:unlocked",
        "verify:accepted",
        "pass_redeemed:redeemed",
    ];
    assert_eq!(events, expected);
    let first = &body["events"][0];
    assert_eq!(first["user_id"], "u1");
    assert_eq!(first["device_label"], "Chrome on Windows");
    assert_eq!(first["at"], rfc3339((T0_MS + 5_000) as i64));
    assert_eq!(body["events"][1]["detail"], "purpose=exam");

    let (_, all) = app.get("/v1/audit", &key).await;
    assert_eq!(all["events"].as_array().unwrap().len(), expected.len() + 1);
    let (_, limited) = app.get("/v1/audit?limit=2", &key).await;
    assert_eq!(limited["events"].as_array().unwrap().len(), 2);
    let since = rfc3339((T0_MS + 125_000) as i64).replace('+', "%2B");
    let (_, recent) = app.get(&format!("/v1/audit?since={since}"), &key).await;
    let recent: Vec<&str> = recent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(recent, ["verify", "pass_redeemed", "device_registered"]);
    for bad in [
        "/v1/audit?since=yesterday",
        "/v1/audit?limit=0",
        "/v1/audit?limit=1001",
        "/v1/audit?limit=x",
        "/v1/audit?colour=red",
    ] {
        let (status, body) = app.get(bad, &key).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{bad}"
        );
    }
}

async fn cors_allows_registered_origins_on_browser_endpoints_only(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app
        .tenant("Acme Academy", "5678", &["https://lms.acme.example"])
        .await;
    app.tenant("Beta School", "9012", &["https://beta.example:8443"])
        .await;
    let device = app.register(&a, "u1").await;
    let preflight = |path: &str, origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .unwrap()
    };
    for path in ["/v1/verify", "/v1/devices", "/v1/time", "/v1/status"] {
        let r = app.send(preflight(path, "https://lms.acme.example")).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://lms.acme.example"
        );
        assert!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .unwrap()
                .contains("content-type")
        );
        let r = app.send(preflight(path, "https://evil.example")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            !r.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
    // The institution endpoints answer no preflight.
    for path in ["/v1/sessions", "/v1/siteverify", "/v1/check"] {
        let r = app.send(preflight(path, "https://lms.acme.example")).await;
        assert!(
            !r.headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "{path}"
        );
        assert!(r.status().is_client_error(), "{path}");
    }

    let session = app.session(&a, "u1").await;
    let code = device.code_at(app.now_secs());
    let verify_from = |origin: &str, host: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/verify")
            .header(header::ORIGIN, origin)
            .header(header::HOST, host)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(device.verification(&session, &code).to_string()))
            .unwrap()
    };
    // Beta's site may call the endpoint in general, but not with Acme's session.
    let r = app
        .send(verify_from("https://beta.example:8443", "otp.example"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_body(r).await["error"], "origin_not_allowed");
    let r = app
        .send(verify_from("https://lms.acme.example", "otp.example"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://lms.acme.example"
    );
    assert!(
        r.headers()[header::VARY]
            .to_str()
            .unwrap()
            .contains("Origin")
    );

    // The server's own pages are same-origin.
    let (_, body) = app
        .post(
            "/v1/sessions",
            Some(&a),
            json!({ "user_id": "u1", "purpose": "exam" }),
        )
        .await;
    let session = body["session"].as_str().unwrap();
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/status")
                .header(header::ORIGIN, "http://otp.example:8080")
                .header(header::HOST, "otp.example:8080")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "session": session }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn rate_limit_per_client_address(backend: Backend) {
    let app = TestApp::with_config(backend, |c| c.rate_limit_per_minute = 3).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    for _ in 0..3 {
        let (status, _) = app.call(Method::GET, "/v1/time", None, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let r = app.fetch("/v1/time").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Clock at T0 + 5 s: the window ends in 55 s.
    assert_eq!(r.headers()[header::RETRY_AFTER], "55");
    let body = json_body(r).await;
    assert_eq!(
        (body["error"].as_str(), &body["retry_after"]),
        (Some("rate_limited"), &json!(55))
    );
    let (status, _) = app.post("/v1/verify", None, json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Institution endpoints are not limited by this.
    let (status, _) = app.get("/v1/users/u1", &key).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(55_000);
    let (status, _) = app.call(Method::GET, "/v1/time", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

async fn static_files_with_security_headers(backend: Backend) {
    let app = TestApp::new(backend).await;
    // Without dist/: a clear 404 page, not a crash.
    let r = app.fetch("/").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let page = String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(page.contains("web app is not built"), "{page}");

    let dist = app.state.config.dist_dir.clone();
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>cloud-otp</title>",
    )
    .unwrap();
    std::fs::write(dist.join("cloud-otp.js"), "export {};").unwrap();
    let r = app.fetch("/").await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"));
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(r.headers()[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
    let r = app.fetch("/cloud-otp.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(r.headers()[header::VARY], "accept-encoding");

    // The build's gzip copy goes to browsers that accept gzip, with the original type; the
    // others get the file itself.
    const GZIPPED: [u8; 30] = [
        // `export {};` through gzip -9 (Python's gzip.compress(..., 9, mtime=0)).
        31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 75, 173, 40, 200, 47, 42, 81, 168, 174, 181, 6, 0, 198, 71,
        37, 215, 10, 0, 0, 0,
    ];
    std::fs::write(dist.join("cloud-otp.js.gz"), GZIPPED).unwrap();
    let request = |encoding: &str| {
        Request::builder()
            .uri("/cloud-otp.js")
            .header(header::ACCEPT_ENCODING, encoding)
            .body(Body::empty())
            .unwrap()
    };
    let r = app.send(request("gzip, deflate, br")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(r.headers()[header::VARY], "accept-encoding");
    let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    assert_eq!(body.as_ref(), GZIPPED.as_slice());
    let r = app.send(request("identity")).await;
    assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
    let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    assert_eq!(body.as_ref(), b"export {};");

    let r = app.fetch("/missing.js").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.fetch("/../Cargo.toml").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // API responses carry the headers too and are never cached.
    let r = app.fetch("/v1/time").await;
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

async fn static_files_are_kept_by_browsers_only_at_their_current_version(backend: Backend) {
    let app = TestApp::new(backend).await;
    let dist = app.state.config.dist_dir.clone();
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>x</title>").unwrap();
    std::fs::write(dist.join("app.js"), "export {};").unwrap();
    let cache = |r: &axum::response::Response| {
        r.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_owned()
    };
    // The version the build writes into the pages' addresses: the first 10 hex digits of the
    // file's SHA-256 (Python: hashlib.sha256(b"export {};").hexdigest()[:10]).
    let r = app.fetch("/app.js?v=2e29cd9a98").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(cache(&r), "public, max-age=31536000, immutable");
    // Without a version, with another build's, and the page itself: revalidated at every use.
    for uri in [
        "/app.js",
        "/app.js?v=0123456789",
        "/",
        "/index.html?v=2e29cd9a98",
    ] {
        let r = app.fetch(uri).await;
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        assert_eq!(cache(&r), "no-cache", "{uri}");
    }
    // A new build: the old version's address is no longer kept, the new one is.
    std::fs::write(dist.join("app.js"), "export const x = 1;").unwrap();
    let r = app.fetch("/app.js?v=2e29cd9a98").await;
    assert_eq!(cache(&r), "no-cache");
    let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    assert_eq!(body.as_ref(), b"export const x = 1;");
    let r = app.fetch("/app.js?v=2bf28849ca").await;
    assert_eq!(cache(&r), "public, max-age=31536000, immutable");
}

async fn fifty_concurrent_verifications_of_one_code_succeed_once(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let mut sessions = Vec::new();
    for _ in 0..50 {
        sessions.push(app.session(&key, "u1").await);
    }
    let code = device.code_at(app.now_secs());
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|session| {
            let router = app.router.clone();
            let body = device.verification(&session, &code).to_string();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = Request::builder()
                    .method(Method::POST)
                    .uri("/v1/verify")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap();
                let r = router.oneshot(req).await.unwrap();
                let status = r.status();
                (status, json_body(r).await)
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"], "replayed"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 1, "exactly one of 50 concurrent verifications succeeds");

    // The same through /v1/check with the next code.
    app.clock.advance(60_000);
    let code = device.code_at(app.now_secs());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let router = app.router.clone();
            let key = key.clone();
            let body = json!({ "user_id": "u1", "code": code }).to_string();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = Request::builder()
                    .method(Method::POST)
                    .uri("/v1/check")
                    .header(header::AUTHORIZATION, format!("Bearer {key}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap();
                router.oneshot(req).await.unwrap().status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        49
    );
}

async fn concurrent_wrong_codes_are_all_counted(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let wrong = device.wrong_code_at(app.now_secs());
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let router = app.router.clone();
            let key = key.clone();
            let body = json!({ "user_id": "u1", "code": wrong }).to_string();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = Request::builder()
                    .method(Method::POST)
                    .uri("/v1/check")
                    .header(header::AUTHORIZATION, format!("Bearer {key}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap();
                let r = router.oneshot(req).await.unwrap();
                let status = r.status();
                (status, json_body(r).await)
            })
        })
        .collect();
    let mut left = Vec::new();
    let mut locked = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => left.push(body["attempts_left"].as_u64().unwrap()),
            StatusCode::LOCKED => locked += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    left.sort_unstable();
    assert_eq!(left, [1, 2, 3, 4], "each failure counted once, none lost");
    assert_eq!(locked, 8);
    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(
        (user["status"].as_str(), &user["failures"]),
        (Some("locked"), &json!(5))
    );
}

async fn device_secrets_are_encrypted_at_rest(backend: Backend) {
    use base64::Engine;
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let (_, body) = app
        .verify(&session, &device, &device.code_at(app.now_secs()))
        .await;
    let pass = body["pass"].as_str().unwrap().to_owned();
    let (_, act) = app
        .call(Method::POST, "/v1/users/u2/activation", Some(&key), None)
        .await;
    let activation = act["activation_code"].as_str().unwrap().to_owned();

    let secret = &device.secret;
    let forbidden_text = [
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        base64::engine::general_purpose::STANDARD.encode(secret),
        hex::encode(secret),
        cloud_otp_core::base32::encode(secret, false),
        key.clone(),
        session.clone(),
        pass.clone(),
    ];
    // Everything the database holds, as text.
    let dump = dump_database(&app.storage).await;
    for f in &forbidden_text {
        assert!(
            !dump.contains(f.as_str()),
            "database contains a secret in clear ({} chars)",
            f.len()
        );
    }
    assert!(
        !dump.contains(&format!("\"{activation}\"")) && !dump.contains(&format!("|{activation}|"))
    );
    if backend == Backend::Sqlite {
        // The files themselves, WAL included, hold neither the raw secret nor its encodings.
        for entry in std::fs::read_dir(app.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_slice()),
                    "{}",
                    path.display()
                );
                for f in &forbidden_text {
                    assert!(
                        !bytes.windows(f.len()).any(|w| w == f.as_bytes()),
                        "{}",
                        path.display()
                    );
                }
            }
        }
    }
}

/// All rows of all tables as `|`-separated text.
async fn dump_database(storage: &cloud_otp_server::storage::Storage) -> String {
    use sqlx::Row;
    let tables = [
        "tenants",
        "tenant_origins",
        "users",
        "devices",
        "sessions",
        "passes",
        "activations",
        "audit_events",
        "meta",
    ];
    let mut out = String::new();
    for table in tables {
        let sql = format!("SELECT * FROM {table}");
        match storage {
            cloud_otp_server::storage::Storage::Sqlite(pool) => {
                for row in sqlx::query(&sql).fetch_all(pool).await.unwrap() {
                    for i in 0..row.len() {
                        let v: Option<String> = row
                            .try_get::<Option<String>, _>(i)
                            .ok()
                            .flatten()
                            .or_else(|| {
                                row.try_get::<Option<i64>, _>(i)
                                    .ok()
                                    .flatten()
                                    .map(|n| n.to_string())
                            });
                        out.push('|');
                        out.push_str(&v.unwrap_or_default());
                    }
                    out.push_str("|\n");
                }
            }
            cloud_otp_server::storage::Storage::Postgres(pool) => {
                let sql = format!("SELECT row_to_json(t)::text AS j FROM {table} t");
                for row in sqlx::query(&sql).fetch_all(pool).await.unwrap() {
                    let j: String = row.try_get("j").unwrap();
                    let v: Value = serde_json::from_str(&j).unwrap();
                    for (_, field) in v.as_object().unwrap() {
                        out.push('|');
                        out.push_str(&match field {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        });
                    }
                    out.push_str("|\n");
                }
            }
        }
    }
    assert!(
        out.contains("Chrome on Windows"),
        "the dump reads the devices table"
    );
    out
}
