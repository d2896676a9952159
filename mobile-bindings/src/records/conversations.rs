//! Kindgesprekken: status, visibility, agreements, the conversation and its list row.

use omkijken_core::DocumentId;
use omkijken_core::model::{self as core};
use omkijken_core::store::{self as store};
use std::collections::HashMap;

/// Draft or final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConversationStatus {
    /// Still being written.
    Draft,
    /// Finalised.
    Final,
}

impl From<core::ConversationStatus> for ConversationStatus {
    fn from(s: core::ConversationStatus) -> Self {
        match s {
            core::ConversationStatus::Draft => ConversationStatus::Draft,
            core::ConversationStatus::Final => ConversationStatus::Final,
        }
    }
}

/// Who reads a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Visibility {
    /// Werkaantekening: a private working note, its author only.
    Private,
    /// Part of the pupil's dossier: the author, the pupil's mentors, the care team if the
    /// pupil is in care.
    Shared,
}

impl From<core::Visibility> for Visibility {
    fn from(v: core::Visibility) -> Self {
        match v {
            core::Visibility::Private => Visibility::Private,
            core::Visibility::Shared => Visibility::Shared,
        }
    }
}

/// An agreement (afspraak) made in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Agreement {
    /// Stable id.
    pub id: String,
    /// What was agreed.
    pub text: String,
    /// Who acts on it (staff id, or "pupil").
    pub owner: String,
    /// Follow-up date `YYYY-MM-DD`.
    pub due: Option<String>,
    /// Done.
    pub done: bool,
}

impl From<core::Agreement> for Agreement {
    fn from(a: core::Agreement) -> Self {
        Agreement {
            id: a.id,
            text: a.text,
            owner: a.owner,
            due: a.due,
            done: a.done,
        }
    }
}

/// A kindgesprek, as read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conversation {
    /// Document id.
    pub id: String,
    /// Date held, `YYYY-MM-DD`.
    pub held_on: String,
    /// Staff ids (and "pupil") present.
    pub participants: Vec<String>,
    /// Template id.
    pub template_id: String,
    /// Answer per question id of the template.
    pub answers: HashMap<String, String>,
    /// Free notes.
    pub notes: String,
    /// Agreements, in the order made.
    pub agreements: Vec<Agreement>,
    /// Draft or final.
    pub status: ConversationStatus,
    /// Private working note or shared.
    pub visibility: Visibility,
}

impl Conversation {
    pub(crate) fn new(id: DocumentId, c: core::Conversation) -> Self {
        Conversation {
            id: id.to_string(),
            status: c.status().into(),
            visibility: c.visibility().into(),
            held_on: c.held_on,
            participants: c.participants,
            template_id: c.template_id,
            answers: c
                .answers
                .into_iter()
                .map(|(q, t)| (q, t.as_str().to_string()))
                .collect(),
            notes: c.notes.as_str().to_string(),
            agreements: c.agreements.into_iter().map(Into::into).collect(),
        }
    }
}

/// A conversation in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConversationSummary {
    /// Document id.
    pub id: String,
    /// Pupil id.
    pub pupil: String,
    /// Staff id of the author.
    pub author: String,
    /// Date held.
    pub held_on: String,
    /// Draft or final.
    pub status: ConversationStatus,
    /// Private or shared.
    pub visibility: Visibility,
    /// Agreements not done yet.
    pub open_agreements: u32,
}

impl From<store::ConversationSummary> for ConversationSummary {
    fn from(c: store::ConversationSummary) -> Self {
        ConversationSummary {
            id: c.id.to_string(),
            pupil: c.pupil,
            author: c.author,
            held_on: c.held_on,
            status: core::ConversationStatus::parse(&c.status).into(),
            visibility: core::Visibility::parse(&c.visibility).into(),
            open_agreements: c.open_agreements,
        }
    }
}
