//! Opening, creating and editing record documents.

use crate::ids::DocumentId;
use crate::model::{
    Case, Conversation, Excursion, Header, Kind, ParentContact, Record, Roster, Signal,
    SignalNotes, SociogramAnswers, SociogramRound, ThermometerMonth,
};
use crate::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ROOT};
use serde::{Deserialize, Serialize};

/// Key of the header in the document root.
pub const HEADER_KEY: &str = "header";
/// Key of the record in the document root.
pub const RECORD_KEY: &str = "record";
/// Root key of a roster document's school settings ([`crate::model::SchoolSettings`]).
pub const SETTINGS_KEY: &str = "settings";

/// Read the header of a document.
pub fn header(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<Header> {
    autosurgeon::hydrate_prop(doc, ROOT, HEADER_KEY).map_err(|e| Error::InvalidDocument {
        id,
        kind: "any",
        reason: format!("header: {e}"),
    })
}

/// That a document's header names kind `R`.
fn check_kind<R: Record>(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<()> {
    if header(id, doc)?.kind != R::KIND.as_str() {
        return Err(Error::InvalidDocument {
            id,
            kind: R::KIND.as_str(),
            reason: "document has another kind".into(),
        });
    }
    Ok(())
}

/// Read the typed record of a document, checking its kind.
pub fn record<R: Record>(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<R> {
    check_kind::<R>(id, doc)?;
    autosurgeon::hydrate_prop(doc, ROOT, RECORD_KEY).map_err(|e| Error::InvalidDocument {
        id,
        kind: R::KIND.as_str(),
        reason: e.to_string(),
    })
}

/// Reconcile header and record into a fresh document as `actor`, committed at `time_s`.
fn genesis<R: Record>(
    actor: ActorId,
    time_s: i64,
    header: &Header,
    record: &R,
) -> Result<Automerge> {
    let mut doc = Automerge::new().with_actor(actor);
    let mut tx = doc.transaction();
    autosurgeon::reconcile_prop(&mut tx, ROOT, HEADER_KEY, header)?;
    autosurgeon::reconcile_prop(&mut tx, ROOT, RECORD_KEY, record)?;
    tx.commit_with(CommitOptions::default().with_time(time_s));
    Ok(doc)
}

/// A new document with `header` and `record`, written by `actor` at `now_ms`.
pub fn create<R: Record>(
    actor: ActorId,
    now_ms: i64,
    header: &Header,
    record: &R,
) -> Result<Automerge> {
    genesis(actor, now_ms / 1000, header, record)
}

/// The genesis of a singleton document (one per pupil and month, one roster per school):
/// a fixed actor derived from the id, time zero, so every device that creates it offline
/// produces the very same change and the two creations merge into one.
pub fn genesis_singleton<R: Record>(
    id: DocumentId,
    header: &Header,
    record: &R,
) -> Result<Automerge> {
    genesis(ActorId::from(id.as_bytes().to_vec()), 0, header, record)
}

/// Apply `edit` to the typed record of `doc` as `actor`, in one change. Returns whether
/// anything changed. On error nothing is changed.
pub fn update<R: Record>(
    id: DocumentId,
    doc: &mut Automerge,
    actor: &ActorId,
    now_ms: i64,
    edit: impl FnOnce(&mut R) -> Result<()>,
) -> Result<bool> {
    check_kind::<R>(id, doc)?;
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    // Read inside the transaction: a text remembers the heads it was read at, and
    // reconciling it compares them with the transaction's base heads, which hold this
    // actor's last change besides the document's heads when the actor wrote before (so a
    // text read from the document itself is "stale" as soon as another actor wrote since).
    let mut value: R = match autosurgeon::hydrate_prop(&tx, ROOT, RECORD_KEY) {
        Ok(v) => v,
        Err(e) => {
            tx.rollback();
            return Err(Error::InvalidDocument {
                id,
                kind: R::KIND.as_str(),
                reason: e.to_string(),
            });
        }
    };
    if let Err(e) = edit(&mut value) {
        tx.rollback();
        return Err(e);
    }
    autosurgeon::reconcile_prop(&mut tx, ROOT, RECORD_KEY, &value)?;
    if tx.pending_ops() == 0 {
        tx.rollback();
        return Ok(false);
    }
    tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    Ok(true)
}

/// Bring a roster document (the school's roster or a member's view) from `old`, the
/// record it holds now, to `new` as one change written by `actor`; false if nothing changed.
///
/// Only what differs is reconciled: a pupil, group or staff member whose entry changed, one
/// added or removed, a top-level field. Reconciling the whole record instead reads every
/// field of every pupil back from Automerge, which made a roster change cost the school's
/// size once per staff member. `old` must be what the document holds (hydrated from it);
/// a document without the record or its maps is reconciled whole.
pub fn update_roster(
    id: DocumentId,
    doc: &mut Automerge,
    actor: &ActorId,
    now_ms: i64,
    old: &Roster,
    new: &Roster,
) -> Result<bool> {
    use automerge::{ObjType, ReadDoc, Value};
    if old == new {
        return Ok(false);
    }
    check_kind::<Roster>(id, doc)?;
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    let map_at = |tx: &automerge::transaction::Transaction<'_>,
                  obj: &automerge::ObjId,
                  key: &str| match tx.get(obj, key) {
        Ok(Some((Value::Object(ObjType::Map), o))) => Some(o),
        _ => None,
    };
    let record = map_at(&tx, &ROOT, RECORD_KEY);
    let maps = record.as_ref().and_then(|r| {
        Some((
            r.clone(),
            map_at(&tx, r, "pupils")?,
            map_at(&tx, r, "groups")?,
            map_at(&tx, r, "staff")?,
        ))
    });
    match maps {
        Some((record, pupils, groups, staff)) => {
            reconcile_entries(&mut tx, &pupils, &old.pupils, &new.pupils)?;
            reconcile_entries(&mut tx, &groups, &old.groups, &new.groups)?;
            reconcile_entries(&mut tx, &staff, &old.staff, &new.staff)?;
            if old.school != new.school {
                autosurgeon::reconcile_prop(&mut tx, &record, "school", &new.school)?;
            }
            if old.offline_lease_days != new.offline_lease_days {
                autosurgeon::reconcile_prop(
                    &mut tx,
                    &record,
                    "offline_lease_days",
                    new.offline_lease_days,
                )?;
            }
            if old.viewer != new.viewer {
                autosurgeon::reconcile_prop(&mut tx, &record, "viewer", &new.viewer)?;
            }
            if old.parent_names != new.parent_names {
                autosurgeon::reconcile_prop(&mut tx, &record, "parent_names", new.parent_names)?;
            }
        }
        None => autosurgeon::reconcile_prop(&mut tx, ROOT, RECORD_KEY, new)?,
    }
    if tx.pending_ops() == 0 {
        tx.rollback();
        return Ok(false);
    }
    tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    Ok(true)
}

/// Reconcile the entries of map `obj` that differ between `old` and `new`, and delete the
/// ones `new` lacks.
fn reconcile_entries<V: autosurgeon::Reconcile + PartialEq>(
    tx: &mut automerge::transaction::Transaction<'_>,
    obj: &automerge::ObjId,
    old: &std::collections::BTreeMap<String, V>,
    new: &std::collections::BTreeMap<String, V>,
) -> Result<()> {
    for (k, v) in new {
        if old.get(k) != Some(v) {
            autosurgeon::reconcile_prop(&mut *tx, obj, k.as_str(), v)?;
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        tx.delete(obj, k.as_str())?;
    }
    Ok(())
}

/// The school settings in a roster document (defaults where none are set).
pub fn school_settings(doc: &impl autosurgeon::ReadDoc) -> crate::model::SchoolSettings {
    autosurgeon::hydrate_prop::<_, Option<crate::model::SchoolSettings>, _, _>(
        doc,
        &ROOT,
        SETTINGS_KEY,
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// Write the school settings into a roster document as one change; false if nothing
/// changed.
pub fn set_school_settings(
    doc: &mut Automerge,
    actor: &ActorId,
    now_ms: i64,
    settings: &crate::model::SchoolSettings,
) -> Result<bool> {
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    autosurgeon::reconcile_prop(&mut tx, ROOT, SETTINGS_KEY, settings)?;
    if tx.pending_ops() == 0 {
        tx.rollback();
        return Ok(false);
    }
    tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    Ok(true)
}

pub use crate::access::AccessFields;

/// The typed body of a document, hydrated once.
#[derive(Debug, Clone)]
pub enum Body {
    /// A kindgesprek.
    Conversation(Conversation),
    /// A signal.
    Signal(Signal),
    /// A thermometer month.
    Thermometer(ThermometerMonth),
    /// A roster.
    Roster(Box<Roster>),
    /// A meldcode case.
    Case(Box<Case>),
    /// An excursion.
    Excursion(Box<Excursion>),
    /// An oudercontact.
    ParentContact(Box<ParentContact>),
    /// The notes on a signal.
    SignalNotes(Box<SignalNotes>),
    /// A sociogram round.
    SociogramRound(Box<SociogramRound>),
    /// A pupil's sociogram answers.
    SociogramAnswers(Box<SociogramAnswers>),
}

/// A document read once: header, access fields and typed body.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Header.
    pub header: Header,
    /// Access-relevant fields.
    pub fields: AccessFields,
    /// Body.
    pub body: Body,
}

/// Read header, access fields and typed body of a document, hydrating it once.
pub fn parse(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<Parsed> {
    let header = header(id, doc)?;
    let (fields, body) = match header.kind()? {
        Kind::Conversation => {
            let c: Conversation = record(id, doc)?;
            (
                AccessFields {
                    visibility: Some(c.visibility.clone()),
                    ..Default::default()
                },
                Body::Conversation(c),
            )
        }
        Kind::Signal => {
            let s: Signal = record(id, doc)?;
            (AccessFields::of_signal(&s), Body::Signal(s))
        }
        Kind::Thermometer => {
            let m: ThermometerMonth = record(id, doc)?;
            (AccessFields::of_thermometer(&m), Body::Thermometer(m))
        }
        Kind::Roster => {
            let r: Roster = record(id, doc)?;
            (AccessFields::of_roster(&r), Body::Roster(Box::new(r)))
        }
        Kind::Case => (
            AccessFields::default(),
            Body::Case(Box::new(record(id, doc)?)),
        ),
        Kind::Excursion => {
            let e: Excursion = record(id, doc)?;
            (AccessFields::of_excursion(&e), Body::Excursion(Box::new(e)))
        }
        Kind::ParentContact => (
            AccessFields::default(),
            Body::ParentContact(Box::new(record(id, doc)?)),
        ),
        Kind::SignalNotes => {
            let n: SignalNotes = record(id, doc)?;
            (
                AccessFields::of_signal_notes(&n),
                Body::SignalNotes(Box::new(n)),
            )
        }
        Kind::SociogramRound => {
            let r: SociogramRound = record(id, doc)?;
            (
                AccessFields::of_sociogram_group(&r.group),
                Body::SociogramRound(Box::new(r)),
            )
        }
        Kind::SociogramAnswers => {
            let a: SociogramAnswers = record(id, doc)?;
            (
                AccessFields::of_sociogram_group(&a.group),
                Body::SociogramAnswers(Box::new(a)),
            )
        }
    };
    Ok(Parsed {
        header,
        fields,
        body,
    })
}

/// Read the access-relevant fields of a document of the given header.
pub fn access_fields(
    id: DocumentId,
    header: &Header,
    doc: &impl autosurgeon::ReadDoc,
) -> Result<AccessFields> {
    Ok(match header.kind()? {
        Kind::Conversation => {
            let c: Conversation = record(id, doc)?;
            AccessFields {
                visibility: Some(c.visibility),
                ..Default::default()
            }
        }
        Kind::Signal => {
            let s: Signal = record(id, doc)?;
            AccessFields::of_signal(&s)
        }
        Kind::Excursion => AccessFields::of_excursion(&record(id, doc)?),
        Kind::Roster => AccessFields::of_roster(&record(id, doc)?),
        Kind::SignalNotes => AccessFields::of_signal_notes(&record(id, doc)?),
        Kind::Thermometer => AccessFields::of_thermometer(&record(id, doc)?),
        Kind::SociogramRound => {
            AccessFields::of_sociogram_group(&record::<SociogramRound>(id, doc)?.group)
        }
        Kind::SociogramAnswers => {
            AccessFields::of_sociogram_group(&record::<SociogramAnswers>(id, doc)?.group)
        }
        _ => AccessFields::default(),
    })
}

/// The deterministic id of the notes on a signal ([`SignalNotes`]): from the signal's
/// school, pupil, id, category and urgency (its access), which never change once shared.
pub fn signal_notes_id(
    school: &str,
    pupil: &str,
    signal: DocumentId,
    category: &str,
    urgency: u8,
) -> DocumentId {
    DocumentId::derived(&[
        "signal-notes",
        school,
        pupil,
        &signal.to_string(),
        category,
        &urgency.to_string(),
    ])
}

/// The header of a signal's notes (deterministic: the system's, like a thermometer month).
pub fn signal_notes_header(school: &str, pupil: &str) -> Header {
    Header {
        kind: Kind::SignalNotes.as_str().into(),
        school: school.into(),
        pupil: Some(pupil.into()),
        author: "system".into(),
        created_at: 0,
        schema: crate::model::SCHEMA_VERSION,
    }
}

/// The genesis of the notes on the shared signal `signal` (of `school` and `pupil`, with
/// its `category` and `urgency`): the same document on every device that starts it.
pub fn signal_notes_genesis(
    school: &str,
    pupil: &str,
    signal: DocumentId,
    category: &str,
    urgency: u8,
) -> Result<(DocumentId, Automerge)> {
    let id = signal_notes_id(school, pupil, signal, category, urgency);
    let doc = genesis_singleton(
        id,
        &signal_notes_header(school, pupil),
        &SignalNotes {
            signal: signal.to_string(),
            category: category.into(),
            urgency,
            notes: vec![],
            added_readers: vec![],
        },
    )?;
    Ok((id, doc))
}

/// The deterministic id of a pupil's answers in a sociogram round: from the school, the
/// round, its group (their access) and the pupil.
pub fn sociogram_answers_id(
    school: &str,
    round: DocumentId,
    group: &str,
    pupil: &str,
) -> DocumentId {
    DocumentId::derived(&[
        "sociogram-answers",
        school,
        &round.to_string(),
        group,
        pupil,
    ])
}

/// The header of a pupil's sociogram answers (deterministic: the system's, like a
/// thermometer month).
pub fn sociogram_answers_header(school: &str, pupil: &str) -> Header {
    Header {
        kind: Kind::SociogramAnswers.as_str().into(),
        school: school.into(),
        pupil: Some(pupil.into()),
        author: "system".into(),
        created_at: 0,
        schema: crate::model::SCHEMA_VERSION,
    }
}

/// The genesis of a pupil's answers in round `round` of `group`: the same document on
/// every device that starts it (a mentor's phone, a pupil session).
pub fn sociogram_answers_genesis(
    school: &str,
    round: DocumentId,
    group: &str,
    pupil: &str,
) -> Result<(DocumentId, Automerge)> {
    let id = sociogram_answers_id(school, round, group, pupil);
    let doc = genesis_singleton(
        id,
        &sociogram_answers_header(school, pupil),
        &SociogramAnswers {
            round: round.to_string(),
            group: group.into(),
            answers: vec![],
        },
    )?;
    Ok((id, doc))
}

/// The deterministic id of a pupil's thermometer month.
pub fn thermometer_id(school: &str, pupil: &str, month: &str) -> DocumentId {
    DocumentId::derived(&["thermometer", school, pupil, month])
}

/// The deterministic id of a school's roster (the whole roster, which only the server
/// reads).
pub fn roster_id(school: &str) -> DocumentId {
    DocumentId::derived(&["roster", school])
}

/// The deterministic id of staff member `user`'s view of the school's roster
/// ([`Roster::view_for`]): what that member's devices hold.
pub fn roster_view_id(school: &str, user: &str) -> DocumentId {
    DocumentId::derived(&["roster-view", school, user])
}

/// The genesis of a staff member's roster view (empty; the server fills it).
pub fn roster_view_genesis(school: &str, user: &str) -> Result<(DocumentId, Automerge)> {
    let id = roster_view_id(school, user);
    let doc = genesis_singleton(
        id,
        &roster_header(school),
        &Roster {
            school: school.into(),
            viewer: Some(user.into()),
            ..Default::default()
        },
    )?;
    Ok((id, doc))
}

fn roster_header(school: &str) -> Header {
    Header {
        kind: Kind::Roster.as_str().into(),
        school: school.into(),
        pupil: None,
        author: "system".into(),
        created_at: 0,
        schema: crate::model::SCHEMA_VERSION,
    }
}

/// Header of a thermometer month (deterministic: same bytes on every device).
pub fn thermometer_header(school: &str, pupil: &str, month: &str) -> Header {
    let created_at = format!("{month}-01")
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0);
    Header {
        kind: Kind::Thermometer.as_str().into(),
        school: school.into(),
        pupil: Some(pupil.into()),
        author: "system".into(),
        created_at,
        schema: crate::model::SCHEMA_VERSION,
    }
}

/// The genesis of a thermometer month.
pub fn thermometer_genesis(
    school: &str,
    pupil: &str,
    month: &str,
) -> Result<(DocumentId, Automerge)> {
    let id = thermometer_id(school, pupil, month);
    let doc = genesis_singleton(
        id,
        &thermometer_header(school, pupil, month),
        &ThermometerMonth {
            month: month.into(),
            entries: vec![],
            answers: vec![],
        },
    )?;
    Ok((id, doc))
}

/// The genesis of a school's roster (empty; the server fills it).
pub fn roster_genesis(school: &str) -> Result<(DocumentId, Automerge)> {
    let id = roster_id(school);
    let doc = genesis_singleton(
        id,
        &roster_header(school),
        &Roster {
            school: school.into(),
            ..Default::default()
        },
    )?;
    Ok((id, doc))
}

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

mod summary {
    use serde_json::{Map, Value};

    pub(super) fn map(v: &Value) -> Option<&Map<String, Value>> {
        v.as_object()
    }
    pub(super) fn get<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
        m.get(k)
    }
    /// A string.
    pub(super) fn str(m: &Map<String, Value>, k: &str) -> Option<String> {
        m.get(k)?.as_str().map(str::to_string)
    }
    /// An integer (signed, unsigned within range, or timestamp).
    pub(super) fn int(m: &Map<String, Value>, k: &str) -> Option<i64> {
        m.get(k)?.as_i64()
    }
    pub(super) fn bool(m: &Map<String, Value>, k: &str) -> Option<bool> {
        m.get(k)?.as_bool()
    }
    /// The header, as autosurgeon reads it: strings, an optional pupil
    /// (missing or null: none), integer time and schema.
    pub(super) fn header(m: &Map<String, Value>) -> Option<crate::model::Header> {
        let pupil = match m.get("pupil") {
            None | Some(Value::Null) => None,
            Some(_) => Some(str(m, "pupil")?),
        };
        Some(crate::model::Header {
            kind: str(m, "kind")?,
            school: str(m, "school")?,
            pupil,
            author: str(m, "author")?,
            created_at: int(m, "created_at")?,
            schema: m.get("schema")?.as_u64()?,
        })
    }
    pub(super) fn list<'a>(m: &'a Map<String, Value>, k: &str) -> Vec<&'a Value> {
        match m.get(k) {
            Some(Value::Array(l)) => l.iter().collect(),
            _ => vec![],
        }
    }
}

/// Read a document's [`Summary`] (see there). A document that is not a valid record of
/// its kind is an error, never a panic.
pub fn summarize(id: DocumentId, doc: &Automerge) -> Result<Summary> {
    Hydrated::walk(id, doc, Some(summary_key))?.summary()
}

/// Whether a [`Summary`] reads map entries of key `k` (at any depth): [`summarize`] builds
/// only these (note text and other content are walked past, not copied).
fn summary_key(k: &str) -> bool {
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

/// A document read once (one walk of its objects): its header and the whole tree, from
/// which the summary and typed records are read without going back to the document.
/// Decoding a small record this way costs one pass instead of one per key.
pub struct Hydrated {
    id: DocumentId,
    /// The header, read from the tree.
    pub header: Header,
    tree: serde_json::Value,
    /// Map entries and list items read, and bytes of their strings and texts.
    size: (usize, usize),
}

impl std::fmt::Debug for Hydrated {
    // Never the tree: it holds note text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hydrated")
            .field("id", &self.id)
            .field("kind", &self.header.kind)
            .finish_non_exhaustive()
    }
}

impl Hydrated {
    /// Hydrate `doc` and read its header (an error if missing or mistyped).
    pub fn new(id: DocumentId, doc: &Automerge) -> Result<Hydrated> {
        Self::walk(id, doc, None)
    }

    /// [`Hydrated::new`] that stops once the document holds more than `budget` allows:
    /// `Ok(None)` then, before more than the budget was built in memory.
    pub fn bounded(
        id: DocumentId,
        doc: &Automerge,
        budget: ReadBudget,
    ) -> Result<Option<Hydrated>> {
        match tree(doc, None, Some(budget)) {
            Some((tree, size)) => Self::from_tree(id, tree, size).map(Some),
            None => Ok(None),
        }
    }

    /// Map entries and list items read (at any depth), and the bytes of their strings and
    /// texts: what [`Hydrated::bounded`] counted against its budget.
    pub fn size(&self) -> (usize, usize) {
        self.size
    }

    /// [`Hydrated::new`] keeping only map entries whose key passes `keep` (all if none).
    fn walk(id: DocumentId, doc: &Automerge, keep: Option<fn(&str) -> bool>) -> Result<Hydrated> {
        // Without a budget the walk always completes.
        let (tree, size) = tree(doc, keep, None).unwrap_or_default();
        Self::from_tree(id, tree, size)
    }

    fn from_tree(
        id: DocumentId,
        tree: serde_json::Value,
        size: (usize, usize),
    ) -> Result<Hydrated> {
        let header = summary::map(&tree)
            .and_then(|root| summary::get(root, HEADER_KEY))
            .and_then(summary::map)
            .and_then(summary::header)
            .ok_or_else(|| Error::InvalidDocument {
                id,
                kind: "any",
                reason: "header: missing or of the wrong type".into(),
            })?;
        Ok(Hydrated {
            id,
            header,
            tree,
            size,
        })
    }

    /// The typed record (serde over the tree), checking the kind: the same result as
    /// autosurgeon's for records without Automerge text (signals, thermometer months),
    /// about 3x cheaper.
    pub fn record<R: Record + serde::de::DeserializeOwned>(&self) -> Result<R> {
        let bad = |reason: String| Error::InvalidDocument {
            id: self.id,
            kind: R::KIND.as_str(),
            reason,
        };
        if self.header.kind != R::KIND.as_str() {
            return Err(bad("document has another kind".into()));
        }
        let rec = summary::map(&self.tree)
            .and_then(|m| m.get(RECORD_KEY))
            .ok_or_else(|| bad("record missing".into()))?;
        serde_json::from_value(rec.clone()).map_err(|e| bad(e.to_string()))
    }

    /// The document's [`Summary`].
    pub fn summary(self) -> Result<Summary> {
        use summary::*;
        let Hydrated {
            id, header, tree, ..
        } = self;
        let kind = header.kind()?;
        let bad = |what: &str| Error::InvalidDocument {
            id,
            kind: kind.as_str(),
            reason: format!("{what} missing or of the wrong type"),
        };
        let root = map(&tree).ok_or_else(|| bad("root"))?;
        let rec = get(root, RECORD_KEY)
            .and_then(map)
            .ok_or_else(|| bad("record"))?;
        let (fields, body) = match kind {
            Kind::Conversation => {
                let visibility = crate::model::Visibility::parse(
                    &str(rec, "visibility").ok_or_else(|| bad("visibility"))?,
                );
                let open: Vec<_> = list(rec, "agreements")
                    .into_iter()
                    .filter_map(map)
                    .filter(|a| !bool(a, "done").unwrap_or(false))
                    .collect();
                let open_agreements = open.len() as i64;
                let due_agreements = open
                    .iter()
                    .filter_map(|a| {
                        Some((
                            str(a, "id")?,
                            str(a, "owner").unwrap_or_default(),
                            str(a, "due")?,
                        ))
                    })
                    .collect();
                (
                    AccessFields {
                        visibility: Some(visibility.as_str().into()),
                        ..Default::default()
                    },
                    SummaryBody::Conversation {
                        held_on: str(rec, "held_on").ok_or_else(|| bad("held_on"))?,
                        status: crate::model::ConversationStatus::parse(
                            &str(rec, "status").ok_or_else(|| bad("status"))?,
                        ),
                        visibility,
                        template_id: str(rec, "template_id").ok_or_else(|| bad("template_id"))?,
                        open_agreements,
                        due_agreements,
                    },
                )
            }
            Kind::Signal => {
                let urgency = int(rec, "urgency")
                    .and_then(|u| u8::try_from(u).ok())
                    .ok_or_else(|| bad("urgency"))?;
                let category = str(rec, "category").ok_or_else(|| bad("category"))?;
                let entries: Vec<String> = list(rec, "follow_ups")
                    .into_iter()
                    .filter_map(map)
                    .filter_map(|f| str(f, "kind"))
                    .collect();
                (
                    AccessFields {
                        urgency: Some(urgency),
                        category: Some(category.clone()),
                        readers: list(rec, "added_readers")
                            .into_iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                        ..Default::default()
                    },
                    SummaryBody::Signal {
                        category,
                        urgency,
                        observed_at: int(rec, "observed_at").ok_or_else(|| bad("observed_at"))?,
                        recorded_at: int(rec, "recorded_at").ok_or_else(|| bad("recorded_at"))?,
                        shared: bool(rec, "shared").ok_or_else(|| bad("shared"))?,
                        open: !entries
                            .iter()
                            .any(|k| k == crate::model::FollowUpKind::Closed.as_str()),
                        picked_up: entries
                            .iter()
                            .any(|k| k == crate::model::FollowUpKind::PickedUp.as_str()),
                        follow_ups: entries.len() as i64,
                        excursion: get(rec, "context")
                            .and_then(map)
                            .and_then(|c| str(c, "excursion")),
                    },
                )
            }
            Kind::Thermometer => {
                let mut entries = Vec::new();
                // Answers are record keys of their own (`ThermometerMonth`).
                let answered: std::collections::BTreeMap<String, String> = rec
                    .iter()
                    .filter(|(k, _)| k.starts_with(crate::model::thermometer::ANSWER_PREFIX))
                    .filter_map(|(_, v)| {
                        let v = map(v)?;
                        Some((str(v, "entry")?, str(v, "on").unwrap_or_default()))
                    })
                    .collect();
                for e in list(rec, "entries").into_iter().filter_map(map) {
                    let id = str(e, "id").ok_or_else(|| bad("entry id"))?;
                    entries.push(ThermometerRow {
                        at: int(e, "at").ok_or_else(|| bad("entry at"))?,
                        scale: str(e, "scale").ok_or_else(|| bad("entry scale"))?,
                        score: int(e, "score")
                            .and_then(|s| u8::try_from(s).ok())
                            .ok_or_else(|| bad("entry score"))?,
                        wants_to_talk: bool(e, "wants_to_talk").unwrap_or(false),
                        recorded_by: str(e, "recorded_by").unwrap_or_default(),
                        by_pupil: str(e, "source").as_deref() == Some(crate::model::SOURCE_PUPIL),
                        answered_on: answered.get(&id).cloned(),
                        id,
                    });
                }
                let open = entries
                    .iter()
                    .any(|e| e.wants_to_talk && e.answered_on.is_none());
                let fields = AccessFields {
                    urgency: open.then_some(1),
                    ..Default::default()
                };
                (fields, SummaryBody::Thermometer(entries))
            }
            Kind::Case => {
                let present = |k: &str| get(rec, k).is_some_and(|v| !v.is_null());
                let report = get(rec, "report").and_then(map);
                let feedback_due = report
                    .filter(|r| get(r, "feedback_on").is_none_or(|v| v.is_null()))
                    .and_then(|r| str(r, "feedback_due"));
                let steps = list(rec, "steps")
                    .into_iter()
                    .filter_map(map)
                    .filter_map(|s| int(s, "step"))
                    .filter_map(|s| u8::try_from(s).ok());
                (
                    AccessFields::default(),
                    SummaryBody::Case {
                        status: crate::model::CaseStatus::parse(
                            &str(rec, "status").ok_or_else(|| bad("status"))?,
                        ),
                        opened_at: int(rec, "opened_at").ok_or_else(|| bad("opened_at"))?,
                        step: crate::model::case::current_step(
                            steps,
                            present("weighing"),
                            present("help") || present("report"),
                        ),
                        signals: list(rec, "signals").len() as i64,
                        feedback_due,
                        evaluation_on: get(rec, "help")
                            .and_then(map)
                            .and_then(|h| str(h, "evaluation_on")),
                    },
                )
            }
            Kind::Excursion => (
                AccessFields {
                    readers: list(rec, "staff")
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    ..Default::default()
                },
                SummaryBody::Excursion {
                    name: str(rec, "name").ok_or_else(|| bad("name"))?,
                    starts_on: str(rec, "starts_on").ok_or_else(|| bad("starts_on"))?,
                    ends_on: str(rec, "ends_on").ok_or_else(|| bad("ends_on"))?,
                    // Each pupil once (two devices may add the same one at the same time).
                    participants: list(rec, "participants")
                        .into_iter()
                        .filter_map(|v| v.as_str())
                        .collect::<std::collections::BTreeSet<_>>()
                        .len() as i64,
                },
            ),
            Kind::ParentContact => (
                AccessFields::default(),
                SummaryBody::ParentContact {
                    held_on: str(rec, "held_on").ok_or_else(|| bad("held_on"))?,
                    status: crate::model::ConversationStatus::parse(
                        &str(rec, "status").ok_or_else(|| bad("status"))?,
                    ),
                    channel: str(rec, "channel").ok_or_else(|| bad("channel"))?,
                    open_agreements: list(rec, "agreements")
                        .into_iter()
                        .filter_map(map)
                        .filter(|a| !bool(a, "done").unwrap_or(false))
                        .count() as i64,
                },
            ),
            Kind::Roster => (
                AccessFields {
                    readers: str(rec, "viewer").into_iter().collect(),
                    ..Default::default()
                },
                SummaryBody::Other,
            ),
            Kind::SociogramRound | Kind::SociogramAnswers => (
                AccessFields::of_sociogram_group(&str(rec, "group").ok_or_else(|| bad("group"))?),
                SummaryBody::Other,
            ),
            Kind::SignalNotes => (
                AccessFields {
                    urgency: Some(
                        int(rec, "urgency")
                            .and_then(|u| u8::try_from(u).ok())
                            .ok_or_else(|| bad("urgency"))?,
                    ),
                    category: Some(str(rec, "category").ok_or_else(|| bad("category"))?),
                    readers: list(rec, "added_readers")
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    ..Default::default()
                },
                SummaryBody::Other,
            ),
        };
        Ok(Summary {
            header,
            fields,
            body,
        })
    }
}

/// Read the typed record of a document from one walk over it (see [`Hydrated::record`]).
pub fn record_fast<R: Record + serde::de::DeserializeOwned>(
    id: DocumentId,
    doc: &Automerge,
) -> Result<R> {
    Hydrated::new(id, doc)?.record()
}

/// The current value of the document as JSON: maps (and tables) as objects, lists as
/// arrays, strings as strings (text as `{"text": ..}`), integers and timestamps as numbers.
/// Counters, bytes and unknown scalars appear in no record and read as null. With `keep`,
/// map entries with other keys are left out (and what is under them is never built).
///
/// One pass of `Automerge::iter` over every object (an object is reached through its
/// parent, so parents come first), not one `map_range` per object: setting up a range
/// costs more than reading a small object's values. This is about 40% cheaper than
/// walking object by object, and cheaper than `Automerge::hydrate`.
///
/// With a `budget`, the walk stops (None) once the values read pass it.
fn tree(
    doc: &Automerge,
    keep: Option<fn(&str) -> bool>,
    budget: Option<ReadBudget>,
) -> Option<(serde_json::Value, (usize, usize))> {
    use automerge::iter::DocItem;
    use automerge::{ObjId, ObjType, ReadDoc, ScalarValueRef as S, ValueRef};
    use serde_json::Value;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A value, or an object being built (its index in `nodes`).
    enum Slot {
        Value(Value),
        Object(usize),
    }
    enum Node {
        Map(Vec<(String, Slot)>),
        List(Vec<Slot>),
    }
    fn build(nodes: &mut [Node], i: usize) -> Value {
        let value = |nodes: &mut [Node], slot: Slot| match slot {
            Slot::Value(v) => v,
            Slot::Object(j) => build(nodes, j),
        };
        match std::mem::replace(&mut nodes[i], Node::List(Vec::new())) {
            Node::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, slot)| (k, value(nodes, slot)))
                    .collect(),
            ),
            Node::List(items) => {
                Value::Array(items.into_iter().map(|slot| value(nodes, slot)).collect())
            }
        }
    }

    let mut nodes = vec![Node::Map(Vec::new())];
    let mut index: HashMap<ObjId, usize> = HashMap::from([(automerge::ROOT, 0)]);
    let slot = |nodes: &mut Vec<Node>,
                index: &mut HashMap<ObjId, usize>,
                v: &ValueRef<'_>,
                id: &dyn Fn() -> ObjId| match v {
        ValueRef::Object(ty @ (ObjType::Map | ObjType::Table | ObjType::List)) => {
            nodes.push(match ty {
                ObjType::List => Node::List(Vec::new()),
                _ => Node::Map(Vec::new()),
            });
            index.insert(id(), nodes.len() - 1);
            Slot::Object(nodes.len() - 1)
        }
        // Not a string: the typed records (autosurgeon) do not read text as a `String`
        // either, and the fast reads must not accept what the typed ones refuse.
        ValueRef::Object(ObjType::Text) => {
            Slot::Value(Value::Object(serde_json::Map::from_iter([(
                "text".to_string(),
                Value::String(doc.text(id()).unwrap_or_default()),
            )])))
        }
        ValueRef::Scalar(s) => Slot::Value(match s {
            S::Str(s) => Value::String(s.to_string()),
            S::Int(i) | S::Timestamp(i) => (*i).into(),
            S::Uint(u) => (*u).into(),
            S::F64(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            S::Boolean(b) => (*b).into(),
            _ => Value::Null,
        }),
    };
    // Bytes of a string or text value.
    let bytes = |s: &Slot| match s {
        Slot::Value(Value::String(s)) => s.len(),
        Slot::Value(Value::Object(m)) => m.get("text").and_then(Value::as_str).map_or(0, str::len),
        _ => 0,
    };
    let (mut items, mut total) = (0usize, 0usize);
    let mut within = |s: &Slot| {
        let n = bytes(s);
        items += 1;
        total += n;
        budget.is_none_or(|b| items <= b.items && n <= b.string_bytes && total <= b.total_bytes)
    };
    // The items of one object come one after another and share their `obj`.
    let mut current: Option<(Arc<ObjId>, Option<usize>)> = None;
    for item in doc.iter() {
        let node = match &current {
            Some((obj, node)) if Arc::ptr_eq(obj, &item.obj) => *node,
            _ => {
                // Not indexed: under a key left out, or the spans of a text.
                let node = index.get(&*item.obj).copied();
                current = Some((item.obj.clone(), node));
                node
            }
        };
        let Some(node) = node else { continue };
        match &item.item {
            DocItem::Map(m) => {
                if keep.is_some_and(|k| !k(&m.key)) {
                    continue;
                }
                let s = slot(&mut nodes, &mut index, &m.value, &|| m.id());
                if !within(&s) {
                    return None;
                }
                if let Node::Map(entries) = &mut nodes[node] {
                    entries.push((m.key.to_string(), s));
                }
            }
            DocItem::List(l) => {
                let s = slot(&mut nodes, &mut index, &l.value, &|| l.id());
                if !within(&s) {
                    return None;
                }
                if let Node::List(items) = &mut nodes[node] {
                    items.push(s);
                }
            }
            DocItem::Text(_) => {}
        }
    }
    let size = (items, total);
    Some((build(&mut nodes, 0), size))
}

/// How much of a document [`Hydrated::bounded`] reads before it gives up: values and
/// objects (map entries and list items), bytes of one string or text, bytes of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBudget {
    /// Map entries and list items, at any depth.
    pub items: usize,
    /// Bytes of one string or text.
    pub string_bytes: usize,
    /// Bytes of all strings and texts together.
    pub total_bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Conversation, SCHEMA_VERSION};

    /// A roster written by difference reads back as the roster it was brought to, after any
    /// sequence of changes (pupils, groups and staff added, changed and removed; top-level
    /// fields), both in the document and after a save and load.
    #[test]
    fn roster_updates_by_difference_read_back_whole() {
        use crate::model::{Group, Pupil, Staff};
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let pupil = (
            0u8..6,
            "[a-zé]{1,6}",
            0u8..3,
            any::<bool>(),
            any::<bool>(),
            0u8..3,
        );
        let roster = (
            proptest::collection::vec(pupil, 0..8),
            proptest::collection::vec((0u8..3, "[a-z ]{0,5}", 0u8..3), 0..3),
            proptest::collection::vec((0u8..4, "[a-zö]{1,5}", any::<bool>(), any::<bool>()), 0..4),
            proptest::option::of(1u32..60),
            any::<bool>(),
        )
            .prop_map(|(pupils, groups, staff, lease, parents)| Roster {
                school: "s".into(),
                pupils: pupils
                    .into_iter()
                    .map(|(i, name, g, active, care, m)| {
                        let id = format!("p{i}");
                        let p = Pupil {
                            id: id.clone(),
                            display_name: name,
                            group: format!("g{g}"),
                            age_band: "8-12".into(),
                            active,
                            in_care: care,
                            mentors: (0..m).map(|k| format!("t{k}")).collect(),
                        };
                        (id, p)
                    })
                    .collect(),
                groups: groups
                    .into_iter()
                    .map(|(i, name, t)| {
                        let id = format!("g{i}");
                        let teachers = (0..t).map(|k| format!("t{k}")).collect();
                        (id.clone(), Group { id, name, teachers })
                    })
                    .collect(),
                staff: staff
                    .into_iter()
                    .map(|(i, name, duty, active)| {
                        let id = format!("t{i}");
                        let roles = vec!["mentor".to_string()];
                        let st = Staff {
                            id: id.clone(),
                            display_name: name,
                            roles,
                            meldcode_duty: duty,
                            active,
                        };
                        (id, st)
                    })
                    .collect(),
                offline_lease_days: lease,
                viewer: None,
                parent_names: parents,
            });
        let mut runner = TestRunner::new(Config {
            cases: 64,
            ..Config::default()
        });
        runner
            .run(&proptest::collection::vec(roster, 1..6), |rosters| {
                let (id, mut d) = roster_genesis("s").unwrap();
                let actor = ActorId::from(&[7u8; 16][..]);
                let mut held: Roster = record(id, &d).unwrap();
                for (n, r) in rosters.iter().enumerate() {
                    let changed = update_roster(id, &mut d, &actor, n as i64, &held, r).unwrap();
                    prop_assert_eq!(changed, held != *r);
                    held = record(id, &d).unwrap();
                    prop_assert_eq!(&held, r);
                }
                let reloaded = Automerge::load(&d.save()).unwrap();
                prop_assert_eq!(
                    &record::<Roster>(id, &reloaded).unwrap(),
                    rosters.last().unwrap()
                );
                Ok(())
            })
            .unwrap();
    }

    /// An actor that wrote before, then another actor, then the first again: the text must
    /// not read as stale (it did when read outside the transaction).
    #[test]
    fn text_edits_after_another_writer_are_not_stale() {
        let id = DocumentId::random();
        let header = Header {
            kind: Kind::Conversation.as_str().into(),
            school: "s".into(),
            pupil: Some("p".into()),
            author: "m".into(),
            created_at: 0,
            schema: SCHEMA_VERSION,
        };
        let conversation = Conversation {
            held_on: "2026-11-02".into(),
            participants: vec![],
            template_id: "ik-jij-wij".into(),
            answers: Default::default(),
            notes: Default::default(),
            agreements: vec![],
            status: "draft".into(),
            visibility: "shared".into(),
        };
        let (a, b) = (
            ActorId::from(*b"actor-a-01234567"),
            ActorId::from(*b"actor-b-01234567"),
        );
        let mut d = create(a.clone(), 0, &header, &conversation).unwrap();
        let notes = |d: &Automerge| {
            record::<Conversation>(id, d)
                .unwrap()
                .notes
                .as_str()
                .to_string()
        };
        update(id, &mut d, &b, 0, |c: &mut Conversation| {
            c.notes.splice(0, 0, "b").unwrap();
            Ok(())
        })
        .unwrap();
        update(id, &mut d, &a, 0, |c: &mut Conversation| {
            c.notes.splice(1, 0, "a").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(notes(&d), "ba");
        // A failed edit changes nothing.
        let heads = d.get_heads();
        let err = update(id, &mut d, &b, 0, |c: &mut Conversation| {
            c.notes.splice(0, 0, "x").unwrap();
            Err(Error::Invalid("no".into()))
        });
        assert!(err.is_err());
        assert_eq!((d.get_heads(), notes(&d)), (heads, "ba".to_string()));
    }
}
