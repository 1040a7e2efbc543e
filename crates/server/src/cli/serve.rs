//! `cloud-otp serve`: its options, the start (keys, storage, demo, background tasks,
//! listeners), the URL it prints, and the signals that reload keys or stop it.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{CliError, Database, data_dir, key_ring, open, say};
use crate::clock::{Clock, SystemClock, db_ms};
#[cfg(feature = "demo")]
use crate::demo;
use crate::http::HostPolicy;
use crate::listen::Limits;
use crate::storage::Storage;
use crate::{AppState, Config, app};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
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
    /// The options of the operations tasks (cli/ops/).
    #[command(flatten)]
    ops: super::ops::ServeOps,
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

pub(super) async fn serve(args: ServeArgs) -> Result<(), CliError> {
    init_logs();
    if args.demo && !cfg!(feature = "demo") {
        return Err(CliError::Input(
            "--demo needs a server built with the cargo feature `demo` \
             (cargo build --release --features demo); this one was built without it"
                .into(),
        ));
    }
    // Before the database and the socket: a bad --webhook-ca-file stops the server at start.
    let webhook_roots = args.ops.webhook_roots().map_err(CliError::Input)?;
    if !webhook_roots.is_empty() {
        tracing::info!(
            extra = webhook_roots.len(),
            "webhook receivers' certificates may also chain to --webhook-ca-file's roots"
        );
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

    // Issue 18's background tasks (audit retention, webhook delivery).
    args.ops.spawn(
        &storage,
        state.crypto.clone(),
        state.metrics(),
        Arc::new(SystemClock),
        webhook_roots,
    );

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
