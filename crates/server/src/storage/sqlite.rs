//! What only SQLite needs: the connection settings (pragmas), private file modes for the
//! database file, the background WAL checkpointer, and the connections of the group reader
//! and writer.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};

use super::{Result, Storage, with_pool};

/// Makes an SQLite database file and its `-wal` and `-shm` files readable by their owner
/// only (0600): they hold user IDs and the audit log. A new database file is created so
/// before SQLite creates it with the umask's mode (0644 under umask 022, even in a private
/// directory made earlier by someone else); SQLite gives the `-wal` and `-shm` files it
/// creates the database file's mode, and files from before are narrowed here. A failure is
/// logged, not fatal: the database may be another user's file that this one may only write.
fn private_sqlite_files(db: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let name = db.as_os_str();
        if name.is_empty() || name == ":memory:" {
            return;
        }
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(db);
        if let Err(e) = created
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            tracing::warn!(file = %db.display(), error = %e, "cannot create the database file");
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut file = name.to_owned();
            file.push(suffix);
            let narrowed = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
            if let Err(e) = narrowed
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %Path::new(&file).display(), error = %e, "cannot make the database file private (0600)");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
}

impl Storage {
    pub(super) async fn open_sqlite(options: SqliteConnectOptions) -> Result<Storage> {
        private_sqlite_files(options.get_filename());
        // WAL lets readers run beside the one writer; the busy timeout makes writers queue
        // instead of failing when many verifications arrive at once. synchronous=NORMAL in
        // WAL mode: a commit is written to the WAL file (in the operating system's hands, so
        // it survives a crash of this process) but not fsynced; only checkpoints fsync.
        // Checkpoints run in the background (`checkpoints`), not inside whichever commit
        // crosses the WAL size limit, where they stalled every writer for the length of two
        // fsyncs (docs/benchmarks-history.md).
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("wal_autocheckpoint", "0")
            // A write batch's multi-row UPDATE keeps a statement journal; in memory, not in a
            // temporary file that was created and deleted for each batch.
            .pragma("temp_store", "MEMORY")
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // No ping before handing out a connection: an embedded file cannot go away like a
        // server can, and each ping is a round trip to the connection's worker thread, which
        // cost about a third of a verification's CPU time (docs/benchmarks-history.md).
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_CONNECTIONS)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        tokio::spawn(checkpoints(pool.clone()));
        Ok(Storage::Sqlite(pool))
    }

    /// A connection to the SQLite database of its own, outside the pool, for the group
    /// reader and writer of [`super::batch`], which keep it (taking one from the pool for
    /// each batch and giving it back cost a task each time). `None` on PostgreSQL.
    pub async fn sqlite_connection(&self) -> Result<Option<SqliteConnection>> {
        match self {
            Storage::Sqlite(pool) => Ok(Some(pool.connect_options().connect().await?)),
            Storage::Postgres(_) => Ok(None),
        }
    }

    /// Whether [`Storage::close`] was called.
    pub fn is_closed(&self) -> bool {
        with_pool!(self, |pool| pool.is_closed())
    }
}

/// SQLite connections in the pool: the checkpointer, the widget's verifications, the
/// administration and the other requests off the `/v1/check` path (the group readers and
/// the group writer keep connections of their own, see [`Storage::sqlite_connection`]).
/// Each costs a thread and its own page cache.
const SQLITE_CONNECTIONS: u32 = 4;

/// How often the SQLite WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// WAL frames (pages) above which the checkpointer also empties the WAL file: 65536 frames,
/// 256 MiB with 4 KiB pages. Emptying holds writers back in SQLite's busy handler, which
/// sleeps in steps of milliseconds; at 32 MiB that happened about once a second at full load,
/// when p99 latency was twice what it is with this limit (docs/benchmarks-history.md).
const WAL_TRUNCATE_FRAMES: i64 = 65536;

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] until the pool closes.
/// PASSIVE first: it never waits for readers or writers, who go on meanwhile. Under a steady
/// stream of writes a passive checkpoint never finds the WAL both fully copied and unused,
/// so the WAL is never started again from its beginning and keeps growing; past
/// [`WAL_TRUNCATE_FRAMES`] a TRUNCATE checkpoint, with little left to copy, waits for the
/// readers of the moment and empties it, holding writers back for a few milliseconds.
async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = checkpoint(&pool).await
            && !pool.is_closed()
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

async fn checkpoint(pool: &SqlitePool) -> sqlx::Result<()> {
    // The pragma answers (busy, frames in the WAL, frames copied).
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    let frames: i64 = row.try_get(1)?;
    if frames >= WAL_TRUNCATE_FRAMES {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pool)
            .await?;
    }
    Ok(())
}
