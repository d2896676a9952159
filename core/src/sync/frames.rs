//! Protocol frames (docs/protocol.md, version [`PROTOCOL_VERSION`]).
//!
//! Every WebSocket binary message is one CBOR map with a `type` key, in the style of the
//! automerge-repo protocol: per-document sync messages are `{type: "sync", documentId, data}`
//! with `data` a raw Automerge sync message. On top of that the batch frames carry change
//! chunks for many documents at once, the catalog catch-up, durable acknowledgements, and
//! device state.

use crate::Error;
use crate::doc::AccessFields;
use crate::ids::DocumentId;
use crate::model::Header;
use serde::{Deserialize, Serialize};

/// Protocol version spoken by this build.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest frame accepted, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// Largest change chunk or document accepted, in bytes.
pub const MAX_DOC_BYTES: usize = 4 * 1024 * 1024;
/// Most documents in one batch frame.
pub const MAX_DOCS_PER_FRAME: usize = 2_000;
/// Most access-log rows in one frame.
pub const MAX_LOG_ENTRIES: usize = 5_000;

/// Changes of one document: a saved document, or change chunks (`save_after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocChanges {
    /// Document.
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    /// Automerge bytes (a saved document or incremental chunks), applied with
    /// `load_incremental`.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// Server to device, with a whole document only: its heads (hex), for which the server
    /// also sends `summary`. Empty otherwise (and not written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<String>,
    /// Server to device, with `heads`: the server's summary of the document at those heads
    /// (`doc::Summary::to_wire`), so a device that does not hold the document can store it
    /// and its projections without loading it (docs/protocol.md).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub summary: Option<Vec<u8>>,
}

impl DocChanges {
    /// Changes (or a whole document) without heads or summary.
    pub fn new(document_id: DocumentId, data: Vec<u8>) -> DocChanges {
        DocChanges {
            document_id,
            data,
            heads: Vec::new(),
            summary: None,
        }
    }
}

/// What the client asks for in a [`Frame::Fetch`]: the changes after the heads it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// Document.
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    /// Hex heads the client holds (empty: send the whole document).
    pub have: Vec<String>,
}

/// One catalog entry: enough to decide whether to sync a document, without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Document.
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    /// Its immutable header.
    pub header: Header,
    /// Its access-relevant fields.
    pub fields: AccessFields,
    /// Hex heads on the server (sorted).
    pub heads: Vec<String>,
    /// Server sequence of its last change.
    pub seq: u64,
}

/// Heads the server has made durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    /// Document.
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    /// Hex heads now durable on the server (sorted).
    pub heads: Vec<String>,
}

/// Why the server refused a document's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// No write access, a write the user's roles do not allow, or one in another person's
    /// name (see `model::rules::Refusal`).
    Forbidden,
    /// A change's actor is not this device's actor.
    ForgedActor,
    /// Not a valid record of its kind, a changed header, or something recorded changed or
    /// removed (a shared signal's original, a follow-up, an entry).
    InvalidRecord,
    /// Too large.
    TooLarge,
    /// Bytes that are not Automerge.
    Malformed,
    /// The changes depend on changes the server does not have: send the whole document.
    MissingDeps,
    /// The document was erased. No longer sent: an erased document answers like one that
    /// never existed (docs/protocol.md, "No existence oracle"); kept for older servers.
    Erased,
}

/// A refused document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Document.
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    /// Why.
    pub reason: RefusalReason,
}

/// One uploaded row of a device's local read log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadLogEntry {
    /// Device-local sequence.
    pub seq: i64,
    /// Document read.
    #[serde(rename = "documentId")]
    pub document_id: DocumentId,
    /// Kind of document.
    pub kind: String,
    /// When read (device clock, unix ms).
    pub at: i64,
}

/// Most documents or items an outbox report counts (more are reported as this many).
pub const MAX_OUTBOX_COUNT: u64 = 1_000_000;
/// Longest age of the oldest waiting change an outbox report gives, ms (ten years; older is
/// reported as this).
pub const MAX_OUTBOX_AGE_MS: u64 = 10 * 365 * 24 * 3_600_000;

/// A device's outbox, counts only (docs/protocol.md, "Outbox state"): what it sends in
/// `hello` and in [`Frame::Outbox`], so the school's admin sees which devices hold changes
/// the server has not got. Never a document id, a pupil or any content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxState {
    /// Documents with changes no server has acknowledged (the outbox).
    pub pending: u64,
    /// Changes the server refused for good, kept on the device for their author.
    #[serde(rename = "notAccepted")]
    pub not_accepted: u64,
    /// How long ago, in ms when the report was sent, the oldest waiting document was last
    /// changed on the device; absent when nothing waits. An age rather than a time, so the
    /// device's clock does not matter.
    #[serde(rename = "oldestAge", default, skip_serializing_if = "Option::is_none")]
    pub oldest_age: Option<u64>,
}

impl OutboxState {
    /// Within the bounds ([`MAX_OUTBOX_COUNT`], [`MAX_OUTBOX_AGE_MS`]), and no age when
    /// nothing waits: what a server keeps of a report, whatever a device sent.
    pub fn clamped(self) -> OutboxState {
        OutboxState {
            pending: self.pending.min(MAX_OUTBOX_COUNT),
            not_accepted: self.not_accepted.min(MAX_OUTBOX_COUNT),
            oldest_age: self
                .oldest_age
                .filter(|_| self.pending > 0)
                .map(|a| a.min(MAX_OUTBOX_AGE_MS)),
        }
    }

    /// Whether a device sent values beyond the bounds (or an age with nothing waiting).
    pub fn out_of_bounds(&self) -> bool {
        self.clamped() != *self
    }
}

/// Signals of one category in one month, in [`Frame::Register`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterSignals {
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Category id.
    pub category: String,
    /// `normal`, `anti_bullying`, `meldcode` or `board`.
    pub route: String,
    /// The count, or `< threshold`.
    pub count: String,
}

/// Meldcode cases of one month, in [`Frame::Register`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterCases {
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Opened (a count, or `< threshold`).
    pub opened: String,
    /// Closed (a count, or `< threshold`).
    pub closed: String,
}

/// Why bytes are not a frame ([`Frame::decode`]): the wire's `too_large` and `malformed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Over the size limits: the whole frame, documents per frame, bytes per document,
    /// read-log entries per frame.
    #[error("frame exceeds the limits")]
    TooLarge,
    /// Not CBOR, not a map with a known `type`, or fields of the wrong type.
    #[error("frame is not a valid CBOR frame")]
    Malformed,
}

impl FrameError {
    /// The error code a server answers with.
    pub fn code(self) -> ErrorCode {
        match self {
            FrameError::TooLarge => ErrorCode::TooLarge,
            FrameError::Malformed => ErrorCode::Malformed,
        }
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Error {
        Error::Protocol(e.to_string())
    }
}

/// Error codes of [`Frame::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Frame not understood.
    Malformed,
    /// Frame over the size limits.
    TooLarge,
    /// Protocol version not supported.
    UnsupportedVersion,
    /// No or bad token.
    Unauthorized,
    /// The enrollment code is unknown, used or expired.
    BadEnrollmentCode,
    /// Too many connections of this device.
    TooManyConnections,
    /// Server-side failure; nothing was acknowledged.
    Internal,
    /// A request (`/v1/request`) for a document or pupil the user may not see, or that
    /// does not exist: the two look the same.
    NotFound,
    /// A request the user's role does not allow.
    Forbidden,
}

impl ErrorCode {
    /// The wire name (as in `error {code}`), also the label of the server's metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::BadEnrollmentCode => "bad_enrollment_code",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::Internal => "internal",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
        }
    }
}

/// A protocol frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Frame {
    // ---- both directions ----
    /// An automerge-repo style per-document sync message (raw Automerge sync message).
    Sync {
        /// Document.
        #[serde(rename = "documentId")]
        document_id: DocumentId,
        /// Raw `automerge::sync::Message` bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },

    // ---- client to server ----
    /// First frame on `/v1/sync`: catalog catch-up from `cursor` (0: from the start).
    Hello {
        /// Protocol version.
        protocol: u32,
        /// Catalog cursor the device holds.
        cursor: u64,
        /// The server store's lineage the cursor belongs to (from an earlier catalog);
        /// None on a first sync. A server whose store was restored from a backup has
        /// another: it then catches the device up from the start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
        /// The device's outbox when it connects (counts only); absent from devices built
        /// before it was added.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outbox: Option<OutboxState>,
    },
    /// The device's outbox changed while connected (sent at most once per sync round, when
    /// the round is done): counts only, like `hello`'s `outbox`. No answer.
    Outbox {
        /// Documents with changes no server has acknowledged.
        pending: u64,
        /// Changes refused for good, kept for their author.
        #[serde(rename = "notAccepted")]
        not_accepted: u64,
        /// Age of the oldest waiting change, ms; absent when nothing waits.
        #[serde(rename = "oldestAge", default, skip_serializing_if = "Option::is_none")]
        oldest_age: Option<u64>,
    },
    /// Changes of many documents; the server answers with one [`Frame::Ack`] after commit
    /// (and a [`Frame::Refused`] for any it refuses).
    Push {
        /// Changes per document.
        docs: Vec<DocChanges>,
    },
    /// Ask for the changes after the heads the device has.
    Fetch {
        /// Requests.
        docs: Vec<FetchRequest>,
    },
    /// Upload of the local read log; answered with [`Frame::LogAck`].
    ReadLog {
        /// Rows.
        entries: Vec<ReadLogEntry>,
    },
    /// First frame on `/v1/enroll`: exchange a one-time code for a device token.
    Enroll {
        /// The one-time code.
        code: String,
        /// The device's Automerge actor id, hex.
        actor: String,
        /// A label for the device list ("iPad IB").
        label: String,
    },

    /// `/v1/request`: erase a whole record that should never have been written (a care
    /// coordinator, or the author of a private working note or a draft signal). Answered
    /// with [`Frame::Erased`] or an error (`not_found`, `forbidden`).
    EraseRecord {
        /// Document.
        #[serde(rename = "documentId")]
        document_id: DocumentId,
    },
    /// `/v1/request`: the inzage dossier of a pupil, built by the server from what this user
    /// may read (care coordinators). Answered with [`Frame::Dossier`] or an error.
    ExportDossier {
        /// Pupil id.
        pupil: String,
        /// Date of the parents' request, `YYYY-MM-DD`.
        #[serde(rename = "requestedOn")]
        requested_on: String,
    },

    /// `/v1/request`: open or close a pupil's care track (care coordinators), with a reason
    /// code (`signal`, `care_meeting`, `parents`, `external`, `goals_met`, `moved_school`,
    /// `other`). Answered with [`Frame::CareTrack`] or an error.
    SetCareTrack {
        /// Pupil id.
        pupil: String,
        /// Open (true) or close (false).
        #[serde(rename = "inCare")]
        in_care: bool,
        /// Reason code.
        reason: String,
    },

    /// `/v1/request`: the school's incident register from month `from` to `to` (`YYYY-MM`):
    /// the school leader, the anti-bullying coordinator and the care team. Answered with
    /// [`Frame::Register`] or an error.
    IncidentRegister {
        /// First month.
        from: String,
        /// Last month.
        to: String,
    },

    /// `/v1/request`: change the school's settings (the school leader): a JSON object of
    /// settings (docs/protocol.md, "School settings"), each key it holds replacing that
    /// setting, `null` resetting it. Answered with [`Frame::SchoolSettings`] or an error.
    SetSchoolSettings {
        /// The JSON object.
        settings: String,
    },
    /// `/v1/request`: start a pupil session (pupil mode) for `group`, valid `hours` (1 to
    /// [`crate::model::pupil_session::MAX_SESSION_HOURS`]): a teacher or mentor of the
    /// group. Answered with [`Frame::PupilSession`] or an error.
    StartPupilSession {
        /// Group id.
        group: String,
        /// How long the session's credential works.
        hours: u32,
    },

    // ---- server to client ----
    /// The school's settings after a [`Frame::SetSchoolSettings`]: the whole settings as
    /// JSON (devices read them from the roster document at their next sync).
    SchoolSettings {
        /// The JSON object.
        settings: String,
    },
    /// A pupil session was started: a one-time enrollment code for the session's own store
    /// (spent on `/v1/enroll` at once: it expires in ten minutes) and the scope its device
    /// gets.
    PupilSession {
        /// The one-time code.
        code: String,
        /// The scope (session id, group, scale per age band, expiry).
        scope: crate::model::PupilScope,
    },
    /// The incident register: counts only, small ones shown as `< threshold`.
    Register {
        /// Counts under this show as "< threshold".
        threshold: u32,
        /// Shared signals per month and category.
        signals: Vec<RegisterSignals>,
        /// Meldcode cases opened and closed per month.
        cases: Vec<RegisterCases>,
        /// The same as CSV.
        csv: String,
    },
    /// The pupil's care track is as asked; the roster changed (devices learn it at their
    /// next sync, and access follows).
    CareTrack {
        /// Pupil id.
        pupil: String,
        /// In care now.
        #[serde(rename = "inCare")]
        in_care: bool,
    },
    /// The record is erased on the server; every device purges it.
    Erased {
        /// Document.
        #[serde(rename = "documentId")]
        document_id: DocumentId,
    },
    /// The inzage dossier: the same content as a PDF and as JSON.
    Dossier {
        /// The dossier as JSON (sync-server `dossier::Dossier`).
        json: String,
        /// The dossier as a PDF.
        #[serde(with = "serde_bytes")]
        pdf: Vec<u8>,
    },
    /// Answer to enrollment.
    Enrolled {
        /// The device token (256-bit, base58). Shown once; the server keeps only its hash.
        token: String,
        /// School.
        school: String,
        /// Staff id of the user.
        user: String,
        /// Device id.
        device: String,
    },
    /// Catalog catch-up (possibly in several frames; `complete` on the last).
    Catalog {
        /// Entries the user may read that changed since the cursor.
        entries: Vec<CatalogEntry>,
        /// Documents the user may no longer read, or that were erased: purge them.
        purge: Vec<DocumentId>,
        /// The cursor to resume from next time (valid once `complete`).
        cursor: u64,
        /// Last frame of this catch-up.
        complete: bool,
        /// The lineage of the server's store (random; new when it is restored from a
        /// backup). Cursors compare only within one. When it differs from the one the
        /// device sent, this catch-up lists everything the user may read, and a document
        /// the device holds beyond it (or that it does not list) is sent again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<String>,
    },
    /// Document changes: answers to a fetch, and live pushes of others' changes.
    Docs {
        /// Changes per document.
        docs: Vec<DocChanges>,
        /// New catalog cursor covering these documents (0: unchanged).
        cursor: u64,
    },
    /// These heads are durable on the server.
    Ack {
        /// Per document.
        docs: Vec<Acked>,
    },
    /// Documents whose changes were refused (nothing of them was stored).
    Refused {
        /// Per document.
        docs: Vec<Refusal>,
    },
    /// Read-log rows up to `seq` are stored on the server.
    LogAck {
        /// Highest stored device sequence.
        seq: i64,
    },
    /// Purge these documents now (access ended while connected, or erasure).
    Purge {
        /// Documents.
        docs: Vec<DocumentId>,
    },
    /// This device was revoked: wipe the store. The server closes the connection.
    Revoked {},
    /// A protocol error; the server closes the connection after it.
    Error {
        /// Code.
        code: ErrorCode,
        /// Human text, never with care content.
        message: String,
    },

    /// A frame of a type this build does not know (a newer peer's; new frame types are
    /// additive): read so that it can be ignored, never sent.
    #[serde(other)]
    Unknown,
}

/// The value of `type` if it is the first key of the CBOR map `bytes` (a definite map and
/// a short text key and value, as this codec writes frames); None otherwise.
fn first_type(bytes: &[u8]) -> Option<&str> {
    let rest = match bytes.first()? {
        0xa1..=0xb7 => &bytes[1..],
        0xb8 => bytes.get(2..)?,
        _ => return None,
    };
    let rest = rest.strip_prefix(b"\x64type")?;
    let len = match rest.first()? {
        b @ 0x60..=0x77 => usize::from(b - 0x60),
        _ => return None,
    };
    std::str::from_utf8(rest.get(1..1 + len)?).ok()
}

/// The fields of the bulk frames, read without serde's buffered copy (see
/// [`Frame::decode`]); `type` is left to serde's "unknown field" skipping.
mod bulk {
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct Catalog {
        pub entries: Vec<CatalogEntry>,
        pub purge: Vec<DocumentId>,
        pub cursor: u64,
        pub complete: bool,
        #[serde(default)]
        pub epoch: Option<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct Docs {
        pub docs: Vec<DocChanges>,
        pub cursor: u64,
    }

    #[derive(Deserialize)]
    pub(super) struct Push {
        pub docs: Vec<DocChanges>,
    }

    #[derive(Deserialize)]
    pub(super) struct Fetch {
        pub docs: Vec<FetchRequest>,
    }
}

impl Frame {
    /// An `outbox` frame of `state`.
    pub fn outbox(state: OutboxState) -> Frame {
        Frame::Outbox {
            pending: state.pending,
            not_accepted: state.not_accepted,
            oldest_age: state.oldest_age,
        }
    }

    /// Encode as CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = ciborium::into_writer(self, &mut out);
        out
    }

    /// Decode CBOR, checking the size limits. Never panics on hostile input.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Frame, FrameError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge);
        }
        let bad = |_| FrameError::Malformed;
        // The bulk frames (one per thousands of entries or documents) are read straight
        // into their fields when `type` comes first, as this codec writes it. Serde reads
        // an internally tagged enum through a buffered copy of the whole frame first,
        // which doubles the cost of a 2,000-entry catalog.
        let frame = match first_type(bytes) {
            Some("catalog") => ciborium::from_reader::<bulk::Catalog, _>(bytes)
                .map(|b| Frame::Catalog {
                    entries: b.entries,
                    purge: b.purge,
                    cursor: b.cursor,
                    complete: b.complete,
                    epoch: b.epoch,
                })
                .map_err(bad)?,
            Some("docs") => ciborium::from_reader::<bulk::Docs, _>(bytes)
                .map(|b| Frame::Docs {
                    docs: b.docs,
                    cursor: b.cursor,
                })
                .map_err(bad)?,
            Some("push") => ciborium::from_reader::<bulk::Push, _>(bytes)
                .map(|b| Frame::Push { docs: b.docs })
                .map_err(bad)?,
            Some("fetch") => ciborium::from_reader::<bulk::Fetch, _>(bytes)
                .map(|b| Frame::Fetch { docs: b.docs })
                .map_err(bad)?,
            _ => ciborium::from_reader::<Frame, _>(bytes).map_err(bad)?,
        };
        frame.check_limits()?;
        Ok(frame)
    }

    fn check_limits(&self) -> std::result::Result<(), FrameError> {
        let too_large = || Err(FrameError::TooLarge);
        match self {
            Frame::Push { docs } | Frame::Docs { docs, .. }
                if docs.len() > MAX_DOCS_PER_FRAME
                    || docs.iter().any(|d| d.data.len() > MAX_DOC_BYTES) =>
            {
                return too_large();
            }
            Frame::Fetch { docs } if docs.len() > MAX_DOCS_PER_FRAME => return too_large(),
            Frame::ReadLog { entries } if entries.len() > MAX_LOG_ENTRIES => return too_large(),
            Frame::Sync { data, .. } if data.len() > MAX_DOC_BYTES => return too_large(),
            _ => {}
        }
        Ok(())
    }

    /// The frame's type name (for metrics and logs; never content).
    pub fn type_name(&self) -> &'static str {
        match self {
            Frame::Sync { .. } => "sync",
            Frame::Hello { .. } => "hello",
            Frame::Outbox { .. } => "outbox",
            Frame::Push { .. } => "push",
            Frame::Fetch { .. } => "fetch",
            Frame::ReadLog { .. } => "readLog",
            Frame::Enroll { .. } => "enroll",
            Frame::Enrolled { .. } => "enrolled",
            Frame::Catalog { .. } => "catalog",
            Frame::Docs { .. } => "docs",
            Frame::Ack { .. } => "ack",
            Frame::Refused { .. } => "refused",
            Frame::LogAck { .. } => "logAck",
            Frame::Purge { .. } => "purge",
            Frame::Revoked {} => "revoked",
            Frame::Error { .. } => "error",
            Frame::EraseRecord { .. } => "eraseRecord",
            Frame::ExportDossier { .. } => "exportDossier",
            Frame::Erased { .. } => "erased",
            Frame::Dossier { .. } => "dossier",
            Frame::SetCareTrack { .. } => "setCareTrack",
            Frame::IncidentRegister { .. } => "incidentRegister",
            Frame::Register { .. } => "register",
            Frame::CareTrack { .. } => "careTrack",
            Frame::SetSchoolSettings { .. } => "setSchoolSettings",
            Frame::SchoolSettings { .. } => "schoolSettings",
            Frame::StartPupilSession { .. } => "startPupilSession",
            Frame::PupilSession { .. } => "pupilSession",
            Frame::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests;
