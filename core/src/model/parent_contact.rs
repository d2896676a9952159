//! Oudercontact: a contact of the school with a pupil's parents (a meeting, a call, a home
//! visit), with who was there, what was discussed and what was agreed.
//!
//! Parents take part in almost every step the guides describe, and their inzage right covers
//! these notes, so an oudercontact is always part of the pupil's dossier (there is no private
//! working-note state): it is read and written by its author, the pupil's current mentors and,
//! for a pupil in care, the care team, as a shared kindgesprek is (DOMAIN.md, "Default access
//! matrix"). Parents are recorded by their role ("moeder", "vader", "verzorger" ...), not by
//! name, unless the school's roster says it records names ([`super::Roster::parent_names`]).

use super::{Agreement, Kind, Record};
use crate::text::Text;
use autosurgeon::{Hydrate, Reconcile};

/// How the contact took place.
pub const CHANNELS: [&str; 5] = ["meeting", "phone", "video", "home_visit", "other"];

/// The roles a parent present is recorded by.
pub const PARENT_ROLES: [&str; 7] = [
    "moeder",
    "vader",
    "ouder",
    "verzorger",
    "pleegouder",
    "voogd",
    "anders",
];

/// A parent (or carer) who took part, by role.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct ParentPresent {
    /// One of [`PARENT_ROLES`].
    pub role: String,
    /// The parent's name: only when the school records names
    /// ([`super::Roster::parent_names`]); refused otherwise.
    #[autosurgeon(missing = "Default::default")]
    pub name: Option<String>,
}

/// An oudercontact.
#[derive(Debug, Clone, PartialEq, Hydrate, Reconcile)]
pub struct ParentContact {
    /// Date of the contact, `YYYY-MM-DD`.
    pub held_on: String,
    /// One of [`CHANNELS`].
    pub channel: String,
    /// Staff who took part (staff ids).
    #[autosurgeon(missing = "Default::default")]
    pub staff: Vec<String>,
    /// Parents who took part, by role.
    #[autosurgeon(missing = "Default::default")]
    pub parents: Vec<ParentPresent>,
    /// Whether the pupil was there too.
    #[autosurgeon(missing = "Default::default")]
    pub pupil_present: bool,
    /// What was discussed, collaboratively edited (Automerge text).
    #[autosurgeon(missing = "Default::default")]
    pub discussed: Text,
    /// Agreements (afspraken), each added in the writer's own name.
    #[autosurgeon(missing = "Default::default")]
    pub agreements: Vec<Agreement>,
    /// "draft" or "final".
    pub status: String,
}

impl Record for ParentContact {
    const KIND: Kind = Kind::ParentContact;
}

impl ParentContact {
    /// Status, typed (unknown = draft).
    pub fn status(&self) -> super::ConversationStatus {
        super::ConversationStatus::parse(&self.status)
    }
}
