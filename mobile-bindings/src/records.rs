//! Care records and list rows as FFI records, with their conversions.
//!
//! Ids are strings (base58 document ids); times are unix milliseconds; dates are
//! `YYYY-MM-DD` and months `YYYY-MM`.

use crate::error::{OmkijkenError, Result};
use omkijken_core::DocumentId;
use omkijken_core::model::{self as core, SourceKind};
use omkijken_core::store::{self as store};
use std::collections::HashMap;

/// Parse a document id given by the app.
pub(crate) fn doc_id(id: &str) -> Result<DocumentId> {
    id.parse().map_err(|_| OmkijkenError::Invalid {
        reason: "not a document id".into(),
    })
}

// ---- kinds ------------------------------------------------------------------------------

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

// ---- conversations ----------------------------------------------------------------------

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

// ---- signals ----------------------------------------------------------------------------

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
    /// Number of appended entries.
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

// ---- thermometer ------------------------------------------------------------------------

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

// ---- attention list and outbox ----------------------------------------------------------

/// Why a pupil is on the attention list.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AttentionReason {
    /// An open signal of urgency 1 or more that nobody picked up yet.
    OpenSignal {
        /// Signal document id.
        signal: String,
        /// Its urgency.
        urgency: u8,
        /// Its category id.
        category: String,
    },
    /// The pupil asked to talk (thermometer) and nobody marked it answered yet (for her
    /// mentors and the teachers of her group).
    WantsToTalk {
        /// When (unix ms).
        at: i64,
    },
    /// A request to talk unanswered for the school's number of school days (for the care
    /// coordinator).
    TalkNotAnswered {
        /// When the pupil asked (unix ms).
        at: i64,
        /// School days since.
        school_days: u32,
    },
    /// The thermometer fell: the last 7 days well below the 21 days before.
    FallingTrend {
        /// Mean level before (0..=1).
        before: f32,
        /// Mean level recently (0..=1).
        recent: f32,
    },
    /// A meldcode case's feedback from Veilig Thuis is overdue.
    CaseFeedbackOverdue {
        /// Case document id.
        case_id: String,
        /// When it was due, `YYYY-MM-DD`.
        due: String,
    },
    /// An open meldcode case's evaluation date has come.
    CaseEvaluationDue {
        /// Case document id.
        case_id: String,
        /// The evaluation date, `YYYY-MM-DD`.
        on: String,
    },
    /// An agreement of a kindgesprek is past its follow-up date and not done.
    AgreementOverdue {
        /// The kindgesprek's document id.
        conversation: String,
        /// The agreement's id.
        agreement: String,
        /// Its follow-up date, `YYYY-MM-DD`.
        due: String,
    },
}

/// One row of the attention list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AttentionItem {
    /// Pupil id.
    pub pupil: String,
    /// Why.
    pub reason: AttentionReason,
}

impl From<store::AttentionItem> for AttentionItem {
    fn from(i: store::AttentionItem) -> Self {
        AttentionItem {
            pupil: i.pupil,
            reason: match i.reason {
                store::AttentionReason::OpenSignal {
                    signal,
                    urgency,
                    category,
                } => AttentionReason::OpenSignal {
                    signal: signal.to_string(),
                    urgency,
                    category,
                },
                store::AttentionReason::WantsToTalk { at } => AttentionReason::WantsToTalk { at },
                store::AttentionReason::TalkNotAnswered { at, school_days } => {
                    AttentionReason::TalkNotAnswered { at, school_days }
                }
                store::AttentionReason::AgreementOverdue {
                    conversation,
                    agreement,
                    due,
                } => AttentionReason::AgreementOverdue {
                    conversation: conversation.to_string(),
                    agreement,
                    due,
                },
                store::AttentionReason::FallingTrend { before, recent } => {
                    AttentionReason::FallingTrend { before, recent }
                }
                store::AttentionReason::CaseFeedbackOverdue { case, due } => {
                    AttentionReason::CaseFeedbackOverdue {
                        case_id: case.to_string(),
                        due,
                    }
                }
                store::AttentionReason::CaseEvaluationDue { case, on } => {
                    AttentionReason::CaseEvaluationDue {
                        case_id: case.to_string(),
                        on,
                    }
                }
            },
        }
    }
}

/// The school's offline lease as this device sees it: after `days` without a completed
/// sync the store locks (`Locked` errors) until the next sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OfflineLease {
    /// The lease in days (0: the school has none).
    pub days: u32,
    /// When the last sync completed (unix ms), if ever.
    pub synced_at: Option<i64>,
    /// When the store locks unless it syncs first (unix ms): show "sync before ..." in time.
    pub locks_at: Option<i64>,
    /// Locked now.
    pub locked: bool,
}

impl From<store::LeaseStatus> for OfflineLease {
    fn from(l: store::LeaseStatus) -> Self {
        OfflineLease {
            days: l.days,
            synced_at: l.synced_at,
            locks_at: l.locks_at,
            locked: l.locked,
        }
    }
}

/// A document with changes no server has confirmed yet ("not sent yet").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OutboxEntry {
    /// Document id.
    pub id: String,
    /// Kind.
    pub kind: DocumentKind,
    /// Pupil id, when bound to one.
    pub pupil: Option<String>,
}

impl From<store::OutboxEntry> for OutboxEntry {
    fn from(e: store::OutboxEntry) -> Self {
        OutboxEntry {
            id: e.id.to_string(),
            kind: e.kind.into(),
            pupil: e.pupil,
        }
    }
}
