//! The attention list, the offline lease and the outbox.

use super::DocumentKind;
use omkijken_core::store::{self as store};

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
