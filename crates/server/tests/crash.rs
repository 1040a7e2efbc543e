//! Crash safety: the real `cloud-otp serve` is killed with SIGKILL in the middle of a stream of
//! code checks and started again on the same database. Whatever the server answered before it
//! died stays true: no accepted code is accepted again, no counted failure is lost, no lock
//! disappears, and each user's state agrees with the audit log, written in the same
//! transaction. SQLite: one server, restarted on the same file, which must pass
//! `PRAGMA integrity_check`. PostgreSQL: two servers on one database, one killed while the
//! other keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Device;
use common::binary::{Served, authenticator, call, command, create_tenant, now_secs};
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;
use tokio::sync::Notify;

/// Users in the stream; each gets one plan, run in order by one worker.
const USERS: usize = 30;
/// Concurrent workers, so requests are in flight when the server dies.
const WORKERS: usize = 6;

/// What a user's requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// A right code, then two wrong ones.
    AcceptThenFail,
    /// Three wrong codes.
    Fail,
    /// Six wrong codes: the fifth locks, the sixth finds the lock.
    Lock,
}

impl Plan {
    fn of(user: usize) -> Plan {
        [Plan::AcceptThenFail, Plan::Fail, Plan::Lock][user % 3]
    }

    /// Whether each request sends the right code.
    fn steps(self) -> Vec<bool> {
        match self {
            Plan::AcceptThenFail => vec![true, false, false],
            Plan::Fail => vec![false; 3],
            Plan::Lock => vec![false; 6],
        }
    }
}

/// One request of the stream and what came back.
#[derive(Debug, Clone)]
struct Sent {
    right: bool,
    code: String,
    at_secs: u64,
    /// `None`: no answer (the server died with the request in flight, or before it).
    answer: Option<(u16, String)>,
}

struct User {
    name: String,
    device: Device,
}

/// What the stream saw, shared with the task that decides when to kill.
#[derive(Default)]
struct Progress {
    answered: AtomicUsize,
    accepted: AtomicUsize,
    locked: AtomicUsize,
    finished: AtomicUsize,
    changed: Notify,
}

/// Runs every user's plan; requests go to `bases[(user + step) % bases.len()]`, and after a
/// base fails to answer, to the others only. Stops a user's plan when no base is left.
async fn stream(
    users: Arc<Vec<User>>,
    key: Arc<String>,
    bases: Arc<Vec<String>>,
    progress: Arc<Progress>,
) -> HashMap<String, Vec<Sent>> {
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (users, key, bases, progress) =
            (users.clone(), key.clone(), bases.clone(), progress.clone());
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut dead = vec![false; bases.len()];
            let mut log = HashMap::new();
            for (i, user) in users.iter().enumerate().filter(|(i, _)| i % WORKERS == w) {
                let mut sent = Vec::new();
                for (step, right) in Plan::of(i).steps().into_iter().enumerate() {
                    let Some(base) = (0..bases.len())
                        .map(|k| (i + step + k) % bases.len())
                        .find(|&b| !dead[b])
                    else {
                        break;
                    };
                    let at_secs = now_secs();
                    let code = if right {
                        user.device.code_at(at_secs)
                    } else {
                        user.device.wrong_code_at(at_secs)
                    };
                    let body = json!({ "user_id": user.name, "code": code });
                    let url = format!("{}/v1/check", bases[base]);
                    let result = call(&client, Method::POST, &url, Some(&key), Some(&body)).await;
                    let answer = match result {
                        Ok((status, body)) => {
                            let error = body["error"].as_str().unwrap_or("").to_owned();
                            assert!(status < 500, "{status} {body}");
                            Some((status, error))
                        }
                        Err(_) => {
                            dead[base] = true;
                            None
                        }
                    };
                    if let Some((status, error)) = &answer {
                        progress.answered.fetch_add(1, Ordering::SeqCst);
                        if *status == 200 {
                            progress.accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        if *status == 423 && error == "locked" {
                            progress.locked.fetch_add(1, Ordering::SeqCst);
                        }
                        progress.changed.notify_waiters();
                    }
                    sent.push(Sent {
                        right,
                        code,
                        at_secs,
                        answer,
                    });
                }
                log.insert(user.name.clone(), sent);
            }
            progress.finished.fetch_add(1, Ordering::SeqCst);
            progress.changed.notify_waiters();
            log
        }));
    }
    let mut all = HashMap::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all
}

/// Waits until the stream is about half done and has seen an acceptance and a lock, or has
/// ended: every answer and every finishing worker notifies, so this wakes only on progress.
async fn wait_for_midstream(progress: &Progress, total: usize) {
    loop {
        // Registered before the check, so no notification in between is missed.
        let notified = progress.changed.notified();
        let answered = progress.answered.load(Ordering::SeqCst);
        let ready = answered * 2 >= total
            && progress.accepted.load(Ordering::SeqCst) > 0
            && progress.locked.load(Ordering::SeqCst) > 0;
        if ready || progress.finished.load(Ordering::SeqCst) == WORKERS {
            return;
        }
        notified.await;
    }
}

fn total_requests() -> usize {
    (0..USERS).map(|i| Plan::of(i).steps().len()).sum()
}

async fn make_users(base: &str, key: &str) -> Vec<User> {
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for i in 0..USERS {
        let name = format!("trainee-{i:02}");
        let (device, _) = authenticator(&client, base, key, &name).await;
        users.push(User { name, device });
    }
    users
}

/// Checks every invariant through `base`, after the restart.
async fn check_invariants(base: &str, key: &str, users: &[User], log: &HashMap<String, Vec<Sent>>) {
    let client = reqwest::Client::new();
    // After the restart, one more code for a user through the institution's /v1/check.
    let check = async |user_id: &str, code: &str| {
        call(
            &client,
            Method::POST,
            &format!("{base}/v1/check"),
            Some(key),
            Some(&json!({ "user_id": user_id, "code": code })),
        )
        .await
        .unwrap()
    };
    let mut seen_accept = 0;
    let mut seen_lock = 0;
    let mut unknown = 0;
    for (i, user) in users.iter().enumerate() {
        let sent = &log[&user.name];
        let ctx = format!("{} ({:?}): {sent:?}", user.name, Plan::of(i));
        let (status, view) = call(
            &client,
            Method::GET,
            &format!("{base}/v1/users/{}", user.name),
            Some(key),
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{ctx}");
        let (status, audit) = call(
            &client,
            Method::GET,
            &format!("{base}/v1/audit?user_id={}&limit=1000", user.name),
            Some(key),
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{ctx}");
        let events = audit["events"].as_array().unwrap();
        let count = |event: &str, outcome: &str| {
            events
                .iter()
                .filter(|e| e["event"] == event && e["outcome"] == outcome)
                .count()
        };
        let accepted_events = count("check", "accepted");
        let failure_events = count("check", "invalid_code");
        let lock_events = count("lock", "locked");
        let failures = view["failures"].as_u64().unwrap() as usize;
        let locked = view["status"] == "locked";

        // The state and the audit log were written in one transaction: they agree.
        assert_eq!(failures, failure_events, "failures vs audit: {ctx}");
        assert_eq!(locked, lock_events == 1, "lock vs audit: {ctx}");
        assert!(lock_events <= 1 && accepted_events <= 1, "{ctx}");

        // Every answer the server gave before dying is still true.
        let answered = |right: bool, status: u16| {
            sent.iter()
                .filter(|s| s.right == right && s.answer.as_ref().is_some_and(|a| a.0 == status))
                .count()
        };
        let in_flight = |right: bool| {
            sent.iter()
                .filter(|s| s.right == right && s.answer.is_none())
                .count()
        };
        unknown += sent.iter().filter(|s| s.answer.is_none()).count();
        assert!(
            answered(true, 200) <= accepted_events,
            "accepted code lost: {ctx}"
        );
        assert!(
            accepted_events <= answered(true, 200) + in_flight(true),
            "an acceptance nobody asked for: {ctx}"
        );
        assert!(
            answered(false, 401) <= failure_events,
            "failure lost: {ctx}"
        );
        assert!(
            failure_events <= answered(false, 401) + answered(false, 423) + in_flight(false),
            "a failure nobody sent: {ctx}"
        );
        if answered(false, 423) > 0 {
            assert!(locked, "lock lost: {ctx}");
            seen_lock += 1;
        }

        // An accepted code, and any code of its step or earlier, is never accepted again.
        if accepted_events == 1 {
            seen_accept += usize::from(answered(true, 200) == 1);
            let first = sent.iter().find(|s| s.right).unwrap();
            for code in [first.code.clone(), user.device.code_at(first.at_secs - 60)] {
                let (status, body) = check(&user.name, &code).await;
                assert_ne!(status, 200, "accepted again after the crash: {ctx}");
                assert!(
                    body["error"] == "replayed" || body["error"] == "invalid_code",
                    "{body} {ctx}"
                );
            }
        } else if locked {
            // The lock holds against the right code.
            let code = user.device.code_at(now_secs());
            let (status, body) = check(&user.name, &code).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (423, Some("locked")),
                "{ctx}"
            );
        } else if failures < 5 {
            // Nothing was accepted: the service works again, and a right code is taken.
            let code = user.device.code_at(now_secs());
            let (status, body) = check(&user.name, &code).await;
            assert_eq!(status, 200, "{body} {ctx}");
        }
    }
    // The kill came after the stream had produced both facts worth keeping.
    assert!(
        seen_accept > 0 && seen_lock > 0,
        "accepts {seen_accept}, locks {seen_lock}"
    );
    eprintln!("requests without an answer (in flight or after the kill): {unknown}");
}

/// `PRAGMA integrity_check` and `foreign_key_check` on the SQLite file.
async fn sqlite_is_sound(path: &Path) {
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(broken.is_empty(), "{broken:?}");
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_kill_9_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (key, _) = create_tenant(command(&data), "Acme Academy", "5678", &[]);
    let serve = || {
        let mut c = command(&data);
        c.args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"]);
        c
    };
    let mut server = Served::start(serve());
    let users = Arc::new(make_users(&server.base, &key).await);

    let progress = Arc::new(Progress::default());
    let stream = tokio::spawn(stream(
        users.clone(),
        Arc::new(key.clone()),
        Arc::new(vec![server.base.clone()]),
        progress.clone(),
    ));
    wait_for_midstream(&progress, total_requests()).await;
    let status = server.kill9();
    assert!(!status.success());
    let log = stream.await.unwrap();

    // The file opens cleanly: the server starts on it (and migrates nothing), and SQLite
    // finds no damage.
    let server = Served::start(serve());
    check_invariants(&server.base, &key, &users, &log).await;
    sqlite_is_sound(&data.join("cloud-otp.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_survives_one_of_two_servers_killed_mid_stream() {
    let url = common::pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let master = "3c".repeat(32);
    let (key, _) = create_tenant(
        command(&dir.path().join("cli")),
        "Acme Academy",
        "5678",
        &["--database", &url],
    );
    let serve = |name: &str| {
        let mut c = command(&dir.path().join(name));
        c.env("CLOUD_OTP_MASTER_KEY", &master).args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
            "--database",
            &url,
        ]);
        c
    };
    let mut one = Served::start(serve("one"));
    let two = Served::start(serve("two"));
    let users = Arc::new(make_users(&one.base, &key).await);

    let progress = Arc::new(Progress::default());
    let stream = tokio::spawn(stream(
        users.clone(),
        Arc::new(key.clone()),
        Arc::new(vec![one.base.clone(), two.base.clone()]),
        progress.clone(),
    ));
    wait_for_midstream(&progress, total_requests()).await;
    let status = one.kill9();
    assert!(!status.success());
    // The survivor takes the rest of the stream.
    let log = stream.await.unwrap();
    for sent in log.values() {
        let answered = sent.iter().filter(|s| s.answer.is_some()).count();
        assert!(
            answered + 1 >= sent.len(),
            "the survivor answered the rest: {sent:?}"
        );
    }

    check_invariants(&two.base, &key, &users, &log).await;
    // The killed server comes back on the same database and sees the same state.
    let one = Served::start(serve("one"));
    let client = reqwest::Client::new();
    for user in users.iter() {
        let path = format!("/v1/users/{}", user.name);
        let a = call(&client, Method::GET, &one.url(&path), Some(&key), None)
            .await
            .unwrap();
        let b = call(&client, Method::GET, &two.url(&path), Some(&key), None)
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.0, 200);
    }
}
