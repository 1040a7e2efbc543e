//! Signed webhooks: an institution's receiver gets each event of its outbox (written in the
//! transaction of the change, `storage/webhooks.rs`) at least once, as a JSON POST signed
//! with HMAC-SHA-256 over `timestamp + "." + body` (docs/api.md, "Webhooks"). The delivery
//! worker is a task of its own with its own HTTP client and timeouts, and each attempt a task
//! of its own: a slow or dead receiver delays only its events, never a verification nor
//! another institution's events. Failed attempts are retried with exponential backoff (capped),
//! then the event is dead: kept for the operator to see and retry, deleted after a retention.
//!
//! Receivers are reached over HTTPS (rustls on ring; certificates verified against the
//! operating system's roots and the operator's `--webhook-ca-file`, [`Roots`]) or, on the
//! operator's own network, plain HTTP ([`WebhookUrl`]). Redirects are never followed.

use std::sync::Arc;
use std::time::Duration;

use cloud_otp_core::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use tokio::sync::Semaphore;

use crate::clock::{Clock, db_ms};
use crate::crypto::{Crypto, SharedCrypto};
use crate::ids::random_token;
use crate::metrics::Metrics;
use crate::storage::{OutboxItem, Storage, StorageError};
use crate::validate::WebhookUrl;

/// The header with the event id, the same for every attempt: receivers deduplicate by it.
pub const EVENT_ID_HEADER: &str = "Cloud-Otp-Event-Id";
/// The header with the Unix time (seconds) the attempt was signed at.
pub const TIMESTAMP_HEADER: &str = "Cloud-Otp-Timestamp";
/// The header with the signature, `v1=` and 64 hexadecimal digits.
pub const SIGNATURE_HEADER: &str = "Cloud-Otp-Signature";

/// The associated data a webhook secret is sealed with: its institution, so a ciphertext
/// copied to another institution's row does not open.
pub(crate) fn sealing_context(tenant_id: &str) -> String {
    format!("webhook:{tenant_id}")
}

/// Sets an institution's webhook with a new signing secret, `whsec_` and 256 random bits;
/// returns the secret, which is stored only encrypted under the master key and shown this
/// once. Setting it again replaces the URL and the secret.
pub async fn set(
    storage: &Storage,
    crypto: &Crypto,
    tenant_id: &str,
    url: &WebhookUrl,
    now_ms: i64,
) -> Result<String, StorageError> {
    let secret = format!("whsec_{}", random_token());
    let sealable = Secret::new(secret.as_bytes().to_vec())
        .map_err(|_| StorageError::Corrupt("webhook secret"))?;
    let sealed = crypto.seal_secret(&sealing_context(tenant_id), &sealable);
    storage
        .put_webhook(tenant_id, url.as_str(), &sealed, now_ms)
        .await?;
    Ok(secret)
}

/// The signature header's value for `body` sent at `timestamp` (Unix seconds):
/// `v1=` + hex(HMAC-SHA-256(secret, timestamp + "." + body)).
///
/// ```
/// use cloud_otp_server::webhooks::sign;
/// // The value Python's hmac module and Node.js's crypto compute (docs/operations.md).
/// assert_eq!(
///     sign(b"whsec_test", 1800000000, r#"{"id":"x"}"#),
///     "v1=296fbe1453adf54bfa3f2a83ec3cfd63917b48744347c58fc5b42d81d401b607"
/// );
/// assert_ne!(sign(b"whsec_test", 1800000001, "{}"), sign(b"whsec_test", 1800000000, "{}"));
/// ```
pub fn sign(secret: &[u8], timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The extra roots the sender trusts besides the operating system's: those of
/// `serve --webhook-ca-file` (an operator's private CA). Empty by default.
#[derive(Clone, Default)]
pub struct Roots(Vec<reqwest::Certificate>);

impl std::fmt::Debug for Roots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Roots({} extra)", self.0.len())
    }
}

impl Roots {
    /// Roots from PEM text: one or more `CERTIFICATE` blocks (other blocks are skipped). The
    /// error says what is wrong with the text, never its content.
    pub fn from_pem(pem: &[u8]) -> Result<Roots, String> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|_| "it is not valid PEM".to_owned())?;
        if certs.is_empty() {
            return Err("it holds no PEM CERTIFICATE block".into());
        }
        let roots = Roots(certs);
        // Each certificate is parsed when a client is built: a block that is not an X.509
        // certificate fails here, not at the first delivery.
        client(Duration::from_secs(10), &roots)
            .map_err(|_| "a CERTIFICATE block in it is not a valid X.509 certificate".to_owned())?;
        Ok(roots)
    }

    /// Roots from a PEM file; the error names the file and what is wrong.
    pub fn from_pem_file(path: &std::path::Path) -> Result<Roots, String> {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the webhook CA file {}: {e}", path.display()))?;
        Roots::from_pem(&pem)
            .map_err(|e| format!("the webhook CA file {} is unusable: {e}", path.display()))
    }

    /// How many extra roots there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (only the operating system's roots are trusted).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The sender's HTTP client: HTTPS with verified certificates (the operating system's roots
/// and `roots`), HTTP/1.1, no redirects, no proxy, `timeout` for connecting and for the whole
/// attempt.
pub fn client(timeout: Duration, roots: &Roots) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_built_in_native_certs(true);
    for cert in &roots.0 {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder.build()
}

/// How the delivery worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The longest one attempt may take (connecting, sending, the answer).
    pub timeout: Duration,
    /// The pause between looks at the outbox when nothing is due.
    pub poll: Duration,
    /// Attempts in flight at once (each holds a connection to a receiver).
    pub concurrency: usize,
    /// Attempts before an event is dead.
    pub max_attempts: i64,
    /// The wait after the first failure; it doubles with each further one.
    pub backoff_base_ms: i64,
    /// The longest wait between attempts.
    pub backoff_max_ms: i64,
    /// How long a dead event is kept (from its creation) before it is deleted.
    pub dead_retention_ms: i64,
}

impl Default for Delivery {
    /// 10-second attempts, 32 at once; retries after 1 s, 2 s, 4 s ... at most 1 hour apart;
    /// dead after 36 attempts, about 24 hours after the first; dead events kept 7 days.
    fn default() -> Self {
        Delivery {
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            concurrency: 32,
            max_attempts: 36,
            backoff_base_ms: 1_000,
            backoff_max_ms: 60 * 60 * 1_000,
            dead_retention_ms: 7 * 24 * 60 * 60 * 1_000,
        }
    }
}

impl Delivery {
    /// The wait after the `attempts`-th failed attempt.
    ///
    /// ```
    /// use cloud_otp_server::webhooks::Delivery;
    /// let d = Delivery::default();
    /// assert_eq!((d.backoff_ms(1), d.backoff_ms(2), d.backoff_ms(3)), (1_000, 2_000, 4_000));
    /// assert_eq!(d.backoff_ms(40), 3_600_000);
    /// // The documented give-up time: the waits before the last attempt, about 24 hours.
    /// let total: i64 = (1..d.max_attempts).map(|n| d.backoff_ms(n)).sum();
    /// assert!((23 * 3_600_000..25 * 3_600_000).contains(&total), "{total}");
    /// ```
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        self.backoff_base_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.backoff_max_ms)
    }

    /// How long a claimed event is left to its worker before another may send it again: an
    /// attempt's timeout and some slack. A worker killed mid-delivery is replaced after this.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX / 2) + 5_000
    }
}

/// The delivery worker of one server process: its database, keys, metrics and clock.
#[derive(Clone)]
pub struct Worker {
    /// The database whose outbox it delivers.
    pub storage: Storage,
    /// The master keys that open the signing secrets.
    pub crypto: Arc<SharedCrypto>,
    /// Where deliveries and failures are counted.
    pub metrics: Arc<Metrics>,
    /// The time of attempts and backoff.
    pub clock: Arc<dyn Clock>,
    /// How it runs.
    pub delivery: Delivery,
    /// The roots it trusts besides the operating system's.
    pub roots: Roots,
}

/// How often (in rounds with nothing due) dead events past their retention are deleted.
const PRUNE_EVERY: u32 = 120;

impl Worker {
    /// Delivers the outbox until the storage closes.
    pub async fn run(self) {
        let client = match client(self.delivery.timeout, &self.roots) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook delivery cannot start its HTTP client");
                return;
            }
        };
        let slots = Arc::new(Semaphore::new(self.delivery.concurrency.max(1)));
        let mut idle_rounds = 0_u32;
        loop {
            if self.storage.is_closed() {
                return;
            }
            let started = match self.round(&client, &slots).await {
                Ok(n) => n,
                Err(e) => {
                    if !self.storage.is_closed() {
                        tracing::warn!(error = %e, "webhook delivery round failed");
                    }
                    0
                }
            };
            if started == 0 {
                if idle_rounds.is_multiple_of(PRUNE_EVERY) {
                    self.prune().await;
                }
                idle_rounds = idle_rounds.wrapping_add(1);
                tokio::time::sleep(self.delivery.poll).await;
            }
        }
    }

    /// Deletes dead events older than the retention.
    async fn prune(&self) {
        let before = db_ms(self.clock.now_ms()).saturating_sub(self.delivery.dead_retention_ms);
        match self.storage.prune_dead_webhooks(before).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                deleted = n,
                "dead webhook events past their retention deleted"
            ),
            Err(e) => {
                if !self.storage.is_closed() {
                    tracing::warn!(error = %e, "pruning dead webhook events failed");
                }
            }
        }
    }

    /// Claims the due events that free slots allow and starts an attempt for each, as a task
    /// of its own; returns how many were started.
    async fn round(
        &self,
        client: &reqwest::Client,
        slots: &Arc<Semaphore>,
    ) -> Result<usize, StorageError> {
        let free = slots.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let now = db_ms(self.clock.now_ms());
        let due = self
            .storage
            .due_webhooks(now, i64::try_from(free).unwrap_or(i64::MAX))
            .await?;
        let keys = self.crypto.current();
        let mut started = 0;
        for item in due {
            let Ok(permit) = Arc::clone(slots).try_acquire_owned() else {
                break;
            };
            if !self
                .storage
                .claim_webhook(&item, now.saturating_add(self.delivery.lease_ms()))
                .await?
            {
                continue;
            }
            let secret = keys.open_secret(&sealing_context(&item.tenant_id), &item.secret_enc);
            let (client, worker) = (client.clone(), self.clone());
            started += 1;
            tokio::spawn(async move {
                let outcome = match secret {
                    Ok(secret) => send(&client, &item, secret.as_bytes(), now / 1000).await,
                    Err(_) => {
                        Err("the signing secret cannot be opened with the master keys".into())
                    }
                };
                if let Err(e) = worker.record(&item, outcome).await
                    && !worker.storage.is_closed()
                {
                    // The claim expires and the event is tried again.
                    tracing::warn!(event = %item.id, error = %e, "recording a webhook attempt failed");
                }
                drop(permit);
            });
        }
        Ok(started)
    }

    /// Records an attempt: a delivered event leaves the outbox; a failed one is due again
    /// after its backoff, or dead.
    async fn record(
        &self,
        item: &OutboxItem,
        outcome: Result<(), String>,
    ) -> Result<(), StorageError> {
        match outcome {
            Ok(()) => {
                self.metrics.webhook_delivered();
                self.storage.webhook_delivered(&item.id).await
            }
            Err(error) => {
                self.metrics.webhook_failed();
                let tries = item.attempts + 1;
                let dead = tries >= self.delivery.max_attempts;
                let next =
                    db_ms(self.clock.now_ms()).saturating_add(self.delivery.backoff_ms(tries));
                if dead {
                    tracing::warn!(event = %item.id, tenant = %item.tenant_id, %error, attempts = tries, "webhook event dead");
                } else {
                    tracing::info!(event = %item.id, %error, attempts = tries, "webhook attempt failed");
                }
                self.storage
                    .webhook_failed(&item.id, tries, next, dead, &error)
                    .await
            }
        }
    }
}

/// One attempt: any 2xx answer is a delivery. The error says what failed, never a secret
/// (the URL carries none, see [`WebhookUrl`]).
async fn send(
    client: &reqwest::Client,
    item: &OutboxItem,
    secret: &[u8],
    timestamp: i64,
) -> Result<(), String> {
    let answer = client
        .post(&item.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_ID_HEADER, &item.id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, sign(secret, timestamp, &item.body))
        .body(item.body.clone())
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the receiver answered {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Err("no answer within the timeout".into()),
        Err(e) => Err(match tls_failure(&e) {
            Some(why) => why,
            None if e.is_connect() => "cannot connect to the receiver".into(),
            None => "the request failed".into(),
        }),
    }
}

/// What went wrong in the TLS handshake, if that is why `error` happened: a fixed sentence
/// (the certificate's names and the URL are left out).
fn tls_failure(error: &reqwest::Error) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(describe_tls(tls));
        }
        // An io::Error's source() skips the error it wraps (hyper-rustls wraps rustls's in
        // two): step into that one instead.
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A rustls failure in words an operator can act on.
fn describe_tls(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let why = match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => {
                "the receiver's TLS certificate is not signed by a trusted root (a private CA \
                 is added with serve --webhook-ca-file)"
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the receiver's TLS certificate is not valid for the webhook URL's host"
            }
            C::Expired | C::ExpiredContext { .. } => "the receiver's TLS certificate has expired",
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the receiver's TLS certificate is not valid yet"
            }
            C::Revoked => "the receiver's TLS certificate is revoked",
            _ => "the receiver's TLS certificate was refused",
        },
        rustls::Error::AlertReceived(_) => "the receiver ended the TLS handshake with an alert",
        _ => "the TLS handshake with the receiver failed",
    };
    why.to_owned()
}
