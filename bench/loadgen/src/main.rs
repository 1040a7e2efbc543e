//! The `cloud-otp-bench` command: enroll users, run measurement points, print reports.
//! Results go to files and standard output; progress to standard error.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use cloud_otp_bench::run::{self, PointSpec, Target};
use cloud_otp_bench::workload::{Accounts, read_accounts};
use cloud_otp_bench::{enroll, report, storage_cost};

/// Load generator for the cloud-otp benchmarks (loopback only).
#[derive(Debug, Parser)]
#[command(name = "cloud-otp-bench")]
struct Cli {
    /// Worker threads of the generator's runtime.
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

/// A benchmark database and its tenant, as the commands that work below HTTP take them.
#[derive(Debug, clap::Args)]
struct Db {
    /// Database URL; default: the SQLite file in --data-dir.
    #[arg(long)]
    database: Option<String>,
    /// The server's data directory (master key file, SQLite file).
    #[arg(long)]
    data_dir: PathBuf,
    /// The tenant's customer code.
    #[arg(long)]
    customer_code: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enrolls users through cloud-otp's POST /v1/users/{id}/authenticator.
    Enroll {
        /// Server address.
        #[arg(long)]
        addr: SocketAddr,
        /// The institution's API key.
        #[arg(long, env = "BENCH_API_KEY")]
        key: String,
        /// How many users.
        #[arg(long)]
        count: u64,
        /// User ID prefix.
        #[arg(long, default_value = "u")]
        prefix: String,
        /// Concurrent connections.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// The accounts file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Enrolls users straight through the server's storage code (same rows, no HTTP).
    EnrollDirect {
        #[command(flatten)]
        db: Db,
        /// How many users.
        #[arg(long)]
        count: u64,
        /// User ID prefix.
        #[arg(long, default_value = "u")]
        prefix: String,
        /// The accounts file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Enrolls TOTP tokens in privacyIDEA through POST /auth and POST /token/init.
    EnrollPrivacyidea {
        /// Server address.
        #[arg(long)]
        addr: SocketAddr,
        /// Administrator name.
        #[arg(long)]
        admin: String,
        /// Administrator password.
        #[arg(long, env = "BENCH_PI_PASSWORD")]
        password: String,
        /// How many tokens.
        #[arg(long)]
        count: u64,
        /// Serial prefix.
        #[arg(long, default_value = "PIB")]
        prefix: String,
        /// Concurrent connections.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// The accounts file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Runs measurement points: for each repetition, each connection count, each target.
    Run {
        /// Targets file: one JSON object per line (name, kind, addr, key, accounts, pid).
        #[arg(long)]
        targets: PathBuf,
        /// Connection counts.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
        connections: Vec<usize>,
        /// Repetitions.
        #[arg(long, default_value_t = 3)]
        reps: u32,
        /// Measured seconds per point, at most.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds before each point.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Measured requests per point, at most.
        #[arg(long, default_value_t = 300_000)]
        max_requests: u64,
        /// Every n-th request carries a wrong code (0: none).
        #[arg(long, default_value_t = 10)]
        wrong_every: u64,
        /// Seconds one request may take.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Results file (JSON lines), appended to.
        #[arg(long)]
        out: PathBuf,
        /// Record the server's resident memory once a second (for soaks).
        #[arg(long)]
        sample_rss: bool,
    },
    /// Measures a verification below HTTP: the server's group read, decision and group
    /// commit on SQLite, one batch at a time (spends codes: run it on a copy).
    StorageCost {
        #[command(flatten)]
        db: Db,
        /// The accounts file of the enrolled users.
        #[arg(long)]
        accounts: PathBuf,
        /// Users a group read looks up.
        #[arg(long, default_value_t = 5)]
        reads: usize,
        /// Checks a group commit writes.
        #[arg(long, default_value_t = 15)]
        writes: usize,
        /// Reads and writes on one connection (a fused read-decide-write task's way).
        #[arg(long)]
        one_connection: bool,
        /// Seconds per repetition.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Repetitions.
        #[arg(long, default_value_t = 3)]
        reps: u32,
    },
    /// Prints the Markdown tables of a results file.
    Report {
        /// Results file.
        results: PathBuf,
        /// Target to compute throughput ratios against.
        #[arg(long)]
        baseline: Option<String>,
        /// The HTTP floor's target (kind http-floor): every other target's rate and p99 as a
        /// fraction of it, repetition by repetition.
        #[arg(long)]
        floor: Option<String>,
        /// Also print how the server's memory moved over each point (points run with
        /// --sample-rss).
        #[arg(long)]
        soak: bool,
    },
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Enroll(#[from] enroll::EnrollError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Input(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.max(0.0))
}

async fn execute(command: Command) -> Result<(), Error> {
    match command {
        Command::Enroll {
            addr,
            key,
            count,
            prefix,
            concurrency,
            out,
        } => Ok(enroll::cloud_otp(addr, &key, &prefix, count, concurrency, &out).await?),
        Command::EnrollDirect {
            db,
            count,
            prefix,
            out,
        } => Ok(enroll::direct(
            db.database.as_deref(),
            &db.data_dir,
            &db.customer_code,
            &prefix,
            count,
            &out,
        )
        .await?),
        Command::StorageCost {
            db,
            accounts,
            reads,
            writes,
            one_connection,
            duration,
            reps,
        } => {
            let accounts = Accounts::new(read_accounts(&accounts)?);
            let shape = storage_cost::Shape {
                reads,
                writes,
                one_connection,
            };
            for rep in 1..=reps {
                let cost = storage_cost::measure(
                    db.database.as_deref(),
                    &db.data_dir,
                    &db.customer_code,
                    &accounts,
                    shape,
                    duration,
                )
                .await?;
                eprintln!(
                    "rep {rep}: {:.0} verifications/s, {:.1} µs CPU each ({} verifications, {} failed)",
                    cost.per_s, cost.cpu_us, cost.verifications, cost.failed
                );
                let line = serde_json::to_string(&cost).map_err(std::io::Error::other)?;
                writeln!(std::io::stdout().lock(), "{line}")?;
                if cost.failed > 0 {
                    return Err(Error::Input(format!(
                        "{} of {} verifications failed: the database's codes were spent before (measure on a fresh copy)",
                        cost.failed, cost.verifications
                    )));
                }
            }
            Ok(())
        }
        Command::EnrollPrivacyidea {
            addr,
            admin,
            password,
            count,
            prefix,
            concurrency,
            out,
        } => Ok(
            enroll::privacyidea(addr, &admin, &password, &prefix, count, concurrency, &out).await?,
        ),
        Command::Run {
            targets,
            connections,
            reps,
            duration,
            warmup,
            max_requests,
            wrong_every,
            timeout,
            out,
            sample_rss,
        } => {
            let targets = read_targets(&targets)?;
            let mut accounts = Vec::new();
            for t in &targets {
                if !t.kind.checks_codes() {
                    accounts.push(Arc::new(Accounts::new(Vec::new())));
                    continue;
                }
                let a = read_accounts(&t.accounts)?;
                if a.is_empty() {
                    return Err(Error::Input(format!(
                        "{}: no accounts",
                        t.accounts.display()
                    )));
                }
                let a = Accounts::new(a);
                a.load_steps(&steps_file(t))?;
                accounts.push(Arc::new(a));
            }
            let mut results = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out)?;
            let mut best_rate: HashMap<usize, f64> = HashMap::new();
            for rep in 1..=reps {
                for &c in &connections {
                    for (i, target) in targets.iter().enumerate() {
                        let spec = PointSpec {
                            connections: c,
                            warmup: secs(warmup),
                            duration: secs(duration),
                            max_requests,
                            wrong_every,
                            timeout: secs(timeout),
                            sample_rss,
                        };
                        let rate = best_rate.get(&i).copied().unwrap_or(0.0);
                        let need =
                            (rate * (warmup + duration) * 1.25).min(max_requests as f64 * 1.25);
                        if target.kind.checks_codes()
                            && run::ensure_budget(&accounts[i], need as u64).await
                        {
                            eprintln!(
                                "waited for the next TOTP step: fresh users for {}",
                                target.name
                            );
                        }
                        let p = run::point(target, accounts[i].clone(), spec, rep).await?;
                        let r = best_rate.entry(i).or_insert(0.0);
                        *r = r.max(p.rps);
                        eprintln!(
                            "{} rep {rep} c={c}: {:.0} correct/s, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, RSS {:.1} MiB, server CPU {:.2}, client CPU {:.2} (acc {} wrong {} replayed {} unexpected {} late {} locked {} errors {}{})",
                            p.target,
                            p.accepted_per_s,
                            p.rps,
                            p.p50_ms,
                            p.p99_ms,
                            p.rss_mib,
                            p.server_cpu,
                            p.client_cpu,
                            p.accepted,
                            p.rejected,
                            p.replayed,
                            p.unexpected,
                            p.late,
                            p.locked,
                            p.errors,
                            if p.exhausted { ", users exhausted" } else { "" }
                        );
                        let threads: Vec<String> = p
                            .server_threads
                            .iter()
                            .take(8)
                            .map(|(name, cores)| format!("{name} {cores:.2}"))
                            .collect();
                        eprintln!("  busiest server threads (cores): {}", threads.join(", "));
                        let line =
                            serde_json::to_string(&p).map_err(|e| Error::Input(e.to_string()))?;
                        writeln!(results, "{line}")?;
                    }
                }
            }
            for (t, a) in targets.iter().zip(&accounts) {
                if t.kind.checks_codes() {
                    a.save_steps(&steps_file(t))?;
                }
            }
            Ok(())
        }
        Command::Report {
            results,
            baseline,
            floor,
            soak,
        } => {
            let text = std::fs::read_to_string(&results)?;
            let points = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<Vec<run::Point>, _>>()
                .map_err(|e| Error::Input(format!("{}: {e}", results.display())))?;
            let mut stdout = std::io::stdout().lock();
            write!(stdout, "{}", report::markdown(&points, baseline.as_deref()))?;
            if let Some(floor) = floor {
                write!(stdout, "{}", report::against_floor(&points, &floor))?;
            }
            if soak {
                write!(stdout, "{}", report::soak(&points))?;
            }
            Ok(())
        }
    }
}

/// Where the steps handed out to a target's accounts are kept between runs.
fn steps_file(target: &Target) -> PathBuf {
    let mut name = target.accounts.clone().into_os_string();
    name.push(".steps");
    PathBuf::from(name)
}

fn read_targets(path: &PathBuf) -> Result<Vec<Target>, Error> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
        })
        .collect()
}
