//! Signals: the source, a new signal, follow-ups, the signal, its filter and list row.

use omkijken_core::DocumentId;
use omkijken_core::model::{self as core, SourceKind};
use omkijken_core::store::{self as store};

/// How the signaller knows the facts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SignalSource {
    /// Seen with own eyes.
    Seen,
    /// Heard.
    Heard,
    /// Told by someone.
    ToldBy {
        /// Who told (a role or name as the signaller writes it).
        who: Option<String>,
    },
}

impl From<SignalSource> for core::Source {
    fn from(s: SignalSource) -> Self {
        let (kind, told_by) = match s {
            SignalSource::Seen => (SourceKind::Seen, None),
            SignalSource::Heard => (SourceKind::Heard, None),
            SignalSource::ToldBy { who } => (SourceKind::ToldBy, who),
        };
        core::Source {
            kind: kind.as_str().into(),
            told_by,
        }
    }
}

impl From<core::Source> for SignalSource {
    /// A source kind this version does not know reads as "told by" (the weakest claim).
    fn from(s: core::Source) -> Self {
        match SourceKind::parse(&s.kind) {
            Some(SourceKind::Seen) => SignalSource::Seen,
            Some(SourceKind::Heard) => SignalSource::Heard,
            Some(SourceKind::ToldBy) | None => SignalSource::ToldBy { who: s.told_by },
        }
    }
}

/// What a user enters to record a signal.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewSignal {
    /// Pupil id.
    pub pupil: String,
    /// When it was observed (unix ms).
    pub observed_at: i64,
    /// Free-text place, e.g. "busreis Ardennen" (no GPS).
    pub place: String,
    /// The excursion document id, when it happened on a trip.
    #[uniffi(default)]
    pub excursion: Option<String>,
    /// Category id (see `signal_categories()`).
    pub category: String,
    /// 0 notitie, 1 zorg, 2 vermoeden, 3 acuut (see `urgency_level()`).
    pub urgency: u8,
    /// The facts: what was seen or heard.
    pub facts: String,
    /// The signaller's own interpretation, kept apart from the facts.
    #[uniffi(default)]
    pub interpretation: Option<String>,
    /// How the signaller knows.
    pub source: SignalSource,
    /// The pupil's own words, verbatim.
    #[uniffi(default)]
    pub pupil_quote: Option<String>,
    /// Flag-system level for sexual behaviour (see `flag_levels()`).
    #[uniffi(default)]
    pub flag: Option<String>,
    /// Share at once (append-only from then on); `false` keeps a draft.
    pub share: bool,
}

impl From<NewSignal> for store::NewSignal {
    fn from(s: NewSignal) -> Self {
        store::NewSignal {
            pupil: s.pupil,
            observed_at: s.observed_at,
            context: core::SignalContext {
                place: s.place,
                excursion: s.excursion,
            },
            category: s.category,
            urgency: s.urgency,
            facts: s.facts,
            interpretation: s.interpretation,
            source: s.source.into(),
            pupil_quote: s.pupil_quote,
            flag: s.flag,
            share: s.share,
        }
    }
}

/// What an entry appended to a signal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FollowUpKind {
    /// A follow-up action or note: the author's, or one of a mentor or the care team, which
    /// the signaller does not read for being its author.
    FollowUp,
    /// A correction by the author (the original stays).
    Correction,
    /// "Opgepakt": the signaller sees someone picked it up (a status: no text of its own).
    PickedUp,
    /// Closed (a status: no text of its own).
    Closed,
    /// A note a mentor or the care team addresses to the signaller: she reads its text.
    ToSignaller,
}

impl From<FollowUpKind> for core::FollowUpKind {
    fn from(k: FollowUpKind) -> Self {
        match k {
            FollowUpKind::FollowUp => core::FollowUpKind::FollowUp,
            FollowUpKind::Correction => core::FollowUpKind::Correction,
            FollowUpKind::PickedUp => core::FollowUpKind::PickedUp,
            FollowUpKind::Closed => core::FollowUpKind::Closed,
            FollowUpKind::ToSignaller => core::FollowUpKind::ToSignaller,
        }
    }
}

impl From<core::FollowUpKind> for FollowUpKind {
    fn from(k: core::FollowUpKind) -> Self {
        match k {
            core::FollowUpKind::FollowUp => FollowUpKind::FollowUp,
            core::FollowUpKind::Correction => FollowUpKind::Correction,
            core::FollowUpKind::PickedUp => FollowUpKind::PickedUp,
            core::FollowUpKind::Closed => FollowUpKind::Closed,
            core::FollowUpKind::ToSignaller => FollowUpKind::ToSignaller,
        }
    }
}

/// An entry appended to a signal.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FollowUp {
    /// Stable id.
    pub id: String,
    /// Staff id of its author.
    pub author: String,
    /// Unix ms.
    pub at: i64,
    /// What it is (an unknown kind reads as a follow-up).
    pub kind: FollowUpKind,
    /// Text.
    pub text: String,
}

impl From<core::FollowUp> for FollowUp {
    fn from(f: core::FollowUp) -> Self {
        FollowUp {
            kind: core::FollowUpKind::parse(&f.kind)
                .unwrap_or(core::FollowUpKind::FollowUp)
                .into(),
            id: f.id,
            author: f.author,
            at: f.at,
            text: f.text,
        }
    }
}

/// An interpretation, kept apart from the facts, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Interpretation {
    /// The interpretation.
    pub text: String,
    /// Staff id of whoever interprets.
    pub by: String,
}

/// A signal, as read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Signal {
    /// Document id.
    pub id: String,
    /// When observed (unix ms).
    pub observed_at: i64,
    /// When recorded (unix ms).
    pub recorded_at: i64,
    /// Free-text place.
    pub place: String,
    /// Excursion document id.
    pub excursion: Option<String>,
    /// Category id.
    pub category: String,
    /// 0-3.
    pub urgency: u8,
    /// The facts.
    pub facts: String,
    /// The interpretation, kept apart.
    pub interpretation: Option<Interpretation>,
    /// How the signaller knows.
    pub source: SignalSource,
    /// The pupil's own words.
    pub pupil_quote: Option<String>,
    /// Flag-system level.
    pub flag: Option<String>,
    /// Shared (append-only) or a draft.
    pub shared: bool,
    /// Not closed.
    pub open: bool,
    /// Someone picked it up.
    pub picked_up: bool,
    /// Appended entries, in order.
    pub follow_ups: Vec<FollowUp>,
    /// Staff the school leader added as readers (staff-misconduct signals only).
    pub added_readers: Vec<String>,
}

impl Signal {
    pub(crate) fn new(id: DocumentId, s: core::Signal) -> Self {
        Signal {
            id: id.to_string(),
            open: s.is_open(),
            picked_up: s.picked_up(),
            observed_at: s.observed_at,
            recorded_at: s.recorded_at,
            place: s.context.place,
            excursion: s.context.excursion,
            category: s.category,
            urgency: s.urgency,
            facts: s.facts,
            interpretation: s.interpretation.map(|i| Interpretation {
                text: i.text,
                by: i.by,
            }),
            source: s.source.into(),
            pupil_quote: s.pupil_quote,
            flag: s.flag,
            shared: s.shared,
            follow_ups: s.follow_ups.into_iter().map(Into::into).collect(),
            added_readers: s.added_readers,
        }
    }
}

/// Filters for the signal list; leave a field `null` to not filter on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SignalFilter {
    /// One pupil.
    #[uniffi(default)]
    pub pupil: Option<String>,
    /// One category.
    #[uniffi(default)]
    pub category: Option<String>,
    /// At least this urgency.
    #[uniffi(default)]
    pub min_urgency: Option<u8>,
    /// Open (`true`) or closed (`false`) only.
    #[uniffi(default)]
    pub open: Option<bool>,
    /// By this author (staff id).
    #[uniffi(default)]
    pub author: Option<String>,
    /// Recorded on this excursion.
    #[uniffi(default)]
    pub excursion: Option<String>,
}

impl From<SignalFilter> for store::SignalFilter {
    fn from(f: SignalFilter) -> Self {
        store::SignalFilter {
            pupil: f.pupil,
            category: f.category,
            min_urgency: f.min_urgency,
            open: f.open,
            author: f.author,
            excursion: f.excursion,
        }
    }
}

/// A signal in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignalSummary {
    /// Document id.
    pub id: String,
    /// Pupil id.
    pub pupil: String,
    /// Staff id of the author.
    pub author: String,
    /// Category id.
    pub category: String,
    /// 0-3.
    pub urgency: u8,
    /// When observed (unix ms).
    pub observed_at: i64,
    /// Shared or draft.
    pub shared: bool,
    /// Not closed.
    pub open: bool,
    /// Someone picked it up.
    pub picked_up: bool,
    /// Number of follow-up entries the user reads of it (as `signal` returns them): for
    /// the care team and the mentor the notes beside the signal too.
    pub follow_ups: u32,
}

impl From<store::SignalSummary> for SignalSummary {
    fn from(s: store::SignalSummary) -> Self {
        SignalSummary {
            id: s.id.to_string(),
            pupil: s.pupil,
            author: s.author,
            category: s.category,
            urgency: s.urgency,
            observed_at: s.observed_at,
            shared: s.shared,
            open: s.open,
            picked_up: s.picked_up,
            follow_ups: s.follow_ups,
        }
    }
}
