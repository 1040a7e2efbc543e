//! Shared test harness: both storage backends for real (a throwaway PostgreSQL cluster per
//! test binary unless CLOUD_OTP_TEST_POSTGRES_URL is set), an in-process app with a settable
//! clock, and helpers that act as the browser and the institution would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod binary;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloud_otp_core::{Algorithm, Digits, Secret, Step, totp};
use cloud_otp_server::clock::ManualClock;
use cloud_otp_server::crypto::{Crypto, MasterKey};
use cloud_otp_server::storage::Storage;
use cloud_otp_server::validate::{CustomerCode, Origin, TenantName};
use cloud_otp_server::{AppState, Config, app};
use serde_json::{Value, json};
use sqlx::Connection;
use tempfile::TempDir;
use tower::ServiceExt;

/// 2027-01-15T08:00:00Z, the first second of a 60-second step; tests start 5 s into it.
pub const T0_MS: u64 = 1_800_000_000_000;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Expands test bodies `async fn name(backend: Backend)` into `sqlite::name` and
/// `postgres::name` tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

fn pg_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CLOUD_OTP_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            format!(
                "no PostgreSQL under /usr/lib/postgresql ({e}); install Debian's postgresql package"
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the postgres user when we are root (initdb refuses root).
fn as_postgres(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a throwaway PostgreSQL cluster and a watchdog that stops it and deletes its files
/// when this test process exits (however it exits). Returns the admin URL.
fn start_cluster() -> Result<String, String> {
    let bin = pg_bin()?;
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("cloud-otp-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    if root {
        let mut chown = Command::new("chown");
        chown.arg("postgres:").arg(&dir);
        run(chown, "chown")?;
    }
    start_in(&bin, root, &dir).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&dir);
    })
}

fn start_in(bin: &Path, root: bool, dir: &Path) -> Result<String, String> {
    let data = dir.join("pg");
    let mut initdb = as_postgres(root, &bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "cloudotp", "-N"]);
    run(initdb, "initdb")?;
    let port = free_port();
    let mut start = as_postgres(root, &bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .arg("-o")
        .arg(format!(
            "-k {} -h 127.0.0.1 -p {port} -c fsync=off -c max_connections=300",
            dir.display()
        ))
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "start"]);
    run(start, "pg_ctl start")?;
    let stop = format!(
        "{runuser}{pg_ctl} -D {data} -m immediate stop",
        runuser = if root { "runuser -u postgres -- " } else { "" },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display()
    );
    let script = format!(
        "tail --pid={pid} -f /dev/null; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    Ok(format!("postgres://cloudotp@127.0.0.1:{port}/postgres"))
}

/// The admin URL of the test PostgreSQL. Fails the test, never skips it, when PostgreSQL
/// cannot be started.
pub fn pg_admin_url() -> String {
    if let Ok(url) = std::env::var("CLOUD_OTP_TEST_POSTGRES_URL") {
        return url;
    }
    static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
    match CLUSTER.get_or_init(start_cluster) {
        Ok(url) => url.clone(),
        Err(e) => panic!(
            "PostgreSQL could not be started for the tests (set CLOUD_OTP_TEST_POSTGRES_URL to \
             use a running server): {e}"
        ),
    }
}

/// A fresh, empty database on the test PostgreSQL; returns its URL.
pub async fn pg_database() -> String {
    let admin = pg_admin_url();
    let name = format!(
        "t_{}",
        hex::encode(cloud_otp_server::crypto::random_bytes(8).as_slice())
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to test PostgreSQL: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin.as_str(), String::new()),
    };
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}{query}")
}

/// A migrated, empty database of `backend`, and the directory that holds it (SQLite).
pub async fn storage(backend: Backend) -> (Storage, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = match backend {
        Backend::Sqlite => Storage::sqlite_file(&dir.path().join("test.db"))
            .await
            .unwrap(),
        Backend::Postgres => Storage::connect(&pg_database().await).await.unwrap(),
    };
    (storage, dir)
}

/// The server in-process, on a settable clock.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub clock: ManualClock,
    pub storage: Storage,
    pub backend: Backend,
    pub dir: TempDir,
}

impl TestApp {
    /// A server on `backend`, rate limiting off, clock at T0 + 5 s.
    pub async fn new(backend: Backend) -> TestApp {
        Self::with_config(backend, |_| {}).await
    }

    /// A server whose configuration `edit` adjusts.
    pub async fn with_config(backend: Backend, edit: impl FnOnce(&mut Config)) -> TestApp {
        let (storage, dir) = storage(backend).await;
        let crypto = Crypto::new(&MasterKey::generate());
        storage.ensure_key_check(crypto.key_check()).await.unwrap();
        let clock = ManualClock::new(T0_MS + 5_000);
        let mut config = Config {
            rate_limit_per_minute: 0,
            dist_dir: dir.path().join("dist"),
            ..Config::default()
        };
        edit(&mut config);
        let state = AppState::new(storage.clone(), crypto, Arc::new(clock.clone()), config);
        TestApp {
            router: app(state.clone()),
            state,
            clock,
            storage,
            backend,
            dir,
        }
    }

    /// Creates an institution; returns its API key.
    pub async fn tenant(&self, name: &str, code: &str, origins: &[&str]) -> String {
        let origins: Vec<Origin> = origins.iter().map(|o| Origin::parse(o).unwrap()).collect();
        let (_, key) = cloud_otp_server::admin::create_tenant(
            &self.storage,
            &TenantName::parse(name).unwrap(),
            &CustomerCode::parse(code).unwrap(),
            &origins,
            0,
        )
        .await
        .unwrap();
        key
    }

    /// Sends a request through the router.
    pub async fn send(&self, request: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// A plain GET of `uri` without credentials, as a browser fetches a page or static file.
    pub async fn fetch(&self, uri: &str) -> axum::response::Response {
        self.send(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A JSON call: `key` as Bearer API key, `body` as JSON. Returns status and JSON body
    /// (Null when the body is empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(b) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        let response = self.send(request).await;
        let status = response.status();
        (status, json_body(response).await)
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, key, Some(body)).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    /// The current time in Unix seconds.
    pub fn now_secs(&self) -> u64 {
        use cloud_otp_server::clock::Clock;
        self.clock.now_ms() / 1000
    }

    /// Opens a session for `user`.
    pub async fn session(&self, key: &str, user: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/sessions",
                Some(key),
                json!({ "user_id": user, "purpose": "exam" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["session"].as_str().unwrap().to_owned()
    }

    /// Registers a browser device for `user` through a session; returns it.
    pub async fn register(&self, key: &str, user: &str) -> Device {
        let device = Device::new(user, "Chrome on Windows");
        let session = self.session(key, user).await;
        let (status, body) = self
            .post("/v1/devices", None, device.registration(&session))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Device {
            id: body["device_id"].as_str().unwrap().to_owned(),
            ..device
        }
    }

    /// Registers `url` as the institution's webhook (`PUT /v1/webhook`); returns the signing
    /// secret.
    pub async fn set_webhook(&self, key: &str, url: &str) -> String {
        let (status, body) = self
            .call(
                Method::PUT,
                "/v1/webhook",
                Some(key),
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["url"], url);
        body["secret"].as_str().unwrap().to_owned()
    }

    /// The institution's webhook state (`GET /v1/webhook`): url, pending, dead, last error.
    pub async fn webhook_state(&self, key: &str) -> Value {
        let (status, body) = self.get("/v1/webhook", key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The body of a verification with `code`.
    pub async fn verify(&self, session: &str, device: &Device, code: &str) -> (StatusCode, Value) {
        self.post("/v1/verify", None, device.verification(session, code))
            .await
    }
}

pub async fn json_body(response: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// A browser as the widget would be: its secret, fingerprint and label.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub secret: Vec<u8>,
    pub fingerprint: String,
    pub label: String,
}

impl Device {
    /// A device whose secret and fingerprint derive from `seed`.
    pub fn new(seed: &str, label: &str) -> Device {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("device {seed} {label}").as_bytes());
        Device {
            id: String::new(),
            secret: digest[..20].to_vec(),
            fingerprint: hex::encode(sha2::Sha256::digest(label.as_bytes())),
            label: label.to_owned(),
        }
    }

    pub fn secret_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.secret)
    }

    /// The proof that the key was stored and read back, as the browser sends it.
    pub fn proof_b64(&self) -> String {
        let secret = cloud_otp_core::Secret::new(self.secret.clone()).unwrap();
        URL_SAFE_NO_PAD.encode(cloud_otp_core::proof(&secret))
    }

    pub fn registration(&self, session: &str) -> Value {
        json!({
            "session": session,
            "secret": self.secret_b64(),
            "proof": self.proof_b64(),
            "fingerprint": self.fingerprint,
            "label": self.label,
        })
    }

    pub fn verification(&self, session: &str, code: &str) -> Value {
        json!({
            "session": session,
            "device_id": self.id,
            "fingerprint": self.fingerprint,
            "code": code,
        })
    }

    /// The code this device shows at `unix_secs`.
    pub fn code_at(&self, unix_secs: u64) -> String {
        let secret = Secret::new(self.secret.clone()).unwrap();
        totp(
            Algorithm::Sha1,
            &secret,
            unix_secs,
            Step::SIXTY,
            Digits::SIX,
        )
        .to_string()
    }

    /// A well-formed code that is none of the codes of steps t-2..t+2.
    pub fn wrong_code_at(&self, unix_secs: u64) -> String {
        let near: Vec<String> = (0..5)
            .map(|i| self.code_at(unix_secs + 120 - i * 60))
            .collect();
        (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|c| !near.contains(c))
            .unwrap()
    }
}

/// Serves `router` as `cloud-otp serve` does (`listen::serve`, with its Host check for a
/// loopback address) on a free loopback port until the test's runtime ends; returns its base
/// URL.
pub async fn serve_on_loopback(router: Router) -> String {
    use cloud_otp_server::http::HostPolicy;
    use cloud_otp_server::listen::{Limits, serve};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        header_timeout: cloud_otp_server::CLIENT_TIMEOUT,
        shutdown_timeout: cloud_otp_server::SHUTDOWN_TIMEOUT,
        hosts: HostPolicy::Loopback,
    };
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
    format!("http://{addr}")
}
