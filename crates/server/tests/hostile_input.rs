//! Hostile input at every field of every endpoint: each value of
//! `tests/data/hostile_values.json` (malformed, oversized, wrongly typed, Unicode-tricky,
//! injection-shaped) goes into each target field, body, path, query or header. Every answer is
//! the expected status with a stable error code (never a 5xx), no error echoes the value, and
//! nothing changes: the test user's status, failures and device, and (for refused requests)
//! the audit log, are the same before and after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use cloud_otp_server::http::path_segment;
use common::{Backend, TestApp, json_body};
use serde::Deserialize;
use serde_json::Value;

on_both_backends!(every_field_refuses_hostile_values_without_side_effects);

const SLOT: &str = "@@VALUE@@";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    #[allow(dead_code)]
    about: String,
    values: Vec<HostileValue>,
    targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostileValue {
    name: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    repeat: Option<(String, usize)>,
    #[serde(default)]
    json: Option<String>,
    #[serde(default)]
    printable: bool,
}

impl HostileValue {
    /// The value as a string, if it is one (raw JSON values are not).
    fn text(&self) -> Option<String> {
        match (&self.text, &self.repeat) {
            (Some(t), _) => Some(t.clone()),
            (None, Some((t, n))) => Some(t.repeat(*n)),
            (None, None) => None,
        }
    }

    /// The value as JSON text.
    fn json(&self) -> String {
        match (&self.json, self.text()) {
            (Some(raw), _) => raw.clone(),
            (None, Some(text)) => serde_json::to_string(&text).unwrap(),
            (None, None) => panic!("value {:?} has neither text nor json", self.name),
        }
    }
}

/// Where a value goes: a body field (`body` holds the slot), a path or query (`path` holds
/// it) or a header (`header` names it; `body` is then a valid body).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    name: String,
    method: String,
    path: String,
    #[serde(default)]
    auth: bool,
    #[serde(default)]
    body: Option<Value>,
    /// The body field that holds the slot (documentation for people reading the data).
    #[serde(default)]
    #[allow(dead_code)]
    field: Option<String>,
    #[serde(default)]
    header: Option<String>,
    invalid: (u16, Option<String>),
    #[serde(default)]
    accepted: Option<(u16, Option<String>)>,
    #[serde(default)]
    overrides: HashMap<String, Value>,
}

/// What the test user and the tenant's audit log look like.
async fn snapshot(app: &TestApp, key: &str) -> (Value, usize, usize) {
    let (_, user) = app.get("/v1/users/u1", key).await;
    let (_, all) = app.get("/v1/audit?limit=1000", key).await;
    let (_, mine) = app.get("/v1/audit?user_id=u1&limit=1000", key).await;
    let count = |v: &Value| v["events"].as_array().unwrap().len();
    assert!(count(&all) < 1000, "the audit count must not be capped");
    (user, count(&all), count(&mine))
}

async fn every_field_refuses_hostile_values_without_side_effects(backend: Backend) {
    let app = TestApp::with_config(backend, |c| {
        c.rate_limit_per_minute = 0;
        c.activation_limit_per_hour = 0;
    })
    .await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    let device = app.register(&key, "u1").await;
    let session = app.session(&key, "u1").await;
    // Two wrong codes, so a reset of the failure count would show.
    for _ in 0..2 {
        let wrong = device.wrong_code_at(app.now_secs());
        app.verify(&session, &device, &wrong).await;
    }
    let data: Data = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/hostile_values.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let fill = |s: &str| {
        s.replace("{session}", &session)
            .replace("{device_id}", &device.id)
            .replace("{fingerprint}", &device.fingerprint)
            .replace("{secret}", &device.secret_b64())
            .replace("{proof}", &device.proof_b64())
    };
    let before = snapshot(&app, &key).await;
    assert_eq!(before.0["failures"], 2);
    let mut sent = 0;
    // What the last request left, compared with what the next one leaves.
    let mut last = before.clone();

    for target in &data.targets {
        for value in &data.values {
            let case = format!("{} <- {}", target.name, value.name);
            let expected = match target.overrides.get(&value.name) {
                Some(Value::String(s)) if s == "skip" => continue,
                Some(v) => serde_json::from_value::<(u16, Option<String>)>(v.clone()).unwrap(),
                None if value.printable => {
                    target.accepted.clone().unwrap_or(target.invalid.clone())
                }
                None => target.invalid.clone(),
            };
            let mut expected = expected;
            let mut req = Request::builder().method(target.method.as_str());
            let mut body = target.body.as_ref().map(|b| fill(&b.to_string()));
            let uri;
            if let Some(name) = &target.header {
                // Only what an HTTP client sends in a header: visible ASCII, spaces and tabs
                // (RFC 9110 section 5.5; a browser never sends other bytes in these headers).
                let Some(text) = value.text() else { continue };
                let visible = |b: u8| (0x20..0x7f).contains(&b) || b == b'\t';
                if !text.bytes().all(visible) {
                    continue;
                }
                let v = HeaderValue::from_str(&text).unwrap();
                uri = fill(&target.path);
                if name == "authorization" {
                    let bearer = format!("Bearer {}", v.to_str().unwrap());
                    req = req.header(header::AUTHORIZATION, bearer);
                } else {
                    req = req.header(name.as_str(), v);
                }
            } else if target.path.contains(SLOT) {
                let Some(text) = value.text() else { continue };
                uri = fill(&target.path).replace(SLOT, &path_segment(&text));
            } else {
                uri = fill(&target.path);
                let json = value.json();
                body = body.map(|b| b.replace(&format!("\"{SLOT}\""), &json));
                // A string that is not valid JSON (lone surrogates) or not a string at all is
                // refused by the JSON parser, whatever the field.
                if value.text().is_none() || serde_json::from_str::<String>(&json).is_err() {
                    expected = (400, Some("bad_request".into()));
                }
            }
            if target.auth {
                req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
            }
            if body.is_some() && target.header.as_deref() != Some("content-type") {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            let request = req
                .uri(uri)
                .body(Body::from(body.unwrap_or_default()))
                .unwrap();
            let (audit_before, mine_before) = (last.1, last.2);
            let response = app.send(request).await;
            let status = response.status().as_u16();
            let json = json_body(response).await;
            sent += 1;

            assert_eq!(status, expected.0, "{case}: {json}");
            if let Some(code) = &expected.1 {
                assert_eq!(json["error"], code.as_str(), "{case}: {json}");
            }
            let after = snapshot(&app, &key).await;
            last = after.clone();
            assert_eq!(after.0, before.0, "{case}: the test user changed");
            assert_eq!(
                after.2, mine_before,
                "{case}: the test user's audit changed"
            );
            if status >= 400 {
                assert!(
                    json["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{case}: {json}"
                );
                assert_eq!(after.1, audit_before, "{case}: a refusal was audited");
                if let Some(text) = value.text().filter(|t| t.chars().count() >= 4) {
                    assert!(
                        !json.to_string().contains(&text),
                        "{case} is echoed: {json}"
                    );
                }
            }
        }
    }
    assert!(sent > 700, "only {sent} requests");
    // The test user still works: a right code is accepted, and the two failures were kept.
    let (status, body) = app
        .verify(&session, &device, &device.code_at(app.now_secs()))
        .await;
    assert_eq!(status, 200, "{body}");
}
