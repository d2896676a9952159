//! Kindgesprek: a one-to-one conversation of a mentor with a pupil.

use super::{Kind, Record};
use crate::text::Text;
use autosurgeon::{Hydrate, Reconcile};
use std::collections::BTreeMap;

/// Draft or final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    /// Still being written.
    Draft,
    /// Finalised.
    Final,
}

/// A private working note (werkaantekening: author only) or shared (part of the dossier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Werkaantekening: its author only.
    Private,
    /// Dossier: author, the pupil's mentors, the care team if the pupil is in care.
    Shared,
}

stable_names!(
    /// Parse, tolerating unknown values as draft.
    ConversationStatus { Draft => "draft", Final => "final" } else Draft
);

stable_names!(
    /// Parse; anything but "shared" is private (fail closed).
    Visibility { Private => "private", Shared => "shared" } else Private
);

/// An agreement (afspraak) made in a conversation.
#[derive(Debug, Clone, PartialEq, Hydrate, Reconcile)]
pub struct Agreement {
    /// Stable id, so concurrent additions both survive.
    #[key]
    pub id: String,
    /// What was agreed.
    pub text: String,
    /// Who acts on it (staff id, or "pupil").
    pub owner: String,
    /// Follow-up date `YYYY-MM-DD`.
    #[autosurgeon(missing = "Default::default")]
    pub due: Option<String>,
    /// Done.
    #[autosurgeon(missing = "Default::default")]
    pub done: bool,
    /// Staff id of whoever added it (absent in agreements added before it was recorded).
    #[autosurgeon(missing = "Default::default")]
    pub by: Option<String>,
}

/// A kindgesprek.
#[derive(Debug, Clone, PartialEq, Hydrate, Reconcile)]
pub struct Conversation {
    /// Date held, `YYYY-MM-DD`.
    pub held_on: String,
    /// Staff ids (and "pupil") present.
    #[autosurgeon(missing = "Default::default")]
    pub participants: Vec<String>,
    /// Template id, e.g. "ik-jij-wij".
    pub template_id: String,
    /// Answers per question id, each an Automerge text (concurrent typing merges).
    #[autosurgeon(missing = "Default::default")]
    pub answers: BTreeMap<String, Text>,
    /// Free notes, collaboratively edited.
    #[autosurgeon(missing = "Default::default")]
    pub notes: Text,
    /// Agreements (afspraken).
    #[autosurgeon(missing = "Default::default")]
    pub agreements: Vec<Agreement>,
    /// "draft" or "final".
    pub status: String,
    /// "private" or "shared".
    pub visibility: String,
}

impl Record for Conversation {
    const KIND: Kind = Kind::Conversation;
}

impl Conversation {
    /// Status, typed.
    pub fn status(&self) -> ConversationStatus {
        ConversationStatus::parse(&self.status)
    }
    /// Visibility, typed.
    pub fn visibility(&self) -> Visibility {
        Visibility::parse(&self.visibility)
    }
}
