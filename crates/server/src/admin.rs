//! Operator actions shared by the CLI and the demo: creating institutions, changing their
//! policy and replacing their API keys.

use crate::crypto::{random_id, random_token, token_hash};
use crate::storage::{NewTenant, Storage, StorageError, Tenant};
use crate::validate::{CustomerCode, Origin, PinDigits, TenantName};

/// A new API key: `cok_` and 256 random bits.
pub fn new_api_key() -> String {
    format!("cok_{}", random_token())
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
    create_tenant_with_pin(
        storage,
        name,
        customer_code,
        origins,
        PinDigits::Off,
        now_ms,
    )
    .await
}

/// Creates an institution with a PIN policy, open for service; returns it and its API key.
pub async fn create_tenant_with_pin(
    storage: &Storage,
    name: &TenantName,
    customer_code: &CustomerCode,
    origins: &[Origin],
    pin_digits: PinDigits,
    now_ms: i64,
) -> Result<(Tenant, String), StorageError> {
    let api_key = new_api_key();
    let tenant = NewTenant {
        id: random_id(),
        name: name.as_str().to_owned(),
        customer_code: customer_code.as_str().to_owned(),
        api_key_hash: token_hash(&api_key),
        origins: origins.iter().map(|o| o.as_str().to_owned()).collect(),
        pin_digits,
        created_ms: now_ms,
    };
    storage.create_tenant(&tenant).await?;
    let created = Tenant {
        id: tenant.id,
        name: tenant.name,
        customer_code: tenant.customer_code,
        pin_digits,
        in_service: true,
    };
    Ok((created, api_key))
}

/// Replaces an institution's API key; returns the new key, which like the first is stored
/// only as a hash. Running servers refuse the old key within
/// [`crate::keycache::KEY_TTL`], the time they may trust a key they looked up.
pub async fn rotate_api_key(storage: &Storage, tenant_id: &str) -> Result<String, StorageError> {
    let api_key = new_api_key();
    storage
        .set_api_key_hash(tenant_id, &token_hash(&api_key))
        .await?;
    Ok(api_key)
}
