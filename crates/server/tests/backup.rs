//! `cloud-otp backup FILE` against the real server binary on SQLite: the copy is made while
//! verifications and a lock run under load, it is private (0600), it never overwrites a
//! file, and restored into a new data directory with the same master key it holds every
//! code accepted and every lock answered before the backup began (an accepted code is still
//! refused as a replay there). On PostgreSQL the command refuses with exit status 4 and
//! points to pg_dump.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use common::Device;
use common::binary::{Served, authenticator, call, command, create_tenant, now_secs, run};
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;
use tokio::sync::Mutex;

/// Users whose right code is sent again and again: accepted once per step, then replayed.
const ACCEPTING: usize = 8;
/// Users sent only wrong codes: each is locked by its fifth.
const LOCKING: usize = 3;
/// Concurrent clients of the load.
const WORKERS: usize = 4;

/// One answered request of the load.
#[derive(Debug, Clone)]
struct Answer {
    user: String,
    code: String,
    status: u16,
    sent: Instant,
    answered: Instant,
}

fn serve(data: &Path) -> Served {
    let mut c = command(data);
    c.args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "0"]);
    Served::start(c)
}

/// Sends `/v1/check` for the users in turn until `stop`; worker `w` serves every
/// WORKERS-th user.
async fn load(
    base: String,
    key: String,
    users: Arc<Vec<(String, Device, bool)>>,
    w: usize,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
) {
    let client = reqwest::Client::new();
    let mine: Vec<_> = users.iter().skip(w).step_by(WORKERS).collect();
    while !stop.load(Ordering::SeqCst) {
        for (user, device, right) in &mine {
            let now = now_secs();
            let code = if *right {
                device.code_at(now)
            } else {
                device.wrong_code_at(now)
            };
            let body = json!({"user_id": user, "code": code});
            let sent = Instant::now();
            let (status, _) = call(
                &client,
                Method::POST,
                &format!("{base}/v1/check"),
                Some(&key),
                Some(&body),
            )
            .await
            .unwrap();
            answers.lock().await.push(Answer {
                user: user.clone(),
                code,
                status,
                sent,
                answered: Instant::now(),
            });
        }
    }
}

async fn integrity(path: &Path) -> String {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}?mode=ro", path.display()))
        .await
        .unwrap();
    let answer: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_every_accepted_code_and_lock() {
    let data = tempfile::tempdir().unwrap();
    let (key, _) = create_tenant(command(data.path()), "Acme Academy", "5678", &[]);
    let server = serve(data.path());
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for i in 0..ACCEPTING + LOCKING {
        let name = format!("trainee-{i}");
        let (device, _) = authenticator(&client, &server.base, &key, &name).await;
        users.push((name, device, i < ACCEPTING));
    }
    let users = Arc::new(users);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            tokio::spawn(load(
                server.base.clone(),
                key.clone(),
                users.clone(),
                w,
                stop.clone(),
                answers.clone(),
            ))
        })
        .collect();
    // The backup starts once every locking user is locked and some codes were accepted.
    loop {
        let seen = answers.lock().await.clone();
        let locked = seen.iter().filter(|a| a.status == 423).count();
        let accepted = seen.iter().filter(|a| a.status == 200).count();
        if locked >= LOCKING * 2 && accepted >= ACCEPTING {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let copy = data.path().join("copy.db");
    let began = Instant::now();
    let backup = {
        let mut c = command(data.path());
        c.arg("backup").arg(&copy);
        tokio::task::spawn_blocking(move || run(c)).await.unwrap()
    };
    let ended = Instant::now();
    // Let the load go on after the backup, then stop it.
    let count = answers.lock().await.len();
    while answers.lock().await.len() < count + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let (ok, stdout, stderr) = backup;
    assert!(ok, "backup failed: {stdout}{stderr}");
    assert!(stdout.contains("Backed up the database"), "{stdout}");
    let answers = answers.lock().await.clone();
    assert!(
        answers.iter().any(|a| a.sent < ended && a.answered > began),
        "no request was in flight while the backup ran"
    );
    assert!(
        answers
            .iter()
            .all(|a| [200, 409, 401, 423].contains(&a.status))
    );

    // The copy: private, sound, and never overwritten.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(integrity(&copy).await, "ok");
    let before = std::fs::read(&copy).unwrap();
    let mut again = command(data.path());
    again.arg("backup").arg(&copy);
    let (ok, _, stderr) = run(again);
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(&copy).unwrap(), before);

    // Restore: the copy as the database of a new data directory, with the same master key.
    let restored = tempfile::tempdir().unwrap();
    let dir = restored.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(data.path().join("master.key"), dir.join("master.key")).unwrap();
    std::fs::copy(&copy, dir.join("cloud-otp.db")).unwrap();
    let second = serve(&dir);

    let accepted: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == 200 && a.answered < began)
        .collect();
    assert!(accepted.len() >= ACCEPTING);
    for a in &accepted {
        let body = json!({"user_id": a.user, "code": a.code});
        let (status, answer) = call(
            &client,
            Method::POST,
            &second.url("/v1/check"),
            Some(&key),
            Some(&body),
        )
        .await
        .unwrap();
        assert_eq!(
            (status, &answer["error"]),
            (409, &json!("replayed")),
            "{} accepted {} before the backup; the restored server said {answer}",
            a.user,
            a.code
        );
    }
    for (user, _, right) in users.iter() {
        let (_, view) = call(
            &client,
            Method::GET,
            &second.url(&format!("/v1/users/{user}")),
            Some(&key),
            None,
        )
        .await
        .unwrap();
        let locked_before = answers
            .iter()
            .any(|a| &a.user == user && a.status == 423 && a.answered < began);
        if locked_before {
            assert_eq!(view["status"], "locked", "{user}: {view}");
        }
        if *right {
            assert_eq!(view["status"], "active", "{user}: {view}");
        }
    }
    let (_, audit) = call(
        &client,
        Method::GET,
        &second.url("/v1/audit?limit=1000"),
        Some(&key),
        None,
    )
    .await
    .unwrap();
    let events = audit["events"].as_array().unwrap();
    for a in &accepted {
        assert!(
            events.iter().any(|e| e["user_id"] == a.user.as_str()
                && e["event"] == "check"
                && e["outcome"] == "accepted"),
            "{} has no accepted check in the restored audit log",
            a.user
        );
    }
}

/// On PostgreSQL the command refuses before connecting, with exit status 4, names pg_dump,
/// creates no file and never prints the URL (it may carry a password).
#[test]
fn backup_on_postgres_points_to_pg_dump() {
    let data = tempfile::tempdir().unwrap();
    let target = data.path().join("copy.db");
    let mut c = command(data.path());
    c.arg("backup")
        .arg(&target)
        .args(["--database", "postgres://otp:s3cret-pw@127.0.0.1:9/otp"]);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    assert!(!target.exists());
}

/// Without a database there is nothing to copy: an error, and no empty database is made.
#[test]
fn backup_without_a_database_creates_none() {
    let data = tempfile::tempdir().unwrap();
    let mut c = command(data.path());
    c.arg("backup").arg(data.path().join("copy.db"));
    let (ok, _, stderr) = run(c);
    assert!(!ok && stderr.contains("no database at"), "{stderr}");
    assert!(!data.path().join("cloud-otp.db").exists());
    assert!(!data.path().join("copy.db").exists());
}
