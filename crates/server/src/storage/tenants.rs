//! Tenants (institutions) and their registered web origins.

use sqlx::Row;

use super::{BeginWrite, NewTenant, Result, Storage, StorageError, Tenant, with_pool};
use crate::test_mode::TestMode;
use crate::validate::PinDigits;

/// Reads the columns of [`TENANT_COLUMNS`] from a row of either backend.
pub(super) trait TenantRow {
    /// The tenant of this row.
    fn tenant(&self) -> Result<Tenant>;
}

macro_rules! impl_tenant_row {
    ($row:ty) => {
        impl TenantRow for $row {
            fn tenant(&self) -> Result<Tenant> {
                let pin: i32 = self.try_get("pin_digits")?;
                Ok(Tenant {
                    id: self.try_get("id")?,
                    name: self.try_get("name")?,
                    customer_code: self.try_get("customer_code")?,
                    pin_digits: PinDigits::from_digits(i64::from(pin))
                        .ok_or(StorageError::Corrupt("pin_digits"))?,
                    in_service: self.try_get("in_service")?,
                    test_mode: match self.try_get::<Option<String>, _>("test_mode")? {
                        None => None,
                        Some(m) => Some(
                            TestMode::from_stored(&m).ok_or(StorageError::Corrupt("test_mode"))?,
                        ),
                    },
                })
            }
        }
    };
}
impl_tenant_row!(sqlx::sqlite::SqliteRow);
impl_tenant_row!(sqlx::postgres::PgRow);

/// The columns a [`Tenant`] is read from.
pub(super) const TENANT_COLUMNS: &str =
    "id, name, customer_code, pin_digits, in_service, test_mode";

impl Storage {
    /// Creates a tenant with its origins.
    pub async fn create_tenant(&self, t: &NewTenant) -> Result<()> {
        let result: sqlx::Result<()> = with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO tenants (id, name, customer_code, api_key_hash, created_ms, pin_digits, \
                 test_mode) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.customer_code)
            .bind(&t.api_key_hash)
            .bind(t.created_ms)
            .bind(i32::from(t.pin_digits.digits()))
            .bind(t.test_mode.map(TestMode::stored))
            .execute(&mut *tx)
            .await?;
            for origin in &t.origins {
                sqlx::query(
                    "INSERT INTO tenant_origins (tenant_id, origin) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&t.id)
                .bind(origin)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
        .await
        });
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StorageError::CustomerCodeTaken(t.customer_code.clone()))
            }
            other => Ok(other?),
        }
    }

    /// Adds an origin to a tenant (no-op if present).
    pub async fn add_origin(&self, tenant_id: &str, origin: &str) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "INSERT INTO tenant_origins (tenant_id, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )
        .bind(tenant_id)
        .bind(origin)
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }

    /// Replaces a tenant's API key hash (`tenant rotate-api-key`, and the demo when its key
    /// file was lost).
    pub async fn set_api_key_hash(&self, tenant_id: &str, api_key_hash: &str) -> Result<()> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE tenants SET api_key_hash = $1 WHERE id = $2"
        )
        .bind(api_key_hash)
        .bind(tenant_id)
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }

    async fn tenant_where(&self, column: &str, value: &str) -> Result<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE {column} = $1");
        with_pool!(self, |pool| {
            match sqlx::query(&sql).bind(value).fetch_optional(pool).await? {
                Some(row) => Ok(Some(row.tenant()?)),
                None => Ok(None),
            }
        })
    }

    /// Changes a tenant's PIN policy and whether it is open for service; `None` keeps a
    /// value. Returns the tenant after the change, `None` if there is no such tenant.
    pub async fn update_tenant(
        &self,
        tenant_id: &str,
        pin_digits: Option<PinDigits>,
        in_service: Option<bool>,
    ) -> Result<Option<Tenant>> {
        let pin = pin_digits.map(|p| i32::from(p.digits()));
        with_pool!(self, |pool| sqlx::query(
            "UPDATE tenants SET pin_digits = COALESCE($1, pin_digits), \
             in_service = COALESCE($2, in_service) WHERE id = $3"
        )
        .bind(pin)
        .bind(in_service)
        .bind(tenant_id)
        .execute(pool)
        .await
        .map(drop)?);
        self.tenant_by_id(tenant_id).await
    }

    /// The tenant whose API key has this SHA-256.
    pub async fn tenant_by_key_hash(&self, api_key_hash: &str) -> Result<Option<Tenant>> {
        self.tenant_where("api_key_hash", api_key_hash).await
    }

    /// The tenant with this customer code.
    pub async fn tenant_by_customer_code(&self, code: &str) -> Result<Option<Tenant>> {
        self.tenant_where("customer_code", code).await
    }

    /// The tenant with this id.
    pub async fn tenant_by_id(&self, id: &str) -> Result<Option<Tenant>> {
        self.tenant_where("id", id).await
    }

    /// All tenants, by customer code.
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY customer_code");
        with_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(|row| row.tenant()).collect()
        })
    }

    /// Whether any tenant registered this origin (answers CORS preflights, which carry no
    /// session to tell the tenant).
    pub async fn origin_known(&self, origin: &str) -> Result<bool> {
        with_pool!(self, |pool| Ok(sqlx::query(
            "SELECT 1 FROM tenant_origins WHERE origin = $1 LIMIT 1"
        )
        .bind(origin)
        .fetch_optional(pool)
        .await?
        .is_some()))
    }

    /// Whether this tenant registered this origin.
    pub async fn tenant_has_origin(&self, tenant_id: &str, origin: &str) -> Result<bool> {
        with_pool!(self, |pool| Ok(sqlx::query(
            "SELECT 1 FROM tenant_origins WHERE tenant_id = $1 AND origin = $2"
        )
        .bind(tenant_id)
        .bind(origin)
        .fetch_optional(pool)
        .await?
        .is_some()))
    }

    /// A tenant's origins.
    pub async fn origins(&self, tenant_id: &str) -> Result<Vec<String>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT origin FROM tenant_origins WHERE tenant_id = $1 ORDER BY origin",
            )
            .bind(tenant_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(r.try_get("origin")?)).collect()
        })
    }
}
