//! A consistent copy of the SQLite database while servers keep using it: `VACUUM INTO` reads
//! one snapshot (a WAL read transaction, which neither waits for the writer nor holds it
//! back) and writes it as a new, compact database file. PostgreSQL has pg_dump for this.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{Result, Storage, StorageError};

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL: pg_dump makes its backups.
    #[error("the database is PostgreSQL")]
    Postgres,
    /// There is no SQLite database to copy at this place.
    #[error("no database at {0}")]
    NoDatabase(String),
    /// The destination exists: a backup never overwrites a file.
    #[error("{0} already exists; a backup never overwrites a file")]
    Exists(String),
    /// The destination could not be created or written.
    #[error("cannot write {0}: {1}")]
    Io(String, std::io::Error),
    /// The database failed, or the copy does not read back as sound.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Storage {
    /// The existing database to back up: the SQLite file of `database` (a `sqlite:` URL) or,
    /// without one, the one in `data_dir`. Unlike [`Storage::open`] it never creates a
    /// database nor migrates one, and it refuses PostgreSQL without connecting to it.
    pub async fn open_for_backup(
        database: Option<&str>,
        data_dir: &Path,
    ) -> std::result::Result<Storage, BackupError> {
        let options = match database {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                return Err(BackupError::Postgres);
            }
            Some(url) if url.starts_with("sqlite:") => {
                SqliteConnectOptions::from_str(url).map_err(StorageError::from)?
            }
            Some(_) => return Err(StorageError::UnsupportedUrl.into()),
            None => SqliteConnectOptions::new().filename(data_dir.join(super::SQLITE_FILE)),
        };
        let file = options.get_filename();
        if !file.is_file() {
            return Err(BackupError::NoDatabase(file.display().to_string()));
        }
        Ok(Storage::open_sqlite(options).await?)
    }

    /// Copies the SQLite database into the new file `dest` (mode 0600, like the database),
    /// as one consistent snapshot, while other connections and processes keep reading and
    /// writing. The copy is checked (`PRAGMA quick_check`) and synced to disk; on any failure
    /// the partial file is removed. Refuses a `dest` that exists.
    pub async fn backup_sqlite(&self, dest: &Path) -> std::result::Result<(), BackupError> {
        let Storage::Sqlite(pool) = self else {
            return Err(BackupError::Postgres);
        };
        let shown = dest.display().to_string();
        create_private_new(dest).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::Exists(shown.clone()),
            _ => BackupError::Io(shown.clone(), e),
        })?;
        let copied = async {
            let target = dest.to_str().ok_or_else(|| {
                BackupError::Io(shown.clone(), std::io::ErrorKind::InvalidInput.into())
            })?;
            // SQLite accepts an existing empty file as the target of VACUUM INTO and keeps its
            // mode, so the copy is never readable by others, not even for a moment.
            sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(pool)
                .await
                .map_err(StorageError::from)?;
            check_copy(dest).await?;
            std::fs::File::open(dest)
                .and_then(|f| f.sync_all())
                .map_err(|e| BackupError::Io(shown.clone(), e))
        }
        .await;
        if copied.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        copied
    }
}

/// Creates `path` empty and readable by its owner only; fails if it exists.
fn create_private_new(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// Opens the copy read-only and asks SQLite whether it is sound.
async fn check_copy(dest: &Path) -> Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(dest)
        .read_only(true)
        .connect()
        .await?;
    let answer: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if answer == "ok" {
        Ok(())
    } else {
        Err(StorageError::Corrupt("backup copy"))
    }
}
