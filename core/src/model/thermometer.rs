//! Gevoelsthermometer: one document per pupil and month holding entries.
//!
//! The document has a deterministic id and genesis (see `doc::genesis_singleton`), so two
//! devices that both create the month offline create the same change, and their entries
//! append to one list.

use super::{Kind, Record};
use autosurgeon::{Hydrate, Reconcile};

/// One reading.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct ThermometerEntry {
    /// Stable id.
    #[key]
    pub id: String,
    /// Unix ms.
    pub at: i64,
    /// Scale id (see `defaults::scales`).
    pub scale: String,
    /// Score on the scale (1-based; for the emotion scale: emotion index * 3 + intensity).
    #[autosurgeon(hydrate = "super::any_uint")]
    pub score: u8,
    /// Optional emotion words (ids).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub emotions: Vec<String>,
    /// "Wil je even praten?"
    pub wants_to_talk: bool,
    /// Optional short note.
    #[autosurgeon(missing = "Default::default")]
    pub note: Option<String>,
    /// Staff id who recorded it (or the pupil's device session).
    pub recorded_by: String,
}

/// A month of readings for one pupil.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct ThermometerMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Entries in insertion order (concurrent appends both survive).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub entries: Vec<ThermometerEntry>,
}

impl Record for ThermometerMonth {
    const KIND: Kind = Kind::Thermometer;
}
