//! Pupil mode: what a pupil session may do (docs/mobile.md, "Pupil mode").
//!
//! A teacher hands a tablet or her phone to her class. Her device asks the server, online,
//! for a pupil session: the server checks she may record the thermometer of the group's
//! pupils and enrolls a device of its own for the session (its own store, its own actor)
//! with a scoped token: the [`PupilScope`]. Under that token the server delivers nothing
//! (no catalog, no documents, no live changes) and the record rules admit only new
//! thermometer entries that a pupil of the group entered herself, on her age band's
//! scale, in this session's name ([`crate::model::rules::thermometer`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest a pupil session may last: a school trip of three days.
pub const MAX_SESSION_HOURS: u32 = 72;

/// The scope of a pupil session's credential, kept by the server with the session's device
/// (the teacher's device cannot widen it: the server decides it at the start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PupilScope {
    /// The session's id (recorded on every entry made in it).
    pub session: String,
    /// The group whose pupils enter readings.
    pub group: String,
    /// The scale id a reading must use, per age band (`po_1_4`, ...): the school's choice
    /// when the session started.
    pub scales: BTreeMap<String, String>,
    /// When the credential stops working (unix ms).
    pub expires_at: i64,
}

impl PupilScope {
    /// The scale a pupil of `age_band` records on in this session.
    pub fn scale_for(&self, age_band: &str) -> Option<&str> {
        self.scales.get(age_band).map(String::as_str)
    }

    /// As JSON (the server's storage, the session store's settings).
    pub fn to_json(&self) -> String {
        // A map of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From [`PupilScope::to_json`].
    pub fn from_json(s: &str) -> Option<PupilScope> {
        serde_json::from_str(s).ok()
    }
}
