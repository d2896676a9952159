//! Excursions for the staff's app: the trip, its contact list and the guideline's count of
//! adults as FFI records, and the store calls that plan a trip, change it and list it.
//!
//! The organiser writes the trip; the staff on it read it on their phones (their trip
//! roster and contact list, offline) and get `Forbidden` when they try to change it; anyone
//! else gets `NotFound` and an empty list. The core changes a trip with a closure, which
//! cannot cross the FFI: the organiser's changes are separate calls built on it (the
//! participants, the staff, the name, place and dates, a contact added or removed). Bad
//! input is `Invalid` and writes nothing. Signals refer to a trip by its id
//! (`NewSignal.excursion`); `wipe_excursion_cache` clears the trip from a phone on return.

use crate::error::Result;
use crate::records::doc_id;
use crate::store::OmkijkenStore;
use omkijken_core::DocumentId;
use omkijken_core::model::{self as core};
use omkijken_core::store::{self as store};

/// A contact as the organiser enters it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewTripContact {
    /// Name as shown.
    pub name: String,
    /// Role, e.g. "begeleider", "school", "busmaatschappij".
    pub role: String,
    /// Phone number (required).
    pub phone: String,
    /// An adult who supervises pupils (a parent who comes along, a trainee): counts in
    /// `Supervision.adults`.
    #[uniffi(default)]
    pub supervises: bool,
}

impl From<NewTripContact> for store::NewTripContact {
    fn from(c: NewTripContact) -> Self {
        store::NewTripContact {
            name: c.name,
            role: c.role,
            phone: c.phone,
            supervises: c.supervises,
        }
    }
}

/// Someone to call during the trip, as read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TripContact {
    /// Stable id (for `remove_trip_contact`).
    pub id: String,
    /// Name as shown.
    pub name: String,
    /// Role.
    pub role: String,
    /// Phone number.
    pub phone: String,
    /// An adult who supervises pupils.
    pub supervises: bool,
}

impl From<core::TripContact> for TripContact {
    fn from(c: core::TripContact) -> Self {
        TripContact {
            id: c.id,
            name: c.name,
            role: c.role,
            phone: c.phone,
            supervises: c.supervises,
        }
    }
}

/// What the organiser enters to plan a trip.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewExcursion {
    /// Name, e.g. "Schoolkamp Ardennen".
    pub name: String,
    /// Where.
    pub place: String,
    /// First day, `YYYY-MM-DD`.
    pub starts_on: String,
    /// Last day, `YYYY-MM-DD` (on or after the first).
    pub ends_on: String,
    /// Pupil ids of the pupils who go (the school's active pupils).
    #[uniffi(default)]
    pub participants: Vec<String>,
    /// Staff ids of the other staff who go (active staff): they get the trip on their
    /// devices at their next sync, to read.
    #[uniffi(default)]
    pub staff: Vec<String>,
    /// The contact list.
    #[uniffi(default)]
    pub contacts: Vec<NewTripContact>,
}

impl From<NewExcursion> for store::NewExcursion {
    fn from(e: NewExcursion) -> Self {
        store::NewExcursion {
            name: e.name,
            place: e.place,
            starts_on: e.starts_on,
            ends_on: e.ends_on,
            participants: e.participants,
            staff: e.staff,
            contacts: e.contacts.into_iter().map(Into::into).collect(),
        }
    }
}

/// A school trip, as read (the organiser and the staff on it).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Excursion {
    /// Document id (what `NewSignal.excursion` refers to).
    pub id: String,
    /// Name.
    pub name: String,
    /// Where.
    pub place: String,
    /// First day, `YYYY-MM-DD`.
    pub starts_on: String,
    /// Last day, `YYYY-MM-DD`.
    pub ends_on: String,
    /// Pupil ids of the pupils who go, each once.
    pub participants: Vec<String>,
    /// Staff ids of the staff who go besides the organiser, each once.
    pub staff: Vec<String>,
    /// The contact list.
    pub contacts: Vec<TripContact>,
}

impl Excursion {
    pub(crate) fn new(id: DocumentId, e: core::Excursion) -> Self {
        Excursion {
            id: id.to_string(),
            name: e.name,
            place: e.place,
            starts_on: e.starts_on,
            ends_on: e.ends_on,
            participants: e.participants,
            staff: e.staff,
            contacts: e.contacts.into_iter().map(Into::into).collect(),
        }
    }
}

/// The guideline's count of adults for a trip: one adult per 5 pupils of groep 1-4
/// (`po_1_4`) and one per 7 of groep 5-8 (`po_5_8`), at least one; secondary school has no
/// fixed ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Supervision {
    /// Pupils going.
    pub pupils: u32,
    /// Adults going: the organiser, the staff on the trip and contacts who supervise.
    pub adults: u32,
    /// Adults the guideline asks for (at least one).
    pub required: u32,
    /// `adults >= required`.
    pub enough: bool,
}

impl From<core::Supervision> for Supervision {
    fn from(s: core::Supervision) -> Self {
        Supervision {
            enough: s.enough(),
            pupils: s.pupils,
            adults: s.adults,
            required: s.required,
        }
    }
}

/// A trip in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ExcursionSummary {
    /// Document id.
    pub id: String,
    /// Staff id of the organiser (the one who may change it).
    pub organiser: String,
    /// Name.
    pub name: String,
    /// First day, `YYYY-MM-DD`.
    pub starts_on: String,
    /// Last day, `YYYY-MM-DD`.
    pub ends_on: String,
    /// Number of pupils going.
    pub participants: u32,
}

impl From<store::ExcursionSummary> for ExcursionSummary {
    fn from(e: store::ExcursionSummary) -> Self {
        ExcursionSummary {
            id: e.id.to_string(),
            organiser: e.organiser,
            name: e.name,
            starts_on: e.starts_on,
            ends_on: e.ends_on,
            participants: e.participants,
        }
    }
}

#[uniffi::export]
impl OmkijkenStore {
    /// Plan a trip: any active staff member organises one. The pupils must be the school's
    /// active pupils, the staff its active staff (the organiser need not be listed), each
    /// once; the trip ends on or after its first day; every contact has a name and a phone.
    /// Otherwise `Invalid`, and nothing is written. The staff listed get the trip at their
    /// next sync. Works offline. Returns its id.
    pub fn plan_excursion(&self, excursion: NewExcursion) -> Result<String> {
        Ok(self.inner.plan_excursion(excursion.into())?.to_string())
    }

    /// Read a trip: the organiser and the staff on it. `NotFound` for anyone else.
    pub fn excursion(&self, id: String) -> Result<Excursion> {
        let id = doc_id(&id)?;
        Ok(Excursion::new(id, self.inner.excursion(id)?))
    }

    /// Replace the pupils who go (the organiser; `Forbidden` for the staff on the trip).
    /// An unknown or inactive pupil, or one listed twice, is `Invalid` and changes nothing.
    pub fn set_excursion_participants(&self, id: String, participants: Vec<String>) -> Result<()> {
        Ok(self.inner.update_excursion(doc_id(&id)?, |e| {
            e.participants = participants;
            Ok(())
        })?)
    }

    /// Replace the staff who go besides the organiser (the organiser). Staff taken off the
    /// trip lose it from their devices at their next sync; staff added get it.
    pub fn set_excursion_staff(&self, id: String, staff: Vec<String>) -> Result<()> {
        Ok(self.inner.update_excursion(doc_id(&id)?, |e| {
            e.staff = staff;
            Ok(())
        })?)
    }

    /// Change the name, place and dates (`YYYY-MM-DD`) together (the organiser). An empty
    /// name, a bad date or a last day before the first is `Invalid` and changes nothing.
    pub fn set_excursion_details(
        &self,
        id: String,
        name: String,
        place: String,
        starts_on: String,
        ends_on: String,
    ) -> Result<()> {
        Ok(self.inner.update_excursion(doc_id(&id)?, |e| {
            e.name = name;
            e.place = place;
            e.starts_on = starts_on;
            e.ends_on = ends_on;
            Ok(())
        })?)
    }

    /// Add a contact to the trip's list (the organiser); returns its id. A contact without
    /// a name or phone is `Invalid`.
    pub fn add_trip_contact(&self, id: String, contact: NewTripContact) -> Result<String> {
        Ok(self.inner.add_trip_contact(doc_id(&id)?, contact.into())?)
    }

    /// Remove a contact from the trip's list (the organiser). `NotFound` if the trip has no
    /// contact with that id.
    pub fn remove_trip_contact(&self, id: String, contact_id: String) -> Result<()> {
        Ok(self.inner.remove_trip_contact(doc_id(&id)?, &contact_id)?)
    }

    /// The guideline's count of adults for a trip (whoever reads the trip).
    pub fn excursion_supervision(&self, id: String) -> Result<Supervision> {
        Ok(self.inner.excursion_supervision(doc_id(&id)?)?.into())
    }

    /// The trips this user organises or goes on, soonest first (empty for anyone else).
    pub fn list_excursions(&self) -> Result<Vec<ExcursionSummary>> {
        let list = self.inner.list_excursions()?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_carries_enough() {
        let s = |adults, required| {
            Supervision::from(core::Supervision {
                pupils: 12,
                adults,
                required,
            })
        };
        assert_eq!(
            s(2, 3),
            Supervision {
                pupils: 12,
                adults: 2,
                required: 3,
                enough: false
            }
        );
        assert!(s(3, 3).enough);
    }
}
