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

    /// How often the pupil's file was erased, as this device's roster says (0 for a pupil
    /// it does not know): her months' ids follow it ([`doc::thermometer_id`]).
    fn erasures_of(&self, pupil: &str) -> Result<u32> {
        Ok(self.roster()?.pupils.get(pupil).map_or(0, |p| p.erasures))
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
        let erasures = self.erasures_of(&e.pupil)?;
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

    /// A pupil's thermometer month, if held and readable. The read is logged.
    pub fn thermometer_month(&self, pupil: &str, month: &str) -> Result<Option<ThermometerMonth>> {
        let me = self.unlocked_identity()?;
        let id = doc::thermometer_id(&me.school, pupil, month, self.erasures_of(pupil)?);
        match self.read_record::<ThermometerMonth>(id, true) {
            Ok((_, m, _)) => Ok(Some(m)),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
