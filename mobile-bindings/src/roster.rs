//! Who uses the device, and the school's roster as the device holds it.

use crate::defaults::AgeBand;
use omkijken_core::access::PupilPermissions as CorePermissions;
use omkijken_core::model::{self as core, AgeBand as CoreAgeBand};
use omkijken_core::store::Identity as CoreIdentity;

/// Who uses this device: set when it is enrolled.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// School id.
    pub school: String,
    /// Staff id of the user.
    pub user: String,
}

impl From<CoreIdentity> for Identity {
    fn from(i: CoreIdentity) -> Self {
        Identity {
            school: i.school,
            user: i.user,
        }
    }
}

/// A role of a staff member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StaffRole {
    /// Mentor / leerkracht.
    Mentor,
    /// Vakdocent / begeleider.
    Teacher,
    /// Intern begeleider / zorgcoördinator (care team).
    CareCoordinator,
    /// Anti-pestcoördinator.
    AntiBullyingCoordinator,
    /// Schoolleider / bevoegd gezag.
    SchoolLeader,
    /// Beheerder (manages people and devices, reads no care content).
    Admin,
}

impl From<core::Role> for StaffRole {
    fn from(r: core::Role) -> Self {
        match r {
            core::Role::Mentor => StaffRole::Mentor,
            core::Role::Teacher => StaffRole::Teacher,
            core::Role::CareCoordinator => StaffRole::CareCoordinator,
            core::Role::AntiBullyingCoordinator => StaffRole::AntiBullyingCoordinator,
            core::Role::SchoolLeader => StaffRole::SchoolLeader,
            core::Role::Admin => StaffRole::Admin,
        }
    }
}

/// A pupil, by pseudonymous id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Pupil {
    /// Pseudonymous id (never the BSN).
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Group id.
    pub group: String,
    /// Age band; `null` if the roster holds one this app version does not know.
    pub age_band: Option<AgeBand>,
    /// Still at school.
    pub active: bool,
    /// The care team opened a care track (zorgtraject).
    pub in_care: bool,
    /// Staff ids of the current mentors.
    pub mentors: Vec<String>,
}

impl From<&core::Pupil> for Pupil {
    fn from(p: &core::Pupil) -> Self {
        Pupil {
            id: p.id.clone(),
            display_name: p.display_name.clone(),
            group: p.group.clone(),
            age_band: CoreAgeBand::parse(&p.age_band).map(Into::into),
            active: p.active,
            in_care: p.in_care,
            mentors: p.mentors.clone(),
        }
    }
}

/// A group (klas).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SchoolGroup {
    /// Id.
    pub id: String,
    /// Name, e.g. "groep 6b".
    pub name: String,
    /// Staff ids of the teachers of this group.
    pub teachers: Vec<String>,
}

impl From<&core::Group> for SchoolGroup {
    fn from(g: &core::Group) -> Self {
        SchoolGroup {
            id: g.id.clone(),
            name: g.name.clone(),
            teachers: g.teachers.clone(),
        }
    }
}

/// A staff member (to show who wrote what).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StaffMember {
    /// Staff id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Roles (roles this app version does not know are left out).
    pub roles: Vec<StaffRole>,
    /// Aandachtsfunctionaris (meldcode duty).
    pub meldcode_duty: bool,
    /// Still employed.
    pub active: bool,
}

impl From<&core::Staff> for StaffMember {
    fn from(s: &core::Staff) -> Self {
        StaffMember {
            id: s.id.clone(),
            display_name: s.display_name.clone(),
            roles: s
                .roles
                .iter()
                .filter_map(|r| core::Role::parse(r))
                .map(Into::into)
                .collect(),
            meldcode_duty: s.meldcode_duty,
            active: s.active,
        }
    }
}

/// The school's roster as this device holds it (written by the school's admin on the
/// server; read-only on devices). Empty until the first sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Roster {
    /// School id.
    pub school: String,
    /// Pupils, by id order.
    pub pupils: Vec<Pupil>,
    /// Groups, by id order.
    pub groups: Vec<SchoolGroup>,
    /// Staff, by id order.
    pub staff: Vec<StaffMember>,
}

impl From<&core::Roster> for Roster {
    fn from(r: &core::Roster) -> Self {
        Roster {
            school: r.school.clone(),
            pupils: r.pupils.values().map(Into::into).collect(),
            groups: r.groups.values().map(Into::into).collect(),
            staff: r.staff.values().map(Into::into).collect(),
        }
    }
}

/// What the user may do for one pupil, to decide which buttons to show. The same rules the
/// server enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PupilPermissions {
    /// May record a signal about the pupil.
    pub record_signal: bool,
    /// May add thermometer readings.
    pub record_thermometer: bool,
    /// May hold a kindgesprek that becomes part of the dossier.
    pub start_conversation: bool,
    /// May read the pupil's shared conversations written by others.
    pub read_conversations: bool,
    /// May read the pupil's thermometer.
    pub read_thermometer: bool,
    /// May record an oudercontact (the pupil's mentors, the care team for a pupil in care).
    pub record_parent_contact: bool,
    /// May read the pupil's oudercontacten written by others.
    pub read_parent_contacts: bool,
}

impl From<CorePermissions> for PupilPermissions {
    fn from(p: CorePermissions) -> Self {
        PupilPermissions {
            record_signal: p.record_signal,
            record_thermometer: p.record_thermometer,
            start_conversation: p.start_conversation,
            read_conversations: p.read_conversations,
            read_thermometer: p.read_thermometer,
            record_parent_contact: p.record_parent_contact,
            read_parent_contacts: p.read_parent_contacts,
        }
    }
}
