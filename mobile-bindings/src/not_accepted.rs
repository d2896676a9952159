//! Changes the server refused for good, kept for their author as "not accepted" items.
//!
//! When the server refuses a change for a reason that sending it again will not change
//! (`InvalidRecord`, `Forbidden` for a document the user may still read, `TooLarge`,
//! `Malformed`), the device takes the server's version of the document, so it holds what
//! every other device holds, and keeps what the user had as an item with the reason. The
//! app shows these items ("not accepted"), lets the user read one back, copy what she wants
//! into a new entry, and discard it. A sync reports such a refusal as `Refused`; the item
//! is there by the time the sync event arrives. See docs/mobile.md.

use crate::cases::Case;
use crate::error::Result;
use crate::excursions::Excursion;
use crate::parent_contacts::ParentContact;
use crate::records::{Conversation, DocumentKind, Signal, ThermometerMonth};
use crate::store::OmkijkenStore;
use crate::sync::RefusalReason;
use omkijken_core::doc::Body;
use omkijken_core::store as core;

/// A change of this device that the server refused for good.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NotAccepted {
    /// The item's id, for `not_accepted_content` and `discard_not_accepted`.
    pub id: i64,
    /// The document whose changes were refused.
    pub document_id: String,
    /// Its kind.
    pub kind: DocumentKind,
    /// The pupil it is about, if any (pseudonymous id).
    pub pupil: Option<String>,
    /// Why the server refused it.
    pub reason: RefusalReason,
    /// When the refusal arrived (unix ms, device clock).
    pub refused_at: i64,
}

impl From<core::NotAccepted> for NotAccepted {
    fn from(n: core::NotAccepted) -> Self {
        NotAccepted {
            id: n.id,
            document_id: n.document_id.to_string(),
            kind: n.kind.into(),
            pupil: n.pupil,
            reason: n.reason.into(),
            refused_at: n.refused_at,
        }
    }
}

/// The record of a not-accepted item, as the device had it when it was refused (the
/// refused changes included).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum NotAcceptedContent {
    /// A kindgesprek.
    ConversationRecord {
        /// The conversation.
        conversation: Conversation,
    },
    /// A signal.
    SignalRecord {
        /// The signal.
        signal: Signal,
    },
    /// A thermometer month.
    ThermometerRecord {
        /// The month.
        month: ThermometerMonth,
    },
    /// A meldcode case.
    CaseRecord {
        /// The case.
        meldcode_case: Case,
    },
    /// An excursion.
    ExcursionRecord {
        /// The excursion.
        excursion: Excursion,
    },
    /// An oudercontact.
    ParentContactRecord {
        /// The oudercontact.
        parent_contact: ParentContact,
    },
    /// Notes on a signal.
    SignalNotesRecord {
        /// The signal's id.
        signal: String,
        /// The notes.
        notes: Vec<crate::records::FollowUp>,
    },
    /// A sociogram round.
    SociogramRoundRecord {
        /// The round.
        round: crate::sociogram::SociogramRound,
    },
    /// A pupil's answers in a sociogram round.
    SociogramAnswersRecord {
        /// The round's id.
        round: String,
        /// The answers as entered (all of them, in order).
        answers: Vec<crate::sociogram::SociogramAnswer>,
    },
}

#[uniffi::export]
impl OmkijkenStore {
    /// Changes of this device the server refused for good, oldest first: show them as "not
    /// accepted" with the reason. The list holds no care content (kind, pupil id, reason).
    pub fn not_accepted(&self) -> Result<Vec<NotAccepted>> {
        Ok(self
            .inner
            .not_accepted()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The record of a not-accepted item as the user had it, to read back or copy from.
    /// Care content: `Locked` when the offline lease ran out; the read is logged.
    /// `NotFound` if there is no such item.
    pub fn not_accepted_content(&self, id: i64) -> Result<NotAcceptedContent> {
        let record = self.inner.not_accepted_content(id)?;
        let doc = record.document_id;
        Ok(match record.body {
            Body::Conversation(c) => NotAcceptedContent::ConversationRecord {
                conversation: Conversation::new(doc, c),
            },
            Body::Signal(s) => NotAcceptedContent::SignalRecord {
                signal: Signal::new(doc, s),
            },
            Body::Thermometer(m) => NotAcceptedContent::ThermometerRecord { month: m.into() },
            Body::Case(c) => NotAcceptedContent::CaseRecord {
                meldcode_case: Case::new(doc, *c),
            },
            Body::Excursion(e) => NotAcceptedContent::ExcursionRecord {
                excursion: Excursion::new(doc, *e),
            },
            Body::ParentContact(c) => NotAcceptedContent::ParentContactRecord {
                parent_contact: ParentContact::new(doc, *c),
            },
            Body::SignalNotes(n) => NotAcceptedContent::SignalNotesRecord {
                signal: n.signal,
                notes: n.notes.into_iter().map(Into::into).collect(),
            },
            Body::SociogramRound(r) => NotAcceptedContent::SociogramRoundRecord {
                round: crate::sociogram::SociogramRound::new(doc, *r),
            },
            Body::SociogramAnswers(a) => NotAcceptedContent::SociogramAnswersRecord {
                answers: a.answers.iter().map(Into::into).collect(),
                round: a.round,
            },
            // A device never sends the roster, so no refusal of it is kept.
            Body::Roster(_) => return Err(omkijken_core::Error::NotFound.into()),
        })
    }

    /// Discard a not-accepted item (the user copied what she wanted, or lets it go).
    /// `NotFound` if there is no such item.
    pub fn discard_not_accepted(&self, id: i64) -> Result<()> {
        Ok(self.inner.discard_not_accepted(id)?)
    }
}
