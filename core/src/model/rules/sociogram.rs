//! Sociogram rules: a round ([`SociogramRound`]) and a pupil's answers in it
//! ([`SociogramAnswers`]).
//!
//! Who writes is the access rules' business (the group's mentors; the care team reads). On
//! top, for a round:
//! - it is a group's: not bound to a pupil, of a group of the school;
//! - it has 1 to [`MAX_QUESTIONS`] questions with ids of their own, a text and a known
//!   polarity; the group, the date it was opened and the questions never change;
//! - it is "open" or "closed", a closed one stays closed and has a closing date.
//!
//! For a pupil's answers:
//! - the document is the pupil's in that round: its id, header and first change are the
//!   deterministic genesis of the school, round, group and pupil (the one change not made
//!   by the writer's device), so its access is the round's group's and never changes;
//! - answers are only appended, never changed or removed (a new answer to a question
//!   replaces the old one when read); each has an id of its own, a question id, at most
//!   [`MAX_CHOICES`] different pupils of the same group (active, not the pupil answering),
//!   and is entered in the writer's own name (`recorded_by`) with a known source: a staff
//!   writer enters `staff` answers (on the pupil's behalf);
//! - the pupil answering is an active pupil of the round's group.
//!
//! The round itself (that it is open, which questions it has) lives in another document,
//! which these rules do not read: the device store checks it before it writes, and the
//! analysis reads only answers to the round's questions. Every rule holds for any merge of
//! two admitted changes.

use super::{Ctx, Refusal, appended, at_most, genesis_of, short};
use crate::doc;
use crate::ids::DocumentId;
use crate::model::sociogram::{POLARITIES, SOURCES};
use crate::model::{Header, RoundStatus, SociogramAnswers, SociogramRound, check_date};
use automerge::ChangeHash;
use std::collections::BTreeSet;
use std::str::FromStr;

/// Questions of one round (the guide lists six).
pub const MAX_QUESTIONS: usize = 12;
/// Pupils chosen in one answer.
pub const MAX_CHOICES: usize = 5;
/// Answers in one pupil's document (a few per question; corrections included).
pub const MAX_ANSWERS: usize = 200;

/// The sociogram round rules (see the module docs). `before` is None for a new round.
pub fn admit_round(
    ctx: &Ctx<'_>,
    before: Option<&SociogramRound>,
    after: &SociogramRound,
) -> Result<(), Refusal> {
    at_most("questions", &after.questions, MAX_QUESTIONS)?;
    for s in [&after.group, &after.opened_on, &after.status] {
        short("a short field", s)?;
    }
    if ctx.header.pupil.is_some() {
        return Err(Refusal::Invalid(
            "a sociogram round is a group's, not a pupil's",
        ));
    }
    match before {
        None => {
            if !ctx.writer.roster.groups.contains_key(&after.group) {
                return Err(Refusal::Invalid("a sociogram round's group"));
            }
            check_questions(after)?;
        }
        Some(b) => {
            if b.group != after.group || b.opened_on != after.opened_on {
                return Err(Refusal::Changed("a sociogram round's group and date"));
            }
            if b.questions != after.questions {
                return Err(Refusal::Changed("a sociogram round's questions"));
            }
            // The status alone: two devices that close it offline on different days merge
            // into one of the two dates.
            if b.status() == RoundStatus::Closed && after.status() != RoundStatus::Closed {
                return Err(Refusal::Changed("a closed sociogram round"));
            }
        }
    }
    if check_date("opened_on", &after.opened_on).is_err() {
        return Err(Refusal::Invalid("a sociogram round's date"));
    }
    match (RoundStatus::parse(&after.status), &after.closed_on) {
        (Some(RoundStatus::Open), None) => Ok(()),
        (Some(RoundStatus::Closed), Some(on)) if check_date("closed_on", on).is_ok() => Ok(()),
        _ => Err(Refusal::Invalid(
            "a sociogram round is open, or closed with a date",
        )),
    }
}

fn check_questions(round: &SociogramRound) -> Result<(), Refusal> {
    if round.questions.is_empty() {
        return Err(Refusal::Invalid("a sociogram round has a question"));
    }
    let mut ids = BTreeSet::new();
    for q in &round.questions {
        short("question id", &q.id)?;
        short("question text", &q.text)?;
        if q.id.is_empty() || q.text.trim().is_empty() || !ids.insert(&q.id) {
            return Err(Refusal::Invalid(
                "a question has an id of its own and a text",
            ));
        }
        if !POLARITIES.contains(&q.polarity.as_str()) {
            return Err(Refusal::Invalid("a question's polarity"));
        }
    }
    Ok(())
}

/// The hash of a pupil's answers' genesis change (which any device may bring), if `header`
/// and `id` are the deterministic ones of the round and group `after` names.
pub fn answers_genesis(
    header: &Header,
    id: DocumentId,
    after: &SociogramAnswers,
) -> Result<Option<ChangeHash>, Refusal> {
    short("round", &after.round)?;
    short("group", &after.group)?;
    let not_its_own = Refusal::Invalid("sociogram answers are one pupil's in one round");
    let pupil = header.pupil.as_deref().ok_or(not_its_own)?;
    let round = DocumentId::from_str(&after.round).map_err(|_| not_its_own)?;
    let school = &header.school;
    let genesis = doc::sociogram_answers_genesis(school, round, &after.group, pupil);
    let own = doc::sociogram_answers_header(school, pupil);
    genesis_of(id, header, genesis, &own, not_its_own)
}

/// The rules of a pupil's answers (see the module docs; [`answers_genesis`] checked that
/// they are the pupil's in the round). `before` is None for new answers.
pub fn admit_answers(
    ctx: &Ctx<'_>,
    before: Option<&SociogramAnswers>,
    after: &SociogramAnswers,
) -> Result<(), Refusal> {
    at_most("answers", &after.answers, MAX_ANSWERS)?;
    let roster = ctx.writer.roster;
    let pupil = ctx.header.pupil.as_deref().unwrap_or_default();
    let of_group = |p: &str| {
        roster
            .pupils
            .get(p)
            .is_some_and(|p| p.active && p.group == after.group)
    };
    let old = before.map_or(&[][..], |b| &b.answers[..]);
    let new = appended("sociogram answers", old, &after.answers, |a| &a.id)?;
    if new.is_empty() {
        return Ok(());
    }
    if !of_group(pupil) {
        return Err(Refusal::Invalid(
            "the pupil answering is an active pupil of the round's group",
        ));
    }
    let mut ids: BTreeSet<&String> = old.iter().map(|a| &a.id).collect();
    for a in new {
        short("answer id", &a.id)?;
        short("question", &a.question)?;
        short("source", &a.source)?;
        at_most("pupils chosen", &a.pupils, MAX_CHOICES)?;
        if a.id.is_empty() || !ids.insert(&a.id) {
            return Err(Refusal::Invalid("answer ids are unique"));
        }
        if a.question.is_empty() {
            return Err(Refusal::Invalid("an answer names its question"));
        }
        ctx.own_name("answer recorded_by", &a.recorded_by)?;
        if !SOURCES.contains(&a.source.as_str()) {
            return Err(Refusal::Invalid("an answer's source"));
        }
        // A staff member enters answers on the pupil's behalf, outside any session; a pupil
        // session (pupil mode) enters the pupil's own: source "pupil" with its session id,
        // for a pupil of its group, and nothing else.
        match ctx.writer.pupil_session {
            None => {
                if a.source != "staff" || a.session.is_some() {
                    return Err(Refusal::NotForRole("staff enter answers as staff"));
                }
            }
            Some(scope) => {
                if a.source != "pupil" || a.session.as_deref() != Some(scope.session.as_str()) {
                    return Err(Refusal::NotForRole(
                        "a pupil session enters pupils' own answers in its own name",
                    ));
                }
                if after.group != scope.group {
                    return Err(Refusal::NotForRole("a pupil of the session's group"));
                }
            }
        }
        let mut chosen = BTreeSet::new();
        for p in &a.pupils {
            short("pupil chosen", p)?;
            if p == pupil || !chosen.insert(p) || !of_group(p) {
                return Err(Refusal::Invalid(
                    "the pupils chosen are different pupils of the same group",
                ));
            }
        }
    }
    Ok(())
}
