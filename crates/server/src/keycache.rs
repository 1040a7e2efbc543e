//! A short-lived memory of API-key lookups. Every institution request names its API key, and
//! looking the key's hash up in the database was a round trip to a database thread on every
//! `/v1/check` (docs/benchmarks-history.md). A known key is remembered for [`KEY_TTL`], so a key
//! replaced in the database (`tenant rotate-api-key`) stops working here at most that long
//! afterwards, as if the request had been in flight during the change; the same holds for the
//! institution's policy (`tenant update --close`, `--pin`) as the institution endpoints see
//! it. Unknown keys are never remembered, so the memory holds at most one entry per valid key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::storage::{Storage, StorageError, Tenant};

/// How long a looked-up key is trusted without asking the database again.
pub const KEY_TTL: Duration = Duration::from_secs(1);

/// Tenants by API-key hash, each with the time it was read.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Tenant, Instant)>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::new(KEY_TTL)
    }
}

impl KeyCache {
    /// A memory that trusts a looked-up key for `ttl`; zero turns it off.
    pub fn new(ttl: Duration) -> Self {
        KeyCache {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The tenant whose API key has this SHA-256, as [`Storage::tenant_by_key_hash`] returns
    /// it, at most the memory's time to live old.
    pub async fn tenant(
        &self,
        storage: &Storage,
        api_key_hash: &str,
    ) -> Result<Option<Tenant>, StorageError> {
        if let Some(tenant) = self.fresh(api_key_hash) {
            return Ok(Some(tenant));
        }
        let found = storage.tenant_by_key_hash(api_key_hash).await?;
        if self.ttl.is_zero() {
            return Ok(found);
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match &found {
            Some(t) => {
                entries.insert(api_key_hash.to_owned(), (t.clone(), Instant::now()));
            }
            None => {
                entries.remove(api_key_hash);
            }
        }
        Ok(found)
    }

    fn fresh(&self, api_key_hash: &str) -> Option<Tenant> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(api_key_hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(t, _)| t.clone())
    }
}
