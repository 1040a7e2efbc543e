//! OTP sessions and the passes a successful verification issues (their spending, in the
//! verification write, is in `users`).

use sqlx::Row;

use super::tenants::{TENANT_COLUMNS, TenantRow};
use super::{PassRecord, Redemption, Result, SessionRecord, Storage, Tenant, with_pool};

impl Storage {
    /// Stores a new session.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        s: &SessionRecord,
        now_ms: i64,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO sessions (token_hash, tenant_id, user_id, purpose, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(token_hash)
        .bind(&s.tenant_id)
        .bind(&s.user_id)
        .bind(&s.purpose)
        .bind(now_ms)
        .bind(s.expires_ms)
        .execute(pool)
        .await.map(drop)?
        });
        Ok(())
    }

    /// The session with this token hash.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT tenant_id, user_id, purpose, expires_ms, used_ms FROM sessions WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(SessionRecord {
                    tenant_id: row.try_get("tenant_id")?,
                    user_id: row.try_get("user_id")?,
                    purpose: row.try_get("purpose")?,
                    expires_ms: row.try_get("expires_ms")?,
                    used_ms: row.try_get("used_ms")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// The session with this token hash and the tenant that opened it, in one query (the
    /// browser endpoints need both on every request).
    pub async fn session_and_tenant(
        &self,
        token_hash: &str,
    ) -> Result<Option<(SessionRecord, Tenant)>> {
        let sql = format!(
            "SELECT s.user_id, s.purpose, s.expires_ms, s.used_ms, t.{cols} \
             FROM sessions s JOIN tenants t ON t.id = s.tenant_id WHERE s.token_hash = $1",
            cols = TENANT_COLUMNS.replace(", ", ", t.")
        );
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => {
                    let tenant = row.tenant()?;
                    let session = SessionRecord {
                        tenant_id: tenant.id.clone(),
                        user_id: row.try_get("user_id")?,
                        purpose: row.try_get("purpose")?,
                        expires_ms: row.try_get("expires_ms")?,
                        used_ms: row.try_get("used_ms")?,
                    };
                    Ok(Some((session, tenant)))
                }
                None => Ok(None),
            }
        })
    }

    /// Redeems a pass of `tenant_id`: marks it used if it is unused and unexpired, in one
    /// statement, so two redemptions of one pass cannot both succeed. With an idempotency
    /// key, a pass that this key already redeemed is answered again (a retried siteverify):
    /// the key is stored with the redemption, and found again for as long as the pass is
    /// kept, whether it has expired or not.
    pub async fn redeem_pass(
        &self,
        tenant_id: &str,
        token_hash: &str,
        idempotency_key: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<Redemption>> {
        const FIELDS: &str = "user_id, purpose, device_kind, device_label, verified_ms, origin";
        let redeem = format!(
            "UPDATE passes SET redeemed_ms = $1, idempotency_key = $4 \
             WHERE token_hash = $2 AND tenant_id = $3 AND redeemed_ms IS NULL AND expires_ms > $1 \
             RETURNING {FIELDS}"
        );
        let again = format!(
            "SELECT {FIELDS} FROM passes \
             WHERE token_hash = $1 AND tenant_id = $2 AND idempotency_key = $3"
        );
        with_pool!(self, |pool| {
            let row = sqlx::query(&redeem)
                .bind(now_ms)
                .bind(token_hash)
                .bind(tenant_id)
                .bind(idempotency_key)
                .fetch_optional(pool)
                .await?;
            let (row, first) = match (row, idempotency_key) {
                (Some(row), _) => (Some(row), true),
                (None, Some(key)) => {
                    let row = sqlx::query(&again)
                        .bind(token_hash)
                        .bind(tenant_id)
                        .bind(key)
                        .fetch_optional(pool)
                        .await?;
                    (row, false)
                }
                (None, None) => (None, false),
            };
            match row {
                Some(row) => Ok(Some(Redemption {
                    pass: PassRecord {
                        user_id: row.try_get("user_id")?,
                        purpose: row.try_get("purpose")?,
                        device_kind: row.try_get("device_kind")?,
                        device_label: row.try_get("device_label")?,
                        verified_ms: row.try_get("verified_ms")?,
                        origin: row.try_get("origin")?,
                    },
                    first,
                })),
                None => Ok(None),
            }
        })
    }

    /// Deletes sessions and passes that expired before `before_ms`; returns how many.
    pub async fn purge_expired(&self, before_ms: i64) -> Result<u64> {
        with_pool!(self, |pool| {
            let a = sqlx::query("DELETE FROM sessions WHERE expires_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected();
            let b = sqlx::query("DELETE FROM passes WHERE expires_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(a + b)
        })
    }
}
