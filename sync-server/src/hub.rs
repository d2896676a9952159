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

use crate::admin::{self, RosterImport};
use crate::cache::DocCache;
use crate::storage::{
    AuditAction, AuditFilter, AuditRecord, Batch, CatalogRow, Committed, Device, DocWrite,
    EnrollOutcome, NewDevice, Storage, StoredDoc, WriteMode,
};
use crate::{Error, Result, tokens};
use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use omkijken_core::budget;
use omkijken_core::doc::{self, AccessFields};
use omkijken_core::ids::{heads_from_hex, heads_to_hex};
use omkijken_core::model::{Header, Kind, Roster, rules};
use omkijken_core::sync::{
    Acked, CatalogEntry, DocChanges, ErrorCode, FetchRequest, Frame, MAX_DOC_BYTES,
    MAX_DOCS_PER_FRAME, PROTOCOL_VERSION, ReadLogEntry, Refusal, RefusalReason,
};
use omkijken_core::{Access, DocumentId, access};
use rand::SeedableRng;
use rand::rngs::StdRng;
// Ordered maps only: the deterministic simulation replays a seed exactly, so nothing here
// may depend on hash iteration order.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Bytes of document data per outgoing `docs` frame before a new frame is started.
const DOCS_FRAME_BYTES: usize = 8 * 1024 * 1024;
/// Catalog rows handled per step when delivering others' writes.
const DELIVER_PAGE: usize = 10_000;
/// From this many documents in one push frame, merging and validating them runs on all
/// cores (below it, handing work to other threads costs more than it saves).
const PARALLEL_FROM: usize = 8;
/// Times a push is merged again after its commit conflicted with another writer.
const PUSH_ATTEMPTS: usize = 5;

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
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            cache_docs: 2_000,
            cache_bytes: 64 * 1024 * 1024,
            max_conns_per_device: 4,
            compact_after_chunks: 32,
            code_ttl_ms: 24 * 3600 * 1000,
        }
    }
}

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
    /// Caught up (hello answered): receives live pushes.
    live: bool,
    /// Per-document Automerge sync state for `sync` frames (bounded).
    sync: crate::sync_states::SyncStates,
}

/// A document change that passed every check, ready to commit.
struct Accepted {
    id: DocumentId,
    /// The merged document; none for a new one, whose pushed bytes (`full`) are all that
    /// is needed (it is dropped on the worker that checked it).
    doc: Option<Automerge>,
    header: Header,
    fields: AccessFields,
    heads: Vec<ChangeHash>,
    /// Heads before the change.
    old_heads: Vec<ChangeHash>,
    /// The new changes (`save_after` of the heads before), once computed.
    delta: Option<Vec<u8>>,
    /// The whole document, once computed.
    full: Option<Vec<u8>>,
    /// The document's summary at `heads` (`doc::Summary::to_wire`).
    summary: Option<Vec<u8>>,
    /// Chunks stored before (for compaction).
    chunks: u32,
    /// Stored size (before the change; after it once written).
    size: usize,
    existed: bool,
    changes: usize,
}

impl Accepted {
    fn full(&mut self) -> Vec<u8> {
        let doc = &self.doc;
        self.full
            .get_or_insert_with(|| doc.as_ref().map(Automerge::save).unwrap_or_default())
            .clone()
    }

    /// The new changes; for a new document that is the whole document.
    fn delta(&mut self) -> Vec<u8> {
        if !self.existed {
            return self.full();
        }
        let (doc, old) = (&self.doc, &self.old_heads);
        self.delta
            .get_or_insert_with(|| doc.as_ref().map(|d| d.save_after(old)).unwrap_or_default())
            .clone()
    }
}

enum Verdict {
    Accept(Box<Accepted>),
    /// Nothing new: the server has all of it already.
    Same(Vec<ChangeHash>),
    Refuse(RefusalReason),
}

/// The sans-io hub. See the module docs.
pub struct Hub {
    storage: Box<dyn Storage>,
    config: HubConfig,
    sessions: BTreeMap<ConnId, Session>,
    next_conn: u64,
    cache: DocCache,
    rosters: BTreeMap<String, Arc<Roster>>,
    /// Every catalog row up to here was delivered to live sessions.
    seen_seq: u64,
    /// The storage's lineage (hex), sent with every catalog frame.
    epoch: String,
    /// Admin events up to here were handled.
    admin_seq: u64,
    /// Actor of the server's own writes (roster); random per hub.
    actor: ActorId,
    rng: StdRng,
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

/// A whole document for a device that does not hold it: the stored bytes, with the heads
/// and summary stored with them when the bytes are one document chunk declaring those heads
/// (a snapshot with no chunks appended since), so the device can check the bytes against
/// the heads and store them without loading them (docs/protocol.md, "Whole documents").
fn whole_doc(row: &CatalogRow, stored: StoredDoc) -> DocChanges {
    let single = |data: &[u8]| {
        row.chunks == 0 && doc::saved_heads(data).is_some_and(|h| same_heads(&h, &row.heads))
    };
    let summary = stored.summary.filter(|_| single(&stored.data));
    let mut d = DocChanges::new(row.id, stored.data);
    if let Some(summary) = summary {
        d.heads = heads_to_hex(&row.heads);
        d.summary = Some(summary);
    }
    d
}

/// Whether two sets of heads are the same, in any order.
fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// Split document changes into `docs` frames within the count and byte limits; the cursor
/// goes on the last frame only.
fn docs_frames(docs: Vec<DocChanges>, cursor: u64) -> Vec<Frame> {
    let mut frames = vec![];
    let mut cur: Vec<DocChanges> = vec![];
    let mut bytes = 0;
    for d in docs {
        if !cur.is_empty()
            && (cur.len() >= MAX_DOCS_PER_FRAME || bytes + d.data.len() > DOCS_FRAME_BYTES)
        {
            frames.push(Frame::Docs {
                docs: std::mem::take(&mut cur),
                cursor: 0,
            });
            bytes = 0;
        }
        bytes += d.data.len();
        cur.push(d);
    }
    frames.push(Frame::Docs { docs: cur, cursor });
    frames
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
        seq: 0,
        at: now,
        school: school.to_string(),
        device: Some(device.to_string()),
        user: Some(user.to_string()),
        action,
        document: Some(id),
        kind: header.map(|h| h.kind.clone()),
        pupil: header.and_then(|h| h.pupil.clone()),
        device_seq: None,
        device_at: None,
    }
}

fn purge_frames(ids: Vec<DocumentId>) -> Vec<Frame> {
    ids.chunks(MAX_DOCS_PER_FRAME)
        .map(|c| Frame::Purge { docs: c.to_vec() })
        .collect()
}

impl Hub {
    /// A hub over `storage`. `seed` seeds the generator of tokens, codes and ids (pass OS
    /// randomness in production, a fixed seed in a simulation).
    pub fn new(mut storage: Box<dyn Storage>, config: HubConfig, seed: [u8; 32]) -> Result<Hub> {
        let mut rng = StdRng::from_seed(seed);
        let mut actor = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rng, &mut actor);
        let actor = ActorId::from(actor.as_slice());
        // Each staff member reads a view of the roster, not the roster: a store written
        // before views gets them now (another node may be writing them at the same time).
        for school in storage.schools()? {
            match admin::refresh_roster_views(storage.as_mut(), &actor, 0, &school.id) {
                Ok(_) | Err(Error::Conflict) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
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
            seen_seq,
            epoch,
            admin_seq,
            actor,
            rng,
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

    /// Sync states held for `sync` frames, all sessions together.
    pub fn sync_states(&self) -> usize {
        self.sessions.values().map(|s| s.sync.len()).sum()
    }

    /// Documents in the cache.
    pub fn cached_docs(&self) -> usize {
        self.cache.len()
    }

    // ------------------------------------------------------------------ sessions

    /// Authenticate a device token and open a session.
    pub fn connect(&mut self, _now: i64, token: &str) -> Result<Connected, ConnectRefusal> {
        let device = match self.storage.device_by_token(&tokens::token_hash(token)) {
            Ok(Some(d)) => d,
            Ok(None) => return Err(ConnectRefusal::Unauthorized),
            Err(e) => {
                tracing::error!(error = %e, "device lookup failed");
                return Err(ConnectRefusal::Internal);
            }
        };
        if device.revoked_at.is_some() {
            return Err(ConnectRefusal::Revoked);
        }
        let open = self
            .sessions
            .values()
            .filter(|s| s.device.id == device.id)
            .count();
        if open >= self.config.max_conns_per_device {
            return Err(ConnectRefusal::TooManyConnections);
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let id = device.id.clone();
        self.sessions.insert(
            conn,
            Session {
                actor: ActorId::from(device.actor.as_slice()),
                device,
                live: false,
                sync: Default::default(),
            },
        );
        Ok(Connected { conn, device: id })
    }

    /// Forget a session (the connection closed).
    pub fn disconnect(&mut self, conn: ConnId) {
        self.sessions.remove(&conn);
    }

    fn fail(&mut self, conn: ConnId, code: ErrorCode, message: &str) -> Outgoing {
        self.sessions.remove(&conn);
        metrics::counter!("omkijken_protocol_errors_total", "code" => code.as_str()).increment(1);
        vec![(conn, error_frame(code, message))]
    }

    /// Decode and handle one binary message. Undecodable or oversized input ends the
    /// session with an error frame; nothing of it is stored.
    pub fn receive_bytes(&mut self, now: i64, conn: ConnId, bytes: &[u8]) -> Outgoing {
        if !self.sessions.contains_key(&conn) {
            return vec![];
        }
        match Frame::decode(bytes) {
            Ok(frame) => self.receive(now, conn, frame),
            Err(e) => {
                let msg = e.to_string();
                if bytes.len() > omkijken_core::sync::MAX_FRAME_BYTES
                    || msg.contains("limits")
                    || msg.contains("too large")
                {
                    self.fail(conn, ErrorCode::TooLarge, "frame exceeds the limits")
                } else {
                    self.fail(
                        conn,
                        ErrorCode::Malformed,
                        "frame is not a valid CBOR frame",
                    )
                }
            }
        }
    }

    /// Handle one frame of a session.
    pub fn receive(&mut self, now: i64, conn: ConnId, frame: Frame) -> Outgoing {
        if !self.sessions.contains_key(&conn) {
            return vec![];
        }
        metrics::counter!("omkijken_frames_handled_total", "type" => frame.type_name())
            .increment(1);
        // First take in what another process wrote (a revocation, a roster change), so this
        // frame is judged by the current roster rather than one up to a poll interval old.
        let mut out = match self.try_poll(now) {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "poll failed");
                return self.fail(conn, ErrorCode::Internal, "server error");
            }
        };
        if self.sessions.contains_key(&conn) {
            out.extend(self.handle(now, conn, frame));
        }
        out
    }

    fn handle(&mut self, now: i64, conn: ConnId, frame: Frame) -> Outgoing {
        let Some(session) = self.sessions.get(&conn) else {
            return vec![];
        };
        let live = session.live;
        let result = match frame {
            Frame::Hello {
                protocol,
                cursor,
                epoch,
            } => {
                if protocol != PROTOCOL_VERSION {
                    return self.fail(
                        conn,
                        ErrorCode::UnsupportedVersion,
                        "this server speaks protocol version 1",
                    );
                }
                // A cursor of another lineage (this store was restored from a backup since)
                // says nothing here: catch up from the start.
                let cursor = match epoch {
                    Some(e) if e != self.epoch => 0,
                    _ => cursor,
                };
                self.hello(now, conn, cursor)
            }
            // New frame types are additive (docs/protocol.md, "Versioning"): one this
            // server does not know is ignored, and the session goes on.
            Frame::Unknown => {
                metrics::counter!("omkijken_frames_ignored_total").increment(1);
                tracing::debug!("frame of an unknown type ignored");
                return vec![];
            }
            _ if !live => {
                return self.fail(conn, ErrorCode::Malformed, "send hello first");
            }
            Frame::Push { docs } => self.push(now, conn, docs),
            Frame::Fetch { docs } => self.fetch(now, conn, docs),
            Frame::ReadLog { entries } => self.read_log(now, conn, entries),
            Frame::Sync { document_id, data } => self.sync(now, conn, document_id, data),
            other => {
                let _ = other;
                return self.fail(conn, ErrorCode::Malformed, "unexpected frame type");
            }
        };
        match result {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "frame handling failed");
                self.fail(
                    conn,
                    ErrorCode::Internal,
                    "server error; nothing was acknowledged",
                )
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    fn roster(&mut self, school: &str) -> Result<Arc<Roster>> {
        if let Some(r) = self.rosters.get(school) {
            return Ok(r.clone());
        }
        let roster = match admin::load_roster(self.storage.as_mut(), school) {
            Ok((_, r)) => r,
            Err(Error::NotFound(_)) => Roster {
                school: school.into(),
                ..Default::default()
            },
            Err(e) => return Err(e),
        };
        let r = Arc::new(roster);
        self.rosters.insert(school.into(), r.clone());
        Ok(r)
    }

    /// The stored document of a catalog row, through the cache (checked against the
    /// catalog's heads, so a write by another process is never hidden by the cache).
    fn load(&mut self, row: &CatalogRow) -> Result<Option<Automerge>> {
        if let Some(d) = self.cache.get(&row.id)
            && d.get_heads() == row.heads
        {
            return Ok(Some(d.clone()));
        }
        let Some(bytes) = self.storage.load_doc(row.id)? else {
            return Ok(None);
        };
        let d = Automerge::load(&bytes)?;
        self.cache.put(row.id, d.clone(), bytes.len());
        Ok(Some(d))
    }

    fn live_sessions_of(
        &self,
        school: &str,
        except: Option<ConnId>,
    ) -> Vec<(ConnId, String, String)> {
        self.sessions
            .iter()
            .filter(|(c, s)| s.live && s.device.school == school && Some(**c) != except)
            .map(|(c, s)| (*c, s.device.id.clone(), s.device.user.clone()))
            .collect()
    }

    // ------------------------------------------------------------------ hello

    fn hello(&mut self, now: i64, conn: ConnId, cursor: u64) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        let roster = self.roster(&device.school)?;
        let last = self.storage.last_seq()?;
        // A cursor from the future (the server's store was restored from a backup): the
        // device cannot trust what it skipped, so it catches up from the start.
        let cursor = if cursor > last { 0 } else { cursor };
        let rows = self
            .storage
            .catalog_since(&device.school, cursor, &device.id)?;
        let mut batch = Batch {
            touch: vec![(device.id.clone(), now)],
            ..Default::default()
        };
        let mut frames = vec![];
        let mut entries = vec![];
        let mut purge = vec![];
        let mut pos;
        for (row, held) in rows {
            let readable = !row.erased
                && access(&roster, &device.user, &row.header, &row.fields) >= Access::Read;
            if readable {
                // Held from now on (this also clears an earlier purge mark: the device
                // sees the entry and fetches what it lacks).
                batch.hold.push((device.id.clone(), row.id));
                entries.push(CatalogEntry {
                    document_id: row.id,
                    header: row.header,
                    fields: row.fields,
                    heads: heads_to_hex(&row.heads),
                    seq: row.seq,
                });
            } else if held {
                // "held" means "may hold": a purge can be lost with its connection, so the
                // row stays and the purge is repeated until access returns.
                batch.purged.push((device.id.clone(), row.id));
                purge.push(row.id);
            }
            pos = row.seq;
            if entries.len() >= MAX_DOCS_PER_FRAME || purge.len() >= MAX_DOCS_PER_FRAME {
                frames.push(Frame::Catalog {
                    entries: std::mem::take(&mut entries),
                    purge: std::mem::take(&mut purge),
                    cursor: pos,
                    complete: false,
                    epoch: Some(self.epoch.clone()),
                });
            }
        }
        frames.push(Frame::Catalog {
            entries,
            purge,
            cursor: last,
            complete: true,
            epoch: Some(self.epoch.clone()),
        });
        self.storage.commit(batch)?;
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.live = true;
        }
        Ok(frames.into_iter().map(|f| (conn, f)).collect())
    }

    /// Catalog rows of `ids`, by id (unknown ones left out).
    fn catalog_map(&mut self, ids: &[DocumentId]) -> Result<BTreeMap<DocumentId, CatalogRow>> {
        Ok(self
            .storage
            .catalog_get(ids)?
            .into_iter()
            .map(|r| (r.id, r))
            .collect())
    }

    // ------------------------------------------------------------------ fetch

    fn fetch(&mut self, now: i64, conn: ConnId, reqs: Vec<FetchRequest>) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        let roster = self.roster(&device.school)?;
        let ids: Vec<DocumentId> = reqs.iter().map(|r| r.document_id).collect();
        let rows = self.catalog_map(&ids)?;
        // Whole documents (a device that has none of it: a fresh pull) are read together.
        let whole: Vec<DocumentId> = reqs
            .iter()
            .filter(|r| {
                r.have.is_empty()
                    && rows.get(&r.document_id).is_some_and(|row| {
                        !row.erased
                            && access(&roster, &device.user, &row.header, &row.fields)
                                >= Access::Read
                    })
            })
            .map(|r| r.document_id)
            .collect();
        let mut stored_whole = self.storage.load_stored_many(&whole)?;
        let mut docs = vec![];
        let mut batch = Batch::default();
        let mut seen = BTreeSet::new();
        for req in reqs {
            if !seen.insert(req.document_id) {
                continue;
            }
            // Unknown, erased and unreadable look the same: left out.
            let Some(row) = rows.get(&req.document_id) else {
                continue;
            };
            if row.erased || access(&roster, &device.user, &row.header, &row.fields) < Access::Read
            {
                continue;
            }
            let have = heads_from_hex(&req.have).unwrap_or_default();
            let mut have_sorted = have.clone();
            have_sorted.sort();
            if have_sorted == row.heads {
                continue;
            }
            let doc = if have.is_empty() {
                match stored_whole.remove(&row.id) {
                    Some(stored) if row.chunks > 0 && stored.summary.is_some() => {
                        // A snapshot plus changes: saved as one document (sent so that the
                        // device need not load it) and stored so for the next device.
                        match Automerge::load(&stored.data) {
                            Ok(d) if same_heads(&d.get_heads(), &row.heads) => {
                                let data = d.save();
                                batch.compact.push((row.id, row.chunks, data.clone()));
                                let compacted = CatalogRow {
                                    chunks: 0,
                                    ..row.clone()
                                };
                                let summary = stored.summary;
                                Some(whole_doc(&compacted, StoredDoc { data, summary }))
                            }
                            _ => Some(whole_doc(row, stored)),
                        }
                    }
                    stored => stored.map(|s| whole_doc(row, s)),
                }
            } else {
                match self.load(row)? {
                    Some(doc) => {
                        let known: Vec<ChangeHash> = have
                            .into_iter()
                            .filter(|h| doc.get_change_meta_by_hash(h).is_some())
                            .collect();
                        let data = if known.is_empty() {
                            doc.save()
                        } else {
                            doc.save_after(&known)
                        };
                        Some(DocChanges::new(row.id, data))
                    }
                    None => None,
                }
            };
            let Some(doc) = doc else { continue };
            if doc.data.is_empty() {
                continue;
            }
            batch.hold.push((device.id.clone(), row.id));
            batch.audit.push(audit_doc(
                now,
                &device.school,
                &device.id,
                &device.user,
                AuditAction::Deliver,
                row.id,
                Some(&row.header),
            ));
            docs.push(doc);
        }
        if !batch.is_empty() {
            self.storage.commit(batch)?;
        }
        Ok(docs_frames(docs, 0)
            .into_iter()
            .map(|f| (conn, f))
            .collect())
    }

    // ------------------------------------------------------------------ push

    /// The catalog row a push of `id` is judged against: the stored document when the user
    /// may read it. A document the user may not read, or that was erased, is judged as if
    /// it did not exist (as a new document), so that the answer never tells the two apart
    /// (docs/protocol.md, "No existence oracle").
    fn base_row<'r>(
        roster: &Roster,
        user: &str,
        row: Option<&'r CatalogRow>,
    ) -> Option<&'r CatalogRow> {
        row.filter(|r| readable(roster, user, r))
    }

    /// Checks that need only the catalog row of a readable document (`row`; none for a new
    /// one or one judged as new) and the pushed bytes before they are loaded: write access,
    /// the stored size, and what the bytes will hold once loaded (core's `budget::scan`
    /// against the kind's limits: changes, operations, inflated bytes).
    fn pre_check(
        roster: &Roster,
        user: &str,
        row: Option<&CatalogRow>,
        data: &[u8],
    ) -> Option<RefusalReason> {
        let stored = row.map_or(0, |r| r.size as usize);
        if let Some(row) = row {
            // Core's rules, on the catalog row: the same verdict `admit` would reach.
            let writer = rules::Writer {
                roster,
                user,
                actor: &[],
            };
            if let Err(refusal) = rules::may_write_stored(&writer, &row.header, &row.fields) {
                return Some(refusal.reason());
            }
        }
        if stored + data.len() > MAX_DOC_BYTES {
            return Some(RefusalReason::TooLarge);
        }
        let kind = row.and_then(|r| r.header.kind().ok());
        match budget::scan(data, rules::wire_budget(kind)) {
            Ok(_) => None,
            Err(budget::ScanError::TooLarge) => Some(RefusalReason::TooLarge),
            Err(budget::ScanError::Malformed) => Some(RefusalReason::Malformed),
        }
    }

    /// Whether the change from the stored `old` (empty for a new document) to the merged
    /// `new` is admitted: core's `rules::admit`, the one judge of every record kind. `row` is
    /// the readable row the change was merged into (none: judged as a new document);
    /// `taken` says the id belongs to a document the user may not read (or one erased): a
    /// change admitted as new is then refused `forbidden`, as it would be for a document
    /// the user may not create.
    #[allow(clippy::too_many_arguments)]
    fn validate(
        roster: &Roster,
        user: &str,
        actor: &ActorId,
        id: DocumentId,
        row: Option<&CatalogRow>,
        taken: bool,
        old: &Automerge,
        new: Automerge,
    ) -> Verdict {
        let old_heads = old.get_heads();
        if new.get_heads() == old_heads {
            return Verdict::Same(old_heads);
        }
        let writer = rules::Writer {
            roster,
            user,
            actor: actor.to_bytes(),
        };
        let before = row.map(|_| old);
        let admitted = match rules::admit(id, before, &new, &writer) {
            Ok(_) if taken => {
                return Verdict::Refuse(RefusalReason::Forbidden);
            }
            Ok(a) => a,
            Err(refusal) => {
                // The rule, never content.
                tracing::info!(document = %id, rule = %refusal, "change refused");
                return Verdict::Refuse(refusal.reason());
            }
        };
        let header = admitted.header.clone();
        let fields = admitted.fields.clone();
        let changes = admitted.changes;
        // Stored with the heads and sent with the whole document to devices that do not
        // hold it: they store it without loading it (core's `Store::merge_many_acked`).
        let summary = admitted.summary().ok().map(|s| s.to_wire());
        Verdict::Accept(Box::new(Accepted {
            id,
            heads: new.get_heads(),
            doc: Some(new),
            header,
            fields,
            old_heads,
            delta: None,
            full: None,
            summary,
            chunks: row.map_or(0, |r| r.chunks),
            size: row.map_or(0, |r| r.size as usize),
            existed: row.is_some(),
            changes,
        }))
    }

    fn push(&mut self, now: i64, conn: ConnId, docs: Vec<DocChanges>) -> Result<Outgoing> {
        let (device, actor) = {
            let s = &self.sessions[&conn];
            (s.device.clone(), s.actor.clone())
        };
        // The same document twice in one frame: its chunks are applied together.
        let mut order: Vec<DocumentId> = vec![];
        let mut data: BTreeMap<DocumentId, Vec<u8>> = BTreeMap::new();
        for d in docs {
            match data.get_mut(&d.document_id) {
                Some(v) => v.extend_from_slice(&d.data),
                None => {
                    order.push(d.document_id);
                    data.insert(d.document_id, d.data);
                }
            }
        }
        // Another writer of the same storage (a server node sharing the database, the admin
        // CLI) committed one of these documents after this hub read it: the commit wrote
        // nothing, so merge and check again against what is stored now.
        let mut attempt = 0;
        loop {
            match self.push_attempt(now, conn, &device, &actor, &order, &data) {
                Err(Error::Conflict) if attempt < PUSH_ATTEMPTS => {
                    attempt += 1;
                    metrics::counter!("omkijken_push_conflicts_total").increment(1);
                    tracing::debug!(attempt, "push conflicted with another writer; retrying");
                }
                r => return r,
            }
        }
    }

    fn push_attempt(
        &mut self,
        now: i64,
        conn: ConnId,
        device: &Device,
        actor: &ActorId,
        order: &[DocumentId],
        data: &BTreeMap<DocumentId, Vec<u8>>,
    ) -> Result<Outgoing> {
        let roster = self.roster(&device.school)?;
        let rows = self.catalog_map(order)?;
        // Checks on the catalog row and loading the stored documents need the storage:
        // one after the other. Merging and validating the pushed bytes is pure work per
        // document: spread over the cores, results in the frame's order.
        let mut work = Vec::with_capacity(order.len());
        for &id in order {
            let row = Self::base_row(&roster, &device.user, rows.get(&id));
            let pending = match Self::pre_check(&roster, &device.user, row, &data[&id]) {
                Some(r) => Err(r),
                None => Ok(match row {
                    Some(r) => self.load(r)?.unwrap_or_default(),
                    None => Automerge::new(),
                }),
            };
            work.push((id, pending));
        }
        let user = device.user.as_str();
        let check = |(id, pending): (DocumentId, std::result::Result<Automerge, RefusalReason>)| {
            let verdict = match pending {
                Err(r) => Verdict::Refuse(r),
                Ok(old) => {
                    // A new document's bytes are stored and sent on as they came, so they
                    // must load strictly: anything after their valid part would load here
                    // (leniently) and then never again, for the server or any device.
                    let merged = if old.get_heads().is_empty() {
                        Automerge::load(&data[&id]).map_err(|e| {
                            if matches!(e, automerge::AutomergeError::MissingDeps) {
                                RefusalReason::MissingDeps
                            } else {
                                RefusalReason::Malformed
                            }
                        })
                    } else {
                        let mut new = old.clone();
                        new.load_incremental(&data[&id])
                            .map(|_| new)
                            .map_err(|_| RefusalReason::Malformed)
                    };
                    match merged {
                        Err(reason) => Verdict::Refuse(reason),
                        Ok(new) if !new.get_missing_deps(&[]).is_empty() => {
                            Verdict::Refuse(RefusalReason::MissingDeps)
                        }
                        Ok(new) => {
                            let row = Self::base_row(&roster, user, rows.get(&id));
                            let taken = row.is_none() && rows.contains_key(&id);
                            Self::validate(&roster, user, actor, id, row, taken, &old, new)
                        }
                    }
                }
            };
            let verdict = match verdict {
                Verdict::Accept(mut a) if !a.existed => {
                    // The pushed bytes load into exactly this document: store and forward
                    // them as they are when they are one document chunk (what devices that
                    // do not hold it can store without loading, see `whole_doc`), else save
                    // it as one; and drop the document here, off the hub's thread.
                    let raw = &data[&id];
                    a.full = Some(match (doc::saved_heads(raw), &a.doc) {
                        (None, Some(d)) => d.save(),
                        _ => raw.clone(),
                    });
                    a.doc = None;
                    Verdict::Accept(a)
                }
                v => v,
            };
            (id, verdict)
        };
        let verdicts: Vec<(DocumentId, Verdict)> = if work.len() >= PARALLEL_FROM {
            use rayon::prelude::*;
            work.into_par_iter().map(check).collect()
        } else {
            work.into_iter().map(check).collect()
        };
        let mut accepted = vec![];
        let mut same = vec![];
        let mut refused = vec![];
        for (id, verdict) in verdicts {
            match verdict {
                Verdict::Accept(a) => accepted.push(*a),
                Verdict::Same(heads) => same.push(Acked {
                    document_id: id,
                    heads: heads_to_hex(&heads),
                }),
                Verdict::Refuse(reason) => refused.push(Refusal {
                    document_id: id,
                    reason,
                }),
            }
        }
        // A write refused as forbidden to someone who may not even read the document (the
        // pupil moved to another mentor while this device recorded offline), or under an
        // id that is taken: the device must not keep it either. It has been told of the
        // refusal; now it purges.
        let mut purge = vec![];
        for r in &refused {
            if r.reason != RefusalReason::Forbidden {
                continue;
            }
            // Decided on what the device sent when the stored document is one it may not
            // read: the same as for a document that does not exist.
            // An id that is taken (a document erased, or one this user may not read) never
            // takes this document: the device may not keep it either, nor a not-accepted
            // item of it (a thermometer month written offline for a pupil whose file was
            // erased meanwhile would otherwise stay on the phone for good). The answer
            // differed from a free id's already (refused, not acknowledged), so the purge
            // tells nothing more.
            let readable = match Self::base_row(&roster, &device.user, rows.get(&r.document_id)) {
                Some(_) => true,
                None if rows.contains_key(&r.document_id) => false,
                None => {
                    let mut d = Automerge::new();
                    d.load_incremental(&data[&r.document_id]).is_ok()
                        && doc::parse(r.document_id, &d).is_ok_and(|p| {
                            access(&roster, &device.user, &p.header, &p.fields) >= Access::Read
                        })
                }
            };
            if !readable {
                purge.push(r.document_id);
            }
        }
        // Every refusal is audited (ids only; the reason is in the metrics and the log).
        let mut refusals = Batch::default();
        for r in &refused {
            let header = rows.get(&r.document_id).map(|row| &row.header);
            refusals.audit.push(audit_doc(
                now,
                &device.school,
                &device.id,
                &device.user,
                AuditAction::Refuse,
                r.document_id,
                header,
            ));
        }
        // Remember the purge, so the document is sent whole when access returns.
        refusals.purged = purge.iter().map(|id| (device.id.clone(), *id)).collect();
        // The accepted changes first: if they conflict with another writer, the whole
        // attempt is repeated and nothing of it may be stored twice.
        let mut out = self.commit_accepted(now, conn, device, &roster, accepted, same, refused)?;
        if !refusals.is_empty() {
            self.storage.commit(refusals)?;
        }
        out.extend(purge_frames(purge).into_iter().map(|f| (conn, f)));
        Ok(out)
    }

    /// Commit accepted changes in one transaction (with the live-push bookkeeping), then
    /// answer: ack and refused to `conn`, live pushes and purges to the other sessions.
    #[allow(clippy::too_many_arguments)]
    fn commit_accepted(
        &mut self,
        now: i64,
        conn: ConnId,
        device: &Device,
        roster: &Roster,
        mut accepted: Vec<Accepted>,
        mut acks: Vec<Acked>,
        refused: Vec<Refusal>,
    ) -> Result<Outgoing> {
        let mut out: Outgoing = vec![];
        for r in &refused {
            metrics::counter!("omkijken_refusals_total", "reason" => refusal_name(r.reason))
                .increment(1);
            // Pseudonymous ids only; never content.
            tracing::debug!(document = %r.document_id, reason = refusal_name(r.reason), "refused");
        }
        if accepted.is_empty() {
            if !acks.is_empty() || refused.is_empty() {
                out.push((conn, Frame::Ack { docs: acks }));
            }
            if !refused.is_empty() {
                out.push((conn, Frame::Refused { docs: refused }));
            }
            return Ok(out);
        }
        let mut batch = Batch::default();
        for a in &mut accepted {
            let snapshot = !a.existed || a.chunks + 1 >= self.config.compact_after_chunks;
            let (data, mode) = if snapshot {
                (a.full(), WriteMode::Snapshot)
            } else {
                (a.delta(), WriteMode::Append)
            };
            a.size = match mode {
                WriteMode::Snapshot => data.len(),
                WriteMode::Append => a.size + data.len(),
            };
            batch.docs.push(DocWrite {
                id: a.id,
                header: a.header.clone(),
                fields: a.fields.clone(),
                heads: a.heads.clone(),
                data,
                mode,
                summary: a.summary.clone(),
                base: Some(a.old_heads.clone()),
            });
            batch.hold.push((device.id.clone(), a.id));
            batch.audit.push(audit_doc(
                now,
                &device.school,
                &device.id,
                &device.user,
                AuditAction::Write,
                a.id,
                Some(&a.header),
            ));
        }
        // Live push plan: who gets which changes, who must purge.
        let ids: Vec<DocumentId> = accepted.iter().map(|a| a.id).collect();
        let mut plan: Vec<(ConnId, Vec<DocChanges>, Vec<DocumentId>)> = vec![];
        // (may hold, was told to purge) per device.
        type HeldSets = (BTreeSet<DocumentId>, BTreeSet<DocumentId>);
        let mut held_of: BTreeMap<String, HeldSets> = BTreeMap::new();
        for (other, dev, user) in self.live_sessions_of(&device.school, Some(conn)) {
            if !held_of.contains_key(&dev) {
                let h = self.storage.held_among(&dev, &ids)?;
                let p = self.storage.purged_among(&dev, &ids)?;
                held_of.insert(
                    dev.clone(),
                    (h.into_iter().collect(), p.into_iter().collect()),
                );
            }
            let (held, purged) = &held_of[&dev];
            let mut docs = vec![];
            let mut purge = vec![];
            for a in &mut accepted {
                let readable = access(roster, &user, &a.header, &a.fields) >= Access::Read;
                let has = (held.contains(&a.id) && !purged.contains(&a.id)) || dev == device.id;
                if readable {
                    let data = if has { a.delta() } else { a.full() };
                    if !has {
                        batch.hold.push((dev.clone(), a.id));
                    }
                    batch.audit.push(audit_doc(
                        now,
                        &device.school,
                        &dev,
                        &user,
                        AuditAction::Deliver,
                        a.id,
                        Some(&a.header),
                    ));
                    let mut d = DocChanges::new(a.id, data);
                    if !has && let Some(summary) = &a.summary {
                        // A whole document: see `whole_doc`.
                        d.heads = heads_to_hex(&a.heads);
                        d.summary = Some(summary.clone());
                    }
                    docs.push(d);
                } else if held.contains(&a.id) {
                    batch.purged.push((dev.clone(), a.id));
                    purge.push(a.id);
                }
            }
            if !docs.is_empty() || !purge.is_empty() {
                plan.push((other, docs, purge));
            }
        }
        let committed: Committed = self.storage.commit(batch)?;
        // Durable: now acknowledge.
        let changes: usize = accepted.iter().map(|a| a.changes).sum();
        metrics::counter!("omkijken_acked_changes_total").increment(changes as u64);
        for a in accepted {
            acks.push(Acked {
                document_id: a.id,
                heads: heads_to_hex(&a.heads),
            });
            // New documents are not cached: most are not touched again soon, and
            // evicting them would cost more than loading the few that are.
            if let Some(doc) = a.doc {
                self.cache.put(a.id, doc, a.size);
            }
        }
        let in_order = committed.prev_seq == self.seen_seq;
        let cursor = if in_order { committed.last_seq } else { 0 };
        if in_order {
            // The pusher holds what it pushed: its cursor may move past it too. Sent before
            // the ack, so a client that closes once everything is acknowledged has it.
            out.push((
                conn,
                Frame::Docs {
                    docs: vec![],
                    cursor,
                },
            ));
        }
        out.push((conn, Frame::Ack { docs: acks }));
        if !refused.is_empty() {
            out.push((conn, Frame::Refused { docs: refused }));
        }
        for (other, docs, purge) in plan {
            // Purge first: a docs frame carries a cursor past the purge, so the purge must
            // not arrive after it (or be lost while it arrives).
            out.extend(purge_frames(purge).into_iter().map(|f| (other, f)));
            if !docs.is_empty() {
                out.extend(docs_frames(docs, cursor).into_iter().map(|f| (other, f)));
            }
        }
        if in_order {
            self.seen_seq = committed.last_seq;
        } else {
            // Another process wrote in between: take in its admin events (a roster change
            // must be known before its bumped rows are delivered), then deliver everything
            // since, in order.
            out.extend(self.try_poll(now)?);
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ sync frames

    fn sync(&mut self, now: i64, conn: ConnId, id: DocumentId, data: Vec<u8>) -> Result<Outgoing> {
        let (device, actor) = {
            let s = &self.sessions[&conn];
            (s.device.clone(), s.actor.clone())
        };
        let roster = self.roster(&device.school)?;
        let refuse = |reason| {
            metrics::counter!("omkijken_refusals_total", "reason" => refusal_name(reason))
                .increment(1);
            (
                conn,
                Frame::Refused {
                    docs: vec![Refusal {
                        document_id: id,
                        reason,
                    }],
                },
            )
        };
        let size = data.len();
        let Ok(msg) = sync::Message::decode(&data) else {
            return Ok(vec![refuse(RefusalReason::Malformed)]);
        };
        let row = self.storage.catalog_get(&[id])?.pop();
        // A document this user may not read (or one erased) looks like one the server does
        // not have: it is synced from nothing, and what is sent for it judged as new.
        let base_row = Self::base_row(&roster, &device.user, row.as_ref()).cloned();
        let taken = base_row.is_none() && row.is_some();
        let base = match &base_row {
            Some(r) => self.load(r)?.unwrap_or_default(),
            None => Automerge::new(),
        };
        let mut state = self
            .sessions
            .get_mut(&conn)
            .and_then(|s| s.sync.take(&id))
            .unwrap_or_default();
        // Kept only for a document this device may read (or creates here).
        let mut keep = base_row.is_some();
        // What the message brings is weighed before it is applied, as a push's bytes are.
        let pre = if msg.changes.is_empty() {
            None
        } else {
            let bytes: Vec<u8> = msg.changes.iter().flatten().copied().collect();
            Self::pre_check(&roster, &device.user, base_row.as_ref(), &bytes)
        };
        let mut new = base.clone();
        let mut out = vec![];
        let mut reply_from = base;
        // The header of the document as this device may read it after this message.
        let mut readable_header = base_row.as_ref().map(|r| r.header.clone());
        let mut refused = None;
        if let Some(reason) = pre {
            refused = Some(reason);
        } else if new.receive_sync_message(&mut state, msg).is_err() {
            refused = Some(RefusalReason::Malformed);
        } else if new.get_heads() != reply_from.get_heads() {
            let verdict = Self::validate(
                &roster,
                &device.user,
                &actor,
                id,
                base_row.as_ref(),
                taken,
                &reply_from,
                new,
            );
            match verdict {
                Verdict::Accept(a) => {
                    let doc = a.doc.clone();
                    readable_header = Some(a.header.clone());
                    out.extend(self.commit_accepted(
                        now,
                        conn,
                        &device,
                        &roster,
                        vec![*a],
                        vec![],
                        vec![],
                    )?);
                    if let Some(doc) = doc {
                        reply_from = doc;
                    }
                    keep = true;
                }
                Verdict::Same(_) => {}
                Verdict::Refuse(reason) => refused = Some(reason),
            }
        }
        let mut batch = Batch::default();
        if let Some(reason) = refused {
            out.push(refuse(reason));
            state = sync::State::new();
            // Audited like a refused push (ids only; the stored header, if any, stays on
            // the server).
            batch.audit.push(audit_doc(
                now,
                &device.school,
                &device.id,
                &device.user,
                AuditAction::Refuse,
                id,
                row.as_ref().map(|r| &r.header),
            ));
        }
        if let Some(m) = reply_from.generate_sync_message(&mut state) {
            if !m.changes.is_empty()
                && let Some(header) = &readable_header
            {
                // Content leaves the server: a delivery, audited like a fetch, and held.
                batch.hold.push((device.id.clone(), id));
                batch.audit.push(audit_doc(
                    now,
                    &device.school,
                    &device.id,
                    &device.user,
                    AuditAction::Deliver,
                    id,
                    Some(header),
                ));
            }
            out.push((
                conn,
                Frame::Sync {
                    document_id: id,
                    data: m.encode(),
                },
            ));
        }
        if !batch.is_empty() {
            self.storage.commit(batch)?;
        }
        if let Some(s) = self.sessions.get_mut(&conn)
            && keep
        {
            s.sync.put(id, state, size);
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ read log

    /// Reads reported by a device, taken as audit rows only for documents of its school that
    /// it may read now or was given (it may have read one offline before losing access),
    /// or that the server does not know yet (a record the device created offline and has
    /// not pushed: the read log goes first); any other entry is refused: counted, audited
    /// as `read_refused` (without the pupil), and acknowledged so the device does not send
    /// it again. The kind is the catalog's, or for an unknown document one of the record
    /// kinds; never other text of the device's.
    fn read_log(&mut self, now: i64, conn: ConnId, entries: Vec<ReadLogEntry>) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        let roster = self.roster(&device.school)?;
        let ids: Vec<DocumentId> = entries.iter().map(|e| e.document_id).collect();
        let rows = self.catalog_map(&ids)?;
        let held = self.storage.held_among(&device.id, &ids)?;
        let mut batch = Batch::default();
        let mut max = 0;
        let mut refused = 0u64;
        for e in entries {
            max = max.max(e.seq);
            let row = rows.get(&e.document_id).filter(|r| {
                r.header.school == device.school
                    && (held.contains(&r.id)
                        || access(&roster, &device.user, &r.header, &r.fields) >= Access::Read)
            });
            let record = |action, kind: Option<String>, pupil: Option<String>| AuditRecord {
                seq: 0,
                at: now,
                school: device.school.clone(),
                device: Some(device.id.clone()),
                user: Some(device.user.clone()),
                action,
                document: Some(e.document_id),
                kind,
                pupil,
                device_seq: Some(e.seq),
                device_at: Some(e.at),
            };
            let unknown = e
                .kind
                .parse::<Kind>()
                .ok()
                .filter(|k| *k != Kind::Roster && !rows.contains_key(&e.document_id));
            batch.audit.push(match row {
                Some(r) => record(
                    AuditAction::Read,
                    Some(r.header.kind.clone()),
                    r.header.pupil.clone(),
                ),
                None if unknown.is_some() => record(
                    AuditAction::Read,
                    unknown.map(|k| k.as_str().to_string()),
                    None,
                ),
                None => {
                    refused += 1;
                    record(AuditAction::ReadRefused, Some("refused".into()), None)
                }
            });
        }
        if refused > 0 {
            metrics::counter!("omkijken_read_log_refused_total").increment(refused);
            tracing::info!(
                refused,
                "read-log entries for documents the device may not read"
            );
        }
        self.storage.commit(batch)?;
        Ok(vec![(conn, Frame::LogAck { seq: max })])
    }

    // ------------------------------------------------------------------ others' writes

    /// Deliver catalog rows this hub has not delivered yet (written by another process, or
    /// by an admin operation): changed documents to sessions that may read them, purges to
    /// those that may no longer.
    fn deliver_since(&mut self, now: i64) -> Result<Outgoing> {
        let mut out = vec![];
        loop {
            let rows = self.storage.catalog_changes(self.seen_seq, DELIVER_PAGE)?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                break;
            };
            let mut by_school: BTreeMap<String, Vec<CatalogRow>> = BTreeMap::new();
            for r in rows {
                by_school
                    .entry(r.header.school.clone())
                    .or_default()
                    .push(r);
            }
            let mut batch = Batch::default();
            let mut frames: Vec<(ConnId, Vec<DocChanges>, Vec<DocumentId>)> = vec![];
            for (school, rows) in by_school {
                let sessions = self.live_sessions_of(&school, None);
                if sessions.is_empty() {
                    continue;
                }
                let roster = self.roster(&school)?;
                let ids: Vec<DocumentId> = rows.iter().map(|r| r.id).collect();
                let mut whole: BTreeMap<DocumentId, Option<DocChanges>> = BTreeMap::new();
                for (conn, dev, user) in sessions {
                    let held = self.storage.held_among(&dev, &ids)?;
                    let purged = self.storage.purged_among(&dev, &ids)?;
                    let mut docs = vec![];
                    let mut purge = vec![];
                    for row in &rows {
                        let has = held.contains(&row.id) && !purged.contains(&row.id);
                        let readable = !row.erased
                            && access(&roster, &user, &row.header, &row.fields) >= Access::Read;
                        // A reader gets the whole document when it changed since last seen,
                        // or when the device does not hold it (never had it, or purged it:
                        // "held" only means "may hold", see hello). A row only bumped by a
                        // roster change that the device still holds needs nothing.
                        if readable && (!has || row.content_seq > self.seen_seq) {
                            if let std::collections::btree_map::Entry::Vacant(e) =
                                whole.entry(row.id)
                            {
                                e.insert(
                                    self.storage.load_stored(row.id)?.map(|s| whole_doc(row, s)),
                                );
                            }
                            if let Some(Some(doc)) = whole.get(&row.id) {
                                docs.push(doc.clone());
                                if !has {
                                    batch.hold.push((dev.clone(), row.id));
                                }
                                batch.audit.push(audit_doc(
                                    now,
                                    &school,
                                    &dev,
                                    &user,
                                    AuditAction::Deliver,
                                    row.id,
                                    Some(&row.header),
                                ));
                            }
                        } else if !readable && held.contains(&row.id) {
                            batch.purged.push((dev.clone(), row.id));
                            purge.push(row.id);
                        }
                    }
                    if !docs.is_empty() || !purge.is_empty() {
                        frames.push((conn, docs, purge));
                    }
                }
            }
            self.storage.commit(batch)?;
            for (conn, docs, purge) in frames {
                // Purge first: a purge never removes what a later frame delivers.
                out.extend(purge_frames(purge).into_iter().map(|f| (conn, f)));
                if !docs.is_empty() {
                    out.extend(docs_frames(docs, last).into_iter().map(|f| (conn, f)));
                }
            }
            self.seen_seq = last;
        }
        Ok(out)
    }

    /// Pick up what was written outside this hub (admin CLI, another node): revoked devices
    /// are told and dropped, roster changes purge and grant. Call about once a second.
    pub fn poll(&mut self, now: i64) -> Outgoing {
        match self.try_poll(now) {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "poll failed");
                vec![]
            }
        }
    }

    fn try_poll(&mut self, now: i64) -> Result<Outgoing> {
        let mut out = vec![];
        if self.storage.last_admin_event()? > self.admin_seq {
            for ev in self.storage.admin_events_since(self.admin_seq)? {
                self.admin_seq = ev.seq;
                match ev.kind {
                    crate::storage::AdminEventKind::Revoke => {
                        let Some(dev) = ev.device else { continue };
                        let conns: Vec<ConnId> = self
                            .sessions
                            .iter()
                            .filter(|(_, s)| s.device.id == dev)
                            .map(|(c, _)| *c)
                            .collect();
                        for c in conns {
                            self.sessions.remove(&c);
                            out.push((c, Frame::Revoked {}));
                        }
                    }
                    _ => {
                        if let Some(school) = ev.school {
                            self.rosters.remove(&school);
                            self.cache.remove(&doc::roster_id(&school));
                        }
                    }
                }
            }
        }
        if self.storage.last_seq()? > self.seen_seq {
            out.extend(self.deliver_since(now)?);
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ enrollment

    /// Answer an `enroll` frame: `enrolled` with a new device token, or an error frame.
    pub fn enroll(&mut self, now: i64, frame: Frame) -> Frame {
        let Frame::Enroll { code, actor, label } = frame else {
            return error_frame(ErrorCode::Malformed, "expected an enroll frame");
        };
        let actor = match hex::decode(actor.trim()) {
            Ok(a) if a.len() == 16 => a,
            _ => return error_frame(ErrorCode::Malformed, "actor must be 16 bytes in hex"),
        };
        let token = tokens::new_token(&mut self.rng);
        let device = NewDevice {
            id: tokens::new_device_id(&mut self.rng),
            actor,
            label: label.chars().take(64).collect(),
            token_hash: tokens::token_hash(&token),
        };
        match self.storage.enroll(&tokens::code_hash(&code), now, &device) {
            Ok(EnrollOutcome::Enrolled(d)) => {
                tracing::info!(device = %d.id, school = %d.school, "device enrolled");
                Frame::Enrolled {
                    token,
                    school: d.school,
                    user: d.user,
                    device: d.id,
                }
            }
            Ok(EnrollOutcome::BadCode) => error_frame(
                ErrorCode::BadEnrollmentCode,
                "unknown, used or expired enrollment code",
            ),
            Ok(EnrollOutcome::ActorTaken) => {
                error_frame(ErrorCode::Malformed, "this actor id is already enrolled")
            }
            Err(e) => {
                tracing::error!(error = %e, "enrollment failed");
                error_frame(ErrorCode::Internal, "server error")
            }
        }
    }

    // ------------------------------------------------------------------ admin

    /// Create a school (with an empty roster).
    pub fn create_school(&mut self, now: i64, id: &str, name: &str) -> Result<Outgoing> {
        admin::create_school(self.storage.as_mut(), now, id, name)?;
        self.try_poll(now)
    }

    /// Import a roster CSV (format: [`crate::roster_csv`]); sessions that gain access get
    /// the documents, those that lose it are told to purge.
    pub fn import_roster(
        &mut self,
        now: i64,
        school: &str,
        csv: &str,
    ) -> Result<(RosterImport, Outgoing)> {
        let actor = self.actor.clone();
        let r = admin::import_roster(self.storage.as_mut(), &actor, now, school, csv)?;
        let out = self.try_poll(now)?;
        Ok((r, out))
    }

    /// Set a school's offline lease in days (0: none); devices learn it at their next sync.
    /// Returns whether it changed.
    pub fn set_offline_lease(
        &mut self,
        now: i64,
        school: &str,
        days: u32,
    ) -> Result<(bool, Outgoing)> {
        let actor = self.actor.clone();
        let changed = admin::set_offline_lease(self.storage.as_mut(), &actor, now, school, days)?;
        let out = self.try_poll(now)?;
        Ok((changed, out))
    }

    /// Issue a one-time enrollment code for a staff member.
    pub fn issue_code(&mut self, now: i64, school: &str, user: &str) -> Result<String> {
        let ttl = self.config.code_ttl_ms;
        admin::issue_code(self.storage.as_mut(), &mut self.rng, now, school, user, ttl)
    }

    /// Revoke a device; its live connections get `revoked {}` and are dropped.
    pub fn revoke_device(&mut self, now: i64, device: &str) -> Result<Outgoing> {
        admin::revoke(self.storage.as_mut(), now, device)?;
        self.try_poll(now)
    }

    /// Erase every document about a pupil; devices purge them.
    pub fn erase_pupil(
        &mut self,
        now: i64,
        school: &str,
        pupil: &str,
    ) -> Result<(usize, Outgoing)> {
        let n = admin::erase_pupil(self.storage.as_mut(), now, school, pupil)?;
        let out = self.try_poll(now)?;
        Ok((n, out))
    }

    /// Answer a one-shot device request (`/v1/request`, see [`crate::requests`]); live
    /// devices are told to purge what it erased.
    pub fn request(&mut self, now: i64, token: &str, frame: Frame) -> (Frame, Outgoing) {
        let (answer, erased) = crate::requests::handle(self.storage.as_mut(), now, token, frame);
        let out = if erased {
            self.try_poll(now).unwrap_or_default()
        } else {
            vec![]
        };
        (answer, out)
    }

    /// Run retention as of `at` (unix ms; the real time but in tests): erase what expired
    /// in every school; devices purge it.
    pub fn apply_retention(
        &mut self,
        now: i64,
        at: i64,
    ) -> Result<(Vec<crate::retention::Expired>, Outgoing)> {
        let gone = crate::retention::apply(self.storage.as_mut(), at)?;
        let out = self.try_poll(now)?;
        Ok((gone, out))
    }

    /// All devices.
    pub fn devices(&mut self) -> Result<Vec<Device>> {
        self.storage.devices()
    }

    /// Audit rows.
    pub fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.storage.audit(filter)
    }
}
