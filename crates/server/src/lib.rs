//! cloud-otp-server: the verification server (docs/architecture.md). [`app`] builds the whole HTTP
//! service from an [`AppState`], so tests drive it in-process and over a real socket alike.
//!
//! Layout: `api` (handlers of the HTTP contract: parse, call a service, map the answer),
//! `service` (the domain without HTTP: verification, enrollment, administration), `audit`
//! (the audit log's vocabulary), `http` (extractors and middleware), `storage` (SQLite and
//! PostgreSQL, one file per table family, every SQL statement, the SQLite group read and
//! commit), `keycache` (API-key lookups), `crypto` (secrets at rest), `ids` (random ids and
//! token hashes), `data_dir` (the private data directory), `validate` (checked input), `clock`
//! (injected time), `statics` (dist/), `demo` (the demo training site, cargo feature `demo`), `rotate` (master-key
//! rotation), `reload` (master keys reloaded on SIGHUP), `listen` (the connection loop, with its
//! timeouts), `metrics` (Prometheus counters and histograms, a registry per server), `cli` (the
//! `cloud-otp` binary: `cli/serve.rs` starts the server, `cli/ops/` holds erasure, backup,
//! audit export and the webhook commands), `retention` (old audit events deleted in the
//! background), `test_mode` (what test institutions answer), `webhooks` (signed webhooks: the
//! secret, the signature, the delivery worker and its HTTPS client), `webhook_url` (which
//! receiver URLs are accepted).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use cloud_otp_core::Policy;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

pub mod admin;
pub mod api;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod crypto;
pub mod data_dir;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
pub mod http;
pub mod ids;
pub mod keycache;
pub mod listen;
pub mod metrics;
pub mod reload;
pub mod retention;
pub mod rotate;
pub mod service;
pub mod statics;
pub mod storage;
pub mod test_mode;
pub mod validate;
pub mod webhook_url;
pub mod webhooks;

use clock::Clock;
use crypto::{Crypto, SharedCrypto};
use error::ApiError;
use storage::Storage;

/// How long an OTP session stays usable: 10 minutes.
pub const SESSION_TTL_MS: i64 = 10 * 60 * 1000;
/// How long a pass can be redeemed: 120 seconds.
pub const PASS_TTL_MS: i64 = 120 * 1000;
/// How long an activation code is valid: 3 days (docs/product.md rule 9).
pub const ACTIVATION_TTL_MS: i64 = 3 * 24 * 60 * 60 * 1000;
/// Wrong activation codes allowed before the code is dead.
pub const ACTIVATION_MAX_ATTEMPTS: i64 = 5;
/// The largest request body accepted: 16 KiB, far above any valid request.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The verification policy (docs/product.md rules 1 to 4).
    pub policy: Policy,
    /// Requests per minute per client address on the public endpoints; 0 = unlimited.
    pub rate_limit_per_minute: u32,
    /// Activation-code attempts (`POST /v1/devices` with an activation code) per hour per
    /// client address, counted apart from the limit above; 0 = unlimited. Each code already
    /// allows only 5 wrong tries; this limit stops one address from trying codes, user IDs
    /// and customer codes across many trainees.
    pub activation_limit_per_hour: u32,
    /// Take the client address from X-Forwarded-For (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How long an API key looked up in the database is trusted without asking again
    /// ([`keycache::KEY_TTL`] by default): the longest a replaced key, or a change of the
    /// institution's policy, goes unnoticed by its endpoints. Zero asks every time.
    pub api_key_ttl: std::time::Duration,
    /// The built web app.
    pub dist_dir: PathBuf,
    /// The longest the server waits for a client: for a request's headers (the connection
    /// is then closed) and for each piece of its body (408 request_timeout).
    pub client_timeout: std::time::Duration,
    /// After SIGTERM, the longest the server waits for requests in flight before it closes
    /// the connections still open and exits.
    pub shutdown_timeout: std::time::Duration,
}

/// [`Config::client_timeout`] by default: 10 seconds, ample for a request of at most 16 KiB
/// ([`BODY_LIMIT`]) on a slow mobile link.
pub const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// [`Config::shutdown_timeout`] by default: 10 seconds, far longer than any request takes.
pub const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: Policy::PRODUCT,
            rate_limit_per_minute: 300,
            activation_limit_per_hour: 30,
            trust_forwarded_for: false,
            api_key_ttl: keycache::KEY_TTL,
            dist_dir: PathBuf::from("dist"),
            client_timeout: CLIENT_TIMEOUT,
            shutdown_timeout: SHUTDOWN_TIMEOUT,
        }
    }
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub storage: Storage,
    /// Keys derived from the master keys; `serve` replaces them on SIGHUP, so handlers take
    /// [`SharedCrypto::current`] once per request.
    pub crypto: Arc<SharedCrypto>,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: Arc<Config>,
    limiter: Arc<http::RateLimiter>,
    activation_limiter: Arc<http::RateLimiter>,
    batches: Arc<storage::batch::Batches>,
    keys: Arc<keycache::KeyCache>,
    metrics: Arc<metrics::Metrics>,
    #[cfg(feature = "demo")]
    demo: Option<Arc<demo::Demo>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server without the demo.
    pub fn new(storage: Storage, crypto: Crypto, clock: Arc<dyn Clock>, config: Config) -> Self {
        let limiter = Arc::new(http::RateLimiter::new(config.rate_limit_per_minute));
        let activation_limiter = Arc::new(http::RateLimiter::per_window(
            config.activation_limit_per_hour,
            60 * 60 * 1000,
        ));
        let metrics = Arc::new(metrics::Metrics::new());
        let batches = Arc::new(storage::batch::Batches::new(
            storage.clone(),
            metrics.clone(),
        ));
        let keys = Arc::new(keycache::KeyCache::new(config.api_key_ttl));
        AppState {
            storage,
            crypto: Arc::new(SharedCrypto::new(crypto)),
            clock,
            config: Arc::new(config),
            limiter,
            activation_limiter,
            batches,
            keys,
            metrics,
            #[cfg(feature = "demo")]
            demo: None,
        }
    }

    /// This server's metrics, which `--metrics-listen` serves ([`metrics::router`]).
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        self.metrics.clone()
    }

    /// Adds the demo training site under /demo/ (cargo feature `demo`).
    #[cfg(feature = "demo")]
    pub fn with_demo(mut self, demo: demo::Demo) -> Self {
        self.demo = Some(Arc::new(demo));
        self
    }
}

/// OPTIONS on a browser endpoint that the CORS layer did not answer as a preflight. The
/// route must exist so that the layer sees OPTIONS requests at all.
async fn not_preflight() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The whole HTTP service.
pub fn app(state: AppState) -> Router {
    // Called by the trainee's browser: CORS for registered origins, rate limited.
    let browser = Router::new()
        .route("/v1/time", get(api::time).options(not_preflight))
        .route(
            "/v1/customers/{customer_code}",
            get(api::customer).options(not_preflight),
        )
        .route("/v1/status", post(api::status).options(not_preflight))
        .route(
            "/v1/devices",
            post(api::register_device).options(not_preflight),
        )
        .route("/v1/verify", post(api::verify).options(not_preflight))
        .layer(from_fn_with_state(state.clone(), http::cors))
        .layer(from_fn_with_state(state.clone(), http::rate_limit));
    // Called by the institution's backend with its API key: no CORS.
    let institution = Router::new()
        .route("/v1/sessions", post(api::open_session))
        .route("/v1/siteverify", post(api::siteverify))
        .route("/v1/check", post(api::check))
        .route(
            "/v1/users/{user_id}",
            get(api::user).delete(api::erase_user),
        )
        .route(
            "/v1/users/{user_id}/activation",
            post(api::issue_activation),
        )
        .route(
            "/v1/users/{user_id}/authenticator",
            post(api::authenticator),
        )
        .route("/v1/users/{user_id}/unlock", post(api::unlock))
        .route("/v1/users/{user_id}/device", delete(api::remove_device))
        .route("/v1/audit", get(api::audit))
        .route(
            "/v1/webhook",
            put(api::put_webhook)
                .get(api::get_webhook)
                .delete(api::delete_webhook),
        );
    // A load balancer's probes and the API's description: no rate limit, no CORS, no API key.
    let probes = Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/v1/openapi.json", get(api::openapi));
    let router = browser.merge(institution).merge(probes);
    #[cfg(feature = "demo")]
    let router = match state.demo {
        Some(_) => {
            router.merge(demo::routes().layer(from_fn_with_state(state.clone(), http::rate_limit)))
        }
        None => router,
    };
    router
        .fallback(statics::fallback)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Inside the router's layers, so each request's matched route is known.
        .layer(from_fn_with_state(state.metrics.clone(), http::measure))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // A body that stops arriving fails its read (408) instead of holding the request open.
        .layer(RequestBodyTimeoutLayer::new(state.config.client_timeout))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .layer(from_fn(http::log_requests))
        .layer(from_fn(http::security_headers))
        .with_state(state)
}
