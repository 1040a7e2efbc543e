//! No secret in logs, error bodies or audit entries: a full run of the real `cloud-otp serve`
//! (two institutions, the demo, browser registration by session and by activation code,
//! widget verification, an authenticator app, code checks, replay, lock, unlock, pass
//! redemption, malformed and unauthorized requests) with RUST_LOG=trace, after which every
//! line the process wrote, every error body and every audit entry is searched for each secret
//! the run used: master keys, API keys, sessions, passes, device secrets in every encoding,
//! otpauth URIs, activation codes and one-time codes, right and wrong.
// The run includes the demo (`serve --demo`), which needs the cargo feature `demo`.
#![cfg(feature = "demo")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use common::Device;
use common::binary::{Served, authenticator, call, command, create_tenant, now_secs, run};
use reqwest::Method;
use serde_json::{Value, json};

/// The run: where it sends requests, what it must never see again.
struct Run {
    client: reqwest::Client,
    base: String,
    /// (what, text) of every secret used.
    secrets: Vec<(String, String)>,
    /// Every answer that was an error or an unsuccessful siteverify.
    errors: Vec<String>,
}

impl Run {
    fn secret(&mut self, what: &str, text: &str) {
        assert!(!text.is_empty(), "{what}");
        self.secrets.push((what.to_owned(), text.to_owned()));
    }

    /// A device secret in every encoding a log line could hold.
    fn device_secret(&mut self, what: &str, bytes: &[u8]) {
        self.secret(
            &format!("{what} (base64url)"),
            &URL_SAFE_NO_PAD.encode(bytes),
        );
        self.secret(
            &format!("{what} (base64url, padded)"),
            &URL_SAFE.encode(bytes),
        );
        self.secret(&format!("{what} (base64)"), &STANDARD.encode(bytes));
        self.secret(&format!("{what} (hex)"), &hex::encode(bytes));
        self.secret(
            &format!("{what} (base32)"),
            &cloud_otp_core::base32::encode(bytes, false),
        );
        self.secret(
            &format!("{what} (bytes)"),
            &format!("{bytes:?}").replace(' ', ""),
        );
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let (status, answer) = call(&self.client, method, &url, key, body.as_ref())
            .await
            .unwrap();
        assert!(status < 500, "{path}: {status} {answer}");
        if status >= 400 || answer["success"] == false {
            self.errors.push(answer.to_string());
        }
        (status, answer)
    }

    async fn post(&mut self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, key, Some(body)).await
    }

    async fn session(&mut self, key: &str, user: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/sessions",
                Some(key),
                json!({ "user_id": user, "purpose": "exam" }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let session = body["session"].as_str().unwrap().to_owned();
        self.secret("session", &session);
        session
    }

    /// The device's right code now, and a wrong one; both recorded as secrets.
    fn codes(&mut self, device: &Device) -> (String, String) {
        let now = now_secs();
        let right = device.code_at(now);
        // A wrong code that looks like any other (not 000000), outside the steps near now.
        let near: Vec<String> = (0..5).map(|i| device.code_at(now + 120 - i * 60)).collect();
        let start: u32 = right.parse().unwrap();
        let wrong = (1..)
            .map(|k| format!("{:06}", (start + k * 123_457) % 1_000_000))
            .find(|c| !near.contains(c))
            .unwrap();
        self.secret("right code", &right);
        self.secret("wrong code", &wrong);
        (right, wrong)
    }
}

/// Where `secret` occurs in `text`. A six-digit code counts only as a whole number that is
/// not a decimal fraction: the timestamps and durations in log lines have six-digit
/// fractions (".123456") that would match by chance.
fn find(text: &str, secret: &str) -> Option<usize> {
    if !(secret.len() == 6 && secret.bytes().all(|b| b.is_ascii_digit())) {
        return text.find(secret);
    }
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find(secret).map(|i| i + from) {
        let end = i + secret.len();
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let whole = !before.is_some_and(|b| b.is_ascii_digit() || b == b'.')
            && !bytes.get(end).is_some_and(u8::is_ascii_digit);
        if whole {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

fn assert_clean(place: &str, text: &str, secrets: &[(String, String)]) {
    for (what, secret) in secrets {
        if let Some(i) = find(text, secret) {
            let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            panic!(
                "{place} contains a {what}, in this line:\n{}",
                &text[line_start..line_end]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_run_leaks_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let master = hex::encode(cloud_otp_server::crypto::random_bytes(32).as_slice());
    let extra = hex::encode(cloud_otp_server::crypto::random_bytes(32).as_slice());
    let with_keys = |mut c: std::process::Command| {
        c.env("CLOUD_OTP_MASTER_KEY", &master)
            .env("CLOUD_OTP_EXTRA_MASTER_KEYS", &extra)
            .env("RUST_LOG", "trace");
        c
    };
    let (key_a, printed) = create_tenant(with_keys(command(&data)), "Acme Academy", "5678", &[]);
    // The search finds a secret where one is: tenant create prints its key on purpose.
    assert!(find(&printed, &key_a).is_some());
    assert_eq!(find("code=\"492039\"", "492039"), Some(6));
    assert_eq!(find("at 08:00:05.492039Z, 1492039", "492039"), None);
    let (key_b, _) = create_tenant(with_keys(command(&data)), "Beta School", "9012", &[]);
    let mut c = with_keys(command(&data));
    c.args([
        "serve",
        "--demo",
        "--listen",
        "127.0.0.1:0",
        "--rate-limit",
        "0",
    ]);
    let mut server = Served::start(c);
    let demo_key = std::fs::read_to_string(data.join("demo-api-key")).unwrap();
    let mut run_ = Run {
        client: reqwest::Client::new(),
        base: server.base.clone(),
        secrets: Vec::new(),
        errors: Vec::new(),
    };
    let r = &mut run_;
    r.secret("master key", &master);
    r.secret("master key (upper case)", &master.to_uppercase());
    r.secret("extra master key", &extra);
    for (what, key) in [
        ("API key A", &key_a),
        ("API key B", &key_b),
        ("demo API key", &demo_key),
    ] {
        r.secret(what, key.trim());
        r.secret(
            &format!("{what} without prefix"),
            key.trim().trim_start_matches("cok_"),
        );
    }

    // A browser registers through a session and verifies: one wrong code, one right.
    let session = r.session(&key_a, "u1").await;
    let mut u1 = Device::new("u1", "Chrome on Windows");
    r.device_secret("u1 device secret", &u1.secret.clone());
    let (status, body) = r.post("/v1/devices", None, u1.registration(&session)).await;
    assert_eq!(status, 201, "{body}");
    u1.id = body["device_id"].as_str().unwrap().to_owned();
    r.post("/v1/status", None, json!({ "session": session }))
        .await;
    let (right, wrong) = r.codes(&u1);
    let (status, _) = r
        .post("/v1/verify", None, u1.verification(&session, &wrong))
        .await;
    assert_eq!(status, 401);
    let (status, body) = r
        .post("/v1/verify", None, u1.verification(&session, &right))
        .await;
    assert_eq!(status, 200, "{body}");
    let pass = body["pass"].as_str().unwrap().to_owned();
    r.secret("pass", &pass);
    // Another institution tries the pass, then the owner redeems it, then tries again.
    r.post("/v1/siteverify", Some(&key_b), json!({ "pass": pass }))
        .await;
    let (_, body) = r
        .post("/v1/siteverify", Some(&key_a), json!({ "pass": pass }))
        .await;
    assert_eq!(body["success"], true);
    r.post("/v1/siteverify", Some(&key_a), json!({ "pass": pass }))
        .await;
    // The spent session, and a replay through a new one.
    r.post("/v1/verify", None, u1.verification(&session, &right))
        .await;
    let again = r.session(&key_a, "u1").await;
    let (status, _) = r
        .post("/v1/verify", None, u1.verification(&again, &right))
        .await;
    assert_eq!(status, 409);

    // Activation: a wrong code, then the right one.
    let (status, body) = r
        .send(Method::POST, "/v1/users/u2/activation", Some(&key_a), None)
        .await;
    assert_eq!(status, 201);
    let activation = body["activation_code"].as_str().unwrap().to_owned();
    r.secret("activation code", &activation);
    let wrong_activation = if activation == "000000" {
        "000001"
    } else {
        "000000"
    };
    let u2 = Device::new("u2", "Safari on iPhone");
    r.device_secret("u2 device secret", &u2.secret.clone());
    let request = |code: &str| {
        json!({ "customer_code": "5678", "user_id": "u2", "activation_code": code,
            "secret": u2.secret_b64(), "proof": u2.proof_b64(), "fingerprint": u2.fingerprint, "label": u2.label })
    };
    let (status, _) = r.post("/v1/devices", None, request(wrong_activation)).await;
    assert_eq!(status, 401);
    let (status, _) = r.post("/v1/devices", None, request(&activation)).await;
    assert_eq!(status, 201);
    // Used once: activation_used.
    let (status, _) = r.post("/v1/devices", None, request(&activation)).await;
    assert_eq!(status, 410);

    // An authenticator app: checks, a replay, five wrong codes, the lock, the unlock.
    let (u3, uri) = authenticator(&r.client.clone(), &r.base.clone(), &key_a, "u3").await;
    r.secret("otpauth URI", &uri);
    r.device_secret("u3 device secret", &u3.secret.clone());
    let (right, wrong) = r.codes(&u3);
    let check = |code: &str| json!({ "user_id": "u3", "code": code });
    let (status, _) = r.post("/v1/check", Some(&key_a), check(&right)).await;
    assert_eq!(status, 200);
    let (status, _) = r.post("/v1/check", Some(&key_a), check(&right)).await;
    assert_eq!(status, 409);
    r.post("/v1/check", Some(&key_b), check(&right)).await;
    for _ in 0..5 {
        r.post("/v1/check", Some(&key_a), check(&wrong)).await;
    }
    let (status, _) = r.post("/v1/check", Some(&key_a), check(&right)).await;
    assert_eq!(status, 423);
    let (status, _) = r
        .post(
            "/v1/users/u3/unlock",
            Some(&key_a),
            json!({ "revoke_device": false }),
        )
        .await;
    assert_eq!(status, 200);

    // The demo training site: its page opens a session, its backend redeems the pass with
    // the demo's API key.
    let page = r
        .client
        .get(format!("{}/demo/?user_id=u4&purpose=exam", r.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "session=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let demo_session = page[start..start + page[start..].find('"').unwrap()].to_owned();
    r.secret("demo session", &demo_session);
    let mut u4 = Device::new("u4", "Chrome on Linux");
    r.device_secret("u4 device secret", &u4.secret.clone());
    let (status, body) = r
        .post("/v1/devices", None, u4.registration(&demo_session))
        .await;
    assert_eq!(status, 201, "{body}");
    u4.id = body["device_id"].as_str().unwrap().to_owned();
    let (right, _) = r.codes(&u4);
    let (_, body) = r
        .post("/v1/verify", None, u4.verification(&demo_session, &right))
        .await;
    let demo_pass = body["pass"].as_str().unwrap().to_owned();
    r.secret("demo pass", &demo_pass);
    let (_, body) = r
        .post("/demo/redeem", None, json!({ "pass": demo_pass }))
        .await;
    assert_eq!(body["success"], true, "{body}");
    r.post("/demo/redeem", None, json!({ "pass": demo_pass }))
        .await;

    // Secrets where they do not belong: in the wrong field, with the wrong type, as a key.
    let stolen = format!("cok_{}", "Q".repeat(43));
    r.secret("guessed API key", &stolen);
    r.send(Method::GET, "/v1/users/u1", Some(&stolen), None)
        .await;
    r.post(
        "/v1/check",
        Some(&key_a),
        json!({ "user_id": key_a, "code": 123456 }),
    )
    .await;
    r.post(
        "/v1/check",
        Some(&key_a),
        json!({ "user_id": "u1", "code": pass }),
    )
    .await;
    r.post(
        "/v1/verify",
        None,
        json!({ "session": session, "device_id": u1.id,
        "fingerprint": u1.fingerprint, "code": right, "secret": u1.secret_b64() }),
    )
    .await;
    r.post(
        "/v1/devices",
        None,
        json!({ "session": [session], "secret": u1.secret_b64(), "proof": u1.proof_b64(),
        "fingerprint": u1.fingerprint, "label": u1.label }),
    )
    .await;
    r.post(
        "/v1/siteverify",
        Some(&key_a),
        json!({ "pass": { "token": pass } }),
    )
    .await;
    r.post(
        "/v1/sessions",
        Some(&key_a),
        json!({ "user_id": "u1", "purpose": activation, "x": master }),
    )
    .await;

    // The audit logs of all three institutions.
    let mut audit = String::new();
    for key in [&key_a, &key_b, &demo_key] {
        let (status, body) = r
            .send(Method::GET, "/v1/audit?limit=1000", Some(key.trim()), None)
            .await;
        assert_eq!(status, 200);
        assert!(!body["events"].as_array().unwrap().is_empty() || key == &key_b);
        audit.push_str(&body.to_string());
    }
    assert!(audit.contains("\"lock\"") && audit.contains("activation_failed"));

    assert!(server.terminate().success());
    let output = server.output();
    // The logs are really at trace level and really cover the run.
    assert!(
        output.contains("TRACE") && output.contains("/v1/verify"),
        "{output}"
    );
    assert!(
        output.lines().count() > 200,
        "{} lines",
        output.lines().count()
    );
    let secrets = std::mem::take(&mut r.secrets);
    assert!(secrets.len() > 40);
    assert_clean("the server's output", &output, &secrets);
    assert_clean("an error body", &r.errors.join("\n"), &secrets);
    assert!(r.errors.len() > 15, "{} errors", r.errors.len());
    assert_clean("the audit log", &audit, &secrets);

    // Operator commands print no secret either (tenant create prints its new key, on
    // purpose, alone on the last line of standard output; nothing else).
    for args in [
        vec!["tenant", "list"],
        vec!["user", "show", "--customer-code", "5678", "u3"],
        vec!["rotate-master-key"],
    ] {
        let mut c = with_keys(command(&data));
        c.args(&args);
        let (ok, stdout, stderr) = run(c);
        assert!(ok, "{args:?}: {stderr}");
        assert_clean(
            &format!("`{}`", args.join(" ")),
            &format!("{stdout}{stderr}"),
            &secrets,
        );
    }
}
