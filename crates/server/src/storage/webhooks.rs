//! Webhooks: an institution's receiver and signing secret, and the outbox of events to
//! deliver. Outbox rows are written by the transactions that make the changes they report
//! (`insert_outbox!`, called by `insert_audit!` for the audit events that are webhook events,
//! and the group commit in `group`), and only when the institution has a webhook; the
//! delivery worker (`crate::webhooks`) claims, deletes and reschedules them here.

use serde_json::json;
use sqlx::Row;

use super::audit::audit_id;
use super::{AuditEntry, BeginWrite, Result, Storage, StorageError, with_pool};
use crate::audit::AuditEvent;
use crate::clock::rfc3339;

/// An institution's webhook, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Where events are posted.
    pub url: String,
    /// When it was set.
    pub created_ms: i64,
}

/// The state of an institution's outbox, for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events waiting for (another) delivery attempt.
    pub pending: i64,
    /// Events whose attempts ran out.
    pub dead: i64,
    /// The last delivery error of any event still in the outbox.
    pub last_error: Option<String>,
}

/// An event due for delivery, with its institution's receiver.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// The event id (also in the body), for the receiver's deduplication.
    pub id: String,
    /// The institution.
    pub tenant_id: String,
    /// The JSON body, fixed when the change was made.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// When it became due; a claim checks it is unchanged.
    pub next_attempt_ms: i64,
    /// When the change it reports was made.
    pub created_ms: i64,
    /// The receiver.
    pub url: String,
    /// The sealed signing secret.
    pub secret_enc: String,
}

/// One outbox row to write: id, tenant, user, event type, body, time.
pub(super) type OutboxRow = (String, String, String, &'static str, String, i64);

/// The webhook events an audit event is reported as: its own type, and `activation.used`
/// for a registration made with an activation code. Events without a user (none today) are
/// not reported.
pub(super) fn outbox_rows(e: &AuditEntry) -> Vec<OutboxRow> {
    let Some(kind) = e.event.webhook_type(e.outcome) else {
        return Vec::new();
    };
    if e.user_id.is_empty() {
        return Vec::new();
    }
    let registered = matches!(
        e.event,
        AuditEvent::DeviceRegistered | AuditEvent::DeviceReplaced | AuditEvent::DeviceReregistered
    );
    let by_activation = registered
        && e.detail
            .as_deref()
            .is_some_and(|d| d.contains("via=activation"));
    let kinds: &[&'static str] = if by_activation {
        &[kind, "activation.used"]
    } else {
        &[kind]
    };
    kinds
        .iter()
        .map(|&kind| {
            let id = audit_id(e.at_ms);
            let body = json!({
                "id": id,
                "type": kind,
                "created_at": rfc3339(e.at_ms),
                "user_id": e.user_id,
                "device_label": e.device_label,
                "detail": e.detail,
            })
            .to_string();
            (
                id,
                e.tenant_id.clone(),
                e.user_id.clone(),
                kind,
                body,
                e.at_ms,
            )
        })
        .collect()
}

/// Writes the outbox rows of one audit event through an executor of either backend (inside
/// the transaction of the change), each only if the institution has a webhook. Nothing runs
/// for audit events that are not webhook events, so a verification's write costs nothing
/// more unless a lock or a replay happens.
macro_rules! insert_outbox {
    ($executor:expr, $e:expr) => {{
        let mut done: std::result::Result<(), sqlx::Error> = Ok(());
        for (id, tenant, user, kind, body, at) in $crate::storage::webhooks::outbox_rows($e) {
            done = sqlx::query(
                "INSERT INTO webhook_outbox (id, tenant_id, user_id, event, body, created_ms, \
                 attempts, next_attempt_ms, dead) \
                 SELECT $1, $2, $3, $4, $5, $6, 0, $6, FALSE \
                 WHERE EXISTS (SELECT 1 FROM webhooks WHERE tenant_id = $2)",
            )
            .bind(id)
            .bind(tenant)
            .bind(user)
            .bind(kind)
            .bind(body)
            .bind(at)
            .execute($executor)
            .await
            .map(drop);
            if done.is_err() {
                break;
            }
        }
        done
    }};
}
pub(crate) use insert_outbox;

impl Storage {
    /// Sets (or replaces) an institution's webhook; pending events go to the new URL.
    pub async fn put_webhook(
        &self,
        tenant_id: &str,
        url: &str,
        secret_enc: &str,
        now_ms: i64,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO webhooks (tenant_id, url, secret_enc, created_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
                 url = excluded.url, secret_enc = excluded.secret_enc, created_ms = excluded.created_ms",
            )
            .bind(tenant_id)
            .bind(url)
            .bind(secret_enc)
            .bind(now_ms)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Removes an institution's webhook and drops its undelivered events; `false` if it had
    /// none.
    pub async fn delete_webhook(&self, tenant_id: &str) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1")
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM webhook_outbox WHERE tenant_id = $1")
                .bind(tenant_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    /// An institution's webhook.
    pub async fn webhook(&self, tenant_id: &str) -> Result<Option<WebhookRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT url, created_ms FROM webhooks WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(WebhookRecord {
                    url: row.try_get("url")?,
                    created_ms: row.try_get("created_ms")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// How many of an institution's events wait and how many are dead.
    pub async fn webhook_stats(&self, tenant_id: &str) -> Result<WebhookStats> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT dead, COUNT(*) AS n FROM webhook_outbox WHERE tenant_id = $1 GROUP BY dead",
            )
            .bind(tenant_id)
            .fetch_all(pool)
            .await?;
            let mut stats = WebhookStats::default();
            for row in &rows {
                let dead: bool = row.try_get("dead")?;
                let n: i64 = row.try_get("n")?;
                if dead {
                    stats.dead = n;
                } else {
                    stats.pending = n;
                }
            }
            stats.last_error = sqlx::query_scalar(
                "SELECT last_error FROM webhook_outbox WHERE tenant_id = $1 \
                 AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
            )
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?;
            Ok(stats)
        })
    }

    /// Makes an institution's dead events due again, with fresh attempts; returns how many.
    pub async fn retry_dead_webhooks(&self, tenant_id: &str, now_ms: i64) -> Result<u64> {
        with_pool!(self, |pool| {
            Ok(sqlx::query(
                "UPDATE webhook_outbox SET dead = FALSE, attempts = 0, next_attempt_ms = $1 \
                 WHERE tenant_id = $2 AND dead = TRUE",
            )
            .bind(now_ms)
            .bind(tenant_id)
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Events due at `now_ms`, oldest first, with their receivers.
    pub async fn due_webhooks(&self, now_ms: i64, limit: i64) -> Result<Vec<OutboxItem>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT o.id, o.tenant_id, o.body, o.attempts, o.next_attempt_ms, o.created_ms, \
                 w.url, w.secret_enc \
                 FROM webhook_outbox o JOIN webhooks w ON w.tenant_id = o.tenant_id \
                 WHERE o.dead = FALSE AND o.next_attempt_ms <= $1 \
                 ORDER BY o.next_attempt_ms, o.id LIMIT $2",
            )
            .bind(now_ms)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(OutboxItem {
                        id: r.try_get("id")?,
                        tenant_id: r.try_get("tenant_id")?,
                        body: r.try_get("body")?,
                        attempts: r.try_get("attempts")?,
                        next_attempt_ms: r.try_get("next_attempt_ms")?,
                        created_ms: r.try_get("created_ms")?,
                        url: r.try_get("url")?,
                        secret_enc: r.try_get("secret_enc")?,
                    })
                })
                .collect()
        })
    }

    /// Claims an event for one delivery attempt until `lease_until_ms`, if no other worker
    /// (another server on the same PostgreSQL) claimed it since it was read. A worker that
    /// dies mid-delivery leaves the claim to expire, and the event is delivered again.
    pub async fn claim_webhook(&self, item: &OutboxItem, lease_until_ms: i64) -> Result<bool> {
        with_pool!(self, |pool| {
            let n = sqlx::query(
                "UPDATE webhook_outbox SET next_attempt_ms = $1 \
                 WHERE id = $2 AND next_attempt_ms = $3 AND dead = FALSE",
            )
            .bind(lease_until_ms)
            .bind(&item.id)
            .bind(item.next_attempt_ms)
            .execute(pool)
            .await?
            .rows_affected();
            Ok(n == 1)
        })
    }

    /// A delivered event leaves the outbox.
    pub async fn webhook_delivered(&self, id: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM webhook_outbox WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// A failed attempt: counted, and the event is due again at `next_ms`, or dead.
    pub async fn webhook_failed(
        &self,
        id: &str,
        attempts: i64,
        next_ms: i64,
        dead: bool,
        error: &str,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE webhook_outbox SET attempts = $1, next_attempt_ms = $2, dead = $3, \
                 last_error = $4 WHERE id = $5",
            )
            .bind(attempts)
            .bind(next_ms)
            .bind(dead)
            .bind(error)
            .bind(id)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Deletes dead events created before `before_ms` (their retention is over); returns how
    /// many.
    pub async fn prune_dead_webhooks(&self, before_ms: i64) -> Result<u64> {
        with_pool!(self, |pool| {
            Ok(
                sqlx::query("DELETE FROM webhook_outbox WHERE dead = TRUE AND created_ms < $1")
                    .bind(before_ms)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            )
        })
    }

    /// Every institution's sealed webhook secret, `(tenant id, secret_enc)`, for the
    /// master-key rotation (a row per institution with a webhook: few).
    pub async fn sealed_webhook_secrets(&self) -> Result<Vec<(String, String)>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT tenant_id, secret_enc FROM webhooks ORDER BY tenant_id")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("secret_enc")?)))
                .collect::<std::result::Result<Vec<_>, StorageError>>()
        })
    }

    /// Writes re-encrypted webhook secrets `(tenant id, old, new)` in one transaction, each
    /// only where the row still holds the old one (a secret rotated meanwhile is already
    /// under the new key); returns how many were written.
    pub async fn reseal_webhooks(&self, changes: &[(String, String, String)]) -> Result<u64> {
        self.reseal_rows(
            "UPDATE webhooks SET secret_enc = $1 WHERE tenant_id = $2 AND secret_enc = $3",
            changes,
        )
        .await
    }
}
