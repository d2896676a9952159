//! Thermometer readings recorded by staff: the school's scale for a pupil, a reading added
//! to the pupil's month document (started from its deterministic genesis), a month read.

use super::Store;
use super::records::check_text;
use crate::access::Access;
use crate::doc::{self, AccessFields};
use crate::ids::DocumentId;
use crate::model::{ThermometerEntry, ThermometerMonth};
use crate::{Error, Result};

/// What a user enters for a thermometer reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewThermometerEntry {
    /// Pupil id.
    pub pupil: String,
    /// When (unix ms); decides the month document.
    pub at: i64,
    /// Score on the pupil's scale.
    pub score: u8,
    /// Optional emotion words.
    pub emotions: Vec<String>,
    /// "Wil je even praten?"
    pub wants_to_talk: bool,
    /// Optional note.
    pub note: Option<String>,
}

impl Store {
    /// The thermometer scale of a pupil's age band as the school uses it (its labels and
    /// emotion words; the default scale when the school set none).
    pub fn thermometer_scale(&self, pupil: &str) -> Result<crate::model::SchoolScale> {
        let roster = self.roster()?;
        let p = roster.pupils.get(pupil).ok_or(Error::NotFound)?;
        let band = crate::model::AgeBand::parse(&p.age_band)
            .ok_or_else(|| Error::Invalid("pupil has no known age band".into()))?;
        Ok(self.school_settings()?.scale_for(band))
    }

    /// The ids the pupil's `month` may have, newest first, with the count of erasures each
    /// belongs to ([`doc::thermometer_id`]): one for each of her erasures so far as this
    /// device's roster counts them, down to none. A month written under an earlier count that
    /// no erasure took (recorded offline before the device learnt of one) keeps its id, and
    /// the server takes it there.
    fn month_ids(&self, school: &str, pupil: &str, month: &str) -> Result<Vec<(u32, DocumentId)>> {
        let n = self.roster()?.pupils.get(pupil).map_or(0, |p| p.erasures);
        Ok((0..=n)
            .rev()
            .map(|k| (k, doc::thermometer_id(school, pupil, month, k)))
            .collect())
    }

    /// Record a thermometer reading in the pupil's month document, creating the month with
    /// its deterministic genesis if this device does not hold it yet. On the school's scale
    /// for the pupil's age band ([`Store::thermometer_scale`]).
    pub fn record_thermometer(&self, e: NewThermometerEntry) -> Result<DocumentId> {
        self.require_pupil(&e.pupil)?;
        let school_scale = self.thermometer_scale(&e.pupil)?;
        school_scale
            .validate(e.score, &e.emotions)
            .map_err(Error::Invalid)?;
        let scale = school_scale.scale;
        if let Some(n) = &e.note {
            check_text("note", n)?;
        }
        let me = self.unlocked_identity()?;
        let month = crate::model::month_of(e.at);
        let header = doc::thermometer_header(&me.school, &e.pupil, &month);
        if self.access_to(&header, &AccessFields::default())? < Access::Write {
            return Err(Error::Forbidden("not a mentor or teacher of this pupil"));
        }
        // The newest of the month's ids this device holds, so a month is not split in two;
        // none held: the id of her erasures so far.
        let ids = self.month_ids(&me.school, &e.pupil, &month)?;
        let mut erasures = ids[0].0;
        for (k, id) in &ids {
            if self.info(*id)?.is_some() {
                erasures = *k;
                break;
            }
        }
        let (id, genesis) = doc::thermometer_genesis(&me.school, &e.pupil, &month, erasures)?;
        let entry = ThermometerEntry {
            id: self.new_id().to_string(),
            at: e.at,
            scale: scale.id.to_string(),
            score: e.score,
            emotions: e.emotions,
            wants_to_talk: e.wants_to_talk,
            note: e.note,
            recorded_by: me.user,
            source: None,
            session: None,
        };
        // Who may write was checked above, on the month's header.
        self.edit_system_document::<ThermometerMonth>(
            id,
            genesis,
            self.now(),
            |_| Ok(()),
            |m| {
                m.entries.push(entry);
                Ok(())
            },
        )?;
        Ok(id)
    }

    /// A pupil's thermometer month, if held and readable: the entries and answers of every
    /// id of the month this device holds ([`Store::month_ids`]; two only when a device that
    /// did not know of an erasure started the month under the earlier id), entries in the
    /// order recorded. Each read is logged.
    pub fn thermometer_month(&self, pupil: &str, month: &str) -> Result<Option<ThermometerMonth>> {
        let me = self.unlocked_identity()?;
        let mut out: Option<ThermometerMonth> = None;
        for (_, id) in self.month_ids(&me.school, pupil, month)? {
            let m = match self.read_record::<ThermometerMonth>(id, true) {
                Ok((_, m, _)) => m,
                Err(Error::NotFound) => continue,
                Err(e) => return Err(e),
            };
            match out.as_mut() {
                None => out = Some(m),
                Some(o) => {
                    o.entries.extend(m.entries);
                    o.answers.extend(m.answers);
                }
            }
        }
        if let Some(o) = out.as_mut() {
            o.entries.sort_by_key(|e| e.at);
        }
        Ok(out)
    }
}
