//! The operations commands of the `cloud-otp` binary: `user erase` (`erase`), `backup`
//! (`backup`), `audit export` and `tenant audit-retention` (`audit`), `webhook ...`
//! (`webhook`), and the `serve` options of the background tasks (audit retention, webhook
//! delivery). `cli/mod.rs` flattens these commands into its
//! own and passes the data directory; their errors (`OpsError`) carry their own exit statuses.

mod audit;
mod backup;
mod erase;
mod webhook;

use std::path::Path;
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::clock::Clock;
use crate::crypto::SharedCrypto;
use crate::metrics::Metrics;
use crate::storage::{Storage, StorageError, Tenant};
use crate::validate::{CustomerCode, Invalid};

/// The `user ...` commands of this module.
#[derive(Debug, Subcommand)]
pub enum UserOps {
    /// Erases every record of a trainee at an institution (device, verification state,
    /// sessions, passes, activation code, audit events) in one transaction; one
    /// `user_erased` audit event without the ID remains. The ID may enrol again as new.
    Erase(erase::EraseArgs),
}

/// The top-level commands of this module.
#[derive(Debug, Subcommand)]
pub enum TopOps {
    /// Copies the SQLite database to a new FILE (mode 0600) while servers keep serving: a
    /// consistent snapshot. On PostgreSQL use pg_dump (exit status 4).
    Backup(backup::BackupArgs),
    /// Reads an institution's audit log.
    #[command(subcommand)]
    Audit(AuditOps),
    /// Manages an institution's signed webhook: set, show, rotate-secret, remove, retry.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
}

/// `audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditOps {
    /// Writes an institution's audit events, oldest first, to standard output as JSON lines
    /// or CSV (with a header). --since is inclusive, --until exclusive.
    Export(audit::ExportArgs),
}

/// The `tenant ...` commands of this module.
#[derive(Debug, Subcommand)]
pub enum TenantOps {
    /// Sets how long an institution's audit events are kept (--days N, 0 = forever), or
    /// makes it follow the server's --audit-retention-days again (--server-default).
    AuditRetention(audit::RetentionArgs),
}

/// The `serve` options of this module's background tasks.
#[derive(Debug, Args)]
pub struct ServeOps {
    /// Delete audit events older than this many days, in the background (0 = keep forever);
    /// an institution's own setting (`tenant audit-retention`) comes first.
    #[arg(long, env = "CLOUD_OTP_AUDIT_RETENTION_DAYS", default_value_t = 0)]
    audit_retention_days: u32,
    /// Seconds one webhook delivery attempt may take (connecting, sending, the answer); a
    /// receiver that does not answer in time is tried again later.
    #[arg(long, env = "CLOUD_OTP_WEBHOOK_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    webhook_timeout: u64,
    /// A PEM file of extra root certificates (an operator's private CA) that webhook
    /// receivers' HTTPS certificates may chain to, trusted in addition to the operating
    /// system's roots. A file that cannot be read or holds no valid certificate stops `serve`
    /// at start.
    #[arg(long, env = "CLOUD_OTP_WEBHOOK_CA_FILE", value_name = "PATH")]
    webhook_ca_file: Option<std::path::PathBuf>,
}

impl ServeOps {
    /// Reads `--webhook-ca-file` and checks that the webhook sender's HTTPS client can be
    /// built with it: called before the server listens, so a bad file stops it at start.
    pub fn webhook_roots(&self) -> Result<crate::webhooks::Roots, String> {
        let roots = match &self.webhook_ca_file {
            Some(path) => crate::webhooks::Roots::from_pem_file(path)?,
            None => crate::webhooks::Roots::default(),
        };
        crate::webhooks::client(std::time::Duration::from_secs(self.webhook_timeout), &roots)
            .map_err(|e| format!("cannot build the webhook sender's HTTPS client: {e}"))?;
        Ok(roots)
    }

    /// Starts the background tasks on the server's database, keys, metrics and clock; the
    /// webhook sender trusts `roots` ([`ServeOps::webhook_roots`]) besides the system's.
    pub fn spawn(
        &self,
        storage: &Storage,
        crypto: Arc<SharedCrypto>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        roots: crate::webhooks::Roots,
    ) {
        let retention = crate::retention::Retention::new(self.audit_retention_days);
        tokio::spawn(crate::retention::run(
            storage.clone(),
            clock.clone(),
            retention,
        ));
        let delivery = crate::webhooks::Delivery {
            timeout: std::time::Duration::from_secs(self.webhook_timeout),
            ..crate::webhooks::Delivery::default()
        };
        let worker = crate::webhooks::Worker {
            storage: storage.clone(),
            crypto,
            metrics,
            clock,
            delivery,
            roots,
        };
        tokio::spawn(worker.run());
    }
}

/// Where a command finds the institution and the database.
#[derive(Debug, Args)]
pub(in crate::cli) struct Target {
    /// The institution's customer code.
    #[arg(long, visible_alias = "tenant")]
    customer_code: String,
    #[command(flatten)]
    db: DbArg,
}

/// The database option, as the other commands read it.
#[derive(Debug, Args)]
pub(in crate::cli) struct DbArg {
    /// Database URL (sqlite:PATH or postgres://...); default: the SQLite file in
    /// CLOUD_OTP_DATA_DIR (./data).
    #[arg(long, env = "CLOUD_OTP_DATABASE")]
    database: Option<String>,
}

/// A failure of one of these commands, printed as `error: ...`.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A wrong argument.
    #[error("{0}")]
    Input(String),
    /// Nothing to do for this target: a stable exit status of its own.
    #[error("{0}")]
    NotFound(String),
    /// The command does not apply to this database (backup on PostgreSQL).
    #[error("{0}")]
    Unsupported(String),
    /// Writing a file or the output failed.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
}

impl From<Invalid> for OpsError {
    fn from(e: Invalid) -> Self {
        OpsError::Input(e.0.to_owned())
    }
}

impl OpsError {
    /// The exit status: 1 for most failures; 2 is clap's (a wrong command line); 3 when the
    /// target does not exist (`user erase` of a user with no records); 4 when the command
    /// does not apply to the database (`backup` on PostgreSQL).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            OpsError::NotFound(_) => ExitCode::from(3),
            OpsError::Unsupported(_) => ExitCode::from(4),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Runs a `user ...` command of this module.
pub async fn run_user(command: UserOps, data_dir: &Path) -> Result<(), OpsError> {
    match command {
        UserOps::Erase(args) => erase::run(args, data_dir).await,
    }
}

/// Runs a top-level command of this module.
pub async fn run_top(command: TopOps, data_dir: &Path) -> Result<(), OpsError> {
    match command {
        TopOps::Backup(args) => backup::run(args, data_dir).await,
        TopOps::Audit(AuditOps::Export(args)) => audit::export(args, data_dir).await,
        TopOps::Webhook(command) => webhook::run(command, data_dir).await,
    }
}

/// Runs a `tenant ...` command of this module.
pub async fn run_tenant(command: TenantOps, data_dir: &Path) -> Result<(), OpsError> {
    match command {
        TenantOps::AuditRetention(args) => audit::retention(args, data_dir).await,
    }
}

/// Writes lines to standard output and flushes.
fn say(lines: &[String]) -> Result<(), OpsError> {
    super::write_lines(lines).map_err(|e| OpsError::Io("stdout", e))
}

async fn open(db: &DbArg, data_dir: &Path) -> Result<Storage, OpsError> {
    Ok(Storage::open(db.database.as_deref(), data_dir).await?)
}

/// The database and the institution of `target`.
async fn tenant(target: &Target, data_dir: &Path) -> Result<(Storage, Tenant), OpsError> {
    let code = CustomerCode::parse(&target.customer_code)?;
    let storage = open(&target.db, data_dir).await?;
    match storage.tenant_by_customer_code(code.as_str()).await {
        Ok(Some(t)) => Ok((storage, t)),
        Ok(None) => {
            storage.close().await;
            Err(OpsError::Input(format!(
                "no institution has customer code {code}"
            )))
        }
        Err(e) => {
            storage.close().await;
            Err(e.into())
        }
    }
}
