//! What a sociogram round shows (the guide's step 2: who is popular, who could be a
//! positive force, who is isolated), computed from the group's members and their answers.
//!
//! Definitions (documented in docs/mobile.md, "Sociogram", for the mentor's screen):
//! - a **choice** from A to B: A named B in at least one positive question ("Met wie speel
//!   je graag?"); a **rejection**: A named B in at least one negative question ("Met wie
//!   speel je liever niet?"). A pupil named in several positive questions by one classmate
//!   counts as one choice received: the count is of classmates, so a round with three
//!   positive questions does not weigh three times;
//! - **mutual choice**: A chose B and B chose A;
//! - **isolated**: no choice received from any classmate (whether or not the pupil
//!   answered). Before anyone answered nobody is isolated;
//! - **rejected**: rejections received from at least [`REJECTED_MIN`] classmates, and more
//!   rejections than choices received;
//! - **popular**: choices received from at least [`POPULAR_MIN`] classmates and at least
//!   twice the group's mean of choices received; a popular pupil who is not rejected and
//!   has a mutual choice is a **positive force** (someone the mentor can build on);
//! - **sub-group**: pupils held together by mutual choices, that is a connected component
//!   of at least two pupils in the graph of mutual choices. A pupil without a mutual
//!   choice belongs to none. (Cliques would split a chain of friends into overlapping
//!   sets the mentor cannot read off; components say "these pupils stick together".)
//!
//! Answers from pupils who are not members, names of non-members, a pupil naming herself,
//! and answers to questions the round does not have are left out.

use crate::model::SociogramQuestion;
use std::collections::{BTreeMap, BTreeSet};

/// A rejected pupil is rejected by at least this many classmates.
pub const REJECTED_MIN: u32 = 2;
/// A popular pupil is chosen by at least this many classmates.
pub const POPULAR_MIN: u32 = 3;

/// One pupil of the group, as the analysis and the picture know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Pupil id.
    pub id: String,
    /// The name to show (the first name is taken from it for the picture).
    pub name: String,
}

/// One pupil's current answers: per question id, the pupils named.
pub type Answers = BTreeMap<String, Vec<String>>;

/// Where one pupil stands in the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Pupil id.
    pub pupil: String,
    /// Whether the pupil answered (any question of the round).
    pub answered: bool,
    /// Classmates this pupil chose.
    pub choices_given: u32,
    /// Classmates who chose this pupil.
    pub choices_received: u32,
    /// Classmates who rejected this pupil.
    pub rejections_received: u32,
    /// Classmates with a mutual choice, in member order.
    pub mutual: Vec<String>,
    /// No choice received.
    pub isolated: bool,
    /// See the module docs.
    pub rejected: bool,
    /// See the module docs.
    pub popular: bool,
    /// Popular, not rejected, with a mutual choice.
    pub positive_force: bool,
    /// Index into [`Analysis::subgroups`].
    pub subgroup: Option<usize>,
}

/// The analysis of a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// One per member, in member order.
    pub positions: Vec<Position>,
    /// Members who answered.
    pub respondents: u32,
    /// Choices (A, B): A chose B, in member order of A then B.
    pub choices: Vec<(String, String)>,
    /// Rejections (A, B): A rejected B.
    pub rejections: Vec<(String, String)>,
    /// Mutual choices, each pair once, the earlier member first.
    pub mutual: Vec<(String, String)>,
    /// Sub-groups, each in member order, ordered by their first member.
    pub subgroups: Vec<Vec<String>>,
}

impl Analysis {
    /// The position of one pupil.
    pub fn position(&self, pupil: &str) -> Option<&Position> {
        self.positions.iter().find(|p| p.pupil == pupil)
    }

    /// Pupils flagged by `f`, in member order.
    pub fn pupils_where(&self, f: impl Fn(&Position) -> bool) -> Vec<&str> {
        self.positions
            .iter()
            .filter(|p| f(p))
            .map(|p| p.pupil.as_str())
            .collect()
    }
}

/// Analyse a round: its `questions`, the group's `members` (in the order to report them)
/// and each member's current answers by pupil id.
pub fn analyse(
    questions: &[SociogramQuestion],
    members: &[Member],
    answers: &BTreeMap<String, Answers>,
) -> Analysis {
    let index: BTreeMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let polarity: BTreeMap<&str, bool> = questions
        .iter()
        .map(|q| (q.id.as_str(), q.is_negative()))
        .collect();
    let n = members.len();
    // chose[a] / rejected[a]: the members a named, as sets of indices.
    let mut chose = vec![BTreeSet::<usize>::new(); n];
    let mut rejected = vec![BTreeSet::<usize>::new(); n];
    let mut answered = vec![false; n];
    for (pupil, by_question) in answers {
        let Some(&a) = index.get(pupil.as_str()) else {
            continue;
        };
        for (question, named) in by_question {
            let Some(&negative) = polarity.get(question.as_str()) else {
                continue;
            };
            answered[a] = true;
            for b in named.iter().filter_map(|p| index.get(p.as_str()).copied()) {
                if b == a {
                    continue;
                }
                if negative {
                    rejected[a].insert(b);
                } else {
                    chose[a].insert(b);
                }
            }
        }
    }
    let respondents = answered.iter().filter(|a| **a).count() as u32;
    let mut received = vec![0u32; n];
    let mut rejections_received = vec![0u32; n];
    for a in 0..n {
        for &b in &chose[a] {
            received[b] += 1;
        }
        for &b in &rejected[a] {
            rejections_received[b] += 1;
        }
    }
    let mutual_of: Vec<Vec<usize>> = (0..n)
        .map(|a| {
            chose[a]
                .iter()
                .copied()
                .filter(|&b| chose[b].contains(&a))
                .collect()
        })
        .collect();
    // Sub-groups: connected components (of two or more) of the mutual-choice graph.
    let mut component = vec![None::<usize>; n];
    let mut subgroups: Vec<Vec<usize>> = vec![];
    for start in 0..n {
        if component[start].is_some() || mutual_of[start].is_empty() {
            continue;
        }
        let id = subgroups.len();
        let mut members_of = vec![];
        let mut stack = vec![start];
        component[start] = Some(id);
        while let Some(a) = stack.pop() {
            members_of.push(a);
            for &b in &mutual_of[a] {
                if component[b].is_none() {
                    component[b] = Some(id);
                    stack.push(b);
                }
            }
        }
        members_of.sort_unstable();
        subgroups.push(members_of);
    }
    let total: u32 = received.iter().sum();
    let mean = if n == 0 {
        0.0
    } else {
        f64::from(total) / n as f64
    };
    let id = |i: usize| members[i].id.clone();
    let positions = (0..n)
        .map(|i| {
            let popular = received[i] >= POPULAR_MIN && f64::from(received[i]) >= 2.0 * mean;
            let is_rejected =
                rejections_received[i] >= REJECTED_MIN && rejections_received[i] > received[i];
            Position {
                pupil: id(i),
                answered: answered[i],
                choices_given: chose[i].len() as u32,
                choices_received: received[i],
                rejections_received: rejections_received[i],
                mutual: mutual_of[i].iter().map(|&b| id(b)).collect(),
                isolated: respondents > 0 && received[i] == 0,
                rejected: is_rejected,
                popular,
                positive_force: popular && !is_rejected && !mutual_of[i].is_empty(),
                subgroup: component[i],
            }
        })
        .collect();
    let pairs = |sets: &[BTreeSet<usize>]| {
        sets.iter()
            .enumerate()
            .flat_map(|(a, s)| s.iter().map(move |&b| (a, b)))
            .map(|(a, b)| (id(a), id(b)))
            .collect::<Vec<_>>()
    };
    Analysis {
        positions,
        respondents,
        choices: pairs(&chose),
        rejections: pairs(&rejected),
        mutual: (0..n)
            .flat_map(|a| {
                mutual_of[a]
                    .iter()
                    .copied()
                    .filter(move |&b| b > a)
                    .map(move |b| (a, b))
            })
            .map(|(a, b)| (id(a), id(b)))
            .collect(),
        subgroups: subgroups
            .into_iter()
            .map(|g| g.into_iter().map(id).collect())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sociogram::fixture;

    fn sorted(mut v: Vec<&str>) -> Vec<&str> {
        v.sort_unstable();
        v
    }

    /// Groep 6b of the fixture: the expected picture, worked out by hand (see
    /// `fixture::groep_6b`).
    #[test]
    fn the_fixed_class_gives_the_expected_picture() {
        let (questions, members, answers) = fixture::groep_6b();
        let a = analyse(&questions, &members, &answers);
        assert_eq!(a.respondents, 10, "Sem did not answer");
        assert_eq!(a.pupils_where(|p| p.isolated), ["p-sem"]);
        assert_eq!(a.pupils_where(|p| p.rejected), ["p-bram"]);
        assert_eq!(a.pupils_where(|p| p.popular), ["p-daan"]);
        assert_eq!(a.pupils_where(|p| p.positive_force), ["p-daan"]);
        assert_eq!(
            a.mutual,
            [
                ("p-anouk".to_string(), "p-zoe".to_string()),
                ("p-chloe".into(), "p-zoe".into()),
                ("p-daan".into(), "p-joep".into()),
                ("p-daan".into(), "p-noor".into()),
                ("p-ines".into(), "p-mees".into()),
            ]
        );
        assert_eq!(
            a.subgroups,
            [
                vec!["p-anouk".to_string(), "p-chloe".into(), "p-zoe".into()],
                vec!["p-daan".into(), "p-joep".into(), "p-noor".into()],
                vec!["p-ines".into(), "p-mees".into()],
            ]
        );
        let daan = a.position("p-daan").unwrap();
        assert_eq!(
            (
                daan.choices_received,
                daan.rejections_received,
                daan.subgroup
            ),
            (6, 0, Some(1))
        );
        let bram = a.position("p-bram").unwrap();
        assert_eq!(
            (
                bram.choices_received,
                bram.rejections_received,
                bram.mutual.len()
            ),
            (1, 4, 0)
        );
        assert_eq!(bram.subgroup, None);
        // Sem chose nobody (did not answer) and nobody chose Sem.
        let sem = a.position("p-sem").unwrap();
        assert!(!sem.answered && sem.choices_received == 0 && sem.choices_given == 0);
        // Zoë is named in two positive questions by Anouk: one choice received from her.
        let zoe = a.position("p-zoe").unwrap();
        assert_eq!(zoe.choices_received, 2);
        assert_eq!(
            sorted(zoe.mutual.iter().map(String::as_str).collect()),
            ["p-anouk", "p-chloe"]
        );
    }

    #[test]
    fn nobody_is_isolated_before_anyone_answered() {
        let (questions, members, _) = fixture::groep_6b();
        let a = analyse(&questions, &members, &BTreeMap::new());
        assert_eq!(a.respondents, 0);
        assert!(
            a.pupils_where(|p| p.isolated || p.rejected || p.popular)
                .is_empty()
        );
        assert!(a.subgroups.is_empty() && a.choices.is_empty());
    }

    #[test]
    fn self_choices_strangers_and_unknown_questions_are_left_out() {
        let (questions, members, _) = fixture::groep_6b();
        let answers: BTreeMap<String, Answers> = [
            (
                "p-anouk".to_string(),
                [
                    (
                        "spelen_graag".to_string(),
                        vec!["p-anouk".into(), "p-weg".into()],
                    ),
                    ("lievelingsvak".to_string(), vec!["p-bram".into()]),
                ]
                .into(),
            ),
            (
                "p-weg".to_string(),
                [("spelen_graag".to_string(), vec!["p-bram".into()])].into(),
            ),
        ]
        .into();
        let a = analyse(&questions, &members, &answers);
        assert!(a.choices.is_empty() && a.rejections.is_empty());
        assert_eq!(a.respondents, 1, "Anouk answered a question of the round");
    }
}
