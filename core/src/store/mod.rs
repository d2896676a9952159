//! The encrypted local store of a device.
//!
//! SQLite through rusqlite with SQLCipher. One writer connection behind a mutex plus a small
//! pool of readers, WAL: a read runs on the writer when no write holds it (its page cache is
//! current) and on a reader otherwise, so a long write never blocks a read. Per document: the compacted
//! Automerge bytes plus incremental change chunks, the header, local heads and the heads a
//! server last acknowledged. Projection tables are updated in the same transaction as the
//! document bytes, so list screens never load Automerge documents.
//!
//! The store is `Clone + Send + Sync`; clones share one database.
//!
//! This file holds the types, the connections and the read/write helpers; one file a
//! concern beside it: `open` (keys, SQLCipher start-up), `lease`, `documents`, `merge`,
//! `outbox`, `access_log`, `subscriptions`, `schema`, `projection`, and the record kinds.

mod access_log;
mod agenda;
mod cases;
mod documents;
mod edits;
mod excursions;
mod lease;
mod loaded;
mod merge;
mod not_accepted;
mod open;
mod outbox;
mod overview;
mod parent_contacts;
mod projection;
pub mod pupil_session;
mod queries;
mod records;
pub mod schema;
mod school;
mod sociogram;
pub mod sql;
mod subscriptions;
mod talk;
mod thermometer;

pub use access_log::AccessLogEntry;
pub use agenda::AgreementDue;
pub use cases::{CASE_CLOSED_STATUS, CASE_OPENED_STATUS, CaseSummary, NewCaseStep};
pub use documents::DocumentInfo;
pub use edits::{DraftDeleted, MyPupil};
pub use excursions::{ExcursionSummary, NewExcursion, NewTripContact};
pub use lease::LeaseStatus;
pub use merge::{Received, Whole};
pub use not_accepted::{NotAccepted, NotAcceptedRecord, SetAside};
pub use open::{CipherUse, cipher_in_use, ensure_sqlcipher_started};
pub use outbox::{OutboxCounts, OutboxEntry, Pushable};
pub use overview::{GroupOverview, GroupWeek};
pub use parent_contacts::{NewParentContact, ParentContactSummary};
pub use pupil_session::{PupilReading, PupilSession, SessionInfo, SessionPupil};
pub use queries::{
    AttentionItem, AttentionReason, ConversationSummary, SignalFilter, SignalSummary,
    ThermometerPoint,
};
pub use records::NewSignal;
pub use school::{ConversationDue, ConversationRoundStatus};
pub use sociogram::{
    AnswerSource, NewSociogramAnswer, PupilSociogram, Sociogram, SociogramRoundSummary,
};
pub use subscriptions::Subscription;
pub use talk::{TalkRequest, school_days_between};
pub use thermometer::NewThermometerEntry;

use crate::error::OpenError;
use crate::ids::DocumentId;
use crate::model::Roster;
use crate::{Error, Result};
use automerge::ActorId;
use documents::*;
use open::open_connection;
use outbox::*;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use sql::CachedSql;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use subscriptions::Listener;

/// Chunks kept per document before they are compacted into the snapshot.
const COMPACT_AFTER_CHUNKS: i64 = 32;
/// Reader connections kept open.
const MAX_READERS: usize = 4;
/// From this many documents in one merge, decoding runs on all cores (below it, handing
/// work to other threads costs more than it saves).
const PARALLEL_FROM: usize = 8;

/// A source of time (unix milliseconds), passed in so tests and the simulation control it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| jiff::Timestamp::now().as_millisecond())
}

/// Options for opening a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// Time source.
    pub clock: Clock,
    /// Seed for ids and the actor id (deterministic simulation); None: OS randomness.
    pub seed: Option<u64>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("seed", &self.seed)
            .finish()
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: system_clock(),
            seed: None,
        }
    }
}

/// `f` in a read transaction on `conn`.
fn read_on<T>(conn: &mut Connection, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    transaction_on(conn, TransactionBehavior::Deferred, |tx| tx.finish(), f)
}

/// Run `f` in an IMMEDIATE write transaction on `conn` and commit it (a panic in `f` is an
/// error and rolls it back).
fn write_on<T>(conn: &mut Connection, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    transaction_on(conn, TransactionBehavior::Immediate, |tx| tx.commit(), f)
}

/// Run `f` in a transaction of `behavior` on `conn`, then `end` it (a panic in `f` is an
/// error; the transaction is rolled back).
fn transaction_on<T>(
    conn: &mut Connection,
    behavior: TransactionBehavior,
    end: fn(Transaction<'_>) -> rusqlite::Result<()>,
    f: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    catch_panic(|| {
        let tx = conn.transaction_with_behavior(behavior)?;
        let r = f(&tx)?;
        end(tx)?;
        Ok(r)
    })
}

/// Who uses this device: set at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// School id.
    pub school: String,
    /// Staff id of the user.
    pub user: String,
}

struct Inner {
    path: PathBuf,
    raw_key: String,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    clock: Clock,
    rng: Mutex<rand::rngs::StdRng>,
    actor: ActorId,
    roster_cache: RwLock<Option<Arc<Roster>>>,
    identity_cache: RwLock<Option<Identity>>,
    listeners: Mutex<Vec<(u64, Listener)>>,
    next_listener: AtomicU64,
    wiped: AtomicBool,
    /// How often the file was opened (session part of the writer actor).
    opens: u32,
    /// Purges in this session (the other part).
    epoch: std::sync::atomic::AtomicU32,
    /// Its sync connections: one at a time (`transport`).
    #[cfg(feature = "transport")]
    sessions: crate::transport::Sessions,
}

/// The local store. Cheap to clone; safe to share between threads.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Run `f`, turning a panic inside it (a bug: in Automerge, in a record edit, in ours) into
/// [`Error::Internal`]. Callers run the whole transaction inside `f`, so the transaction is
/// dropped (rolled back) while unwinding and the connection and its lock stay usable: one
/// bad call never leaves the store failing every later call. The panic's message is not
/// kept: it may quote content.
fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or(Err(Error::Internal("the call stopped on a bug")))
}

impl Store {
    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Its sync connections (`transport`): one at a time.
    #[cfg(feature = "transport")]
    pub(crate) fn sessions(&self) -> &crate::transport::Sessions {
        &self.inner.sessions
    }

    /// This device's Automerge actor id (registered with the server at enrollment).
    pub fn actor(&self) -> &ActorId {
        &self.inner.actor
    }

    /// The actor this store writes with now: the registered device actor followed by a
    /// session suffix (how often the store was opened, and how often it purged since).
    /// A device that lost a document (purge) and later writes it again from its
    /// deterministic genesis must not reuse a sequence number of a change the server still
    /// has; a fresh suffix makes that impossible. The server accepts any actor that starts
    /// with the registered one.
    pub fn writer_actor(&self) -> ActorId {
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let mut bytes = self.inner.actor.to_bytes().to_vec();
        bytes.extend_from_slice(&self.inner.opens.to_be_bytes());
        bytes.extend_from_slice(&epoch.to_be_bytes());
        ActorId::from(bytes)
    }

    /// Now, from the store's clock (unix ms).
    pub fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// A fresh document id from the store's clock and randomness, sorting by the time it
    /// was made ([`DocumentId::timed`]).
    pub fn new_id(&self) -> DocumentId {
        let now = self.now();
        DocumentId::timed(
            now,
            &mut *self
                .inner
                .rng
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn check_live(&self) -> Result<()> {
        if self.inner.wiped.load(Ordering::SeqCst) {
            Err(Error::Revoked)
        } else {
            Ok(())
        }
    }

    /// Run `f` in a read transaction: on the writer connection when no write holds it (its
    /// page cache is current: a reader's is emptied by every write, and SQLCipher decrypts
    /// each page again), else on a reader connection (never blocks on the writer).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.check_live()?;
        let writer = match self.inner.writer.try_lock() {
            Ok(w) => Some(w),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(mut conn) = writer {
            return read_on(&mut conn, f);
        }
        let conn = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match conn {
            Some(c) => c,
            None => {
                open_connection(&self.inner.path, &self.inner.raw_key).map_err(|e| match e {
                    OpenError::Sqlite(e) => Error::Sqlite(e),
                    _ => Error::Invalid("store cannot be reopened".into()),
                })?
            }
        };
        let result = read_on(&mut conn, f);
        let mut readers = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if readers.len() < MAX_READERS {
            readers.push(conn);
        }
        result
    }

    /// The one writer connection, locked, once the store is known to be live.
    fn live_writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.check_live()?;
        Ok(self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Run `f` in an IMMEDIATE write transaction on the one writer connection.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.live_writer()?;
        write_on(&mut conn, f)
    }

    /// [`Store::write`] for what the server already holds durably: committed without
    /// waiting for the disk (`synchronous = NORMAL`). A power cut can lose such a
    /// transaction, never corrupt the file, and never what came before it: the WAL is
    /// kept as a prefix, and the next ordinary (`FULL`) commit, such as the sync cursor
    /// stored after a catch-up, makes it durable too. What is lost is fetched again,
    /// because the cursor that skips it is written after it. Saves a disk flush per
    /// frame of a catch-up.
    fn write_recoverable<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.live_writer()?;
        conn.prepare_cached("PRAGMA synchronous = NORMAL")?
            .execute([])?;
        let r = write_on(&mut conn, f);
        let restored = conn
            .prepare_cached("PRAGMA synchronous = FULL")
            .and_then(|mut s| s.execute([]));
        let r = r?;
        restored?;
        Ok(r)
    }

    // ---- identity -------------------------------------------------------------------

    /// The enrolled identity, if any.
    pub fn identity(&self) -> Result<Option<Identity>> {
        // Set only by `set_identity` (and cleared by a wipe): kept in memory once read.
        if let Some(i) = self.inner.identity_cache.read().unwrap().as_ref() {
            self.check_live()?;
            return Ok(Some(i.clone()));
        }
        let identity: Option<Identity> = self
            .read(|tx| Ok(meta_get(tx, "identity")?.and_then(|s| serde_json::from_str(&s).ok())))?;
        if let Some(i) = &identity {
            *self.inner.identity_cache.write().unwrap() = Some(i.clone());
        }
        Ok(identity)
    }

    /// Set the identity (at enrollment).
    pub fn set_identity(&self, identity: &Identity) -> Result<()> {
        let s = serde_json::to_string(identity).map_err(|e| Error::Invalid(e.to_string()))?;
        self.write(|tx| Ok(meta_set(tx, "identity", &s)?))?;
        *self
            .inner
            .identity_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(identity.clone());
        *self
            .inner
            .roster_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }

    pub(crate) fn require_identity(&self) -> Result<Identity> {
        self.identity()?.ok_or(Error::NotEnrolled)
    }

    // ---- settings ---------------------------------------------------------------------

    /// A small key/value setting kept in the encrypted store (sync cursor, token, server url).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|tx| Ok(meta_get(tx, &format!("setting:{key}"))?))
    }

    /// Set a setting; `None` removes it.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        self.write(|tx| {
            match value {
                Some(v) => meta_set(tx, &format!("setting:{key}"), v)?,
                None => {
                    tx.execute_cached(
                        "DELETE FROM meta WHERE key = ?1",
                        [format!("setting:{key}")],
                    )?;
                }
            }
            Ok(())
        })
    }
}

// Settings and store state in the `meta` table, on a transaction.

fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

fn meta_i64(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    Ok(meta_get(conn, key)?.and_then(|v| v.parse().ok()))
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synchronous(store: &Store) -> i64 {
        let conn = store
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        conn.query_row_cached("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    /// A frame from the server commits without waiting for the disk; every other write
    /// (and the next frame after a failed one) is durable again.
    #[test]
    fn recoverable_writes_restore_full_durability() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db"), b"test-key-0123456789").unwrap();
        const FULL: i64 = 2;
        assert_eq!(synchronous(&store), FULL);
        let seen = std::cell::Cell::new(-1);
        store
            .write_recoverable(|tx| {
                seen.set(tx.query_row_cached("PRAGMA synchronous", [], |r| r.get(0))?);
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.get(), 1, "NORMAL inside");
        assert_eq!(synchronous(&store), FULL);
        let failed: Result<()> = store.write_recoverable(|_| Err(Error::Invalid("x".into())));
        assert!(failed.is_err());
        assert_eq!(synchronous(&store), FULL);
        // Garbage from the server: an error, nothing written, durability restored.
        let bad = vec![Received {
            id: DocumentId::random(),
            data: b"not automerge".to_vec(),
            whole: None,
            replaces: false,
        }];
        assert!(store.merge_many_acked(&bad, &[]).is_err());
        assert_eq!(synchronous(&store), FULL);
    }
}
