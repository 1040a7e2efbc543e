//! The `cloud-otp` operator command: `serve`, `tenant create|list`, `user show|unlock`,
//! `rotate-master-key`.
//! Results go to standard output (an API key alone on the last line), logs to standard error.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::clock::{Clock, SystemClock, db_ms, rfc3339};
use crate::crypto::{Crypto, EXTRA_KEYS_ENV, KEY_ENV, KEY_FILE, MasterKey};
use crate::storage::Storage;
use crate::validate::{CustomerCode, Origin, TenantName, UserId};
use crate::{AppState, Config, app, demo};

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
    Serve(ServeArgs),
    /// Manages institutions (tenants).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Looks at and unlocks trainees.
    #[command(subcommand)]
    User(UserCommand),
    /// Re-encrypts every device secret under the master key in CLOUD_OTP_MASTER_KEY, opening
    /// them with the keys in CLOUD_OTP_EXTRA_MASTER_KEYS, while servers keep running; see
    /// docs/security.md for the whole procedure.
    RotateMasterKey {
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Debug, Args)]
struct Database {
    /// Database URL (sqlite:PATH or postgres://...); default: the SQLite file in
    /// CLOUD_OTP_DATA_DIR (./data).
    #[arg(long, env = "CLOUD_OTP_DATABASE")]
    database: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    db: Database,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Also create a demo institution and serve a demo training site at /demo/.
    #[arg(long)]
    demo: bool,
    /// Directory of the built web app.
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Requests per minute per client address on the public endpoints (0 = unlimited).
    #[arg(long, env = "CLOUD_OTP_RATE_LIMIT", default_value_t = 300)]
    rate_limit: u32,
    /// Activation-code attempts per hour per client address (0 = unlimited).
    #[arg(long, env = "CLOUD_OTP_ACTIVATION_RATE_LIMIT", default_value_t = 30)]
    activation_rate_limit: u32,
    /// Take client addresses from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long)]
    trust_forwarded_for: bool,
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
        #[command(flatten)]
        db: Database,
    },
    /// Lists institutions.
    List {
        #[command(flatten)]
        db: Database,
    },
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
}

/// A failure of a command, printed as `error: ...`.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    #[error(transparent)]
    Rotate(#[from] crate::rotate::RotateError),
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
            ExitCode::FAILURE
        }
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os(DATA_DIR_ENV).map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// Writes lines to standard output and flushes, so a script reading it sees them at once.
fn say(lines: &[String]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}").map_err(|e| CliError::Io("stdout", e))?;
    }
    out.flush().map_err(|e| CliError::Io("stdout", e))
}

async fn open(db: &Database) -> Result<Storage, CliError> {
    Ok(Storage::open(db.database.as_deref(), &data_dir()).await?)
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Tenant(TenantCommand::Create {
            name,
            customer_code,
            origins,
            db,
        }) => {
            let name = TenantName::parse(&name)?;
            let code = CustomerCode::parse(&customer_code)?;
            let origins = origins
                .iter()
                .map(|o| Origin::parse(o))
                .collect::<Result<Vec<_>, _>>()?;
            let storage = open(&db).await?;
            let now = db_ms(SystemClock.now_ms());
            let (tenant, key) =
                crate::admin::create_tenant(&storage, &name, &code, &origins, now).await?;
            storage.close().await;
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
                "API key (shown only now; keep it secret):".into(),
                key,
            ])
        }
        Command::Tenant(TenantCommand::List { db }) => {
            let storage = open(&db).await?;
            let mut lines = Vec::new();
            for t in storage.tenants().await? {
                let origins = storage.origins(&t.id).await?.join(" ");
                lines.push(format!("{}\t{}\t{}", t.customer_code, t.name, origins));
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

/// The keys of CLOUD_OTP_EXTRA_MASTER_KEYS (none when unset).
fn extra_keys() -> Result<Vec<MasterKey>, CliError> {
    let text = std::env::var(EXTRA_KEYS_ENV).unwrap_or_default();
    Ok(MasterKey::parse_list(&text)?)
}

/// `rotate-master-key`: the new key is the primary one (CLOUD_OTP_MASTER_KEY, or the key file
/// when the variable is unset, never created here), the extra keys open the old secrets.
async fn rotate(db: &Database) -> Result<(), CliError> {
    let data_dir = data_dir();
    let master = match std::env::var(KEY_ENV) {
        Ok(text) => MasterKey::from_hex(&text)?,
        Err(_) if data_dir.join(KEY_FILE).is_file() => MasterKey::load_or_create(None, &data_dir)?,
        Err(_) => {
            return Err(CliError::Input(format!(
                "no master key: set {KEY_ENV} to the new key and {EXTRA_KEYS_ENV} to the old one"
            )));
        }
    };
    let crypto = Crypto::with_others(&master, &extra_keys()?);
    drop(master);
    let storage = open(db).await?;
    let result = crate::rotate::rotate_master_key(&storage, &crypto).await;
    storage.close().await;
    let done = result?;
    say(&[format!(
        "Re-encrypted {} device secrets under the new master key ({} already were). Servers \
         may drop the old key from {EXTRA_KEYS_ENV} once the activation codes issued before \
         now have expired (3 days) or been reissued.",
        done.resealed, done.already
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
    let tenant = storage
        .tenant_by_customer_code(code.as_str())
        .await?
        .ok_or_else(|| CliError::Input(format!("no institution has customer code {code}")))?;
    Ok((storage, tenant.id, user))
}

/// The URL people and the demo use to reach a listening address: an unspecified address
/// (0.0.0.0, ::) is reached through loopback.
fn public_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    init_logs();
    let data_dir = data_dir();
    let storage = open(&args.db).await?;
    let env_key = std::env::var(KEY_ENV).ok();
    let master = MasterKey::load_or_create(env_key.as_deref(), &data_dir)?;
    let crypto = Crypto::with_others(&master, &extra_keys()?);
    drop(master);
    crate::rotate::ensure_key_ring(&storage, &crypto).await?;

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| CliError::Io("cannot listen", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Io("cannot listen", e))?;
    let base_url = public_url(addr);
    let config = Config {
        rate_limit_per_minute: args.rate_limit,
        activation_limit_per_hour: args.activation_rate_limit,
        trust_forwarded_for: args.trust_forwarded_for,
        dist_dir: args.dist.clone(),
        ..Config::default()
    };
    let mut state = AppState::new(storage.clone(), crypto, Arc::new(SystemClock), config);
    let mut url = format!("{base_url}/");
    if args.demo {
        let now = db_ms(SystemClock.now_ms());
        let key = demo::ensure_tenant(&storage, &data_dir, &base_url, now).await?;
        state = state.with_demo(demo::Demo::new(key, base_url.clone()));
        url = format!("{base_url}/demo/");
    }
    if !args.dist.join("index.html").is_file() {
        tracing::warn!(dist = %args.dist.display(), "web app not built: no index.html in dist directory");
    }

    // Expired sessions and passes are useless; delete them a day after expiry.
    let purge = storage.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let before = db_ms(SystemClock.now_ms()) - 24 * 60 * 60 * 1000;
            if let Err(e) = purge.purge_expired(before).await {
                tracing::warn!(error = %e, "purging expired sessions failed");
            }
        }
    });

    say(&[url.clone()])?;
    tracing::info!(%url, database = if matches!(storage, Storage::Sqlite(_)) { "sqlite" } else { "postgres" }, "listening");
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::Io("server", e))?;
    storage.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting connections and finishes
/// the requests in flight.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
