//! Gevoelsthermometer entries, months and chart points.

use omkijken_core::model::{self as core};
use omkijken_core::store::{self as store};

/// What a user enters for a thermometer reading.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewThermometerEntry {
    /// Pupil id.
    pub pupil: String,
    /// When (unix ms); decides the month.
    pub at: i64,
    /// Score on the pupil's scale (see `thermometer_scale`).
    pub score: u8,
    /// Emotion word ids the scale offers.
    #[uniffi(default)]
    pub emotions: Vec<String>,
    /// "Wil je even praten?"
    pub wants_to_talk: bool,
    /// Optional short note.
    #[uniffi(default)]
    pub note: Option<String>,
}

impl From<NewThermometerEntry> for store::NewThermometerEntry {
    fn from(e: NewThermometerEntry) -> Self {
        store::NewThermometerEntry {
            pupil: e.pupil,
            at: e.at,
            score: e.score,
            emotions: e.emotions,
            wants_to_talk: e.wants_to_talk,
            note: e.note,
        }
    }
}

/// One thermometer reading, as read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ThermometerEntry {
    /// Stable id.
    pub id: String,
    /// Unix ms.
    pub at: i64,
    /// Scale id.
    pub scale: String,
    /// Score on that scale.
    pub score: u8,
    /// Emotion word ids.
    pub emotions: Vec<String>,
    /// Asked to talk.
    pub wants_to_talk: bool,
    /// Short note.
    pub note: Option<String>,
    /// Staff id of whoever recorded it (for a pupil's own reading: whose pupil session).
    pub recorded_by: String,
    /// The pupil entered it herself, in pupil mode.
    pub by_pupil: bool,
    /// Its request to talk was answered on this date (`YYYY-MM-DD`).
    pub answered_on: Option<String>,
}

impl From<core::ThermometerEntry> for ThermometerEntry {
    fn from(e: core::ThermometerEntry) -> Self {
        let by_pupil = e.by_pupil();
        ThermometerEntry {
            id: e.id,
            at: e.at,
            scale: e.scale,
            score: e.score,
            emotions: e.emotions,
            wants_to_talk: e.wants_to_talk,
            by_pupil,
            note: e.note,
            recorded_by: e.recorded_by,
            answered_on: None,
        }
    }
}

/// A pupil's thermometer readings of one month.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ThermometerMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Readings, in the order recorded.
    pub entries: Vec<ThermometerEntry>,
}

impl From<core::ThermometerMonth> for ThermometerMonth {
    fn from(m: core::ThermometerMonth) -> Self {
        let answered = |id: &str| m.answer(id).map(|a| a.on.clone());
        let entries = m
            .entries
            .iter()
            .cloned()
            .map(|e| {
                let on = answered(&e.id);
                ThermometerEntry {
                    answered_on: on,
                    ..e.into()
                }
            })
            .collect();
        ThermometerMonth {
            month: m.month,
            entries,
        }
    }
}

/// One point of a pupil's thermometer trend.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ThermometerPoint {
    /// Month document id.
    pub doc: String,
    /// Entry id.
    pub entry: String,
    /// Unix ms.
    pub at: i64,
    /// Scale id.
    pub scale: String,
    /// Score on that scale.
    pub score: u8,
    /// Score mapped to 0..=1, comparable across scales (for a chart).
    pub level: f32,
    /// Asked to talk.
    pub wants_to_talk: bool,
}

impl From<store::ThermometerPoint> for ThermometerPoint {
    fn from(p: store::ThermometerPoint) -> Self {
        ThermometerPoint {
            doc: p.doc.to_string(),
            entry: p.entry,
            at: p.at,
            scale: p.scale,
            score: p.score,
            level: p.level,
            wants_to_talk: p.wants_to_talk,
        }
    }
}
