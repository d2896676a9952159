//! Excursion (buitenschoolse activiteit): a school trip, with the pupils who go, the staff
//! who accompany them, and the contact list every adult carries (DOMAIN.md, "Excursions").
//!
//! One document per trip, written by its organiser. The staff on the trip read it on their
//! phones (it is their trip roster and contact list, offline); signals recorded on the trip
//! refer to it, and the trip cache can be wiped on return.

use super::{AgeBand, Kind, Record, Roster, check_date};
use autosurgeon::{Hydrate, Reconcile};

/// Someone to call during the trip: an accompanying adult, the school, a bus company.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct TripContact {
    /// Stable id.
    #[key]
    pub id: String,
    /// Name as shown.
    pub name: String,
    /// Role, e.g. "begeleider", "school", "busmaatschappij".
    pub role: String,
    /// Phone number.
    pub phone: String,
    /// An adult who supervises pupils (a parent who comes along, a trainee); staff on
    /// the trip count anyway.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub supervises: bool,
}

/// A school trip.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct Excursion {
    /// Name, e.g. "Schoolkamp Ardennen".
    pub name: String,
    /// Where.
    pub place: String,
    /// First day, `YYYY-MM-DD`.
    pub starts_on: String,
    /// Last day, `YYYY-MM-DD`.
    pub ends_on: String,
    /// Pupil ids of the pupils who go.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub participants: Vec<String>,
    /// Staff ids of the staff who go (besides the organiser): they read the excursion.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub staff: Vec<String>,
    /// The contact list.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub contacts: Vec<TripContact>,
}

impl Record for Excursion {
    const KIND: Kind = Kind::Excursion;
}

/// Adults a trip needs and has, by the guideline: one adult per 5 pupils of groep 1-3 and
/// one per 7 of groep 4-8 (pupils of the po_1_4 band count as the younger group, to be
/// safe); secondary school (vo, mbo) has no fixed ratio here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervision {
    /// Pupils going.
    pub pupils: u32,
    /// Adults going: the organiser, the staff on the trip and contacts who supervise.
    pub adults: u32,
    /// Adults the guideline asks for (at least one).
    pub required: u32,
}

impl Supervision {
    /// Enough adults.
    pub fn enough(&self) -> bool {
        self.adults >= self.required
    }
}

/// Pupils per adult for the younger group (groep 1-3).
pub const PUPILS_PER_ADULT_YOUNG: u32 = 5;
/// Pupils per adult for groep 4-8.
pub const PUPILS_PER_ADULT_PRIMARY: u32 = 7;

impl Excursion {
    /// Check the record on its own: a name, valid dates, contacts with a name and a phone.
    /// These hold for any merge of two states that pass them (each field merges to one of
    /// the written values), so the server enforces them on every push. Reasons name
    /// fields, never content.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.name.trim().is_empty() {
            return Err("an excursion needs a name");
        }
        if check_date("starts_on", &self.starts_on).is_err()
            || check_date("ends_on", &self.ends_on).is_err()
        {
            return Err("dates must be YYYY-MM-DD");
        }
        if self
            .contacts
            .iter()
            .any(|c| c.name.trim().is_empty() || c.phone.trim().is_empty())
        {
            return Err("a contact needs a name and a phone number");
        }
        Ok(())
    }

    /// What the organiser's device checks besides [`Excursion::check`] before writing: the
    /// trip ends on or after its first day, and nobody is listed twice. Two devices that
    /// change the dates or the lists at the same time can merge into a state that breaks
    /// these (first day from one, last day from the other; the same colleague added on
    /// both), so the server does not refuse such a merge: readers take each person once
    /// ([`Excursion::staff`] and [`Excursion::participants`] are read through
    /// [`Excursion::unique`]).
    pub fn check_plan(&self) -> Result<(), &'static str> {
        self.check()?;
        if self.ends_on < self.starts_on {
            return Err("an excursion ends on or after its first day");
        }
        let unique = |v: &[String]| unique(v).len() == v.len();
        if !unique(&self.participants) || !unique(&self.staff) {
            return Err("a pupil or staff member is listed twice");
        }
        Ok(())
    }

    /// Each id of `list` once, in first-seen order.
    pub fn unique(list: &[String]) -> Vec<String> {
        unique(list)
    }

    /// The guideline's count of adults for this trip (see [`Supervision`]).
    pub fn supervision(&self, roster: &Roster) -> Supervision {
        let (mut young, mut primary) = (0u32, 0u32);
        let participants = unique(&self.participants);
        for p in &participants {
            match roster
                .pupils
                .get(p)
                .and_then(|p| AgeBand::parse(&p.age_band))
            {
                Some(AgeBand::Po1to4) => young += 1,
                Some(AgeBand::Po5to8) => primary += 1,
                _ => {}
            }
        }
        let required =
            young.div_ceil(PUPILS_PER_ADULT_YOUNG) + primary.div_ceil(PUPILS_PER_ADULT_PRIMARY);
        let adults = 1
            + self.staff.len() as u32
            + self.contacts.iter().filter(|c| c.supervises).count() as u32;
        Supervision {
            pupils: participants.len() as u32,
            adults,
            required: required.max(1),
        }
    }
}

fn unique(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for x in list {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}
