//! Excursions: the organiser plans a trip (who goes, which staff, the contact list); the
//! staff on the trip get it on their phones, offline, with the guideline's count of adults.

use super::Store;
use super::queries::may_read_listed;
use super::records::check_text;
use crate::ids::DocumentId;
use crate::model::{Excursion, Header, Kind, Supervision, TripContact};
use crate::{Error, Result};

/// A contact as the organiser enters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTripContact {
    /// Name.
    pub name: String,
    /// Role, e.g. "begeleider", "school".
    pub role: String,
    /// Phone number.
    pub phone: String,
    /// An adult who supervises pupils.
    pub supervises: bool,
}

/// What the organiser enters to plan a trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExcursion {
    /// Name.
    pub name: String,
    /// Where.
    pub place: String,
    /// First day, `YYYY-MM-DD`.
    pub starts_on: String,
    /// Last day, `YYYY-MM-DD`.
    pub ends_on: String,
    /// Pupil ids.
    pub participants: Vec<String>,
    /// Staff ids of the other staff who go.
    pub staff: Vec<String>,
    /// The contact list.
    pub contacts: Vec<NewTripContact>,
}

/// An excursion in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcursionSummary {
    /// Document id.
    pub id: DocumentId,
    /// The organiser.
    pub organiser: String,
    /// Name.
    pub name: String,
    /// First day.
    pub starts_on: String,
    /// Last day.
    pub ends_on: String,
    /// Pupils going.
    pub participants: u32,
}

impl Store {
    /// Plan an excursion: any active staff member organises one. The pupils must be the
    /// school's active pupils and the staff its active staff; the staff listed get the
    /// excursion on their devices at their next sync.
    pub fn plan_excursion(&self, e: NewExcursion) -> Result<DocumentId> {
        let me = self.unlocked_identity()?;
        let mut record = Excursion {
            name: e.name,
            place: e.place,
            starts_on: e.starts_on,
            ends_on: e.ends_on,
            participants: vec![],
            staff: vec![],
            contacts: vec![],
        };
        for p in e.participants {
            if !record.participants.contains(&p) {
                record.participants.push(p);
            }
        }
        for s in e.staff {
            if s != me.user && !record.staff.contains(&s) {
                record.staff.push(s);
            }
        }
        for c in e.contacts {
            record.contacts.push(self.trip_contact(c)?);
        }
        self.check_excursion(&record)?;
        let header = Header::new(Kind::Excursion, me.school, None, me.user, self.now());
        self.create_document(&header, &record)
    }

    /// An excursion the user organises or accompanies (each pupil and colleague once, also
    /// after two devices added the same one at the same time).
    pub fn excursion(&self, id: DocumentId) -> Result<Excursion> {
        let mut e = self.read_record::<Excursion>(id, false)?.1;
        e.participants = Excursion::unique(&e.participants);
        e.staff = Excursion::unique(&e.staff);
        Ok(e)
    }

    /// Change an excursion (the organiser): who goes, which staff, the contact list. Staff
    /// taken off the trip lose it at their next sync.
    pub fn update_excursion(
        &self,
        id: DocumentId,
        edit: impl FnOnce(&mut Excursion) -> Result<()>,
    ) -> Result<()> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        self.edit_record::<Excursion>(id, |_, e| {
            // Start from each person once, as the app showed them.
            e.participants = Excursion::unique(&e.participants);
            e.staff = Excursion::unique(&e.staff);
            edit(e)?;
            e.staff.retain(|s| *s != me.user);
            check_excursion(&roster, e)
        })
    }

    /// Add a contact to the list (the organiser); returns its id.
    pub fn add_trip_contact(&self, id: DocumentId, c: NewTripContact) -> Result<String> {
        let contact = self.trip_contact(c)?;
        let cid = contact.id.clone();
        self.update_excursion(id, |e| {
            e.contacts.push(contact);
            Ok(())
        })?;
        Ok(cid)
    }

    /// Remove a contact from the list (the organiser). [`Error::NotFound`] if the list has
    /// no contact with that id.
    pub fn remove_trip_contact(&self, id: DocumentId, contact: &str) -> Result<()> {
        self.update_excursion(id, |e| {
            let before = e.contacts.len();
            e.contacts.retain(|c| c.id != contact);
            if e.contacts.len() == before {
                return Err(Error::NotFound);
            }
            Ok(())
        })
    }

    /// The guideline's count of adults for an excursion (see [`Supervision`]).
    pub fn excursion_supervision(&self, id: DocumentId) -> Result<Supervision> {
        let e = self.excursion(id)?;
        Ok(e.supervision(&*self.roster()?))
    }

    /// Excursions the user organises or accompanies, soonest first.
    pub fn list_excursions(&self) -> Result<Vec<ExcursionSummary>> {
        self.list_readable(
            "SELECT e.id, e.author, e.name, e.starts_on, e.ends_on, e.participants, d.fields
             FROM excursions e JOIN documents d ON d.id = e.id
             ORDER BY e.starts_on, e.id",
            [],
            |id, r| {
                let e = ExcursionSummary {
                    id,
                    organiser: r.get(1)?,
                    name: r.get(2)?,
                    starts_on: r.get(3)?,
                    ends_on: r.get(4)?,
                    participants: r.get(5)?,
                };
                Ok((e, r.get::<_, String>(6)?))
            },
            |_, roster, user, (e, fields)| {
                let f = serde_json::from_str(&fields).unwrap_or_default();
                Ok(
                    may_read_listed(roster, user, Kind::Excursion, None, &e.organiser, &f)
                        .then_some(e),
                )
            },
        )
    }

    fn trip_contact(&self, c: NewTripContact) -> Result<TripContact> {
        for (field, s) in [("name", &c.name), ("role", &c.role), ("phone", &c.phone)] {
            check_text(field, s)?;
        }
        Ok(TripContact {
            id: self.new_id().to_string(),
            name: c.name,
            role: c.role,
            phone: c.phone,
            supervises: c.supervises,
        })
    }

    fn check_excursion(&self, e: &Excursion) -> Result<()> {
        check_excursion(&*self.roster()?, e)
    }
}

/// The record is valid, and names the school's active pupils and staff only.
fn check_excursion(roster: &crate::model::Roster, e: &Excursion) -> Result<()> {
    check_text("name", &e.name)?;
    check_text("place", &e.place)?;
    e.check_plan().map_err(|r| Error::Invalid(r.into()))?;
    if e.participants
        .iter()
        .any(|p| !roster.pupils.get(p).is_some_and(|p| p.active))
    {
        return Err(Error::Invalid("participants: not an active pupil".into()));
    }
    if e.staff.iter().any(|s| roster.active_staff(s).is_none()) {
        return Err(Error::Invalid("staff: not an active staff member".into()));
    }
    Ok(())
}
