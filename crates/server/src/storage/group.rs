//! The group read and group commit of verifications on SQLite, as single statements (their
//! queues are in `batch`).

use sqlx::sqlite::SqliteConnection;

use super::users::{state_from, step_to_db};
use super::webhooks::outbox_rows;
use super::{
    AuditEntry, Committed, DeviceRecord, Result, Storage, StorageError, UserRecord, VerifyCommit,
};

// The group read and group commit of SQLite ([`super::batch`]). Each runs as one command to
// the worker thread of a connection of its own: sqlx's SQLite driver runs every statement on
// that thread and hops back to the async side for each result, and its BEGIN and COMMIT
// each wait for the async side to acknowledge them, so a transaction of BEGIN, two
// statements and COMMIT cost four round trips and the two acknowledgements. One command that
// holds the whole transaction costs one round trip. Each takes its whole batch as one JSON
// array parameter, unpacked by SQLite's json_each, so that one prepared statement serves
// every batch size (a VALUES list per size was parsed and prepared again and again), and
// each answers with a single row, so the worker sends one message rather than one per user.

/// Reads users given as `[[tenant_id, user_id], ...]`, each a primary-key lookup; answers
/// one JSON array with one `[index, last_step, failures, locked, version, device columns...]`
/// per user found.
const GROUP_READ_SQL: &str = "SELECT json_group_array(json_array(k.key, u.last_step, \
     u.failures, u.locked, u.version, d.id, d.kind, d.label, d.fingerprint, d.secret_enc, \
     d.registered_ms)) \
     FROM json_each($1) AS k \
     JOIN users u ON u.tenant_id = k.value ->> 0 AND u.user_id = k.value ->> 1 \
     LEFT JOIN devices d \
       ON d.tenant_id = u.tenant_id AND d.user_id = u.user_id AND d.retired_ms IS NULL";

/// The start of [`GROUP_COMMIT_SQL`]: the checks still at their version, and their audit
/// events.
macro_rules! group_commit_head {
    () => {
        "BEGIN IMMEDIATE; \
         SELECT json_group_array(v.key) FROM json_each($1) AS v \
         JOIN users u ON u.tenant_id = v.value ->> 0 AND u.user_id = v.value ->> 1 \
           AND u.version = v.value ->> 5; \
         INSERT INTO audit_events \
         (id, tenant_id, user_id, at_ms, event, outcome, device_label, detail) \
         SELECT a.value ->> 0, a.value ->> 1, a.value ->> 2, a.value ->> 3, a.value ->> 4, \
           a.value ->> 5, a.value ->> 6, a.value ->> 7 \
         FROM json_each($2) AS a \
         WHERE a.value ->> 8 IS NULL OR EXISTS (SELECT 1 FROM users u \
           WHERE u.tenant_id = a.value ->> '$[8][0]' AND u.user_id = a.value ->> '$[8][1]' \
             AND u.version = a.value ->> '$[8][2]'); "
    };
}

/// The end of [`GROUP_COMMIT_SQL`]: the checks written.
macro_rules! group_commit_tail {
    () => {
        "UPDATE users SET last_step = v.value ->> 2, failures = v.value ->> 3, \
           locked = v.value ->> 4, version = users.version + 1 \
         FROM json_each($1) AS v \
         WHERE users.tenant_id = v.value ->> 0 AND users.user_id = v.value ->> 1 \
           AND users.version = v.value ->> 5; \
         COMMIT"
    };
}

/// One transaction for a batch of checks given in `$1` as `[[tenant_id, user_id, last_step,
/// failures, locked, expected_version], ...]` and audit events given in `$2` as `[[id,
/// tenant_id, user_id, at_ms, event, outcome, device_label, detail, condition], ...]`.
///
/// A check is written only if its user is still at the expected version. The SELECT names
/// those checks (the indexes into `$1`) before anything changes, the INSERT writes an audit
/// event whose condition is `[tenant_id, user_id, expected_version]` only if that holds, and
/// the UPDATE then writes exactly those checks: all three test the same rows under the same
/// write lock (BEGIN IMMEDIATE), so they agree. Events without a condition (null) are
/// always written.
const GROUP_COMMIT_SQL: &str = concat!(group_commit_head!(), group_commit_tail!());

/// [`GROUP_COMMIT_SQL`] with webhook outbox rows, given in `$3` as `[[id, tenant_id, user_id,
/// event, body, created_ms, condition], ...]`, written under the same conditions as the audit
/// events they come from, and only for institutions with a webhook. Used only for batches
/// that hold such events (a lock, a replay), so other batches run no extra statement.
const GROUP_COMMIT_OUTBOX_SQL: &str = concat!(
    group_commit_head!(),
    "INSERT INTO webhook_outbox \
     (id, tenant_id, user_id, event, body, created_ms, attempts, next_attempt_ms, dead) \
     SELECT o.value ->> 0, o.value ->> 1, o.value ->> 2, o.value ->> 3, o.value ->> 4, \
       o.value ->> 5, 0, o.value ->> 5, FALSE \
     FROM json_each($3) AS o \
     WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.tenant_id = o.value ->> 1) \
       AND (o.value ->> 6 IS NULL OR EXISTS (SELECT 1 FROM users u \
         WHERE u.tenant_id = o.value ->> '$[6][0]' AND u.user_id = o.value ->> '$[6][1]' \
           AND u.version = o.value ->> '$[6][2]')); ",
    group_commit_tail!()
);

/// One user of [`GROUP_READ_SQL`]'s answer: the index of its key, its state, and its active
/// device's columns (all null without one).
#[derive(Debug, serde::Deserialize)]
struct GroupUser(
    usize,
    Option<i64>,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

impl GroupUser {
    fn record(self) -> Result<(usize, UserRecord)> {
        let GroupUser(index, last_step, failures, locked, version, id, kind, label, fp, sec, at) =
            self;
        let device = match id {
            None => None,
            Some(id) => Some(DeviceRecord {
                id,
                kind: kind.ok_or(StorageError::Corrupt("kind"))?,
                label: label.ok_or(StorageError::Corrupt("label"))?,
                fingerprint: fp,
                secret_enc: sec.ok_or(StorageError::Corrupt("secret_enc"))?,
                registered_ms: at.ok_or(StorageError::Corrupt("registered_ms"))?,
            }),
        };
        Ok((
            index,
            UserRecord {
                state: state_from(last_step, failures, locked != 0)?,
                version,
                device,
            },
        ))
    }
}

/// The condition of an audit event in [`GROUP_COMMIT_SQL`]: the check it belongs to.
type Condition<'a> = Option<(&'a str, &'a str, i64)>;

/// One outbox row as [`GROUP_COMMIT_OUTBOX_SQL`] takes it.
type OutboxJson<'a> = (
    String,
    String,
    String,
    &'static str,
    String,
    i64,
    Condition<'a>,
);

/// One audit event as [`GROUP_COMMIT_SQL`] takes it.
type AuditRow<'a> = (
    String,
    &'a str,
    &'a str,
    i64,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Condition<'a>,
);

fn audit_row<'a>(e: &'a AuditEntry, condition: Condition<'a>) -> AuditRow<'a> {
    (
        super::audit::audit_id(e.at_ms),
        &e.tenant_id,
        &e.user_id,
        e.at_ms,
        e.event.as_str(),
        e.outcome.as_str(),
        e.device_label.as_deref(),
        e.detail.as_deref(),
        condition,
    )
}

pub(super) fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|_| StorageError::Corrupt("batch"))
}

impl Storage {
    /// Many users at once, in the order of `keys` (tenant, user), each as [`Storage::user`]
    /// returns it: the group read of [`super::batch`], one statement and one answer
    /// ([`GROUP_READ_SQL`]).
    pub async fn group_read(
        conn: &mut SqliteConnection,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<UserRecord>>> {
        let mut out = vec![None; keys.len()];
        if keys.is_empty() {
            return Ok(out);
        }
        let answer: String = sqlx::query_scalar(GROUP_READ_SQL)
            .bind(to_json(&keys)?)
            .fetch_one(&mut *conn)
            .await?;
        let users: Vec<GroupUser> =
            serde_json::from_str(&answer).map_err(|_| StorageError::Corrupt("users"))?;
        for user in users {
            let (index, record) = user.record()?;
            if let Some(slot) = out.get_mut(index) {
                *slot = Some(record);
            }
        }
        Ok(out)
    }

    /// Writes the outcomes of many code checks and some audit events in one transaction: the
    /// group commit of [`super::batch`], one command to the connection's thread
    /// ([`GROUP_COMMIT_SQL`]). Each check is written only if its user is still at its
    /// `expected_version`, exactly as [`Storage::commit_verification`] would, and its audit
    /// events only if it was written. Preconditions (the caller's): no check spends a
    /// session, and no two checks are for the same user.
    ///
    /// After an error the transaction may still be open on `conn`: the caller must close
    /// the connection (which rolls it back) rather than use it again.
    pub async fn group_commit(
        conn: &mut SqliteConnection,
        checks: &[VerifyCommit],
        audits: &[AuditEntry],
    ) -> Result<Vec<Committed>> {
        if checks.is_empty() && audits.is_empty() {
            return Ok(Vec::new());
        }
        let (rows, events, outbox) = commit_params(checks, audits)?;
        let query = match outbox {
            None => sqlx::query_scalar(GROUP_COMMIT_SQL).bind(rows).bind(events),
            Some(outbox) => sqlx::query_scalar(GROUP_COMMIT_OUTBOX_SQL)
                .bind(rows)
                .bind(events)
                .bind(outbox),
        };
        let answer: Vec<String> = query.fetch_all(&mut *conn).await?;
        let written: Vec<usize> = match answer.as_slice() {
            [one] => serde_json::from_str(one).map_err(|_| StorageError::Corrupt("written"))?,
            _ => return Err(StorageError::Corrupt("written")),
        };
        let mut out = vec![Committed::Conflict; checks.len()];
        for index in written {
            if let Some(slot) = out.get_mut(index) {
                *slot = Committed::Done;
            }
        }
        Ok(out)
    }
}

/// The JSON parameters of a group commit, on either backend: the checks as
/// `[[tenant_id, user_id, last_step, failures, locked, expected_version], ...]`, every audit
/// event (each check's, conditioned on it, then the lone ones) as
/// `[[id, tenant_id, user_id, at_ms, event, outcome, device_label, detail, condition], ...]`,
/// and the webhook outbox rows of those events as `[[id, tenant_id, user_id, event, body,
/// created_ms, condition], ...]`, `None` when there are none (most batches).
pub(super) fn commit_params(
    checks: &[VerifyCommit],
    audits: &[AuditEntry],
) -> Result<(String, String, Option<String>)> {
    let rows: Vec<_> = checks
        .iter()
        .map(|c| {
            (
                &c.tenant_id,
                &c.user_id,
                step_to_db(&c.state),
                c.state.failures,
                c.state.locked,
                c.expected_version,
            )
        })
        .collect();
    let conditioned = || {
        checks
            .iter()
            .flat_map(|c| {
                let condition =
                    Some((c.tenant_id.as_str(), c.user_id.as_str(), c.expected_version));
                c.audit.iter().map(move |e| (e, condition))
            })
            .chain(audits.iter().map(|e| (e, None)))
    };
    let events: Vec<AuditRow<'_>> = conditioned()
        .map(|(e, condition)| audit_row(e, condition))
        .collect();
    let outbox: Vec<OutboxJson<'_>> = conditioned()
        .flat_map(|(e, condition)| {
            outbox_rows(e)
                .into_iter()
                .map(move |(id, t, u, kind, body, at)| (id, t, u, kind, body, at, condition))
        })
        .collect();
    let outbox = if outbox.is_empty() {
        None
    } else {
        Some(to_json(&outbox)?)
    };
    Ok((to_json(&rows)?, to_json(&events)?, outbox))
}
