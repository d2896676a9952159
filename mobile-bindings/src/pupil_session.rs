//! Pupil mode (docs/mobile.md, "Pupil mode"): a teacher's device starts a pupil session for
//! one group; the session is a store of its own that lists the group's first names and adds
//! the readings pupils enter themselves, and reads nothing else.

use crate::defaults::ThermometerScale;
use crate::error::Result;
use crate::records::doc_id;
use crate::store::OmkijkenStore;
use crate::sync::{SyncReport, runtime};
use omkijken_core::store::{self, Store};
use omkijken_core::transport;
use std::sync::Arc;

/// A pupil as a pupil session lists her: her id and first name, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SessionPupil {
    /// Pupil id (pass it to `record`).
    pub id: String,
    /// First name (with the initial of the last name when two share one).
    pub first_name: String,
}

impl From<store::SessionPupil> for SessionPupil {
    fn from(p: store::SessionPupil) -> Self {
        SessionPupil {
            id: p.id,
            first_name: p.first_name,
        }
    }
}

/// What a pupil enters in pupil mode.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PupilReading {
    /// Pupil id (from `pupils`).
    pub pupil: String,
    /// Score on her scale (see `scale`).
    pub score: u8,
    /// Emotion word ids her scale offers.
    #[uniffi(default)]
    pub emotions: Vec<String>,
    /// "Ik wil even praten."
    pub wants_to_talk: bool,
}

impl From<PupilReading> for store::PupilReading {
    fn from(r: PupilReading) -> Self {
        store::PupilReading {
            pupil: r.pupil,
            score: r.score,
            emotions: r.emotions,
            wants_to_talk: r.wants_to_talk,
        }
    }
}

/// A request to talk nobody answered yet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TalkRequest {
    /// Pupil id.
    pub pupil: String,
    /// The reading that asks (pass it to `answer_talk_request`).
    pub entry: String,
    /// When she asked (unix ms).
    pub at: i64,
    /// She asked herself, in pupil mode.
    pub by_pupil: bool,
    /// School days (Monday to Friday) since.
    pub school_days: u32,
    /// Waited the school's number of school days: on the care coordinator's list.
    pub escalated: bool,
}

impl From<store::TalkRequest> for TalkRequest {
    fn from(t: store::TalkRequest) -> Self {
        TalkRequest {
            pupil: t.pupil,
            entry: t.entry,
            at: t.at,
            by_pupil: t.by_pupil,
            school_days: t.school_days,
            escalated: t.escalated,
        }
    }
}

/// A pupil session: the class hands the device round, each pupil picks her name and
/// enters how she feels. It can add readings and nothing else: it shows no reading (not
/// even one just made), no note, no signal; the server sends it nothing. The app leaves
/// pupil mode only after the teacher's device passcode or biometrics, then calls `sync_now`
/// and `end`.
#[derive(Debug, uniffi::Object)]
pub struct PupilSession {
    inner: store::PupilSession,
}

#[uniffi::export]
impl OmkijkenStore {
    /// Start a pupil session for `group` on this device, valid `hours` (1-72): online, a
    /// teacher or mentor of the group (`Forbidden` otherwise, `NotFound` for an unknown
    /// group, `Network` offline). The session gets a store of its own at `session_path` with
    /// its own key (`session_key`, at least 16 random bytes from the keystore; never this
    /// store's), enrolled with a credential the server scoped to the group.
    pub fn start_pupil_session(
        &self,
        group: String,
        hours: u32,
        session_path: String,
        session_key: Vec<u8>,
    ) -> Result<Arc<PupilSession>> {
        let session = Store::open(session_path, &session_key)?;
        let fut = transport::start_pupil_session(&self.inner, &group, hours, session);
        let inner = runtime().block_on(fut)?;
        Ok(Arc::new(PupilSession { inner }))
    }

    /// Requests to talk nobody answered yet: all of those of the pupils whose thermometer
    /// this user writes (mentors, teachers of the group), and for the care coordinator
    /// those that waited the school's number of school days. Oldest first.
    pub fn open_talk_requests(&self) -> Result<Vec<TalkRequest>> {
        Ok(self
            .inner
            .open_talk_requests()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Mark a request to talk answered: the talk was on `on` (`YYYY-MM-DD`), optionally the
    /// kindgesprek `conversation` followed. Works offline; it leaves the attention lists.
    /// `Forbidden` for who does not write the pupil's thermometer, `Invalid` for a reading
    /// that did not ask or was answered already, `NotFound` for one this device lacks.
    pub fn answer_talk_request(
        &self,
        pupil: String,
        entry: String,
        on: String,
        conversation: Option<String>,
    ) -> Result<()> {
        let conversation = conversation.as_deref().map(doc_id).transpose()?;
        Ok(self
            .inner
            .answer_talk_request(&pupil, &entry, &on, conversation)?)
    }
}

#[uniffi::export]
impl PupilSession {
    /// Open the pupil session kept at `path` (after the app was closed in pupil mode).
    /// `Invalid` if that store is not a pupil session.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        let store = Store::open(path, &key)?;
        Ok(Arc::new(PupilSession {
            inner: store::PupilSession::from_store(store)?,
        }))
    }

    /// The group.
    pub fn group(&self) -> String {
        self.inner.group().into()
    }

    /// When the session's credential stops working (unix ms): end it before.
    pub fn expires_at(&self) -> i64 {
        self.inner.expires_at()
    }

    /// The group's pupils by first name, sorted: the name screen.
    pub fn pupils(&self) -> Vec<SessionPupil> {
        self.inner
            .pupils()
            .iter()
            .cloned()
            .map(Into::into)
            .collect()
    }

    /// The scale a pupil records on (her age band's, with the school's labels and the
    /// "ik wil even praten" text). `NotFound` for a pupil not in the session.
    pub fn scale(&self, pupil: String) -> Result<ThermometerScale> {
        Ok(self.inner.scale(&pupil)?.into())
    }

    /// Record what a pupil entered; works offline, sent at the next `sync_now`. Returns
    /// nothing the app could show back. `Invalid` for a score or word off her scale.
    pub fn record(&self, reading: PupilReading) -> Result<()> {
        Ok(self.inner.record(reading.into())?)
    }

    /// The sociogram questions pupils answer in this session: the group's open round when
    /// the session started (a mentor of the group started it); empty when there was none.
    pub fn sociogram_questions(&self) -> Vec<crate::sociogram::SociogramQuestion> {
        self.inner
            .sociogram()
            .map(|so| {
                so.questions
                    .iter()
                    .map(|(id, text, polarity)| {
                        omkijken_core::model::SociogramQuestion {
                            id: id.clone(),
                            text: text.clone(),
                            polarity: polarity.clone(),
                        }
                        .into()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Record a pupil's own sociogram answers (classmates by pupil id from `pupils`, at
    /// most 5 per question, never herself); works offline, sent at the next `sync_now`.
    /// `NotFound` without a round or for a pupil not in the session, `Invalid` for a
    /// question not in the round or a classmate not in the group.
    pub fn record_sociogram(
        &self,
        pupil: String,
        answers: Vec<crate::sociogram::SociogramAnswerInput>,
    ) -> Result<()> {
        let answers = answers
            .into_iter()
            .map(|a| (a.question, a.pupils))
            .collect();
        Ok(self.inner.record_sociogram(&pupil, answers)?)
    }

    /// Readings and answers not sent yet.
    pub fn pending_count(&self) -> Result<u32> {
        Ok(self.inner.pending()? as u32)
    }

    /// Send the readings. Nothing comes back.
    pub fn sync_now(&self) -> Result<SyncReport> {
        Ok(runtime()
            .block_on(transport::sync_pupil_session(&self.inner))?
            .into())
    }

    /// End the session: its store is wiped (readings not sent are lost: `sync_now` first
    /// and check `pending_count`).
    pub fn end(&self) -> Result<()> {
        Ok(self.inner.wipe()?)
    }
}

/// A device clock for [`OmkijkenStore::open_with_clock`] (tests and demonstrations).
#[uniffi::export(with_foreign)]
pub trait StoreClock: Send + Sync {
    /// Now, unix ms.
    fn now_ms(&self) -> i64;
}
