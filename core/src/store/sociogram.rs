//! Sociogram: what the mentor's and the care team's apps call (`model::sociogram` for the
//! records, `crate::sociogram` for the analysis and the picture).
//!
//! The group's mentor opens a round with questions picked from the school's list, enters
//! answers on her pupils' behalf ([`Store::add_sociogram_answers`]; a write-only pupil
//! session, which holds no round, will enter the pupil's own through
//! [`Store::append_sociogram_answers`]) and closes it; she and the care team read the analysis
//! and the picture, and a pupil's position next to her thermometer and signals. Nobody
//! else holds any of it: the server never sends it to other devices.

use super::Store;
use crate::access::Access;
use crate::doc;
use crate::ids::DocumentId;
use crate::model::rules::MAX_SHORT;
use crate::model::rules::sociogram::{MAX_CHOICES, MAX_QUESTIONS};
use crate::model::sociogram::POLARITIES;
use crate::model::{
    Header, Kind, RoundStatus, SociogramAnswer, SociogramAnswers, SociogramQuestion,
    SociogramQuestionSetting, SociogramRound, check_date,
};
use crate::sociogram::{Analysis, Answers, Member, Position, analyse};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// Who entered answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSource {
    /// A staff member (the group's mentor) on the pupil's behalf.
    Staff,
    /// The pupil, in a pupil session.
    Pupil,
}

impl AnswerSource {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerSource::Staff => "staff",
            AnswerSource::Pupil => "pupil",
        }
    }
}

/// One answer as entered: the pupils named for one question of the round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSociogramAnswer {
    /// The question's id in the round.
    pub question: String,
    /// The pupils named (pupil ids of the round's group, not the pupil answering), at most
    /// [`MAX_CHOICES`]; empty: nobody.
    pub pupils: Vec<String>,
}

/// A round in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SociogramRoundSummary {
    /// Document id.
    pub id: DocumentId,
    /// The group.
    pub group: String,
    /// Who opened it.
    pub opened_by: String,
    /// `YYYY-MM-DD`.
    pub opened_on: String,
    /// Open or closed.
    pub status: RoundStatus,
    /// `YYYY-MM-DD`, once closed.
    pub closed_on: Option<String>,
    /// Number of questions.
    pub questions: u32,
}

/// A round with its analysis and picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sociogram {
    /// The round's document id.
    pub id: DocumentId,
    /// The round.
    pub round: SociogramRound,
    /// The group's current active pupils, in the order of the analysis (by name).
    pub members: Vec<Member>,
    /// The analysis.
    pub analysis: Analysis,
    /// The picture (SVG), to show as it is.
    pub svg: String,
}

/// A pupil's place in the latest sociogram of her group that the user reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PupilSociogram {
    /// The round's document id.
    pub round: DocumentId,
    /// When it was opened.
    pub opened_on: String,
    /// Open or closed.
    pub status: RoundStatus,
    /// Pupils in the group.
    pub members: u32,
    /// Pupils who answered.
    pub respondents: u32,
    /// Where the pupil stands.
    pub position: Position,
    /// The first names of the pupils with a mutual choice, in the position's order.
    pub mutual_names: Vec<String>,
}

impl Store {
    /// The sociogram questions the school offers (its settings, else the defaults: playing,
    /// sitting and working together, each for and against).
    pub fn sociogram_questions(&self) -> Result<Vec<SociogramQuestionSetting>> {
        Ok(self.school_settings()?.sociogram_questions())
    }

    /// Open a sociogram round for `group` on `opened_on` with `questions` (each with an id
    /// of its own, a text and a polarity; usually picked from
    /// [`Store::sociogram_questions`] in the pupils' language). The group's mentors only.
    pub fn open_sociogram_round(
        &self,
        group: &str,
        opened_on: &str,
        questions: Vec<SociogramQuestion>,
    ) -> Result<DocumentId> {
        check_date("opened_on", opened_on)?;
        if questions.is_empty() || questions.len() > MAX_QUESTIONS {
            return Err(Error::Invalid(format!(
                "a round has 1 to {MAX_QUESTIONS} questions"
            )));
        }
        let mut ids = BTreeSet::new();
        for q in &questions {
            if q.id.is_empty() || q.id.len() > 64 || !ids.insert(q.id.as_str()) {
                return Err(Error::Invalid(
                    "question ids are 1-64 bytes and unique".into(),
                ));
            }
            if q.text.trim().is_empty() || q.text.len() > MAX_SHORT {
                return Err(Error::Invalid(format!(
                    "a question's text is 1 to {MAX_SHORT} bytes"
                )));
            }
            if !POLARITIES.contains(&q.polarity.as_str()) {
                return Err(Error::Invalid(
                    "a question's polarity is positive or negative".into(),
                ));
            }
        }
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        if !roster.groups.contains_key(group) {
            return Err(Error::NotFound);
        }
        if !crate::access::may_open_sociogram(&roster, &me.user, group) {
            return Err(Error::Forbidden(
                "only the group's mentors open a sociogram",
            ));
        }
        let header = Header::new(Kind::SociogramRound, me.school, None, me.user, self.now());
        let record = SociogramRound {
            group: group.into(),
            opened_on: opened_on.into(),
            questions,
            status: RoundStatus::Open.as_str().into(),
            closed_on: None,
        };
        self.create_document(&header, &record)
    }

    /// Close a round on `closed_on`: no more answers. A closed round stays closed.
    pub fn close_sociogram_round(&self, id: DocumentId, closed_on: &str) -> Result<()> {
        check_date("closed_on", closed_on)?;
        self.edit_record::<SociogramRound>(id, |_, r| {
            if r.status() == RoundStatus::Closed {
                return Ok(());
            }
            r.status = RoundStatus::Closed.as_str().into();
            r.closed_on = Some(closed_on.into());
            Ok(())
        })
    }

    /// A round the user may read. The read is logged.
    pub fn sociogram_round(&self, id: DocumentId) -> Result<SociogramRound> {
        Ok(self.read_record::<SociogramRound>(id, true)?.1)
    }

    /// The rounds the user may read (of `group`, or all), newest first.
    pub fn list_sociogram_rounds(&self, group: Option<&str>) -> Result<Vec<SociogramRoundSummary>> {
        self.unlocked_identity()?;
        let ids: Vec<DocumentId> = self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT id FROM documents WHERE kind = ?1")?;
            let ids = stmt
                .query_map([Kind::SociogramRound.as_str()], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ids.into_iter().filter_map(|id| id.parse().ok()).collect())
        })?;
        let mut out = vec![];
        for info in self.infos(&ids)?.into_iter().flatten() {
            if group.is_some_and(|g| info.fields.category.as_deref() != Some(g))
                || self.access_to(&info.header, &info.fields)? < Access::Read
            {
                continue;
            }
            let Some(d) = self.load(info.id)? else {
                continue;
            };
            let r = doc::record::<SociogramRound>(info.id, &d)?;
            out.push((
                info.header.created_at,
                SociogramRoundSummary {
                    id: info.id,
                    status: r.status(),
                    group: r.group,
                    opened_by: info.header.author,
                    opened_on: r.opened_on,
                    closed_on: r.closed_on,
                    questions: r.questions.len() as u32,
                },
            ));
        }
        out.sort_by(|(a, x), (b, y)| {
            (&y.opened_on, b, y.id.to_string()).cmp(&(&x.opened_on, a, x.id.to_string()))
        });
        Ok(out.into_iter().map(|(_, s)| s).collect())
    }

    /// Enter `pupil`'s answers in round `round` (the pupil's answers document is started
    /// from its deterministic genesis when this device has none yet). Each answer names
    /// pupils of the round's group for one of its questions; a new answer to a question
    /// replaces the earlier one. Works offline. Today the group's mentor enters them on the
    /// pupil's behalf (`source` staff).
    ///
    /// `Invalid` for a closed round, an unknown question or one answered twice, a pupil not
    /// in the group (or the pupil answering) among those named, one named twice or more
    /// than [`MAX_CHOICES`]; `NotFound` for a round the user does not read.
    pub fn add_sociogram_answers(
        &self,
        round: DocumentId,
        pupil: &str,
        answers: Vec<NewSociogramAnswer>,
        source: AnswerSource,
    ) -> Result<DocumentId> {
        let (_, r, access) = self.read_record::<SociogramRound>(round, false)?;
        if access < Access::Write {
            return Err(Error::Forbidden("only the group's mentors enter answers"));
        }
        if r.status() != RoundStatus::Open {
            return Err(Error::Invalid("the round is closed".into()));
        }
        let mut seen = BTreeSet::new();
        for a in &answers {
            if !r.questions.iter().any(|q| q.id == a.question) || !seen.insert(&a.question) {
                return Err(Error::Invalid(
                    "each answer is to a question of the round, once".into(),
                ));
            }
        }
        self.append_sociogram_answers(round, &r.group, pupil, answers, source, None)
    }

    /// [`Store::add_sociogram_answers`] without reading the round, for a device that holds
    /// none: a pupil session is write-only and receives nothing, so whoever starts it gives
    /// it the round's id, group and questions. Checks the pupils against the roster (the
    /// pupil answering and those named are active pupils of `group`); whether the round is
    /// open and has the questions is the caller's to know. `session`: the pupil session's
    /// id, with `source` pupil (the record rules admit such answers once a pupil session's
    /// writer is known to them; until then a pupil's own answer is `Forbidden`).
    pub fn append_sociogram_answers(
        &self,
        round: DocumentId,
        group: &str,
        pupil: &str,
        answers: Vec<NewSociogramAnswer>,
        source: AnswerSource,
        session: Option<&str>,
    ) -> Result<DocumentId> {
        if answers.is_empty() {
            return Err(Error::Invalid("no answers given".into()));
        }
        let roster = self.roster()?;
        let of_group = |p: &str| {
            roster
                .pupils
                .get(p)
                .is_some_and(|p| p.active && p.group == group)
        };
        if !of_group(pupil) {
            return Err(Error::Invalid(
                "the pupil answering is not an active pupil of the round's group".into(),
            ));
        }
        for a in &answers {
            if a.question.is_empty() || a.question.len() > 64 {
                return Err(Error::Invalid("a question id is 1-64 bytes".into()));
            }
            if a.pupils.len() > MAX_CHOICES {
                return Err(Error::Invalid(format!(
                    "at most {MAX_CHOICES} pupils per question"
                )));
            }
            let mut named = BTreeSet::new();
            for p in &a.pupils {
                if p == pupil || !named.insert(p) || !of_group(p) {
                    return Err(Error::Invalid(
                        "the pupils named are different classmates in the round's group".into(),
                    ));
                }
            }
        }
        let me = self.unlocked_identity()?;
        let (id, genesis) = doc::sociogram_answers_genesis(&me.school, round, group, pupil)?;
        let header = doc::sociogram_answers_header(&me.school, pupil);
        let now = self.now();
        let new: Vec<SociogramAnswer> = answers
            .into_iter()
            .map(|a| SociogramAnswer {
                id: self.new_id().to_string(),
                question: a.question,
                pupils: a.pupils,
                at: now,
                recorded_by: me.user.clone(),
                source: source.as_str().into(),
                session: session.map(Into::into),
            })
            .collect();
        let why = "only the group's mentors enter answers";
        self.edit_system_document::<SociogramAnswers>(
            id,
            genesis,
            now,
            |d| self.may_write_doc(id, &header, d, why),
            |s| {
                s.answers.extend(new);
                Ok(())
            },
        )?;
        Ok(id)
    }

    /// A pupil's current answers in a round (the latest per question), if this device
    /// holds them and the user reads them. The read is logged.
    pub fn sociogram_answers(
        &self,
        round: DocumentId,
        pupil: &str,
    ) -> Result<Option<SociogramAnswers>> {
        let (_, r, _) = self.read_record::<SociogramRound>(round, false)?;
        let me = self.unlocked_identity()?;
        let id = doc::sociogram_answers_id(&me.school, round, &r.group, pupil);
        match self.read_record::<SociogramAnswers>(id, true) {
            Ok((_, a, _)) => Ok(Some(a)),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A round's analysis and picture (`lang` "nl" or "en" for the picture's legend),
    /// from the answers this device holds of the group's current active pupils. The
    /// group's mentors and the care team; `NotFound` for anyone else. The reads are
    /// logged.
    pub fn sociogram(&self, round: DocumentId, lang: &str) -> Result<Sociogram> {
        let (r, members, analysis) = self.analyse_round(round)?;
        let svg = crate::sociogram::render(&members, &analysis, lang);
        Ok(Sociogram {
            id: round,
            round: r,
            members,
            analysis,
            svg,
        })
    }

    /// A round, the group's current active pupils by name, and the analysis of the answers
    /// held. The reads are logged.
    fn analyse_round(&self, round: DocumentId) -> Result<(SociogramRound, Vec<Member>, Analysis)> {
        let (_, r, _) = self.read_record::<SociogramRound>(round, true)?;
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let mut members: Vec<Member> = roster
            .group_pupils(&r.group)
            .map(|p| Member {
                id: p.id.clone(),
                name: p.display_name.clone(),
            })
            .collect();
        members.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        let mut answers: BTreeMap<String, Answers> = BTreeMap::new();
        for m in &members {
            let id = doc::sociogram_answers_id(&me.school, round, &r.group, &m.id);
            let a = match self.read_record::<SociogramAnswers>(id, true) {
                Ok((_, a, _)) => a,
                Err(Error::NotFound) => continue,
                Err(e) => return Err(e),
            };
            answers.insert(m.id.clone(), a.current_choices());
        }
        let analysis = analyse(&r.questions, &members, &answers);
        Ok((r, members, analysis))
    }

    /// Where `pupil` stands in the latest round of her group that the user reads (for the
    /// pupil view, next to the thermometer trend and signals); None when there is none.
    pub fn pupil_sociogram(&self, pupil: &str) -> Result<Option<PupilSociogram>> {
        let roster = self.roster()?;
        let Some(group) = roster.pupils.get(pupil).map(|p| p.group.clone()) else {
            return Err(Error::NotFound);
        };
        let Some(latest) = self.list_sociogram_rounds(Some(&group))?.into_iter().next() else {
            return Ok(None);
        };
        let (_, members, analysis) = self.analyse_round(latest.id)?;
        let Some(position) = analysis.position(pupil).cloned() else {
            return Ok(None);
        };
        let mutual_names = position
            .mutual
            .iter()
            .filter_map(|m| members.iter().find(|x| x.id == *m))
            .map(|m| crate::sociogram::svg::first_name(&m.name))
            .collect();
        Ok(Some(PupilSociogram {
            round: latest.id,
            opened_on: latest.opened_on,
            status: latest.status,
            members: members.len() as u32,
            respondents: analysis.respondents,
            position,
            mutual_names,
        }))
    }
}
