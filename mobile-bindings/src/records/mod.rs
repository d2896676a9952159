//! Care records and list rows as FFI records, with their conversions.
//!
//! Ids are strings (base58 document ids); times are unix milliseconds; dates are
//! `YYYY-MM-DD` and months `YYYY-MM`.

mod attention;
mod conversations;
mod signals;
mod thermometer;

use crate::error::{OmkijkenError, Result};
pub use attention::{AttentionItem, AttentionReason, OfflineLease, OutboxEntry};
pub use conversations::{
    Agreement, Conversation, ConversationStatus, ConversationSummary, Visibility,
};
use omkijken_core::DocumentId;
use omkijken_core::model::{self as core};
pub use signals::{
    FollowUp, FollowUpKind, Interpretation, NewSignal, Signal, SignalFilter, SignalSource,
    SignalSummary,
};
pub use thermometer::{NewThermometerEntry, ThermometerEntry, ThermometerMonth, ThermometerPoint};

/// Parse a document id given by the app.
pub(crate) fn doc_id(id: &str) -> Result<DocumentId> {
    id.parse().map_err(|_| OmkijkenError::Invalid {
        reason: "not a document id".into(),
    })
}

/// The kind of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DocumentKind {
    /// The school's roster.
    Roster,
    /// A kindgesprek.
    Conversation,
    /// A signal.
    Signal,
    /// A meldcode case.
    Case,
    /// A pupil's thermometer month.
    Thermometer,
    /// An excursion.
    Excursion,
    /// An oudercontact (a contact with a pupil's parents).
    ParentContact,
    /// The notes of those who follow a signal up (read through `signal`).
    SignalNotes,
    /// A sociogram round of a group.
    SociogramRound,
    /// A pupil's answers in a sociogram round.
    SociogramAnswers,
}

impl From<core::Kind> for DocumentKind {
    fn from(k: core::Kind) -> Self {
        match k {
            core::Kind::Roster => DocumentKind::Roster,
            core::Kind::Conversation => DocumentKind::Conversation,
            core::Kind::Signal => DocumentKind::Signal,
            core::Kind::Case => DocumentKind::Case,
            core::Kind::Thermometer => DocumentKind::Thermometer,
            core::Kind::Excursion => DocumentKind::Excursion,
            core::Kind::ParentContact => DocumentKind::ParentContact,
            core::Kind::SignalNotes => DocumentKind::SignalNotes,
            core::Kind::SociogramRound => DocumentKind::SociogramRound,
            core::Kind::SociogramAnswers => DocumentKind::SociogramAnswers,
        }
    }
}
