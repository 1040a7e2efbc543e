//! The master key's marks in the database: the key check that tells which key the device
//! secrets are sealed under, and the page-by-page re-encryption of the secrets
//! (`rotate.rs` decides; these are its statements).

use sqlx::Row;

use super::{BeginWrite, Result, Storage, StorageError, with_pool};

impl Storage {
    /// Stores `check` on first use; afterwards fails with [`StorageError::KeyMismatch`] if
    /// a different check value is offered (another master key).
    pub async fn ensure_key_check(&self, check: &str) -> Result<()> {
        let stored: String = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO meta (name, value) VALUES ('key_check', $1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(check)
            .execute(pool)
            .await?;
            sqlx::query("SELECT value FROM meta WHERE name = 'key_check'")
                .fetch_one(pool)
                .await?
                .try_get("value")?
        });
        if stored == check {
            Ok(())
        } else {
            Err(StorageError::KeyMismatch)
        }
    }

    /// Records `check` as the key the database's secrets are sealed under.
    pub async fn set_key_check(&self, check: &str) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE meta SET value = $1 WHERE name = 'key_check'"
        )
        .bind(check)
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }

    /// Device ids and sealed secrets (of active and retired devices) after `after`, in id
    /// order, at most `limit`.
    pub async fn sealed_secrets(&self, after: &str, limit: i64) -> Result<Vec<(String, String)>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT id, secret_enc FROM devices WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("secret_enc")?)))
                .collect::<std::result::Result<Vec<_>, StorageError>>()
        })
    }

    /// Writes new ciphertexts `(device id, old, new)` in one transaction, each only where the
    /// row still holds the old one; returns how many were written.
    pub async fn reseal(&self, changes: &[(String, String, String)]) -> Result<u64> {
        self.reseal_rows(
            "UPDATE devices SET secret_enc = $1 WHERE id = $2 AND secret_enc = $3",
            changes,
        )
        .await
    }

    /// Writes `(key, old, new)` ciphertexts with `update` (`$1` new, `$2` the row's key, `$3`
    /// old) in one transaction: the device secrets' and the webhook secrets' rotation.
    pub(super) async fn reseal_rows(
        &self,
        update: &'static str,
        changes: &[(String, String, String)],
    ) -> Result<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        with_pool!(self, |pool| {
            // A write transaction (BEGIN IMMEDIATE on SQLite), as the server's writes are.
            let mut tx = pool.begin_write().await?;
            let mut written = 0;
            for (key, old, new) in changes {
                written += sqlx::query(update)
                    .bind(new)
                    .bind(key)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(written)
        })
    }
}
