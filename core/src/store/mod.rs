//! The encrypted local store of a device.
//!
//! SQLite through rusqlite with SQLCipher. One writer connection behind a mutex plus a small
//! pool of readers, WAL, so a long write never blocks readers. Per document: the compacted
//! Automerge bytes plus incremental change chunks, the header, local heads and the heads a
//! server last acknowledged. Projection tables are updated in the same transaction as the
//! document bytes, so list screens never load Automerge documents.
//!
//! The store is `Clone + Send + Sync`; clones share one database.

mod agenda;
mod cases;
mod edits;
mod excursions;
mod loaded;
mod not_accepted;
mod overview;
mod parent_contacts;
mod projection;
pub mod pupil_session;
mod queries;
mod records;
pub mod schema;
mod school;
mod sociogram;
mod talk;

pub use agenda::AgreementDue;
pub use cases::{CASE_CLOSED_STATUS, CASE_OPENED_STATUS, CaseSummary, NewCaseStep};
pub use edits::{DraftDeleted, MyPupil};
pub use excursions::{ExcursionSummary, NewExcursion, NewTripContact};
pub use not_accepted::{NotAccepted, NotAcceptedRecord, SetAside};
pub use overview::{GroupOverview, GroupWeek};
pub use parent_contacts::{NewParentContact, ParentContactSummary};
pub use pupil_session::{PupilReading, PupilSession, SessionInfo, SessionPupil};
pub use queries::{
    AttentionItem, AttentionReason, ConversationSummary, SignalFilter, SignalSummary,
    ThermometerPoint,
};
pub use records::{NewSignal, NewThermometerEntry};
pub use school::{ConversationDue, ConversationRoundStatus};
pub use sociogram::{
    AnswerSource, NewSociogramAnswer, PupilSociogram, Sociogram, SociogramRoundSummary,
};
pub use talk::{TalkRequest, school_days_between};

use crate::doc::{self, AccessFields};
use crate::error::OpenError;
use crate::ids::{self, DocumentId};
use crate::model::{Header, Kind, Roster};
use crate::{Error, Result};
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use rand::{RngCore, SeedableRng};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

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

/// Who uses this device: set at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// School id.
    pub school: String,
    /// Staff id of the user.
    pub user: String,
}

/// A document whose local heads a server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Document.
    pub id: DocumentId,
    /// Kind.
    pub kind: Kind,
    /// Pupil, if bound to one.
    pub pupil: Option<String>,
}

/// A document waiting to be pushed (see [`Store::pushable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushable {
    /// Document.
    pub id: DocumentId,
    /// Kind.
    pub kind: Kind,
    /// Local heads.
    pub heads: Vec<ChangeHash>,
    /// Heads a server acknowledged, if any.
    pub acked_heads: Option<Vec<ChangeHash>>,
    /// The stored bytes, for a document never acknowledged.
    pub raw: Option<Vec<u8>>,
}

/// A document, or changes of one, received from a server (see [`Store::merge_many_acked`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Received {
    /// Document.
    pub id: DocumentId,
    /// Automerge bytes: a saved document or change chunks.
    pub data: Vec<u8>,
    /// What the server says `data` is, when it sends a whole document.
    pub whole: Option<Whole>,
}

impl std::fmt::Debug for Received {
    // Never the bytes: they hold note text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("id", &self.id)
            .field("bytes", &self.data.len())
            .field("whole", &self.whole.is_some())
            .finish()
    }
}

/// What a server says of a whole document it sends: its heads and its summary at those
/// heads ([`doc::Summary::to_wire`]), which the server made when it accepted the changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// Heads of the document.
    pub heads: Vec<ChangeHash>,
    /// Its summary, wire form.
    pub summary: Vec<u8>,
}

/// The school's offline lease as this device sees it ([`Store::lease`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseStatus {
    /// The lease in days (0: the school has none).
    pub days: u32,
    /// When the last sync with a server completed (store clock, unix ms); None before the
    /// first.
    pub synced_at: Option<i64>,
    /// When the store locks unless it syncs first (unix ms); None without a lease or before
    /// the first sync.
    pub locks_at: Option<i64>,
    /// Locked now (the lease ran out, or the clock went back more than an hour): care
    /// content can neither be read nor written until a sync completes.
    pub locked: bool,
}

/// A summary of what a document is, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// Id.
    pub id: DocumentId,
    /// Header.
    pub header: Header,
    /// Access-relevant fields.
    pub fields: AccessFields,
    /// Local heads.
    pub heads: Vec<ChangeHash>,
    /// Heads last acknowledged by a server.
    pub acked_heads: Option<Vec<ChangeHash>>,
}

/// A row of the local access log (reads of care content), to be uploaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessLogEntry {
    /// Local sequence.
    pub seq: i64,
    /// Staff id.
    pub user: String,
    /// Document.
    pub doc: DocumentId,
    /// Kind.
    pub kind: String,
    /// Unix ms.
    pub at: i64,
}

type Listener = Arc<dyn Fn(&[DocumentId]) + Send + Sync>;

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

/// Unsubscribes its listener when dropped.
pub struct Subscription {
    store: std::sync::Weak<Inner>,
    id: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.store.upgrade() {
            inner
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|(id, _)| *id != self.id);
        }
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

/// SQLCipher raw key from the caller's key bytes: the key from the platform keystore is
/// random already, so it is used through SHA-256 as a raw key, skipping SQLCipher's
/// passphrase KDF (which would cost ~100 ms on every connection).
fn raw_key(key: &[u8]) -> std::result::Result<String, OpenError> {
    use sha2::Digest;
    if key.len() < 16 {
        return Err(OpenError::WeakKey);
    }
    let digest = sha2::Sha256::digest(key);
    Ok(format!("x'{}'", hex::encode(digest)))
}

// The one place the core calls C directly: SQLCipher's start-up hook, which rusqlite does
// not bind.
#[allow(unsafe_code)]
unsafe extern "C" {
    /// SQLCipher's start-up (crypto provider, random seed, its mutexes), from the bundled
    /// SQLCipher that rusqlite links. Idempotent; it runs under SQLite's main mutex.
    fn sqlcipher_extra_init(arg: *const std::ffi::c_char) -> std::ffi::c_int;
}

/// Wait until SQLCipher has started in this process. Call before opening any connection.
///
/// SQLite marks itself initialised before it runs SQLCipher's start-up, so a connection
/// opened on one thread while another thread is still in that start-up fails to take its
/// key ("An error occurred with PRAGMA key"). SQLCipher's start-up holds SQLite's main
/// mutex throughout and returns at once once done, so calling it here either does it or
/// waits for the thread that is doing it.
#[allow(unsafe_code)]
pub fn ensure_sqlcipher_started() -> rusqlite::Result<()> {
    // SAFETY: both are SQLite's documented thread-safe entry points for start-up; the
    // argument of SQLCipher's hook is unused and NULL is what SQLite itself passes.
    let rc = unsafe {
        match rusqlite::ffi::sqlite3_initialize() {
            rusqlite::ffi::SQLITE_OK => sqlcipher_extra_init(std::ptr::null()),
            rc => rc,
        }
    };
    match rc {
        rusqlite::ffi::SQLITE_OK => Ok(()),
        rc => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rc),
            Some("SQLCipher did not start".into()),
        )),
    }
}

fn open_connection(path: &Path, raw_key: &str) -> std::result::Result<Connection, OpenError> {
    ensure_sqlcipher_started()?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The key must be set before the database is read. Quoting: raw_key is x'<hex>' made
    // by us. SQLCipher's own log (a failed HMAC on a wrong key) stays off: we report that
    // as `WrongKeyOrNotAStore`.
    conn.execute_batch(&format!(
        "PRAGMA cipher_log_level = NONE; PRAGMA key = \"{raw_key}\";"
    ))?;
    // Reading the schema is what tells a wrong key apart.
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(OpenError::WrongKeyOrNotAStore);
        }
        Err(e) => return Err(e.into()),
    }
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA secure_delete = ON;",
    )?;
    Ok(conn)
}

impl Store {
    /// Open (or create) the store at `path` with the encryption key from the platform
    /// keystore. A wrong key is an error; the file is never deleted or rewritten.
    pub fn open(path: impl AsRef<Path>, key: &[u8]) -> std::result::Result<Store, OpenError> {
        Self::open_with(path, key, StoreOptions::default())
    }

    /// Open with a clock and seed (tests, simulation).
    pub fn open_with(
        path: impl AsRef<Path>,
        key: &[u8],
        options: StoreOptions,
    ) -> std::result::Result<Store, OpenError> {
        let path = path.as_ref().to_path_buf();
        let raw_key = raw_key(key)?;
        let mut writer = open_connection(&path, &raw_key)?;
        let found = schema::version(&writer)?;
        if found > schema::VERSION {
            return Err(OpenError::TooNew {
                found,
                supported: schema::VERSION,
            });
        }
        schema::migrate_to(&mut writer, schema::VERSION)?;
        // A seeded store (simulation) must not repeat its ids after a reopen: mix in how
        // often this file was opened.
        let opens: u64 = meta_get(&writer, "opens")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            + 1;
        meta_set(&writer, "opens", &opens.to_string())?;
        let mut rng = match options.seed {
            Some(s) => {
                rand::rngs::StdRng::seed_from_u64(s ^ opens.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let actor = match meta_get(&writer, "actor")? {
            Some(hex_actor) => {
                ActorId::from(hex::decode(hex_actor).map_err(|_| OpenError::WrongKeyOrNotAStore)?)
            }
            None => {
                let mut b = [0u8; 16];
                rng.fill_bytes(&mut b);
                let actor = ActorId::from(b);
                meta_set(&writer, "actor", &hex::encode(actor.to_bytes()))?;
                actor
            }
        };
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                raw_key,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                clock: options.clock,
                rng: Mutex::new(rng),
                actor,
                roster_cache: RwLock::new(None),
                identity_cache: RwLock::new(None),
                listeners: Mutex::new(Vec::new()),
                next_listener: AtomicU64::new(1),
                wiped: AtomicBool::new(false),
                opens: opens as u32,
                epoch: std::sync::atomic::AtomicU32::new(0),
            }),
        })
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
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

    /// A fresh random document id from the store's randomness.
    pub fn new_id(&self) -> DocumentId {
        DocumentId::from_rng(
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

    /// Run `f` in a read transaction on a reader connection (never blocks on the writer).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.check_live()?;
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
        let result = catch_panic(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let r = f(&tx)?;
            tx.finish()?;
            Ok(r)
        });
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

    /// Run `f` in an IMMEDIATE write transaction on the one writer connection.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.check_live()?;
        let mut conn = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        catch_panic(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let r = f(&tx)?;
            tx.commit()?;
            Ok(r)
        })
    }

    /// [`Store::write`] for what the server already holds durably: committed without
    /// waiting for the disk (`synchronous = NORMAL`). A power cut can lose such a
    /// transaction, never corrupt the file, and never what came before it: the WAL is
    /// kept as a prefix, and the next ordinary (`FULL`) commit, such as the sync cursor
    /// stored after a catch-up, makes it durable too. What is lost is fetched again,
    /// because the cursor that skips it is written after it. Saves a disk flush per
    /// frame of a catch-up.
    fn write_recoverable<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.check_live()?;
        let mut conn = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        conn.prepare_cached("PRAGMA synchronous = NORMAL")?
            .execute([])?;
        let r = catch_panic(|| -> Result<T> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let r = f(&tx)?;
            tx.commit()?;
            Ok(r)
        });
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

    // ---- offline lease ----------------------------------------------------------------

    /// Record that a sync with the server completed now (the sync engine calls this when a
    /// catch-up completes, and hourly on a live connection): the offline lease starts again
    /// and a locked store opens.
    pub fn mark_synced(&self) -> Result<()> {
        let now = self.now();
        self.write(|tx| {
            meta_set(tx, LEASE_SYNCED_AT, &now.to_string())?;
            meta_set(tx, LEASE_CLOCK_HIGH, &now.to_string())?;
            Ok(())
        })
    }

    /// The offline lease: the school sets how many days a device may go without a
    /// completed sync (the roster's `offline_lease_days`, default
    /// [`crate::defaults::OFFLINE_LEASE_DAYS`], 0 for none). Counted from the last
    /// completed sync (none yet: not locked). A clock more than an hour behind the latest
    /// time the store has seen since that sync also locks it: turning the device clock back
    /// does not buy time.
    pub fn lease(&self) -> Result<LeaseStatus> {
        Ok(self.lease_and_clock()?.0)
    }

    /// [`Store::lease`] and the latest clock the store has seen, in one read.
    fn lease_and_clock(&self) -> Result<(LeaseStatus, Option<i64>)> {
        let days = self.roster()?.offline_lease_days();
        let now = self.now();
        let (synced_at, high) = self.read(|tx| {
            Ok((
                meta_i64(tx, LEASE_SYNCED_AT)?,
                meta_i64(tx, LEASE_CLOCK_HIGH)?,
            ))
        })?;
        let locks_at = synced_at
            .filter(|_| days > 0)
            .map(|t| t.saturating_add(i64::from(days) * DAY_MS));
        let seen = high.map_or(now, |h| h.max(now));
        let clock_went_back = synced_at.is_some() && high.is_some_and(|h| now + CLOCK_SLACK_MS < h);
        let status = LeaseStatus {
            days,
            synced_at,
            locks_at,
            locked: clock_went_back || locks_at.is_some_and(|t| seen >= t),
        };
        Ok((status, high))
    }

    /// The enrolled user, for reading or writing care content: [`Error::Locked`] once the
    /// offline lease has run out. Remembers the latest clock seen (at most once a minute),
    /// locked or not, so that turning the clock back later does not reopen the store.
    pub(crate) fn unlocked_identity(&self) -> Result<Identity> {
        let identity = self.require_identity()?;
        let (lease, high) = self.lease_and_clock()?;
        if lease.synced_at.is_some() {
            let now = self.now();
            if high.is_none_or(|h| now > h + 60_000) {
                self.write(|tx| {
                    // Another thread may have written a later time meanwhile.
                    let h = meta_i64(tx, LEASE_CLOCK_HIGH)?.unwrap_or(now).max(now);
                    Ok(meta_set(tx, LEASE_CLOCK_HIGH, &h.to_string())?)
                })?;
            }
        }
        if lease.locked {
            return Err(Error::Locked);
        }
        Ok(identity)
    }

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
                    tx.execute(
                        "DELETE FROM meta WHERE key = ?1",
                        [format!("setting:{key}")],
                    )?;
                }
            }
            Ok(())
        })
    }

    // ---- roster ---------------------------------------------------------------------

    /// The school's roster as this device holds it (empty if none yet).
    pub fn roster(&self) -> Result<Arc<Roster>> {
        if let Some(r) = self
            .inner
            .roster_cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(r.clone());
        }
        let identity = self.require_identity()?;
        let roster = match self.roster_heads(&identity)? {
            // Decoded already, by this store or another in the process (the roster cache
            // holds documents by content: the same heads are the same roster).
            Some((id, heads)) => match crate::rosters::rosters().record(id, &heads) {
                Some((roster, _)) => roster,
                None => match self.load(id)? {
                    Some(d) => crate::rosters::rosters().decode(id, d)?.roster,
                    None => return Err(Error::Invalid("roster vanished".into())),
                },
            },
            None => Arc::new(Roster {
                school: identity.school.clone(),
                ..Default::default()
            }),
        };
        *self
            .inner
            .roster_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(roster.clone());
        Ok(roster)
    }

    /// The roster document this device holds: the user's view of the roster (what a server
    /// sends, with the school settings), or the school's whole roster where a device holds
    /// that instead (an older server); None before the first sync.
    /// The id and heads of the roster document this device holds: its own view of the
    /// roster, else the whole roster (as [`Store::roster_doc`] finds them).
    fn roster_heads(&self, identity: &Identity) -> Result<Option<(DocumentId, Vec<ChangeHash>)>> {
        for id in [
            doc::roster_view_id(&identity.school, &identity.user),
            doc::roster_id(&identity.school),
        ] {
            let heads: Option<String> = self.read(|tx| {
                Ok(tx
                    .prepare_cached("SELECT heads FROM documents WHERE id = ?1")?
                    .query_row([id.to_string()], |r| r.get(0))
                    .optional()?)
            })?;
            if let Some(heads) = heads {
                let heads = serde_json::from_str::<Vec<String>>(&heads)
                    .ok()
                    .and_then(|h| ids::heads_from_hex(&h))
                    .ok_or_else(|| Error::Invalid("bad heads in store".into()))?;
                return Ok(Some((id, heads)));
            }
        }
        Ok(None)
    }

    pub(crate) fn roster_doc(
        &self,
        identity: &Identity,
    ) -> Result<Option<(DocumentId, Automerge)>> {
        for id in [
            doc::roster_view_id(&identity.school, &identity.user),
            doc::roster_id(&identity.school),
        ] {
            if let Some(d) = self.load(id)? {
                return Ok(Some((id, d)));
            }
        }
        Ok(None)
    }

    /// Run the record rules ([`crate::model::rules::admit`]) on a local change before it
    /// is committed, as the server will: the app says no before the server has to. `before`
    /// is the document before the change (None: a new one), `after` with the change.
    pub(crate) fn admit_local(
        &self,
        id: DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
    ) -> Result<()> {
        if before.is_some_and(|b| b.get_heads() == after.get_heads()) {
            return Ok(());
        }
        let me = self.require_identity()?;
        let roster = self.roster()?;
        let writer = crate::model::rules::Writer {
            roster: &roster,
            user: &me.user,
            actor: self.inner.actor.to_bytes(),
            pupil_session: None,
        };
        crate::model::rules::admit(id, before, after, &writer)?;
        Ok(())
    }

    /// Access of the enrolled user to a document.
    pub fn access_to(&self, header: &Header, fields: &AccessFields) -> Result<crate::Access> {
        let identity = self.require_identity()?;
        Ok(crate::access(
            &*self.roster()?,
            &identity.user,
            header,
            fields,
        ))
    }

    // ---- documents --------------------------------------------------------------------

    /// Load a document, or None.
    pub fn load(&self, id: DocumentId) -> Result<Option<Automerge>> {
        self.read(|tx| load_doc(tx, id))
    }

    /// The saved bytes of a document (for a fresh peer), or None.
    pub fn document_bytes(&self, id: DocumentId) -> Result<Option<Vec<u8>>> {
        Ok(self.load(id)?.map(|d| d.save()))
    }

    /// The stored bytes of a document as they are (snapshot followed by change chunks),
    /// without loading it: loadable with `Automerge::load` or `load_incremental`.
    pub fn raw_bytes(&self, id: DocumentId) -> Result<Option<Vec<u8>>> {
        self.read(|tx| {
            let snapshot: Option<Vec<u8>> = tx
                .prepare_cached("SELECT snapshot FROM documents WHERE id = ?1")?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()?;
            let Some(mut out) = snapshot else {
                return Ok(None);
            };
            let mut stmt =
                tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
            for c in stmt.query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))? {
                out.extend_from_slice(&c?);
            }
            Ok(Some(out))
        })
    }

    /// Header, access fields and heads of a document, without loading it.
    pub fn info(&self, id: DocumentId) -> Result<Option<DocumentInfo>> {
        self.read(|tx| info(tx, id))
    }

    /// [`Store::info`] of many documents in one read transaction (a catalog page): in the
    /// order of `ids`, `None` where not held.
    pub fn infos(&self, ids: &[DocumentId]) -> Result<Vec<Option<DocumentInfo>>> {
        self.read(|tx| ids.iter().map(|id| info(tx, *id)).collect())
    }

    /// All documents held, with their heads.
    pub fn documents(&self) -> Result<Vec<DocumentInfo>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, school, pupil, author, created_at, fields, heads, acked_heads FROM documents",
            )?;
            let rows = stmt.query_map([], info_row)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            Ok(out)
        })
    }

    /// Change a document inside one store transaction: load it (or start from an empty
    /// document when it is new), let `f` change it, then save the new changes, update the
    /// header and projections, all in one commit. Listeners hear of it after the commit.
    /// Returns `f`'s result.
    pub fn transact<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<T>,
    ) -> Result<T> {
        let (result, changed) = self.write(|tx| {
            let (mut d, size) = load_doc_sized(tx, id)?.unwrap_or_default();
            let before = d.get_heads();
            let result = f(&mut d)?;
            let changed = d.get_heads() != before;
            if changed {
                let size = save_doc(tx, id, &d, &before, self.now(), size)?;
                // The next load of this version comes from memory (see `loaded`).
                loaded::put(id, heads_json(&d.get_heads()), size, d);
            }
            Ok((result, changed))
        })?;
        if changed {
            self.after_change(&[id]);
        }
        Ok(result)
    }

    /// Merge bytes received from elsewhere (a saved document or change chunks) into a
    /// document, creating it if new. Projections follow. Returns the new heads.
    pub fn merge_bytes(&self, id: DocumentId, bytes: &[u8]) -> Result<Vec<ChangeHash>> {
        self.transact(id, |d| {
            d.load_incremental(bytes)?;
            Ok(d.get_heads())
        })
    }

    /// Merge many documents in one (durable) transaction.
    pub fn merge_many(&self, docs: &[(DocumentId, Vec<u8>)]) -> Result<()> {
        let docs: Vec<_> = docs
            .iter()
            .map(|(id, b)| (*id, b.as_slice(), None))
            .collect();
        self.merge_batch(&docs, &[], true).map(|_| ())
    }

    /// Merge many documents and record acknowledged heads (see
    /// [`Store::set_acked_heads_many`]) in one transaction: a `docs` frame from the server.
    /// Stored bytes are read first; decoding, merging and summarising the documents (the
    /// Automerge work) then runs on all cores for a batch of [`PARALLEL_FROM`] or more; the
    /// writes follow in the given order, a new document inserted with its acknowledged
    /// heads. If any document does not load, nothing is written and the error is returned.
    /// The server holds all of it, so the commit does not wait for the disk (see
    /// [`Store::write_recoverable`]).
    ///
    /// A whole document not held here, sent once in the batch with [`Whole`], is stored
    /// without loading it when its bytes are exactly one document chunk whose checksum and
    /// declared heads match ([`doc::saved_heads`]): its projections come from the server's
    /// summary. That skips the Automerge load and read (about 85 of the ~110 us a fresh
    /// device spends per small signal). The server is the authority on content anyway (it
    /// checked and summarised these very heads); the document is loaded when it is first
    /// opened or changed. Anything else, or a summary of another version, takes the
    /// loading path.
    ///
    /// Acknowledged heads are recorded only where the merged document holds them all and
    /// nothing received waits for a change that is not here: such a change (sent while the
    /// device lacked an earlier one) is held back by Automerge and not stored, and recording
    /// the server's heads then would make the device believe it holds what it never got.
    /// Returns the documents left so: the caller fetches what they lack.
    pub fn merge_many_acked(
        &self,
        docs: &[Received],
        acks: &[(DocumentId, Vec<ChangeHash>)],
    ) -> Result<Vec<DocumentId>> {
        let docs: Vec<_> = docs
            .iter()
            .map(|r| (r.id, r.data.as_slice(), r.whole.as_ref()))
            .collect();
        self.merge_batch(&docs, acks, false)
    }

    fn merge_batch(
        &self,
        docs: &[(DocumentId, &[u8], Option<&Whole>)],
        acks: &[(DocumentId, Vec<ChangeHash>)],
        durable: bool,
    ) -> Result<Vec<DocumentId>> {
        let now = self.now();
        let wanted: HashMap<DocumentId, &[ChangeHash]> =
            acks.iter().map(|(id, h)| (*id, h.as_slice())).collect();
        // The same document twice in a batch: its bytes are merged together.
        let mut order: Vec<DocumentId> = Vec::with_capacity(docs.len());
        let mut bytes: HashMap<DocumentId, (Vec<&[u8]>, Option<&Whole>)> =
            HashMap::with_capacity(docs.len());
        for (id, b, whole) in docs {
            bytes
                .entry(*id)
                .and_modify(|(pieces, w)| {
                    pieces.push(b);
                    *w = None;
                })
                .or_insert_with(|| {
                    order.push(*id);
                    (vec![b], *whole)
                });
        }
        let batch = |tx: &Transaction<'_>| {
            let mut work = Vec::with_capacity(order.len());
            for id in &order {
                let (pieces, whole) = &bytes[id];
                work.push((*id, stored_bytes(tx, *id)?, pieces.as_slice(), *whole));
            }
            let merge = |(id, stored, pieces, whole)| {
                Merged::received(id, stored, pieces, whole, wanted.get(&id).copied())
            };
            let merged: Vec<_> = if work.len() >= PARALLEL_FROM {
                use rayon::prelude::*;
                work.into_par_iter().map(merge).collect()
            } else {
                work.into_iter().map(merge).collect()
            };
            // A new document takes its acknowledged heads in its insert.
            let mut acked: HashMap<DocumentId, String> =
                acks.iter().map(|(id, h)| (*id, heads_json(h))).collect();
            let mut changed = Vec::new();
            let mut lacking = Vec::new();
            for (id, m) in order.iter().zip(merged) {
                let (m, holds_acked) = m?;
                if !holds_acked && acked.remove(id).is_some() {
                    lacking.push(*id);
                }
                if let Some(m) = m {
                    let ack = acked.get(&m.id).map(String::as_str);
                    if write_doc(tx, m.id, &m.prepared, now, ack)? {
                        acked.remove(&m.id);
                    }
                    changed.push(m.id);
                }
            }
            let rest: Vec<_> = acks
                .iter()
                .filter(|(id, _)| acked.contains_key(id))
                .cloned()
                .collect();
            write_acked_heads(tx, &rest)?;
            Ok((changed, lacking))
        };
        let (changed, lacking) = if durable {
            self.write(batch)?
        } else {
            self.write_recoverable(batch)?
        };
        if !changed.is_empty() {
            self.after_change(&changed);
        }
        Ok(lacking)
    }

    /// Record that a server acknowledged `heads` of a document as durable.
    pub fn set_acked_heads(&self, id: DocumentId, heads: &[ChangeHash]) -> Result<()> {
        let s = serde_json::to_string(&ids::heads_to_hex(heads)).unwrap_or_default();
        self.write(|tx| {
            tx.execute(
                "UPDATE documents SET acked_heads = ?2 WHERE id = ?1",
                params![id.to_string(), s],
            )?;
            Ok(())
        })
    }

    /// Record acknowledged heads of many documents in one transaction (one fsync for a
    /// whole `ack` frame or catch-up batch).
    pub fn set_acked_heads_many(&self, acks: &[(DocumentId, Vec<ChangeHash>)]) -> Result<()> {
        if acks.is_empty() {
            return Ok(());
        }
        self.write(|tx| write_acked_heads(tx, acks))
    }

    /// Forget that a server holds these documents (its store was restored from a backup
    /// older than their acknowledgement): they return to the outbox and are sent whole.
    pub fn forget_acked(&self, ids: &[DocumentId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let mut stmt =
                tx.prepare_cached("UPDATE documents SET acked_heads = NULL WHERE id = ?1")?;
            for id in ids {
                stmt.execute(params![id.to_string()])?;
            }
            Ok(())
        })
    }

    /// Up to `limit` outbox documents to push, in one read transaction: heads, acknowledged
    /// heads, and for documents never acknowledged their stored bytes as they are (the
    /// whole document, without decoding it). `skip` leaves out documents already in flight.
    /// The roster is never pushed (the server writes it). Returns whether more are waiting.
    pub fn pushable(
        &self,
        limit: usize,
        skip: impl Fn(&DocumentId) -> bool,
    ) -> Result<(Vec<Pushable>, bool)> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, heads, acked_heads FROM documents
                 WHERE acked_heads IS NULL OR acked_heads != heads ORDER BY updated_at",
            )?;
            let mut snap = tx.prepare_cached("SELECT snapshot FROM documents WHERE id = ?1")?;
            let mut chunks =
                tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
            let parse_heads = |s: &str| -> Option<Vec<ChangeHash>> {
                let v: Vec<String> = serde_json::from_str(s).ok()?;
                ids::heads_from_hex(&v)
            };
            let mut out = Vec::new();
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (id, kind): (String, String) = (r.get(0)?, r.get(1)?);
                let (Ok(id), Ok(kind)) = (id.parse::<DocumentId>(), kind.parse::<Kind>()) else {
                    continue;
                };
                if kind == Kind::Roster || skip(&id) {
                    continue;
                }
                if out.len() == limit {
                    return Ok((out, true));
                }
                let heads = parse_heads(&r.get::<_, String>(2)?).unwrap_or_default();
                let acked_heads = r
                    .get::<_, Option<String>>(3)?
                    .as_deref()
                    .and_then(parse_heads);
                let raw = if acked_heads.is_none() {
                    let mut bytes: Vec<u8> = snap.query_row([id.to_string()], |r| r.get(0))?;
                    for c in chunks.query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))? {
                        bytes.extend_from_slice(&c?);
                    }
                    Some(bytes)
                } else {
                    None
                };
                out.push(Pushable {
                    id,
                    kind,
                    heads,
                    acked_heads,
                    raw,
                });
            }
            Ok((out, false))
        })
    }

    /// Documents whose local heads no server has acknowledged ("3 signals not sent yet").
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, pupil FROM documents
                 WHERE acked_heads IS NULL OR acked_heads != heads ORDER BY updated_at",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (id, kind, pupil) = r?;
                let (Ok(id), Ok(kind)) = (id.parse(), kind.parse()) else {
                    continue;
                };
                out.push(OutboxEntry { id, kind, pupil });
            }
            Ok(out)
        })
    }

    /// Remove a document and everything derived from it (access ended, or erasure),
    /// its not-accepted items included.
    pub fn purge(&self, id: DocumentId) -> Result<bool> {
        let removed = self.write(|tx| {
            not_accepted::drop_items_of(tx, id)?;
            purge_doc(tx, id)
        })?;
        if removed {
            self.inner.epoch.fetch_add(1, Ordering::SeqCst);
            self.after_change(&[id]);
        }
        Ok(removed)
    }

    /// Remove every document tied to an excursion (the trip cache wiped on return): signals
    /// recorded on it and, on the phones of the staff who went along, the excursion itself
    /// (trip roster and contact list), where the server has acknowledged them. Nothing
    /// unsent is removed, and the trip stays while a signal recorded on it waits to be
    /// sent. The organiser keeps the excursion.
    pub fn wipe_excursion_cache(&self, excursion: &str) -> Result<usize> {
        let me = self.identity()?.ok_or(Error::NotEnrolled)?;
        let ids: Vec<DocumentId> = self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT s.id FROM signals s JOIN documents d ON d.id = s.id
                 WHERE s.excursion = ?1 AND d.acked_heads = d.heads
                 UNION ALL
                 SELECT e.id FROM excursions e JOIN documents d ON d.id = e.id
                 WHERE e.id = ?1 AND d.acked_heads = d.heads AND e.author != ?2
                   AND NOT EXISTS (
                     SELECT 1 FROM signals s2 JOIN documents d2 ON d2.id = s2.id
                     WHERE s2.excursion = ?1
                       AND (d2.acked_heads IS NULL OR d2.acked_heads != d2.heads))",
            )?;
            let rows = stmt.query_map(params![excursion, me.user], |r| r.get::<_, String>(0))?;
            Ok(rows.filter_map(|r| r.ok()?.parse().ok()).collect())
        })?;
        // Not-accepted items stay: the server never had them, and they are their
        // author's to copy or discard.
        for id in &ids {
            if self.write(|tx| purge_doc(tx, *id))? {
                self.inner.epoch.fetch_add(1, Ordering::SeqCst);
                self.after_change(&[*id]);
            }
        }
        Ok(ids.len())
    }

    /// Wipe the whole store: every row is deleted, the WAL truncated and the files removed.
    /// Afterwards every call answers [`Error::Revoked`].
    pub fn wipe(&self) -> Result<()> {
        {
            let conn = self
                .inner
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !self.inner.wiped.swap(true, Ordering::SeqCst) {
                let ids: Vec<DocumentId> = conn
                    .prepare("SELECT id FROM documents")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .filter_map(|r| r.ok()?.parse().ok())
                    .collect();
                loaded::forget(&ids);
                conn.execute_batch(
                    "DELETE FROM doc_chunks; DELETE FROM documents; DELETE FROM conversations;
                     DELETE FROM signals; DELETE FROM thermometer_entries; DELETE FROM cases;
                     DELETE FROM excursions; DELETE FROM access_log; DELETE FROM meta;
                     DELETE FROM not_accepted; DELETE FROM parent_contacts;
                     DELETE FROM agreements_due;",
                )?;
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
            }
        }
        self.inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self
            .inner
            .roster_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .inner
            .identity_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.inner.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        self.after_change(&[]);
        Ok(())
    }

    /// Whether the store was wiped.
    pub fn is_wiped(&self) -> bool {
        self.inner.wiped.load(Ordering::SeqCst)
    }

    /// Rebuild every projection from the documents.
    pub fn rebuild_projections(&self) -> Result<()> {
        self.write(|tx| {
            tx.execute_batch(
                "DELETE FROM conversations; DELETE FROM signals; DELETE FROM thermometer_entries;
                 DELETE FROM cases; DELETE FROM excursions; DELETE FROM parent_contacts;
                 DELETE FROM agreements_due;",
            )?;
            let ids: Vec<String> = {
                let mut stmt = tx.prepare("SELECT id FROM documents")?;
                stmt.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for id in ids {
                let Ok(id) = id.parse::<DocumentId>() else {
                    continue;
                };
                if let Some(d) = load_doc(tx, id)?
                    && let Ok(p) = doc::summarize(id, &d)
                {
                    projection::project(tx, id, &p)?;
                }
            }
            Ok(())
        })
    }

    /// Listen to document changes (local writes, merges from sync, purges; an empty slice
    /// means "everything", after a wipe). Dropping the subscription unsubscribes.
    pub fn subscribe(&self, f: impl Fn(&[DocumentId]) + Send + Sync + 'static) -> Subscription {
        let id = self.inner.next_listener.fetch_add(1, Ordering::SeqCst);
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, Arc::new(f)));
        Subscription {
            store: Arc::downgrade(&self.inner),
            id,
        }
    }

    fn after_change(&self, ids: &[DocumentId]) {
        if let Ok(identity) = self.identity().map(|i| {
            i.unwrap_or(Identity {
                school: String::new(),
                user: String::new(),
            })
        }) {
            if ids.is_empty()
                || ids.contains(&doc::roster_id(&identity.school))
                || ids.contains(&doc::roster_view_id(&identity.school, &identity.user))
            {
                *self
                    .inner
                    .roster_cache
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
        } else {
            *self
                .inner
                .roster_cache
                .write()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        let listeners: Vec<Listener> = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in listeners {
            l(ids);
        }
    }

    // ---- access log -------------------------------------------------------------------

    /// Log a read of care content by the enrolled user.
    pub(crate) fn log_read(&self, id: DocumentId, kind: Kind) -> Result<()> {
        let identity = self.require_identity()?;
        let now = self.now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO access_log (user, doc_id, kind, at) VALUES (?1, ?2, ?3, ?4)",
                params![identity.user, id.to_string(), kind.as_str(), now],
            )?;
            Ok(())
        })
    }

    /// Reads not yet uploaded to the server, oldest first.
    pub fn pending_access_log(&self, limit: usize) -> Result<Vec<AccessLogEntry>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, user, doc_id, kind, at FROM access_log WHERE uploaded = 0 ORDER BY id LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (seq, user, doc, kind, at) = r?;
                let Ok(doc) = doc.parse() else { continue };
                out.push(AccessLogEntry { seq, user, doc, kind, at });
            }
            Ok(out)
        })
    }

    /// Mark access-log rows up to `seq` as uploaded.
    pub fn mark_access_log_uploaded(&self, up_to_seq: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE access_log SET uploaded = 1 WHERE id <= ?1",
                [up_to_seq],
            )?;
            Ok(())
        })
    }
}

// ---- helpers on a transaction --------------------------------------------------------

fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()
}

/// Meta keys of the offline lease: the last completed sync, and the latest clock seen.
const LEASE_SYNCED_AT: &str = "lease_synced_at";
const LEASE_CLOCK_HIGH: &str = "lease_clock_high";
const DAY_MS: i64 = 24 * 3600 * 1000;
/// How far the clock may go back (time sync, a manual correction) before the store locks.
const CLOCK_SLACK_MS: i64 = 3600 * 1000;

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

fn load_doc(tx: &Connection, id: DocumentId) -> Result<Option<Automerge>> {
    Ok(load_doc_sized(tx, id)?.map(|(d, _)| d))
}

/// [`load_doc`] with the document's stored size.
fn load_doc_sized(tx: &Connection, id: DocumentId) -> Result<Option<(Automerge, usize)>> {
    stored_bytes(tx, id)?
        .map(|s| {
            let size = s.size;
            decode(s).map(|d| (d, size))
        })
        .transpose()
}

/// A document's stored bytes: its snapshot and the chunks appended since, in order; or,
/// when the cache of loaded documents holds it at the row's heads, that copy instead.
struct Stored {
    id: DocumentId,
    snapshot: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    /// The row's chunk count.
    count: i64,
    /// The row's heads (JSON).
    heads: String,
    /// The stored bytes' size.
    size: usize,
    /// The document from the cache ([`loaded`]), if it was there.
    cached: Option<Automerge>,
}

fn stored_bytes(tx: &Connection, id: DocumentId) -> Result<Option<Stored>> {
    let key = id.to_string();
    let row: Option<(String, i64, i64)> = tx
        .prepare_cached(
            "SELECT heads, chunks, length(snapshot) + coalesce((SELECT sum(length(bytes)) FROM doc_chunks WHERE doc_id = ?1), 0)
             FROM documents WHERE id = ?1",
        )?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((heads, count, size)) = row else {
        return Ok(None);
    };
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if let Some((doc, _)) = loaded::get(id, &heads) {
        return Ok(Some(Stored {
            id,
            snapshot: Vec::new(),
            chunks: Vec::new(),
            count,
            heads,
            size,
            cached: Some(doc),
        }));
    }
    let snapshot: Vec<u8> = tx
        .prepare_cached("SELECT snapshot FROM documents WHERE id = ?1")?
        .query_row([&key], |r| r.get(0))?;
    let mut stmt =
        tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let chunks = stmt
        .query_map([&key], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(Stored {
        id,
        snapshot,
        chunks,
        count,
        heads,
        size,
        cached: None,
    }))
}

/// The document of `stored`: the cached copy, or decoded from the bytes (and then kept in
/// the cache under the row's heads when it loads to exactly those).
fn decode(stored: Stored) -> Result<Automerge> {
    if let Some(d) = stored.cached {
        return Ok(d);
    }
    let mut d = if stored.snapshot.is_empty() {
        Automerge::new()
    } else {
        Automerge::load(&stored.snapshot)?
    };
    for c in &stored.chunks {
        d.load_incremental(c)?;
    }
    if heads_json(&d.get_heads()) == stored.heads {
        loaded::put(stored.id, stored.heads, stored.size, d.clone());
    }
    Ok(d)
}

/// A document merged with received bytes and prepared for writing: the pure part of a
/// merge, done off the writer's thread.
struct Merged<'a> {
    id: DocumentId,
    prepared: Prepared<'a>,
}

impl<'a> Merged<'a> {
    /// Merge the received `pieces` into the stored document; `None` if they add nothing.
    /// With it: whether the merged document holds every one of `wanted` (heads the caller
    /// would record as acknowledged) and every change the pieces depend on.
    fn new(
        id: DocumentId,
        stored: Option<Stored>,
        pieces: &[&'a [u8]],
        wanted: Option<&[ChangeHash]>,
    ) -> Result<(Option<Merged<'a>>, bool)> {
        let chunks = stored.as_ref().map(|s| s.count);
        let size = stored.as_ref().map_or(0, |s| s.size);
        // One received piece that makes a new document is stored as it came, if it loads
        // strictly: bytes with anything after their valid part would load here (leniently)
        // and then never again. Otherwise the document is saved anew.
        let mut raw = None;
        let (mut doc, rest) = match (stored, pieces) {
            (Some(s), _) => (decode(s)?, pieces),
            (None, [one]) => match Automerge::load(one) {
                Ok(d) => {
                    raw = Some(*one);
                    (d, &[][..])
                }
                Err(_) => (Automerge::new(), pieces),
            },
            (None, _) => (Automerge::new(), pieces),
        };
        let before: Vec<ChangeHash> = if raw.is_some() {
            Vec::new()
        } else {
            doc.get_heads()
        };
        for piece in rest {
            doc.load_incremental(piece)?;
        }
        // Changes whose dependencies are not here are held back by Automerge (and not
        // stored): the document lacks something the sender has.
        let holds = doc.get_missing_deps(&[]).is_empty()
            && wanted.is_none_or(|w| w.iter().all(|h| doc.get_change_by_hash(h).is_some()));
        if doc.get_heads() == before {
            return Ok((None, holds));
        }
        let prepared = Prepared::new(id, &doc, &before, raw, chunks);
        loaded::put(id, prepared.heads.clone(), prepared.stored_size(size), doc);
        Ok((Some(Merged { id, prepared }), holds))
    }

    /// [`Merged::whole`] where it applies, else [`Merged::new`].
    fn received(
        id: DocumentId,
        stored: Option<Stored>,
        pieces: &[&'a [u8]],
        whole: Option<&Whole>,
        wanted: Option<&[ChangeHash]>,
    ) -> Result<(Option<Merged<'a>>, bool)> {
        if let (None, [one], Some(w)) = (&stored, pieces, whole)
            && wanted.is_none_or(|h| h.iter().all(|h| w.heads.contains(h)))
            && let Some(m) = Merged::whole(id, one, w)
        {
            return Ok((Some(m), true));
        }
        Merged::new(id, stored, pieces, wanted)
    }

    /// A whole document new here, stored as it came with the server's summary, if its bytes
    /// are one document chunk declaring exactly the heads the server gives and the summary
    /// is of this build's version; None otherwise (then it is loaded).
    fn whole(id: DocumentId, raw: &'a [u8], whole: &Whole) -> Option<Merged<'a>> {
        let mut heads = whole.heads.clone();
        heads.sort();
        if heads.is_empty() || doc::saved_heads(raw)? != heads {
            return None;
        }
        let summary = doc::Summary::from_wire(&whole.summary)?;
        let prepared = Prepared {
            heads: heads_json(&heads),
            header: Some(summary.header.clone()),
            fields_json: serde_json::to_string(&summary.fields).unwrap_or_default(),
            summary: Some(summary),
            bytes: DocBytes::Snapshot(raw.into()),
            chunks: None,
        };
        Some(Merged { id, prepared })
    }
}

fn heads_json(heads: &[ChangeHash]) -> String {
    serde_json::to_string(&ids::heads_to_hex(heads)).unwrap_or_default()
}

fn write_acked_heads(tx: &Connection, acks: &[(DocumentId, Vec<ChangeHash>)]) -> Result<()> {
    let mut stmt = tx.prepare_cached("UPDATE documents SET acked_heads = ?2 WHERE id = ?1")?;
    for (id, heads) in acks {
        stmt.execute(params![id.to_string(), heads_json(heads)])?;
    }
    Ok(())
}

/// Save what changed since `before`, update header, heads and projections. `size`: the
/// stored size before; returns the stored size after.
fn save_doc(
    tx: &Connection,
    id: DocumentId,
    d: &Automerge,
    before: &[ChangeHash],
    now: i64,
    size: usize,
) -> Result<usize> {
    let chunks: Option<i64> = tx
        .prepare_cached("SELECT chunks FROM documents WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    let prepared = Prepared::new(id, d, before, None, chunks);
    write_doc(tx, id, &prepared, now, None)?;
    Ok(prepared.stored_size(size))
}

/// What a write stores of a document's bytes.
enum DocBytes<'a> {
    /// A new or compacted snapshot (replacing the chunks).
    Snapshot(std::borrow::Cow<'a, [u8]>),
    /// One more chunk after `chunks` stored ones.
    Chunk(Vec<u8>),
}

/// Everything a write needs of a document, made from it without the database: for a batch
/// this runs on all cores, and the document is dropped there too.
struct Prepared<'a> {
    heads: String,
    header: Option<Header>,
    fields_json: String,
    summary: Option<doc::Summary>,
    bytes: DocBytes<'a>,
    /// Chunks stored before (none: the document is new here).
    chunks: Option<i64>,
}

impl<'a> Prepared<'a> {
    /// The document's stored size once this is written, `before` the size before.
    fn stored_size(&self, before: usize) -> usize {
        match &self.bytes {
            DocBytes::Snapshot(b) => b.len(),
            DocBytes::Chunk(c) => before + c.len(),
        }
    }

    fn new(
        id: DocumentId,
        d: &Automerge,
        before: &[ChangeHash],
        raw: Option<&'a [u8]>,
        chunks: Option<i64>,
    ) -> Prepared<'a> {
        let (header, fields, summary) = match doc::summarize(id, d) {
            Ok(p) => (Some(p.header.clone()), p.fields.clone(), Some(p)),
            // Not a valid record: keep the bytes (no word is lost), skip projections.
            Err(_) => (doc::header(id, d).ok(), AccessFields::default(), None),
        };
        let bytes = match chunks {
            None => match raw {
                Some(r) if before.is_empty() => DocBytes::Snapshot(r.into()),
                _ => DocBytes::Snapshot(d.save().into()),
            },
            Some(n) if n + 1 >= COMPACT_AFTER_CHUNKS => DocBytes::Snapshot(d.save().into()),
            Some(_) => DocBytes::Chunk(d.save_after(before)),
        };
        Prepared {
            heads: heads_json(&d.get_heads()),
            header,
            fields_json: serde_json::to_string(&fields).unwrap_or_default(),
            summary,
            bytes,
            chunks,
        }
    }
}

/// Write a prepared document: its row, bytes and projections. A new document is inserted
/// with `acked` heads (JSON) if given; returns whether it was new.
fn write_doc(
    tx: &Connection,
    id: DocumentId,
    p: &Prepared<'_>,
    now: i64,
    acked: Option<&str>,
) -> Result<bool> {
    let key = id.to_string();
    let (heads, fields_json, valid) = (&p.heads, &p.fields_json, p.summary.is_some());
    let (kind, school, pupil, author, created_at) = match &p.header {
        Some(h) => (
            h.kind.as_str(),
            h.school.as_str(),
            h.pupil.as_deref(),
            h.author.as_str(),
            h.created_at,
        ),
        None => ("", "", None, "", 0),
    };
    match (&p.bytes, p.chunks) {
        (DocBytes::Snapshot(snapshot), None) => {
            tx.prepare_cached(
                "INSERT INTO documents (id, kind, school, pupil, author, created_at, fields, snapshot, chunks, heads, updated_at, valid, acked_heads)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![key, kind, school, pupil, author, created_at, fields_json, snapshot.as_ref(), heads, now, valid, acked])?;
        }
        (DocBytes::Snapshot(snapshot), Some(_)) => {
            tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [&key])?;
            tx.execute(
                "UPDATE documents SET kind=?2, school=?3, pupil=?4, author=?5, created_at=?6, fields=?7,
                 snapshot=?8, chunks=0, heads=?9, updated_at=?10, valid=?11 WHERE id = ?1",
                params![key, kind, school, pupil, author, created_at, fields_json, snapshot.as_ref(), heads, now, valid],
            )?;
        }
        (DocBytes::Chunk(chunk), n) => {
            let n = n.unwrap_or(0);
            tx.prepare_cached("INSERT INTO doc_chunks (doc_id, seq, bytes) VALUES (?1, ?2, ?3)")?
                .execute(params![key, n + 1, chunk])?;
            tx.execute(
                "UPDATE documents SET kind=?2, school=?3, pupil=?4, author=?5, created_at=?6, fields=?7,
                 chunks=?8, heads=?9, updated_at=?10, valid=?11 WHERE id = ?1",
                params![key, kind, school, pupil, author, created_at, fields_json, n + 1, heads, now, valid],
            )?;
        }
    }
    if p.chunks.is_some() {
        projection::clear(tx, id)?;
    }
    if let Some(summary) = &p.summary {
        projection::project(tx, id, summary)?;
    }
    Ok(p.chunks.is_none())
}

fn purge_doc(tx: &Connection, id: DocumentId) -> Result<bool> {
    loaded::forget(&[id]);
    let key = id.to_string();
    projection::clear(tx, id)?;
    tx.execute("DELETE FROM doc_chunks WHERE doc_id = ?1", [&key])?;
    let n = tx.execute("DELETE FROM documents WHERE id = ?1", [&key])?;
    Ok(n > 0)
}

fn info(tx: &Connection, id: DocumentId) -> Result<Option<DocumentInfo>> {
    tx.prepare_cached(
        "SELECT id, kind, school, pupil, author, created_at, fields, heads, acked_heads FROM documents WHERE id = ?1",
    )?
    .query_row([id.to_string()], info_row)
    .optional()?
    .transpose()
}

fn info_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<DocumentInfo>> {
    let id: String = r.get(0)?;
    let header = Header {
        kind: r.get(1)?,
        school: r.get(2)?,
        pupil: r.get(3)?,
        author: r.get(4)?,
        created_at: r.get(5)?,
        schema: crate::model::SCHEMA_VERSION,
    };
    let fields: String = r.get(6)?;
    let heads: String = r.get(7)?;
    let acked: Option<String> = r.get(8)?;
    let parse_heads = |s: &str| -> Option<Vec<ChangeHash>> {
        let v: Vec<String> = serde_json::from_str(s).ok()?;
        ids::heads_from_hex(&v)
    };
    Ok((|| {
        Ok(DocumentInfo {
            id: id
                .parse()
                .map_err(|_| Error::Invalid("bad id in store".into()))?,
            header,
            fields: serde_json::from_str(&fields).unwrap_or_default(),
            heads: parse_heads(&heads).unwrap_or_default(),
            acked_heads: acked.as_deref().and_then(parse_heads),
        })
    })())
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
        conn.query_row("PRAGMA synchronous", [], |r| r.get(0))
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
                seen.set(tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?);
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
        }];
        assert!(store.merge_many_acked(&bad, &[]).is_err());
        assert_eq!(synchronous(&store), FULL);
    }
}
