//! The receiver's side of webhooks: the snippets of docs/integration.md ("Webhooks: receiving
//! events"), Python and Node.js, run for real with python3 and node against a delivery
//! captured from the server (they accept it, and refuse it with a changed body, another
//! secret or an old timestamp), the delivery counted in the metrics; and the URLs a webhook
//! may not have, refused with their stable code on both databases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use cloud_otp_server::webhooks::{Delivery, Worker};
use common::{Backend, TestApp};
use serde_json::json;

on_both_backends!(webhook_urls_elsewhere_are_refused_with_a_stable_code);

type Captured = Arc<Mutex<Option<(String, String, String)>>>;

async fn capture(State(got): State<Captured>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    *got.lock().unwrap() = Some((
        header("cloud-otp-timestamp"),
        header("cloud-otp-signature"),
        body,
    ));
    StatusCode::NO_CONTENT
}

/// The first fenced block of `lang` in docs/integration.md's webhook section.
fn snippet(lang: &str) -> String {
    let doc = include_str!("../../../docs/integration.md");
    let section = &doc[doc.find("## Webhooks: receiving events").unwrap()..];
    let start = section.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
    let len = section[start..].find("```").unwrap();
    section[start..start + len].to_owned()
}

/// Runs `program` with the snippet and a driver; returns what it printed.
fn run(program: &str, args: &[&str], code: &str, dir: &std::path::Path) -> String {
    let file = dir.join(if program == "node" {
        "check.js"
    } else {
        "check.py"
    });
    std::fs::write(&file, code).unwrap();
    let out = Command::new(program)
        .arg(&file)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_receiver_snippets_accept_a_real_delivery() {
    let app = TestApp::new(Backend::Sqlite).await;
    let key = app.tenant("Academy A", "1111", &[]).await;
    let got: Captured = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(capture))
        .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/webhook",
            Some(&key),
            Some(json!({ "url": url })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    let worker = Worker {
        storage: app.storage.clone(),
        crypto: app.state.crypto.clone(),
        metrics: app.state.metrics(),
        clock: Arc::new(app.clock.clone()),
        delivery: Delivery {
            poll: Duration::from_millis(20),
            ..Delivery::default()
        },
        roots: Default::default(),
    };
    let worker = tokio::spawn(worker.run());
    app.register(&key, "trainee-1").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ts, signature, body) = loop {
        if let Some(got) = got.lock().unwrap().clone() {
            break got;
        }
        assert!(Instant::now() < deadline, "nothing delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Counted once the answer is in.
    let metrics = app.state.metrics();
    while !metrics
        .render()
        .unwrap()
        .contains("cloud_otp_webhooks_delivered_total 1\n")
    {
        assert!(Instant::now() < deadline, "{}", metrics.render().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
    assert!(body.contains("device.registered"), "{body}");

    let dir = tempfile::tempdir().unwrap();
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, &body).unwrap();
    let tampered_file = dir.path().join("tampered");
    std::fs::write(&tampered_file, body.replace("trainee-1", "trainee-2")).unwrap();
    let now: i64 = ts.parse().unwrap();
    let old = (now + 301).to_string();
    let now = now.to_string();
    // (secret, body file, the receiver's clock): accepted, then three refusals.
    let cases = [
        (secret.as_str(), &body_file, now.as_str(), "yes"),
        (secret.as_str(), &tampered_file, now.as_str(), "no"),
        ("whsec_another", &body_file, now.as_str(), "no"),
        (secret.as_str(), &body_file, old.as_str(), "no"),
    ];
    let python = format!(
        "{}\nimport sys\nsecret, path, now, ts, sig = sys.argv[1:]\n\
         body = open(path, 'rb').read()\n\
         ok = verify(secret, {{'Cloud-Otp-Timestamp': ts, 'Cloud-Otp-Signature': sig}}, body, now=int(now))\n\
         print('yes' if ok else 'no')\n",
        snippet("python")
    );
    let node = format!(
        "{}\nconst [secret, path, now, ts, sig] = process.argv.slice(2);\n\
         const body = require('node:fs').readFileSync(path);\n\
         const ok = verify(secret, {{'cloud-otp-timestamp': ts, 'cloud-otp-signature': sig}}, body, 300, Number(now));\n\
         console.log(ok ? 'yes' : 'no');\n",
        snippet("js")
    );
    for (secret, file, clock, expected) in cases {
        let path = file.to_str().unwrap();
        let args = [secret, path, clock, ts.as_str(), signature.as_str()];
        for (program, code) in [("python3", &python), ("node", &node)] {
            assert_eq!(
                run(program, &args, code, dir.path()),
                expected,
                "{program} with {secret} {path} at {clock}"
            );
        }
    }
}

async fn webhook_urls_elsewhere_are_refused_with_a_stable_code(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Academy A", "1111", &[]).await;
    for url in [
        "http://hooks.example.org/cloud-otp",
        "http://8.8.8.8/x",
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/x",
        "https://[fe80::1]/x",
        "http://user:s3cr3t@127.0.0.1/x",
        "https://user:s3cr3t@hooks.example.org/x",
        "ftp://127.0.0.1/x",
        "/relative",
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                "/v1/webhook",
                Some(&key),
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("webhook_url_refused")),
            "{url}: {body}"
        );
        assert!(
            !body["message"].as_str().unwrap().contains("s3cr3t"),
            "{body}"
        );
    }
    // Plain HTTP to a public host is told to use https://.
    let (_, body) = app
        .call(
            Method::PUT,
            "/v1/webhook",
            Some(&key),
            Some(json!({ "url": "http://hooks.example.org/" })),
        )
        .await;
    assert!(
        body["message"].as_str().unwrap().contains("use https://"),
        "{body}"
    );
    // Nothing was stored.
    let (_, body) = app.get("/v1/webhook", &key).await;
    assert_eq!(body["url"], serde_json::Value::Null, "{body}");
    for url in [
        "https://hooks.example.org/cloud-otp",
        "https://203.0.113.9:8443/x",
        "https://localhost:8443/x",
        "http://127.0.0.1:8000/x",
        "http://10.0.0.7/x",
        "http://[::1]:9/x",
        "http://relay.internal/x",
        "http://localhost:8000/x",
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                "/v1/webhook",
                Some(&key),
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert_eq!(body["url"], url, "{body}");
    }
}
