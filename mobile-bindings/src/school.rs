//! The school's settings as devices read them: thermometer scales and labels per age band,
//! kindgesprek templates, cadence, and whether parents' names are recorded.

use crate::defaults::{
    AgeBand, ConversationTemplate, EmotionWord, LocalizedText, TemplateQuestion, ThermometerScale,
};
use crate::error::Result;
use crate::store::OmkijkenStore;
use omkijken_core::model as core;
use omkijken_core::store;

impl From<core::Localized> for LocalizedText {
    fn from(l: core::Localized) -> Self {
        LocalizedText { nl: l.nl, en: l.en }
    }
}

impl From<core::SchoolScale> for ThermometerScale {
    fn from(s: core::SchoolScale) -> Self {
        ThermometerScale {
            id: s.scale.id.into(),
            band: s.scale.band.into(),
            min: s.scale.min,
            max: s.scale.max,
            labels: s.labels.into_iter().map(Into::into).collect(),
            emotion_words: s
                .emotion_words
                .into_iter()
                .map(|(id, label)| EmotionWord {
                    id,
                    label: label.into(),
                })
                .collect(),
            talk_flag: s.talk_flag.into(),
            low_threshold: s.scale.low_threshold,
        }
    }
}

impl From<core::TemplateSetting> for ConversationTemplate {
    fn from(t: core::TemplateSetting) -> Self {
        ConversationTemplate {
            id: t.id,
            name: t.name.into(),
            opening: t.opening.into(),
            questions: t
                .questions
                .into_iter()
                .map(|q| TemplateQuestion {
                    id: q.id,
                    label: q.label.into(),
                })
                .collect(),
        }
    }
}

/// The school's settings that shape the apps (defaults where the school set none).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SchoolSettings {
    /// The school leader's name on the acute screen, if set.
    pub leader_name: Option<String>,
    /// The school leader's number on the acute screen, if set.
    pub leader_phone: Option<String>,
    /// The template a new kindgesprek starts from.
    pub default_template: String,
    /// Kindgesprekken a mentor holds with each pupil a year.
    pub conversations_per_year: u32,
    /// The months (1-12) the thermometer is taken; empty: every month.
    pub thermometer_months: Vec<u32>,
    /// Whether parents' names are recorded on an oudercontact (else their role only).
    pub parent_names: bool,
}

/// When a pupil's next kindgesprek is due by the school's cadence.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConversationDue {
    /// Pupil id.
    pub pupil: String,
    /// Date of the last kindgesprek on this device that the user may read, if any.
    pub last_held_on: Option<String>,
    /// When the next is due, `YYYY-MM-DD` (today when there was none).
    pub due_on: String,
    /// The due date has come.
    pub due: bool,
}

impl From<store::ConversationDue> for ConversationDue {
    fn from(d: store::ConversationDue) -> Self {
        ConversationDue {
            pupil: d.pupil,
            last_held_on: d.last_held_on,
            due_on: d.due_on,
            due: d.due,
        }
    }
}

/// An open agreement of a kindgesprek with its follow-up date (the mentor's agenda).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AgreementDue {
    /// Pupil id.
    pub pupil: String,
    /// The kindgesprek's document id (`conversation(id)` has the text).
    pub conversation: String,
    /// The agreement's id (for `edit_agreement`, `set_agreement_done`).
    pub agreement: String,
    /// Who acts on it (staff id, or `pupil`).
    pub owner: String,
    /// Follow-up date, `YYYY-MM-DD`.
    pub due: String,
    /// The date has passed.
    pub overdue: bool,
}

impl From<store::AgreementDue> for AgreementDue {
    fn from(a: store::AgreementDue) -> Self {
        AgreementDue {
            pupil: a.pupil,
            conversation: a.conversation.to_string(),
            agreement: a.agreement,
            owner: a.owner,
            due: a.due,
            overdue: a.overdue,
        }
    }
}

/// The current round of kindgesprekken and the user's pupils who had none in it yet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConversationRound {
    /// The round, 1-based.
    pub number: u32,
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, `YYYY-MM-DD`.
    pub to: String,
    /// Pupils (ids) the user mentors with no kindgesprek in the round.
    pub without: Vec<String>,
}

impl From<store::ConversationRoundStatus> for ConversationRound {
    fn from(r: store::ConversationRoundStatus) -> Self {
        ConversationRound {
            number: r.number,
            from: r.from,
            to: r.to,
            without: r.without,
        }
    }
}

#[uniffi::export]
impl OmkijkenStore {
    /// The mentor's agenda on `today` (`YYYY-MM-DD`): open agreements of her pupils'
    /// kindgesprekken that are overdue or due this week (to Sunday), soonest first. Edit
    /// one with `edit_agreement` (text, owner, due date), complete it with
    /// `set_agreement_done`.
    pub fn agreement_agenda(&self, today: String) -> Result<Vec<AgreementDue>> {
        Ok(self
            .inner
            .agreement_agenda(&today)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The round of kindgesprekken `today` (`YYYY-MM-DD`) falls in by the school's cadence
    /// and which of the user's pupils had no kindgesprek in it yet; `null` between rounds.
    pub fn conversation_round(&self, today: String) -> Result<Option<ConversationRound>> {
        Ok(self.inner.conversation_round(&today)?.map(Into::into))
    }

    /// The school's settings (from the roster document; defaults before the first sync or
    /// where the school set none).
    pub fn school_settings(&self) -> Result<SchoolSettings> {
        let s = self.inner.school_settings()?;
        Ok(SchoolSettings {
            default_template: s.default_template(),
            conversations_per_year: s.conversations_per_year(),
            leader_name: s.leader_name,
            leader_phone: s.leader_phone,
            thermometer_months: s.thermometer_months,
            parent_names: self.inner.roster()?.parent_names,
        })
    }

    /// The school's thermometer scale for an age band, with its labels and emotion words.
    pub fn school_thermometer_scale(&self, band: AgeBand) -> Result<ThermometerScale> {
        Ok(self.inner.school_settings()?.scale_for(band.into()).into())
    }

    /// The kindgesprek templates on offer at the school: its own first, then the default
    /// ones. Pass one's id to `start_conversation` (an empty id: the school's default).
    pub fn school_conversation_templates(&self) -> Result<Vec<ConversationTemplate>> {
        Ok(self
            .inner
            .conversation_templates()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// For each pupil the user mentors, when the next kindgesprek is due by the school's
    /// cadence on `today` (`YYYY-MM-DD`), soonest first.
    pub fn conversations_due(&self, today: String) -> Result<Vec<ConversationDue>> {
        Ok(self
            .inner
            .conversations_due(&today)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
