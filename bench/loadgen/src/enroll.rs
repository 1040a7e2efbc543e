//! Enrolling benchmark users: through cloud-otp's HTTP API, directly through the server's
//! own storage code (for 10^5 and 10^6 users), and through privacyIDEA's token API. Each
//! writes an accounts file (`id<TAB>base32-secret`) for the load generator.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloud_otp_core::Secret;
use cloud_otp_core::otpauth::KeyUri;
use cloud_otp_server::clock::{Clock, SystemClock, db_ms};
use cloud_otp_server::crypto::{Crypto, KEY_ENV, MasterKey, random_bytes, random_id};
use cloud_otp_server::storage::{NewDevice, Registered, Registration, Storage, Tenant};

use crate::http::{Conn, post};
use crate::workload::write_account;

/// Why enrolling failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// A request failed.
    #[error("http: {0}")]
    Http(#[from] crate::http::HttpError),
    /// The server refused.
    #[error("{0}")]
    Refused(String),
    /// The accounts file could not be written.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] cloud_otp_server::storage::StorageError),
    /// The master key could not be read.
    #[error(transparent)]
    Crypto(#[from] cloud_otp_server::crypto::CryptoError),
}

/// The user ID of benchmark user `i`: fixed width, so all IDs cost the same to send.
///
/// ```
/// assert_eq!(cloud_otp_bench::enroll::user_id("u", 42), "u0000042");
/// ```
pub fn user_id(prefix: &str, i: u64) -> String {
    format!("{prefix}{i:07}")
}

fn new_secret() -> Result<Secret, EnrollError> {
    Secret::new(random_bytes(20).to_vec()).map_err(|e| EnrollError::Refused(e.to_string()))
}

/// The lines of an accounts file, collected from concurrent tasks.
type Lines = Arc<Mutex<Vec<(u64, String, Secret)>>>;

fn write_file(out: &Path, lines: &Lines) -> Result<(), EnrollError> {
    let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
    lines.sort_unstable_by_key(|(i, _, _)| *i);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    for (_, id, secret) in lines.iter() {
        write_account(&mut file, id, secret)?;
    }
    std::io::Write::flush(&mut file)?;
    Ok(())
}

/// One enrollment request and what its answer yields.
trait Enroller: Send + Sync + 'static {
    /// The request for account `i`, with the id and secret the file will hold.
    fn request(&self, i: u64) -> Result<(Vec<u8>, String, Option<Secret>), EnrollError>;
    /// Reads the secret from the answer when the server chose it.
    fn secret(
        &self,
        status: u16,
        body: &[u8],
        given: Option<Secret>,
    ) -> Result<Secret, EnrollError>;
}

async fn enroll_over_http(
    addr: SocketAddr,
    count: u64,
    concurrency: usize,
    out: &Path,
    enroller: impl Enroller,
) -> Result<(), EnrollError> {
    let next = Arc::new(AtomicU64::new(0));
    let lines: Lines = Arc::new(Mutex::new(Vec::new()));
    let enroller = Arc::new(enroller);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, lines, enroller) = (next.clone(), lines.clone(), enroller.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr, Duration::from_secs(60));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<(), EnrollError>(());
                }
                let (req, id, given) = enroller.request(i)?;
                let r = conn.send(&req).await?;
                let secret = enroller.secret(r.status, &r.body, given)?;
                lines
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((i, id, secret));
            }
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| EnrollError::Refused(format!("task failed: {e}")))??;
    }
    write_file(out, &lines)
}

struct CloudOtp {
    host: String,
    bearer: String,
    prefix: String,
}

impl Enroller for CloudOtp {
    fn request(&self, i: u64) -> Result<(Vec<u8>, String, Option<Secret>), EnrollError> {
        let id = user_id(&self.prefix, i);
        let path = format!("/v1/users/{id}/authenticator");
        let req = post(
            &self.host,
            &path,
            "application/json",
            &[("Authorization", &self.bearer)],
            "{}",
        );
        Ok((req, id, None))
    }

    fn secret(&self, status: u16, body: &[u8], _: Option<Secret>) -> Result<Secret, EnrollError> {
        let refused = || EnrollError::Refused(format!("authenticator: HTTP {status}"));
        if status != 201 {
            return Err(refused());
        }
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| refused())?;
        let uri = v["otpauth_uri"].as_str().ok_or_else(refused)?;
        Ok(KeyUri::parse(uri).map_err(|_| refused())?.secret)
    }
}

/// Enrolls `count` users through `POST /v1/users/{id}/authenticator`.
pub async fn cloud_otp(
    addr: SocketAddr,
    key: &str,
    prefix: &str,
    count: u64,
    concurrency: usize,
    out: &Path,
) -> Result<(), EnrollError> {
    let enroller = CloudOtp {
        host: addr.to_string(),
        bearer: format!("Bearer {key}"),
        prefix: prefix.to_owned(),
    };
    enroll_over_http(addr, count, concurrency, out, enroller).await
}

struct PrivacyIdea {
    host: String,
    auth: String,
    prefix: String,
}

impl Enroller for PrivacyIdea {
    fn request(&self, i: u64) -> Result<(Vec<u8>, String, Option<Secret>), EnrollError> {
        let serial = user_id(&self.prefix, i);
        let secret = new_secret()?;
        let body = format!(
            "type=totp&timeStep=60&otplen=6&hashlib=sha1&serial={serial}&otpkey={}",
            hex::encode(secret.as_bytes())
        );
        let req = post(
            &self.host,
            "/token/init",
            "application/x-www-form-urlencoded",
            &[("Authorization", &self.auth)],
            &body,
        );
        Ok((req, serial, Some(secret)))
    }

    fn secret(
        &self,
        status: u16,
        body: &[u8],
        given: Option<Secret>,
    ) -> Result<Secret, EnrollError> {
        let ok = status == 200
            && serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|v| v["result"]["status"] == serde_json::Value::Bool(true));
        match (ok, given) {
            (true, Some(s)) => Ok(s),
            _ => Err(EnrollError::Refused(format!("token/init: HTTP {status}"))),
        }
    }
}

/// Enrolls `count` TOTP tokens (60 s, 6 digits, SHA-1) in privacyIDEA through `POST /auth`
/// and `POST /token/init`, with serials `prefix` + number.
pub async fn privacyidea(
    addr: SocketAddr,
    admin: &str,
    password: &str,
    prefix: &str,
    count: u64,
    concurrency: usize,
    out: &Path,
) -> Result<(), EnrollError> {
    let host = addr.to_string();
    let mut conn = Conn::new(addr, Duration::from_secs(60));
    let body = format!("username={admin}&password={password}");
    let r = conn
        .send(&post(
            &host,
            "/auth",
            "application/x-www-form-urlencoded",
            &[],
            &body,
        ))
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .map_err(|_| EnrollError::Refused(format!("auth: HTTP {}", r.status)))?;
    let auth = v["result"]["value"]["token"]
        .as_str()
        .ok_or_else(|| EnrollError::Refused(format!("auth: HTTP {}", r.status)))?
        .to_owned();
    let enroller = PrivacyIdea {
        host,
        auth,
        prefix: prefix.to_owned(),
    };
    enroll_over_http(addr, count, concurrency, out, enroller).await
}

/// A benchmark database as the server opens it: the storage of `database` (or the SQLite file
/// in `data_dir`), the master key of `data_dir` (or the environment) checked against it, and
/// the tenant with `customer_code`.
pub async fn open_tenant(
    database: Option<&str>,
    data_dir: &Path,
    customer_code: &str,
) -> Result<(Storage, Crypto, Tenant), EnrollError> {
    let storage = Storage::open(database, data_dir).await?;
    let env_key = std::env::var(KEY_ENV).ok();
    let master = MasterKey::load_or_create(env_key.as_deref(), data_dir)?;
    let crypto = Crypto::new(&master);
    drop(master);
    storage.ensure_key_check(crypto.key_check()).await?;
    let tenant = storage
        .tenant_by_customer_code(customer_code)
        .await?
        .ok_or_else(|| EnrollError::Refused(format!("no tenant {customer_code}")))?;
    Ok((storage, crypto, tenant))
}

/// Enrolls `count` users of the tenant with `customer_code` straight through the server's
/// storage layer: the same `Storage::register_device` call, device fields and sealed secret
/// that `POST /v1/users/{id}/authenticator` makes, without HTTP in between. For building
/// databases of 10^5 and 10^6 users in reasonable time; the measured requests still go
/// through the real server.
pub async fn direct(
    database: Option<&str>,
    data_dir: &Path,
    customer_code: &str,
    prefix: &str,
    count: u64,
    out: &Path,
) -> Result<(), EnrollError> {
    let (storage, crypto, tenant) = open_tenant(database, data_dir, customer_code).await?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    for i in 0..count {
        let id = user_id(prefix, i);
        let secret = new_secret()?;
        let device_id = random_id();
        let device = NewDevice {
            secret_enc: crypto.seal_secret(&device_id, &secret),
            id: device_id,
            kind: "authenticator".into(),
            label: "Authenticator app".into(),
            fingerprint: None,
        };
        let registration = Registration {
            tenant_id: tenant.id.clone(),
            user_id: id.clone(),
            device,
            replace: false,
            activation_attempts: None,
            now_ms: db_ms(SystemClock.now_ms()),
        };
        match storage.register_device(&registration).await? {
            Registered::Done { .. } => write_account(&mut file, &id, &secret)?,
            other => return Err(EnrollError::Refused(format!("{id}: {other:?}"))),
        }
    }
    std::io::Write::flush(&mut file)?;
    storage.close().await;
    Ok(())
}
