//! Webhooks over HTTPS against a real TLS receiver on 127.0.0.1: a CA and a server
//! certificate for `localhost`/127.0.0.1 are made at test time (rcgen) and served with
//! rustls (tokio-rustls). With the CA trusted (`serve --webhook-ca-file`, or the worker's
//! roots in process), events registered to `https://localhost:PORT/...` arrive signed; with a
//! certificate the sender does not trust (no CA given, or a certificate for another name) the
//! receiver gets nothing, the attempt is recorded as failed with a clear, secret-free
//! last_error, and the event is tried again and delivered once the CA is trusted. A bad CA
//! file stops `serve` at start. In-process tests run on both databases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use cloud_otp_server::webhooks::{Delivery, Roots, Worker};
use common::{Backend, TestApp};
use hmac::{Hmac, Mac};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::Value;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

on_both_backends!(
    https_events_arrive_signed_with_the_operators_ca,
    an_untrusted_certificate_gets_nothing_and_is_retried,
    a_certificate_for_another_host_is_refused,
);

/// A test CA and a receiver certificate it signed.
struct Pki {
    /// The CA's certificate, PEM: what `--webhook-ca-file` holds.
    ca_pem: String,
    /// The receiver's TLS configuration: its certificate (and the CA's) and key.
    server: Arc<ServerConfig>,
}

/// A fresh CA and a certificate from it for `names` (DNS names or IP addresses).
fn pki(names: &[&str]) -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "cloud-otp test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut leaf = CertificateParams::new(names).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "cloud-otp test receiver");
    let cert = leaf.signed_by(&key, &ca).unwrap();
    // rustls's process default: ring, its only provider here (deny.toml bans aws-lc-rs).
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// One delivery the receiver answered 200.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Got>>,
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// TLS handshakes that failed (the sender refused the certificate).
    failed_handshakes: AtomicUsize,
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    inbox.got.lock().unwrap().push(Got {
        id: header("cloud-otp-event-id"),
        timestamp: header("cloud-otp-timestamp"),
        signature: header("cloud-otp-signature"),
        body,
    });
    StatusCode::OK
}

/// An HTTPS receiver on 127.0.0.1 with `tls`; returns `https://localhost:PORT/hook` and its
/// inbox.
async fn https_receiver(tls: Arc<ServerConfig>) -> (String, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(tls);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(inbox.clone());
    let counts = inbox.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, app, counts) = (acceptor.clone(), app.clone(), counts.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    }
                    Err(_) => {
                        counts.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    (format!("https://localhost:{port}/hook"), inbox)
}

/// Whether `got` is signed with `secret` as docs/api.md says.
fn signed(got: &Got, secret: &str) -> bool {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", got.timestamp, got.body).as_bytes());
    got.signature == format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Starts the delivery worker of `app` on its clock, trusting `roots` besides the system's.
fn deliver(app: &TestApp, roots: Roots) -> tokio::task::JoinHandle<()> {
    let worker = Worker {
        storage: app.storage.clone(),
        crypto: app.state.crypto.clone(),
        metrics: app.state.metrics(),
        clock: Arc::new(app.clock.clone()),
        delivery: Delivery {
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(20),
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            ..Delivery::default()
        },
        roots,
    };
    tokio::spawn(worker.run())
}

/// Waits (30 s at most: a bound for a broken worker, not a timing assertion) until `done`,
/// advancing the app's clock by 100 ms each round so that retries come due.
async fn wait_until(app: &TestApp, key: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            let (_, state) = app.get("/v1/webhook", key).await;
            panic!("not done within 30 s; outbox: {state}");
        }
        app.clock.advance(100);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the webhook's state has a last_error and returns the state.
async fn wait_for_error(app: &TestApp, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = app.webhook_state(key).await;
        if state["last_error"].is_string() {
            return state;
        }
        assert!(Instant::now() < deadline, "no failed attempt: {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until nothing is pending (a delivery is recorded just after the receiver answered)
/// and returns the webhook's state.
async fn wait_for_outbox_empty(app: &TestApp, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = app.webhook_state(key).await;
        if state["pending"].as_i64() == Some(0) {
            return state;
        }
        assert!(Instant::now() < deadline, "still pending: {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn https_events_arrive_signed_with_the_operators_ca(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Academy A", "1111", &[]).await;
    let pki = pki(&["localhost", "127.0.0.1"]);
    let (url, inbox) = https_receiver(pki.server.clone()).await;
    let secret = app.set_webhook(&key, &url).await;
    let worker = deliver(&app, Roots::from_pem(pki.ca_pem.as_bytes()).unwrap());
    app.register(&key, "u1").await;
    app.register(&key, "u2").await;
    wait_until(&app, &key, || inbox.got.lock().unwrap().len() >= 2).await;
    let got = inbox.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    for g in &got {
        assert!(signed(g, &secret), "bad signature on {g:?}");
        let body: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(body["id"], g.id.as_str());
        assert_eq!(body["type"], "device.registered", "{body}");
    }
    assert_eq!(inbox.failed_handshakes.load(Ordering::SeqCst), 0);
    let state = wait_for_outbox_empty(&app, &key).await;
    assert_eq!(
        (state["dead"].as_i64(), &state["last_error"]),
        (Some(0), &Value::Null),
        "{state}"
    );
    worker.abort();
}

/// The receiver's certificate is made for `names` by a CA; the worker trusts `roots(ca_pem)`.
/// Nothing arrives, the failure is recorded with `expected` in last_error, and the event is
/// tried again; a worker that trusts the receiver's CA then delivers it.
async fn refused(backend: Backend, names: &[&str], roots: fn(&str) -> Roots, expected: &str) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Academy A", "1111", &[]).await;
    let pki = pki(names);
    let (url, inbox) = https_receiver(pki.server.clone()).await;
    let secret = app.set_webhook(&key, &url).await;
    let worker = deliver(&app, roots(&pki.ca_pem));
    app.register(&key, "u1").await;
    let state = wait_for_error(&app, &key).await;
    let error = state["last_error"].as_str().unwrap();
    assert!(error.contains(expected), "{state}");
    assert!(
        !error.contains(&secret) && !error.contains("whsec_"),
        "{state}"
    );
    assert_eq!(
        (state["pending"].as_i64(), state["dead"].as_i64()),
        (Some(1), Some(0)),
        "{state}"
    );
    // Tried again after its backoff, refused again: still nothing delivered.
    wait_until(&app, &key, || {
        inbox.failed_handshakes.load(Ordering::SeqCst) >= 2
    })
    .await;
    worker.abort();
    let _ = worker.await;
    assert!(inbox.got.lock().unwrap().is_empty(), "delivered anyway");
    let state = app.webhook_state(&key).await;
    assert_eq!(state["pending"].as_i64(), Some(1), "{state}");
    // Once the sender trusts the receiver's CA and the certificate names the host, the kept
    // event arrives, signed.
    if names.contains(&"localhost") {
        let worker = deliver(&app, Roots::from_pem(pki.ca_pem.as_bytes()).unwrap());
        wait_until(&app, &key, || !inbox.got.lock().unwrap().is_empty()).await;
        let got = inbox.got.lock().unwrap().clone();
        assert!(signed(&got[0], &secret), "{got:?}");
        let state = wait_for_outbox_empty(&app, &key).await;
        assert_eq!(state["last_error"], Value::Null, "{state}");
        worker.abort();
    }
}

async fn an_untrusted_certificate_gets_nothing_and_is_retried(backend: Backend) {
    // No CA given: the system's roots do not know the test CA.
    refused(
        backend,
        &["localhost", "127.0.0.1"],
        |_| Roots::default(),
        "not signed by a trusted root",
    )
    .await;
}

async fn a_certificate_for_another_host_is_refused(backend: Backend) {
    // The CA is trusted, but the certificate names another host.
    refused(
        backend,
        &["receiver.example"],
        |ca| Roots::from_pem(ca.as_bytes()).unwrap(),
        "not valid for the webhook URL's host",
    )
    .await;
}

/// The real binary with `--webhook-ca-file`: the institution's webhook set with the CLI to
/// `https://localhost:PORT/hook` gets the device registration, signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_with_a_webhook_ca_file_delivers_over_https() {
    use common::binary::{Served, authenticator, command, create_tenant, run};
    let data = tempfile::tempdir().unwrap();
    let pki = pki(&["localhost", "127.0.0.1"]);
    let ca_file = data.path().join("webhook-ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let (key, _) = create_tenant(command(data.path()), "Acme Academy", "5678", &[]);
    let mut c = command(data.path());
    c.args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"])
        .arg("--webhook-ca-file")
        .arg(&ca_file);
    let mut server = Served::start(c);
    let (url, inbox) = https_receiver(pki.server.clone()).await;
    let mut set = command(data.path());
    set.args(["webhook", "set", "--tenant", "5678", "--url", &url]);
    let (ok, stdout, stderr) = run(set);
    assert!(ok, "{stderr}");
    let secret = stdout.lines().last().unwrap().to_owned();
    let client = reqwest::Client::new();
    authenticator(&client, &server.base, &key, "trainee-1").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox.got.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing delivered; server output:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = inbox.got.lock().unwrap().clone();
    assert!(signed(&got[0], &secret), "{got:?}");
    assert_eq!(inbox.failed_handshakes.load(Ordering::SeqCst), 0);
    server.terminate();
}

/// A CA file that is missing, not PEM, or holds a block that is no certificate stops `serve`
/// before it listens, with an error that names the file and says what is wrong.
#[test]
fn a_bad_webhook_ca_file_stops_serve_at_start() {
    use common::binary::{command, run};
    let data = tempfile::tempdir().unwrap();
    let missing = data.path().join("missing.pem");
    let not_pem = data.path().join("not-pem.pem");
    std::fs::write(&not_pem, "just some text\n").unwrap();
    let garbage = data.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (file, why) in [
        (&missing, "cannot read the webhook CA file"),
        (&not_pem, "holds no PEM CERTIFICATE block"),
        (&garbage, "not a valid X.509 certificate"),
    ] {
        let mut c = command(data.path());
        c.args(["serve", "--listen", "127.0.0.1:0"])
            .env("CLOUD_OTP_WEBHOOK_CA_FILE", file);
        let (ok, stdout, stderr) = run(c);
        assert!(!ok, "serve started with {}: {stdout}", file.display());
        assert!(stdout.is_empty(), "printed a URL: {stdout}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(
            stderr.contains(&file.display().to_string()),
            "the error names no file: {stderr}"
        );
    }
}
