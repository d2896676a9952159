//! Sociogram: how a group's pupils choose one another (the SGF handreiking's handvat
//! "Iedereen hoort erbij. Maak samen met de klas een sociogram").
//!
//! Two kinds of document:
//! - a round ([`SociogramRound`], kind `sociogram_round`): one per sociogram the mentor
//!   opens for her group, with the questions she picked (each a positive or a negative
//!   choice: "Met wie speel je graag?" / "Met wie speel je liever niet?"), open until she
//!   closes it. Not bound to a pupil;
//! - a pupil's answers ([`SociogramAnswers`], kind `sociogram_answers`): one per pupil and
//!   round, with a deterministic id and genesis from the school, round, group and pupil
//!   (like a thermometer month), so a mentor's phone and a pupil session that both start
//!   it offline start the same document. Answers are only appended; the latest answer to a
//!   question is the one that counts.
//!
//! Both carry their group, which decides who reads them: the group's mentors and the care
//! team, never pupils or other teachers ([`crate::access`]). The group is the documents'
//! access field (`AccessFields::category`, see there), kept in the catalog like a signal's
//! category.

use super::{Kind, Record};
use autosurgeon::{Hydrate, Reconcile};

/// A question's polarity: a choice for someone, or against.
pub const POLARITIES: [&str; 2] = ["positive", "negative"];
/// A question's polarity ([`SociogramQuestion::polarity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// A choice for someone.
    Positive,
    /// A choice against.
    Negative,
}

stable_names!(Polarity { Positive => "positive", Negative => "negative" });

/// Who entered an answer: staff on the pupil's behalf, or the pupil in a pupil session.
pub const SOURCES: [&str; 2] = ["staff", "pupil"];

/// A round's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundStatus {
    /// Answers are being collected.
    Open,
    /// The mentor closed it: no more answers.
    Closed,
}

stable_names!(RoundStatus { Open => "open", Closed => "closed" });

/// One question of a round.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct SociogramQuestion {
    /// Stable id within the round (e.g. `spelen_graag`).
    #[key]
    pub id: String,
    /// The question as the pupils read it, in the school's language.
    pub text: String,
    /// "positive" (a choice for) or "negative" (a choice against).
    pub polarity: String,
}

impl SociogramQuestion {
    /// Whether answers to this question are rejections.
    pub fn is_negative(&self) -> bool {
        Polarity::parse(&self.polarity) == Some(Polarity::Negative)
    }
}

/// A sociogram round of one group.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct SociogramRound {
    /// The group (klas) id.
    pub group: String,
    /// When it was opened, `YYYY-MM-DD`.
    pub opened_on: String,
    /// The questions picked; they never change once the round is opened.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub questions: Vec<SociogramQuestion>,
    /// "open" or "closed" ([`RoundStatus`]); a closed round stays closed.
    pub status: String,
    /// When it was closed, `YYYY-MM-DD`.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub closed_on: Option<String>,
}

impl Record for SociogramRound {
    const KIND: Kind = Kind::SociogramRound;
}

impl SociogramRound {
    /// The status, typed (unknown: closed, so nothing is added to it).
    pub fn status(&self) -> RoundStatus {
        RoundStatus::parse(&self.status).unwrap_or(RoundStatus::Closed)
    }
}

/// One answer: the pupils chosen for one question.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct SociogramAnswer {
    /// Stable id.
    #[key]
    pub id: String,
    /// The question's id in the round.
    pub question: String,
    /// The pupils chosen (pupil ids of the same group), most wanted first; may be empty
    /// ("nobody").
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub pupils: Vec<String>,
    /// When it was entered, unix ms.
    pub at: i64,
    /// Staff id of whoever entered it (or the pupil session's writer).
    pub recorded_by: String,
    /// "staff" (entered on the pupil's behalf) or "pupil" ([`SOURCES`]).
    pub source: String,
    /// The pupil session the pupil answered in (source "pupil"); none for staff.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub session: Option<String>,
}

/// A pupil's answers in one round. The pupil is the document header's.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct SociogramAnswers {
    /// The round's document id.
    pub round: String,
    /// The round's group.
    pub group: String,
    /// Answers in the order entered; a later answer to a question replaces an earlier one.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub answers: Vec<SociogramAnswer>,
}

impl Record for SociogramAnswers {
    const KIND: Kind = Kind::SociogramAnswers;
}

impl SociogramAnswers {
    /// The answer that counts for each question: the latest by time and, at the same
    /// time, the later in the list (the same list on every device once merged), in the
    /// order of the questions first answered.
    pub fn current(&self) -> Vec<&SociogramAnswer> {
        let mut out: Vec<&SociogramAnswer> = Vec::new();
        for a in &self.answers {
            match out.iter_mut().find(|o| o.question == a.question) {
                Some(o) => {
                    if a.at >= o.at {
                        *o = a;
                    }
                }
                None => out.push(a),
            }
        }
        out
    }

    /// The pupils named per question in the answers that count ([`SociogramAnswers::current`]),
    /// as the analysis takes them (`sociogram::Answers`).
    pub fn current_choices(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.current()
            .into_iter()
            .map(|a| (a.question.clone(), a.pupils.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, question: &str, at: i64, pupils: &[&str]) -> SociogramAnswer {
        SociogramAnswer {
            id: id.into(),
            question: question.into(),
            pupils: pupils.iter().map(|p| p.to_string()).collect(),
            at,
            recorded_by: "m-jansen".into(),
            source: "staff".into(),
            session: None,
        }
    }

    #[test]
    fn the_latest_answer_to_a_question_counts() {
        let a = SociogramAnswers {
            round: "r".into(),
            group: "g6b".into(),
            answers: vec![
                answer("a1", "spelen_graag", 10, &["p1"]),
                answer("a2", "spelen_niet", 11, &["p2"]),
                answer("a4", "spelen_graag", 12, &["p3", "p4"]),
                // Same time as a4, later in the list: this one counts.
                answer("a0", "spelen_graag", 12, &["p5"]),
                // Earlier: never counts.
                answer("a5", "spelen_graag", 9, &["p6"]),
            ],
        };
        let current: Vec<(&str, &str)> = a
            .current()
            .iter()
            .map(|a| (a.question.as_str(), a.id.as_str()))
            .collect();
        assert_eq!(current, [("spelen_graag", "a0"), ("spelen_niet", "a2")]);
    }
}
