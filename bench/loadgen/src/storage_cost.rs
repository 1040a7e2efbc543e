//! What a verification costs below HTTP: the server's own group read, decision (the sealed
//! secret opened, the policy's `verify_with_secret`) and group commit of `/v1/check`, run
//! back to back on two kept SQLite connections (or one), one batch at a time. It tells how
//! much of a verification's CPU is the database's, which no change to the HTTP side can
//! remove (docs/benchmarks.md, part 1).
//!
//! It spends codes: run it on a copy of a benchmark database, never on one a later load run
//! reads (bench/storage.sh copies it).

use std::path::Path;
use std::time::Instant;

use cloud_otp_core::{Outcome, Policy, verify_with_secret};
use cloud_otp_server::audit::{AuditEvent, AuditOutcome};
use cloud_otp_server::storage::{AuditEntry, Committed, Storage, VerifyCommit};
use serde::Serialize;

use crate::enroll::{EnrollError, open_tenant};
use crate::procfs::process_cpu_secs;
use crate::run::unix_secs;
use crate::workload::Accounts;

/// The batch sizes, as the server's queues formed them at 64 connections (the profile of
/// 2026-12-07: 5.0 reads and 15.3 writes a batch).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Users a group read looks up.
    pub reads: usize,
    /// Checks a group commit writes.
    pub writes: usize,
    /// Reads and writes on one connection, as a task that reads, decides and writes each
    /// batch would run them (its page cache stays warm: no other connection's commit
    /// invalidates it); otherwise a reader's and a writer's, as the server runs them now.
    pub one_connection: bool,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// Verifications read, decided and committed.
    pub verifications: u64,
    /// Of them, the ones the policy did not accept or the commit did not write (none on a
    /// healthy run: every code is fresh and correct).
    pub failed: u64,
    /// Wall seconds.
    pub secs: f64,
    /// CPU seconds of this process, its SQLite worker threads included.
    pub cpu_secs: f64,
    /// The run ended early: every user had spent both codes of the step.
    pub exhausted: bool,
    /// Verifications per wall second, one batch at a time.
    pub per_s: f64,
    /// CPU microseconds per verification.
    pub cpu_us: f64,
}

/// Reads, decides and commits verifications of `accounts` in batches of `shape` for `secs`
/// seconds, on the database of `data_dir` (its tenant `customer_code`).
pub async fn measure(
    database: Option<&str>,
    data_dir: &Path,
    customer_code: &str,
    accounts: &Accounts,
    shape: Shape,
    secs: f64,
) -> Result<Cost, EnrollError> {
    let (storage, crypto, tenant) = open_tenant(database, data_dir, customer_code).await?;
    let no_sqlite = || EnrollError::Refused("the storage cost is measured on SQLite".into());
    let mut writer = storage.sqlite_connection().await?.ok_or_else(no_sqlite)?;
    let mut second = match shape.one_connection {
        true => None,
        false => Some(storage.sqlite_connection().await?.ok_or_else(no_sqlite)?),
    };
    let policy = Policy::PRODUCT;
    let (mut verifications, mut failed, mut exhausted) = (0u64, 0u64, false);
    let cpu0 = process_cpu_secs();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        let now_secs = unix_secs();
        let now_ms = i64::try_from(now_secs * 1000).unwrap_or(i64::MAX);
        let jobs: Vec<_> = (0..shape.writes)
            .map_while(|_| accounts.pick(accounts.step_at(now_secs)))
            .collect();
        if jobs.is_empty() {
            exhausted = true;
            break;
        }
        let mut commits = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(shape.reads.max(1)) {
            let keys: Vec<(&str, &str)> = chunk
                .iter()
                .map(|j| (tenant.id.as_str(), accounts.get(j.account).id.as_str()))
                .collect();
            let reader = second.as_mut().unwrap_or(&mut writer);
            let users = Storage::group_read(reader, &keys).await?;
            for (job, user) in chunk.iter().zip(users) {
                let Some(user) = user else {
                    failed += 1;
                    continue;
                };
                let Some(device) = user.device.as_ref() else {
                    failed += 1;
                    continue;
                };
                let secret = crypto.open_secret(&device.id, &device.secret_enc)?;
                let (outcome, next) =
                    verify_with_secret(&policy, &user.state, &secret, &job.code, now_secs);
                if !matches!(outcome, Outcome::Accepted { .. }) {
                    failed += 1;
                    continue;
                }
                let user_id = &accounts.get(job.account).id;
                let audit = AuditEntry::new(
                    &tenant.id,
                    user_id,
                    now_ms,
                    AuditEvent::Check,
                    AuditOutcome::Accepted,
                )
                .device(&device.label);
                commits.push(VerifyCommit {
                    tenant_id: tenant.id.clone(),
                    user_id: user_id.clone(),
                    expected_version: user.version,
                    state: next,
                    spend: None,
                    audit: vec![audit],
                    now_ms,
                });
            }
        }
        let written = Storage::group_commit(&mut writer, &commits, &[]).await?;
        failed += written.iter().filter(|c| **c != Committed::Done).count() as u64;
        verifications += jobs.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = process_cpu_secs() - cpu0;
    storage.close().await;
    Ok(Cost {
        verifications,
        failed,
        secs,
        cpu_secs,
        exhausted,
        per_s: verifications as f64 / secs,
        cpu_us: cpu_secs * 1e6 / verifications.max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use cloud_otp_server::admin::create_tenant;
    use cloud_otp_server::validate::{CustomerCode, TenantName};

    use super::*;
    use crate::workload::read_accounts;

    /// A real SQLite database of 40 users: each spends the codes of t-1 and t, through the
    /// server's own read, decision and commit, on two connections and then on one.
    #[tokio::test]
    async fn spends_each_users_two_codes_of_the_step() {
        for one_connection in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            let storage = Storage::open(None, &data).await.unwrap();
            let name = TenantName::parse("Bench").unwrap();
            let code = CustomerCode::parse("4242").unwrap();
            let (tenant, _) = create_tenant(&storage, &name, &code, &[], 0).await.unwrap();
            let file = dir.path().join("users.tsv");
            crate::enroll::direct(None, &data, "4242", "u", 40, &file)
                .await
                .unwrap();
            let accounts = Accounts::new(read_accounts(&file).unwrap());
            let shape = Shape {
                reads: 5,
                writes: 15,
                one_connection,
            };
            let cost = measure(None, &data, "4242", &accounts, shape, 5.0)
                .await
                .unwrap();
            assert!(cost.exhausted, "{cost:?}");
            assert_eq!(cost.failed, 0, "{cost:?}");
            // Two codes each, more only if a step boundary passed during the run.
            assert!(cost.verifications >= 80, "{cost:?}");
            for i in 0..40 {
                let user = storage
                    .user(&tenant.id, &accounts.get(i).id)
                    .await
                    .unwrap()
                    .unwrap();
                assert!(user.state.last_step.is_some(), "user {i} spent no code");
                assert_eq!(user.state.failures, 0, "user {i}");
            }
            storage.close().await;
        }
    }
}
