//! Signaal: a concern recorded by any staff member, anywhere, offline.
//!
//! Facts are kept apart from interpretation. Once shared a signal is append-only: the
//! original fields never change; corrections and follow-ups are new entries.

use super::{Kind, Record};
use autosurgeon::{Hydrate, Reconcile};

/// Where the signal was observed.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct SignalContext {
    /// Free-text place, e.g. "busreis Ardennen" (no GPS).
    pub place: String,
    /// The excursion document, if it happened on a trip.
    #[autosurgeon(missing = "Default::default")]
    pub excursion: Option<String>,
}

/// How the signaller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Seen with own eyes.
    Seen,
    /// Heard.
    Heard,
    /// Told by someone.
    ToldBy,
}

stable_names!(SourceKind {
    Seen => "seen",
    Heard => "heard",
    ToldBy => "told_by",
});

/// The source of the facts.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct Source {
    /// "seen", "heard" or "told_by".
    pub kind: String,
    /// Who told (a role or name as the signaller wrote it), when `told_by`.
    #[autosurgeon(missing = "Default::default")]
    pub told_by: Option<String>,
}

impl Source {
    /// Seen with the signaller's own eyes.
    pub fn seen() -> Source {
        Source {
            kind: SourceKind::Seen.as_str().into(),
            told_by: None,
        }
    }
}

/// An interpretation, kept apart from the facts, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct Interpretation {
    /// The interpretation.
    pub text: String,
    /// Staff id of whoever interprets.
    pub by: String,
}

/// The fixed texts a status entry (`picked_up`, `closed`) may carry: a status says what
/// happened, never what the care team knows. Any other text of theirs for the signaller is
/// a `to_signaller` note.
pub const STATUS_TEXTS: [&str; 2] = [CASE_OPENED_STATUS, CASE_CLOSED_STATUS];

/// The status a signal gets when a meldcode case is opened on it.
pub const CASE_OPENED_STATUS: &str = "Opgepakt in een meldcodetraject";
/// What the signaller is told when that case is closed.
pub const CASE_CLOSED_STATUS: &str = "Meldcodetraject afgesloten";

/// What a follow-up entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpKind {
    /// A follow-up action or note by mentor or care team.
    FollowUp,
    /// A correction by the author (the original stays).
    Correction,
    /// "Picked up": feedback to the signaller.
    PickedUp,
    /// Closed.
    Closed,
    /// A note the care team (or a mentor) addresses to the signaller: the one entry by
    /// others that carries text for her (see [`SignalNotes`] for their other notes).
    ToSignaller,
}

stable_names!(FollowUpKind {
    FollowUp => "follow_up",
    Correction => "correction",
    PickedUp => "picked_up",
    Closed => "closed",
    ToSignaller => "to_signaller",
});

/// An entry appended to a signal.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct FollowUp {
    /// Stable id (concurrent appends both survive).
    #[key]
    pub id: String,
    /// Staff id.
    pub author: String,
    /// Unix milliseconds.
    pub at: i64,
    /// See [`FollowUpKind`].
    pub kind: String,
    /// Text.
    pub text: String,
}

/// A signaal.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct Signal {
    /// When it was observed, unix ms.
    pub observed_at: i64,
    /// When it was recorded, unix ms.
    pub recorded_at: i64,
    /// Where.
    pub context: SignalContext,
    /// Category id from the taxonomy (see `defaults::CATEGORIES`).
    pub category: String,
    /// 0 notitie, 1 zorg, 2 vermoeden, 3 acuut.
    #[autosurgeon(hydrate = "super::any_uint")]
    pub urgency: u8,
    /// The facts.
    pub facts: String,
    /// Interpretation, kept apart.
    #[autosurgeon(missing = "Default::default")]
    pub interpretation: Option<Interpretation>,
    /// Source of the facts.
    pub source: Source,
    /// The pupil's own words, verbatim.
    #[autosurgeon(missing = "Default::default")]
    pub pupil_quote: Option<String>,
    /// Flag-system rating (groen / geel / rood / zwart) for sexual behaviour, see
    /// `defaults::FLAGS`.
    #[autosurgeon(missing = "Default::default")]
    pub flag: Option<String>,
    /// Once shared, the fields above never change.
    pub shared: bool,
    /// Appended entries.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub follow_ups: Vec<FollowUp>,
    /// A staff-misconduct signal (board route) reaches the school leader only, until the
    /// school leader adds readers (for example the care coordinator): their staff ids. Only
    /// a school leader adds; nobody removes.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub added_readers: Vec<String>,
}

impl Record for Signal {
    const KIND: Kind = Kind::Signal;
}

impl Signal {
    /// Whether the part of a signal that is frozen once shared is the same in `other`.
    pub fn same_original(&self, other: &Signal) -> bool {
        self.observed_at == other.observed_at
            && self.recorded_at == other.recorded_at
            && self.context == other.context
            && self.category == other.category
            && self.urgency == other.urgency
            && self.facts == other.facts
            && self.interpretation == other.interpretation
            && self.source == other.source
            && self.pupil_quote == other.pupil_quote
            && self.flag == other.flag
    }

    /// Open until a `closed` entry is appended.
    pub fn is_open(&self) -> bool {
        !self
            .follow_ups
            .iter()
            .any(|f| f.kind == FollowUpKind::Closed.as_str())
    }

    /// Picked up by someone other than the author.
    pub fn picked_up(&self) -> bool {
        self.follow_ups
            .iter()
            .any(|f| f.kind == FollowUpKind::PickedUp.as_str())
    }
}

/// The notes of the mentors and the care team on one shared signal (DOMAIN.md: the
/// signaller gets feedback that it was picked up; what the care team knows is
/// need-to-know). A document of its own beside the signal, read and written by those who
/// follow the signal up (its mentors, the care team of its route, the readers a school
/// leader adds to a staff-misconduct signal), never by the signaller for being its author:
/// she reads their status entries and the notes addressed to her on the signal itself.
///
/// One per signal: its id and first change are deterministic
/// ([`crate::doc::signal_notes_genesis`], from the signal's school, pupil, id, category and
/// urgency, which never change once shared), so devices that start it offline make the
/// same document.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct SignalNotes {
    /// The signal's document id.
    pub signal: String,
    /// The signal's category (its access follows the signal's route).
    pub category: String,
    /// The signal's urgency.
    #[autosurgeon(hydrate = "super::any_uint")]
    pub urgency: u8,
    /// The notes, appended only (`follow_up` entries).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Vec<FollowUp>,
    /// On the board route: the staff the school leader added as readers of the signal.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub added_readers: Vec<String>,
}

impl Record for SignalNotes {
    const KIND: Kind = Kind::SignalNotes;
}
