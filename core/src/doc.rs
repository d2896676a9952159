//! Opening, creating and editing record documents.

use crate::ids::DocumentId;
use crate::model::{Conversation, Header, Kind, Record, Roster, Signal, ThermometerMonth};
use crate::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ROOT};
use serde::{Deserialize, Serialize};

/// Key of the header in the document root.
pub const HEADER_KEY: &str = "header";
/// Key of the record in the document root.
pub const RECORD_KEY: &str = "record";

/// Read the header of a document.
pub fn header(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<Header> {
    autosurgeon::hydrate_prop(doc, ROOT, HEADER_KEY).map_err(|e| Error::InvalidDocument {
        id,
        kind: "any",
        reason: format!("header: {e}"),
    })
}

/// Read the typed record of a document, checking its kind.
pub fn record<R: Record>(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<R> {
    let h = header(id, doc)?;
    if h.kind != R::KIND.as_str() {
        return Err(Error::InvalidDocument {
            id,
            kind: R::KIND.as_str(),
            reason: "document has another kind".into(),
        });
    }
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
    let mut value: R = record(id, doc)?;
    edit(&mut value)?;
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    autosurgeon::reconcile_prop(&mut tx, ROOT, RECORD_KEY, &value)?;
    if tx.pending_ops() == 0 {
        tx.rollback();
        return Ok(false);
    }
    tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    Ok(true)
}

/// The fields of a document that access rules depend on, next to its header. The catalog
/// (server) and the store (device) keep these current after every change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessFields {
    /// Conversation: "private" or "shared".
    pub visibility: Option<String>,
    /// Signal: urgency 0-3.
    pub urgency: Option<u8>,
    /// Signal: category id.
    pub category: Option<String>,
}

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
    /// A kind without a typed body yet (case, excursion).
    Other,
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
            (
                AccessFields {
                    urgency: Some(s.urgency),
                    category: Some(s.category.clone()),
                    ..Default::default()
                },
                Body::Signal(s),
            )
        }
        Kind::Thermometer => (AccessFields::default(), Body::Thermometer(record(id, doc)?)),
        Kind::Roster => (
            AccessFields::default(),
            Body::Roster(Box::new(record(id, doc)?)),
        ),
        Kind::Case | Kind::Excursion => (AccessFields::default(), Body::Other),
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
            AccessFields {
                urgency: Some(s.urgency),
                category: Some(s.category),
                ..Default::default()
            }
        }
        _ => AccessFields::default(),
    })
}

/// The deterministic id of a pupil's thermometer month.
pub fn thermometer_id(school: &str, pupil: &str, month: &str) -> DocumentId {
    DocumentId::derived(&["thermometer", school, pupil, month])
}

/// The deterministic id of a school's roster.
pub fn roster_id(school: &str) -> DocumentId {
    DocumentId::derived(&["roster", school])
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
        },
    )?;
    Ok((id, doc))
}

/// The genesis of a school's roster (empty; the server fills it).
pub fn roster_genesis(school: &str) -> Result<(DocumentId, Automerge)> {
    let id = roster_id(school);
    let header = Header {
        kind: Kind::Roster.as_str().into(),
        school: school.into(),
        pupil: None,
        author: "system".into(),
        created_at: 0,
        schema: crate::model::SCHEMA_VERSION,
    };
    let doc = genesis_singleton(
        id,
        &header,
        &Roster {
            school: school.into(),
            ..Default::default()
        },
    )?;
    Ok((id, doc))
}
