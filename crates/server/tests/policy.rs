//! An institution's policy (issue 6), every test on SQLite and on PostgreSQL: the customer
//! code lookup of the activation form (`GET /v1/customers/{code}`, with CORS and rate limit),
//! the PIN length in `/v1/status`, an institution closed for service (its trainees get
//! service_closed, its own administration keeps working), and the PIN-in-the-key design end
//! to end: a device key derived from a seed and a PIN passes only with the right PIN.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cloud_otp_core::{Secret, derive_pin_key};
use cloud_otp_server::storage::Tenant;
use cloud_otp_server::validate::{CustomerCode, Origin, PinDigits, TenantName};
use common::{Backend, Device, TestApp, json_body};
use serde_json::{Value, json};

on_both_backends!(
    customer_code_names_the_institution_and_its_pin_policy,
    customer_lookup_is_cors_checked_and_rate_limited,
    a_closed_institution_refuses_trainees_but_keeps_its_administration,
    a_pin_in_the_key_passes_only_with_the_right_pin,
);

/// Creates an institution with a PIN policy; returns it and its API key.
async fn tenant(
    app: &TestApp,
    name: &str,
    code: &str,
    origins: &[&str],
    pin: PinDigits,
) -> (Tenant, String) {
    let origins: Vec<Origin> = origins.iter().map(|o| Origin::parse(o).unwrap()).collect();
    cloud_otp_server::admin::create_tenant_with(
        &app.storage,
        &TenantName::parse(name).unwrap(),
        &CustomerCode::parse(code).unwrap(),
        &origins,
        cloud_otp_server::admin::TenantOptions {
            pin_digits: pin,
            test_mode: None,
        },
        0,
    )
    .await
    .unwrap()
}

/// A GET of `path` as a browser on `origin` sends it to a server at `host`.
fn browser_get(path: &str, origin: &str, host: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header(header::ORIGIN, origin)
        .header(header::HOST, host)
        .body(Body::empty())
        .unwrap()
}

async fn customer_code_names_the_institution_and_its_pin_policy(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (acme, key) = tenant(&app, "Acme Academy", "5678", &[], PinDigits::Four).await;
    tenant(&app, "Beta School", "9012", &[], PinDigits::Off).await;

    let (status, body) = app
        .call(Method::GET, "/v1/customers/5678", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "customer_code": "5678", "institution": "Acme Academy", "pin_digits": 4 })
    );
    let (_, body) = app
        .call(Method::GET, "/v1/customers/9012", None, None)
        .await;
    assert_eq!(body["pin_digits"], 0);

    let (status, body) = app
        .call(Method::GET, "/v1/customers/0000", None, None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_customer"))
    );
    for bad in ["123", "12345", "12a4", "%EF%BC%91234", "12%2034"] {
        let (status, body) = app
            .call(Method::GET, &format!("/v1/customers/{bad}"), None, None)
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{bad}"
        );
    }

    // The widget's status names the PIN length too, and follows a change of the policy.
    let session = app.session(&key, "u1").await;
    let (status, body) = app
        .post("/v1/status", None, json!({ "session": session }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pin_digits"], 4);
    let changed = app
        .storage
        .update_tenant(&acme.id, Some(PinDigits::Six), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (changed.pin_digits, changed.in_service),
        (PinDigits::Six, true)
    );
    let (_, body) = app
        .post("/v1/status", None, json!({ "session": session }))
        .await;
    assert_eq!(body["pin_digits"], 6);
    let (_, body) = app
        .call(Method::GET, "/v1/customers/5678", None, None)
        .await;
    assert_eq!(body["pin_digits"], 6);
}

async fn customer_lookup_is_cors_checked_and_rate_limited(backend: Backend) {
    let app = TestApp::new(backend).await;
    tenant(
        &app,
        "Acme Academy",
        "5678",
        &["https://lms.acme.example"],
        PinDigits::Off,
    )
    .await;
    tenant(
        &app,
        "Beta School",
        "9012",
        &["https://beta.example"],
        PinDigits::Off,
    )
    .await;

    // Acme's site may look up Acme, and reads the answer (CORS).
    let r = app
        .send(browser_get(
            "/v1/customers/5678",
            "https://lms.acme.example",
            "otp.example",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://lms.acme.example"
    );
    // Beta's site is a registered origin, but not Acme's; an unknown site is neither.
    for origin in ["https://beta.example", "https://evil.example"] {
        let r = app
            .send(browser_get("/v1/customers/5678", origin, "otp.example"))
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(
            json_body(r).await["error"],
            "origin_not_allowed",
            "{origin}"
        );
    }
    // The server's own page (the standalone activation form) is always allowed.
    let r = app
        .send(browser_get(
            "/v1/customers/9012",
            "http://otp.example:8080",
            "otp.example:8080",
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(json_body(r).await["institution"], "Beta School");
    // Preflights are answered for registered origins only.
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/customers/5678")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap()
    };
    let r = app.send(preflight("https://lms.acme.example")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.send(preflight("https://evil.example")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The public per-address limit applies, as on the other browser endpoints.
    let limited = TestApp::with_config(backend, |c| c.rate_limit_per_minute = 2).await;
    tenant(&limited, "Acme Academy", "5678", &[], PinDigits::Off).await;
    for _ in 0..2 {
        let r = limited.fetch("/v1/customers/5678").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = limited.fetch("/v1/customers/5678").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json_body(r).await["error"], "rate_limited");
}

/// Asserts a 403 service_closed.
fn closed(answer: (StatusCode, Value), what: &str) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("service_closed")),
        "{what}: {}",
        answer.1
    );
    assert_eq!(
        answer.1["message"], "this institution is not open for service",
        "{what}"
    );
}

async fn a_closed_institution_refuses_trainees_but_keeps_its_administration(backend: Backend) {
    // API keys are looked up every time, so that closing shows at once on the institution
    // endpoints too (a real server notices within keycache::KEY_TTL).
    let app = TestApp::with_config(backend, |c| c.api_key_ttl = std::time::Duration::ZERO).await;
    let (acme, key) = tenant(&app, "Acme Academy", "5678", &[], PinDigits::Off).await;
    let (_, other) = tenant(&app, "Beta School", "9012", &[], PinDigits::Off).await;
    let u1 = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    let (_, body) = app
        .call(Method::POST, "/v1/users/u2/activation", Some(&key), None)
        .await;
    let activation = body["activation_code"].as_str().unwrap().to_owned();
    let u2 = Device::new("u2", "Chrome on Android");
    let by_activation = json!({ "customer_code": "5678", "user_id": "u2",
        "activation_code": activation, "secret": u2.secret_b64(), "proof": u2.proof_b64(),
        "fingerprint": u2.fingerprint, "label": u2.label });

    let after = app
        .storage
        .update_tenant(&acme.id, None, Some(false))
        .await
        .unwrap()
        .unwrap();
    assert!(!after.in_service);

    // Everything a trainee does is refused.
    closed(
        app.call(Method::GET, "/v1/customers/5678", None, None)
            .await,
        "customers",
    );
    closed(
        app.post("/v1/status", None, json!({ "session": session }))
            .await,
        "status",
    );
    let other_browser = Device::new("u1", "Firefox on Linux");
    let mut by_session = other_browser.registration(&session);
    by_session["replace"] = json!(true);
    closed(
        app.post("/v1/devices", None, by_session.clone()).await,
        "devices by session",
    );
    closed(
        app.post("/v1/devices", None, by_activation.clone()).await,
        "devices by activation code",
    );
    let code = u1.code_at(app.now_secs());
    closed(app.verify(&session, &u1, &code).await, "verify");
    closed(
        app.post(
            "/v1/check",
            Some(&key),
            json!({ "user_id": "u1", "code": code }),
        )
        .await,
        "check",
    );
    closed(
        app.post(
            "/v1/sessions",
            Some(&key),
            json!({ "user_id": "u1", "purpose": "exam" }),
        )
        .await,
        "sessions",
    );
    // Other institutions and the clock are not affected.
    let (status, _) = app.call(Method::GET, "/v1/time", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            "/v1/sessions",
            Some(&other),
            json!({ "user_id": "u1", "purpose": "exam" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // The institution prepares while closed: codes, authenticators, unlocks, removals, audit.
    let (status, body) = app
        .call(Method::POST, "/v1/users/u3/activation", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .call(Method::POST, "/v1/users/u4/authenticator", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.get("/v1/users/u1", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "active");
    let (status, _) = app
        .post(
            "/v1/users/u1/unlock",
            Some(&key),
            json!({ "revoke_device": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::DELETE, "/v1/users/u4/device", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/v1/audit?limit=1000", &key).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing the trainees tried while closed was counted or written.
    let events = body["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e["event"] != "verify" && e["event"] != "check"),
        "{body}"
    );

    // Opened again, the same session, code and activation code work: none was spent.
    app.storage
        .update_tenant(&acme.id, None, Some(true))
        .await
        .unwrap();
    let (status, body) = app.verify(&session, &u1, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post("/v1/devices", None, by_activation).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .call(Method::GET, "/v1/customers/5678", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_pin_in_the_key_passes_only_with_the_right_pin(backend: Backend) {
    let app = TestApp::new(backend).await;
    let (_, key) = tenant(&app, "Acme Academy", "5678", &[], PinDigits::Four).await;
    // The browser keeps a random seed and never sends it; it registers the key derived from
    // the seed and the trainee's PIN, so the server stores no PIN and no seed.
    let seed = Secret::new((1..=20).collect()).unwrap();
    let with_pin = |pin: &str| {
        let mut d = Device::new("u1", "Chrome on Android");
        d.secret = derive_pin_key(&seed, pin).unwrap().as_bytes().to_vec();
        d
    };
    let right = with_pin("2580");
    let session = app.session(&key, "u1").await;
    let (status, body) = app
        .post("/v1/status", None, json!({ "session": session }))
        .await;
    assert_eq!(body["pin_digits"], 4, "{body}");
    let (status_reg, body) = app
        .post("/v1/devices", None, right.registration(&session))
        .await;
    assert_eq!(
        (status, status_reg),
        (StatusCode::OK, StatusCode::CREATED),
        "{body}"
    );
    let device_id = body["device_id"].as_str().unwrap().to_owned();
    let right = Device {
        id: device_id.clone(),
        ..right
    };

    // The right PIN: the widget's code passes and the pass redeems; the next step's code
    // passes the code check too.
    let (status, body) = app
        .verify(&session, &right, &right.code_at(app.now_secs()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, redeemed) = app
        .post(
            "/v1/siteverify",
            Some(&key),
            json!({ "pass": body["pass"] }),
        )
        .await;
    assert_eq!(redeemed["success"], true, "{redeemed}");
    app.clock.advance(60_000);
    let (status, body) = app
        .post(
            "/v1/check",
            Some(&key),
            json!({ "user_id": "u1", "code": right.code_at(app.now_secs()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Wrong PINs: well-formed codes of another key, counted until the trainee is suspended.
    app.clock.advance(60_000);
    let now = app.now_secs();
    let session = app.session(&key, "u1").await;
    let accepted = [right.code_at(now), right.code_at(now - 60)];
    let wrong_pins = ["0000", "1111", "2581", "0852", "9999"];
    for (i, pin) in wrong_pins.iter().enumerate() {
        let wrong = Device {
            id: device_id.clone(),
            ..with_pin(pin)
        };
        let code = wrong.code_at(now);
        assert!(!accepted.contains(&code), "PIN {pin} gives a right code");
        let (status, body) = app.verify(&session, &wrong, &code).await;
        if i < 4 {
            assert_eq!(
                (status, body["error"].as_str(), &body["attempts_left"]),
                (
                    StatusCode::UNAUTHORIZED,
                    Some("invalid_code"),
                    &json!(4 - i)
                ),
                "PIN {pin}"
            );
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::LOCKED, Some("locked")),
                "PIN {pin}"
            );
        }
    }
    // Suspended: now even the right PIN is refused until the institution unlocks.
    let (status, body) = app.verify(&session, &right, &accepted[0]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::LOCKED, Some("locked"))
    );
    let (_, user) = app.get("/v1/users/u1", &key).await;
    assert_eq!(
        (user["status"].as_str(), &user["failures"]),
        (Some("locked"), &json!(5))
    );
}
