//! Batched reads and writes of verifications, on SQLite and PostgreSQL: group read and group
//! commit.
//!
//! Every statement through sqlx's SQLite driver is a round trip to the worker thread of a
//! connection, and each round trip costs thread switches that on two cores cost more than
//! the statement itself. And SQLite has one writer at a time: concurrent write transactions
//! that find the lock taken wait in SQLite's busy handler, which sleeps whole milliseconds
//! between tries. Measured on two cores, that capped `/v1/check` near 2,000 verifications/s
//! with p99 near 100 ms at 64 connections (docs/benchmarks-history.md, the profile of 2026-11-25).
//!
//! So a few tasks read for everyone and one task writes for everyone. Each takes every
//! request already waiting in its queue (nothing waits for company: a lone request goes
//! alone) and serves them with one command to the worker thread of a connection it keeps for
//! itself: one statement for a read, one whole transaction for a write. The writer answers
//! only after the commit, so an accepted code is in the database (WAL, synchronous=NORMAL: in
//! the operating system's hands, durable against a crash of this process) before the client
//! hears of it. Each outcome keeps its own compare-and-set on the user's version, so the
//! result is the same as writing them one by one. Readers run side by side (WAL readers do
//! not block each other or the writer), so a read batch does not wait for the one before.
//!
//! On PostgreSQL the same queues serve a different cost: there each verification was five
//! round trips and a commit of its own, and a batch is one statement each way (`pg_group`),
//! taken from the pool rather than a kept connection. Many server processes may share the
//! database; each check's compare-and-set still holds across them (see `pg_group`).

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{AuditEntry, Committed, Storage, StorageError, UserRecord, VerifyCommit};
use crate::metrics::{Group, Metrics};

/// The most requests served by one statement or transaction.
const MAX_BATCH: usize = 64;

/// How many read batches may run at once, each on its own connection. Two, for the two
/// cores this was measured on: a read batch no longer waits for the previous one to come
/// back, and more would only add threads and page caches.
const READERS: usize = 2;

type Reply = oneshot::Sender<Result<Committed, StorageError>>;

/// One write waiting for the writer.
#[derive(Debug)]
enum Work {
    /// A verification outcome.
    Commit(VerifyCommit),
    /// An audit event on its own (replayed, locked, unapproved device).
    Audit(AuditEntry),
}

#[derive(Debug)]
struct Item {
    work: Work,
    reply: Reply,
}

impl Item {
    /// The user whose state this item writes, if any.
    fn user(&self) -> Option<(&str, &str)> {
        match &self.work {
            Work::Commit(c) => Some((&c.tenant_id, &c.user_id)),
            Work::Audit(_) => None,
        }
    }
}

/// The readers and the writer of one database, each started on first use.
#[derive(Debug)]
pub struct Batches {
    storage: Storage,
    metrics: Arc<Metrics>,
    writes: OnceLock<mpsc::UnboundedSender<Item>>,
    reads: OnceLock<mpsc::UnboundedSender<ReadItem>>,
}

/// One user lookup waiting for a reader.
#[derive(Debug)]
struct ReadItem {
    key: (String, String),
    reply: oneshot::Sender<Result<Option<UserRecord>, StorageError>>,
}

fn closed() -> StorageError {
    StorageError::Db(sqlx::Error::PoolClosed)
}

impl Batches {
    /// The batches of `storage`, which record each group's size in `metrics`.
    pub fn new(storage: Storage, metrics: Arc<Metrics>) -> Self {
        Batches {
            storage,
            metrics,
            writes: OnceLock::new(),
            reads: OnceLock::new(),
        }
    }

    /// A user's state and active device, as [`Storage::user`] reads it.
    pub async fn user(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Option<UserRecord>, StorageError> {
        let queue = self.reads.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            // The readers share one queue: whichever is free takes what is waiting.
            let rx = Arc::new(Mutex::new(rx));
            for _ in 0..READERS {
                tokio::spawn(reader(
                    self.storage.clone(),
                    Arc::clone(&rx),
                    self.metrics.clone(),
                ));
            }
            tx
        });
        let (reply, answer) = oneshot::channel();
        let key = (tenant_id.to_owned(), user_id.to_owned());
        queue.send(ReadItem { key, reply }).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Writes a verification outcome, as [`Storage::commit_verification`] does.
    pub async fn commit(&self, commit: VerifyCommit) -> Result<Committed, StorageError> {
        // A widget verification spends a session: on SQLite it waits for the one writer
        // anyway, but on PostgreSQL its own transaction runs beside the others' instead of
        // one after another in the writer.
        if commit.spend.is_some() && matches!(self.storage, Storage::Postgres(_)) {
            return self.storage.commit_verification(&commit).await;
        }
        self.submit(Work::Commit(commit)).await
    }

    /// Appends an audit event, as [`Storage::audit`] does.
    pub async fn audit(&self, event: AuditEntry) -> Result<(), StorageError> {
        self.submit(Work::Audit(event)).await.map(drop)
    }

    async fn submit(&self, work: Work) -> Result<Committed, StorageError> {
        let queue = self.writes.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            // The writer runs as its own task so that a request that goes away (its client
            // disconnected) cannot cancel a transaction that carries other requests' writes.
            tokio::spawn(writer(self.storage.clone(), rx, self.metrics.clone()));
            tx
        });
        let (reply, answer) = oneshot::channel();
        queue.send(Item { work, reply }).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// The connection a reader or the writer keeps, opened on first use and again after an
/// error closed it.
async fn connection<'a>(
    storage: &Storage,
    conn: &'a mut Option<SqliteConnection>,
) -> Result<&'a mut SqliteConnection, StorageError> {
    if storage.is_closed() {
        return Err(closed());
    }
    if conn.is_none() {
        *conn = storage.sqlite_connection().await?;
    }
    conn.as_mut().ok_or_else(closed)
}

/// Closes a kept connection after an error: it may hold an open transaction, which closing
/// rolls back, and a fresh one is opened for the next batch.
async fn discard(conn: &mut Option<SqliteConnection>) {
    if let Some(c) = conn.take()
        && let Err(e) = c.close().await
    {
        tracing::warn!(error = %e, "closing a batch connection failed");
    }
}

/// Takes the next batch: everything already waiting, up to [`MAX_BATCH`], at most one
/// outcome per user (a second outcome for a user was decided on the same state as the first
/// and must see the first one's result, so it waits for the next batch).
fn next_batch(
    first: Item,
    carried: &mut VecDeque<Item>,
    rx: &mut mpsc::UnboundedReceiver<Item>,
) -> Vec<Item> {
    let mut batch = vec![first];
    let mut deferred = VecDeque::new();
    while batch.len() < MAX_BATCH {
        let Some(item) = carried.pop_front().or_else(|| rx.try_recv().ok()) else {
            break;
        };
        // A linear scan: a batch is small, and it spares hashing and copying every key.
        let fresh = match item.user() {
            Some(key) => !batch.iter().any(|b| b.user() == Some(key)),
            None => true,
        };
        if fresh {
            batch.push(item);
        } else {
            deferred.push_back(item);
        }
    }
    deferred.append(carried);
    *carried = deferred;
    batch
}

/// Serves lookups: whichever reader is free takes everything waiting, up to
/// [`MAX_BATCH`], and reads it with one statement on its own connection. If that fails, each
/// lookup is retried alone so that each gets its own answer.
async fn reader(
    storage: Storage,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<ReadItem>>>,
    metrics: Arc<Metrics>,
) {
    let mut conn = None;
    loop {
        let batch = {
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else { break };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            batch
        };
        metrics.group(Group::Read, batch.len());
        read(&storage, &mut conn, batch).await;
    }
    discard(&mut conn).await;
}

async fn read(storage: &Storage, conn: &mut Option<SqliteConnection>, batch: Vec<ReadItem>) {
    let result = {
        let keys: Vec<(&str, &str)> = batch
            .iter()
            .map(|i| (i.key.0.as_str(), i.key.1.as_str()))
            .collect();
        match storage {
            Storage::Postgres(pool) => Storage::pg_group_read(pool, &keys).await,
            Storage::Sqlite(_) => match connection(storage, conn).await {
                Ok(c) => Storage::group_read(c, &keys).await,
                Err(e) => Err(e),
            },
        }
    };
    match result {
        Ok(records) => {
            for (item, record) in batch.into_iter().zip(records) {
                let _ = item.reply.send(Ok(record));
            }
        }
        Err(e) => {
            if !storage.is_closed() {
                tracing::warn!(error = %e, "group read failed; reading its users one by one");
            }
            discard(conn).await;
            for item in batch {
                let _ = item
                    .reply
                    .send(storage.user(&item.key.0, &item.key.1).await);
            }
        }
    }
}

async fn writer(storage: Storage, mut rx: mpsc::UnboundedReceiver<Item>, metrics: Arc<Metrics>) {
    let mut conn = None;
    let mut carried = VecDeque::new();
    loop {
        let first = match carried.pop_front() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => break,
            },
        };
        let batch = next_batch(first, &mut carried, &mut rx);
        metrics.group(Group::Write, batch.len());
        write(&storage, &mut conn, batch).await;
    }
    discard(&mut conn).await;
}

/// Writes a batch and answers every item. Outcomes that spend a session (the widget's
/// verify) need their own transaction, because they may fail after the user's row was
/// written; if the batch transaction fails, every item is retried alone so that each gets
/// its own answer.
async fn write(storage: &Storage, conn: &mut Option<SqliteConnection>, batch: Vec<Item>) {
    let (mut checks, mut check_replies) = (Vec::new(), Vec::new());
    let (mut audits, mut audit_replies) = (Vec::new(), Vec::new());
    let mut single = Vec::new();
    for item in batch {
        match item.work {
            Work::Commit(c) if c.spend.is_none() => {
                checks.push(c);
                check_replies.push(item.reply);
            }
            Work::Audit(e) => {
                audits.push(e);
                audit_replies.push(item.reply);
            }
            work => single.push(Item {
                work,
                reply: item.reply,
            }),
        }
    }
    let result = if checks.is_empty() && audits.is_empty() {
        Ok(Vec::new())
    } else {
        match storage {
            Storage::Postgres(pool) => Storage::pg_group_commit(pool, &checks, &audits).await,
            Storage::Sqlite(_) => match connection(storage, conn).await {
                Ok(c) => Storage::group_commit(c, &checks, &audits).await,
                Err(e) => Err(e),
            },
        }
    };
    match result {
        Ok(results) => {
            for (reply, result) in check_replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
            for reply in audit_replies {
                let _ = reply.send(Ok(Committed::Done));
            }
        }
        Err(e) => {
            if !storage.is_closed() {
                tracing::warn!(error = %e, "group commit failed; writing its items one by one");
            }
            // The failed transaction may still be open on the connection.
            discard(conn).await;
            let commits = checks.into_iter().map(Work::Commit).zip(check_replies);
            let events = audits.into_iter().map(Work::Audit).zip(audit_replies);
            single.extend(
                commits
                    .chain(events)
                    .map(|(work, reply)| Item { work, reply }),
            );
        }
    }
    for item in single {
        let result = match &item.work {
            Work::Commit(c) => storage.commit_verification(c).await,
            Work::Audit(e) => storage.audit(e).await.map(|()| Committed::Done),
        };
        let _ = item.reply.send(result);
    }
}
