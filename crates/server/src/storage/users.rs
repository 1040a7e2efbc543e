//! Users and their devices: the user's state and active device, registration, the
//! verification write (a compare-and-set on the user's version, which also spends the session
//! and issues the pass), unlocking and removal.

use cloud_otp_core::State;
use sqlx::Row;

use super::audit::insert_audit;
use super::{
    AuditEntry, BeginWrite, Committed, DeviceRecord, Registered, Registration, Result, Storage,
    StorageError, UserRecord, VerifyCommit, with_pool,
};
use crate::audit::{AuditEvent, AuditOutcome};

/// A user's verification state from its columns.
pub(super) fn state_from(last_step: Option<i64>, failures: i64, locked: bool) -> Result<State> {
    let last_step = match last_step {
        Some(s) => Some(u64::try_from(s).map_err(|_| StorageError::Corrupt("last_step"))?),
        None => None,
    };
    let failures = u32::try_from(failures).map_err(|_| StorageError::Corrupt("failures"))?;
    Ok(State {
        last_step,
        failures,
        locked,
    })
}

/// The last accepted step as stored.
pub(super) fn step_to_db(state: &State) -> Option<i64> {
    state
        .last_step
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

pub(super) fn device_from(row: &impl DeviceRow) -> Result<Option<DeviceRecord>> {
    row.device()
}

/// Reads the columns of the user query (state, version, device) from a row of either
/// backend: [`Storage::user`] and the PostgreSQL group read.
pub(super) trait UserRow: DeviceRow {
    /// The user of this row.
    fn user_record(&self) -> Result<UserRecord>;
}

macro_rules! impl_user_row {
    ($row:ty) => {
        impl UserRow for $row {
            fn user_record(&self) -> Result<UserRecord> {
                Ok(UserRecord {
                    state: state_from(
                        self.try_get("last_step")?,
                        self.try_get("failures")?,
                        self.try_get("locked")?,
                    )?,
                    version: self.try_get("version")?,
                    device: device_from(self)?,
                })
            }
        }
    };
}
impl_user_row!(sqlx::sqlite::SqliteRow);
impl_user_row!(sqlx::postgres::PgRow);

/// Reads the device columns of the user query from a row of either backend.
pub(super) trait DeviceRow {
    /// The active device of this row, if any.
    fn device(&self) -> Result<Option<DeviceRecord>>;
}

macro_rules! impl_device_row {
    ($row:ty) => {
        impl DeviceRow for $row {
            fn device(&self) -> Result<Option<DeviceRecord>> {
                let id: Option<String> = self.try_get("device_id")?;
                let Some(id) = id else { return Ok(None) };
                Ok(Some(DeviceRecord {
                    id,
                    kind: self.try_get("kind")?,
                    label: self.try_get("label")?,
                    fingerprint: self.try_get("fingerprint")?,
                    secret_enc: self.try_get("secret_enc")?,
                    registered_ms: self.try_get("registered_ms")?,
                }))
            }
        }
    };
}
impl_device_row!(sqlx::sqlite::SqliteRow);
impl_device_row!(sqlx::postgres::PgRow);

/// The columns a [`DeviceRecord`] is read from.
const DEVICE_COLUMNS: &str = "id AS device_id, kind, label, fingerprint, secret_enc, registered_ms";

impl Storage {
    /// A user's state and active device; `None` if the user never had a device.
    pub async fn user(&self, tenant_id: &str, user_id: &str) -> Result<Option<UserRecord>> {
        let sql = format!(
            "SELECT u.last_step, u.failures, u.locked, u.version, d.{cols} \
             FROM users u LEFT JOIN devices d \
               ON d.tenant_id = u.tenant_id AND d.user_id = u.user_id AND d.retired_ms IS NULL \
             WHERE u.tenant_id = $1 AND u.user_id = $2",
            cols = DEVICE_COLUMNS.replace(", ", ", d.")
        );
        with_pool!(self, |pool| {
            match sqlx::query(&sql)
                .bind(tenant_id)
                .bind(user_id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(row.user_record()?)),
                None => Ok(None),
            }
        })
    }

    /// Registers a device in one transaction: creates the user if new, refuses if locked,
    /// consumes the activation code if one authorizes it, retires the old device if
    /// `replace`, and writes the audit events. A registration by activation code should use
    /// [`Storage::register_device_by_activation`], which also makes sure the code consumed is
    /// the one checked.
    pub async fn register_device(&self, r: &Registration) -> Result<Registered> {
        self.register(r, None).await
    }

    /// [`Storage::register_device`] authorized by the activation code whose keyed hash is
    /// `code_hash` (with `r.activation_attempts` read together with it): if the institution
    /// issued another code since it was checked, nothing is consumed and the answer is
    /// [`Registered::ActivationGone`], so the new code is checked in turn.
    pub async fn register_device_by_activation(
        &self,
        r: &Registration,
        code_hash: &str,
    ) -> Result<Registered> {
        self.register(r, Some(code_hash)).await
    }

    async fn register(&self, r: &Registration, code_hash: Option<&str>) -> Result<Registered> {
        let now = r.now_ms;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO users (tenant_id, user_id, last_step, failures, locked, version, created_ms) \
                 VALUES ($1, $2, NULL, 0, FALSE, 0, $3) ON CONFLICT (tenant_id, user_id) DO NOTHING",
            )
            .bind(&r.tenant_id)
            .bind(&r.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // Locks the user row (PostgreSQL) and invalidates verifications in flight. The
            // last accepted step stays: a code accepted once is never accepted again, also
            // when the same secret is registered again (docs/security.md).
            let unlocked = sqlx::query(
                "UPDATE users SET version = version + 1 \
                 WHERE tenant_id = $1 AND user_id = $2 AND locked = FALSE",
            )
            .bind(&r.tenant_id)
            .bind(&r.user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if unlocked == 0 {
                return Ok(Registered::Locked);
            }
            if let Some(attempts) = r.activation_attempts {
                let used = sqlx::query(
                    "UPDATE activations SET used_ms = $1 WHERE tenant_id = $2 AND user_id = $3 \
                     AND used_ms IS NULL AND attempts = $4 AND expires_ms > $1 \
                     AND ($5 IS NULL OR code_hash = $5)",
                )
                .bind(now)
                .bind(&r.tenant_id)
                .bind(&r.user_id)
                .bind(attempts)
                .bind(code_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if used == 0 {
                    return Ok(Registered::ActivationGone);
                }
            }
            let sql = format!(
                "SELECT {DEVICE_COLUMNS} FROM devices \
                 WHERE tenant_id = $1 AND user_id = $2 AND retired_ms IS NULL"
            );
            let old = match sqlx::query(&sql)
                .bind(&r.tenant_id)
                .bind(&r.user_id)
                .fetch_optional(&mut *tx)
                .await?
            {
                Some(row) => device_from(&row)?,
                None => None,
            };
            if let Some(old) = &old {
                if !r.replace {
                    return Ok(Registered::Exists(old.clone()));
                }
                sqlx::query("UPDATE devices SET retired_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&old.id)
                    .execute(&mut *tx)
                    .await?;
            }
            let d = &r.device;
            sqlx::query(
                "INSERT INTO devices (id, tenant_id, user_id, kind, label, fingerprint, secret_enc, registered_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&d.id)
            .bind(&r.tenant_id)
            .bind(&r.user_id)
            .bind(&d.kind)
            .bind(&d.label)
            .bind(&d.fingerprint)
            .bind(&d.secret_enc)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let mut events = Vec::new();
            // The same browser again (its fingerprint): it lost its key, usually because the
            // browser erased the site's data, and is not another device taking over.
            let same_browser = old
                .as_ref()
                .is_some_and(|o| o.fingerprint.is_some() && o.fingerprint == r.device.fingerprint);
            if let Some(old) = &old {
                let why = if same_browser {
                    AuditOutcome::Reregistered
                } else {
                    AuditOutcome::Replaced
                };
                events.push(
                    AuditEntry::new(
                        &r.tenant_id,
                        &r.user_id,
                        now,
                        AuditEvent::DeviceRetired,
                        why,
                    )
                    .device(&old.label),
                );
            }
            let event = match (&old, same_browser) {
                (Some(_), true) => AuditEvent::DeviceReregistered,
                (Some(_), false) => AuditEvent::DeviceReplaced,
                (None, _) => AuditEvent::DeviceRegistered,
            };
            let via = if r.activation_attempts.is_some() {
                "activation"
            } else {
                "session"
            };
            let via = if d.kind == "authenticator" {
                "api"
            } else {
                via
            };
            events.push(
                AuditEntry::new(
                    &r.tenant_id,
                    &r.user_id,
                    now,
                    event,
                    AuditOutcome::Registered,
                )
                .device(&d.label)
                .detail(format!("kind={} via={via}", d.kind)),
            );
            for e in &events {
                insert_audit!(&mut *tx, e)?;
            }
            tx.commit().await?;
            Ok(Registered::Done { replaced: old })
        })
    }

    /// Writes the outcome of a verification if the user's state is still at
    /// `expected_version`; on success through the widget also spends the session and issues
    /// the pass, all in one transaction.
    pub async fn commit_verification(&self, c: &VerifyCommit) -> Result<Committed> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let written = sqlx::query(
                "UPDATE users SET last_step = $1, failures = $2, locked = $3, version = version + 1 \
                 WHERE tenant_id = $4 AND user_id = $5 AND version = $6",
            )
            .bind(step_to_db(&c.state))
            .bind(i64::from(c.state.failures))
            .bind(c.state.locked)
            .bind(&c.tenant_id)
            .bind(&c.user_id)
            .bind(c.expected_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 0 {
                return Ok(Committed::Conflict);
            }
            if let Some((session_hash, pass)) = &c.spend {
                let spent = sqlx::query(
                    "UPDATE sessions SET used_ms = $1 \
                     WHERE token_hash = $2 AND used_ms IS NULL AND expires_ms > $1",
                )
                .bind(c.now_ms)
                .bind(session_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if spent == 0 {
                    return Ok(Committed::SessionGone);
                }
                sqlx::query(
                    "INSERT INTO passes (token_hash, tenant_id, user_id, purpose, device_id, \
                     device_kind, device_label, verified_ms, expires_ms, origin) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&pass.token_hash)
                .bind(&c.tenant_id)
                .bind(&c.user_id)
                .bind(&pass.purpose)
                .bind(&pass.device_id)
                .bind(&pass.device_kind)
                .bind(&pass.device_label)
                .bind(c.now_ms)
                .bind(pass.expires_ms)
                .bind(&pass.origin)
                .execute(&mut *tx)
                .await?;
            }
            for e in &c.audit {
                insert_audit!(&mut *tx, e)?;
            }
            tx.commit().await?;
            Ok(Committed::Done)
        })
    }

    /// Clears the failure count and the lock; with `revoke_device` also retires the device.
    /// Returns the user after the change, `None` if the user never had a device.
    pub async fn unlock(
        &self,
        tenant_id: &str,
        user_id: &str,
        revoke_device: bool,
        now_ms: i64,
    ) -> Result<Option<()>> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE users SET failures = 0, locked = FALSE, version = version + 1 \
                 WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok(None);
            }
            let mut events = vec![AuditEntry::new(
                tenant_id,
                user_id,
                now_ms,
                AuditEvent::Unlock,
                AuditOutcome::Unlocked,
            )];
            if revoke_device
                && let Some(label) = retire_active!(&mut *tx, tenant_id, user_id, now_ms)
            {
                events.push(
                    AuditEntry::new(
                        tenant_id,
                        user_id,
                        now_ms,
                        AuditEvent::DeviceRemoved,
                        AuditOutcome::Revoked,
                    )
                    .device(&label),
                );
            }
            for e in &events {
                insert_audit!(&mut *tx, e)?;
            }
            tx.commit().await?;
            Ok(Some(()))
        })
    }

    /// Retires the user's active device; `false` if there was none.
    pub async fn remove_device(&self, tenant_id: &str, user_id: &str, now_ms: i64) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // The last accepted step stays, as in `register_device`.
            sqlx::query(
                "UPDATE users SET version = version + 1 \
                 WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            let Some(label) = retire_active!(&mut *tx, tenant_id, user_id, now_ms) else {
                return Ok(false);
            };
            let event = AuditEntry::new(
                tenant_id,
                user_id,
                now_ms,
                AuditEvent::DeviceRemoved,
                AuditOutcome::Removed,
            )
            .device(&label);
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// Retires the active device of a user; evaluates to its label, `None` if there was none.
macro_rules! retire_active {
    ($executor:expr, $tenant_id:expr, $user_id:expr, $now_ms:expr) => {{
        let row = sqlx::query(
            "UPDATE devices SET retired_ms = $1 \
             WHERE tenant_id = $2 AND user_id = $3 AND retired_ms IS NULL RETURNING label",
        )
        .bind($now_ms)
        .bind($tenant_id)
        .bind($user_id)
        .fetch_optional($executor)
        .await?;
        match row {
            Some(row) => Some(row.try_get::<String, _>("label")?),
            None => None,
        }
    }};
}
use retire_active;
