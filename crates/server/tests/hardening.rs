//! Hardening, round two (issue 16), in-process: the rate limiters read the last entry of all
//! X-Forwarded-For lines and bucket IPv6 by /64; a code accepted once stays refused after its
//! secret is registered again or its device removed and registered again; an activation code
//! reissued after a check is not consumed by that check; the same-origin exemption needs the
//! request's scheme; the demo's forms refuse another site's Origin; links out of dist/ are not
//! served. The connection-level findings are in `serving.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cloud_otp_server::storage::{NewDevice, Registered, Registration};
#[cfg(feature = "demo")]
use cloud_otp_server::{AppState, demo::Demo};
use common::{Backend, Device, TestApp, json_body};
use serde_json::{Value, json};

on_both_backends!(
    forwarded_for_is_read_from_its_last_line,
    a_used_code_stays_used_after_registering_again,
    a_reissued_activation_code_is_not_consumed_by_an_earlier_check,
    same_origin_needs_the_scheme_of_the_request,
);

/// A request with these X-Forwarded-For lines, in order.
fn forwarded(method: Method, path: &str, lines: &[&str], body: Option<&Value>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(path);
    for line in lines {
        req = req.header("x-forwarded-for", *line);
    }
    match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    }
}

async fn forwarded_for_is_read_from_its_last_line(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.rate_limit_per_minute = 5;
        c.activation_limit_per_hour = 3;
        c.trust_forwarded_for = true;
    })
    .await;
    // The client writes a line of its own choosing, the proxy adds its own line: the client
    // cannot pick its bucket.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let first = format!("10.1.{i}.1");
        let r = app
            .send(forwarded(
                Method::GET,
                "/v1/time",
                &[&first, "192.0.2.20"],
                None,
            ))
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    // The proxy's entry is the last of the last line, also when the client's line has several.
    let r = app
        .send(forwarded(
            Method::GET,
            "/v1/time",
            &["192.0.2.20", "10.9.9.9, 192.0.2.20"],
            None,
        ))
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // The activation limit alike (3 an hour), on an address of its own.
    let device = Device::new("u1", "Chrome on Android");
    let body = json!({
        "customer_code": "9999", "user_id": "u1", "activation_code": "000000",
        "secret": device.secret_b64(), "proof": device.proof_b64(),
        "fingerprint": device.fingerprint, "label": device.label,
    });
    let mut statuses = Vec::new();
    for i in 0..5 {
        let first = format!("10.2.{i}.1");
        let r = app
            .send(forwarded(
                Method::POST,
                "/v1/devices",
                &[&first, "192.0.2.30"],
                Some(&body),
            ))
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [404, 404, 404, 429, 429]);

    // IPv6: one /64 is one bucket; the next /64 is another.
    let mut statuses = Vec::new();
    for i in 1..=6 {
        let ip = format!("2001:db8:1:2::{i:x}");
        let r = app
            .send(forwarded(Method::GET, "/v1/time", &[&ip], None))
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    let r = app
        .send(forwarded(
            Method::GET,
            "/v1/time",
            &["2001:db8:1:3::1"],
            None,
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Registers `device` for `user` through a fresh session, replacing any device.
async fn register_again(app: &TestApp, key: &str, user: &str, device: &Device) -> StatusCode {
    let session = app.session(key, user).await;
    let mut body = device.registration(&session);
    body["replace"] = json!(true);
    let (status, body) = app.post("/v1/devices", None, body).await;
    assert!(status.is_success() || status.is_client_error(), "{body}");
    status
}

async fn a_used_code_stays_used_after_registering_again(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let code = device.code_at(app.now_secs());
    let check = json!({ "user_id": "u1", "code": code });
    let (status, _) = app.post("/v1/check", Some(&key), check.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post("/v1/check", Some(&key), check.clone()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::CONFLICT, &json!("replayed"))
    );

    // The same secret registered again, replacing the device.
    assert_eq!(
        register_again(&app, &key, "u1", &device).await,
        StatusCode::CREATED
    );
    let (status, body) = app.post("/v1/check", Some(&key), check.clone()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::CONFLICT, &json!("replayed")),
        "a code accepted once is accepted again after re-registration"
    );

    // The device removed, then the same secret registered again.
    let (status, _) = app
        .call(Method::DELETE, "/v1/users/u1/device", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        register_again(&app, &key, "u1", &device).await,
        StatusCode::CREATED
    );
    let (status, body) = app.post("/v1/check", Some(&key), check).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::CONFLICT, &json!("replayed")),
        "a code accepted once is accepted again after removal and re-registration"
    );
    // The next step's code works: the user is not stuck.
    app.clock.advance(60_000);
    let check = json!({ "user_id": "u1", "code": device.code_at(app.now_secs()) });
    let (status, body) = app.post("/v1/check", Some(&key), check).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_reissued_activation_code_is_not_consumed_by_an_earlier_check(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.tenant("Acme Academy", "5678", &[]).await;
    let tenant = app
        .storage
        .tenant_by_customer_code("5678")
        .await
        .unwrap()
        .unwrap();
    let storage = &app.storage;
    let now = 1_000;
    let expires = now + 60_000;
    storage
        .put_activation(&tenant.id, "u1", "hash-of-the-first-code", now, expires)
        .await
        .unwrap();
    // A registration checked the first code (attempts 0) ...
    let checked = storage.activation(&tenant.id, "u1").await.unwrap().unwrap();
    // ... and the institution reissues before the registration consumes it.
    storage
        .put_activation(&tenant.id, "u1", "hash-of-the-second-code", now, expires)
        .await
        .unwrap();
    let registration = Registration {
        tenant_id: tenant.id.clone(),
        user_id: "u1".into(),
        device: NewDevice {
            id: "d1".into(),
            kind: "browser".into(),
            label: "Chrome on Windows".into(),
            fingerprint: Some("ab".repeat(32)),
            secret_enc: "sealed".into(),
        },
        replace: false,
        activation_attempts: Some(checked.attempts),
        now_ms: now,
    };
    let registered = storage
        .register_device_by_activation(&registration, &checked.code_hash)
        .await
        .unwrap();
    assert_eq!(registered, Registered::ActivationGone);
    let second = storage.activation(&tenant.id, "u1").await.unwrap().unwrap();
    assert_eq!(
        second.used_ms, None,
        "the new code was consumed by the old one"
    );
    assert!(
        storage
            .user(&tenant.id, "u1")
            .await
            .unwrap()
            .is_none_or(|u| u.device.is_none())
    );
    // The new code, checked, is consumed.
    let registered = storage
        .register_device_by_activation(&registration, &second.code_hash)
        .await
        .unwrap();
    assert!(
        matches!(registered, Registered::Done { .. }),
        "{registered:?}"
    );
}

async fn same_origin_needs_the_scheme_of_the_request(backend: Backend) {
    let status_from = |app: &TestApp, session: String, origin: &str, proto: Option<&str>| {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/v1/status")
            .header(header::ORIGIN, origin)
            .header(header::HOST, "otp.example:8080")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(proto) = proto {
            req = req.header("x-forwarded-proto", proto);
        }
        let req = req
            .body(Body::from(json!({ "session": session }).to_string()))
            .unwrap();
        let router = app.router.clone();
        async move {
            use tower::ServiceExt;
            let r = router.oneshot(req).await.unwrap();
            let allowed = r
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .cloned();
            (r.status(), allowed, json_body(r).await)
        }
    };
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let session = app.session(&key, "u1").await;
    // The plain-HTTP server's own page: same origin.
    let (status, allowed, _) =
        status_from(&app, session.clone(), "http://otp.example:8080", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(allowed.unwrap(), "http://otp.example:8080");
    // An https origin with the same host is another origin, on a plain-HTTP request.
    let (status, allowed, body) =
        status_from(&app, session.clone(), "https://otp.example:8080", None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::FORBIDDEN, &json!("origin_not_allowed"))
    );
    assert!(allowed.is_none());
    // X-Forwarded-Proto counts only from a trusted proxy.
    let (status, _, _) = status_from(
        &app,
        session.clone(),
        "https://otp.example:8080",
        Some("https"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let proxied = TestApp::with_config(backend, |c| c.trust_forwarded_for = true).await;
    let key = proxied.tenant("Acme Academy", "5678", &[]).await;
    let session = proxied.session(&key, "u1").await;
    let (status, _, _) = status_from(
        &proxied,
        session.clone(),
        "https://otp.example:8080",
        Some("https"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) =
        status_from(&proxied, session, "http://otp.example:8080", Some("https")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread")]
async fn demo_forms_refuse_another_sites_origin() {
    let app = TestApp::new(Backend::Sqlite).await;
    let key = app.tenant("Demo Academy", "1234", &[]).await;
    // The demo's backend would call this address; the refusals below come before any call.
    let state: AppState = app
        .state
        .clone()
        .with_demo(Demo::new(key, "http://127.0.0.1:9".into()));
    let router = cloud_otp_server::app(state);
    for (origin, fetch_site) in [
        (Some("http://evil.example"), None),
        (Some("null"), None),
        (Some("http://evil.example"), Some("same-origin")),
        (None, Some("cross-site")),
    ] {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/demo/activation")
            .header(header::HOST, "127.0.0.1:9")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            req = req.header(header::ORIGIN, origin);
        }
        if let Some(site) = fetch_site {
            req = req.header("sec-fetch-site", site);
        }
        let req = req.body(Body::from("user_id=trainee-001")).unwrap();
        use tower::ServiceExt;
        let r = router.clone().oneshot(req).await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{origin:?} {fetch_site:?}"
        );
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn links_out_of_the_dist_directory_are_not_served() {
    let app = TestApp::new(Backend::Sqlite).await;
    let dist = app.dir.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "<h1>app</h1>").unwrap();
    std::fs::write(dist.join("assets/app.js"), "// app").unwrap();
    // The static service answers a gzip-accepting request with the `.gz` copy beside a file.
    std::fs::write(dist.join("assets/inner.js"), "// inner").unwrap();
    let outside = app.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "not for the web").unwrap();
    std::fs::write(outside.join("index.html"), "not for the web").unwrap();
    let link = |to: &Path, at: &Path| std::os::unix::fs::symlink(to, at).unwrap();
    link(&outside.join("secret.txt"), &dist.join("passwd"));
    link(&outside, &dist.join("etc"));
    link(
        &outside.join("secret.txt"),
        &dist.join("assets/inner.js.gz"),
    );
    // A link that stays inside dist/ is served.
    link(&dist.join("assets/app.js"), &dist.join("alias.js"));

    for path in ["/passwd", "/etc/secret.txt", "/etc/", "/%70asswd"] {
        let r = app.fetch(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("not for the web"),
            "{path}"
        );
    }
    let r = app
        .send(
            Request::builder()
                .uri("/assets/inner.js")
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for path in ["/", "/index.html", "/assets/app.js", "/alias.js"] {
        assert_eq!(app.fetch(path).await.status(), StatusCode::OK, "{path}");
    }
}
