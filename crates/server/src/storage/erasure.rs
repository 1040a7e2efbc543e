//! Erasing a trainee: every row that names the user (device, verification state, sessions,
//! passes, activation code, audit events) goes in one transaction, and one audit event
//! without the user ID records that an erasure happened (docs/security.md).

use super::audit::insert_audit;
use super::{AuditEntry, BeginWrite, Result, Storage, with_pool};
use crate::audit::{AuditEvent, AuditOutcome};

/// The tables that hold a user's rows, children before their parents (devices refer to
/// users). Each has `tenant_id` and `user_id` columns.
const USER_TABLES: [&str; 7] = [
    "webhook_outbox",
    "devices",
    "sessions",
    "passes",
    "activations",
    "audit_events",
    "users",
];

/// What an erasure removed, by table (only counts: nothing that names the user).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Rows removed from each of [`USER_TABLES`], in that order.
    pub rows: [u64; 7],
}

impl Erased {
    /// Whether anything of the user was stored.
    pub fn found(&self) -> bool {
        self.rows.iter().any(|&n| n > 0)
    }

    /// The counts as the `user_erased` audit event's detail: `devices=1 sessions=2 ...`.
    pub fn detail(&self) -> String {
        USER_TABLES
            .iter()
            .zip(self.rows)
            .map(|(table, n)| format!("{table}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Storage {
    /// Deletes every row of `user_id` at `tenant_id` and, if there was any, appends one
    /// `user_erased` audit event whose user ID is empty, all in one transaction. A
    /// verification in flight finds the user gone (its compare-and-set on the version
    /// fails), so it cannot write the state back. Returns what was removed; nothing is
    /// written when nothing was found.
    pub async fn erase_user(&self, tenant_id: &str, user_id: &str, now_ms: i64) -> Result<Erased> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut erased = Erased::default();
            for (table, count) in USER_TABLES.iter().zip(erased.rows.iter_mut()) {
                *count = sqlx::query(&format!(
                    "DELETE FROM {table} WHERE tenant_id = $1 AND user_id = $2"
                ))
                .bind(tenant_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            if !erased.found() {
                return Ok(erased);
            }
            let event = AuditEntry::new(
                tenant_id,
                "",
                now_ms,
                AuditEvent::UserErased,
                AuditOutcome::Erased,
            )
            .detail(erased.detail());
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await?;
            Ok(erased)
        })
    }
}
