//! Pupil mode on the device: a pupil session is a store of its own (its own encrypted
//! database, its own actor, its own device token with a scope the server decided), which
//! can only add readings its pupils enter themselves. See docs/mobile.md, "Pupil mode".
//!
//! What it holds: the scope, the first names of its group's pupils with their age bands,
//! the school's thermometer settings (labels) and the readings not sent yet. What it shows:
//! the names and a pupil's scale. It never shows a reading, not even one just made, and the
//! server sends it nothing. Ending the session sends what waits and wipes the store.

use super::{Identity, Store};
use crate::doc;
use crate::model::{
    AgeBand, Group, Pupil, PupilScope, Role, Roster, SOURCE_PUPIL, ScaleSetting, SchoolScale,
    SchoolSettings, Staff, ThermometerEntry, ThermometerMonth,
};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The store setting that makes a store a pupil session (JSON of its [`SessionInfo`]).
pub const SETTING_PUPIL_SESSION: &str = "pupil_session";

/// A pupil as a pupil session lists her: her id and first name, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPupil {
    /// Pupil id.
    pub id: String,
    /// First name as the class knows it (with the initial of the last name when two share
    /// a first name).
    pub first_name: String,
    /// Age band (`po_1_4`, `po_5_8`, `vo_mbo`).
    pub age_band: String,
    /// How often her file was erased ([`Pupil::erasures`]): her month's id follows it.
    #[serde(default)]
    pub erasures: u32,
}

/// What a pupil session keeps (store setting [`SETTING_PUPIL_SESSION`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The scope the server gave the session.
    pub scope: PupilScope,
    /// The group's active pupils, by first name.
    pub pupils: Vec<SessionPupil>,
    /// The school's thermometer settings per age band (labels, emotion words).
    pub thermometer: BTreeMap<String, ScaleSetting>,
    /// The group's open sociogram round when the session started (a mentor of the group
    /// started it and her device held the round): its pupils enter their own answers.
    #[serde(default)]
    pub sociogram: Option<SessionSociogram>,
}

/// The sociogram round a pupil session collects answers for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSociogram {
    /// The round's document id.
    pub round: String,
    /// Its questions: (id, text, polarity `positive` or `negative`).
    pub questions: Vec<(String, String, String)>,
}

/// What a pupil session takes from the teacher's device ([`PupilSession::prepare`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionDraft {
    pupils: Vec<SessionPupil>,
    thermometer: BTreeMap<String, ScaleSetting>,
    sociogram: Option<SessionSociogram>,
}

impl std::fmt::Debug for SessionDraft {
    // Never the pupils' names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionDraft")
            .field("pupils", &self.pupils.len())
            .finish_non_exhaustive()
    }
}

/// What a pupil enters in pupil mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PupilReading {
    /// Pupil id (from [`PupilSession::pupils`]).
    pub pupil: String,
    /// Score on her scale.
    pub score: u8,
    /// Emotion words (ids) her scale offers.
    pub emotions: Vec<String>,
    /// "Ik wil even praten."
    pub wants_to_talk: bool,
}

/// The first names of `pupils` (active ones of `group`), as a pupil session lists them,
/// sorted by name. Two pupils with one first name get the initial of their last name.
pub fn session_pupils(roster: &Roster, group: &str) -> Vec<SessionPupil> {
    let pupils: Vec<&Pupil> = roster
        .pupils
        .values()
        .filter(|p| p.active && p.group == group)
        .collect();
    let first = |p: &Pupil| {
        p.display_name
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut out: Vec<SessionPupil> = pupils
        .iter()
        .map(|p| {
            let name = first(p);
            let shared = pupils.iter().filter(|q| first(q) == name).count() > 1;
            let first_name = match p.display_name.split_whitespace().last() {
                Some(last) if shared && p.display_name.split_whitespace().count() > 1 => {
                    let initial: String = last.chars().take(1).collect();
                    format!("{name} {initial}.")
                }
                _ => name,
            };
            SessionPupil {
                id: p.id.clone(),
                first_name,
                age_band: p.age_band.clone(),
                erasures: p.erasures,
            }
        })
        .collect();
    out.sort_by(|a, b| a.first_name.cmp(&b.first_name).then(a.id.cmp(&b.id)));
    out
}

/// A pupil session: see the module docs. Wraps its own [`Store`].
#[derive(Debug, Clone)]
pub struct PupilSession {
    store: Store,
    info: SessionInfo,
    identity: Identity,
}

impl PupilSession {
    /// The pupil session kept in `store` (after an app restart): `Invalid` if the store is
    /// not one.
    pub fn from_store(store: Store) -> Result<PupilSession> {
        let info = store
            .setting(SETTING_PUPIL_SESSION)?
            .and_then(|s| serde_json::from_str::<SessionInfo>(&s).ok())
            .ok_or_else(|| Error::Invalid("this store is not a pupil session".into()))?;
        let identity = store.require_identity()?;
        Ok(PupilSession {
            store,
            info,
            identity,
        })
    }

    /// What a pupil session for `group` takes from `teacher`'s device: the group's pupils
    /// by first name, the school's thermometer settings and the group's open sociogram
    /// round as that device holds them. Read before the server is asked for a code, so a
    /// device that cannot read them (locked until it syncs) asks for nothing.
    pub fn prepare(teacher: &Store, group: &str) -> Result<SessionDraft> {
        let roster = teacher.roster()?;
        Ok(SessionDraft {
            pupils: session_pupils(&roster, group),
            thermometer: teacher.school_settings()?.thermometer,
            sociogram: open_sociogram(teacher, group)?,
        })
    }

    /// Make `session` (a new store, enrolled with the code of a `startPupilSession`
    /// answer) the pupil session of `scope`, from what [`PupilSession::prepare`] read. The
    /// transport that asked for the code calls this (`transport::start_pupil_session`); so
    /// does the simulation.
    pub fn start(session: Store, draft: SessionDraft, scope: PupilScope) -> Result<PupilSession> {
        let info = SessionInfo {
            pupils: draft.pupils,
            thermometer: draft.thermometer,
            sociogram: draft.sociogram,
            scope,
        };
        PupilSession::init(session, info)
    }

    /// Make `store` (new, enrolled with the session's code) a pupil session.
    fn init(store: Store, info: SessionInfo) -> Result<PupilSession> {
        let json = serde_json::to_string(&info)
            .map_err(|_| Error::Invalid("the session does not serialize".into()))?;
        store.set_setting(SETTING_PUPIL_SESSION, Some(&json))?;
        PupilSession::from_store(store)
    }

    /// The session's store (for the sync driver; the app never reads it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The session's id (recorded on every reading made in it).
    pub fn session_id(&self) -> &str {
        &self.info.scope.session
    }

    /// The group.
    pub fn group(&self) -> &str {
        &self.info.scope.group
    }

    /// When the session's credential stops working (unix ms).
    pub fn expires_at(&self) -> i64 {
        self.info.scope.expires_at
    }

    /// The group's pupils by first name: all a pupil session shows of the roster.
    pub fn pupils(&self) -> &[SessionPupil] {
        &self.info.pupils
    }

    fn pupil(&self, id: &str) -> Result<&SessionPupil> {
        self.info
            .pupils
            .iter()
            .find(|p| p.id == id)
            .ok_or(Error::NotFound)
    }

    /// The scale a pupil records on, with the school's labels: the scale the server set
    /// for her age band when the session started.
    pub fn scale(&self, pupil: &str) -> Result<SchoolScale> {
        let p = self.pupil(pupil)?;
        let band = AgeBand::parse(&p.age_band)
            .ok_or_else(|| Error::Invalid("pupil has no known age band".into()))?;
        let settings = SchoolSettings {
            thermometer: self.info.thermometer.clone(),
            ..Default::default()
        };
        let school = settings.scale_for(band);
        match self.info.scope.scale_for(&p.age_band) {
            Some(id) if id != school.scale.id => {
                // The school changed the scale since this device last synced: the server's
                // choice holds, with its default labels.
                let mut other = SchoolSettings::default();
                other.thermometer.insert(
                    p.age_band.clone(),
                    ScaleSetting {
                        scale: id.to_string(),
                        ..Default::default()
                    },
                );
                Ok(other.scale_for(band))
            }
            _ => Ok(school),
        }
    }

    /// Record what a pupil entered: a reading in her month, in this session's name, to be
    /// sent at the next sync. Returns nothing the app could read back.
    pub fn record(&self, r: PupilReading) -> Result<()> {
        // The offline lease holds here as in any store (`Locked` past it).
        self.store.unlocked_identity()?;
        let scale = self.scale(&r.pupil)?;
        scale
            .validate(r.score, &r.emotions)
            .map_err(Error::Invalid)?;
        if self.store.now() >= self.info.scope.expires_at {
            return Err(Error::Forbidden("the pupil session has ended"));
        }
        let me = &self.identity;
        let now = self.store.now();
        let month = crate::model::month_of(now);
        let erasures = self
            .info
            .pupils
            .iter()
            .find(|p| p.id == r.pupil)
            .map_or(0, |p| p.erasures);
        let (id, genesis) = doc::thermometer_genesis(&me.school, &r.pupil, &month, erasures)?;
        let entry = ThermometerEntry {
            id: self.store.new_id().to_string(),
            at: now,
            scale: scale.scale.id.to_string(),
            score: r.score,
            emotions: r.emotions,
            wants_to_talk: r.wants_to_talk,
            note: None,
            recorded_by: me.user.clone(),
            source: Some(SOURCE_PUPIL.into()),
            session: Some(self.info.scope.session.clone()),
        };
        self.append(id, genesis, now, |m: &mut ThermometerMonth| {
            m.entries.push(entry);
            Ok(())
        })
    }

    /// Append to this session's document `id` (created from its deterministic `genesis`
    /// when the session holds none) as one change, judged by the server's rules on what the
    /// session knows: the app says no first.
    fn append<R: crate::model::Record>(
        &self,
        id: crate::ids::DocumentId,
        genesis: automerge::Automerge,
        now: i64,
        edit: impl FnOnce(&mut R) -> Result<()>,
    ) -> Result<()> {
        let roster = self.roster();
        let actor = self.store.writer_actor();
        self.store.transact(id, |d| {
            let before = (!d.get_heads().is_empty()).then(|| d.clone());
            if before.is_none() {
                *d = genesis;
            }
            doc::update::<R>(id, d, &actor, now, edit)?;
            let writer = crate::model::rules::Writer {
                roster: &roster,
                user: &self.identity.user,
                actor: self.store.actor().to_bytes(),
                pupil_session: Some(&self.info.scope),
            };
            crate::model::rules::admit(id, before.as_ref(), d, &writer)?;
            Ok(())
        })
    }

    /// The sociogram round this session collects answers for, if the teacher had one open:
    /// (round id, questions as (id, text, polarity)).
    pub fn sociogram(&self) -> Option<&SessionSociogram> {
        self.info.sociogram.as_ref()
    }

    /// Record a pupil's own sociogram answers (`answers`: (question id, classmates' pupil
    /// ids), at most five each, never herself), sent at the next sync. `NotFound` without an
    /// open round or for a pupil not in the session, `Invalid` for an unknown question or a
    /// classmate not in the group.
    pub fn record_sociogram(&self, pupil: &str, answers: Vec<(String, Vec<String>)>) -> Result<()> {
        use crate::model::{SociogramAnswer, SociogramAnswers};
        let so = self.info.sociogram.as_ref().ok_or(Error::NotFound)?;
        self.store.unlocked_identity()?;
        self.pupil(pupil)?;
        if self.store.now() >= self.info.scope.expires_at {
            return Err(Error::Forbidden("the pupil session has ended"));
        }
        if answers.is_empty() {
            return Err(Error::Invalid("no answers given".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (q, named) in &answers {
            if !so.questions.iter().any(|(id, _, _)| id == q) || !seen.insert(q) {
                return Err(Error::Invalid(
                    "each answer is to a question of the round, once".into(),
                ));
            }
            let mut names = std::collections::BTreeSet::new();
            for n in named {
                if n == pupil || !names.insert(n) || self.pupil(n).is_err() {
                    return Err(Error::Invalid(
                        "the pupils named are different classmates in the group".into(),
                    ));
                }
            }
        }
        let round: crate::ids::DocumentId = so
            .round
            .parse()
            .map_err(|_| Error::Invalid("the session's round id".into()))?;
        let me = &self.identity;
        let group = &self.info.scope.group;
        let (id, genesis) = doc::sociogram_answers_genesis(&me.school, round, group, pupil)?;
        let now = self.store.now();
        let new: Vec<SociogramAnswer> = answers
            .into_iter()
            .map(|(question, pupils)| SociogramAnswer {
                id: self.store.new_id().to_string(),
                question,
                pupils,
                at: now,
                recorded_by: me.user.clone(),
                source: SOURCE_PUPIL.into(),
                session: Some(self.info.scope.session.clone()),
            })
            .collect();
        self.append(id, genesis, now, |s: &mut SociogramAnswers| {
            s.answers.extend(new);
            Ok(())
        })
    }

    /// Readings not acknowledged by the server yet.
    pub fn pending(&self) -> Result<usize> {
        Ok(self.store.outbox()?.len())
    }

    /// The roster as far as this session knows it: its staff member teaching its group of
    /// pupils (for the local run of the record rules).
    fn roster(&self) -> Roster {
        let user = &self.identity.user;
        let group = &self.info.scope.group;
        let mut r = Roster {
            school: self.identity.school.clone(),
            ..Default::default()
        };
        r.staff.insert(
            user.clone(),
            Staff {
                id: user.clone(),
                display_name: String::new(),
                roles: vec![Role::Teacher.as_str().into()],
                meldcode_duty: false,
                active: true,
            },
        );
        r.groups.insert(
            group.clone(),
            Group {
                id: group.clone(),
                name: String::new(),
                teachers: vec![user.clone()],
            },
        );
        for p in &self.info.pupils {
            r.pupils.insert(
                p.id.clone(),
                Pupil {
                    id: p.id.clone(),
                    display_name: p.first_name.clone(),
                    group: group.clone(),
                    age_band: p.age_band.clone(),
                    active: true,
                    in_care: false,
                    erasures: p.erasures,
                    // Only a mentor of the group's pupils holds its sociogram round.
                    mentors: if self.info.sociogram.is_some() {
                        vec![user.clone()]
                    } else {
                        vec![]
                    },
                },
            );
        }
        r
    }

    /// End the session: wipe its store (readings not sent yet are lost: send them first,
    /// see [`PupilSession::pending`]).
    pub fn wipe(&self) -> Result<()> {
        self.store.wipe()
    }
}

/// The group's open sociogram round as the teacher's device holds it (a mentor's), for a
/// pupil session: its id and questions.
fn open_sociogram(teacher: &Store, group: &str) -> Result<Option<SessionSociogram>> {
    let open = teacher
        .list_sociogram_rounds(Some(group))?
        .into_iter()
        .filter(|r| r.status == crate::model::RoundStatus::Open)
        .max_by(|a, b| a.opened_on.cmp(&b.opened_on));
    let Some(open) = open else {
        return Ok(None);
    };
    let round = teacher.sociogram_round(open.id)?;
    Ok(Some(SessionSociogram {
        round: open.id.to_string(),
        questions: round
            .questions
            .into_iter()
            .map(|q| (q.id, q.text, q.polarity))
            .collect(),
    }))
}
