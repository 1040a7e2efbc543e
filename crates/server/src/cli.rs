//! The `cloud-otp` operator command: `serve`, `tenant create|update|rotate-api-key|list`,
//! `user show|unlock`, `rotate-master-key`; the operations commands (`user erase`, `backup`,
//! `audit export`, `tenant audit-retention`) are in `ops_cli`.
//! Results go to standard output (an API key alone on the last line), logs to standard error.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::clock::{Clock, SystemClock, db_ms, rfc3339};
use crate::crypto::{
    EXTRA_KEYS_ENV, EXTRA_KEYS_FILE, KEY_ENV, KEY_FILE, LoadedKeys, load_key_ring,
};
#[cfg(feature = "demo")]
use crate::demo;
use crate::http::HostPolicy;
use crate::listen::Limits;
use crate::reload::{key_envs, primary_key_env};
use crate::storage::{Storage, Tenant};
use crate::validate::{CustomerCode, Origin, PinDigits, TenantName, UserId};
use crate::{AppState, Config, app};

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
    /// The operations commands (crate::ops_cli).
    #[command(flatten)]
    Ops(crate::ops_cli::TopOps),
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
    /// Also create a demo institution and serve a demo training site at /demo/. Refused on
    /// an address other than loopback unless --demo-on-public-address is given too. Needs a
    /// server built with the cargo feature `demo`.
    #[arg(long)]
    demo: bool,
    /// Allow --demo on an address others can reach: whoever reaches the demo gets sessions
    /// for any trainee and authenticator secrets of the demo institution.
    #[arg(long, requires = "demo")]
    demo_on_public_address: bool,
    /// Directory of the built web app.
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Also serve Prometheus metrics at GET /metrics on this address (e.g. 127.0.0.1:9464),
    /// apart from the API; off by default. Anyone who reaches it reads the counters.
    #[arg(long, env = "CLOUD_OTP_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Requests per minute per client address on the public endpoints (0 = unlimited).
    #[arg(long, env = "CLOUD_OTP_RATE_LIMIT", default_value_t = 300)]
    rate_limit: u32,
    /// Activation-code attempts per hour per client address (0 = unlimited).
    #[arg(long, env = "CLOUD_OTP_ACTIVATION_RATE_LIMIT", default_value_t = 30)]
    activation_rate_limit: u32,
    /// Take client addresses from X-Forwarded-For, and the scheme from X-Forwarded-Proto
    /// (only behind a trusted reverse proxy).
    #[arg(long)]
    trust_forwarded_for: bool,
    /// Seconds a client may take to send a request's headers, and between pieces of its
    /// body; a slower client is disconnected (headers) or answered 408 (body).
    #[arg(long, env = "CLOUD_OTP_CLIENT_TIMEOUT", default_value_t = crate::CLIENT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    client_timeout: u64,
    /// Seconds SIGINT or SIGTERM wait for requests in flight before the server closes the
    /// connections still open and exits.
    #[arg(long, env = "CLOUD_OTP_SHUTDOWN_TIMEOUT", default_value_t = crate::SHUTDOWN_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_timeout: u64,
    /// The options of the operations tasks (crate::ops_cli).
    #[command(flatten)]
    ops: crate::ops_cli::ServeOps,
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
    /// The operations commands (crate::ops_cli).
    #[command(flatten)]
    Ops(crate::ops_cli::TenantOps),
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
    /// The operations commands (crate::ops_cli).
    #[command(flatten)]
    Ops(crate::ops_cli::UserOps),
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
    Ops(#[from] crate::ops_cli::OpsError),
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
            pin,
            db,
        }) => {
            let name = TenantName::parse(&name)?;
            let code = CustomerCode::parse(&customer_code)?;
            let origins = origins
                .iter()
                .map(|o| Origin::parse(o))
                .collect::<Result<Vec<_>, _>>()?;
            let pin = PinDigits::parse(&pin)?;
            let storage = open(&db).await?;
            let now = db_ms(SystemClock.now_ms());
            let (tenant, key) =
                crate::admin::create_tenant_with_pin(&storage, &name, &code, &origins, pin, now)
                    .await?;
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
                format!("PIN: {}", tenant.pin_digits),
                format!("Service: {}", service(&tenant)),
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
                let state = if t.in_service { "open" } else { "closed" };
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
        Command::Ops(command) => Ok(crate::ops_cli::run_top(command, &data_dir()).await?),
        Command::Tenant(TenantCommand::Ops(command)) => {
            Ok(crate::ops_cli::run_tenant(command, &data_dir()).await?)
        }
        Command::User(UserCommand::Ops(command)) => {
            Ok(crate::ops_cli::run_user(command, &data_dir()).await?)
        }
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
    let key = crate::admin::rotate_api_key(storage, &tenant.id).await?;
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
    let tenant = tenant_by_code(&storage, &code).await?;
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
    if args.demo && !cfg!(feature = "demo") {
        return Err(CliError::Input(
            "--demo needs a server built with the cargo feature `demo` \
             (cargo build --release --features demo); this one was built without it"
                .into(),
        ));
    }
    let data_dir = data_dir();
    let storage = open(&args.db).await?;
    let keys = key_ring(&data_dir, true)?;
    crate::rotate::ensure_key_ring(&storage, &keys.crypto).await?;
    tracing::info!(
        primary = %keys.primary,
        extra = %keys.extra,
        "master keys loaded ({} keys, current key id {})",
        keys.crypto.key_count(),
        keys.crypto.key_id()
    );

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| CliError::Io("cannot listen", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Io("cannot listen", e))?;
    if args.demo && !addr.ip().is_loopback() && !args.demo_on_public_address {
        return Err(CliError::Input(format!(
            "--demo hands the demo institution's powers (sessions for any trainee, \
             authenticator secrets) to anyone who reaches {addr}: listen on a loopback address \
             (--listen 127.0.0.1:PORT), or add --demo-on-public-address if that is intended"
        )));
    }
    let base_url = public_url(addr);
    let config = Config {
        rate_limit_per_minute: args.rate_limit,
        activation_limit_per_hour: args.activation_rate_limit,
        trust_forwarded_for: args.trust_forwarded_for,
        dist_dir: args.dist.clone(),
        client_timeout: Duration::from_secs(args.client_timeout),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        ..Config::default()
    };
    // A server on loopback is reached from this machine only, unless a proxy forwards to it
    // (--trust-forwarded-for): then other names in Host are DNS rebinding.
    let hosts = if addr.ip().is_loopback() && !args.trust_forwarded_for {
        HostPolicy::Loopback
    } else {
        HostPolicy::Any
    };
    let limits = Limits {
        header_timeout: config.client_timeout,
        shutdown_timeout: config.shutdown_timeout,
        hosts,
    };
    #[cfg_attr(not(feature = "demo"), expect(unused_mut))]
    let mut state = AppState::new(storage.clone(), keys.crypto, Arc::new(SystemClock), config);
    #[cfg_attr(not(feature = "demo"), expect(unused_mut))]
    let mut url = format!("{base_url}/");
    #[cfg(feature = "demo")]
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

    if let Some(address) = &args.metrics_listen {
        let addr = crate::listen::spawn_metrics(address, state.metrics(), limits)
            .await
            .map_err(|e| CliError::Io("cannot listen for metrics", e))?;
        tracing::info!(url = %format!("{}/metrics", public_url(addr)), "metrics");
    }

    // Issue 18's background tasks (audit retention).
    args.ops.spawn(&storage, Arc::new(SystemClock));

    // Installed before the URL is printed: from then on SIGHUP reloads the keys instead of
    // ending the process.
    crate::reload::reload_on_sighup(storage.clone(), state.crypto.clone(), data_dir.clone())
        .map_err(|e| CliError::Io("cannot handle SIGHUP", e))?;
    let shutdown = shutdown_signal()?;
    say(&[url.clone()])?;
    tracing::info!(%url, database = if matches!(storage, Storage::Sqlite(_)) { "sqlite" } else { "postgres" }, "listening");
    crate::listen::serve(listener, app(state), limits, shutdown).await;
    storage.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// A future that resolves on SIGINT or SIGTERM; the server then stops accepting connections
/// and finishes the requests in flight, waiting for them at most `--shutdown-timeout` seconds.
/// The handlers are installed here, before the URL is printed: installed when the future is
/// first polled, a signal sent just after the URL appeared ended the process at once.
fn shutdown_signal() -> Result<impl Future<Output = ()>, CliError> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| signal(kind).map_err(|e| CliError::Io("cannot handle signals", e));
        (
            install(SignalKind::interrupt())?,
            install(SignalKind::terminate())?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    })
}
