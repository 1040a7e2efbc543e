//! `cloud-otp audit export` (an institution's audit events as JSON lines or CSV on standard
//! output, read page by page) and `cloud-otp tenant audit-retention` (an institution's own
//! retention period).

use std::io::Write;
use std::path::Path;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::{OpsError, Target, say, tenant};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::storage::{AuditLine, Storage, Tenant};
use crate::validate::UserId;

/// Events read from the database at a time.
const PAGE: i64 = 1_000;

/// The export's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line, with the fields of `GET /v1/audit`'s events.
    Jsonl,
    /// CSV (RFC 4180) with a header line.
    Csv,
}

/// The columns of the CSV export, in order.
pub const CSV_HEADER: [&str; 6] = [
    "at",
    "user_id",
    "event",
    "outcome",
    "device_label",
    "detail",
];

/// `audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    target: Target,
    /// Only this trainee's events.
    #[arg(long)]
    user: Option<String>,
    /// Events at or after this time (RFC 3339, e.g. 2027-01-01T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// The output format.
    #[arg(long, value_enum)]
    format: Format,
}

/// `tenant audit-retention`.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    target: Target,
    /// Keep this institution's audit events this many days (0 = forever), whatever the
    /// server's --audit-retention-days.
    #[arg(long, conflicts_with = "server_default")]
    days: Option<u32>,
    /// Follow the server's --audit-retention-days again.
    #[arg(long)]
    server_default: bool,
}

fn time_arg(name: &str, value: Option<&str>, default: i64) -> Result<i64, OpsError> {
    match value {
        None => Ok(default),
        Some(text) => parse_rfc3339(text).ok_or_else(|| {
            OpsError::Input(format!(
                "--{name} must be an RFC 3339 time such as 2027-01-15T08:00:00Z"
            ))
        }),
    }
}

/// Writes the export to standard output.
pub async fn export(args: ExportArgs, data_dir: &Path) -> Result<(), OpsError> {
    let user = args.user.as_deref().map(UserId::parse).transpose()?;
    let since = time_arg("since", args.since.as_deref(), i64::MIN)?;
    let until = time_arg("until", args.until.as_deref(), i64::MAX)?;
    let (storage, tenant) = tenant(&args.target, data_dir).await?;
    let stdout = std::io::stdout().lock();
    let result = write_export(
        &storage,
        &tenant,
        user.as_ref(),
        since,
        until,
        args.format,
        stdout,
    )
    .await;
    storage.close().await;
    result
}

async fn write_export(
    storage: &Storage,
    tenant: &Tenant,
    user: Option<&UserId>,
    since: i64,
    until: i64,
    format: Format,
    out: impl Write,
) -> Result<(), OpsError> {
    let fail = |e: std::io::Error| OpsError::Io("stdout", e);
    let mut sink = match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_HEADER).map_err(csv_error)?;
            Sink::Csv(Box::new(w))
        }
        Format::Jsonl => Sink::Jsonl(std::io::BufWriter::new(out)),
    };
    let mut after: Option<String> = None;
    loop {
        let page = storage
            .audit_page(
                &tenant.id,
                user.map(UserId::as_str),
                since,
                until,
                after.as_deref(),
                PAGE,
            )
            .await?;
        for line in &page.lines {
            match &mut sink {
                Sink::Csv(w) => w.write_record(csv_row(line)).map_err(csv_error)?,
                Sink::Jsonl(w) => {
                    serde_json::to_writer(&mut *w, &json_row(line)).map_err(|e| fail(e.into()))?;
                    w.write_all(b"\n").map_err(fail)?;
                }
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    match &mut sink {
        Sink::Csv(w) => w.flush().map_err(fail),
        Sink::Jsonl(w) => w.flush().map_err(fail),
    }
}

/// Where the export's records go.
enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(std::io::BufWriter<W>),
}

fn csv_error(e: csv::Error) -> OpsError {
    OpsError::Io("csv", std::io::Error::other(e.to_string()))
}

/// An event as `GET /v1/audit` shows it; an erasure's own event has a null user ID.
fn json_row(e: &AuditLine) -> serde_json::Value {
    json!({
        "at": rfc3339(e.at_ms),
        "user_id": Some(&e.user_id).filter(|u| !u.is_empty()),
        "event": e.event,
        "outcome": e.outcome,
        "device_label": e.device_label,
        "detail": e.detail,
    })
}

/// An event as a CSV record of [`CSV_HEADER`]; missing values are empty.
fn csv_row(e: &AuditLine) -> [String; 6] {
    [
        rfc3339(e.at_ms),
        e.user_id.clone(),
        e.event.clone(),
        e.outcome.clone(),
        e.device_label.clone().unwrap_or_default(),
        e.detail.clone().unwrap_or_default(),
    ]
}

/// Sets or clears an institution's retention period and says what it is now.
pub async fn retention(args: RetentionArgs, data_dir: &Path) -> Result<(), OpsError> {
    if args.days.is_none() && !args.server_default {
        return Err(OpsError::Input(
            "give --days N (0 = keep forever) or --server-default".into(),
        ));
    }
    let (storage, tenant) = tenant(&args.target, data_dir).await?;
    let result = storage.set_audit_retention(&tenant.id, args.days).await;
    storage.close().await;
    result?;
    let kept = match args.days {
        None => "the server's --audit-retention-days".to_owned(),
        Some(0) => "forever".to_owned(),
        Some(n) => format!("{n} days"),
    };
    say(&[format!(
        "Audit events of \"{}\", customer code {}, are kept: {kept}.",
        tenant.name, tenant.customer_code
    )])
}
