//! Measurement points: `c` connections send code checks to one target for a bounded time and
//! count; every response is classified and timed, and the server's memory and CPU are read
//! from /proc while it runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::http::{Conn, post};
use crate::procfs::{TICKS_PER_SEC, busiest_threads, cpu_ticks, thread_ticks, tree_usage};
use crate::workload::{Accounts, Job};

/// Which server API a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// cloud-otp's `POST /v1/check` with an API key.
    CloudOtp,
    /// privacyIDEA's `POST /validate/check` with a token serial.
    Privacyidea,
    /// cloud-otp's `GET /v1/time`, which reads no database: what HTTP alone costs through
    /// the same client, connections and server stack (the floor of docs/benchmarks.md).
    HttpFloor,
}

impl Kind {
    /// Whether the requests carry codes of the accounts (the floor's carry none, and its
    /// accounts file is not read).
    pub fn checks_codes(self) -> bool {
        self != Kind::HttpFloor
    }
}

/// A server under test, as written in the targets file (JSON, one object per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Name in the results.
    pub name: String,
    /// Which API.
    pub kind: Kind,
    /// Loopback address, e.g. 127.0.0.1:18080.
    pub addr: SocketAddr,
    /// cloud-otp API key.
    #[serde(default)]
    pub key: Option<String>,
    /// The accounts file.
    pub accounts: PathBuf,
    /// The server's process; its descendants are counted too (gunicorn's workers).
    pub pid: u32,
}

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The code was accepted.
    Accepted,
    /// The code was refused as wrong.
    Rejected,
    /// The code was refused as already used.
    Replayed,
    /// The user is locked.
    Locked,
    /// Anything else: transport errors, unexpected statuses.
    Error,
}

/// Classifies a response of `kind`.
///
/// ```
/// use cloud_otp_bench::run::{Answer, Kind, classify};
/// assert_eq!(classify(Kind::CloudOtp, 409, br#"{"error":"replayed"}"#), Answer::Replayed);
/// let pi = br#"{"detail":{"message":"wrong otp value"},"result":{"status":true,"value":false}}"#;
/// assert_eq!(classify(Kind::Privacyidea, 200, pi), Answer::Rejected);
/// assert_eq!(classify(Kind::HttpFloor, 200, br#"{"now_ms":1}"#), Answer::Accepted);
/// ```
pub fn classify(kind: Kind, status: u16, body: &[u8]) -> Answer {
    let has = |needle: &str| body.windows(needle.len()).any(|w| w == needle.as_bytes());
    match kind {
        Kind::CloudOtp => match status {
            200 if has("\"success\":true") => Answer::Accepted,
            401 if has("invalid_code") => Answer::Rejected,
            409 if has("replayed") => Answer::Replayed,
            423 => Answer::Locked,
            _ => Answer::Error,
        },
        Kind::HttpFloor => match status {
            200 if has("\"now_ms\"") => Answer::Accepted,
            _ => Answer::Error,
        },
        Kind::Privacyidea => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
                return Answer::Error;
            };
            let message = v["detail"]["message"].as_str().unwrap_or("");
            if status != 200 {
                Answer::Error
            } else if v["result"]["value"] == serde_json::Value::Bool(true) {
                Answer::Accepted
            } else if message.contains("previous otp used again") {
                Answer::Replayed
            } else if message.to_ascii_lowercase().contains("failcounter") {
                Answer::Locked
            } else if message.contains("wrong otp") {
                Answer::Rejected
            } else {
                Answer::Error
            }
        }
    }
}

/// Whether a correct code of `step`, refused, may have been refused by the policy: the step at
/// the answer's arrival, `now`, has moved past the window (`step`, `step + 1`). The server
/// decided somewhere between sending and arrival, so a boundary may have passed first.
///
/// ```
/// use cloud_otp_bench::run::late;
/// assert!(!late(41, 41) && !late(41, 42), "inside the window when the answer came");
/// assert!(late(41, 43), "a code of t-1 sent at t, answered at t+1");
/// ```
pub fn late(step: u64, now: u64) -> bool {
    step + 1 < now
}

/// The request that checks `job` at `target`.
fn request(target: &Target, host: &str, bearer: &str, accounts: &Accounts, job: &Job) -> Vec<u8> {
    let id = || &accounts.get(job.account).id;
    match target.kind {
        Kind::HttpFloor => format!("GET /v1/time HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(),
        Kind::CloudOtp => {
            let id = id();
            let body = format!(r#"{{"user_id":"{id}","code":"{}"}}"#, job.code);
            post(
                host,
                "/v1/check",
                "application/json",
                &[("Authorization", bearer)],
                &body,
            )
        }
        Kind::Privacyidea => {
            let id = id();
            let body = format!("serial={id}&pass={}", job.code);
            post(
                host,
                "/validate/check",
                "application/x-www-form-urlencoded",
                &[],
                &body,
            )
        }
    }
}

/// Settings of one point.
#[derive(Debug, Clone, Copy)]
pub struct PointSpec {
    /// Concurrent connections.
    pub connections: usize,
    /// Unmeasured time first (connections warm, caches filled).
    pub warmup: Duration,
    /// Measured time, at most.
    pub duration: Duration,
    /// Requests in the measured time, at most.
    pub max_requests: u64,
    /// Every n-th request carries a wrong code (0: none).
    pub wrong_every: u64,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Record the server's resident memory once a second ([`Point::rss_per_s`]), for soaks.
    pub sample_rss: bool,
}

/// The result of one point, one line of the results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    /// Target name.
    pub target: String,
    /// Repetition number, from 1.
    pub rep: u32,
    /// Concurrent connections.
    pub connections: usize,
    /// Enrolled accounts the workload drew from.
    pub accounts: usize,
    /// Measured seconds.
    pub secs: f64,
    /// Requests sent and answered in the measured time.
    pub requests: u64,
    /// Correct codes accepted.
    pub accepted: u64,
    /// Wrong codes refused (as intended).
    pub rejected: u64,
    /// Answers `replayed`.
    pub replayed: u64,
    /// Correct codes refused as wrong while still inside the acceptance window when the answer
    /// came: a server fault, which a healthy run never has.
    pub unexpected: u64,
    /// Correct codes refused as wrong because a step boundary passed while they were in
    /// flight: a code of step t-1 picked just before the boundary is out of the window
    /// (t-1, t) once the server's clock reaches t+1. Refusing it is the policy.
    #[serde(default)]
    pub late: u64,
    /// Answers `locked`.
    pub locked: u64,
    /// Errors.
    pub errors: u64,
    /// The point ended early because every user had been served for this step.
    pub exhausted: bool,
    /// Requests per second.
    pub rps: f64,
    /// Accepted codes per second.
    pub accepted_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// Largest resident memory of the server's processes together, MiB.
    pub rss_mib: f64,
    /// CPU seconds the server used per measured second.
    pub server_cpu: f64,
    /// CPU seconds this generator used per measured second.
    pub client_cpu: f64,
    /// When the point ended, Unix seconds.
    pub at: u64,
    /// The server's resident memory, MiB, once a second of the measured time (only when
    /// [`PointSpec::sample_rss`] is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rss_per_s: Vec<f64>,
    /// The cores each of the server process's own threads used in the measured time, busiest
    /// first (by thread name; threads under 0.01 cores left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_threads: Vec<(String, f64)>,
}

#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    accepted: u64,
    rejected: u64,
    replayed: u64,
    unexpected: u64,
    late: u64,
    locked: u64,
    errors: u64,
}

struct Shared {
    accounts: Arc<Accounts>,
    target: Target,
    host: String,
    bearer: String,
    spec: PointSpec,
    start: Instant,
    measure_from: Instant,
    stop: AtomicBool,
    exhausted: AtomicBool,
    measured: AtomicU64,
    sent: AtomicU64,
    stopped_at_us: AtomicU64,
}

/// Now, in whole Unix seconds (0 before 1970).
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Shared {
    fn stop_now(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            let us = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.stopped_at_us.store(us, Ordering::SeqCst);
        }
    }
}

async fn worker(shared: Arc<Shared>, mut conn: Conn) -> Tally {
    let mut tally = Tally::default();
    let end = shared.measure_from + shared.spec.duration;
    while !shared.stop.load(Ordering::Relaxed) {
        let sent_at = Instant::now();
        if sent_at >= end {
            shared.stop_now();
            break;
        }
        let measured = sent_at >= shared.measure_from;
        if measured && shared.measured.fetch_add(1, Ordering::Relaxed) >= shared.spec.max_requests {
            shared.stop_now();
            break;
        }
        let n = shared.sent.fetch_add(1, Ordering::Relaxed);
        let now_step = shared.accounts.step_at(unix_secs());
        let wrong = shared.spec.wrong_every > 0
            && n % shared.spec.wrong_every == shared.spec.wrong_every - 1;
        let job = if !shared.target.kind.checks_codes() {
            // The floor spends no codes: every request is an answer to count.
            Some(Job {
                account: 0,
                code: String::new(),
                step: Some(0),
            })
        } else if wrong {
            shared.accounts.wrong(now_step)
        } else {
            shared.accounts.pick(now_step)
        };
        let Some(job) = job else {
            shared.exhausted.store(true, Ordering::SeqCst);
            shared.stop_now();
            break;
        };
        let req = request(
            &shared.target,
            &shared.host,
            &shared.bearer,
            &shared.accounts,
            &job,
        );
        let answer = match conn.send(&req).await {
            Ok(r) => classify(shared.target.kind, r.status, &r.body),
            Err(_) => Answer::Error,
        };
        if !measured {
            continue;
        }
        let us = u32::try_from(sent_at.elapsed().as_micros()).unwrap_or(u32::MAX);
        tally.latencies_us.push(us);
        let late = |step: u64| late(step, shared.accounts.step_at(unix_secs()));
        match (answer, job.step) {
            (Answer::Accepted, _) => tally.accepted += 1,
            (Answer::Rejected, None) => tally.rejected += 1,
            (Answer::Rejected, Some(step)) if late(step) => tally.late += 1,
            (Answer::Rejected, Some(_)) => tally.unexpected += 1,
            (Answer::Replayed, _) => tally.replayed += 1,
            (Answer::Locked, _) => tally.locked += 1,
            (Answer::Error, _) => tally.errors += 1,
        }
    }
    tally
}

/// Runs one point against `target`.
pub async fn point(
    target: &Target,
    accounts: Arc<Accounts>,
    spec: PointSpec,
    rep: u32,
) -> std::io::Result<Point> {
    let mut conns = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections {
        let mut c = Conn::new(target.addr, spec.timeout);
        c.connect().await.map_err(|e| {
            std::io::Error::other(format!("cannot connect to {}: {e}", target.addr))
        })?;
        conns.push(c);
    }
    let start = Instant::now();
    let shared = Arc::new(Shared {
        accounts,
        host: target.addr.to_string(),
        bearer: format!("Bearer {}", target.key.as_deref().unwrap_or("")),
        target: target.clone(),
        spec,
        start,
        measure_from: start + spec.warmup,
        stop: AtomicBool::new(false),
        exhausted: AtomicBool::new(false),
        measured: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        stopped_at_us: AtomicU64::new(0),
    });
    let handles: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(worker(shared.clone(), c)))
        .collect();

    tokio::time::sleep(spec.warmup).await;
    let (_, server_ticks0) = tree_usage(target.pid);
    let threads0 = thread_ticks(target.pid);
    let client_ticks0 = cpu_ticks(std::process::id());
    let measure_start = Instant::now();
    let mut rss_max = 0u64;
    let mut rss_per_s = Vec::new();
    let mut next_sample = measure_start;
    while !shared.stop.load(Ordering::Relaxed) && measure_start.elapsed() < spec.duration {
        let (rss, _) = tree_usage(target.pid);
        rss_max = rss_max.max(rss);
        if spec.sample_rss && Instant::now() >= next_sample {
            rss_per_s.push(rss as f64 / 1024.0);
            next_sample += Duration::from_secs(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // CPU over the measured time only, not the tail of answers still in flight.
    let (rss, server_ticks1) = tree_usage(target.pid);
    let threads1 = thread_ticks(target.pid);
    rss_max = rss_max.max(rss);
    let client_ticks1 = cpu_ticks(std::process::id());
    let cpu_secs = measure_start.elapsed().as_secs_f64().max(1e-6);
    let mut all = Tally::default();
    for h in handles {
        let t = h.await.map_err(std::io::Error::other)?;
        all.latencies_us.extend(t.latencies_us);
        all.accepted += t.accepted;
        all.rejected += t.rejected;
        all.replayed += t.replayed;
        all.unexpected += t.unexpected;
        all.late += t.late;
        all.locked += t.locked;
        all.errors += t.errors;
    }
    let stopped = Duration::from_micros(shared.stopped_at_us.load(Ordering::SeqCst));
    let secs = stopped.saturating_sub(spec.warmup).as_secs_f64().max(1e-6);
    all.latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        let v = &all.latencies_us;
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[i]) / 1000.0
    };
    let requests = all.latencies_us.len() as u64;
    Ok(Point {
        target: target.name.clone(),
        rep,
        connections: spec.connections,
        accounts: shared.accounts.len(),
        secs,
        requests,
        accepted: all.accepted,
        rejected: all.rejected,
        replayed: all.replayed,
        unexpected: all.unexpected,
        late: all.late,
        locked: all.locked,
        errors: all.errors,
        exhausted: shared.exhausted.load(Ordering::SeqCst),
        rps: requests as f64 / secs,
        accepted_per_s: all.accepted as f64 / secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        rss_mib: rss_max as f64 / 1024.0,
        server_cpu: server_ticks1.saturating_sub(server_ticks0) as f64 / TICKS_PER_SEC / cpu_secs,
        client_cpu: client_ticks1.saturating_sub(client_ticks0) as f64 / TICKS_PER_SEC / cpu_secs,
        server_threads: busiest_threads(&threads0, &threads1, cpu_secs),
        at: unix_secs(),
        rss_per_s,
    })
}

/// Whether to wait for the next TOTP step before a point that needs `need` correct codes,
/// when `available` are left in this one: when too few are left and a fresh step offers more
/// (at most two per account). A point that needs more than a whole step offers then starts
/// with a whole step, and runs until the codes run out.
///
/// ```
/// use cloud_otp_bench::run::must_wait;
/// assert!(!must_wait(500, 400, 1000)); // enough left
/// assert!(must_wait(300, 400, 1000)); // too few left, a fresh step has 2,000
/// assert!(must_wait(1500, 5000, 1000)); // more than a step offers: start with a whole one
/// assert!(!must_wait(2000, 5000, 1000)); // this step is still whole
/// ```
pub fn must_wait(available: u64, need: u64, accounts: u64) -> bool {
    available < need.min(2 * accounts)
}

/// Waits for the next TOTP step when [`must_wait`] says so; true if it waited.
pub async fn ensure_budget(accounts: &Accounts, need: u64) -> bool {
    let now = unix_secs();
    let step = accounts.step_at(now);
    if !must_wait(accounts.available(step), need, accounts.len() as u64) {
        return false;
    }
    let next = (step + 1) * 60;
    let wait_ms = (next.saturating_sub(now)) * 1000 + 300;
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    true
}
