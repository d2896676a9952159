//! The school's roster: pupils, groups, staff and assignments. Written by the server only
//! (admin import); read-only on devices.

use super::{Kind, Record};
use autosurgeon::{Hydrate, Reconcile};
use std::collections::BTreeMap;

/// Roles of staff (DOMAIN.md, "People and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Mentor / leerkracht.
    Mentor,
    /// Vakdocent / begeleider.
    Teacher,
    /// Intern begeleider / zorgcoordinator (care team).
    CareCoordinator,
    /// Anti-pestcoordinator.
    AntiBullyingCoordinator,
    /// Schoolleider / bevoegd gezag.
    SchoolLeader,
    /// Beheerder.
    Admin,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 6] = [
        Role::Mentor,
        Role::Teacher,
        Role::CareCoordinator,
        Role::AntiBullyingCoordinator,
        Role::SchoolLeader,
        Role::Admin,
    ];
    /// Stable name (also used in CSV imports).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mentor => "mentor",
            Role::Teacher => "teacher",
            Role::CareCoordinator => "care_coordinator",
            Role::AntiBullyingCoordinator => "anti_bullying_coordinator",
            Role::SchoolLeader => "school_leader",
            Role::Admin => "admin",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Age band: decides the thermometer scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgeBand {
    /// Primary, groep 1-4.
    Po1to4,
    /// Primary, groep 5-8.
    Po5to8,
    /// Secondary and mbo.
    VoMbo,
}

stable_names!(AgeBand {
    Po1to4 => "po_1_4",
    Po5to8 => "po_5_8",
    VoMbo => "vo_mbo",
});

/// A pupil, by pseudonymous id (never the BSN).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct Pupil {
    /// Pseudonymous id (e.g. ECK iD).
    pub id: String,
    /// Display name shown to staff who may see the pupil.
    pub display_name: String,
    /// Group id.
    pub group: String,
    /// Age band, see [`AgeBand`].
    pub age_band: String,
    /// Still at school.
    pub active: bool,
    /// The care team opened a care track (zorgtraject).
    pub in_care: bool,
    /// Current mentors (staff ids).
    #[autosurgeon(missing = "Default::default")]
    pub mentors: Vec<String>,
    /// How often the privacy officer erased the pupil's file. An erased document's id is
    /// never taken again, so each erasure starts her thermometer months under new ids
    /// ([`crate::doc::thermometer_id`]): a reading recorded after the erasure, in the month
    /// the erasure took, is a new month and not a write to the erased one. Only in the views
    /// of those who may read her thermometer ([`Roster::view_for`]).
    #[autosurgeon(missing = "Default::default")]
    pub erasures: u32,
}

/// A group (klas).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct Group {
    /// Id.
    pub id: String,
    /// Name, e.g. "groep 6b".
    pub name: String,
    /// Teachers who teach this group (staff ids).
    #[autosurgeon(missing = "Default::default")]
    pub teachers: Vec<String>,
}

/// A staff member.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile)]
pub struct Staff {
    /// Id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Roles, see [`Role`].
    #[autosurgeon(missing = "Default::default")]
    pub roles: Vec<String>,
    /// Aandachtsfunctionaris (meldcode duty).
    #[autosurgeon(missing = "Default::default")]
    pub meldcode_duty: bool,
    /// Still employed; inactive staff have no access.
    pub active: bool,
}

impl Staff {
    /// Whether this staff member holds a role.
    pub fn has(&self, role: Role) -> bool {
        self.active && self.roles.iter().any(|r| r == role.as_str())
    }
}

/// The roster of one school.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hydrate, Reconcile)]
pub struct Roster {
    /// School id.
    pub school: String,
    /// Pupils by id.
    #[autosurgeon(missing = "Default::default")]
    pub pupils: BTreeMap<String, Pupil>,
    /// Groups by id.
    #[autosurgeon(missing = "Default::default")]
    pub groups: BTreeMap<String, Group>,
    /// Staff by id.
    #[autosurgeon(missing = "Default::default")]
    pub staff: BTreeMap<String, Staff>,
    /// The school's offline lease: days a device may go without a completed sync before
    /// its store locks (until it syncs). None: [`crate::defaults::OFFLINE_LEASE_DAYS`].
    #[autosurgeon(missing = "Default::default", hydrate = "super::any_uint")]
    pub offline_lease_days: Option<u32>,
    /// The staff member this roster is the view of ([`Roster::view_for`]); None for the
    /// school's whole roster, which only the server reads.
    #[autosurgeon(missing = "Default::default")]
    pub viewer: Option<String>,
    /// Whether the school records parents' names on an oudercontact (default: no, parents
    /// are recorded by role only). Kept in the roster record, not in [`SchoolSettings`],
    /// because the record rules read it (`admin settings --parent-names`).
    #[autosurgeon(missing = "Default::default")]
    pub parent_names: bool,
}

impl Record for Roster {
    const KIND: Kind = Kind::Roster;
}

impl Roster {
    /// The offline lease in days (the school's, or the default).
    pub fn offline_lease_days(&self) -> u32 {
        self.offline_lease_days
            .unwrap_or(crate::defaults::OFFLINE_LEASE_DAYS)
    }

    /// A staff member, if active.
    pub fn active_staff(&self, id: &str) -> Option<&Staff> {
        self.staff.get(id).filter(|s| s.active)
    }

    /// Whether `staff` is a current mentor of `pupil`.
    pub fn is_mentor_of(&self, staff: &str, pupil: &str) -> bool {
        self.pupils
            .get(pupil)
            .is_some_and(|p| p.mentors.iter().any(|m| m == staff))
    }

    /// Whether `staff` teaches the group of `pupil`.
    pub fn teaches_pupil(&self, staff: &str, pupil: &str) -> bool {
        self.pupils
            .get(pupil)
            .and_then(|p| self.groups.get(&p.group))
            .is_some_and(|g| g.teachers.iter().any(|t| t == staff))
    }

    /// Whether `staff` is a current mentor of an active pupil of `group`: the group's
    /// mentor, who runs its sociogram.
    pub fn is_group_mentor(&self, staff: &str, group: &str) -> bool {
        self.pupils
            .values()
            .any(|p| p.active && p.group == group && p.mentors.iter().any(|m| m == staff))
    }

    /// The active pupils of a group, by id.
    pub fn group_pupils(&self, group: &str) -> impl Iterator<Item = &Pupil> {
        self.pupils
            .values()
            .filter(move |p| p.active && p.group == group)
    }

    /// Whether the pupil is in care.
    pub fn in_care(&self, pupil: &str) -> bool {
        self.pupils.get(pupil).is_some_and(|p| p.in_care)
    }

    /// What staff member `user` needs of the roster, and nothing more (need-to-know, the
    /// AP's first requirement): every pupil (id, name, group, age band, active: any staff
    /// member records signals about any pupil), every group and staff member (the school's
    /// directory), the offline lease; and of the care data only what the user's own work
    /// needs:
    /// - care-track flags (`in_care`): all for the care team, a mentor's own pupils' for a
    ///   mentor, none for anyone else;
    /// - mentorships: all for the care team, a pupil's mentors for the mentors of that
    ///   pupil, none for anyone else;
    /// - the teachers of a group: the user, where the user teaches it.
    ///
    /// The access rules give the user on the view exactly what they give on the whole
    /// roster (they depend on the user's own relations only), so the device decides like the
    /// server. The server writes one view per staff member, readable by that member alone.
    pub fn view_for(&self, user: &str) -> Roster {
        let care = self
            .active_staff(user)
            .is_some_and(|s| s.has(Role::CareCoordinator));
        let pupils = self
            .pupils
            .iter()
            .map(|(id, p)| {
                let mentor = p.mentors.iter().any(|m| m == user);
                let teaches = self.teaches_pupil(user, id);
                let mut p = p.clone();
                if !care && !mentor {
                    p.in_care = false;
                    p.mentors.clear();
                }
                // That her file was erased is for those who keep or read her thermometer.
                if !care && !mentor && !teaches {
                    p.erasures = 0;
                }
                (id.clone(), p)
            })
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|(id, g)| {
                let mut g = g.clone();
                g.teachers.retain(|t| t == user);
                (id.clone(), g)
            })
            .collect();
        Roster {
            school: self.school.clone(),
            pupils,
            groups,
            staff: self.staff.clone(),
            offline_lease_days: self.offline_lease_days,
            viewer: Some(user.into()),
            parent_names: self.parent_names,
        }
    }
}
