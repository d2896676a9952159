//! A document read into its typed body ([`Parsed`]) and its access fields.

use super::{AccessFields, header, record};
use crate::Result;
use crate::ids::DocumentId;
use crate::model::{
    Case, Conversation, Excursion, Header, Kind, ParentContact, Roster, Signal, SignalNotes,
    SociogramAnswers, SociogramRound, ThermometerMonth,
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
