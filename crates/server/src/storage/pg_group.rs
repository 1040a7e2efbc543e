//! The group read and group commit of verifications on PostgreSQL, each a single statement
//! (their queues are in `batch`, shared with SQLite's `group`).
//!
//! Without them every verification was a read, then BEGIN, an UPDATE, an audit INSERT and
//! COMMIT of its own: five round trips to the database and a commit (a flush of the WAL) per
//! code, which held PostgreSQL near 3,000 verifications/s at 64 connections on two cores.
//! Here a whole batch is one round trip each way, and the commit is one statement: data-
//! modifying CTEs run as one statement, atomic and under one snapshot, so the audit events
//! can be written for exactly the checks whose compare-and-set succeeded (the UPDATE's
//! RETURNING), and the webhook outbox rows with them. Several server processes may share the database: each check's UPDATE still
//! tests the user's version under the row lock (READ COMMITTED re-checks the condition on
//! the newest row), so a check that another process got to first is a conflict, decided
//! again, as one by one. Two processes' batches can deadlock on the same users; PostgreSQL
//! then aborts one, and `batch` writes that batch's items one by one.

use sqlx::PgPool;

use super::users::UserRow;
use super::{AuditEntry, Committed, Result, Storage, UserRecord, VerifyCommit};

/// Reads users given as `[[tenant_id, user_id], ...]`: one row per user found, with the
/// index of its key.
const GROUP_READ_SQL: &str = "SELECT k.i - 1 AS idx, u.last_step, u.failures, u.locked, \
     u.version, d.id AS device_id, d.kind, d.label, d.fingerprint, d.secret_enc, \
     d.registered_ms \
     FROM json_array_elements($1::json) WITH ORDINALITY AS k(v, i) \
     JOIN users u ON u.tenant_id = k.v ->> 0 AND u.user_id = k.v ->> 1 \
     LEFT JOIN devices d \
       ON d.tenant_id = u.tenant_id AND d.user_id = u.user_id AND d.retired_ms IS NULL";

/// Checks in `$1` as `[[tenant_id, user_id, last_step, failures, locked, expected_version],
/// ...]`, audit events in `$2` as `[[id, tenant_id, user_id, at_ms, event, outcome,
/// device_label, detail, condition], ...]`, a condition being `[tenant_id, user_id,
/// expected_version]` or null, and webhook outbox rows in `$3` as `[[id, tenant_id, user_id,
/// event, body, created_ms, condition], ...]`, written under the same condition as the events
/// they come from and only for institutions with a webhook. Answers the indexes of the
/// checks written.
const GROUP_COMMIT_SQL: &str = "WITH v AS ( \
       SELECT a.i - 1 AS idx, a.x ->> 0 AS t, a.x ->> 1 AS u, (a.x ->> 2)::bigint AS last_step, \
         (a.x ->> 3)::bigint AS failures, (a.x ->> 4)::boolean AS locked, \
         (a.x ->> 5)::bigint AS ver \
       FROM json_array_elements($1::json) WITH ORDINALITY AS a(x, i)), \
     upd AS ( \
       UPDATE users SET last_step = v.last_step, failures = v.failures, locked = v.locked, \
         version = users.version + 1 \
       FROM v WHERE users.tenant_id = v.t AND users.user_id = v.u AND users.version = v.ver \
       RETURNING v.idx, v.t, v.u, v.ver), \
     ins AS ( \
       INSERT INTO audit_events \
         (id, tenant_id, user_id, at_ms, event, outcome, device_label, detail) \
       SELECT e.x ->> 0, e.x ->> 1, e.x ->> 2, (e.x ->> 3)::bigint, e.x ->> 4, e.x ->> 5, \
         e.x ->> 6, e.x ->> 7 \
       FROM json_array_elements($2::json) AS e(x) \
       WHERE json_typeof(e.x -> 8) = 'null' OR EXISTS (SELECT 1 FROM upd \
         WHERE upd.t = e.x -> 8 ->> 0 AND upd.u = e.x -> 8 ->> 1 \
           AND upd.ver = (e.x -> 8 ->> 2)::bigint)), \
     outbox AS ( \
       INSERT INTO webhook_outbox \
         (id, tenant_id, user_id, event, body, created_ms, attempts, next_attempt_ms, dead) \
       SELECT o.x ->> 0, o.x ->> 1, o.x ->> 2, o.x ->> 3, o.x ->> 4, (o.x ->> 5)::bigint, 0, \
         (o.x ->> 5)::bigint, FALSE \
       FROM json_array_elements($3::json) AS o(x) \
       WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = o.x ->> 1) \
         AND (json_typeof(o.x -> 6) = 'null' OR EXISTS (SELECT 1 FROM upd \
           WHERE upd.t = o.x -> 6 ->> 0 AND upd.u = o.x -> 6 ->> 1 \
             AND upd.ver = (o.x -> 6 ->> 2)::bigint))) \
     SELECT idx FROM upd";

impl Storage {
    /// Many users at once on PostgreSQL, in the order of `keys` (tenant, user), each as
    /// [`Storage::user`] returns it: one statement ([`GROUP_READ_SQL`]).
    pub async fn pg_group_read(
        pool: &PgPool,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<UserRecord>>> {
        use sqlx::Row;
        let mut out = vec![None; keys.len()];
        if keys.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(GROUP_READ_SQL)
            .bind(super::group::to_json(&keys)?)
            .fetch_all(pool)
            .await?;
        for row in rows {
            let index: i64 = row.try_get("idx")?;
            let record = row.user_record()?;
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
                *slot = Some(record);
            }
        }
        Ok(out)
    }

    /// Writes the outcomes of many code checks and some audit events on PostgreSQL in one
    /// statement ([`GROUP_COMMIT_SQL`]), with the results and preconditions of
    /// [`Storage::group_commit`]: each check only if its user is still at its expected
    /// version, its audit events only if it was written; no check spends a session, no two
    /// are for the same user.
    pub async fn pg_group_commit(
        pool: &PgPool,
        checks: &[VerifyCommit],
        audits: &[AuditEntry],
    ) -> Result<Vec<Committed>> {
        if checks.is_empty() && audits.is_empty() {
            return Ok(Vec::new());
        }
        let (rows, events, outbox) = super::group::commit_params(checks, audits)?;
        let written: Vec<i64> = sqlx::query_scalar(GROUP_COMMIT_SQL)
            .bind(rows)
            .bind(events)
            .bind(outbox.unwrap_or_else(|| "[]".to_owned()))
            .fetch_all(pool)
            .await?;
        let mut out = vec![Committed::Conflict; checks.len()];
        for index in written {
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
                *slot = Committed::Done;
            }
        }
        Ok(out)
    }
}
