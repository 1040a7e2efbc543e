//! Storage on SQLite (the embedded default) or PostgreSQL, behind one type. Both backends run
//! the same SQL (one migration set, `$N` placeholders, which SQLite understands too); every
//! method is written once and expanded for each pool type by `with_pool!`.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cloud_otp_core::State;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Database, Row, Transaction};

use crate::validate::PinDigits;

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

type Result<T> = std::result::Result<T, StorageError>;

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
            Storage::Sqlite($pool) => $body,
            Storage::Postgres($pool) => $body,
        }
    };
}

/// Opens a transaction that holds the write lock from its start. SQLite upgrades a deferred
/// read transaction to a writer only if no other writer committed meanwhile (else
/// SQLITE_BUSY, which no busy timeout retries), so it starts with BEGIN IMMEDIATE; PostgreSQL
/// locks rows as statements touch them.
trait BeginWrite {
    type Db: Database;
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
                    Cow::Borrowed(include_str!("../migrations/0001_initial.sql")),
                    false,
                ),
                Migration::new(
                    2,
                    Cow::Borrowed("tenant policy"),
                    MigrationType::Simple,
                    Cow::Borrowed(include_str!("../migrations/0002_tenant_policy.sql")),
                    false,
                ),
            ])
        })
    }
}

/// An institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Internal identifier.
    pub id: String,
    /// Display name, the issuer of authenticator entries.
    pub name: String,
    /// The 4-digit customer code trainees type when activating.
    pub customer_code: String,
    /// The PIN policy: how many digits the PIN has that browsers mix into their keys.
    pub pin_digits: PinDigits,
    /// Whether trainees may use OTP at this institution now (open for service).
    pub in_service: bool,
}

/// A tenant to create.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Internal identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// 4-digit customer code, unique.
    pub customer_code: String,
    /// SHA-256 of the API key.
    pub api_key_hash: String,
    /// Registered web origins.
    pub origins: Vec<String>,
    /// The PIN policy.
    pub pin_digits: PinDigits,
    /// Creation time.
    pub created_ms: i64,
}

/// An OTP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The tenant that opened it.
    pub tenant_id: String,
    /// The user it is for.
    pub user_id: String,
    /// Why OTP is asked.
    pub purpose: String,
    /// Expiry time.
    pub expires_ms: i64,
    /// When a successful verification spent it.
    pub used_ms: Option<i64>,
}

impl SessionRecord {
    /// Whether the session can still be used at `now_ms`.
    pub fn usable(&self, now_ms: i64) -> bool {
        self.used_ms.is_none() && now_ms < self.expires_ms
    }
}

/// A registered device as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Device identifier.
    pub id: String,
    /// `browser` or `authenticator`.
    pub kind: String,
    /// Human label.
    pub label: String,
    /// SHA-256 fingerprint of the browser; none for authenticator apps.
    pub fingerprint: Option<String>,
    /// The encrypted secret (see `Crypto::seal_secret`).
    pub secret_enc: String,
    /// Registration time.
    pub registered_ms: i64,
}

/// A user's verification state and active device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The state the core's `verify` works on.
    pub state: State,
    /// The compare-and-set version of `state`.
    pub version: i64,
    /// The active device, if any.
    pub device: Option<DeviceRecord>,
}

/// A device to register.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Device identifier.
    pub id: String,
    /// `browser` or `authenticator`.
    pub kind: String,
    /// Human label.
    pub label: String,
    /// Browser fingerprint, if a browser.
    pub fingerprint: Option<String>,
    /// The encrypted secret.
    pub secret_enc: String,
}

/// A registration: which user, which device, and what authorizes it.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// The new device.
    pub device: NewDevice,
    /// Retire an existing device instead of refusing.
    pub replace: bool,
    /// Consume the user's activation code, which must still be unused, unexpired and at this
    /// attempt count (the value read when the code was checked).
    pub activation_attempts: Option<i64>,
    /// Now.
    pub now_ms: i64,
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// The device is active; `replaced` is the device it retired.
    Done {
        /// The retired device.
        replaced: Option<DeviceRecord>,
    },
    /// Refused: the user has this active device and `replace` was false.
    Exists(DeviceRecord),
    /// Refused: the user is suspended.
    Locked,
    /// Refused: the activation code was used or changed meanwhile.
    ActivationGone,
}

/// A pass to issue.
#[derive(Debug, Clone)]
pub struct NewPass {
    /// SHA-256 of the pass token.
    pub token_hash: String,
    /// Why OTP was asked (from the session).
    pub purpose: String,
    /// The device that produced the code.
    pub device_id: String,
    /// Its kind.
    pub device_kind: String,
    /// Its label.
    pub device_label: String,
    /// Expiry time.
    pub expires_ms: i64,
}

/// The write that ends a verification.
#[derive(Debug, Clone)]
pub struct VerifyCommit {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// The version read; the write happens only if it is still current.
    pub expected_version: i64,
    /// The new state from the core.
    pub state: State,
    /// On success through the widget: the session to spend and the pass to issue.
    pub spend: Option<(String, NewPass)>,
    /// Audit events written in the same transaction.
    pub audit: Vec<AuditEvent>,
    /// Now.
    pub now_ms: i64,
}

/// What a verification write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Written.
    Done,
    /// The state changed since it was read: decide again.
    Conflict,
    /// The session was spent or expired meanwhile.
    SessionGone,
}

/// A redeemed pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassRecord {
    /// The user who passed.
    pub user_id: String,
    /// For what.
    pub purpose: String,
    /// Device kind.
    pub device_kind: String,
    /// Device label.
    pub device_label: String,
    /// When the code was accepted.
    pub verified_ms: i64,
}

/// A user's outstanding activation code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    /// Keyed hash of the code.
    pub code_hash: String,
    /// Expiry time.
    pub expires_ms: i64,
    /// Wrong attempts so far.
    pub attempts: i64,
    /// When it was used.
    pub used_ms: Option<i64>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Tenant.
    pub tenant_id: String,
    /// User.
    pub user_id: String,
    /// When.
    pub at_ms: i64,
    /// What happened: device_registered, device_replaced, device_removed, verify, check,
    /// lock, unlock, activation_issued, activation_failed, pass_redeemed.
    pub event: String,
    /// How it ended, such as accepted, invalid_code, replayed, locked.
    pub outcome: String,
    /// The device concerned.
    pub device_label: Option<String>,
    /// Extra facts (never secrets), such as the purpose.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event without device or detail.
    pub fn new(tenant_id: &str, user_id: &str, at_ms: i64, event: &str, outcome: &str) -> Self {
        AuditEvent {
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            at_ms,
            event: event.to_owned(),
            outcome: outcome.to_owned(),
            device_label: None,
            detail: None,
        }
    }

    /// Adds the device label.
    pub fn device(mut self, label: &str) -> Self {
        self.device_label = Some(label.to_owned());
        self
    }

    /// Adds a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Creates the data directory readable by its owner only (0700): it holds the database and
/// the key files.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes an SQLite database file and its `-wal` and `-shm` files readable by their owner
/// only (0600): they hold user IDs and the audit log. A new database file is created so
/// before SQLite creates it with the umask's mode (0644 under umask 022, even in a private
/// directory made earlier by someone else); SQLite gives the `-wal` and `-shm` files it
/// creates the database file's mode, and files from before are narrowed here. A failure is
/// logged, not fatal: the database may be another user's file that this one may only write.
fn private_sqlite_files(db: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let name = db.as_os_str();
        if name.is_empty() || name == ":memory:" {
            return;
        }
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(db);
        if let Err(e) = created
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            tracing::warn!(file = %db.display(), error = %e, "cannot create the database file");
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = name.to_owned();
            file.push(suffix);
            let narrowed = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
            if let Err(e) = narrowed
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %Path::new(&file).display(), error = %e, "cannot make the database file private (0600)");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
}

/// Orders audit ids written by this process within one millisecond.
static AUDIT_SEQ: AtomicU32 = AtomicU32::new(0);

/// Random bits drawn once per process: they keep apart the ids of server processes that
/// share a PostgreSQL database. Once, not per event, because the sequence already keeps this
/// process's ids apart, and a draw per event was a system call per verification.
static PROCESS_TAG: OnceLock<String> = OnceLock::new();

/// A time-ordered, unique audit id: time, a per-process sequence, the process's random tag.
fn audit_id(at_ms: i64) -> String {
    let seq = AUDIT_SEQ.fetch_add(1, Ordering::Relaxed);
    let tag = PROCESS_TAG.get_or_init(|| hex::encode(crate::crypto::random_bytes(4).as_slice()));
    format!("{:016x}{seq:08x}{tag}", at_ms.max(0))
}

fn state_from(last_step: Option<i64>, failures: i64, locked: bool) -> Result<State> {
    let last_step = match last_step {
        Some(s) => Some(u64::try_from(s).map_err(|_| StorageError::Corrupt("last_step"))?),
        None => None,
    };
    let failures = u32::try_from(failures).map_err(|_| StorageError::Corrupt("failures"))?;
    Ok(State {
        last_step,
        failures,
        locked,
    })
}

fn step_to_db(state: &State) -> Option<i64> {
    state
        .last_step
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

fn device_from(row: &impl DeviceRow) -> Result<Option<DeviceRecord>> {
    row.device()
}

/// Reads the device columns of the user query from a row of either backend.
trait DeviceRow {
    fn device(&self) -> Result<Option<DeviceRecord>>;
}

macro_rules! impl_device_row {
    ($row:ty) => {
        impl DeviceRow for $row {
            fn device(&self) -> Result<Option<DeviceRecord>> {
                let id: Option<String> = self.try_get("device_id")?;
                let Some(id) = id else { return Ok(None) };
                Ok(Some(DeviceRecord {
                    id,
                    kind: self.try_get("kind")?,
                    label: self.try_get("label")?,
                    fingerprint: self.try_get("fingerprint")?,
                    secret_enc: self.try_get("secret_enc")?,
                    registered_ms: self.try_get("registered_ms")?,
                }))
            }
        }
    };
}
impl_device_row!(sqlx::sqlite::SqliteRow);
impl_device_row!(sqlx::postgres::PgRow);

/// Reads the columns of [`TENANT_COLUMNS`] from a row of either backend.
trait TenantRow {
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
                })
            }
        }
    };
}
impl_tenant_row!(sqlx::sqlite::SqliteRow);
impl_tenant_row!(sqlx::postgres::PgRow);

/// The columns a [`Tenant`] is read from.
const TENANT_COLUMNS: &str = "id, name, customer_code, pin_digits, in_service";

const DEVICE_COLUMNS: &str = "id AS device_id, kind, label, fingerprint, secret_enc, registered_ms";

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

    async fn open_sqlite(options: SqliteConnectOptions) -> Result<Storage> {
        private_sqlite_files(options.get_filename());
        // WAL lets readers run beside the one writer; the busy timeout makes writers queue
        // instead of failing when many verifications arrive at once. synchronous=NORMAL in
        // WAL mode: a commit is written to the WAL file (in the operating system's hands, so
        // it survives a crash of this process) but not fsynced; only checkpoints fsync.
        // Checkpoints run in the background (`checkpoints`), not inside whichever commit
        // crosses the WAL size limit, where they stalled every writer for the length of two
        // fsyncs (docs/benchmarks-history.md).
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("wal_autocheckpoint", "0")
            // A write batch's multi-row UPDATE keeps a statement journal; in memory, not in a
            // temporary file that was created and deleted for each batch.
            .pragma("temp_store", "MEMORY")
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // No ping before handing out a connection: an embedded file cannot go away like a
        // server can, and each ping is a round trip to the connection's worker thread, which
        // cost about a third of a verification's CPU time (docs/benchmarks-history.md).
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_CONNECTIONS)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        tokio::spawn(checkpoints(pool.clone()));
        Ok(Storage::Sqlite(pool))
    }

    /// Applies the embedded migrations that are not applied yet. Safe to run from several
    /// processes at once (sqlx takes an advisory lock on PostgreSQL).
    pub async fn migrate(&self) -> Result<()> {
        let migrator = Migrator::new(Migrations).await?;
        with_pool!(self, |pool| migrator.run(pool).await?);
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

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

    // ----- tenants -----

    /// Creates a tenant with its origins.
    pub async fn create_tenant(&self, t: &NewTenant) -> Result<()> {
        let result: sqlx::Result<()> = with_pool!(self, |pool| {
            async {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO tenants (id, name, customer_code, api_key_hash, created_ms, pin_digits) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.customer_code)
            .bind(&t.api_key_hash)
            .bind(t.created_ms)
            .bind(i32::from(t.pin_digits.digits()))
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

    // ----- sessions -----

    /// Stores a new session.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        s: &SessionRecord,
        now_ms: i64,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO sessions (token_hash, tenant_id, user_id, purpose, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(token_hash)
        .bind(&s.tenant_id)
        .bind(&s.user_id)
        .bind(&s.purpose)
        .bind(now_ms)
        .bind(s.expires_ms)
        .execute(pool)
        .await.map(drop)?
        });
        Ok(())
    }

    /// The session with this token hash.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT tenant_id, user_id, purpose, expires_ms, used_ms FROM sessions WHERE token_hash = $1",
            )
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(SessionRecord {
                    tenant_id: row.try_get("tenant_id")?,
                    user_id: row.try_get("user_id")?,
                    purpose: row.try_get("purpose")?,
                    expires_ms: row.try_get("expires_ms")?,
                    used_ms: row.try_get("used_ms")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// The session with this token hash and the tenant that opened it, in one query (the
    /// browser endpoints need both on every request).
    pub async fn session_and_tenant(
        &self,
        token_hash: &str,
    ) -> Result<Option<(SessionRecord, Tenant)>> {
        let sql = format!(
            "SELECT s.user_id, s.purpose, s.expires_ms, s.used_ms, t.{cols} \
             FROM sessions s JOIN tenants t ON t.id = s.tenant_id WHERE s.token_hash = $1",
            cols = TENANT_COLUMNS.replace(", ", ", t.")
        );
        with_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => {
                    let tenant = row.tenant()?;
                    let session = SessionRecord {
                        tenant_id: tenant.id.clone(),
                        user_id: row.try_get("user_id")?,
                        purpose: row.try_get("purpose")?,
                        expires_ms: row.try_get("expires_ms")?,
                        used_ms: row.try_get("used_ms")?,
                    };
                    Ok(Some((session, tenant)))
                }
                None => Ok(None),
            }
        })
    }

    // ----- users and devices -----

    /// A user's state and active device; `None` if the user never had a device.
    pub async fn user(&self, tenant_id: &str, user_id: &str) -> Result<Option<UserRecord>> {
        let sql = format!(
            "SELECT u.last_step, u.failures, u.locked, u.version, d.{cols} \
             FROM users u LEFT JOIN devices d \
               ON d.tenant_id = u.tenant_id AND d.user_id = u.user_id AND d.retired_ms IS NULL \
             WHERE u.tenant_id = $1 AND u.user_id = $2",
            cols = DEVICE_COLUMNS.replace(", ", ", d.")
        );
        with_pool!(self, |pool| {
            match sqlx::query(&sql)
                .bind(tenant_id)
                .bind(user_id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(UserRecord {
                    state: state_from(
                        row.try_get("last_step")?,
                        row.try_get("failures")?,
                        row.try_get("locked")?,
                    )?,
                    version: row.try_get("version")?,
                    device: device_from(&row)?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Registers a device in one transaction: creates the user if new, refuses if locked,
    /// consumes the activation code if one authorizes it, retires the old device if
    /// `replace`, and writes the audit events. A registration by activation code should use
    /// [`Storage::register_device_by_activation`], which also makes sure the code consumed is
    /// the one checked.
    pub async fn register_device(&self, r: &Registration) -> Result<Registered> {
        self.register(r, None).await
    }

    /// [`Storage::register_device`] authorized by the activation code whose keyed hash is
    /// `code_hash` (with `r.activation_attempts` read together with it): if the institution
    /// issued another code since it was checked, nothing is consumed and the answer is
    /// [`Registered::ActivationGone`], so the new code is checked in turn.
    pub async fn register_device_by_activation(
        &self,
        r: &Registration,
        code_hash: &str,
    ) -> Result<Registered> {
        self.register(r, Some(code_hash)).await
    }

    async fn register(&self, r: &Registration, code_hash: Option<&str>) -> Result<Registered> {
        let now = r.now_ms;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO users (tenant_id, user_id, last_step, failures, locked, version, created_ms) \
                 VALUES ($1, $2, NULL, 0, FALSE, 0, $3) ON CONFLICT (tenant_id, user_id) DO NOTHING",
            )
            .bind(&r.tenant_id)
            .bind(&r.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // Locks the user row (PostgreSQL) and invalidates verifications in flight. The
            // last accepted step stays: a code accepted once is never accepted again, also
            // when the same secret is registered again (docs/security.md).
            let unlocked = sqlx::query(
                "UPDATE users SET version = version + 1 \
                 WHERE tenant_id = $1 AND user_id = $2 AND locked = FALSE",
            )
            .bind(&r.tenant_id)
            .bind(&r.user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if unlocked == 0 {
                return Ok(Registered::Locked);
            }
            if let Some(attempts) = r.activation_attempts {
                let used = sqlx::query(
                    "UPDATE activations SET used_ms = $1 WHERE tenant_id = $2 AND user_id = $3 \
                     AND used_ms IS NULL AND attempts = $4 AND expires_ms > $1 \
                     AND ($5 IS NULL OR code_hash = $5)",
                )
                .bind(now)
                .bind(&r.tenant_id)
                .bind(&r.user_id)
                .bind(attempts)
                .bind(code_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if used == 0 {
                    return Ok(Registered::ActivationGone);
                }
            }
            let sql = format!(
                "SELECT {DEVICE_COLUMNS} FROM devices \
                 WHERE tenant_id = $1 AND user_id = $2 AND retired_ms IS NULL"
            );
            let old = match sqlx::query(&sql)
                .bind(&r.tenant_id)
                .bind(&r.user_id)
                .fetch_optional(&mut *tx)
                .await?
            {
                Some(row) => device_from(&row)?,
                None => None,
            };
            if let Some(old) = &old {
                if !r.replace {
                    return Ok(Registered::Exists(old.clone()));
                }
                sqlx::query("UPDATE devices SET retired_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&old.id)
                    .execute(&mut *tx)
                    .await?;
            }
            let d = &r.device;
            sqlx::query(
                "INSERT INTO devices (id, tenant_id, user_id, kind, label, fingerprint, secret_enc, registered_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&d.id)
            .bind(&r.tenant_id)
            .bind(&r.user_id)
            .bind(&d.kind)
            .bind(&d.label)
            .bind(&d.fingerprint)
            .bind(&d.secret_enc)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let mut events = Vec::new();
            // The same browser again (its fingerprint): it lost its key, usually because the
            // browser erased the site's data, and is not another device taking over.
            let same_browser = old
                .as_ref()
                .is_some_and(|o| o.fingerprint.is_some() && o.fingerprint == r.device.fingerprint);
            if let Some(old) = &old {
                let why = if same_browser {
                    "reregistered"
                } else {
                    "replaced"
                };
                events.push(
                    AuditEvent::new(&r.tenant_id, &r.user_id, now, "device_retired", why)
                        .device(&old.label),
                );
            }
            let event = match (&old, same_browser) {
                (Some(_), true) => "device_reregistered",
                (Some(_), false) => "device_replaced",
                (None, _) => "device_registered",
            };
            let how = "registered";
            let via = if r.activation_attempts.is_some() {
                "activation"
            } else {
                "session"
            };
            let via = if d.kind == "authenticator" {
                "api"
            } else {
                via
            };
            events.push(
                AuditEvent::new(&r.tenant_id, &r.user_id, now, event, how)
                    .device(&d.label)
                    .detail(format!("kind={} via={via}", d.kind)),
            );
            for e in &events {
                insert_audit!(&mut *tx, e)?;
            }
            tx.commit().await?;
            Ok(Registered::Done { replaced: old })
        })
    }

    /// Writes the outcome of a verification if the user's state is still at
    /// `expected_version`; on success through the widget also spends the session and issues
    /// the pass, all in one transaction.
    pub async fn commit_verification(&self, c: &VerifyCommit) -> Result<Committed> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let written = sqlx::query(
                "UPDATE users SET last_step = $1, failures = $2, locked = $3, version = version + 1 \
                 WHERE tenant_id = $4 AND user_id = $5 AND version = $6",
            )
            .bind(step_to_db(&c.state))
            .bind(i64::from(c.state.failures))
            .bind(c.state.locked)
            .bind(&c.tenant_id)
            .bind(&c.user_id)
            .bind(c.expected_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 0 {
                return Ok(Committed::Conflict);
            }
            if let Some((session_hash, pass)) = &c.spend {
                let spent = sqlx::query(
                    "UPDATE sessions SET used_ms = $1 \
                     WHERE token_hash = $2 AND used_ms IS NULL AND expires_ms > $1",
                )
                .bind(c.now_ms)
                .bind(session_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if spent == 0 {
                    return Ok(Committed::SessionGone);
                }
                sqlx::query(
                    "INSERT INTO passes (token_hash, tenant_id, user_id, purpose, device_id, \
                     device_kind, device_label, verified_ms, expires_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&pass.token_hash)
                .bind(&c.tenant_id)
                .bind(&c.user_id)
                .bind(&pass.purpose)
                .bind(&pass.device_id)
                .bind(&pass.device_kind)
                .bind(&pass.device_label)
                .bind(c.now_ms)
                .bind(pass.expires_ms)
                .execute(&mut *tx)
                .await?;
            }
            for e in &c.audit {
                insert_audit!(&mut *tx, e)?;
            }
            tx.commit().await?;
            Ok(Committed::Done)
        })
    }

    /// Clears the failure count and the lock; with `revoke_device` also retires the device.
    /// Returns the user after the change, `None` if the user never had a device.
    pub async fn unlock(
        &self,
        tenant_id: &str,
        user_id: &str,
        revoke_device: bool,
        now_ms: i64,
    ) -> Result<Option<()>> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE users SET failures = 0, locked = FALSE, version = version + 1 \
                 WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok(None);
            }
            let mut events = vec![AuditEvent::new(
                tenant_id, user_id, now_ms, "unlock", "unlocked",
            )];
            if revoke_device
                && let Some(label) = retire_active!(&mut *tx, tenant_id, user_id, now_ms)
            {
                events.push(
                    AuditEvent::new(tenant_id, user_id, now_ms, "device_removed", "revoked")
                        .device(&label),
                );
            }
            for e in &events {
                insert_audit!(&mut *tx, e)?;
            }
            tx.commit().await?;
            Ok(Some(()))
        })
    }

    /// Retires the user's active device; `false` if there was none.
    pub async fn remove_device(&self, tenant_id: &str, user_id: &str, now_ms: i64) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // The last accepted step stays, as in `register_device`.
            sqlx::query(
                "UPDATE users SET version = version + 1 \
                 WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            let Some(label) = retire_active!(&mut *tx, tenant_id, user_id, now_ms) else {
                return Ok(false);
            };
            let event = AuditEvent::new(tenant_id, user_id, now_ms, "device_removed", "removed")
                .device(&label);
            insert_audit!(&mut *tx, &event)?;
            tx.commit().await?;
            Ok(true)
        })
    }

    // ----- passes -----

    /// Redeems a pass of `tenant_id`: marks it used if it is unused and unexpired, in one
    /// statement, so two redemptions of one pass cannot both succeed.
    pub async fn redeem_pass(
        &self,
        tenant_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<PassRecord>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "UPDATE passes SET redeemed_ms = $1 \
                 WHERE token_hash = $2 AND tenant_id = $3 AND redeemed_ms IS NULL AND expires_ms > $1 \
                 RETURNING user_id, purpose, device_kind, device_label, verified_ms",
            )
            .bind(now_ms)
            .bind(token_hash)
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(row) => Ok(Some(PassRecord {
                    user_id: row.try_get("user_id")?,
                    purpose: row.try_get("purpose")?,
                    device_kind: row.try_get("device_kind")?,
                    device_label: row.try_get("device_label")?,
                    verified_ms: row.try_get("verified_ms")?,
                })),
                None => Ok(None),
            }
        })
    }

    // ----- activations -----

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
        event: &AuditEvent,
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

    // ----- audit -----

    /// Appends one audit event.
    pub async fn audit(&self, event: &AuditEvent) -> Result<()> {
        with_pool!(self, |pool| insert_audit!(pool, event))?;
        Ok(())
    }

    /// A tenant's audit events at or after `since_ms`, oldest first, optionally of one user.
    pub async fn audit_events(
        &self,
        tenant_id: &str,
        user_id: Option<&str>,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT user_id, at_ms, event, outcome, device_label, detail FROM audit_events \
                 WHERE tenant_id = $1 AND at_ms >= $2 AND ($3 = '' OR user_id = $3) \
                 ORDER BY id LIMIT $4",
            )
            .bind(tenant_id)
            .bind(since_ms)
            .bind(user_id.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEvent {
                        tenant_id: tenant_id.to_owned(),
                        user_id: row.try_get("user_id")?,
                        at_ms: row.try_get("at_ms")?,
                        event: row.try_get("event")?,
                        outcome: row.try_get("outcome")?,
                        device_label: row.try_get("device_label")?,
                        detail: row.try_get("detail")?,
                    })
                })
                .collect()
        })
    }

    /// Deletes sessions and passes that expired before `before_ms`; returns how many.
    pub async fn purge_expired(&self, before_ms: i64) -> Result<u64> {
        with_pool!(self, |pool| {
            let a = sqlx::query("DELETE FROM sessions WHERE expires_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected();
            let b = sqlx::query("DELETE FROM passes WHERE expires_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(a + b)
        })
    }
}

/// SQLite connections in the pool: the checkpointer, the widget's verifications, the
/// administration and the other requests off the `/v1/check` path (the group readers and
/// the group writer keep connections of their own, see [`Storage::sqlite_connection`]).
/// Each costs a thread and its own page cache.
const SQLITE_CONNECTIONS: u32 = 4;

/// How often the SQLite WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// WAL frames (pages) above which the checkpointer also empties the WAL file: 65536 frames,
/// 256 MiB with 4 KiB pages. Emptying holds writers back in SQLite's busy handler, which
/// sleeps in steps of milliseconds; at 32 MiB that happened about once a second at full load,
/// when p99 latency was twice what it is with this limit (docs/benchmarks-history.md).
const WAL_TRUNCATE_FRAMES: i64 = 65536;

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] until the pool closes.
/// PASSIVE first: it never waits for readers or writers, who go on meanwhile. Under a steady
/// stream of writes a passive checkpoint never finds the WAL both fully copied and unused,
/// so the WAL is never started again from its beginning and keeps growing; past
/// [`WAL_TRUNCATE_FRAMES`] a TRUNCATE checkpoint, with little left to copy, waits for the
/// readers of the moment and empties it, holding writers back for a few milliseconds.
async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&pool).await
            && !pool.is_closed()
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

async fn checkpoint(pool: &SqlitePool) -> sqlx::Result<()> {
    // The pragma answers (busy, frames in the WAL, frames copied).
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    let frames: i64 = row.try_get(1)?;
    if frames >= WAL_TRUNCATE_FRAMES {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await?;
    }
    Ok(())
}

// The group read and group commit of SQLite ([`crate::batch`]). Each runs as one command to
// the worker thread of a connection of its own: sqlx's SQLite driver runs every statement on
// that thread and hops back to the async side for each result, and its BEGIN and COMMIT
// each wait for the async side to acknowledge them, so a transaction of BEGIN, two
// statements and COMMIT cost four round trips and the two acknowledgements. One command that
// holds the whole transaction costs one round trip. Each takes its whole batch as one JSON
// array parameter, unpacked by SQLite's json_each, so that one prepared statement serves
// every batch size (a VALUES list per size was parsed and prepared again and again), and
// each answers with a single row, so the worker sends one message rather than one per user.

/// Reads users given as `[[tenant_id, user_id], ...]`, each a primary-key lookup; answers
/// one JSON array with one `[index, last_step, failures, locked, version, device columns...]`
/// per user found.
const GROUP_READ_SQL: &str = "SELECT json_group_array(json_array(k.key, u.last_step, \
     u.failures, u.locked, u.version, d.id, d.kind, d.label, d.fingerprint, d.secret_enc, \
     d.registered_ms)) \
     FROM json_each($1) AS k \
     JOIN users u ON u.tenant_id = k.value ->> 0 AND u.user_id = k.value ->> 1 \
     LEFT JOIN devices d \
       ON d.tenant_id = u.tenant_id AND d.user_id = u.user_id AND d.retired_ms IS NULL";

/// One transaction for a batch of checks given in `$1` as `[[tenant_id, user_id, last_step,
/// failures, locked, expected_version], ...]` and audit events given in `$2` as `[[id,
/// tenant_id, user_id, at_ms, event, outcome, device_label, detail, condition], ...]`.
///
/// A check is written only if its user is still at the expected version. The SELECT names
/// those checks (the indexes into `$1`) before anything changes, the INSERT writes an audit
/// event whose condition is `[tenant_id, user_id, expected_version]` only if that holds, and
/// the UPDATE then writes exactly those checks: all three test the same rows under the same
/// write lock (BEGIN IMMEDIATE), so they agree. Events without a condition (null) are
/// always written.
const GROUP_COMMIT_SQL: &str = "BEGIN IMMEDIATE; \
     SELECT json_group_array(v.key) FROM json_each($1) AS v \
     JOIN users u ON u.tenant_id = v.value ->> 0 AND u.user_id = v.value ->> 1 \
       AND u.version = v.value ->> 5; \
     INSERT INTO audit_events \
     (id, tenant_id, user_id, at_ms, event, outcome, device_label, detail) \
     SELECT a.value ->> 0, a.value ->> 1, a.value ->> 2, a.value ->> 3, a.value ->> 4, \
       a.value ->> 5, a.value ->> 6, a.value ->> 7 \
     FROM json_each($2) AS a \
     WHERE a.value ->> 8 IS NULL OR EXISTS (SELECT 1 FROM users u \
       WHERE u.tenant_id = a.value ->> '$[8][0]' AND u.user_id = a.value ->> '$[8][1]' \
         AND u.version = a.value ->> '$[8][2]'); \
     UPDATE users SET last_step = v.value ->> 2, failures = v.value ->> 3, \
       locked = v.value ->> 4, version = users.version + 1 \
     FROM json_each($1) AS v \
     WHERE users.tenant_id = v.value ->> 0 AND users.user_id = v.value ->> 1 \
       AND users.version = v.value ->> 5; \
     COMMIT";

/// One user of [`GROUP_READ_SQL`]'s answer: the index of its key, its state, and its active
/// device's columns (all null without one).
#[derive(Debug, serde::Deserialize)]
struct GroupUser(
    usize,
    Option<i64>,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

impl GroupUser {
    fn record(self) -> Result<(usize, UserRecord)> {
        let GroupUser(index, last_step, failures, locked, version, id, kind, label, fp, sec, at) =
            self;
        let device = match id {
            None => None,
            Some(id) => Some(DeviceRecord {
                id,
                kind: kind.ok_or(StorageError::Corrupt("kind"))?,
                label: label.ok_or(StorageError::Corrupt("label"))?,
                fingerprint: fp,
                secret_enc: sec.ok_or(StorageError::Corrupt("secret_enc"))?,
                registered_ms: at.ok_or(StorageError::Corrupt("registered_ms"))?,
            }),
        };
        Ok((
            index,
            UserRecord {
                state: state_from(last_step, failures, locked != 0)?,
                version,
                device,
            },
        ))
    }
}

/// The condition of an audit event in [`GROUP_COMMIT_SQL`]: the check it belongs to.
type Condition<'a> = Option<(&'a str, &'a str, i64)>;

/// One audit event as [`GROUP_COMMIT_SQL`] takes it.
type AuditRow<'a> = (
    String,
    &'a str,
    &'a str,
    i64,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Condition<'a>,
);

fn audit_row<'a>(e: &'a AuditEvent, condition: Condition<'a>) -> AuditRow<'a> {
    (
        audit_id(e.at_ms),
        &e.tenant_id,
        &e.user_id,
        e.at_ms,
        &e.event,
        &e.outcome,
        e.device_label.as_deref(),
        e.detail.as_deref(),
        condition,
    )
}

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|_| StorageError::Corrupt("batch"))
}

impl Storage {
    /// A connection to the SQLite database of its own, outside the pool, for the group
    /// reader and writer of [`crate::batch`], which keep it (taking one from the pool for
    /// each batch and giving it back cost a task each time). `None` on PostgreSQL.
    pub async fn sqlite_connection(&self) -> Result<Option<SqliteConnection>> {
        match self {
            Storage::Sqlite(pool) => Ok(Some(pool.connect_options().connect().await?)),
            Storage::Postgres(_) => Ok(None),
        }
    }

    /// Whether [`Storage::close`] was called.
    pub fn is_closed(&self) -> bool {
        with_pool!(self, |pool| pool.is_closed())
    }

    /// Many users at once, in the order of `keys` (tenant, user), each as [`Storage::user`]
    /// returns it: the group read of [`crate::batch`], one statement and one answer
    /// ([`GROUP_READ_SQL`]).
    pub async fn group_read(
        conn: &mut SqliteConnection,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<UserRecord>>> {
        let mut out = vec![None; keys.len()];
        if keys.is_empty() {
            return Ok(out);
        }
        let answer: String = sqlx::query_scalar(GROUP_READ_SQL)
            .bind(to_json(&keys)?)
            .fetch_one(&mut *conn)
            .await?;
        let users: Vec<GroupUser> =
            serde_json::from_str(&answer).map_err(|_| StorageError::Corrupt("users"))?;
        for user in users {
            let (index, record) = user.record()?;
            if let Some(slot) = out.get_mut(index) {
                *slot = Some(record);
            }
        }
        Ok(out)
    }

    /// Writes the outcomes of many code checks and some audit events in one transaction: the
    /// group commit of [`crate::batch`], one command to the connection's thread
    /// ([`GROUP_COMMIT_SQL`]). Each check is written only if its user is still at its
    /// `expected_version`, exactly as [`Storage::commit_verification`] would, and its audit
    /// events only if it was written. Preconditions (the caller's): no check spends a
    /// session, and no two checks are for the same user.
    ///
    /// After an error the transaction may still be open on `conn`: the caller must close
    /// the connection (which rolls it back) rather than use it again.
    pub async fn group_commit(
        conn: &mut SqliteConnection,
        checks: &[VerifyCommit],
        audits: &[AuditEvent],
    ) -> Result<Vec<Committed>> {
        if checks.is_empty() && audits.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<_> = checks
            .iter()
            .map(|c| {
                (
                    &c.tenant_id,
                    &c.user_id,
                    step_to_db(&c.state),
                    c.state.failures,
                    c.state.locked,
                    c.expected_version,
                )
            })
            .collect();
        let events: Vec<AuditRow<'_>> = checks
            .iter()
            .flat_map(|c| {
                let condition =
                    Some((c.tenant_id.as_str(), c.user_id.as_str(), c.expected_version));
                c.audit.iter().map(move |e| audit_row(e, condition))
            })
            .chain(audits.iter().map(|e| audit_row(e, None)))
            .collect();
        let answer: Vec<String> = sqlx::query_scalar(GROUP_COMMIT_SQL)
            .bind(to_json(&rows)?)
            .bind(to_json(&events)?)
            .fetch_all(&mut *conn)
            .await?;
        let written: Vec<usize> = match answer.as_slice() {
            [one] => serde_json::from_str(one).map_err(|_| StorageError::Corrupt("written"))?,
            _ => return Err(StorageError::Corrupt("written")),
        };
        let mut out = vec![Committed::Conflict; checks.len()];
        for index in written {
            if let Some(slot) = out.get_mut(index) {
                *slot = Committed::Done;
            }
        }
        Ok(out)
    }
}

/// Inserts one audit event through an executor of either backend. A macro rather than a
/// generic function: sqlx's generic executor bounds make the futures of the callers lose
/// `Send`, which axum handlers need.
macro_rules! insert_audit {
    ($executor:expr, $e:expr) => {{
        let e: &AuditEvent = $e;
        sqlx::query(
            "INSERT INTO audit_events (id, tenant_id, user_id, at_ms, event, outcome, device_label, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(audit_id(e.at_ms))
        .bind(&e.tenant_id)
        .bind(&e.user_id)
        .bind(e.at_ms)
        .bind(&e.event)
        .bind(&e.outcome)
        .bind(&e.device_label)
        .bind(&e.detail)
        .execute($executor)
        .await
        .map(drop)
    }};
}
use insert_audit;

/// Retires the active device of a user; evaluates to its label, `None` if there was none.
macro_rules! retire_active {
    ($executor:expr, $tenant_id:expr, $user_id:expr, $now_ms:expr) => {{
        let row = sqlx::query(
            "UPDATE devices SET retired_ms = $1 \
             WHERE tenant_id = $2 AND user_id = $3 AND retired_ms IS NULL RETURNING label",
        )
        .bind($now_ms)
        .bind($tenant_id)
        .bind($user_id)
        .fetch_optional($executor)
        .await?;
        match row {
            Some(row) => Some(row.try_get::<String, _>("label")?),
            None => None,
        }
    }};
}
use retire_active;
