//! Master-key rotation: re-encrypts every stored device secret, and every webhook signing
//! secret, under the primary key of a key ring while servers holding the same ring keep
//! verifying and delivering. docs/security.md has the operator
//! procedure; `cloud-otp rotate-master-key` runs [`rotate_master_key`]. Its statements are in
//! `storage/keys.rs`.

use crate::crypto::{Crypto, CryptoError};
use crate::storage::{Storage, StorageError};

/// Device rows read and rewritten per transaction.
const PAGE: i64 = 500;

/// Full passes over the devices before giving up on rows that keep appearing under another
/// key (a server still sealing with the old key).
const MAX_PASSES: usize = 3;

/// Why a rotation stopped. Names devices and key ids, never key material.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored secret opens with no key of the ring.
    #[error("device {device_id}: {source}")]
    Secret {
        /// The device whose secret could not be opened.
        device_id: String,
        /// Why.
        source: CryptoError,
    },
    /// New secrets under another key kept appearing: some server still seals with it.
    #[error(
        "device secrets sealed under another master key keep appearing ({0} in the last pass): \
         a server still seals with the old key; give every server the new key as its master \
         key first (key files and SIGHUP, or the variables and a restart), then run this \
         command again"
    )]
    StillSealingWithOldKey(u64),
    /// A stored webhook signing secret opens with no key of the ring.
    #[error("the webhook secret of institution {tenant_id}: {source}")]
    WebhookSecret {
        /// The institution whose webhook secret could not be opened.
        tenant_id: String,
        /// Why.
        source: CryptoError,
    },
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Secrets re-encrypted under the primary key.
    pub resealed: u64,
    /// Secrets found already under the primary key on the first pass.
    pub already: u64,
    /// Webhook signing secrets re-encrypted under the primary key.
    pub webhook_secrets: u64,
}

/// Checks at startup that the database's secrets are sealed under a key of the ring (the
/// stored key check is one of the ring's); a new database records the primary key's check.
pub async fn ensure_key_ring(storage: &Storage, crypto: &Crypto) -> Result<(), StorageError> {
    let mut last = Ok(());
    for check in crypto.key_checks() {
        last = storage.ensure_key_check(check).await;
        if last.is_ok() {
            return Ok(());
        }
    }
    last
}

/// Re-encrypts every device secret (of active and retired devices) that is not yet under the
/// ring's primary key, page by page, each row only if it is unchanged since it was read. The
/// database is first marked as belonging to the primary key, so from then on a server without
/// the new key refuses to start instead of failing verifications. Safe to interrupt and run
/// again.
pub async fn rotate_master_key(
    storage: &Storage,
    crypto: &Crypto,
) -> Result<Rotation, RotateError> {
    ensure_key_ring(storage, crypto).await?;
    storage.set_key_check(crypto.key_check()).await?;
    let mut report = Rotation::default();
    let mut last = 0;
    // Done when a pass finds nothing left to re-encrypt: normally the second one. Rows that
    // keep appearing under another key mean a server still seals with it.
    for pass in 0..MAX_PASSES {
        let (resealed, already) = reseal_all(storage, crypto).await?;
        if pass == 0 {
            report.already = already;
        }
        if resealed == 0 {
            report.webhook_secrets = reseal_webhooks(storage, crypto).await?;
            return Ok(report);
        }
        report.resealed += resealed;
        last = resealed;
    }
    Err(RotateError::StillSealingWithOldKey(last))
}

/// One pass over all devices; returns (re-encrypted, already under the primary key).
async fn reseal_all(storage: &Storage, crypto: &Crypto) -> Result<(u64, u64), RotateError> {
    let mut after = String::new();
    let (mut resealed, mut already) = (0, 0);
    loop {
        let page = storage.sealed_secrets(&after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            return Ok((resealed, already));
        };
        after = last.clone();
        let mut changes = Vec::new();
        for (device_id, sealed) in page {
            if crypto.is_sealed_with_primary(&sealed) {
                already += 1;
                continue;
            }
            let secret =
                crypto
                    .open_secret(&device_id, &sealed)
                    .map_err(|source| RotateError::Secret {
                        device_id: device_id.clone(),
                        source,
                    })?;
            let new = crypto.seal_secret(&device_id, &secret);
            changes.push((device_id, sealed, new));
        }
        resealed += storage.reseal(&changes).await?;
    }
}

/// Re-encrypts the webhook signing secrets not yet under the primary key (one row per
/// institution with a webhook, so one page); returns how many were written. A secret set
/// meanwhile by a server already sealing with the new key is left as it is.
async fn reseal_webhooks(storage: &Storage, crypto: &Crypto) -> Result<u64, RotateError> {
    let mut changes = Vec::new();
    for (tenant_id, sealed) in storage.sealed_webhook_secrets().await? {
        if crypto.is_sealed_with_primary(&sealed) {
            continue;
        }
        let context = crate::webhooks::sealing_context(&tenant_id);
        let secret =
            crypto
                .open_secret(&context, &sealed)
                .map_err(|source| RotateError::WebhookSecret {
                    tenant_id: tenant_id.clone(),
                    source,
                })?;
        let new = crypto.seal_secret(&context, &secret);
        changes.push((tenant_id, sealed, new));
    }
    Ok(storage.reseal_webhooks(&changes).await?)
}
