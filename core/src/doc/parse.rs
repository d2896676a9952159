//! A document read into its typed body ([`Parsed`]) and its access fields.

use super::{AccessFields, header, record};
use crate::Result;
use crate::ids::DocumentId;
use crate::model::{
    Case, Conversation, Excursion, Header, Kind, ParentContact, Record, Roster, Signal,
    SignalNotes, SociogramAnswers, SociogramRound, ThermometerMonth,
};

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
        Kind::Conversation => typed(id, doc, AccessFields::of_conversation, Body::Conversation)?,
        Kind::Signal => typed(id, doc, AccessFields::of_signal, Body::Signal)?,
        Kind::Thermometer => typed(id, doc, AccessFields::of_thermometer, Body::Thermometer)?,
        Kind::Roster => typed(id, doc, AccessFields::of_roster, |r| {
            Body::Roster(Box::new(r))
        })?,
        Kind::Case => typed(id, doc, no_fields::<Case>, |c| Body::Case(Box::new(c)))?,
        Kind::Excursion => typed(id, doc, AccessFields::of_excursion, |e| {
            Body::Excursion(Box::new(e))
        })?,
        Kind::ParentContact => typed(id, doc, no_fields::<ParentContact>, |c| {
            Body::ParentContact(Box::new(c))
        })?,
        Kind::SignalNotes => typed(id, doc, AccessFields::of_signal_notes, |n| {
            Body::SignalNotes(Box::new(n))
        })?,
        Kind::SociogramRound => typed(id, doc, AccessFields::of_sociogram_round, |r| {
            Body::SociogramRound(Box::new(r))
        })?,
        Kind::SociogramAnswers => typed(id, doc, AccessFields::of_sociogram_answers, |a| {
            Body::SociogramAnswers(Box::new(a))
        })?,
    };
    Ok(Parsed {
        header,
        fields,
        body,
    })
}

/// A document's typed record, read once: its access fields (`of`) and it as a body.
fn typed<R: Record>(
    id: DocumentId,
    doc: &impl autosurgeon::ReadDoc,
    of: impl FnOnce(&R) -> AccessFields,
    body: impl FnOnce(R) -> Body,
) -> Result<(AccessFields, Body)> {
    let r: R = record(id, doc)?;
    Ok((of(&r), body(r)))
}

/// The access fields of a kind that has none (its header decides).
fn no_fields<R>(_: &R) -> AccessFields {
    AccessFields::default()
}

/// Read the access-relevant fields of a document of the given header.
pub fn access_fields(
    id: DocumentId,
    header: &Header,
    doc: &impl autosurgeon::ReadDoc,
) -> Result<AccessFields> {
    Ok(match header.kind()? {
        Kind::Conversation => AccessFields::of_conversation(&record(id, doc)?),
        Kind::Signal => {
            let s: Signal = record(id, doc)?;
            AccessFields::of_signal(&s)
        }
        Kind::Excursion => AccessFields::of_excursion(&record(id, doc)?),
        Kind::Roster => AccessFields::of_roster(&record(id, doc)?),
        Kind::SignalNotes => AccessFields::of_signal_notes(&record(id, doc)?),
        Kind::Thermometer => AccessFields::of_thermometer(&record(id, doc)?),
        Kind::SociogramRound => AccessFields::of_sociogram_round(&record(id, doc)?),
        Kind::SociogramAnswers => AccessFields::of_sociogram_answers(&record(id, doc)?),
        _ => AccessFields::default(),
    })
}
