//! Operator actions shared by the CLI and the demo: creating institutions, changing their
//! policy and replacing their API keys.

use crate::crypto::{random_id, random_token, token_hash};
use crate::storage::{NewTenant, Storage, StorageError, Tenant};
use crate::test_mode::{TEST_KEY_PREFIX, TestMode};
use crate::validate::{CustomerCode, Origin, PinDigits, TenantName};

/// A new API key: `cok_` (`cok_test_` for a test institution) and 256 random bits.
pub fn new_api_key(test: bool) -> String {
    let prefix = if test { TEST_KEY_PREFIX } else { "cok_" };
    format!("{prefix}{}", random_token())
}

/// What an institution is created with besides its name, code and origins.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantOptions {
    /// The PIN policy (no PIN by default).
    pub pin_digits: PinDigits,
    /// A test institution's fixed outcome (src/test_mode.rs); `None` for a real one. It is
    /// set here, once: no command changes it later.
    pub test_mode: Option<TestMode>,
}

/// Creates an institution without a PIN, open for service; returns it and its API key,
/// which is stored only as a hash and so can be shown this once.
pub async fn create_tenant(
    storage: &Storage,
    name: &TenantName,
    customer_code: &CustomerCode,
    origins: &[Origin],
    now_ms: i64,
) -> Result<(Tenant, String), StorageError> {
    create_tenant_with(
        storage,
        name,
        customer_code,
        origins,
        TenantOptions::default(),
        now_ms,
    )
    .await
}

/// Creates an institution with its options, open for service; returns it and its API key.
pub async fn create_tenant_with(
    storage: &Storage,
    name: &TenantName,
    customer_code: &CustomerCode,
    origins: &[Origin],
    options: TenantOptions,
    now_ms: i64,
) -> Result<(Tenant, String), StorageError> {
    let api_key = new_api_key(options.test_mode.is_some());
    let tenant = NewTenant {
        id: random_id(),
        name: name.as_str().to_owned(),
        customer_code: customer_code.as_str().to_owned(),
        api_key_hash: token_hash(&api_key),
        origins: origins.iter().map(|o| o.as_str().to_owned()).collect(),
        pin_digits: options.pin_digits,
        test_mode: options.test_mode,
        created_ms: now_ms,
    };
    storage.create_tenant(&tenant).await?;
    let created = Tenant {
        id: tenant.id,
        name: tenant.name,
        customer_code: tenant.customer_code,
        pin_digits: options.pin_digits,
        in_service: true,
        test_mode: options.test_mode,
    };
    Ok((created, api_key))
}

/// Replaces an institution's API key; returns the new key, which like the first is stored
/// only as a hash. Running servers refuse the old key within
/// [`crate::keycache::KEY_TTL`], the time they may trust a key they looked up.
pub async fn rotate_api_key(storage: &Storage, tenant: &Tenant) -> Result<String, StorageError> {
    let api_key = new_api_key(tenant.test_mode.is_some());
    storage
        .set_api_key_hash(&tenant.id, &token_hash(&api_key))
        .await?;
    Ok(api_key)
}
