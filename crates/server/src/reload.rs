//! Master keys reloaded while the server runs: on SIGHUP `cloud-otp serve` resolves its key
//! ring again as at startup, checks it against the database's key check as startup does, and
//! swaps it in for every request that starts afterwards. A ring that fails either step is
//! refused and the server keeps the keys it has, so a typo in a key file cannot stop
//! verifications. docs/security.md has the rotation procedure that relies on this.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::crypto::{CryptoError, EXTRA_KEYS_ENV, KEY_ENV, SharedCrypto, load_key_ring};
use crate::storage::{Storage, StorageError};

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The ring read from the key sources is in use now.
    Reloaded {
        /// How many keys the ring holds.
        keys: usize,
        /// The id of the key that seals (not secret: it prefixes every ciphertext).
        key_id: String,
    },
    /// Both the master key and the extra keys come from environment variables, which a
    /// running process cannot see change: there is nothing new to read.
    FromEnvironment,
}

/// Why a reload was refused. Names files and key ids, never key material.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A key file is missing, unreadable or malformed, or a variable is malformed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The database could not be asked, or no key of the new ring is the database's.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Reads the key ring again from `primary_env` (CLOUD_OTP_MASTER_KEY), `extra_env`
/// (CLOUD_OTP_EXTRA_MASTER_KEYS) and the key files in `data_dir`, exactly as startup does
/// except that a missing key file is an error instead of a new key; checks it against the
/// database; and makes it the ring of `shared`. On any error `shared` is left as it was.
pub async fn reload_keys(
    storage: &Storage,
    shared: &SharedCrypto,
    primary_env: Option<&str>,
    extra_env: Option<&str>,
    data_dir: &Path,
) -> Result<Reload, ReloadError> {
    if primary_env.is_some() && extra_env.is_some() {
        return Ok(Reload::FromEnvironment);
    }
    let loaded = load_key_ring(primary_env, extra_env, data_dir, false)?;
    crate::rotate::ensure_key_ring(storage, &loaded.crypto).await?;
    let done = Reload::Reloaded {
        keys: loaded.crypto.key_count(),
        key_id: loaded.crypto.key_id().to_owned(),
    };
    shared.replace(loaded.crypto);
    Ok(done)
}

/// The extra keys' variable as startup reads it: unset or blank means "use the file".
pub fn extra_keys_env() -> Option<String> {
    std::env::var(EXTRA_KEYS_ENV)
        .ok()
        .filter(|text| !text.trim().is_empty())
}

/// The master key's variable as startup reads it.
pub fn primary_key_env() -> Option<String> {
    std::env::var(KEY_ENV).ok()
}

/// Both key variables as startup reads them, in memory that is wiped when dropped.
pub fn key_envs() -> (Option<Zeroizing<String>>, Option<Zeroizing<String>>) {
    (
        primary_key_env().map(Zeroizing::new),
        extra_keys_env().map(Zeroizing::new),
    )
}

/// Reloads from the process's environment and `data_dir`, and logs the outcome: one info
/// line "master keys reloaded (N keys, current key id X)", an info line saying there is
/// nothing to reload, or an error line naming the problem while the old keys stay in use.
pub async fn reload_and_log(storage: &Storage, shared: &SharedCrypto, data_dir: &Path) {
    let (primary, extra) = key_envs();
    let result = reload_keys(
        storage,
        shared,
        primary.as_deref().map(String::as_str),
        extra.as_deref().map(String::as_str),
        data_dir,
    )
    .await;
    match result {
        Ok(Reload::Reloaded { keys, key_id }) => {
            tracing::info!("master keys reloaded ({keys} keys, current key id {key_id})");
        }
        Ok(Reload::FromEnvironment) => {
            tracing::info!(
                "SIGHUP: the master keys come from {KEY_ENV} and {EXTRA_KEYS_ENV}, which do not \
                 change while the server runs; nothing to reload (keep the keys in the key \
                 files to reload them, or restart with new variables)"
            );
        }
        Err(e) => {
            let current = shared.current();
            tracing::error!(
                error = %e,
                "master keys not reloaded; still serving with the current keys ({} keys, \
                 current key id {})",
                current.key_count(),
                current.key_id()
            );
        }
    }
}

/// Starts reloading the keys of `shared` on every SIGHUP. The handler is installed before
/// this returns, so a SIGHUP sent once the server printed its URL never takes the default
/// action (ending the process).
#[cfg(unix)]
pub fn reload_on_sighup(
    storage: Storage,
    shared: Arc<SharedCrypto>,
    data_dir: PathBuf,
) -> std::io::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        // One reload at a time, in the order the signals came; signals that arrive during a
        // reload are folded into one more reload, which reads the newest files anyway.
        while hangups.recv().await.is_some() {
            reload_and_log(&storage, &shared, &data_dir).await;
        }
    });
    Ok(())
}

/// Other systems have no SIGHUP: keys change with a restart there.
#[cfg(not(unix))]
pub fn reload_on_sighup(
    _storage: Storage,
    _shared: Arc<SharedCrypto>,
    _data_dir: PathBuf,
) -> std::io::Result<()> {
    Ok(())
}
