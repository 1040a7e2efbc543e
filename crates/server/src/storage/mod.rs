//! Storage on SQLite (the embedded default) or PostgreSQL, behind one type. Both backends run
//! the same SQL (one migration set, `$N` placeholders, which SQLite understands too); every
//! method is written once and expanded for each pool type by `with_pool!`.
//!
//! Every SQL statement of the server lives in this folder, one file per table family:
//! `tenants` (tenants and origins), `sessions` (sessions and passes), `users` (users and
//! devices, and the verification write), `activations`, `audit`, `erasure` (erasing a
//! trainee), `retention` (audit retention and export), `webhooks` (webhooks and their
//! outbox), `keys` (the key check and the re-encryption of secrets); `records` holds the row
//! types, `sqlite` the SQLite-specific setup (pragmas, file modes, the WAL checkpointer),
//! `backup` its online copy (`VACUUM INTO`), `group` and `batch` the group read and group
//! commit of verifications on SQLite. This file opens and migrates the database.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Database, Transaction};

mod activations;
mod audit;
mod backup;
pub mod batch;
mod erasure;
mod group;
mod keys;
mod pg_group;
mod records;
mod retention;
mod sessions;
mod sqlite;
mod tenants;
mod users;
mod webhooks;

pub use crate::data_dir::create_private_dir;
pub use backup::BackupError;
pub use erasure::Erased;
pub use records::{
    ActivationRecord, AuditEntry, AuditLine, Committed, DeviceRecord, NewDevice, NewPass,
    NewTenant, PassRecord, Redemption, Registered, Registration, SessionRecord, Tenant, UserRecord,
    VerifyCommit,
};
pub use retention::AuditPage;
pub use webhooks::{OutboxItem, WebhookRecord, WebhookStats};

/// The name of the SQLite file in the data directory.
pub const SQLITE_FILE: &str = "cloud-otp.db";

/// Why a storage operation failed. Messages name tables and constraints, never secrets.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A URL that is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL: expected sqlite:PATH or postgres://...")]
    UnsupportedUrl,
    /// `tenant create` with a customer code that is taken.
    #[error("customer code {0} is already in use")]
    CustomerCodeTaken(String),
    /// The server was started with a master key other than the database's.
    #[error(
        "the master key does not match the key this database was created with \
         (check CLOUD_OTP_MASTER_KEY or the key file in the data directory)"
    )]
    KeyMismatch,
    /// A stored number outside its range: a corrupt row.
    #[error("corrupt value in column {0}")]
    Corrupt(&'static str),
}

pub(crate) type Result<T> = std::result::Result<T, StorageError>;

/// The database: a pool of SQLite or PostgreSQL connections. Cloning shares the pool.
#[derive(Debug, Clone)]
pub enum Storage {
    /// An SQLite file in WAL mode.
    Sqlite(SqlitePool),
    /// A PostgreSQL database, which many server processes may share.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of either backend.
macro_rules! with_pool {
    ($storage:expr, |$pool:ident| $body:expr) => {
        match $storage {
            $crate::storage::Storage::Sqlite($pool) => $body,
            $crate::storage::Storage::Postgres($pool) => $body,
        }
    };
}
use with_pool;

/// Opens a transaction that holds the write lock from its start. SQLite upgrades a deferred
/// read transaction to a writer only if no other writer committed meanwhile (else
/// SQLITE_BUSY, which no busy timeout retries), so it starts with BEGIN IMMEDIATE; PostgreSQL
/// locks rows as statements touch them.
trait BeginWrite {
    /// The backend.
    type Db: Database;
    /// Begins the write transaction.
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::Db>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, sqlx::Sqlite>>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, sqlx::Postgres>>> + Send {
        self.begin()
    }
}

/// The migrations, embedded in the binary.
#[derive(Debug)]
struct Migrations;

impl MigrationSource<'static> for Migrations {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn Future<Output = std::result::Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send,
        >,
    > {
        Box::pin(async {
            Ok(vec![
                Migration::new(
                    1,
                    Cow::Borrowed("initial"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!("../../migrations/0001_initial.sql")),
                    false,
                ),
                Migration::new(
                    2,
                    Cow::Borrowed("tenant policy"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!("../../migrations/0002_tenant_policy.sql")),
                    false,
                ),
                Migration::new(
                    3,
                    Cow::Borrowed("audit retention"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!("../../migrations/0003_audit_retention.sql")),
                    false,
                ),
                Migration::new(
                    4,
                    Cow::Borrowed("webhooks"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!("../../migrations/0004_webhooks.sql")),
                    false,
                ),
                Migration::new(
                    5,
                    Cow::Borrowed("test tenants and pass origin"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!(
                        "../../migrations/0005_test_tenants_and_pass_origin.sql"
                    )),
                    false,
                ),
            ])
        })
    }
}

impl Storage {
    /// Opens the database at `url` (`sqlite:PATH` or `postgres://...`) and brings its schema
    /// up to date.
    pub async fn connect(url: &str) -> Result<Storage> {
        let storage = if url.starts_with("sqlite:") {
            Self::open_sqlite(SqliteConnectOptions::from_str(url)?).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Storage::Postgres(pool)
        } else {
            return Err(StorageError::UnsupportedUrl);
        };
        storage.migrate().await?;
        Ok(storage)
    }

    /// Opens (creating it on first use) the SQLite file `path` and migrates it.
    pub async fn sqlite_file(path: &Path) -> Result<Storage> {
        let storage = Self::open_sqlite(SqliteConnectOptions::new().filename(path)).await?;
        storage.migrate().await?;
        Ok(storage)
    }

    /// The database of `database` (a URL) or, without one, the SQLite file in `data_dir`.
    pub async fn open(database: Option<&str>, data_dir: &Path) -> Result<Storage> {
        match database {
            Some(url) => Self::connect(url).await,
            None => {
                create_private_dir(data_dir).map_err(sqlx::Error::Io)?;
                Self::sqlite_file(&data_dir.join(SQLITE_FILE)).await
            }
        }
    }

    /// Applies the embedded migrations that are not applied yet. Safe to run from several
    /// processes at once (sqlx takes an advisory lock on PostgreSQL).
    pub async fn migrate(&self) -> Result<()> {
        let migrator = Migrator::new(Migrations).await?;
        with_pool!(self, |pool| migrator.run(pool).await?);
        Ok(())
    }

    /// Whether the database answers: one trivial query, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}
