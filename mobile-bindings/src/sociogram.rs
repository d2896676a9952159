//! The sociogram of a group: rounds, answers, the analysis and its picture.

use crate::error::Result;
use crate::records::doc_id;
use crate::store::OmkijkenStore;
use omkijken_core::DocumentId;
use omkijken_core::model as core;
use omkijken_core::sociogram as analysis;
use omkijken_core::store;

/// A question's polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Polarity {
    /// A choice for someone ("Met wie speel je graag?").
    Positive,
    /// A choice against ("Met wie speel je liever niet?").
    Negative,
}

impl Polarity {
    fn as_str(self) -> &'static str {
        match self {
            Polarity::Positive => core::sociogram::Polarity::Positive,
            Polarity::Negative => core::sociogram::Polarity::Negative,
        }
        .as_str()
    }

    /// An unknown value reads as negative: it never counts as a choice.
    fn parse(s: &str) -> Self {
        match core::sociogram::Polarity::parse(s) {
            Some(core::sociogram::Polarity::Positive) => Polarity::Positive,
            Some(core::sociogram::Polarity::Negative) | None => Polarity::Negative,
        }
    }
}

/// A sociogram question on offer at the school, in Dutch and English.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramQuestionOption {
    /// Stable id.
    pub id: String,
    /// The question in Dutch.
    pub nl: String,
    /// The question in English.
    pub en: String,
    /// For or against.
    pub polarity: Polarity,
}

impl From<core::SociogramQuestionSetting> for SociogramQuestionOption {
    fn from(q: core::SociogramQuestionSetting) -> Self {
        SociogramQuestionOption {
            polarity: Polarity::parse(&q.polarity),
            id: q.id,
            nl: q.text.nl,
            en: q.text.en,
        }
    }
}

/// A question of a round, as the pupils read it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramQuestion {
    /// Stable id within the round.
    pub id: String,
    /// The question.
    pub text: String,
    /// For or against.
    pub polarity: Polarity,
}

impl From<SociogramQuestion> for core::SociogramQuestion {
    fn from(q: SociogramQuestion) -> Self {
        core::SociogramQuestion {
            id: q.id,
            text: q.text,
            polarity: q.polarity.as_str().into(),
        }
    }
}

impl From<core::SociogramQuestion> for SociogramQuestion {
    fn from(q: core::SociogramQuestion) -> Self {
        SociogramQuestion {
            polarity: Polarity::parse(&q.polarity),
            id: q.id,
            text: q.text,
        }
    }
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SociogramStatus {
    /// Answers are being collected.
    Open,
    /// Closed by the mentor: no more answers.
    Closed,
}

impl From<core::RoundStatus> for SociogramStatus {
    fn from(s: core::RoundStatus) -> Self {
        match s {
            core::RoundStatus::Open => SociogramStatus::Open,
            core::RoundStatus::Closed => SociogramStatus::Closed,
        }
    }
}

/// A sociogram round.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramRound {
    /// Document id.
    pub id: String,
    /// The group.
    pub group: String,
    /// `YYYY-MM-DD`.
    pub opened_on: String,
    /// The questions.
    pub questions: Vec<SociogramQuestion>,
    /// Open or closed.
    pub status: SociogramStatus,
    /// `YYYY-MM-DD`, once closed.
    pub closed_on: Option<String>,
}

impl SociogramRound {
    pub(crate) fn new(id: DocumentId, r: core::SociogramRound) -> Self {
        SociogramRound {
            id: id.to_string(),
            status: r.status().into(),
            group: r.group,
            opened_on: r.opened_on,
            questions: r.questions.into_iter().map(Into::into).collect(),
            closed_on: r.closed_on,
        }
    }
}

/// A round in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramRoundSummary {
    /// Document id.
    pub id: String,
    /// The group.
    pub group: String,
    /// Staff id of the mentor who opened it.
    pub opened_by: String,
    /// `YYYY-MM-DD`.
    pub opened_on: String,
    /// Open or closed.
    pub status: SociogramStatus,
    /// `YYYY-MM-DD`, once closed.
    pub closed_on: Option<String>,
    /// Number of questions.
    pub questions: u32,
}

impl From<store::SociogramRoundSummary> for SociogramRoundSummary {
    fn from(s: store::SociogramRoundSummary) -> Self {
        SociogramRoundSummary {
            id: s.id.to_string(),
            group: s.group,
            opened_by: s.opened_by,
            opened_on: s.opened_on,
            status: s.status.into(),
            closed_on: s.closed_on,
            questions: s.questions,
        }
    }
}

/// One answer: the classmates named for one question of the round.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramAnswerInput {
    /// The question's id.
    pub question: String,
    /// Pupil ids of classmates in the round's group (at most 5); empty: nobody.
    pub pupils: Vec<String>,
}

impl From<SociogramAnswerInput> for store::NewSociogramAnswer {
    fn from(a: SociogramAnswerInput) -> Self {
        store::NewSociogramAnswer {
            question: a.question,
            pupils: a.pupils,
        }
    }
}

/// One pupil's current answer to one question.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramAnswer {
    /// The question's id.
    pub question: String,
    /// The classmates named.
    pub pupils: Vec<String>,
    /// Unix ms.
    pub at: i64,
    /// Staff id of whoever entered it.
    pub recorded_by: String,
    /// "staff" (on the pupil's behalf) or "pupil".
    pub source: String,
}

impl From<&core::SociogramAnswer> for SociogramAnswer {
    fn from(a: &core::SociogramAnswer) -> Self {
        SociogramAnswer {
            question: a.question.clone(),
            pupils: a.pupils.clone(),
            at: a.at,
            recorded_by: a.recorded_by.clone(),
            source: a.source.clone(),
        }
    }
}

/// Where one pupil stands in the group.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramPosition {
    /// Pupil id.
    pub pupil: String,
    /// Whether the pupil answered.
    pub answered: bool,
    /// Classmates this pupil chose.
    pub choices_given: u32,
    /// Classmates who chose this pupil.
    pub choices_received: u32,
    /// Classmates who rejected this pupil.
    pub rejections_received: u32,
    /// Classmates with a mutual choice (pupil ids).
    pub mutual: Vec<String>,
    /// Chosen by nobody.
    pub isolated: bool,
    /// Rejected by at least two classmates, more often than chosen.
    pub rejected: bool,
    /// Chosen by at least three classmates and twice the group's mean.
    pub popular: bool,
    /// Popular, not rejected, with a mutual choice: someone to build on.
    pub positive_force: bool,
    /// Index into `Sociogram.subgroups`, if in one.
    pub subgroup: Option<u32>,
}

impl From<analysis::Position> for SociogramPosition {
    fn from(p: analysis::Position) -> Self {
        SociogramPosition {
            pupil: p.pupil,
            answered: p.answered,
            choices_given: p.choices_given,
            choices_received: p.choices_received,
            rejections_received: p.rejections_received,
            mutual: p.mutual,
            isolated: p.isolated,
            rejected: p.rejected,
            popular: p.popular,
            positive_force: p.positive_force,
            subgroup: p.subgroup.map(|s| s as u32),
        }
    }
}

/// A pair of pupils: who chose (or rejected) whom, or a mutual choice.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SociogramPair {
    /// Pupil id of who chose (or rejected); of a mutual pair, the one listed first.
    pub from_pupil: String,
    /// Pupil id of who was chosen (or rejected).
    pub to_pupil: String,
}

fn pairs(v: Vec<(String, String)>) -> Vec<SociogramPair> {
    v.into_iter()
        .map(|(from_pupil, to_pupil)| SociogramPair {
            from_pupil,
            to_pupil,
        })
        .collect()
}

/// A round with its analysis and picture.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Sociogram {
    /// The round.
    pub round: SociogramRound,
    /// One per pupil of the group, by name.
    pub positions: Vec<SociogramPosition>,
    /// Pupils who answered.
    pub respondents: u32,
    /// Choices.
    pub choices: Vec<SociogramPair>,
    /// Rejections.
    pub rejections: Vec<SociogramPair>,
    /// Mutual choices, each pair once.
    pub mutual: Vec<SociogramPair>,
    /// Sub-groups: pupils held together by mutual choices (pupil ids).
    pub subgroups: Vec<Vec<String>>,
    /// Pupils chosen by nobody.
    pub isolated: Vec<String>,
    /// Rejected pupils.
    pub rejected: Vec<String>,
    /// Popular pupils.
    pub popular: Vec<String>,
    /// The picture (SVG, self-contained): show it as it is.
    pub svg: String,
}

impl From<store::Sociogram> for Sociogram {
    fn from(s: store::Sociogram) -> Self {
        let a = s.analysis;
        let ids = |f: fn(&analysis::Position) -> bool| {
            a.positions
                .iter()
                .filter(|p| f(p))
                .map(|p| p.pupil.clone())
                .collect::<Vec<_>>()
        };
        Sociogram {
            isolated: ids(|p| p.isolated),
            rejected: ids(|p| p.rejected),
            popular: ids(|p| p.popular),
            round: SociogramRound::new(s.id, s.round),
            respondents: a.respondents,
            choices: pairs(a.choices),
            rejections: pairs(a.rejections),
            mutual: pairs(a.mutual),
            subgroups: a.subgroups,
            positions: a.positions.into_iter().map(Into::into).collect(),
            svg: s.svg,
        }
    }
}

/// A pupil's place in the latest sociogram of her group (for the pupil view).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PupilSociogram {
    /// The round's id.
    pub round: String,
    /// When it was opened.
    pub opened_on: String,
    /// Open or closed.
    pub status: SociogramStatus,
    /// Pupils in the group.
    pub members: u32,
    /// Pupils who answered.
    pub respondents: u32,
    /// Where the pupil stands.
    pub position: SociogramPosition,
    /// First names of the classmates with a mutual choice.
    pub mutual_names: Vec<String>,
}

impl From<store::PupilSociogram> for PupilSociogram {
    fn from(p: store::PupilSociogram) -> Self {
        PupilSociogram {
            round: p.round.to_string(),
            opened_on: p.opened_on,
            status: p.status.into(),
            members: p.members,
            respondents: p.respondents,
            position: p.position.into(),
            mutual_names: p.mutual_names,
        }
    }
}

#[uniffi::export]
impl OmkijkenStore {
    /// The sociogram questions the school offers (its own from the school settings, else
    /// the defaults), each in Dutch and English.
    pub fn sociogram_questions(&self) -> Result<Vec<SociogramQuestionOption>> {
        Ok(self
            .inner
            .sociogram_questions()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Open a sociogram round for `group` on `opened_on` (`YYYY-MM-DD`) with the questions
    /// picked; returns its id. The group's mentors only (`Forbidden` for others, `NotFound`
    /// for an unknown group); `Invalid` for no questions, more than 12, an id used twice or
    /// an empty text. Works offline.
    pub fn open_sociogram_round(
        &self,
        group: String,
        opened_on: String,
        questions: Vec<SociogramQuestion>,
    ) -> Result<String> {
        let questions = questions.into_iter().map(Into::into).collect();
        Ok(self
            .inner
            .open_sociogram_round(&group, &opened_on, questions)?
            .to_string())
    }

    /// Close a round: no more answers. It stays closed.
    pub fn close_sociogram_round(&self, id: String, closed_on: String) -> Result<()> {
        Ok(self.inner.close_sociogram_round(doc_id(&id)?, &closed_on)?)
    }

    /// A round the user may read (`NotFound` otherwise). The read is logged.
    pub fn sociogram_round(&self, id: String) -> Result<SociogramRound> {
        let doc = doc_id(&id)?;
        Ok(SociogramRound::new(doc, self.inner.sociogram_round(doc)?))
    }

    /// The rounds the user may read, of `group` (or of every group), newest first.
    pub fn list_sociogram_rounds(
        &self,
        group: Option<String>,
    ) -> Result<Vec<SociogramRoundSummary>> {
        Ok(self
            .inner
            .list_sociogram_rounds(group.as_deref())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Enter a pupil's answers in an open round on the pupil's behalf (the group's mentor);
    /// a later answer to a question replaces the earlier one. `Invalid` for a closed round,
    /// a question not in the round, a pupil named who is not a classmate in the group (or
    /// the pupil herself), one named twice or more than 5. Works offline.
    pub fn add_sociogram_answers(
        &self,
        round: String,
        pupil: String,
        answers: Vec<SociogramAnswerInput>,
    ) -> Result<()> {
        let answers = answers.into_iter().map(Into::into).collect();
        self.inner.add_sociogram_answers(
            doc_id(&round)?,
            &pupil,
            answers,
            store::AnswerSource::Staff,
        )?;
        Ok(())
    }

    /// A pupil's current answers in a round (the latest per question); empty when none
    /// are held. The read is logged.
    pub fn sociogram_answers(&self, round: String, pupil: String) -> Result<Vec<SociogramAnswer>> {
        Ok(self
            .inner
            .sociogram_answers(doc_id(&round)?, &pupil)?
            .map(|a| a.current().into_iter().map(Into::into).collect())
            .unwrap_or_default())
    }

    /// A round's analysis and picture (`lang` "nl" or "en" for the legend): the group's
    /// mentors and the care team (`NotFound` for anyone else). The reads are logged.
    pub fn sociogram(&self, round: String, lang: String) -> Result<Sociogram> {
        Ok(self.inner.sociogram(doc_id(&round)?, &lang)?.into())
    }

    /// Where a pupil stands in the latest sociogram of her group the user reads, for the
    /// pupil view beside `thermometer_trend` and `list_signals`; none when there is none.
    pub fn pupil_sociogram(&self, pupil: String) -> Result<Option<PupilSociogram>> {
        Ok(self.inner.pupil_sociogram(&pupil)?.map(Into::into))
    }
}
