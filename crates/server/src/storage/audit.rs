//! The audit log: appending events and reading a tenant's events back.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Row;

use super::{AuditEntry, AuditLine, BeginWrite, Result, Storage, with_pool};
use crate::ids::random_bytes;

/// Orders audit ids written by this process within one millisecond.
static AUDIT_SEQ: AtomicU32 = AtomicU32::new(0);

/// Random bits drawn once per process: they keep apart the ids of server processes that
/// share a PostgreSQL database. Once, not per event, because the sequence already keeps this
/// process's ids apart, and a draw per event was a system call per verification.
static PROCESS_TAG: OnceLock<String> = OnceLock::new();

/// A time-ordered, unique audit id: time, a per-process sequence, the process's random tag.
pub(super) fn audit_id(at_ms: i64) -> String {
    let seq = AUDIT_SEQ.fetch_add(1, Ordering::Relaxed);
    let tag = PROCESS_TAG.get_or_init(|| hex::encode(random_bytes(4).as_slice()));
    format!("{:016x}{seq:08x}{tag}", at_ms.max(0))
}

/// Reads an [`AuditLine`] of `tenant_id` from a row of either backend that has the columns
/// `user_id, at_ms, event, outcome, device_label, detail`.
pub(super) trait AuditRow {
    /// The event of this row.
    fn audit_line(&self, tenant_id: &str) -> Result<AuditLine>;
}

macro_rules! impl_audit_row {
    ($row:ty) => {
        impl AuditRow for $row {
            fn audit_line(&self, tenant_id: &str) -> Result<AuditLine> {
                Ok(AuditLine {
                    tenant_id: tenant_id.to_owned(),
                    user_id: self.try_get("user_id")?,
                    at_ms: self.try_get("at_ms")?,
                    event: self.try_get("event")?,
                    outcome: self.try_get("outcome")?,
                    device_label: self.try_get("device_label")?,
                    detail: self.try_get("detail")?,
                })
            }
        }
    };
}
impl_audit_row!(sqlx::sqlite::SqliteRow);
impl_audit_row!(sqlx::postgres::PgRow);

impl Storage {
    /// Appends one audit event.
    pub async fn audit(&self, event: &AuditEntry) -> Result<()> {
        if event.event.webhook_type(event.outcome).is_none() {
            with_pool!(self, |pool| insert_audit!(pool, event))?;
            return Ok(());
        }
        // A webhook event (a replay): the audit line and the outbox row in one transaction.
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            insert_audit!(&mut *tx, event)?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// A tenant's audit events at or after `since_ms`, oldest first, optionally of one user.
    pub async fn audit_events(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<AuditLine>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT user_id, at_ms, event, outcome, device_label, detail FROM audit_events \
                 WHERE tenant_id = $1 AND at_ms >= $2 AND ($3 = '' OR user_id = $3) \
                 ORDER BY id LIMIT $4",
            )
            .bind(tenant_id)
            .bind(since_ms)
            .bind(user_id.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| row.audit_line(tenant_id)).collect()
        })
    }
}

/// Inserts one audit event through an executor of either backend, and the webhook outbox
/// rows it is reported as (`insert_outbox!`; none for most events, which run no second
/// statement). Callers pass a transaction when the event is a webhook event, so both commit
/// together. A macro rather than a generic function: sqlx's generic executor bounds make the
/// futures of the callers lose `Send`, which axum handlers need.
macro_rules! insert_audit {
    ($executor:expr, $e:expr) => {{
        let e: &$crate::storage::AuditEntry = $e;
        let audited = sqlx::query(
            "INSERT INTO audit_events (id, tenant_id, user_id, at_ms, event, outcome, device_label, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($crate::storage::audit::audit_id(e.at_ms))
        .bind(&e.tenant_id)
        .bind(&e.user_id)
        .bind(e.at_ms)
        .bind(e.event.as_str())
        .bind(e.outcome.as_str())
        .bind(&e.device_label)
        .bind(&e.detail)
        .execute($executor)
        .await
        .map(drop);
        match audited {
            Ok(()) => $crate::storage::webhooks::insert_outbox!($executor, e),
            Err(e) => Err(e),
        }
    }};
}
pub(super) use insert_audit;
