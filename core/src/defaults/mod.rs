//! Domain defaults, as data: thermometer scales, the kindgesprek template, the signal
//! taxonomy, the flag system and the urgency levels (DOMAIN.md, "What is recorded").
//!
//! Every text a user sees carries a Dutch and an English [`Label`]. Ids are stable: they are
//! written into documents (`Signal::category`, `ThermometerEntry::scale`,
//! `Conversation::template_id`, answer keys) and must never change once shipped; add new ids
//! instead. Schools choose among these scales per age band and set their own labels and
//! templates (`model::SchoolSettings`); these are the defaults.

mod signals;
mod sociogram;
mod templates;
mod thermometer;
mod urgency;

use serde::Serialize;
pub use signals::{
    CATEGORIES, Category, FLAGS, Flag, NIET_PLUIS, PESTEN, Route, SEKSUEEL, STAFF_MISCONDUCT,
    THUISSITUATIE, categories, category, flag,
};
pub use sociogram::{SociogramQuestionDefault, sociogram_questions};
pub use templates::{DEFAULT_TEMPLATE, Question, Template, template, templates};
pub use thermometer::{
    EmotionWord, SCALE_EMOTIONS, SCALE_MARK, SCALE_SMILEYS, Scale, po_1_4_emotions, scale,
    scale_for, scales,
};
pub use urgency::{Contact, EMERGENCY_CONTACTS, URGENCIES, Urgency, urgency};

/// A user-facing text in Dutch and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Label {
    /// Dutch.
    pub nl: &'static str,
    /// English.
    pub en: &'static str,
}

/// Shorthand for building a [`Label`] in the tables below.
const fn l(nl: &'static str, en: &'static str) -> Label {
    Label { nl, en }
}

/// Days a device may go without a completed sync before its store locks, unless the school
/// sets its own lease (`omkijken-server admin lease`). Long enough for a school trip and a
/// holiday week; a lost phone that never syncs again shows no care content after it.
pub const OFFLINE_LEASE_DAYS: u32 = 30;

/// Kindgesprekken a mentor holds with each pupil a year, unless the school sets its own
/// cadence (DOMAIN.md: 2-3 a year).
pub const CONVERSATIONS_PER_YEAR: u32 = 3;

#[cfg(test)]
mod tests;
