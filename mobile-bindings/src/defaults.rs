//! The domain defaults as FFI records: thermometer scales, kindgesprek templates, signal
//! categories, the flag system and the urgency levels with their emergency numbers.

use omkijken_core::defaults as core;
use omkijken_core::model::{self, AgeBand as CoreAgeBand};

/// A user-facing text in Dutch and English.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LocalizedText {
    /// Dutch.
    pub nl: String,
    /// English.
    pub en: String,
}

impl From<core::Label> for LocalizedText {
    fn from(l: core::Label) -> Self {
        model::Localized::from(l).into()
    }
}

/// Age band of a pupil: decides the thermometer scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AgeBand {
    /// Primary school, groep 1-4.
    Po1To4,
    /// Primary school, groep 5-8.
    Po5To8,
    /// Secondary school and mbo.
    VoMbo,
}

impl From<CoreAgeBand> for AgeBand {
    fn from(b: CoreAgeBand) -> Self {
        match b {
            CoreAgeBand::Po1to4 => AgeBand::Po1To4,
            CoreAgeBand::Po5to8 => AgeBand::Po5To8,
            CoreAgeBand::VoMbo => AgeBand::VoMbo,
        }
    }
}

impl From<AgeBand> for CoreAgeBand {
    fn from(b: AgeBand) -> Self {
        match b {
            AgeBand::Po1To4 => CoreAgeBand::Po1to4,
            AgeBand::Po5To8 => CoreAgeBand::Po5to8,
            AgeBand::VoMbo => CoreAgeBand::VoMbo,
        }
    }
}

/// An emotion word a pupil may add to a thermometer reading.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EmotionWord {
    /// Stable id, written into a reading's `emotions`.
    pub id: String,
    /// What the pupil sees.
    pub label: LocalizedText,
}

/// A feelings-thermometer scale (gevoelsthermometer).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ThermometerScale {
    /// Stable id, written into each reading.
    pub id: String,
    /// The age band this scale is for.
    pub band: AgeBand,
    /// Lowest score.
    pub min: u8,
    /// Highest score.
    pub max: u8,
    /// One label per score: `labels[score - min]`. On the groep 1-4 scale a score is an
    /// emotion and an intensity: `emotion index * 3 + intensity`.
    pub labels: Vec<LocalizedText>,
    /// Optional emotion words; empty when the score itself is the emotion.
    pub emotion_words: Vec<EmotionWord>,
    /// The "wil je even praten?" question.
    pub talk_flag: LocalizedText,
    /// From where a reading counts as low (see the core's `Scale::is_low`).
    pub low_threshold: u8,
}

impl From<core::Scale> for ThermometerScale {
    fn from(s: core::Scale) -> Self {
        model::SchoolScale::from(s).into()
    }
}

/// A question of a kindgesprek template.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TemplateQuestion {
    /// Stable id: the key of the answer in a conversation's `answers`.
    pub id: String,
    /// The question as the mentor asks it.
    pub label: LocalizedText,
}

/// A kindgesprek template.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ConversationTemplate {
    /// Stable id, passed to `start_conversation`.
    pub id: String,
    /// Name shown when choosing a template.
    pub name: LocalizedText,
    /// Read to the pupil first: who can read the note. Never promises secrecy.
    pub opening: LocalizedText,
    /// The questions, in order.
    pub questions: Vec<TemplateQuestion>,
}

impl From<core::Template> for ConversationTemplate {
    fn from(t: core::Template) -> Self {
        model::TemplateSetting::from(t).into()
    }
}

/// Where signals of a category go, beyond the author and the pupil's mentors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SignalRoute {
    /// The care team, from urgency 1.
    Normal,
    /// The care team and the anti-bullying coordinator, from urgency 1.
    AntiBullying,
    /// The care team; may become a meldcode case.
    Meldcode,
    /// Straight to the school leader and board; never to the mentor or care team.
    BoardRoute,
}

impl From<core::Route> for SignalRoute {
    fn from(r: core::Route) -> Self {
        match r {
            core::Route::Normal => SignalRoute::Normal,
            core::Route::AntiBullying => SignalRoute::AntiBullying,
            core::Route::Meldcode => SignalRoute::Meldcode,
            core::Route::BoardRoute => SignalRoute::BoardRoute,
        }
    }
}

/// A signal category.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignalCategory {
    /// Stable id, written into a signal.
    pub id: String,
    /// Name.
    pub label: LocalizedText,
    /// What belongs here.
    pub description: LocalizedText,
    /// Who receives these signals.
    pub route: SignalRoute,
    /// Signals of this category are rated with the flag system (see `flags()`).
    pub flag_system: bool,
    /// When to pick urgency 3 at once, shown when choosing the category.
    pub urgent_hint: Option<LocalizedText>,
}

impl From<core::Category> for SignalCategory {
    fn from(c: core::Category) -> Self {
        SignalCategory {
            id: c.id.into(),
            label: c.label.into(),
            description: c.description.into(),
            route: c.route.into(),
            flag_system: c.flag_system,
            urgent_hint: c.urgent_hint.map(Into::into),
        }
    }
}

/// A level of the flag system (vlaggensysteem) for sexual behaviour.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FlagLevel {
    /// Stable id: groen, geel, rood, zwart.
    pub id: String,
    /// Name.
    pub label: LocalizedText,
    /// What the level means and asks of staff.
    pub guidance: LocalizedText,
}

impl From<core::Flag> for FlagLevel {
    fn from(f: core::Flag) -> Self {
        FlagLevel {
            id: f.id.into(),
            label: f.label.into(),
            guidance: f.guidance.into(),
        }
    }
}

/// Someone to call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EmergencyContact {
    /// Who, and when to call.
    pub label: LocalizedText,
    /// The number; `null` where the school fills it in (the school leader).
    pub number: Option<String>,
}

impl From<core::Contact> for EmergencyContact {
    fn from(c: core::Contact) -> Self {
        EmergencyContact {
            label: c.label.into(),
            number: c.number.map(Into::into),
        }
    }
}

/// An urgency level of a signal, with what the signaller should do.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UrgencyLevel {
    /// 0 notitie, 1 zorg, 2 vermoeden, 3 acuut.
    pub level: u8,
    /// Stable name.
    pub id: String,
    /// Name.
    pub label: LocalizedText,
    /// What happens with the signal and what the signaller should do.
    pub guidance: LocalizedText,
    /// Numbers to show at once, before the signal is even sent (level 3 only: 112,
    /// Veilig Thuis, ...).
    pub emergency_contacts: Vec<EmergencyContact>,
}

impl From<core::Urgency> for UrgencyLevel {
    fn from(u: core::Urgency) -> Self {
        UrgencyLevel {
            level: u.level,
            id: u.id.into(),
            label: u.label.into(),
            guidance: u.guidance.into(),
            emergency_contacts: u.emergency_contacts.iter().map(|&c| c.into()).collect(),
        }
    }
}

/// The default thermometer scale of an age band.
#[uniffi::export]
pub fn thermometer_scale_for_band(band: AgeBand) -> ThermometerScale {
    core::scale_for(band.into()).into()
}

/// The kindgesprek templates, the default ("ik-jij-wij") first.
#[uniffi::export]
pub fn conversation_templates() -> Vec<ConversationTemplate> {
    core::templates().into_iter().map(Into::into).collect()
}

/// A kindgesprek template by id, or `null`.
#[uniffi::export]
pub fn conversation_template(id: String) -> Option<ConversationTemplate> {
    core::template(&id).map(Into::into)
}

/// The signal categories, in the order to show them.
#[uniffi::export]
pub fn signal_categories() -> Vec<SignalCategory> {
    core::categories().into_iter().map(Into::into).collect()
}

/// The flag system's levels, from acceptable to severe.
#[uniffi::export]
pub fn flag_levels() -> Vec<FlagLevel> {
    core::FLAGS.iter().map(|&f| f.into()).collect()
}

/// The urgency levels 0 to 3.
#[uniffi::export]
pub fn urgency_levels() -> Vec<UrgencyLevel> {
    core::URGENCIES.iter().map(|&u| u.into()).collect()
}

/// One urgency level's guidance (level 3 carries the emergency numbers), or `null` above 3.
#[uniffi::export]
pub fn urgency_level(level: u8) -> Option<UrgencyLevel> {
    core::urgency(level).map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: core::Label) -> LocalizedText {
        LocalizedText {
            nl: l.nl.into(),
            en: l.en.into(),
        }
    }

    #[test]
    fn default_scales_and_templates_read_as_the_core_defaults() {
        for band in [AgeBand::Po1To4, AgeBand::Po5To8, AgeBand::VoMbo] {
            let s = core::scale_for(band.into());
            let expected = ThermometerScale {
                id: s.id.into(),
                band,
                min: s.min,
                max: s.max,
                labels: s.labels.iter().copied().map(text).collect(),
                emotion_words: s
                    .emotion_words
                    .iter()
                    .map(|w| EmotionWord {
                        id: w.id.into(),
                        label: text(w.label),
                    })
                    .collect(),
                talk_flag: text(s.talk_flag),
                low_threshold: s.low_threshold,
            };
            assert_eq!(thermometer_scale_for_band(band), expected);
        }
        for t in core::templates() {
            let expected = ConversationTemplate {
                id: t.id.into(),
                name: text(t.name),
                opening: text(t.opening),
                questions: t
                    .questions
                    .iter()
                    .map(|q| TemplateQuestion {
                        id: q.id.into(),
                        label: text(q.label),
                    })
                    .collect(),
            };
            assert_eq!(conversation_template(t.id.into()), Some(expected));
        }
    }
}
