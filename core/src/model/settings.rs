//! A school's own settings (DOMAIN.md: scales and templates are configurable per school).
//!
//! Written by the server (the admin's `admin settings`, on the school leader's word) into the
//! roster document under the root key `settings` beside the roster record, and read by every
//! device: the acute screen's school numbers, the thermometer scale and its labels per age
//! band, the school's own kindgesprek templates and the one a new kindgesprek starts from,
//! and the cadence (kindgesprekken per pupil per year, thermometer months). Every field may
//! be missing: a missing field is today's default ([`crate::defaults`]).
//!
//! A school chooses its thermometer scale per age band among the default scales (their ids
//! are what readings record, so trends, the attention list and the record rules keep
//! working) and may give it its own labels, "wil je even praten?" text and a narrower set
//! of emotion words. A school template has an id of its own (never a default's): the
//! answers of a kindgesprek are keyed by its question ids, so a question id keeps its
//! meaning once used.

use super::AgeBand;
use crate::defaults::{self, Label};
use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A text in Dutch and English, as a school writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    /// Dutch.
    pub nl: String,
    /// English (empty: the Dutch text).
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub en: String,
}

impl From<Label> for Localized {
    fn from(l: Label) -> Self {
        Localized {
            nl: l.nl.into(),
            en: l.en.into(),
        }
    }
}

impl Localized {
    /// With the English text filled in from the Dutch where the school gave none.
    fn complete(mut self) -> Self {
        if self.en.trim().is_empty() {
            self.en = self.nl.clone();
        }
        self
    }
}

/// The thermometer of one age band at a school.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSetting {
    /// A default scale's id ([`defaults::SCALE_EMOTIONS`], [`defaults::SCALE_SMILEYS`],
    /// [`defaults::SCALE_MARK`]).
    pub scale: String,
    /// Labels per score, `labels[score - min]`: all of them, or none for the scale's own.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub labels: Vec<Localized>,
    /// The "wil je even praten?" text; none: the scale's own.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub talk_flag: Option<Localized>,
    /// The emotion words offered, a subset of the scale's (ids); empty: all of them.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub emotion_words: Vec<String>,
}

/// A question of a school's kindgesprek template.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSetting {
    /// Stable id: the key of the answer in a kindgesprek.
    pub id: String,
    /// The question as the mentor asks it.
    pub label: Localized,
}

/// A kindgesprek template: one of the school's, or a default one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSetting {
    /// Stable id, written into each kindgesprek (never a default template's id).
    pub id: String,
    /// Name shown when choosing a template.
    pub name: Localized,
    /// Read to the pupil first: who can read the note. Never promises secrecy.
    pub opening: Localized,
    /// The questions, in order.
    pub questions: Vec<QuestionSetting>,
}

impl From<defaults::Template> for TemplateSetting {
    fn from(t: defaults::Template) -> Self {
        TemplateSetting {
            id: t.id.into(),
            name: t.name.into(),
            opening: t.opening.into(),
            questions: t
                .questions
                .into_iter()
                .map(|q| QuestionSetting {
                    id: q.id.into(),
                    label: q.label.into(),
                })
                .collect(),
        }
    }
}

/// A school's settings (see the module docs). Missing fields are defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchoolSettings {
    /// The school leader's name as the acute screen shows it.
    #[autosurgeon(missing = "Default::default")]
    pub leader_name: Option<String>,
    /// The school leader's phone number for the acute screen (urgency 3).
    #[autosurgeon(missing = "Default::default")]
    pub leader_phone: Option<String>,
    /// The thermometer per age band (`po_1_4`, `po_5_8`, `vo_mbo`); a band not in it uses
    /// its default scale.
    #[autosurgeon(missing = "Default::default")]
    pub thermometer: BTreeMap<String, ScaleSetting>,
    /// The school's own kindgesprek templates (offered before the default ones).
    #[autosurgeon(missing = "Default::default")]
    pub templates: Vec<TemplateSetting>,
    /// The template a new kindgesprek starts from; none: [`defaults::DEFAULT_TEMPLATE`].
    #[autosurgeon(missing = "Default::default")]
    pub default_template: Option<String>,
    /// How many kindgesprekken a mentor holds with each pupil a year; none:
    /// [`defaults::CONVERSATIONS_PER_YEAR`].
    #[autosurgeon(missing = "Default::default", hydrate = "super::any_uint")]
    pub conversations_per_year: Option<u32>,
    /// The months (1-12) in which the school takes the thermometer; empty: every month.
    #[autosurgeon(missing = "Default::default", hydrate = "super::any_uint")]
    pub thermometer_months: Vec<u32>,
    /// School days (Monday to Friday) an unanswered "wil je even praten?" waits for the
    /// pupil's mentor before it reaches the care coordinator's attention list; none:
    /// [`TALK_ESCALATION_SCHOOL_DAYS`].
    #[autosurgeon(missing = "Default::default", hydrate = "super::any_uint")]
    pub talk_escalation_school_days: Option<u32>,
    /// The rounds of kindgesprekken in a school year, one per kindgesprek a year, each a
    /// period `from`-`to` (`MM-DD`; a round may run over New Year); empty: the school year
    /// from 1 August split into [`SchoolSettings::conversations_per_year`] rounds of whole
    /// months.
    #[autosurgeon(missing = "Default::default")]
    pub conversation_rounds: Vec<RoundSetting>,
    /// The sociogram questions a mentor picks from; empty: the default ones
    /// ([`defaults::sociogram_questions`]).
    #[autosurgeon(missing = "Default::default")]
    pub sociogram_questions: Vec<SociogramQuestionSetting>,
}

/// One round of kindgesprekken: a period of the school year (`MM-DD` to `MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundSetting {
    /// First day, `MM-DD`.
    pub from: String,
    /// Last day, `MM-DD`.
    pub to: String,
}

/// A round of kindgesprekken in one school year, with its dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// 1-based, in the order of the school's rounds.
    pub number: u32,
    /// First day.
    pub from: jiff::civil::Date,
    /// Last day.
    pub to: jiff::civil::Date,
}

/// Whether `id` may be the stable id of a school's template or sociogram question: 1-64 of
/// a-z, A-Z, 0-9, `-` and `_`.
fn stable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn month_day(s: &str) -> Option<(i8, i8)> {
    let (m, d) = s.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (m, d): (i8, i8) = (m.parse().ok()?, d.parse().ok()?);
    // Checked against a leap year, so 02-29 is a day (in other years it is 02-28).
    jiff::civil::Date::new(2024, m, d).ok().map(|_| (m, d))
}

/// Default of [`SchoolSettings::talk_escalation_school_days`].
pub const TALK_ESCALATION_SCHOOL_DAYS: u32 = 3;

impl SchoolSettings {
    /// The rounds as periods `MM-DD` to `MM-DD`: the school's, or the default split of the
    /// school year (1 August to 31 July) into whole months.
    pub fn rounds(&self) -> Vec<RoundSetting> {
        if !self.conversation_rounds.is_empty() {
            return self.conversation_rounds.clone();
        }
        let n = self.conversations_per_year().clamp(1, 12) as usize;
        // Months of the school year from August, split as evenly as whole months allow.
        let months: Vec<i8> = (0..12).map(|i| ((7 + i) % 12 + 1) as i8).collect();
        let mut out = vec![];
        let mut start = 0;
        for r in 0..n {
            let len = 12 / n + usize::from(r < 12 % n);
            let (first, last) = (months[start], months[start + len - 1]);
            let days = jiff::civil::Date::new(2023, last, 1)
                .map(|d| d.days_in_month())
                .unwrap_or(28);
            out.push(RoundSetting {
                from: format!("{first:02}-01"),
                to: format!("{last:02}-{days:02}"),
            });
            start += len;
        }
        out
    }

    /// The round `today` falls in, with its dates; none between the school's rounds.
    pub fn round_on(&self, today: jiff::civil::Date) -> Option<Round> {
        let at = |year: i16, md: (i8, i8)| {
            jiff::civil::Date::new(year, md.0, md.1)
                .or_else(|_| jiff::civil::Date::new(year, md.0, md.1 - 1))
                .ok()
        };
        for (i, r) in self.rounds().iter().enumerate() {
            let (Some(f), Some(t)) = (month_day(&r.from), month_day(&r.to)) else {
                continue;
            };
            // The round that starts in this year or the year before and covers today.
            for year in [today.year() - 1, today.year()] {
                let Some(from) = at(year, f) else { continue };
                let to_year = if t < f { year + 1 } else { year };
                let Some(to) = at(to_year, t) else { continue };
                if from <= today && today <= to {
                    return Some(Round {
                        number: i as u32 + 1,
                        from,
                        to,
                    });
                }
            }
        }
        None
    }

    /// School days an unanswered request to talk waits before the care coordinator sees it.
    pub fn talk_escalation_days(&self) -> u32 {
        self.talk_escalation_school_days
            .unwrap_or(TALK_ESCALATION_SCHOOL_DAYS)
    }
}

/// A sociogram question on offer at a school.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SociogramQuestionSetting {
    /// Stable id (1-64 of a-z, 0-9, - and _).
    pub id: String,
    /// The question as pupils read it.
    pub text: Localized,
    /// "positive" (a choice for someone) or "negative" (a choice against).
    pub polarity: String,
}

impl From<defaults::SociogramQuestionDefault> for SociogramQuestionSetting {
    fn from(q: defaults::SociogramQuestionDefault) -> Self {
        SociogramQuestionSetting {
            id: q.id.into(),
            text: q.text.into(),
            polarity: q.polarity.into(),
        }
    }
}

/// A thermometer scale as a school uses it: a default scale with the school's labels.
#[derive(Debug, Clone, PartialEq)]
pub struct SchoolScale {
    /// The default scale (its id is what readings record; it validates and normalises).
    pub scale: defaults::Scale,
    /// One label per score, `labels[score - min]`.
    pub labels: Vec<Localized>,
    /// The emotion words offered: (id, label).
    pub emotion_words: Vec<(String, Localized)>,
    /// The "wil je even praten?" text.
    pub talk_flag: Localized,
}

/// A default scale as a school that set nothing of its own uses it: its labels, all its
/// emotion words, its talk flag.
impl From<defaults::Scale> for SchoolScale {
    fn from(scale: defaults::Scale) -> Self {
        SchoolScale {
            labels: scale.labels.iter().copied().map(Into::into).collect(),
            emotion_words: scale
                .emotion_words
                .iter()
                .map(|w| (w.id.to_string(), w.label.into()))
                .collect(),
            talk_flag: scale.talk_flag.into(),
            scale,
        }
    }
}

impl SchoolScale {
    /// Check a reading: on the scale, with emotion words the school offers.
    pub fn validate<S: AsRef<str>>(&self, score: u8, emotions: &[S]) -> Result<(), String> {
        self.scale.validate(score, emotions)?;
        if emotions
            .iter()
            .any(|e| !self.emotion_words.iter().any(|(id, _)| id == e.as_ref()))
        {
            return Err(format!(
                "emotions holds a word this school does not offer on scale {}",
                self.scale.id
            ));
        }
        Ok(())
    }
}

/// Longest text a school may set (a label, an opening).
const MAX_SETTING_TEXT: usize = 4_000;
/// Most templates of a school.
const MAX_TEMPLATES: usize = 50;
/// Most questions of a template.
const MAX_QUESTIONS: usize = 50;

impl SchoolSettings {
    /// The thermometer scale the school uses for an age band.
    pub fn scale_for(&self, band: AgeBand) -> SchoolScale {
        let setting = self.thermometer.get(band.as_str());
        let scale = setting
            .and_then(|s| defaults::scale(&s.scale))
            .unwrap_or_else(|| defaults::scale_for(band));
        let mut school = SchoolScale::from(scale);
        let Some(setting) = setting else {
            return school;
        };
        if setting.labels.len() == school.labels.len() {
            school.labels = setting
                .labels
                .iter()
                .cloned()
                .map(Localized::complete)
                .collect();
        }
        let words = &setting.emotion_words;
        if !words.is_empty() {
            school.emotion_words.retain(|(id, _)| words.contains(id));
        }
        if let Some(t) = setting.talk_flag.clone() {
            school.talk_flag = Localized::complete(t);
        }
        school
    }

    /// Every kindgesprek template on offer: the school's, then the default ones.
    pub fn templates(&self) -> Vec<TemplateSetting> {
        self.templates
            .iter()
            .cloned()
            .map(|mut t| {
                t.name = t.name.complete();
                t.opening = t.opening.complete();
                for q in &mut t.questions {
                    q.label = std::mem::take(&mut q.label).complete();
                }
                t
            })
            .chain(defaults::templates().into_iter().map(Into::into))
            .collect()
    }

    /// A template on offer by id.
    pub fn template(&self, id: &str) -> Option<TemplateSetting> {
        self.templates().into_iter().find(|t| t.id == id)
    }

    /// The template a new kindgesprek starts from.
    pub fn default_template(&self) -> String {
        self.default_template
            .clone()
            .unwrap_or_else(|| defaults::DEFAULT_TEMPLATE.into())
    }

    /// Kindgesprekken per pupil per year.
    pub fn conversations_per_year(&self) -> u32 {
        self.conversations_per_year
            .unwrap_or(defaults::CONVERSATIONS_PER_YEAR)
    }

    /// The sociogram questions on offer: the school's, or the default ones.
    pub fn sociogram_questions(&self) -> Vec<SociogramQuestionSetting> {
        if self.sociogram_questions.is_empty() {
            defaults::sociogram_questions()
                .into_iter()
                .map(Into::into)
                .collect()
        } else {
            self.sociogram_questions
                .iter()
                .cloned()
                .map(|mut q| {
                    q.text = std::mem::take(&mut q.text).complete();
                    q
                })
                .collect()
        }
    }

    /// Whether the thermometer is taken in month `month` (1-12).
    pub fn thermometer_month(&self, month: u32) -> bool {
        self.thermometer_months.is_empty() || self.thermometer_months.contains(&month)
    }

    /// Check the settings on their own. The reason names the field, never the text.
    pub fn check(&self) -> Result<(), String> {
        let text = |what: &str, l: &Localized| {
            if l.nl.trim().is_empty() {
                Err(format!("{what}: the Dutch text is empty"))
            } else if l.nl.len() > MAX_SETTING_TEXT || l.en.len() > MAX_SETTING_TEXT {
                Err(format!("{what}: at most {MAX_SETTING_TEXT} bytes"))
            } else {
                Ok(())
            }
        };
        if let Some(p) = &self.leader_phone {
            let ok = !p.trim().is_empty()
                && p.len() <= 32
                && p.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
            if !ok {
                return Err("the leader's phone: digits, spaces, + - ( ), at most 32".into());
            }
        }
        if self.leader_name.as_ref().is_some_and(|n| n.len() > 100) {
            return Err("the leader's name: at most 100 bytes".into());
        }
        for (band, s) in &self.thermometer {
            if AgeBand::parse(band).is_none() {
                return Err(format!(
                    "thermometer: {band:?} is not an age band (po_1_4, po_5_8, vo_mbo)"
                ));
            }
            let Some(scale) = defaults::scale(&s.scale) else {
                let ids: Vec<_> = defaults::scales().iter().map(|s| s.id).collect();
                return Err(format!(
                    "thermometer {band}: the scale must be one of {}",
                    ids.join(", ")
                ));
            };
            if !s.labels.is_empty() && s.labels.len() != scale.labels.len() {
                return Err(format!(
                    "thermometer {band}: {} labels, one per score of {}",
                    scale.labels.len(),
                    scale.id
                ));
            }
            for l in &s.labels {
                text(&format!("thermometer {band} label"), l)?;
            }
            if let Some(t) = &s.talk_flag {
                text(&format!("thermometer {band} talk flag"), t)?;
            }
            for w in &s.emotion_words {
                if !scale.emotion_words.iter().any(|x| x.id == w) {
                    return Err(format!(
                        "thermometer {band}: scale {} offers no emotion word {w:?}",
                        scale.id
                    ));
                }
            }
        }
        if self.templates.len() > MAX_TEMPLATES {
            return Err(format!("templates: at most {MAX_TEMPLATES}"));
        }
        let mut ids: Vec<&str> = vec![];
        for t in &self.templates {
            if !stable_id(&t.id) {
                return Err("a template id: 1-64 of a-z, 0-9, - and _".into());
            }
            if defaults::template(&t.id).is_some() || ids.contains(&t.id.as_str()) {
                return Err(format!("template {}: the id is taken", t.id));
            }
            ids.push(&t.id);
            text(&format!("template {} name", t.id), &t.name)?;
            text(&format!("template {} opening", t.id), &t.opening)?;
            if t.questions.is_empty() || t.questions.len() > MAX_QUESTIONS {
                return Err(format!("template {}: 1 to {MAX_QUESTIONS} questions", t.id));
            }
            let mut qs: Vec<&str> = vec![];
            for q in &t.questions {
                if q.id.is_empty() || q.id.len() > 64 || qs.contains(&q.id.as_str()) {
                    return Err(format!(
                        "template {}: question ids are 1-64 bytes and unique",
                        t.id
                    ));
                }
                qs.push(&q.id);
                text(&format!("template {} question {}", t.id, q.id), &q.label)?;
            }
        }
        if let Some(d) = &self.default_template
            && self.template(d).is_none()
        {
            return Err(format!("default_template: no template {d:?}"));
        }
        if self
            .conversations_per_year
            .is_some_and(|n| !(1..=12).contains(&n))
        {
            return Err("conversations_per_year: 1 to 12".into());
        }
        if self
            .talk_escalation_school_days
            .is_some_and(|n| !(1..=20).contains(&n))
        {
            return Err("talk_escalation_school_days: 1 to 20".into());
        }
        if !self.conversation_rounds.is_empty() {
            let n = self.conversation_rounds.len();
            if n as u32 != self.conversations_per_year() {
                return Err(
                    "conversation_rounds: one round per kindgesprek a year (conversations_per_year)"
                        .into(),
                );
            }
            if self
                .conversation_rounds
                .iter()
                .any(|r| month_day(&r.from).is_none() || month_day(&r.to).is_none())
            {
                return Err("conversation_rounds: from and to are MM-DD".into());
            }
        }
        if self.sociogram_questions.len() > crate::model::rules::sociogram::MAX_QUESTIONS * 4 {
            return Err(format!(
                "sociogram_questions: at most {}",
                crate::model::rules::sociogram::MAX_QUESTIONS * 4
            ));
        }
        let mut qs: Vec<&str> = vec![];
        for q in &self.sociogram_questions {
            let id_ok = stable_id(&q.id) && !qs.contains(&q.id.as_str());
            if !id_ok {
                return Err("a sociogram question id: 1-64 of a-z, 0-9, - and _, unique".into());
            }
            qs.push(&q.id);
            text(&format!("sociogram question {}", q.id), &q.text)?;
            if q.text.nl.len() > crate::model::rules::MAX_SHORT
                || q.text.en.len() > crate::model::rules::MAX_SHORT
            {
                return Err(format!(
                    "sociogram question {}: at most {} bytes",
                    q.id,
                    crate::model::rules::MAX_SHORT
                ));
            }
            if !crate::model::sociogram::POLARITIES.contains(&q.polarity.as_str()) {
                return Err(format!(
                    "sociogram question {}: polarity positive or negative",
                    q.id
                ));
            }
        }
        let mut months = self.thermometer_months.clone();
        months.sort_unstable();
        months.dedup();
        if months.len() != self.thermometer_months.len()
            || months.iter().any(|m| !(1..=12).contains(m))
        {
            return Err("thermometer_months: months 1-12, each once".into());
        }
        Ok(())
    }

    /// Apply a JSON object of settings: each key it holds replaces that setting (null: back
    /// to the default), keys it leaves out stay. Unknown keys are refused, and so are
    /// settings that do not pass [`SchoolSettings::check`].
    pub fn merge_json(&mut self, json: &str) -> Result<(), String> {
        let patch: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let serde_json::Value::Object(patch) = patch else {
            return Err("the settings must be a JSON object".into());
        };
        let mut whole = serde_json::to_value(&*self).map_err(|e| e.to_string())?;
        if let serde_json::Value::Object(m) = &mut whole {
            for (k, v) in patch {
                if !m.contains_key(&k) {
                    return Err(format!("unknown setting {k:?}"));
                }
                let v = if v.is_null() {
                    serde_json::to_value(SchoolSettings::default())
                        .ok()
                        .and_then(|d| d.get(&k).cloned())
                        .unwrap_or(serde_json::Value::Null)
                } else {
                    v
                };
                m.insert(k, v);
            }
        }
        let merged: SchoolSettings =
            serde_json::from_value(whole).map_err(|e| format!("settings: {e}"))?;
        merged.check()?;
        *self = merged;
        Ok(())
    }

    /// The settings as JSON (what `merge_json` takes).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
