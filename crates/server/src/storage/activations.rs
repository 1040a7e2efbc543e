//! Activation codes: issuing, reading, and counting wrong attempts (their consumption is part
//! of the registration, in `users`).

use sqlx::Row;

use super::audit::insert_audit;
use super::{ActivationRecord, AuditEntry, BeginWrite, Result, Storage, with_pool};

impl Storage {
    /// Stores a user's activation code, replacing any earlier one.
    pub async fn put_activation(
        &self,
        tenant_id: &str,
        user_id: &str,
        code_hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO activations (tenant_id, user_id, code_hash, created_ms, expires_ms, attempts, used_ms) \
             VALUES ($1, $2, $3, $4, $5, 0, NULL) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET code_hash = excluded.code_hash, \
             created_ms = excluded.created_ms, expires_ms = excluded.expires_ms, attempts = 0, used_ms = NULL"
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(code_hash)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(pool)
        .await.map(drop)?
        });
        Ok(())
    }

    /// A user's activation code record.
    pub async fn activation(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<ActivationRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT code_hash, expires_ms, attempts, used_ms FROM activations \
                 WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(ActivationRecord {
                    code_hash: row.try_get("code_hash")?,
                    expires_ms: row.try_get("expires_ms")?,
                    attempts: row.try_get("attempts")?,
                    used_ms: row.try_get("used_ms")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Counts a wrong activation code if the count is still `expected`; `false` means
    /// another attempt counted first (read again).
    pub async fn count_activation_failure(
        &self,
        tenant_id: &str,
        user_id: &str,
        expected: i64,
        event: &AuditEntry,
    ) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE activations SET attempts = attempts + 1 \
                 WHERE tenant_id = $1 AND user_id = $2 AND attempts = $3 AND used_ms IS NULL",
            )
            .bind(tenant_id)
            .bind(user_id)
            .bind(expected)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            insert_audit!(&mut *tx, event)?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
