//! Audit retention and export, on both databases: old events go in batches of at most the
//! round's size, recent ones stay, each institution's own setting (or the server's) is
//! respected, and the background loop follows the clock it is given; `cloud-otp audit
//! export` filters by institution, user and time range, and its CSV parses back into the
//! same rows as its JSON lines and the database hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use cloud_otp_server::audit::{AuditEvent, AuditOutcome};
use cloud_otp_server::clock::{ManualClock, rfc3339};
use cloud_otp_server::retention::{Retention, purge_round, run};
use cloud_otp_server::storage::{AuditEntry, AuditLine, Storage};
use cloud_otp_server::validate::{CustomerCode, TenantName};
use common::Backend;
use serde_json::{Value, json};

on_both_backends!(
    retention_deletes_old_events_in_batches_per_institution,
    export_filters_and_its_csv_parses_back,
);

const DAY: i64 = 24 * 60 * 60 * 1000;
const NOW: i64 = common::T0_MS as i64;

/// A database of `backend`, its URL for the binary, and the directory that holds it.
async fn database(backend: Backend) -> (Storage, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite:{}", dir.path().join("test.db").display()),
        Backend::Postgres => common::pg_database().await,
    };
    (Storage::connect(&url).await.unwrap(), url, dir)
}

async fn tenant(storage: &Storage, name: &str, code: &str) -> String {
    let (t, _) = cloud_otp_server::admin::create_tenant(
        storage,
        &TenantName::parse(name).unwrap(),
        &CustomerCode::parse(code).unwrap(),
        &[],
        0,
    )
    .await
    .unwrap();
    t.id
}

async fn event(storage: &Storage, tenant: &str, user: &str, at_ms: i64) {
    let e = AuditEntry::new(
        tenant,
        user,
        at_ms,
        AuditEvent::Check,
        AuditOutcome::Accepted,
    );
    storage.audit(&e).await.unwrap();
}

async fn count(storage: &Storage, tenant: &str, user: &str) -> usize {
    storage
        .audit_events(tenant, Some(user), i64::MIN, 100_000)
        .await
        .unwrap()
        .len()
}

async fn retention_deletes_old_events_in_batches_per_institution(backend: Backend) {
    let (storage, _, _dir) = database(backend).await;
    // A follows the server (60 days), B keeps 30 days, C forever.
    let a = tenant(&storage, "Academy A", "1111").await;
    let b = tenant(&storage, "Academy B", "2222").await;
    let c = tenant(&storage, "Academy C", "3333").await;
    assert!(storage.set_audit_retention(&b, Some(30)).await.unwrap());
    assert!(storage.set_audit_retention(&c, Some(0)).await.unwrap());
    for t in [&a, &b, &c] {
        for days in [100, 40, 10, 1] {
            event(&storage, t, &format!("d{days}"), NOW - days * DAY).await;
        }
    }
    // Many old events of A, more than one round may delete.
    for i in 0..1_200 {
        event(&storage, &a, "bulk", NOW - 90 * DAY + i).await;
    }

    let first = purge_round(&storage, NOW, 60, 1_000).await.unwrap();
    assert_eq!(first, 1_000, "one round deletes at most its batch");
    let mut rounds = 1;
    while purge_round(&storage, NOW, 60, 1_000).await.unwrap() > 0 {
        rounds += 1;
    }
    assert_eq!(rounds, 2);
    assert_eq!(count(&storage, &a, "bulk").await, 0);
    let kept = |t: &str, days: &[i64]| {
        let storage = storage.clone();
        let t = t.to_owned();
        let days = days.to_vec();
        async move {
            let mut out = Vec::new();
            for d in [100, 40, 10, 1] {
                if count(&storage, &t, &format!("d{d}")).await == 1 {
                    out.push(d);
                }
            }
            assert_eq!(out, days, "tenant {t}");
        }
    };
    kept(&a, &[40, 10, 1]).await;
    kept(&b, &[10, 1]).await;
    kept(&c, &[100, 40, 10, 1]).await;

    // B back on the server's 60 days: nothing more goes; a server keeping forever deletes
    // nothing at all.
    assert!(storage.set_audit_retention(&b, None).await.unwrap());
    assert_eq!(purge_round(&storage, NOW, 60, 1_000).await.unwrap(), 0);
    assert_eq!(
        purge_round(&storage, NOW + 1_000 * DAY, 0, 1_000)
            .await
            .unwrap(),
        0
    );
    kept(&b, &[10, 1]).await;

    // The background loop on a settable clock: 35 days later A's and B's 40- and 10-day-old
    // events are past 60 days; C keeps everything.
    let clock = ManualClock::new(u64::try_from(NOW).unwrap());
    let pacing = Retention {
        server_days: 60,
        batch: 1_000,
        pause: Duration::from_millis(5),
        every: Duration::from_millis(5),
    };
    let task = tokio::spawn(run(storage.clone(), Arc::new(clock.clone()), pacing));
    tokio::time::sleep(Duration::from_millis(100)).await;
    kept(&a, &[40, 10, 1]).await;
    clock.advance(u64::try_from(55 * DAY).unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(&storage, &a, "d10").await > 0 || count(&storage, &b, "d10").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the loop deleted nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kept(&a, &[1]).await;
    kept(&b, &[1]).await;
    kept(&c, &[100, 40, 10, 1]).await;
    task.abort();
}

/// Runs `cloud-otp audit export` on `url`; returns stdout (the command must succeed).
fn export(url: &str, args: &[&str]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut c = common::binary::command(data.path());
    c.args(["audit", "export", "--database", url]).args(args);
    let (ok, stdout, stderr) = common::binary::run(c);
    assert!(ok, "audit export {args:?} failed: {stderr}");
    stdout
}

/// An event as the export's JSON lines show it.
fn as_json(e: &AuditLine) -> Value {
    json!({
        "at": rfc3339(e.at_ms),
        "user_id": if e.user_id.is_empty() { Value::Null } else { json!(e.user_id) },
        "event": e.event,
        "outcome": e.outcome,
        "device_label": e.device_label,
        "detail": e.detail,
    })
}

/// An event as the export's CSV shows it.
fn as_csv(e: &AuditLine) -> Vec<String> {
    vec![
        rfc3339(e.at_ms),
        e.user_id.clone(),
        e.event.clone(),
        e.outcome.clone(),
        e.device_label.clone().unwrap_or_default(),
        e.detail.clone().unwrap_or_default(),
    ]
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

async fn export_filters_and_its_csv_parses_back(backend: Backend) {
    let (storage, url, _dir) = database(backend).await;
    let a = tenant(&storage, "Academy A", "1111").await;
    let b = tenant(&storage, "Academy B", "2222").await;
    // Values that need quoting: commas, quotes, a line break, non-ASCII.
    let tricky = AuditEntry::new(
        &a,
        "u1",
        NOW + 2_000,
        AuditEvent::Verify,
        AuditOutcome::Accepted,
    )
    .device("Chrome, \"beta\" on\nWindows")
    .detail("purpose=시험, \"final\"");
    storage.audit(&tricky).await.unwrap();
    event(&storage, &a, "u1", NOW).await;
    event(&storage, &a, "u2", NOW + 1_000).await;
    event(&storage, &a, "u1", NOW + 3_000).await;
    event(&storage, &a, "u2", NOW + 4_000).await;
    storage.erase_user(&a, "gone", NOW).await.unwrap();
    event(&storage, &a, "gone", NOW + 5_000).await;
    storage.erase_user(&a, "gone", NOW + 6_000).await.unwrap();
    event(&storage, &b, "u1", NOW + 2_500).await;
    let all = storage
        .audit_events(&a, None, i64::MIN, 1_000)
        .await
        .unwrap();
    assert_eq!(all.len(), 6, "{all:?}");

    // Everything of A, as CSV and as JSON lines: the same rows, in order; nothing of B.
    let csv = export(&url, &["--tenant", "1111", "--format", "csv"]);
    let (header, rows) = parse_csv(&csv);
    assert_eq!(
        header,
        [
            "at",
            "user_id",
            "event",
            "outcome",
            "device_label",
            "detail"
        ]
    );
    assert_eq!(rows, all.iter().map(as_csv).collect::<Vec<_>>());
    let jsonl = export(&url, &["--customer-code", "1111", "--format", "jsonl"]);
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, all.iter().map(as_json).collect::<Vec<_>>());
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "user_erased" && l["user_id"].is_null())
    );

    // By user, and by time: --since inclusive, --until exclusive.
    let u1: Vec<Vec<String>> = all
        .iter()
        .filter(|e| e.user_id == "u1")
        .map(as_csv)
        .collect();
    assert_eq!(u1.len(), 3);
    let (_, rows) = parse_csv(&export(
        &url,
        &["--tenant", "1111", "--user", "u1", "--format", "csv"],
    ));
    assert_eq!(rows, u1);
    let since = rfc3339(NOW + 1_000);
    let until = rfc3339(NOW + 4_000);
    let window: Vec<Vec<String>> = all
        .iter()
        .filter(|e| e.at_ms >= NOW + 1_000 && e.at_ms < NOW + 4_000)
        .map(as_csv)
        .collect();
    assert_eq!(window.len(), 3);
    let (_, rows) = parse_csv(&export(
        &url,
        &[
            "--tenant", "1111", "--since", &since, "--until", &until, "--format", "csv",
        ],
    ));
    assert_eq!(rows, window);
    let (_, rows) = parse_csv(&export(
        &url,
        &[
            "--tenant", "1111", "--user", "u2", "--since", &since, "--until", &until, "--format",
            "csv",
        ],
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][1], "u2");
    // B sees only its own event.
    let (_, rows) = parse_csv(&export(&url, &["--tenant", "2222", "--format", "csv"]));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], rfc3339(NOW + 2_500));
    // An empty selection is a header alone.
    let empty = export(
        &url,
        &["--tenant", "1111", "--user", "nobody", "--format", "csv"],
    );
    assert_eq!(empty, "at,user_id,event,outcome,device_label,detail\n");

    // Wrong arguments: a clear error.
    let data = tempfile::tempdir().unwrap();
    let mut c = common::binary::command(data.path());
    c.args(["audit", "export", "--database", &url, "--tenant", "1111"])
        .args(["--since", "yesterday", "--format", "csv"]);
    let (ok, _, stderr) = common::binary::run(c);
    assert!(
        !ok && stderr.contains("--since must be an RFC 3339 time"),
        "{stderr}"
    );
}

/// More events than one page of the export (1,000): all come out, once, in order.
#[tokio::test(flavor = "multi_thread")]
async fn export_reads_past_one_page() {
    let (storage, url, _dir) = database(Backend::Sqlite).await;
    let a = tenant(&storage, "Academy A", "1111").await;
    for i in 0..2_345 {
        event(&storage, &a, &format!("u{}", i % 7), NOW + i).await;
    }
    let jsonl = export(&url, &["--tenant", "1111", "--format", "jsonl"]);
    let ats: Vec<String> = jsonl
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["at"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..2_345).map(|i| rfc3339(NOW + i)).collect();
    assert_eq!(ats, expected);
}

/// The operator's side through the real binary: `tenant audit-retention` stores the
/// institution's setting, and `serve --audit-retention-days` deletes old events in the
/// background while serving.
#[tokio::test(flavor = "multi_thread")]
async fn retention_commands_and_the_serve_option() {
    use common::binary::{Served, command, create_tenant, run};
    let data = tempfile::tempdir().unwrap();
    create_tenant(command(data.path()), "Acme Academy", "5678", &[]);
    let retention = |args: &[&str]| {
        let mut c = command(data.path());
        c.args(["tenant", "audit-retention", "--tenant", "5678"])
            .args(args);
        run(c)
    };
    let (ok, stdout, stderr) = retention(&["--days", "7"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("are kept: 7 days"), "{stdout}");
    let (ok, _, stderr) = retention(&[]);
    assert!(!ok && stderr.contains("--days N"), "{stderr}");
    let storage = Storage::sqlite_file(&data.path().join("cloud-otp.db"))
        .await
        .unwrap();
    let settings = storage.audit_retentions().await.unwrap();
    assert_eq!(settings.len(), 1);
    assert_eq!(settings[0].1, Some(7));
    let (ok, stdout, _) = retention(&["--server-default"]);
    assert!(
        ok && stdout.contains("the server's --audit-retention-days"),
        "{stdout}"
    );
    let tenant_id = settings[0].0.clone();
    assert_eq!(storage.audit_retentions().await.unwrap()[0].1, None);

    // An event of 3 days ago and one of now; the server keeps 2 days.
    let now = i64::try_from(common::binary::now_secs()).unwrap() * 1000;
    event(&storage, &tenant_id, "old", now - 3 * DAY).await;
    event(&storage, &tenant_id, "new", now).await;
    let mut serve = command(data.path());
    serve.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--audit-retention-days",
        "2",
    ]);
    let _server = Served::start(serve);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(&storage, &tenant_id, "old").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server deleted nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&storage, &tenant_id, "new").await, 1);
    storage.close().await;
}
