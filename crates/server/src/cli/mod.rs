//! The `cloud-otp` operator command: `serve`, `tenant create|update|rotate-api-key|list`,
//! `user show|unlock`, `rotate-master-key`; the operations commands (`user erase`, `backup`,
//! `audit export`, `tenant audit-retention`) are in `ops/`, and `serve` in `serve.rs`.
//! Results go to standard output (an API key alone on the last line), logs to standard error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::clock::{Clock, SystemClock, db_ms, rfc3339};
use crate::crypto::{
    EXTRA_KEYS_ENV, EXTRA_KEYS_FILE, KEY_ENV, KEY_FILE, LoadedKeys, load_key_ring,
};
#[cfg(feature = "demo")]
use crate::demo;
use crate::reload::{key_envs, primary_key_env};
use crate::storage::{Storage, Tenant};
use crate::test_mode::TestMode;
use crate::validate::{CustomerCode, Origin, PinDigits, TenantName, UserId};
use serve::ServeArgs;

mod ops;
mod serve;

/// The data directory's environment variable; `./data` when unset.
pub const DATA_DIR_ENV: &str = "CLOUD_OTP_DATA_DIR";

/// cloud-otp: a browser-bound one-time-password service.
#[derive(Debug, Parser)]
#[command(name = "cloud-otp", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP server.
    ///
    /// SIGINT or SIGTERM stop it after the requests in flight (at most --shutdown-timeout
    /// seconds). SIGHUP reloads the master
    /// keys from the key files (DATA_DIR/master.key and DATA_DIR/extra-master.keys, each
    /// used only when its variable, CLOUD_OTP_MASTER_KEY or CLOUD_OTP_EXTRA_MASTER_KEYS, is
    /// unset) without stopping; a key set that cannot be read or does not match the database
    /// is refused and the current keys stay in use (docs/security.md).
    Serve(ServeArgs),
    /// Manages institutions (tenants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Looks at and unlocks trainees.
    #[command(subcommand)]
    User(UserCommand),
    /// Re-encrypts every device secret under the new master key, while servers keep running.
    ///
    /// The new key is the one in CLOUD_OTP_MASTER_KEY (or DATA_DIR/master.key); the old
    /// secrets are opened with the keys in CLOUD_OTP_EXTRA_MASTER_KEYS (or
    /// DATA_DIR/extra-master.keys). See docs/security.md for the whole procedure.
    RotateMasterKey {
        #[command(flatten)]
        db: Database,
    },
    /// The operations commands (cli/ops/).
    #[command(flatten)]
    Ops(ops::TopOps),
}

#[derive(Debug, Args)]
struct Database {
    /// Database URL (sqlite:PATH or postgres://...); default: the SQLite file in
    /// CLOUD_OTP_DATA_DIR (./data).
    #[arg(long, env = "CLOUD_OTP_DATABASE")]
    database: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Creates an institution and prints its API key, alone on the last line.
    Create {
        /// The institution's name (shown in authenticator apps).
        #[arg(long)]
        name: String,
        /// Its 4-digit customer code.
        #[arg(long)]
        customer_code: String,
        /// A web origin of its training site, e.g. https://lms.example (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// The PIN trainees add to their browser's key: off, 4 or 6 digits.
        #[arg(long, default_value = "off")]
        pin: String,
        /// Make it a test institution for CI, whose verifications always pass, always fail
        /// or always answer "suspended" whatever the code: always-pass, always-fail or
        /// always-suspended. Its API key starts with cok_test_; no command changes it later.
        #[arg(long, value_name = "MODE")]
        test: Option<String>,
        #[command(flatten)]
        db: Database,
    },
    /// Changes an institution's PIN policy or opens or closes it for service, and prints
    /// the resulting state.
    Update {
        /// The institution's customer code.
        #[arg(long)]
        customer_code: String,
        /// The PIN trainees add to their browser's key: off, 4 or 6 digits.
        #[arg(long)]
        pin: Option<String>,
        /// Open the institution for service: trainees may register and verify.
        #[arg(long, conflicts_with = "close")]
        open: bool,
        /// Close it: trainee requests get 403 service_closed; its API keeps working.
        #[arg(long)]
        close: bool,
        #[command(flatten)]
        db: Database,
    },
    /// Replaces an institution's API key and prints the new one, alone on the last line.
    /// Running servers refuse the old key within a second.
    RotateApiKey {
        /// The institution's customer code.
        #[arg(long)]
        customer_code: String,
        #[command(flatten)]
        db: Database,
    },
    /// Lists institutions: customer code, name, PIN, open or closed, origins.
    List {
        #[command(flatten)]
        db: Database,
    },
    /// The operations commands (cli/ops/).
    #[command(flatten)]
    Ops(ops::TenantOps),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Shows a trainee's status.
    Show {
        /// The institution's customer code.
        #[arg(long)]
        customer_code: String,
        /// The trainee's ID.
        user_id: String,
        #[command(flatten)]
        db: Database,
    },
    /// Lifts a trainee's suspension (after the institution's own identity check).
    Unlock {
        /// The institution's customer code.
        #[arg(long)]
        customer_code: String,
        /// The trainee's ID.
        user_id: String,
        /// Also retire the trainee's device, so they register again.
        #[arg(long)]
        revoke_device: bool,
        #[command(flatten)]
        db: Database,
    },
    /// The operations commands (cli/ops/).
    #[command(flatten)]
    Ops(ops::UserOps),
}

/// A failure of a command, printed as `error: ...`.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[cfg(feature = "demo")]
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    #[error(transparent)]
    Rotate(#[from] crate::rotate::RotateError),
    #[error(transparent)]
    Ops(#[from] ops::OpsError),
    #[error("{0}")]
    Input(String),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
}

impl From<crate::validate::Invalid> for CliError {
    fn from(e: crate::validate::Invalid) -> Self {
        CliError::Input(e.0.to_owned())
    }
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                CliError::Ops(e) => e.exit_code(),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os(DATA_DIR_ENV).map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// Writes lines to standard output and flushes, so a script reading it sees them at once.
fn say(lines: &[String]) -> Result<(), CliError> {
    write_lines(lines).map_err(|e| CliError::Io("stdout", e))
}

/// Standard output for every command here (`ops/` maps the error to its own).
fn write_lines(lines: &[String]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

async fn open(db: &Database) -> Result<Storage, CliError> {
    Ok(Storage::open(db.database.as_deref(), &data_dir()).await?)
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Tenant(TenantCommand::Create {
            name,
            customer_code,
            origins,
            pin,
            test,
            db,
        }) => {
            let name = TenantName::parse(&name)?;
            let code = CustomerCode::parse(&customer_code)?;
            let origins = origins
                .iter()
                .map(|o| Origin::parse(o))
                .collect::<Result<Vec<_>, _>>()?;
            let options = crate::admin::TenantOptions {
                pin_digits: PinDigits::parse(&pin)?,
                test_mode: test.as_deref().map(TestMode::parse).transpose()?,
            };
            let storage = open(&db).await?;
            let now = db_ms(SystemClock.now_ms());
            let result =
                crate::admin::create_tenant_with(&storage, &name, &code, &origins, options, now)
                    .await;
            storage.close().await;
            let (tenant, key) = result?;
            let origins: Vec<&str> = origins.iter().map(Origin::as_str).collect();
            say(&[
                format!(
                    "Created institution \"{}\", customer code {}.",
                    tenant.name, tenant.customer_code
                ),
                format!(
                    "Origins: {}",
                    if origins.is_empty() {
                        "(none)".into()
                    } else {
                        origins.join(" ")
                    }
                ),
                format!("PIN: {}", tenant.pin_digits),
                format!("Service: {}", service(&tenant)),
                match tenant.test_mode {
                    Some(mode) => format!(
                        "Test institution: every verification is {} (never use it for trainees)",
                        mode.as_str()
                    ),
                    None => "Test institution: no".into(),
                },
                "API key (shown only now; keep it secret):".into(),
                key,
            ])
        }
        Command::Tenant(TenantCommand::Update {
            customer_code,
            pin,
            open: open_it,
            close,
            db,
        }) => {
            let code = CustomerCode::parse(&customer_code)?;
            let pin = pin.as_deref().map(PinDigits::parse).transpose()?;
            let in_service = match (open_it, close) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let storage = open(&db).await?;
            let result = update_tenant(&storage, &code, pin, in_service).await;
            storage.close().await;
            let tenant = result?;
            say(&[
                format!(
                    "Institution \"{}\", customer code {}.",
                    tenant.name, tenant.customer_code
                ),
                format!("PIN: {}", tenant.pin_digits),
                format!("Service: {}", service(&tenant)),
            ])
        }
        Command::Tenant(TenantCommand::RotateApiKey { customer_code, db }) => {
            let code = CustomerCode::parse(&customer_code)?;
            let storage = open(&db).await?;
            let result = rotate_api_key(&storage, &code).await;
            storage.close().await;
            let (tenant, key) = result?;
            say(&[
                format!(
                    "Replaced the API key of \"{}\", customer code {}. Running servers refuse \
                     the old key within {} second.",
                    tenant.name,
                    tenant.customer_code,
                    crate::keycache::KEY_TTL.as_secs()
                ),
                "New API key (shown only now; keep it secret):".into(),
                key,
            ])
        }
        Command::Tenant(TenantCommand::List { db }) => {
            let storage = open(&db).await?;
            let mut lines = Vec::new();
            for t in storage.tenants().await? {
                let origins = storage.origins(&t.id).await?.join(" ");
                let mut state = String::from(if t.in_service { "open" } else { "closed" });
                if let Some(mode) = t.test_mode {
                    state.push_str(&format!(" (test: {})", mode.as_str()));
                }
                lines.push(format!(
                    "{}\t{}\tpin {}\t{state}\t{origins}",
                    t.customer_code, t.name, t.pin_digits
                ));
            }
            storage.close().await;
            say(&lines)
        }
        Command::User(UserCommand::Show {
            customer_code,
            user_id,
            db,
        }) => {
            let (storage, tenant_id, user) = find_user(&db, &customer_code, &user_id).await?;
            let record = storage.user(&tenant_id, user.as_str()).await?;
            storage.close().await;
            let status = match &record {
                Some(u) if u.state.locked => "locked",
                Some(u) if u.device.is_some() => "active",
                _ => "unregistered",
            };
            let device = record.as_ref().and_then(|u| u.device.as_ref()).map(|d| {
                json!({ "kind": d.kind, "label": d.label, "registered_at": rfc3339(d.registered_ms) })
            });
            let view = json!({
                "user_id": user.as_str(),
                "status": status,
                "failures": record.as_ref().map_or(0, |u| u.state.failures),
                "device": device,
            });
            say(&[view.to_string()])
        }
        Command::RotateMasterKey { db } => rotate(&db).await,
        Command::Ops(command) => Ok(ops::run_top(command, &data_dir()).await?),
        Command::Tenant(TenantCommand::Ops(command)) => {
            Ok(ops::run_tenant(command, &data_dir()).await?)
        }
        Command::User(UserCommand::Ops(command)) => Ok(ops::run_user(command, &data_dir()).await?),
        Command::User(UserCommand::Unlock {
            customer_code,
            user_id,
            revoke_device,
            db,
        }) => {
            let (storage, tenant_id, user) = find_user(&db, &customer_code, &user_id).await?;
            let now = db_ms(SystemClock.now_ms());
            let found = storage
                .unlock(&tenant_id, user.as_str(), revoke_device, now)
                .await?;
            storage.close().await;
            match found {
                Some(()) => say(&[format!("Unlocked {}.", user.as_str())]),
                None => Err(CliError::Input(format!(
                    "{} has never registered a device",
                    user.as_str()
                ))),
            }
        }
    }
}

/// Whether trainees can use the institution now, in words.
fn service(tenant: &Tenant) -> &'static str {
    if tenant.in_service {
        "open"
    } else {
        "closed (trainee requests get service_closed)"
    }
}

async fn tenant_by_code(storage: &Storage, code: &CustomerCode) -> Result<Tenant, CliError> {
    storage
        .tenant_by_customer_code(code.as_str())
        .await?
        .ok_or_else(|| CliError::Input(format!("no institution has customer code {code}")))
}

/// `tenant update`: the institution after the change.
async fn update_tenant(
    storage: &Storage,
    code: &CustomerCode,
    pin: Option<PinDigits>,
    in_service: Option<bool>,
) -> Result<Tenant, CliError> {
    let tenant = tenant_by_code(storage, code).await?;
    storage
        .update_tenant(&tenant.id, pin, in_service)
        .await?
        .ok_or_else(|| CliError::Input(format!("no institution has customer code {code}")))
}

/// `tenant rotate-api-key`: the institution and its new key.
async fn rotate_api_key(
    storage: &Storage,
    code: &CustomerCode,
) -> Result<(Tenant, String), CliError> {
    let tenant = tenant_by_code(storage, code).await?;
    let key = crate::admin::rotate_api_key(storage, &tenant).await?;
    Ok((tenant, key))
}

/// The key ring from the environment and the key files, as `serve` resolves it; a missing
/// key file is created only when `create` is set.
fn key_ring(data_dir: &Path, create: bool) -> Result<LoadedKeys, CliError> {
    let (primary, extra) = key_envs();
    Ok(load_key_ring(
        primary.as_deref().map(String::as_str),
        extra.as_deref().map(String::as_str),
        data_dir,
        create,
    )?)
}

/// `rotate-master-key`: the new key is the primary one (CLOUD_OTP_MASTER_KEY, or the key file
/// when the variable is unset, never created here), the extra keys (CLOUD_OTP_EXTRA_MASTER_KEYS,
/// or their file) open the old secrets: the same ring a server reads.
async fn rotate(db: &Database) -> Result<(), CliError> {
    let data_dir = data_dir();
    if primary_key_env().is_none() && !data_dir.join(KEY_FILE).is_file() {
        return Err(CliError::Input(format!(
            "no master key: set {KEY_ENV} to the new key and {EXTRA_KEYS_ENV} to the old one, \
             or put them in {KEY_FILE} and {EXTRA_KEYS_FILE} in the data directory"
        )));
    }
    let crypto = key_ring(&data_dir, false)?.crypto;
    let storage = open(db).await?;
    let result = crate::rotate::rotate_master_key(&storage, &crypto).await;
    storage.close().await;
    let done = result?;
    say(&[format!(
        "Re-encrypted {} device secrets under the new master key ({} already were) and {} \
         webhook signing secrets. Servers \
         may drop the old key from {EXTRA_KEYS_ENV} once the activation codes issued before \
         now have expired (3 days) or been reissued.",
        done.resealed, done.already, done.webhook_secrets
    )])
}

async fn find_user(
    db: &Database,
    customer_code: &str,
    user_id: &str,
) -> Result<(Storage, String, UserId), CliError> {
    let code = CustomerCode::parse(customer_code)?;
    let user = UserId::parse(user_id)?;
    let storage = open(db).await?;
    let tenant = tenant_by_code(&storage, &code).await?;
    Ok((storage, tenant.id, user))
}
