//! Audit retention: old audit events are deleted in the background, in small batches with a
//! pause between them, so the writers of verifications never wait long. Each institution
//! keeps its events for its own setting (`tenant audit-retention`) or, without one, the
//! server's `--audit-retention-days`; 0 keeps them forever. The loop reads the time from the
//! clock it is given, so tests drive it with a settable one.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, db_ms};
use crate::storage::{Storage, StorageError};

/// One day in milliseconds.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How the background deletion runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days the server keeps audit events of institutions without a setting of their own;
    /// 0 keeps them forever.
    pub server_days: u32,
    /// The most events one round deletes (one short statement per institution).
    pub batch: i64,
    /// The pause between rounds while old events remain.
    pub pause: Duration,
    /// The pause once no old events remain, before looking again.
    pub every: Duration,
}

impl Retention {
    /// The server's settings: rounds of at most 1,000 events, 200 ms apart; a new look every
    /// 10 minutes.
    pub fn new(server_days: u32) -> Self {
        Retention {
            server_days,
            batch: 1_000,
            pause: Duration::from_millis(200),
            every: Duration::from_secs(600),
        }
    }
}

/// The days an institution's events are kept: its own setting, else the server's; 0 is
/// forever.
pub fn effective_days(own: Option<u32>, server_days: u32) -> u32 {
    own.unwrap_or(server_days)
}

/// One round at `now_ms`: deletes at most `batch` events in all, the oldest of each
/// institution whose retention has passed; returns how many were deleted.
pub async fn purge_round(
    storage: &Storage,
    now_ms: i64,
    server_days: u32,
    batch: i64,
) -> Result<u64, StorageError> {
    let mut left = batch;
    let mut deleted = 0;
    for (tenant_id, own) in storage.audit_retentions().await? {
        let days = effective_days(own, server_days);
        if days == 0 || left <= 0 {
            continue;
        }
        let before = now_ms.saturating_sub(i64::from(days).saturating_mul(DAY_MS));
        let n = storage.purge_audit(&tenant_id, before, left).await?;
        deleted += n;
        left -= i64::try_from(n).unwrap_or(i64::MAX);
    }
    Ok(deleted)
}

/// Runs rounds until the storage closes: full rounds follow each other after `pause`, and
/// after a round that found less than a batch the loop waits `every`.
pub async fn run(storage: Storage, clock: Arc<dyn Clock>, retention: Retention) {
    loop {
        if storage.is_closed() {
            return;
        }
        let now = db_ms(clock.now_ms());
        let wait = match purge_round(&storage, now, retention.server_days, retention.batch).await {
            Ok(n) if i64::try_from(n).unwrap_or(i64::MAX) >= retention.batch => retention.pause,
            Ok(n) => {
                if n > 0 {
                    tracing::info!(deleted = n, "old audit events deleted");
                }
                retention.every
            }
            Err(e) => {
                if !storage.is_closed() {
                    tracing::warn!(error = %e, "deleting old audit events failed");
                }
                retention.every
            }
        };
        tokio::time::sleep(wait).await;
    }
}
