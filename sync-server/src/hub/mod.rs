//! The sans-io sync hub: all server protocol logic, with no sockets, threads or clock.
//!
//! The driver (see [`crate::server`]) owns one [`Hub`] on one thread and feeds it events;
//! a deterministic simulation can do the same in a test. Time comes in as `now` (unix ms),
//! randomness from a seed given to [`Hub::new`].
//!
//! - [`Hub::connect`] authenticates a device token and opens a session;
//! - [`Hub::receive`] / [`Hub::receive_bytes`] handle one frame of a session and return
//!   the frames to send, to this and other sessions (replies, live pushes, purges);
//! - [`Hub::poll`] picks up what another process (the admin CLI) wrote: revocations, roster
//!   changes; call it about once a second;
//! - [`Hub::enroll`] answers an enrollment frame;
//! - the admin methods ([`Hub::create_school`], [`Hub::import_roster`], ...) write and then
//!   deliver their effects at once.
//!
//! A returned [`Frame::Error`] or [`Frame::Revoked`] ends its session: the hub has already
//! forgotten it, the driver sends the frame and closes the connection.
//!
//! One concern per file: `connect` (sessions, and dispatching each frame), `catch_up`
//! (`hello`), `fetch`, `beside` (catch-ups and fetches read beside the hub, and the frames
//! that wait for them), `push` (pre-checks, merge, core's record rules, one commit),
//! `precheck` (a group's new documents checked before its frames, on all cores),
//! `fanout` (the delivery planner every path that sends content to live sessions goes
//! through, and the poll path), `sync_frames` (Automerge `sync` frames), `automerge_repo`
//! (sessions of automerge-repo peers: their messages and live changes), `read_log`,
//! `outbox` (the outbox state a device reports, bounded, kept on its device row),
//! `group` (group commit: several sessions' frames stored durably together), `tail` (the
//! newest catalog rows of each school, in memory for short catch-ups),
//! `enroll` and `admin_ops` (admin writes, delivered at once).

mod admin_ops;
mod automerge_repo;
mod beside;
mod catch_up;
mod connect;
mod enroll;
mod fanout;
mod fetch;
mod group;
mod live;
mod outbox;
mod precheck;
mod push;
mod read_log;
mod sync_frames;
mod tail;

pub use beside::{CatchUpJob, CaughtUp};
pub use sync_frames::SyncMessage;

use crate::admin;
use crate::cache::DocCache;
use crate::storage::{AuditAction, AuditRecord, CatalogRow, Device, Storage};
use crate::{Error, Result};
use automerge::{ActorId, Automerge};
use omkijken_core::model::{Header, Roster};
use omkijken_core::sync::{ErrorCode, Frame, RefusalReason};
use omkijken_core::{Access, DocumentId, access};
use rand::SeedableRng;
use rand::rngs::StdRng;
// Ordered maps only: the deterministic simulation replays a seed exactly, so nothing here
// may depend on hash iteration order.
use std::collections::BTreeMap;
use std::sync::Arc;

/// Hub settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Documents kept loaded in the LRU cache.
    pub cache_docs: usize,
    /// Bound on the stored size of the cached documents (their in-memory size is a few
    /// times larger).
    pub cache_bytes: usize,
    /// Simultaneous connections of one device.
    pub max_conns_per_device: usize,
    /// Change chunks of a document before it is compacted into a snapshot.
    pub compact_after_chunks: u32,
    /// How long an enrollment code is valid, ms.
    pub code_ttl_ms: i64,
    /// Write the staff's roster views that are missing or out of date in [`Hub::new`]
    /// (reading every view: seconds for a large school). The server does it on a thread of
    /// its own instead ([`refresh_views`]), so that devices are served meanwhile.
    pub refresh_views_at_start: bool,
    /// Read large catch-ups beside the hub: when the catalog moved on by more than this many
    /// sequence numbers since a device's cursor, `hello` leaves a job
    /// ([`Hub::take_catch_ups`]) for the driver to run on a storage connection of its own,
    /// and the hub goes on with other sessions' frames meanwhile. Smaller ones the hub reads
    /// itself: handing one over (a second read for what changed since, a thread switch each
    /// way) costs more than it saves (README, "Long catch-ups read beside the hub"). None:
    /// never (the server uses [`CATCH_UP_BESIDE_FROM`]).
    pub catch_up_beside: Option<u64>,
    /// Make what a fetch of this many documents or more sends beside the hub, as a large
    /// catch-up is read (`fetch`): the hub reads the catalog rows again and makes anew
    /// only what moved on since. None: never (the server uses [`FETCH_BESIDE_FROM`]).
    pub fetch_beside: Option<usize>,
    /// Read a long catch-up beside the hub in chunks of this many catalog rows: each chunk
    /// is sent as soon as it is back (and judged again on the hub), so the device fetches
    /// while the rest is read, and fetches sent meanwhile are read beside the hub too.
    /// None: in one read (the server uses [`CATCH_UP_CHUNK`]).
    pub catch_up_chunk: Option<usize>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            cache_docs: 2_000,
            cache_bytes: 64 * 1024 * 1024,
            max_conns_per_device: 4,
            compact_after_chunks: 32,
            code_ttl_ms: 24 * 3600 * 1000,
            refresh_views_at_start: true,
            catch_up_beside: None,
            fetch_beside: None,
            catch_up_chunk: None,
        }
    }
}

/// The server reads a catch-up beside the hub from this many catalog sequence numbers since
/// the device's cursor ([`HubConfig::catch_up_beside`]): one page of the catalog.
pub const CATCH_UP_BESIDE_FROM: u64 = crate::storage::CATALOG_PAGE as u64;

/// The server reads a long catch-up beside the hub in chunks of this many catalog rows
/// ([`HubConfig::catch_up_chunk`]): two pages of the catalog, 16 fetch frames of a fresh
/// device.
pub const CATCH_UP_CHUNK: usize = 2 * crate::storage::CATALOG_PAGE;

/// The server makes what a fetch of this many documents or more sends beside the hub
/// ([`HubConfig::fetch_beside`]). A device's first pull asks for 500 at a time; the few
/// documents a live device fetches are made on the hub (a hand-over each way would cost
/// more than it saves).
pub const FETCH_BESIDE_FROM: usize = 64;

/// A connection (session) of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Frames to send: (to whom, what).
pub type Outgoing = Vec<(ConnId, Frame)>;

/// Why [`Hub::connect`] did not open a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectRefusal {
    /// No such token: answer 401 before the upgrade.
    Unauthorized,
    /// The device was revoked: upgrade, send [`ConnectRefusal::frame`] (`revoked {}`), close.
    Revoked,
    /// Too many connections of this device: upgrade, send the error frame, close.
    TooManyConnections,
    /// Storage failed.
    Internal,
}

impl ConnectRefusal {
    /// The frame to send before closing, if the connection is upgraded at all.
    pub fn frame(self) -> Option<Frame> {
        match self {
            ConnectRefusal::Unauthorized => None,
            ConnectRefusal::Revoked => Some(Frame::Revoked {}),
            ConnectRefusal::TooManyConnections => Some(Frame::Error {
                code: ErrorCode::TooManyConnections,
                message: "too many connections of this device".into(),
            }),
            ConnectRefusal::Internal => Some(Frame::Error {
                code: ErrorCode::Internal,
                message: "server error".into(),
            }),
        }
    }
}

/// An opened session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The session.
    pub conn: ConnId,
    /// The device id (for log spans; never the token).
    pub device: String,
}

#[derive(Debug)]
struct Session {
    device: Device,
    actor: ActorId,
    /// A pupil session's scope (pupil mode): the session is write-only (nothing is
    /// delivered to it) and the rules admit only its pupils' own readings.
    scope: Option<Arc<omkijken_core::model::PupilScope>>,
    /// Caught up (hello answered): receives live pushes.
    live: bool,
    /// The last catalog cursor sent to the session (a catch-up's or a live frame's).
    cursor: u64,
    /// An automerge-repo peer (`/v1/automerge-repo`): speaks only `sync` messages, never
    /// `live`; it gets the changes of the documents it syncs as sync messages instead
    /// ([`Hub::repo_fanout`]).
    repo: bool,
    /// Per-document Automerge sync state for `sync` frames (bounded).
    sync: crate::sync_states::SyncStates,
    /// What it waits for while a catch-up or fetch of it is read beside the hub
    /// (`beside`).
    beside: Option<Box<beside::Beside>>,
}

/// The sans-io hub. See the module docs.
pub struct Hub {
    storage: Box<dyn Storage>,
    config: HubConfig,
    sessions: BTreeMap<ConnId, Session>,
    next_conn: u64,
    cache: DocCache,
    rosters: BTreeMap<String, Arc<Roster>>,
    /// Live sessions by school, user and device (`live`).
    live: BTreeMap<String, live::LiveSchool>,
    /// A group commit is open ([`Hub::begin_group`]), and whether its first frame polled
    /// already: the frames of a group waited together, so one poll takes in for all of
    /// them what other processes wrote before (see [`Hub::receive`]).
    group: Option<bool>,
    reader_memo: BTreeMap<String, live::ReaderMemo>,
    /// The period in which each slice of the live sessions was last given the cursor it
    /// may keep (`fanout::move_cursors`).
    cursor_periods: [i64; fanout::CURSOR_SLICES],
    /// Every catalog row up to here was delivered to live sessions.
    seen_seq: u64,
    /// The storage's lineage (hex), sent with every catalog frame.
    epoch: String,
    /// Admin events up to here were handled.
    admin_seq: u64,
    /// Catalog rows up to here were offered to automerge-repo sessions.
    repo_seq: u64,
    /// Open automerge-repo sessions.
    repo_sessions: usize,
    /// Open sessions per device (the cap of [`HubConfig::max_conns_per_device`]).
    conns_of: BTreeMap<String, usize>,
    /// Actor of the server's own writes (roster); random per hub.
    actor: ActorId,
    rng: StdRng,
    /// Catch-ups to read beside the hub, and the last one's number.
    catch_ups: Vec<CatchUpJob>,
    next_ticket: u64,
    /// New documents of the open group's push frames, checked before its frames were
    /// handled (`precheck`).
    prechecked: BTreeMap<(ConnId, DocumentId), precheck::PrecheckedQueue>,
    prechecks_used: u64,
    /// The newest catalog rows of the schools, for short catch-ups (`tail`).
    tails: tail::Tails,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("sessions", &self.sessions.len())
            .field("cached_docs", &self.cache.len())
            .field("seen_seq", &self.seen_seq)
            .finish_non_exhaustive()
    }
}

fn refusal_name(r: RefusalReason) -> &'static str {
    match r {
        RefusalReason::Forbidden => "forbidden",
        RefusalReason::ForgedActor => "forged_actor",
        RefusalReason::InvalidRecord => "invalid_record",
        RefusalReason::TooLarge => "too_large",
        RefusalReason::Malformed => "malformed",
        RefusalReason::MissingDeps => "missing_deps",
        RefusalReason::Erased => "erased",
    }
}

fn error_frame(code: ErrorCode, message: &str) -> Frame {
    Frame::Error {
        code,
        message: message.into(),
    }
}

/// Whether `user` may read the document of `row` (not erased, and the access rules grant
/// at least read).
fn readable(roster: &Roster, user: &str, row: &CatalogRow) -> bool {
    !row.erased && access(roster, user, &row.header, &row.fields) >= Access::Read
}

/// An audit row of a device's action on (or delivery of) one document: ids only.
fn audit_doc(
    now: i64,
    school: &str,
    device: &str,
    user: &str,
    action: AuditAction,
    id: DocumentId,
    header: Option<&Header>,
) -> AuditRecord {
    AuditRecord {
        device: Some(device.to_string()),
        user: Some(user.to_string()),
        document: Some(id),
        kind: header.map(|h| h.kind.clone()),
        pupil: header.and_then(|h| h.pupil.clone()),
        ..AuditRecord::new(now, school, action)
    }
}

impl Hub {
    /// A hub over `storage`. `seed` seeds the generator of tokens, codes and ids (pass OS
    /// randomness in production, a fixed seed in a simulation).
    pub fn new(mut storage: Box<dyn Storage>, config: HubConfig, seed: [u8; 32]) -> Result<Hub> {
        let mut rng = StdRng::from_seed(seed);
        let mut actor = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rng, &mut actor);
        let actor = ActorId::from(actor.as_slice());
        if config.refresh_views_at_start {
            refresh_views(storage.as_mut(), &actor)?;
        }
        let seen_seq = storage.last_seq()?;
        let admin_seq = storage.last_admin_event()?;
        let epoch = format!("{:016x}", storage.epoch()?);
        Ok(Hub {
            storage,
            cache: DocCache::new(config.cache_docs, config.cache_bytes),
            config,
            sessions: BTreeMap::new(),
            next_conn: 1,
            rosters: BTreeMap::new(),
            live: BTreeMap::new(),
            reader_memo: BTreeMap::new(),
            group: None,
            cursor_periods: [i64::MIN; fanout::CURSOR_SLICES],
            seen_seq,
            epoch,
            admin_seq,
            repo_seq: seen_seq,
            repo_sessions: 0,
            conns_of: BTreeMap::new(),
            actor,
            rng,
            catch_ups: vec![],
            prechecked: BTreeMap::new(),
            prechecks_used: 0,
            tails: tail::Tails::default(),
            next_ticket: 0,
        })
    }

    /// The storage (admin reads, tests).
    pub fn storage(&mut self) -> &mut dyn Storage {
        self.storage.as_mut()
    }

    /// Open sessions.
    pub fn connections(&self) -> usize {
        self.sessions.len()
    }

    /// Whether a session is open.
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.sessions.contains_key(&conn)
    }

    /// Whether the session waits for a read beside the hub ([`Hub::take_catch_ups`]): what
    /// it sends meanwhile is parked until the read is back.
    pub fn is_waiting(&self, conn: ConnId) -> bool {
        self.sessions.get(&conn).is_some_and(|s| s.beside.is_some())
    }

    /// How many reads beside the hub and frames behind them a session waits for.
    pub fn waiting_for(&self, conn: ConnId) -> usize {
        self.sessions
            .get(&conn)
            .and_then(|s| s.beside.as_ref())
            .map_or(0, |b| b.waiting())
    }

    /// Sync states held for `sync` frames, all sessions together.
    pub fn sync_states(&self) -> usize {
        self.sessions.values().map(|s| s.sync.len()).sum()
    }

    /// Documents in the cache.
    pub fn cached_docs(&self) -> usize {
        self.cache.len()
    }

    fn roster(&mut self, school: &str) -> Result<Arc<Roster>> {
        if let Some(r) = self.rosters.get(school) {
            return Ok(r.clone());
        }
        let r = match admin::roster(self.storage.as_mut(), school) {
            Ok(r) => r,
            Err(Error::NotFound(_)) => Arc::new(Roster {
                school: school.into(),
                ..Default::default()
            }),
            Err(e) => return Err(e),
        };
        self.rosters.insert(school.into(), r.clone());
        Ok(r)
    }

    /// The stored document of a catalog row, through the cache ([`load_cached`]).
    fn load(&mut self, row: &CatalogRow) -> Result<Option<Automerge>> {
        load_cached(&mut self.cache, self.storage.as_mut(), row)
    }

    /// Catalog rows of `ids`, by id (unknown ones left out).
    fn catalog_map(&mut self, ids: &[DocumentId]) -> Result<BTreeMap<DocumentId, CatalogRow>> {
        catalog_map(self.storage.as_mut(), ids)
    }
}

/// Each staff member reads a view of the roster, not the roster: write the views that are
/// missing or out of date (a store written before views, or by an older server) of every
/// school, as `actor`. Another node or thread may be writing them at the same time: a
/// conflict means it did.
pub fn refresh_views(storage: &mut dyn Storage, actor: &ActorId) -> Result<()> {
    for school in storage.schools()? {
        match admin::refresh_roster_views(storage, actor, 0, &school.id) {
            Ok(_) | Err(Error::Conflict) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The catalog rows of `ids` that exist, by id: on the hub's storage or a reader's.
fn catalog_map(
    storage: &mut dyn Storage,
    ids: &[DocumentId],
) -> Result<BTreeMap<DocumentId, CatalogRow>> {
    Ok(storage
        .catalog_get(ids)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect())
}

/// The stored document of a catalog row, through the cache (checked against the catalog's
/// heads, so a write by another process is never hidden by the cache).
fn load_cached(
    cache: &mut DocCache,
    storage: &mut dyn Storage,
    row: &CatalogRow,
) -> Result<Option<Automerge>> {
    if let Some(d) = cache.get(&row.id)
        && d.get_heads() == row.heads
    {
        return Ok(Some(d.clone()));
    }
    let Some(bytes) = storage.load_doc(row.id)? else {
        return Ok(None);
    };
    let d = Automerge::load(&bytes)?;
    cache.put(row.id, d.clone(), bytes.len());
    Ok(Some(d))
}
