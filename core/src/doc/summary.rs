//! What list views need of a document ([`Summary`]): header, access fields and the projected
//! columns per kind, read in one pass; and the heads of saved document bytes.

use super::{AccessFields, HEADER_KEY, Hydrated, RECORD_KEY};
use crate::Result;
use crate::ids::DocumentId;
use crate::model::Header;
use automerge::Automerge;
use serde::{Deserialize, Serialize};

/// One thermometer entry as list views need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThermometerRow {
    /// Entry id.
    pub id: String,
    /// Unix ms.
    pub at: i64,
    /// Scale id.
    pub scale: String,
    /// Score.
    pub score: u8,
    /// Asks to talk.
    pub wants_to_talk: bool,
    /// Staff id who recorded it (or under whose pupil session).
    pub recorded_by: String,
    /// The pupil entered it herself (pupil mode).
    pub by_pupil: bool,
    /// Its request to talk was answered on this date (`YYYY-MM-DD`).
    pub answered_on: Option<String>,
}

/// What list views need of a document: header, access fields and the projected columns.
///
/// Read from one walk over the document ([`Hydrated`]) instead of the typed autosurgeon
/// records: for a signal with ten follow-ups that is ~36 µs instead of ~180 µs,
/// and it runs for every document a device merges. The typed records stay the one way
/// to read and write content; this only feeds projections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Header.
    pub header: Header,
    /// Access-relevant fields.
    pub fields: AccessFields,
    /// Projected columns.
    pub body: SummaryBody,
}

/// Projected columns per kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SummaryBody {
    /// A kindgesprek.
    Conversation {
        /// Date held.
        held_on: String,
        /// Status (typed, unknown = draft).
        status: crate::model::ConversationStatus,
        /// Visibility (typed, unknown = private).
        visibility: crate::model::Visibility,
        /// Template.
        template_id: String,
        /// Agreements not done.
        open_agreements: i64,
        /// Agreements not done that have a follow-up date: (id, owner, due `YYYY-MM-DD`).
        #[serde(default)]
        due_agreements: Vec<(String, String, String)>,
    },
    /// A signal.
    Signal {
        /// Category id.
        category: String,
        /// 0-3.
        urgency: u8,
        /// Unix ms.
        observed_at: i64,
        /// Unix ms.
        recorded_at: i64,
        /// Shared.
        shared: bool,
        /// No `closed` entry.
        open: bool,
        /// A `picked_up` entry.
        picked_up: bool,
        /// Number of entries.
        follow_ups: i64,
        /// Excursion id.
        excursion: Option<String>,
    },
    /// A thermometer month's entries.
    Thermometer(Vec<ThermometerRow>),
    /// A meldcode case.
    Case {
        /// Open or closed.
        status: crate::model::CaseStatus,
        /// Unix ms.
        opened_at: i64,
        /// The furthest step with anything recorded (0-5).
        step: u8,
        /// Linked signals.
        signals: i64,
        /// Veilig Thuis's feedback is due on this date and has not come yet.
        feedback_due: Option<String>,
        /// Evaluation date of the help organised.
        evaluation_on: Option<String>,
    },
    /// An excursion.
    Excursion {
        /// Name.
        name: String,
        /// First day.
        starts_on: String,
        /// Last day.
        ends_on: String,
        /// Pupils going.
        participants: i64,
    },
    /// An oudercontact.
    ParentContact {
        /// Date of the contact.
        held_on: String,
        /// Status (typed, unknown = draft).
        status: crate::model::ConversationStatus,
        /// How it took place.
        channel: String,
        /// Agreements not done.
        open_agreements: i64,
    },
    /// Nothing projected.
    Other,
}

/// Version of [`Summary::to_wire`]. Bump it whenever what a summary holds, or how it is read
/// from a document, changes: a device then takes an older server's summaries for unknown
/// and summarises such documents itself.
pub const SUMMARY_VERSION: u32 = 3;

impl Summary {
    /// The summary as the server stores it next to a document's heads and sends it with the
    /// whole document to a device that does not hold it yet: CBOR of
    /// `[SUMMARY_VERSION, summary]`. It holds no note text (see [`Summary`]).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = ciborium::into_writer(&(SUMMARY_VERSION, self), &mut out);
        out
    }

    /// Read [`Summary::to_wire`]: None for another version or anything malformed.
    pub fn from_wire(bytes: &[u8]) -> Option<Summary> {
        let (version, summary): (u32, Summary) = ciborium::from_reader(bytes).ok()?;
        (version == SUMMARY_VERSION).then_some(summary)
    }
}

/// The heads a saved document declares, sorted, if `bytes` are exactly one Automerge
/// document chunk (nothing before or after it) whose checksum matches its contents; else
/// None. This costs one SHA-256 of the bytes instead of a load (~2 us instead of ~55 for a
/// small signal). A strict `Automerge::load` of such bytes either fails or has exactly these
/// heads (it checks the declared heads against the changes it rebuilds), so a device can
/// check a whole document a server sends against the heads the server claims for it and
/// store it without loading it (see `Store::merge_many_acked`).
///
/// The chunk layout is Automerge's binary format: magic bytes, a 4-byte checksum (the
/// first bytes of the SHA-256 of chunk type, LEB128 length and contents), chunk type 0
/// (document), the LEB128 length, then the contents, which start with the actor ids
/// (count, then length-prefixed ids) and the heads (count, then 32 bytes each).
pub fn saved_heads(bytes: &[u8]) -> Option<Vec<automerge::ChangeHash>> {
    use sha2::{Digest, Sha256};
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    const DOCUMENT_CHUNK: u8 = 0;
    let rest = bytes.strip_prefix(&MAGIC)?;
    let (checksum, rest) = rest.split_first_chunk::<4>()?;
    let (&chunk_type, mut contents) = rest.split_first()?;
    if chunk_type != DOCUMENT_CHUNK {
        return None;
    }
    let len = leb128::read::unsigned(&mut contents).ok()?;
    if contents.len() as u64 != len {
        return None;
    }
    // Hashed as Automerge hashes it: over the length as it writes it.
    let mut prefix = vec![chunk_type];
    leb128::write::unsigned(&mut prefix, len).ok()?;
    let hash = Sha256::new()
        .chain_update(&prefix)
        .chain_update(contents)
        .finalize();
    if hash[..4] != checksum[..] {
        return None;
    }
    let mut data = contents;
    let actors = leb128::read::unsigned(&mut data).ok()?;
    for _ in 0..actors {
        let n = usize::try_from(leb128::read::unsigned(&mut data).ok()?).ok()?;
        data = data.get(n..)?;
    }
    let count = leb128::read::unsigned(&mut data).ok()?;
    let mut heads = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let (h, rest) = data.split_first_chunk::<32>()?;
        heads.push(automerge::ChangeHash(*h));
        data = rest;
    }
    heads.sort();
    Some(heads)
}

/// Read a document's [`Summary`] (see there). A document that is not a valid record of
/// its kind is an error, never a panic.
pub fn summarize(id: DocumentId, doc: &Automerge) -> Result<Summary> {
    Hydrated::walk(id, doc, Some(summary_key))?.summary()
}

/// Whether a [`Summary`] reads map entries of key `k` (at any depth): [`summarize`] builds
/// only these (note text and other content are walked past, not copied).
pub(super) fn summary_key(k: &str) -> bool {
    k.starts_with(crate::model::thermometer::ANSWER_PREFIX)
        || matches!(
            k,
            HEADER_KEY
            | RECORD_KEY
        // header
            | "kind"
            | "school"
            | "pupil"
            | "author"
            | "created_at"
            | "schema"
        // conversation
            | "visibility"
            | "held_on"
            | "status"
            | "template_id"
            | "agreements"
            | "done"
            | "owner"
            | "due"
        // signal
            | "urgency"
            | "category"
            | "observed_at"
            | "recorded_at"
            | "shared"
            | "follow_ups"
            | "context"
            | "excursion"
            | "added_readers"
        // thermometer
            | "entries"
            | "id"
            | "at"
            | "scale"
            | "score"
            | "wants_to_talk"
            | "recorded_by"
            | "source"
            | "entry"
            | "on"
        // case
            | "opened_at"
            | "signals"
            | "steps"
            | "step"
            | "weighing"
            | "help"
            | "report"
            | "feedback_due"
            | "feedback_on"
            | "evaluation_on"
        // roster
            | "viewer"
        // excursion
            | "name"
            | "starts_on"
            | "ends_on"
            | "participants"
            | "staff"
        // oudercontact (besides held_on, status, agreements, done, staff)
            | "channel"
        // sociogram (besides status): the group, their access
            | "group"
        )
}
