//! Operator actions shared by the CLI and the demo: creating institutions and their API keys.

use crate::crypto::{random_id, random_token, token_hash};
use crate::storage::{NewTenant, Storage, StorageError, Tenant};
use crate::validate::{CustomerCode, Origin, TenantName};

/// A new API key: `cok_` and 256 random bits.
pub fn new_api_key() -> String {
    format!("cok_{}", random_token())
}

/// Creates an institution; returns it and its API key, which is stored only as a hash and so
/// can be shown this once.
pub async fn create_tenant(
    storage: &Storage,
    name: &TenantName,
    customer_code: &CustomerCode,
    origins: &[Origin],
    now_ms: i64,
) -> Result<(Tenant, String), StorageError> {
    let api_key = new_api_key();
    let tenant = NewTenant {
        id: random_id(),
        name: name.as_str().to_owned(),
        customer_code: customer_code.as_str().to_owned(),
        api_key_hash: token_hash(&api_key),
        origins: origins.iter().map(|o| o.as_str().to_owned()).collect(),
        created_ms: now_ms,
    };
    storage.create_tenant(&tenant).await?;
    let created = Tenant {
        id: tenant.id,
        name: tenant.name,
        customer_code: tenant.customer_code,
    };
    Ok((created, api_key))
}
