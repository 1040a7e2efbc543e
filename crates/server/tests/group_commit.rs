//! The group read and group commit of each database, called directly (storage/group.rs on
//! SQLite, storage/pg_group.rs on PostgreSQL): users come back in the order asked, unknown
//! ones as none; in one commit each check is written only if its user is still at the
//! version it was decided on, its audit events only with it, and lone events always.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cloud_otp_core::State;
use cloud_otp_server::audit::{AuditEvent, AuditOutcome};
use cloud_otp_server::storage::{AuditEntry, Committed, Storage, UserRecord, VerifyCommit};
use common::{Backend, TestApp};

on_both_backends!(a_batch_writes_exactly_the_checks_still_at_their_version);

async fn read(app: &TestApp, keys: &[(&str, &str)]) -> Vec<Option<UserRecord>> {
    match &app.storage {
        Storage::Postgres(pool) => Storage::pg_group_read(pool, keys).await.unwrap(),
        Storage::Sqlite(_) => {
            let mut conn = app.storage.sqlite_connection().await.unwrap().unwrap();
            Storage::group_read(&mut conn, keys).await.unwrap()
        }
    }
}

async fn commit(app: &TestApp, checks: &[VerifyCommit], audits: &[AuditEntry]) -> Vec<Committed> {
    match &app.storage {
        Storage::Postgres(pool) => Storage::pg_group_commit(pool, checks, audits)
            .await
            .unwrap(),
        Storage::Sqlite(_) => {
            let mut conn = app.storage.sqlite_connection().await.unwrap().unwrap();
            Storage::group_commit(&mut conn, checks, audits)
                .await
                .unwrap()
        }
    }
}

async fn a_batch_writes_exactly_the_checks_still_at_their_version(backend: Backend) {
    let app = TestApp::new(backend).await;
    let key = app.tenant("Acme Academy", "5678", &[]).await;
    for user in ["u1", "u2", "u3"] {
        app.register(&key, user).await;
    }
    let tenant = app
        .storage
        .tenant_by_customer_code("5678")
        .await
        .unwrap()
        .unwrap()
        .id;
    let t = tenant.as_str();
    let users = read(&app, &[(t, "u3"), (t, "nobody"), (t, "u1"), (t, "u2")]).await;
    assert!(users[1].is_none(), "an unknown user is none");
    let [u3, u1, u2] = [&users[0], &users[2], &users[3]].map(|u| u.clone().unwrap());
    for u in [&u1, &u2, &u3] {
        assert!(u.device.is_some(), "the active device comes with the user");
        assert_eq!(u.state, State::default());
    }

    let after = State {
        last_step: Some(29_000_000),
        failures: 0,
        locked: false,
    };
    let event = |user: &str, detail: &str| {
        AuditEntry::new(t, user, 1_000, AuditEvent::Check, AuditOutcome::Accepted).detail(detail)
    };
    let check = |user: &str, version: i64| VerifyCommit {
        tenant_id: tenant.clone(),
        user_id: user.into(),
        expected_version: version,
        state: after,
        spend: None,
        audit: vec![event(user, "batched")],
        now_ms: 1_000,
    };
    // u2 was decided on a version that another request has changed since.
    let checks = [
        check("u1", u1.version),
        check("u2", u2.version - 1),
        check("u3", u3.version),
    ];
    let lone = [
        AuditEntry::new(t, "u2", 1_000, AuditEvent::Check, AuditOutcome::Replayed).detail("lone"),
    ];
    let results = commit(&app, &checks, &lone).await;
    assert_eq!(
        results,
        [Committed::Done, Committed::Conflict, Committed::Done]
    );

    let users = read(&app, &[(t, "u1"), (t, "u2"), (t, "u3")]).await;
    let [n1, n2, n3] = [0, 1, 2].map(|i| users[i].clone().unwrap());
    assert_eq!((n1.state, n1.version), (after, u1.version + 1));
    assert_eq!(
        (n2.state, n2.version),
        (u2.state, u2.version),
        "u2 untouched"
    );
    assert_eq!((n3.state, n3.version), (after, u3.version + 1));
    let log = app.storage.audit_events(t, None, 0, 1_000).await.unwrap();
    let batched: Vec<&str> = log
        .iter()
        .filter(|l| l.detail.as_deref() == Some("batched"))
        .map(|l| l.user_id.as_str())
        .collect();
    assert_eq!(batched.len(), 2, "{log:?}");
    assert!(
        batched.contains(&"u1") && batched.contains(&"u3"),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.detail.as_deref() == Some("lone")),
        "{log:?}"
    );

    // The same batch again: every version has moved on (u2's still stale), nothing is written.
    let results = commit(&app, &checks, &[]).await;
    assert_eq!(results, [Committed::Conflict; 3]);
    let again = app.storage.audit_events(t, None, 0, 1_000).await.unwrap();
    assert_eq!(again.len(), log.len());
}
