//! Audit retention and export: each institution's retention setting, the deletion of old
//! audit events in small batches, and the institution's events read page by page for export.

use sqlx::Row;

use super::audit::AuditRow;
use super::{AuditLine, Result, Storage, StorageError, with_pool};

/// One page of an export: the events and the id to continue after.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    /// The events, oldest first.
    pub lines: Vec<AuditLine>,
    /// The id of the last one, to pass as `after_id` for the next page; `None` at the end.
    pub next: Option<String>,
}

/// The ids of audit events start with the time in 16 hexadecimal digits: every id below
/// this one is of an event before `ms`.
fn id_before(ms: i64) -> String {
    format!("{:016x}", ms.max(0))
}

impl Storage {
    /// Sets an institution's audit retention: `None` follows the server's setting, `Some(0)`
    /// keeps forever, `Some(n)` keeps n days. `false` if there is no such institution.
    pub async fn set_audit_retention(&self, tenant_id: &str, days: Option<u32>) -> Result<bool> {
        let days = days.map(i64::from);
        with_pool!(self, |pool| {
            let n = sqlx::query("UPDATE tenants SET audit_retention_days = $1 WHERE id = $2")
                .bind(days)
                .bind(tenant_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
    }

    /// Every institution's id and its own retention setting (see
    /// [`Storage::set_audit_retention`]).
    pub async fn audit_retentions(&self) -> Result<Vec<(String, Option<u32>)>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT id, audit_retention_days FROM tenants ORDER BY id")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let days: Option<i32> = row.try_get("audit_retention_days")?;
                    let days = days
                        .map(u32::try_from)
                        .transpose()
                        .map_err(|_| StorageError::Corrupt("audit_retention_days"))?;
                    Ok((row.try_get("id")?, days))
                })
                .collect()
        })
    }

    /// Deletes at most `max_rows` of the oldest audit events of `tenant_id` from before
    /// `before_ms`; returns how many. A short statement on the (tenant, id) index, so the
    /// writers of verifications wait for it at most a moment.
    pub async fn purge_audit(&self, tenant_id: &str, before_ms: i64, max_rows: i64) -> Result<u64> {
        with_pool!(self, |pool| {
            let n = sqlx::query(
                "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events \
                 WHERE tenant_id = $1 AND id < $2 AND at_ms < $3 ORDER BY id LIMIT $4)",
            )
            .bind(tenant_id)
            .bind(id_before(before_ms))
            .bind(before_ms)
            .bind(max_rows)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n)
        })
    }

    /// A page of an institution's audit events at or after `since_ms` and before
    /// `until_ms`, optionally of one user, oldest first, after the event `after_id` (the
    /// previous page's [`AuditPage::next`]).
    pub async fn audit_page(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        since_ms: i64,
        until_ms: i64,
        after_id: Option<&str>,
        limit: i64,
    ) -> Result<AuditPage> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, user_id, at_ms, event, outcome, device_label, detail \
                 FROM audit_events WHERE tenant_id = $1 AND id > $2 \
                 AND at_ms >= $3 AND at_ms < $4 AND ($5 = '' OR user_id = $5) \
                 ORDER BY id LIMIT $6",
            )
            .bind(tenant_id)
            .bind(after_id.unwrap_or(""))
            .bind(since_ms)
            .bind(until_ms)
            .bind(user_id.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut page = AuditPage::default();
            for row in &rows {
                page.next = Some(row.try_get("id")?);
                page.lines.push(row.audit_line(tenant_id)?);
            }
            if rows.len() < usize::try_from(limit).unwrap_or(usize::MAX) {
                page.next = None;
            }
            Ok(page)
        })
    }
}
