//! Signed webhooks against a real HTTP receiver on 127.0.0.1: every event arrives once with a
//! valid signature; a receiver that refuses connections for a while gets every event once it
//! is up; attempts that keep failing end dead, visible and retryable; a receiver that hangs
//! does not hold verifications back; and the real binary killed with SIGKILL mid-delivery
//! delivers the rest after it restarts. In-process tests run on both databases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use cloud_otp_server::webhooks::{Delivery, Worker};
use common::{Backend, Device, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

on_both_backends!(
    every_event_arrives_once_signed,
    a_receiver_down_for_a_while_gets_every_event,
    failing_events_end_dead_and_can_be_retried,
    a_hanging_receiver_does_not_hold_verifications_back,
    erasing_a_trainee_drops_its_undelivered_events,
    master_key_rotation_reseals_the_signing_secret,
);

const OK: u8 = 0;
const HANG: u8 = 1;
const FAIL: u8 = 2;

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
    mode: AtomicU8,
    in_flight: AtomicUsize,
    requests: AtomicUsize,
}

struct InFlight(Arc<Inbox>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: String) -> StatusCode {
    inbox.requests.fetch_add(1, Ordering::SeqCst);
    inbox.in_flight.fetch_add(1, Ordering::SeqCst);
    let _guard = InFlight(inbox.clone());
    match inbox.mode.load(Ordering::SeqCst) {
        HANG => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
        FAIL => StatusCode::INTERNAL_SERVER_ERROR,
        _ => {
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
    }
}

/// A receiver on 127.0.0.1:`port` (0: any free port); returns its URL and inbox.
async fn receiver(port: u16, mode: u8) -> (String, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    inbox.mode.store(mode, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(inbox.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), inbox)
}

/// Whether `got` is signed with `secret` as docs/api.md says.
fn signed(got: &Got, secret: &str) -> bool {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", got.timestamp, got.body).as_bytes());
    got.signature == format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn fast() -> Delivery {
    Delivery {
        timeout: Duration::from_secs(10),
        poll: Duration::from_millis(20),
        concurrency: 32,
        max_attempts: 15,
        backoff_base_ms: 100,
        backoff_max_ms: 1_000,
        dead_retention_ms: 7 * 24 * 3_600_000,
    }
}

/// Starts the delivery worker of `app`, on its clock.
fn deliver(app: &TestApp, delivery: Delivery) -> tokio::task::JoinHandle<()> {
    let worker = Worker {
        storage: app.storage.clone(),
        crypto: app.state.crypto.clone(),
        metrics: app.state.metrics(),
        clock: Arc::new(app.clock.clone()),
        delivery,
        roots: Default::default(),
    };
    tokio::spawn(worker.run())
}

/// Waits (30 s at most: a bound for a broken worker, not a timing assertion) until `done`,
/// advancing the app's clock by `tick_ms` each round so that retries come due.
async fn wait_until(app: &TestApp, key: &str, tick_ms: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            let (_, state) = app.get("/v1/webhook", key).await;
            panic!("not delivered within 30 s; outbox: {state}");
        }
        app.clock.advance(tick_ms);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn types(got: &[Got]) -> Vec<String> {
    let mut t: Vec<String> = got
        .iter()
        .map(|g| {
            serde_json::from_str::<Value>(&g.body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    t.sort();
    t
}

/// Five wrong codes through the widget: the user is suspended.
async fn lock(app: &TestApp, key: &str, user: &str, device: &Device) {
    let session = app.session(key, user).await;
    let now = app.now_secs();
    for _ in 0..5 {
        app.verify(&session, device, &device.wrong_code_at(now))
            .await;
    }
    let (_, body) = app.get(&format!("/v1/users/{user}"), key).await;
    assert_eq!(body["status"], "locked", "{body}");
}

async fn every_event_arrives_once_signed(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    let b = app.tenant("Academy B", "2222", &[]).await;
    let (url, inbox) = receiver(0, OK).await;
    let secret = app.set_webhook(&a, &url).await;
    assert!(secret.starts_with("whsec_"));
    let worker = deliver(&app, fast());
    let now = app.now_secs();

    // device.registered, then device.replaced.
    app.register(&a, "u1").await;
    let other = Device::new("u1 other", "Firefox on Linux");
    let session = app.session(&a, "u1").await;
    let mut replace = other.registration(&session);
    replace["replace"] = json!(true);
    let (status, body) = app.post("/v1/devices", None, replace).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // An accepted code (no event), then the same code: code.replayed.
    let check = json!({"user_id": "u1", "code": other.code_at(now)});
    assert_eq!(
        app.post("/v1/check", Some(&a), check.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/v1/check", Some(&a), check).await.0,
        StatusCode::CONFLICT
    );
    // activation.used with device.registered.
    let (_, body) = app
        .call(Method::POST, "/v1/users/u2/activation", Some(&a), None)
        .await;
    let d2 = Device::new("u2", "Safari on iPhone");
    let mut by_code = d2.registration("");
    let fields = by_code.as_object_mut().unwrap();
    fields.remove("session");
    fields.insert("customer_code".into(), json!("1111"));
    fields.insert("user_id".into(), json!("u2"));
    fields.insert("activation_code".into(), body["activation_code"].clone());
    let (status, body) = app.post("/v1/devices", None, by_code).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // trainee.suspended, trainee.unlocked, device.removed.
    let u3 = app.register(&a, "u3").await;
    lock(&app, &a, "u3", &u3).await;
    let (status, _) = app.post("/v1/users/u3/unlock", Some(&a), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::DELETE, "/v1/users/u3/device", Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Institution B has no webhook: its lock is reported nowhere.
    let b1 = app.register(&b, "u1").await;
    lock(&app, &b, "u1", &b1).await;

    let expected = [
        "activation.used",
        "code.replayed",
        "device.registered",
        "device.registered",
        "device.registered",
        "device.removed",
        "device.replaced",
        "trainee.suspended",
        "trainee.unlocked",
    ];
    // The clock moves, so that an attempt that failed on a loaded machine comes due again.
    wait_until(&app, &a, 100, || {
        inbox.got.lock().unwrap().len() >= expected.len()
    })
    .await;
    // A moment more: nothing is delivered twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = inbox.got.lock().unwrap().clone();
    assert_eq!(types(&got), expected);
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "an event arrived twice");
    for g in &got {
        assert!(signed(g, &secret), "bad signature on {g:?}");
        let body: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(body["id"], g.id.as_str());
        assert!(
            body["user_id"].as_str().is_some_and(|u| u.starts_with('u')),
            "{body}"
        );
        assert!(!g.body.contains(&secret));
    }
    let state = app.webhook_state(&a).await;
    assert_eq!(
        (state["pending"].as_i64(), state["dead"].as_i64()),
        (Some(0), Some(0))
    );
    // Another secret signs nothing of this.
    assert!(!signed(&got[0], "whsec_other"));
    worker.abort();
}

async fn a_receiver_down_for_a_while_gets_every_event(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    // Nothing listens on this port yet: connections are refused.
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let secret = app.set_webhook(&a, &url).await;
    let worker = deliver(&app, fast());
    for user in ["u1", "u2", "u3"] {
        app.register(&a, user).await;
    }
    // Attempts fail and are counted while it is down.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = app.webhook_state(&a).await;
        if state["last_error"] == "cannot connect to the receiver" {
            assert_eq!(state["pending"], 3, "{state}");
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt: {state}");
        app.clock.advance(200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, inbox) = receiver(port, OK).await;
    wait_until(&app, &a, 500, || inbox.got.lock().unwrap().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = inbox.got.lock().unwrap().clone();
    assert_eq!(types(&got), ["device.registered"; 3]);
    assert!(got.iter().all(|g| signed(g, &secret)));
    let users: Vec<String> = got
        .iter()
        .map(|g| serde_json::from_str::<Value>(&g.body).unwrap()["user_id"].to_string())
        .collect();
    assert_eq!(users.len(), 3);
    let state = app.webhook_state(&a).await;
    assert_eq!(state["pending"], 0, "{state}");
    worker.abort();
}

async fn failing_events_end_dead_and_can_be_retried(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    let (url, inbox) = receiver(0, FAIL).await;
    let secret = app.set_webhook(&a, &url).await;
    let worker = deliver(
        &app,
        Delivery {
            max_attempts: 3,
            ..fast()
        },
    );
    app.register(&a, "u1").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = app.webhook_state(&a).await;
        if state["dead"] == 1 {
            assert_eq!(state["pending"], 0);
            assert_eq!(state["last_error"], "the receiver answered 500");
            break;
        }
        assert!(Instant::now() < deadline, "never dead: {state}");
        app.clock.advance(500);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Exactly the bounded number of attempts, then no more.
    app.clock.advance(60_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(inbox.requests.load(Ordering::SeqCst), 3);
    // The operator retries once the receiver works.
    inbox.mode.store(OK, Ordering::SeqCst);
    let tenant = app
        .storage
        .tenant_by_customer_code("1111")
        .await
        .unwrap()
        .unwrap();
    let now = i64::try_from(cloud_otp_server::clock::Clock::now_ms(&app.clock)).unwrap();
    assert_eq!(
        app.storage
            .retry_dead_webhooks(&tenant.id, now)
            .await
            .unwrap(),
        1
    );
    wait_until(&app, &a, 100, || inbox.got.lock().unwrap().len() == 1).await;
    assert!(signed(&inbox.got.lock().unwrap()[0], &secret));
    let state = app.webhook_state(&a).await;
    assert_eq!(
        (state["pending"].as_i64(), state["dead"].as_i64()),
        (Some(0), Some(0))
    );
    // Removing the webhook: nothing more is sent.
    let (status, _) = app
        .call(Method::DELETE, "/v1/webhook", Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.webhook_state(&a).await["url"], Value::Null);
    worker.abort();
}

async fn a_hanging_receiver_does_not_hold_verifications_back(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    let (url, inbox) = receiver(0, HANG).await;
    app.set_webhook(&a, &url).await;
    // Attempts far longer than the test: the receiver holds every one.
    let worker = deliver(
        &app,
        Delivery {
            timeout: Duration::from_secs(600),
            ..fast()
        },
    );
    let mut devices = HashMap::new();
    for i in 0..6 {
        let user = format!("u{i}");
        devices.insert(user.clone(), app.register(&a, &user).await);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox.in_flight.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the receiver got nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // While it holds connections, verifications that write events (replays, a lock) and
    // ones that do not all complete within the request timeout.
    let now = app.now_secs();
    let within = Duration::from_secs(10);
    for (user, device) in &devices {
        let check = json!({"user_id": user, "code": device.code_at(now)});
        for expected in [StatusCode::OK, StatusCode::CONFLICT] {
            let (status, body) =
                tokio::time::timeout(within, app.post("/v1/check", Some(&a), check.clone()))
                    .await
                    .expect("a verification waited for the webhook receiver");
            assert_eq!(status, expected, "{body}");
        }
    }
    let u0 = devices["u0"].clone();
    tokio::time::timeout(within, lock(&app, &a, "u0", &u0))
        .await
        .expect("a lock waited for the webhook receiver");
    assert!(inbox.in_flight.load(Ordering::SeqCst) > 0);
    assert!(inbox.got.lock().unwrap().is_empty());
    let state = app.webhook_state(&a).await;
    assert!(state["pending"].as_i64().unwrap() >= 13, "{state}");
    worker.abort();
}

/// The real binary: events are written by a server whose receiver hangs; the server is
/// killed with SIGKILL while it holds a delivery; after a restart on the same database every
/// event arrives, signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_delivery_delivers_the_rest_after_a_restart() {
    use common::binary::{Served, authenticator, call, command, create_tenant, now_secs, run};
    let data = tempfile::tempdir().unwrap();
    let (key, _) = create_tenant(command(data.path()), "Acme Academy", "5678", &[]);
    let serve = || {
        let mut c = command(data.path());
        c.args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"])
            .args(["--webhook-timeout", "2"]);
        Served::start(c)
    };
    let mut server = serve();
    let (url, inbox) = receiver(0, HANG).await;
    let mut set = command(data.path());
    set.args(["webhook", "set", "--tenant", "5678", "--url", &url]);
    let (ok, stdout, stderr) = run(set);
    assert!(ok, "{stderr}");
    let secret = stdout.lines().last().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{stdout}");

    let client = reqwest::Client::new();
    let (device, _) = authenticator(&client, &server.base, &key, "trainee-1").await;
    let check = json!({"user_id": "trainee-1", "code": device.code_at(now_secs())});
    let mut replays = 0;
    for _ in 0..8 {
        let (status, _) = call(
            &client,
            Method::POST,
            &server.url("/v1/check"),
            Some(&key),
            Some(&check),
        )
        .await
        .unwrap();
        replays += usize::from(status == 409);
    }
    assert!(replays >= 6);
    let deadline = Instant::now() + Duration::from_secs(30);
    while inbox.in_flight.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "no delivery started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    inbox.mode.store(OK, Ordering::SeqCst);
    let _server = serve();
    let expected = replays + 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = inbox.got.lock().unwrap().clone();
        let mut ids: Vec<String> = got.iter().map(|g| g.id.clone()).collect();
        ids.sort();
        ids.dedup();
        if ids.len() >= expected {
            assert!(got.iter().all(|g| signed(g, &secret)));
            let t = types(&got);
            assert!(t.iter().any(|t| t == "device.registered"), "{t:?}");
            assert_eq!(ids.len(), expected, "{t:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {expected} delivered",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut status = command(data.path());
    status.args(["webhook", "show", "--tenant", "5678"]);
    let (ok, stdout, _) = run(status);
    assert!(ok && stdout.contains("dead: 0"), "{stdout}");
}

/// Erasure (docs/security.md): the erased trainee's undelivered events go with the rest of
/// its rows; other trainees' events stay and arrive; the erasure itself is not an event.
async fn erasing_a_trainee_drops_its_undelivered_events(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    // Nothing listens yet: the events wait in the outbox.
    let port = common::free_port();
    let secret = app
        .set_webhook(&a, &format!("http://127.0.0.1:{port}/hook"))
        .await;
    app.register(&a, "keep").await;
    let gone = app.register(&a, "gone").await;
    lock(&app, &a, "gone", &gone).await;
    assert_eq!(app.webhook_state(&a).await["pending"], 3);
    let (status, _) = app
        .call(Method::DELETE, "/v1/users/gone", Some(&a), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.webhook_state(&a).await["pending"], 1);
    let worker = deliver(&app, fast());
    let (_, inbox) = receiver(port, OK).await;
    wait_until(&app, &a, 100, || !inbox.got.lock().unwrap().is_empty()).await;
    // A moment more: nothing else arrives.
    app.clock.advance(5_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = inbox.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(signed(&got[0], &secret));
    assert!(
        got[0].body.contains("\"user_id\":\"keep\""),
        "{}",
        got[0].body
    );
    assert!(!got[0].body.contains("gone"));
    assert_eq!(app.webhook_state(&a).await["pending"], 0);
    worker.abort();
}

/// `rotate-master-key` re-encrypts the webhook's signing secret: after the rotation a server
/// with only the new key still signs with the same secret.
async fn master_key_rotation_reseals_the_signing_secret(backend: Backend) {
    use cloud_otp_server::crypto::{Crypto, MasterKey, SharedCrypto};
    use cloud_otp_server::rotate::rotate_master_key;
    let app = TestApp::new(backend).await;
    let a = app.tenant("Academy A", "1111", &[]).await;
    let (url, inbox) = receiver(0, OK).await;
    // The database belongs to OLD, which seals the secret.
    let (old_key, new_key) = (MasterKey::generate(), MasterKey::generate());
    let old = Crypto::new(&old_key);
    app.storage.set_key_check(old.key_check()).await.unwrap();
    let tenant = app
        .storage
        .tenant_by_customer_code("1111")
        .await
        .unwrap()
        .unwrap();
    let url = cloud_otp_server::validate::WebhookUrl::parse(&url).unwrap();
    let now = i64::try_from(cloud_otp_server::clock::Clock::now_ms(&app.clock)).unwrap();
    let secret = cloud_otp_server::webhooks::set(&app.storage, &old, &tenant.id, &url, now)
        .await
        .unwrap();
    let ring = Crypto::with_others(&new_key, &[old_key]);
    let rotation = rotate_master_key(&app.storage, &ring).await.unwrap();
    assert_eq!(rotation.webhook_secrets, 1, "{rotation:?}");
    let again = rotate_master_key(&app.storage, &ring).await.unwrap();
    assert_eq!(again.webhook_secrets, 0, "a second run has nothing to do");
    // The new key alone: the old one is dropped. (A device registered now is sealed by the
    // app's own key; only the webhook's secret matters here.)
    let worker = Worker {
        storage: app.storage.clone(),
        crypto: Arc::new(SharedCrypto::new(Crypto::new(&new_key))),
        metrics: app.state.metrics(),
        clock: Arc::new(app.clock.clone()),
        delivery: fast(),
        roots: Default::default(),
    };
    let worker = tokio::spawn(worker.run());
    app.register(&a, "u1").await;
    wait_until(&app, &a, 100, || !inbox.got.lock().unwrap().is_empty()).await;
    let got = inbox.got.lock().unwrap().clone();
    assert!(signed(&got[0], &secret), "{got:?}");
    let state = app.webhook_state(&a).await;
    assert_eq!(state["last_error"], Value::Null, "{state}");
    worker.abort();
}
