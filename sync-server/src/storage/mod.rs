//! Server storage behind the [`Storage`] trait.
//!
//! What is stored:
//! - per document an append-only log of change chunks, compacted now and then into one
//!   snapshot (a write either appends a chunk or replaces everything by a snapshot);
//! - the catalog: per document its header, access fields, heads, size and the catalog
//!   sequence of its last change or access bump (the catch-up cursor counts in these);
//! - schools, devices (token hash, actor, user, revoked), one-time enrollment codes
//!   (hashed), the device -> held documents table (for purges), the append-only audit log
//!   and the admin-events log another process (the admin CLI) uses to tell a running server
//!   that something changed.
//!
//! Every write goes through [`Storage::commit`] with a [`Batch`]: one transaction, durable
//! when it returns. The trait is object safe (`Box<dyn Storage>`); [`conformance`] is the
//! test suite every implementation must pass. [`sqlite::SqliteStorage`] is the embedded
//! default; [`postgres::PostgresStorage`] lets several server nodes share one database.

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod postgres;
pub(crate) mod rows;
pub mod sqlite;

use crate::Result;
use automerge::ChangeHash;
use omkijken_core::{AccessFields, DocumentId, Header};
use std::collections::{HashMap, HashSet};

pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

/// One catalog row: everything the server needs to decide access and catch-up without
/// opening the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    /// Document.
    pub id: DocumentId,
    /// Its immutable header.
    pub header: Header,
    /// Access-relevant fields of its current state.
    pub fields: AccessFields,
    /// Heads of the stored state, sorted.
    pub heads: Vec<ChangeHash>,
    /// Catalog sequence of its last change or access bump.
    pub seq: u64,
    /// Catalog sequence of its last content change (or erasure).
    pub content_seq: u64,
    /// Stored bytes (snapshot plus chunks).
    pub size: u64,
    /// Chunks stored since the last snapshot.
    pub chunks: u32,
    /// Erased: no bytes any more; the id is refused for good.
    pub erased: bool,
}

/// How a [`DocWrite`] stores its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Append `data` (change chunks) to the document's log.
    Append,
    /// `data` is a saved document holding everything stored so far: replace the log with it.
    Snapshot,
}

/// A content change of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWrite {
    /// Document.
    pub id: DocumentId,
    /// Header (must equal the stored one for an existing document).
    pub header: Header,
    /// Access fields after the change.
    pub fields: AccessFields,
    /// Heads after the change, sorted.
    pub heads: Vec<ChangeHash>,
    /// Bytes, see [`WriteMode`].
    pub data: Vec<u8>,
    /// Append or snapshot.
    pub mode: WriteMode,
    /// The document's summary at `heads` (core's `doc::Summary::to_wire`), sent with the
    /// whole document to devices that do not hold it; None if there is none (the roster).
    /// Stored with the heads: a write without one clears the old one.
    pub summary: Option<Vec<u8>>,
    /// The stored heads this write was made from (empty: the document is new). With
    /// `Some`, [`Storage::commit`] fails with [`crate::Error::Conflict`] and writes nothing
    /// when the document's stored heads are no longer these (another process or node wrote
    /// it meanwhile, or erased it): the writer reloads and merges again. `None` writes
    /// unconditionally.
    pub base: Option<Vec<ChangeHash>>,
}

impl DocWrite {
    /// Whether this write may go ahead on a document whose stored heads are `current`
    /// (`Some(vec![])` for a document not stored yet, None for an erased one): it has no
    /// base, or its base is exactly the stored heads. Both storages ask this inside the
    /// commit transaction.
    pub fn base_matches(&self, current: Option<&[ChangeHash]>) -> bool {
        let Some(base) = &self.base else {
            return true;
        };
        let Some(current) = current else {
            return false;
        };
        let mut a = base.clone();
        a.sort();
        let mut b = current.to_vec();
        b.sort();
        a == b
    }
}

/// A new random lineage number (positive, so it fits a signed 64-bit column).
pub fn new_epoch() -> u64 {
    rand::random::<u64>() >> 1 | 1
}

/// A document as stored: see [`Storage::load_stored`].
#[derive(Clone, PartialEq, Eq)]
pub struct StoredDoc {
    /// Snapshot then chunks, loadable with `Automerge::load`.
    pub data: Vec<u8>,
    /// The summary stored with the current heads ([`DocWrite::summary`]).
    pub summary: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoredDoc {
    // Never the bytes: they hold note text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDoc")
            .field("bytes", &self.data.len())
            .field("summary", &self.summary.is_some())
            .finish()
    }
}

/// What an audit row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A device reported a read of care content (from its local read log).
    Read,
    /// Changes of a user were accepted into a document.
    Write,
    /// A device enrolled.
    Enroll,
    /// A device was revoked.
    Revoke,
    /// An enrollment code was issued.
    CodeIssued,
    /// The roster was imported.
    RosterImport,
    /// A school was created.
    SchoolCreated,
    /// A document was erased.
    Erase,
    /// A document (or changes of it) was delivered to a device.
    Deliver,
    /// A device's changes to a document were refused.
    Refuse,
    /// A document was erased because its retention term ended (its kind says which term).
    Retention,
    /// A legal hold was put on a pupil's file: retention erases nothing of it.
    Hold,
    /// A legal hold on a pupil's file was lifted.
    Release,
    /// A pupil's dossier was exported for inzage (by the admin, or by the device's user).
    Export,
    /// The care team opened a pupil's care track (the row's kind holds the reason code).
    CareTrackOpened,
    /// The care team closed a pupil's care track (the row's kind holds the reason code).
    CareTrackClosed,
    /// An enrollment attempt failed (unknown, used or expired code; never the code itself;
    /// `kind` says why). No school is known: the row's school is empty.
    EnrollFailed,
    /// A device reported reading a document it may not read (the entry was not taken as
    /// a read; `kind` is `refused`).
    ReadRefused,
    /// The audit log was exported (`admin audit`; `kind` names the filter).
    AuditExport,
    /// The school leader changed the school's settings from a device (the row names the
    /// device and user; the settings themselves are in the roster document).
    SchoolSettings,
    /// A call of the admin console (`console`): `user` is `admin:NAME`, `kind` the
    /// operation (`sign_in`, `sign_in_failed`, `import_roster`, ...); `pupil` and `school`
    /// where the call named them.
    Console,
}

impl AuditAction {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Read => "read",
            AuditAction::Write => "write",
            AuditAction::Enroll => "enroll",
            AuditAction::Revoke => "revoke",
            AuditAction::CodeIssued => "code_issued",
            AuditAction::RosterImport => "roster_import",
            AuditAction::SchoolCreated => "school_created",
            AuditAction::Erase => "erase",
            AuditAction::Deliver => "deliver",
            AuditAction::Refuse => "refuse",
            AuditAction::Retention => "retention",
            AuditAction::Hold => "hold",
            AuditAction::Release => "release",
            AuditAction::Export => "export",
            AuditAction::CareTrackOpened => "care_track_opened",
            AuditAction::CareTrackClosed => "care_track_closed",
            AuditAction::EnrollFailed => "enroll_failed",
            AuditAction::ReadRefused => "read_refused",
            AuditAction::AuditExport => "audit_export",
            AuditAction::SchoolSettings => "school_settings",
            AuditAction::Console => "console",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Read,
            Self::Write,
            Self::Enroll,
            Self::Revoke,
            Self::CodeIssued,
            Self::RosterImport,
            Self::SchoolCreated,
            Self::Erase,
            Self::Deliver,
            Self::Refuse,
            Self::Retention,
            Self::Hold,
            Self::Release,
            Self::Export,
            Self::CareTrackOpened,
            Self::CareTrackClosed,
            Self::EnrollFailed,
            Self::ReadRefused,
            Self::AuditExport,
            Self::SchoolSettings,
            Self::Console,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One audit-log row: ids only, never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Server sequence (0 before it is stored).
    pub seq: u64,
    /// Server time, unix ms.
    pub at: i64,
    /// School.
    pub school: String,
    /// Device, if a device did it.
    pub device: Option<String>,
    /// Staff id of the person behind it.
    pub user: Option<String>,
    /// What happened.
    pub action: AuditAction,
    /// Document concerned.
    pub document: Option<DocumentId>,
    /// Kind of that document.
    pub kind: Option<String>,
    /// Pupil that document is about.
    pub pupil: Option<String>,
    /// For reads: the device's own log sequence (rows are deduplicated on it).
    pub device_seq: Option<i64>,
    /// For reads: when the device says it happened (device clock, unix ms).
    pub device_at: Option<i64>,
}

/// The hash that links an audit row to the one before it: SHA-256 of the previous row's
/// hash (32 zero bytes for the first hashed row) and the row's fields, its sequence
/// included, each length-prefixed. Changing, removing or inserting a row breaks the link of
/// every row after it (`admin audit verify`); cutting rows off the end shows only against
/// a head noted down earlier.
pub fn audit_hash(prev: &[u8; 32], r: &AuditRecord) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    fn text(h: &mut Sha256, v: Option<&[u8]>) {
        match v {
            None => h.update([0u8]),
            Some(b) => {
                h.update([1u8]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
        }
    }
    fn int(h: &mut Sha256, v: Option<i64>) {
        match v {
            None => h.update([0u8]),
            Some(n) => {
                h.update([1u8]);
                h.update(n.to_be_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    h.update(b"omkijken-audit-v1");
    h.update(prev);
    h.update(r.seq.to_be_bytes());
    int(&mut h, Some(r.at));
    text(&mut h, Some(r.school.as_bytes()));
    text(&mut h, r.device.as_deref().map(str::as_bytes));
    text(&mut h, r.user.as_deref().map(str::as_bytes));
    text(&mut h, Some(r.action.as_str().as_bytes()));
    text(&mut h, r.document.as_ref().map(|d| d.as_bytes().as_slice()));
    text(&mut h, r.kind.as_deref().map(str::as_bytes));
    text(&mut h, r.pupil.as_deref().map(str::as_bytes));
    int(&mut h, r.device_seq);
    int(&mut h, r.device_at);
    h.finalize().into()
}

/// The previous hash of a chain as stored (NULL, or a row from before the chain: zeros).
pub fn chain_prev(stored: Option<Vec<u8>>) -> [u8; 32] {
    stored
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .unwrap_or([0; 32])
}

/// Which audit rows to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFilter {
    /// Rows about this pupil's documents.
    Pupil(String),
    /// Rows of this staff member.
    Staff(String),
    /// Everything.
    All,
    /// Rows of one action (failed enrollments, refused read reports).
    Action(AuditAction),
}

/// What an admin event tells a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminEventKind {
    /// A device was revoked: drop its live connections.
    Revoke,
    /// A school's roster changed: reload it (catalog rows were bumped).
    Roster,
    /// Documents were erased.
    Erase,
    /// A school was created.
    School,
}

impl AdminEventKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminEventKind::Revoke => "revoke",
            AdminEventKind::Roster => "roster",
            AdminEventKind::Erase => "erase",
            AdminEventKind::School => "school",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Revoke, Self::Roster, Self::Erase, Self::School]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// One admin event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminEvent {
    /// Sequence (0 before it is stored).
    pub seq: u64,
    /// Unix ms.
    pub at: i64,
    /// What.
    pub kind: AdminEventKind,
    /// School concerned.
    pub school: Option<String>,
    /// Device concerned.
    pub device: Option<String>,
}

/// The role of an admin console account: what it may do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// The school's IT admin: schools, roster, enrollment, devices, settings, backups; no
    /// care content, no audit log, no erasure.
    ItAdmin,
    /// The privacy officer (FG): the audit log, inzage exports and erasure; no roster or
    /// device management.
    PrivacyOfficer,
}

impl AdminRole {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::ItAdmin => "it_admin",
            AdminRole::PrivacyOfficer => "privacy_officer",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::ItAdmin, Self::PrivacyOfficer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// An account of the admin console (`console`): a name, a role and an argon2id password
/// hash (PHC string).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAccount {
    /// Sign-in name.
    pub name: String,
    /// What the account may do.
    pub role: AdminRole,
    /// The password's argon2id hash as a PHC string (salt and parameters included).
    pub password_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// A disabled account cannot sign in.
    pub disabled: bool,
}

impl std::fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccount")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct School {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
}

/// An enrolled device.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id.
    pub id: String,
    /// School.
    pub school: String,
    /// Staff id of its user.
    pub user: String,
    /// Its registered Automerge actor id.
    pub actor: Vec<u8>,
    /// Label for the device list.
    pub label: String,
    /// SHA-256 of its token.
    pub token_hash: [u8; 32],
    /// Unix ms.
    pub created_at: i64,
    /// Last connection, unix ms.
    pub last_seen: Option<i64>,
    /// When revoked, unix ms.
    pub revoked_at: Option<i64>,
    /// A pupil session's device: its scope (core's `PupilScope` as JSON), from the code it
    /// enrolled with. None for a staff member's own device.
    pub scope: Option<String>,
    /// Its outbox as it last reported it (None: it never did; devices built before the
    /// report send none).
    pub outbox: Option<DeviceOutbox>,
}

/// A device's outbox as it reported it (docs/protocol.md, "Outbox state"): counts only,
/// bounded when taken in (core's `OutboxState::clamped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceOutbox {
    /// Documents with changes the server has not acknowledged.
    pub pending: u64,
    /// Changes refused for good, kept on the device for their author.
    pub not_accepted: u64,
    /// When the oldest waiting change was made, unix ms of the server's clock (the report's
    /// time less the age the device gave); None when nothing waits.
    pub oldest_at: Option<i64>,
    /// When the server got the report, unix ms.
    pub reported_at: i64,
}

impl DeviceOutbox {
    /// A report received at `now` (bounded first).
    pub fn reported(state: omkijken_core::sync::OutboxState, now: i64) -> DeviceOutbox {
        let s = state.clamped();
        DeviceOutbox {
            pending: s.pending,
            not_accepted: s.not_accepted,
            oldest_at: s
                .oldest_age
                .map(|a| now.saturating_sub(i64::try_from(a).unwrap_or(i64::MAX))),
            reported_at: now,
        }
    }
}

impl Device {
    /// The pupil session scope of this device: `Ok(None)` for a staff device, `Corrupt` for
    /// a scope that does not read (the device is then refused: fail closed).
    pub fn pupil_scope(&self) -> crate::Result<Option<omkijken_core::model::PupilScope>> {
        match &self.scope {
            None => Ok(None),
            Some(s) => omkijken_core::model::PupilScope::from_json(s)
                .map(Some)
                .ok_or(crate::Error::Corrupt("a pupil session's scope")),
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("school", &self.school)
            .field("user", &self.user)
            .field("revoked", &self.revoked_at.is_some())
            .field("pupil_session", &self.scope.is_some())
            .finish_non_exhaustive()
    }
}

/// A one-time enrollment code, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentCode {
    /// SHA-256 of the normalised code.
    pub code_hash: [u8; 32],
    /// School.
    pub school: String,
    /// Staff id the device will belong to.
    pub user: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which the code is refused.
    pub expires_at: i64,
    /// For a pupil session: the scope its device gets (core's `PupilScope` as JSON).
    pub scope: Option<String>,
}

/// A device to create when spending an enrollment code.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Device id.
    pub id: String,
    /// Actor id.
    pub actor: Vec<u8>,
    /// Label.
    pub label: String,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
}

impl NewDevice {
    /// The device as enrolled for `user` of `school` at `now`.
    pub fn enrolled(
        &self,
        school: String,
        user: String,
        scope: Option<String>,
        now: i64,
    ) -> Device {
        Device {
            id: self.id.clone(),
            school,
            user,
            actor: self.actor.clone(),
            label: self.label.clone(),
            token_hash: self.token_hash,
            created_at: now,
            last_seen: None,
            revoked_at: None,
            scope,
            outbox: None,
        }
    }

    /// The audit row of its enrollment.
    pub fn enroll_audit(&self, school: &str, user: &str, now: i64) -> AuditRecord {
        AuditRecord {
            seq: 0,
            at: now,
            school: school.into(),
            device: Some(self.id.clone()),
            user: Some(user.into()),
            action: AuditAction::Enroll,
            document: None,
            kind: None,
            pupil: None,
            device_seq: None,
            device_at: None,
        }
    }
}

impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDevice")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Outcome of [`Storage::enroll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// The code was spent and the device created.
    Enrolled(Box<Device>),
    /// Unknown, spent or expired code (one answer for all three). Nothing changed.
    BadCode,
    /// Another device already has this actor id. Nothing changed, the code is not spent.
    ActorTaken,
}

/// Everything one transaction writes. Empty parts cost nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Schools to create (must not exist yet).
    pub schools: Vec<School>,
    /// Content changes; each gets a new catalog sequence, in this order.
    pub docs: Vec<DocWrite>,
    /// Documents whose access may have changed: a new catalog sequence, content unchanged.
    pub bump: Vec<DocumentId>,
    /// Documents to erase: bytes dropped, tombstone with a new sequence.
    pub erase: Vec<DocumentId>,
    /// (device, document): the device now holds the document.
    pub hold: Vec<(String, DocumentId)>,
    /// (device, document): the device no longer holds the document (row removed).
    pub unhold: Vec<(String, DocumentId)>,
    /// (device, document): the device was told to purge the document. The row stays (the
    /// purge may be lost) and is marked; a later `hold` clears the mark.
    pub purged: Vec<(String, DocumentId)>,
    /// (document, chunks, snapshot): replace the document's stored bytes by `snapshot` (a
    /// saved document with exactly its current heads) if it still has `chunks` chunks
    /// stored, without a new catalog sequence (the content is the same). Done when a whole
    /// document is fetched, so the next device gets it as one document chunk.
    pub compact: Vec<(DocumentId, u32, Vec<u8>)>,
    /// Audit rows to append (reads with a device sequence already stored are skipped).
    pub audit: Vec<AuditRecord>,
    /// Admin events to append.
    pub events: Vec<AdminEvent>,
    /// Enrollment codes to store.
    pub codes: Vec<EnrollmentCode>,
    /// (device, unix ms): revoke these devices.
    pub revoke: Vec<(String, i64)>,
    /// (device, unix ms): last seen.
    pub touch: Vec<(String, i64)>,
    /// (device, its outbox): the outbox a device reported.
    pub outbox: Vec<(String, DeviceOutbox)>,
}

impl Batch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Batch::default()
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Committed {
    /// The last catalog sequence before this commit.
    pub prev_seq: u64,
    /// The last catalog sequence after it (equal to `prev_seq` if it wrote no catalog row).
    pub last_seq: u64,
}

/// What one device may hold of some documents ([`Storage::holdings`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holding {
    /// Held, or told to purge.
    pub held: HashSet<DocumentId>,
    /// Told to purge (and not given back since).
    pub purged: HashSet<DocumentId>,
}

impl Holding {
    /// Whether the device holds `id` now (held and not told to purge).
    pub fn has(&self, id: &DocumentId) -> bool {
        self.held.contains(id) && !self.purged.contains(id)
    }
}

/// The server's storage. Object safe: the hub holds a `Box<dyn Storage>`.
///
/// Methods take `&mut self` so an implementation can keep one connection and cached
/// statements. A storage must be durable when [`Storage::commit`] returns, and catalog
/// sequences must be commit-ordered: a reader who saw sequence `n` never later sees a new
/// row with a sequence `<= n`. Several processes may write one storage at once (the admin
/// CLI beside a server; server nodes sharing PostgreSQL): [`DocWrite::base`] keeps a write
/// from overwriting what it did not see.
pub trait Storage: Send {
    /// Write a batch in one transaction.
    fn commit(&mut self, batch: Batch) -> Result<Committed>;

    /// Catalog rows of these documents (unknown ones are left out; order not specified).
    fn catalog_get(&mut self, ids: &[DocumentId]) -> Result<Vec<CatalogRow>>;
    /// Catalog rows of a school with a sequence above `after`, in sequence order, each with
    /// whether `device` holds it.
    fn catalog_since(
        &mut self,
        school: &str,
        after: u64,
        device: &str,
    ) -> Result<Vec<(CatalogRow, bool)>>;
    /// Catalog rows of all schools with a sequence above `after`, in sequence order, at most
    /// `limit`.
    fn catalog_changes(&mut self, after: u64, limit: usize) -> Result<Vec<CatalogRow>>;
    /// All catalog rows of a school.
    fn catalog_school(&mut self, school: &str) -> Result<Vec<CatalogRow>>;
    /// The last catalog sequence.
    fn last_seq(&mut self) -> Result<u64>;
    /// The store's lineage: a random number made with the store and made anew by
    /// [`Storage::renew_epoch`] when it is restored from a backup. Catalog sequences (device
    /// cursors) compare only within one lineage.
    fn epoch(&mut self) -> Result<u64>;
    /// Start a new lineage (after a restore from a backup): devices then catch up from the
    /// start and send again what this store lacks.
    fn renew_epoch(&mut self) -> Result<u64>;

    /// The stored bytes of a document (snapshot then chunks, loadable with
    /// `Automerge::load`) and the summary stored with its heads, or None if unknown or
    /// erased.
    fn load_stored(&mut self, id: DocumentId) -> Result<Option<StoredDoc>>;
    /// [`Storage::load_stored`] of several documents (one round trip where the store is a
    /// database server); unknown and erased ones are left out.
    fn load_stored_many(&mut self, ids: &[DocumentId]) -> Result<HashMap<DocumentId, StoredDoc>> {
        let mut found = HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(stored) = self.load_stored(id)? {
                found.insert(id, stored);
            }
        }
        Ok(found)
    }
    /// The stored bytes of [`Storage::load_stored`].
    fn load_doc(&mut self, id: DocumentId) -> Result<Option<Vec<u8>>> {
        Ok(self.load_stored(id)?.map(|s| s.data))
    }
    /// Which of `ids` the device may hold (held, or told to purge).
    fn held_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>>;
    /// Which of `ids` the device was told to purge (and has not been given back since).
    fn purged_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>>;
    /// What each of `devices` may hold of `ids` ([`Storage::held_among`]) and was told to
    /// purge ([`Storage::purged_among`]), in one query: what the hub's delivery planner asks
    /// once for every live device. Devices holding none of `ids` may be left out.
    fn holdings(
        &mut self,
        devices: &[String],
        ids: &[DocumentId],
    ) -> Result<HashMap<String, Holding>>;
    /// What every device that may hold any of `ids` holds of them ([`Storage::holdings`]
    /// for the devices not known in advance): one query by document, whatever the number
    /// of devices, for the live fan-out (`held_doc` index).
    fn holders(&mut self, ids: &[DocumentId]) -> Result<HashMap<String, Holding>>;

    /// A school.
    fn school(&mut self, id: &str) -> Result<Option<School>>;
    /// All schools.
    fn schools(&mut self) -> Result<Vec<School>>;

    /// Spend an enrollment code and create the device, in one transaction (also writes the
    /// `enroll` audit row).
    fn enroll(
        &mut self,
        code_hash: &[u8; 32],
        now: i64,
        device: &NewDevice,
    ) -> Result<EnrollOutcome>;
    /// The device with this token hash (revoked ones too).
    fn device_by_token(&mut self, token_hash: &[u8; 32]) -> Result<Option<Device>>;
    /// A device by id.
    fn device(&mut self, id: &str) -> Result<Option<Device>>;
    /// All devices.
    fn devices(&mut self) -> Result<Vec<Device>>;

    /// Audit rows, in sequence order.
    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
    /// Up to `limit` audit rows after sequence `after`, in sequence order, each with its
    /// stored link hash (none for rows written before the chain); for `admin audit verify`.
    fn audit_page(
        &mut self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(AuditRecord, Option<Vec<u8>>)>>;
    /// Admin events with a sequence above `after`.
    fn admin_events_since(&mut self, after: u64) -> Result<Vec<AdminEvent>>;

    /// A school's server-side policy (JSON, see `retention::SchoolPolicy`): retention terms
    /// and the dates pupils left. Never sent to devices.
    fn school_policy(&mut self, school: &str) -> Result<Option<String>>;

    /// Replace a school's server-side policy.
    fn set_school_policy(&mut self, school: &str, policy: &str) -> Result<()>;
    /// The last admin-event sequence.
    fn last_admin_event(&mut self) -> Result<u64>;

    /// An admin console account by name.
    fn admin_account(&mut self, name: &str) -> Result<Option<AdminAccount>>;

    /// Every admin console account, by name.
    fn admin_accounts(&mut self) -> Result<Vec<AdminAccount>>;

    /// Create an admin console account, or replace the one of that name.
    fn put_admin_account(&mut self, account: &AdminAccount) -> Result<()>;
}
