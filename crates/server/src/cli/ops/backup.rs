//! `cloud-otp backup FILE`: a consistent copy of the SQLite database while servers keep
//! serving (docs/operations.md, "Backups and restore"). On PostgreSQL it refuses with exit
//! status 4 and points to pg_dump.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{DbArg, OpsError, say};
use crate::storage::{BackupError, Storage};

/// `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file to write the copy to; an existing file is never overwritten.
    file: PathBuf,
    #[command(flatten)]
    db: DbArg,
}

/// Writes the copy; see [`Storage::backup_sqlite`].
pub async fn run(args: BackupArgs, data_dir: &Path) -> Result<(), OpsError> {
    let storage = Storage::open_for_backup(args.db.database.as_deref(), data_dir)
        .await
        .map_err(refusal)?;
    let result = storage.backup_sqlite(&args.file).await;
    storage.close().await;
    result.map_err(refusal)?;
    say(&[format!(
        "Backed up the database to {} (mode 0600). Keep the master key apart from it: the \
         copy's device secrets open only with that key.",
        args.file.display()
    )])
}

fn refusal(e: BackupError) -> OpsError {
    match e {
        // Never the URL: it may carry a password.
        BackupError::Postgres => OpsError::Unsupported(
            "backup copies the SQLite database only; back up PostgreSQL with pg_dump, e.g. \
             `pg_dump --format=custom --file=cloud-otp.dump \"$CLOUD_OTP_DATABASE\"` \
             (docs/operations.md, \"Backups and restore\")"
                .into(),
        ),
        BackupError::Storage(e) => OpsError::Storage(e),
        other => OpsError::Input(other.to_string()),
    }
}
