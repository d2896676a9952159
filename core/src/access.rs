//! Access rules: who may read or write which document (DOMAIN.md, "Default access matrix").
//!
//! Pure functions of the roster, a staff id, a document's header and its access fields. The
//! server enforces [`access`] on every message; apps use the same functions (and
//! [`pupil_permissions`]) to show what a user may do, so the two never disagree.
//!
//! The rules fail closed: an unknown or inactive staff member, another school, an unknown
//! document kind or missing access fields give [`Access::None`]. Grants add up: a staff
//! member gets the highest access any of their relations to the document gives. Relations
//! to a pupil come from the roster's assignments (mentors, group teachers, care track), not
//! from role names, so a school leader who is also a pupil's mentor is that pupil's mentor.
//! The admin role grants no care content, and the school-leader role grants only the
//! staff-misconduct route.

use crate::defaults::{self, Route};
use crate::model::{
    Excursion, Header, Kind, Role, Roster, SCHEMA_VERSION, Signal, SignalNotes, Staff,
    ThermometerMonth, Visibility,
};
use serde::{Deserialize, Serialize};

/// The fields of a document that access rules depend on, next to its header. The catalog
/// (server) and the store (device) keep these current after every change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessFields {
    /// Conversation: "private" or "shared".
    pub visibility: Option<String>,
    /// Signal: urgency 0-3.
    pub urgency: Option<u8>,
    /// Signal: category id. Sociogram round and answers: the group id (who reads them
    /// follows from the group, like a signal's readers from its category; one text column
    /// in the catalog serves both, so adding the sociogram needed no catalog migration).
    pub category: Option<String>,
    /// Signal on the board route (staff misconduct): staff the school leader added.
    /// Excursion: the staff on the trip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<String>,
}

impl AccessFields {
    /// The access fields of a signal.
    pub fn of_signal(s: &Signal) -> AccessFields {
        AccessFields {
            urgency: Some(s.urgency),
            category: Some(s.category.clone()),
            readers: s.added_readers.clone(),
            ..Default::default()
        }
    }

    /// The access fields of a thermometer month: `urgency` 1 while a request to talk is not
    /// answered (the care team then reads the month, as it reads a signal of urgency 1:
    /// DOMAIN.md, "wants to talk"), none otherwise.
    pub fn of_thermometer(m: &ThermometerMonth) -> AccessFields {
        AccessFields {
            urgency: m.open_requests().next().map(|_| 1),
            ..Default::default()
        }
    }

    /// The access fields of a signal's notes: the signal's, but for its author (a signal's
    /// notes have no author: see [`crate::access`]).
    pub fn of_signal_notes(n: &SignalNotes) -> AccessFields {
        AccessFields {
            urgency: Some(n.urgency),
            category: Some(n.category.clone()),
            readers: n.added_readers.clone(),
            ..Default::default()
        }
    }

    /// The access fields of a roster: a staff member's view is theirs alone; the school's
    /// whole roster has no readers (only the server reads it).
    pub fn of_roster(r: &Roster) -> AccessFields {
        AccessFields {
            readers: r.viewer.iter().cloned().collect(),
            ..Default::default()
        }
    }

    /// The access fields of an excursion.
    pub fn of_excursion(e: &Excursion) -> AccessFields {
        AccessFields {
            readers: e.staff.clone(),
            ..Default::default()
        }
    }

    /// The access fields of a sociogram round or answers: their group.
    pub fn of_sociogram_group(group: &str) -> AccessFields {
        AccessFields {
            category: Some(group.into()),
            ..Default::default()
        }
    }
}

/// What a user may do with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Not even know it exists.
    None,
    /// Read.
    Read,
    /// Read and write.
    Write,
}

/// The author of documents the system creates (roster, thermometer months). It is never a
/// user: nobody gains an author's rights to those documents.
const SYSTEM: &str = "system";

/// Decide access of staff member `user` to a document.
pub fn access(roster: &Roster, user: &str, header: &Header, fields: &AccessFields) -> Access {
    if user == SYSTEM || header.school != roster.school {
        return Access::None;
    }
    let Some(staff) = roster.active_staff(user) else {
        return Access::None;
    };
    let Ok(kind) = header.kind() else {
        return Access::None;
    };
    let is_author = header.author == staff.id;
    let pupil = header.pupil.as_deref();
    match (kind, pupil) {
        // The server alone writes the roster (admin import). A staff member reads their own
        // view of it (`Roster::view_for`: need-to-know); the school's whole roster, which has
        // no readers, nobody.
        (Kind::Roster, _) => grant(fields.readers.contains(&staff.id), Access::Read),
        // The organiser writes; the staff on the trip read it (their trip roster and
        // contact list).
        (Kind::Excursion, _) => grant(is_author, Access::Write)
            .max(grant(fields.readers.contains(&staff.id), Access::Read)),
        (Kind::Conversation, Some(pupil)) => conversation(roster, staff, is_author, pupil, fields),
        // An oudercontact is always part of the dossier: as a shared kindgesprek.
        (Kind::ParentContact, Some(pupil)) => grant(
            is_author || dossier_team(roster, staff, pupil),
            Access::Write,
        ),
        (Kind::Signal, Some(pupil)) => signal(roster, staff, is_author, pupil, fields),
        // The notes of those who follow a signal up: the signal's readers and writers but
        // for its author, who is told the status and what is addressed to her on the
        // signal itself (need-to-know). Nobody is a signal's notes' author.
        (Kind::SignalNotes, Some(pupil)) => signal(roster, staff, false, pupil, fields),
        (Kind::Thermometer, Some(pupil)) => thermometer(roster, staff, pupil, fields),
        (Kind::Case, Some(_)) => grant(staff.has(Role::CareCoordinator), Access::Write),
        // A sociogram round is a group's, its answers each a pupil's of that group: the
        // group's mentors and the care team, nobody else (no pupil, no other teacher).
        (Kind::SociogramRound, None) | (Kind::SociogramAnswers, Some(_)) => {
            sociogram(roster, staff, fields)
        }
        // A pupil-bound kind without a pupil is malformed, and so is a group's round bound
        // to a pupil.
        (
            Kind::Conversation
            | Kind::ParentContact
            | Kind::Signal
            | Kind::SignalNotes
            | Kind::Thermometer
            | Kind::Case
            | Kind::SociogramAnswers,
            None,
        )
        | (Kind::SociogramRound, Some(_)) => Access::None,
    }
}

/// The staff who share a pupil's dossier besides its authors: the pupil's current mentors
/// and, for a pupil in care, the care team.
pub fn dossier_team(roster: &Roster, staff: &Staff, pupil: &str) -> bool {
    roster.is_mentor_of(&staff.id, pupil)
        || (staff.has(Role::CareCoordinator) && roster.in_care(pupil))
}

/// `access` if `cond` holds, else none.
fn grant(cond: bool, access: Access) -> Access {
    if cond { access } else { Access::None }
}

/// Kindgesprek: a private working note is its author's alone; a shared one is the dossier
/// of the author, the pupil's current mentors and, for a pupil in care, the care team.
fn conversation(
    roster: &Roster,
    staff: &Staff,
    is_author: bool,
    pupil: &str,
    fields: &AccessFields,
) -> Access {
    let Some(visibility) = fields.visibility.as_deref() else {
        return Access::None;
    };
    let may = match Visibility::parse(visibility) {
        Visibility::Private => is_author,
        Visibility::Shared => is_author || dossier_team(roster, staff, pupil),
    };
    grant(may, Access::Write)
}

/// Signaal. The author always writes (the store keeps the shared content append-only).
/// Staff misconduct goes to the school leader only, and to the staff the school leader adds. Urgency 0 stays with the pupil's
/// mentors (read only). From urgency 1 mentors and the care team follow up, for every
/// pupil, and bullying also reaches the anti-bullying coordinator. A category or urgency
/// these rules do not know leaves the signal with its author alone.
fn signal(
    roster: &Roster,
    staff: &Staff,
    is_author: bool,
    pupil: &str,
    fields: &AccessFields,
) -> Access {
    let (Some(level), Some(category)) = (fields.urgency, fields.category.as_deref()) else {
        return Access::None;
    };
    let author = grant(is_author, Access::Write);
    let (Some(category), Some(_)) = (defaults::category(category), defaults::urgency(level)) else {
        return author;
    };
    let mentor = roster.is_mentor_of(&staff.id, pupil);
    let other = match category.route {
        Route::BoardRoute => grant(
            staff.has(Role::SchoolLeader) || fields.readers.contains(&staff.id),
            Access::Write,
        ),
        _ if level == 0 => grant(mentor, Access::Read),
        route => grant(
            mentor
                || staff.has(Role::CareCoordinator)
                || (route == Route::AntiBullying && staff.has(Role::AntiBullyingCoordinator)),
            Access::Write,
        ),
    };
    author.max(other)
}

/// Sociogram round and answers, of the group in their access fields: the group's mentors
/// write (open and close a round, enter answers on a pupil's behalf), the care team reads
/// (all groups: a sociogram is how the care team sees a group, not a care record of one
/// pupil). No group: nobody.
fn sociogram(roster: &Roster, staff: &Staff, fields: &AccessFields) -> Access {
    let Some(group) = fields.category.as_deref() else {
        return Access::None;
    };
    if roster.is_group_mentor(&staff.id, group) {
        Access::Write
    } else {
        grant(staff.has(Role::CareCoordinator), Access::Read)
    }
}

/// Whether `user` may open a sociogram round for `group` (its mentors).
pub fn may_open_sociogram(roster: &Roster, user: &str, group: &str) -> bool {
    roster.groups.contains_key(group)
        && access(
            roster,
            user,
            &Header {
                kind: Kind::SociogramRound.as_str().into(),
                school: roster.school.clone(),
                pupil: None,
                author: user.into(),
                created_at: 0,
                schema: SCHEMA_VERSION,
            },
            &AccessFields::of_sociogram_group(group),
        ) == Access::Write
}

/// Thermometer month: the pupil's mentors and the teachers of the pupil's group write; the
/// care team reads when the pupil is in care, and a month with a request to talk that is
/// not answered yet (`urgency` 1, see `AccessFields::of_thermometer`): a pupil who asks to
/// talk reaches the care team as a signal of urgency 1 does.
fn thermometer(roster: &Roster, staff: &Staff, pupil: &str, fields: &AccessFields) -> Access {
    if roster.is_mentor_of(&staff.id, pupil) || roster.teaches_pupil(&staff.id, pupil) {
        Access::Write
    } else {
        grant(
            staff.has(Role::CareCoordinator)
                && (roster.in_care(pupil) || fields.urgency.is_some_and(|u| u >= 1)),
            Access::Read,
        )
    }
}

/// What a staff member may do for one pupil, for showing buttons. Derived from [`access`]
/// on probe documents, so it never disagrees with what the server enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PupilPermissions {
    /// May record a signal about the pupil (any active staff, active pupil).
    pub record_signal: bool,
    /// May add thermometer readings (mentors, teachers of the group; active pupil).
    pub record_thermometer: bool,
    /// May hold a kindgesprek that becomes part of the dossier (mentors, the care team for
    /// a pupil in care; active pupil).
    pub start_conversation: bool,
    /// May read the pupil's shared conversations written by others.
    pub read_conversations: bool,
    /// May read the pupil's thermometer.
    pub read_thermometer: bool,
    /// May record an oudercontact (the pupil's mentors, the care team for a pupil in care;
    /// active pupil).
    pub record_parent_contact: bool,
    /// May read the pupil's oudercontacten written by others.
    pub read_parent_contacts: bool,
}

/// Whether `user` may erase a whole record that should never have been written (the wrong
/// pupil, say): a care coordinator any pupil record she may read, and an author her own
/// private working note or draft signal. The roster and excursions are never erased this way.
/// The server decides this again for every request; the device's check is a convenience.
pub fn may_erase(
    roster: &Roster,
    user: &str,
    header: &Header,
    fields: &AccessFields,
    draft: bool,
) -> bool {
    if access(roster, user, header, fields) < Access::Read || header.pupil.is_none() {
        return false;
    }
    match header.kind.parse::<Kind>() {
        Ok(
            Kind::Conversation
            | Kind::ParentContact
            | Kind::Signal
            | Kind::Thermometer
            | Kind::Case,
        ) => {}
        _ => return false,
    }
    let coordinator = roster
        .active_staff(user)
        .is_some_and(|s| s.has(Role::CareCoordinator));
    let private_note = header.kind == Kind::Conversation.as_str()
        && fields.visibility.as_deref() != Some("shared");
    let own = header.author == user && (private_note || draft);
    coordinator || own
}

/// Whether staff member `user` may record a signal about `pupil`: any active staff member
/// of the school, about an active pupil of the school.
pub fn may_record_signal(roster: &Roster, user: &str, pupil: &str) -> bool {
    let fields = AccessFields {
        urgency: Some(0),
        category: Some(defaults::NIET_PLUIS.into()),
        ..Default::default()
    };
    pupil_is_active(roster, pupil)
        && access(
            roster,
            user,
            &probe(roster, Kind::Signal, pupil, user),
            &fields,
        ) == Access::Write
}

/// What staff member `user` may do for `pupil` (see [`PupilPermissions`]).
pub fn pupil_permissions(roster: &Roster, user: &str, pupil: &str) -> PupilPermissions {
    let active = pupil_is_active(roster, pupil);
    let shared = AccessFields {
        visibility: Some(Visibility::Shared.as_str().into()),
        ..Default::default()
    };
    // Written by someone else, so that only the user's relation to the pupil counts.
    let conversation = access(
        roster,
        user,
        &probe(roster, Kind::Conversation, pupil, SYSTEM),
        &shared,
    );
    let thermometer = access(
        roster,
        user,
        &probe(roster, Kind::Thermometer, pupil, SYSTEM),
        &AccessFields::default(),
    );
    let parent_contact = access(
        roster,
        user,
        &probe(roster, Kind::ParentContact, pupil, SYSTEM),
        &AccessFields::default(),
    );
    PupilPermissions {
        record_parent_contact: active && parent_contact == Access::Write,
        read_parent_contacts: parent_contact >= Access::Read,
        record_signal: may_record_signal(roster, user, pupil),
        record_thermometer: active && thermometer == Access::Write,
        start_conversation: active && conversation == Access::Write,
        read_conversations: conversation >= Access::Read,
        read_thermometer: thermometer >= Access::Read,
    }
}

fn pupil_is_active(roster: &Roster, pupil: &str) -> bool {
    roster.pupils.get(pupil).is_some_and(|p| p.active)
}

/// A header for asking [`access`] about a document that does not exist yet.
fn probe(roster: &Roster, kind: Kind, pupil: &str, author: &str) -> Header {
    Header {
        kind: kind.as_str().into(),
        school: roster.school.clone(),
        pupil: Some(pupil.into()),
        author: author.into(),
        created_at: 0,
        schema: SCHEMA_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::Access::{None as N, Read as R, Write as W};
    use super::*;
    use crate::defaults::{NIET_PLUIS, PESTEN, STAFF_MISCONDUCT, THUISSITUATIE};
    use crate::model::{Group, Pupil};

    const SCHOOL: &str = "school-1";

    // Pupils: one in care (group A, mentor m_a), one not (group B, mentor m_b), one who left.
    const P_CARE: &str = "p-care";
    const P_PLAIN: &str = "p-plain";
    const P_LEFT: &str = "p-left";

    // Staff.
    const M_A: &str = "mentor-a"; // mentor of P_CARE
    const M_B: &str = "mentor-b"; // mentor of P_PLAIN and P_LEFT
    const T_A: &str = "teacher-a"; // teaches group A
    const T_X: &str = "teacher-x"; // teaches no group
    const IB: &str = "care"; // care coordinator (IB'er, aandachtsfunctionaris)
    const APC: &str = "anti-bullying";
    const SL: &str = "leader";
    const ADM: &str = "admin";
    const GONE: &str = "gone"; // inactive, still listed as mentor and teacher of group A
    const STRANGER: &str = "stranger"; // not on the roster

    fn roster() -> Roster {
        let pupil = |id: &str, group: &str, in_care: bool, active: bool, mentors: &[&str]| {
            let p = Pupil {
                id: id.into(),
                display_name: format!("leerling {id}"),
                group: group.into(),
                age_band: "po_5_8".into(),
                active,
                in_care,
                mentors: mentors.iter().map(|m| m.to_string()).collect(),
            };
            (id.to_string(), p)
        };
        let group = |id: &str, teachers: &[&str]| {
            let g = Group {
                id: id.into(),
                name: format!("groep {id}"),
                teachers: teachers.iter().map(|t| t.to_string()).collect(),
            };
            (id.to_string(), g)
        };
        let staff = |id: &str, roles: &[Role], meldcode_duty: bool, active: bool| {
            let s = Staff {
                id: id.into(),
                display_name: id.into(),
                roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
                meldcode_duty,
                active,
            };
            (id.to_string(), s)
        };
        Roster {
            school: SCHOOL.into(),
            pupils: [
                pupil(P_CARE, "a", true, true, &[M_A, GONE]),
                pupil(P_PLAIN, "b", false, true, &[M_B]),
                pupil(P_LEFT, "b", false, false, &[M_B]),
            ]
            .into(),
            groups: [group("a", &[M_A, T_A, GONE]), group("b", &[M_B])].into(),
            staff: [
                staff(M_A, &[Role::Mentor], false, true),
                staff(M_B, &[Role::Mentor], false, true),
                staff(T_A, &[Role::Teacher], false, true),
                staff(T_X, &[Role::Teacher], false, true),
                staff(IB, &[Role::CareCoordinator], true, true),
                staff(
                    APC,
                    &[Role::AntiBullyingCoordinator, Role::Teacher],
                    false,
                    true,
                ),
                staff(SL, &[Role::SchoolLeader], false, true),
                staff(ADM, &[Role::Admin], false, true),
                staff(GONE, &[Role::Mentor, Role::CareCoordinator], false, false),
            ]
            .into(),
            offline_lease_days: None,
            viewer: None,
            parent_names: false,
        }
    }

    /// A document as `access` sees it.
    #[derive(Debug, Clone)]
    struct Doc {
        header: Header,
        fields: AccessFields,
    }

    fn doc(kind: Kind, pupil: Option<&str>, author: &str, fields: AccessFields) -> Doc {
        let header = Header {
            kind: kind.as_str().into(),
            school: SCHOOL.into(),
            pupil: pupil.map(Into::into),
            author: author.into(),
            created_at: 1_700_000_000_000,
            schema: SCHEMA_VERSION,
        };
        Doc { header, fields }
    }

    fn conv(author: &str, pupil: &str, visibility: &str) -> Doc {
        let fields = AccessFields {
            visibility: Some(visibility.into()),
            ..Default::default()
        };
        doc(Kind::Conversation, Some(pupil), author, fields)
    }

    fn sig(author: &str, pupil: &str, urgency: u8, category: &str) -> Doc {
        let fields = AccessFields {
            urgency: Some(urgency),
            category: Some(category.into()),
            ..Default::default()
        };
        doc(Kind::Signal, Some(pupil), author, fields)
    }

    fn thermo(pupil: &str) -> Doc {
        doc(
            Kind::Thermometer,
            Some(pupil),
            SYSTEM,
            AccessFields::default(),
        )
    }

    fn case(pupil: &str) -> Doc {
        doc(Kind::Case, Some(pupil), IB, AccessFields::default())
    }

    /// The school's whole roster (no readers: the server's).
    fn roster_doc() -> Doc {
        doc(Kind::Roster, None, SYSTEM, AccessFields::default())
    }

    /// Staff member `viewer`'s view of the roster.
    fn roster_view(viewer: &str) -> Doc {
        let fields = AccessFields {
            readers: vec![viewer.into()],
            ..Default::default()
        };
        doc(Kind::Roster, None, SYSTEM, fields)
    }

    fn excursion(author: &str) -> Doc {
        doc(Kind::Excursion, None, author, AccessFields::default())
    }

    fn check(r: &Roster, user: &str, d: &Doc) -> Access {
        access(r, user, &d.header, &d.fields)
    }

    /// Asserts `expected` for every (user, access) pair on `d`, naming the failing cell.
    fn expect(r: &Roster, cell: &str, d: &Doc, expected: &[(&str, Access)]) {
        for &(user, want) in expected {
            assert_eq!(check(r, user, d), want, "{cell}: {user}");
        }
    }

    const EVERYONE: [&str; 10] = [M_A, M_B, T_A, T_X, IB, APC, SL, ADM, GONE, STRANGER];

    /// A cell of the matrix: its name, a document, and the users granted access to it.
    type Row = (&'static str, Doc, Vec<(&'static str, Access)>);

    /// One row per cell of the DOMAIN.md matrix: (cell, document, expected access per
    /// user). Users left out of a row get none.
    #[test]
    fn default_access_matrix() {
        let r = roster();
        let rows: Vec<Row> = vec![
            (
                "private working note: its author only",
                conv(M_A, P_CARE, "private"),
                vec![(M_A, W)],
            ),
            (
                "private working note of a non-mentor: still its author only",
                conv(T_X, P_PLAIN, "private"),
                vec![(T_X, W)],
            ),
            (
                "unknown visibility is private",
                conv(M_A, P_CARE, "iedereen"),
                vec![(M_A, W)],
            ),
            (
                "shared kindgesprek, pupil in care: author, mentors, care team",
                conv(M_A, P_CARE, "shared"),
                vec![(M_A, W), (IB, W)],
            ),
            (
                "shared kindgesprek, pupil not in care: author and mentors",
                conv(M_B, P_PLAIN, "shared"),
                vec![(M_B, W)],
            ),
            (
                "shared kindgesprek by a former mentor: author and current mentor",
                conv(T_X, P_PLAIN, "shared"),
                vec![(T_X, W), (M_B, W)],
            ),
            (
                "signal urgency 0: author writes, mentors read",
                sig(T_X, P_PLAIN, 0, NIET_PLUIS),
                vec![(T_X, W), (M_B, R)],
            ),
            (
                "signal urgency 0 about bullying: not yet the anti-bullying coordinator",
                sig(T_A, P_CARE, 0, PESTEN),
                vec![(T_A, W), (M_A, R)],
            ),
            (
                "signal urgency 1: author, mentors and care team, pupil not in care",
                sig(T_X, P_PLAIN, 1, "welbevinden"),
                vec![(T_X, W), (M_B, W), (IB, W)],
            ),
            (
                "signal urgency 2 about bullying: also the anti-bullying coordinator",
                sig(T_X, P_PLAIN, 2, PESTEN),
                vec![(T_X, W), (M_B, W), (IB, W), (APC, W)],
            ),
            (
                "signal urgency 3, meldcode category: author, mentors, care team",
                sig(T_A, P_CARE, 3, THUISSITUATIE),
                vec![(T_A, W), (M_A, W), (IB, W)],
            ),
            (
                "signal by the mentor: the mentor writes as author",
                sig(M_B, P_PLAIN, 0, NIET_PLUIS),
                vec![(M_B, W)],
            ),
            (
                "staff misconduct: author and school leader",
                sig(T_X, P_CARE, 2, STAFF_MISCONDUCT),
                vec![(T_X, W), (SL, W)],
            ),
            (
                "staff misconduct at urgency 0: still the school leader",
                sig(M_A, P_CARE, 0, STAFF_MISCONDUCT),
                vec![(M_A, W), (SL, W)],
            ),
            (
                "signal of an unknown category: its author only",
                sig(T_X, P_PLAIN, 2, "iets-nieuws"),
                vec![(T_X, W)],
            ),
            (
                "signal of an unknown urgency: its author only",
                sig(T_X, P_PLAIN, 9, NIET_PLUIS),
                vec![(T_X, W)],
            ),
            (
                "signal without access fields: nobody",
                doc(Kind::Signal, Some(P_PLAIN), T_X, AccessFields::default()),
                vec![],
            ),
            (
                "conversation without visibility: nobody",
                doc(
                    Kind::Conversation,
                    Some(P_CARE),
                    M_A,
                    AccessFields::default(),
                ),
                vec![],
            ),
            ("meldcode case: care team only", case(P_CARE), vec![(IB, W)]),
            (
                "meldcode case of a pupil not in care: care team only",
                case(P_PLAIN),
                vec![(IB, W)],
            ),
            (
                "meldcode case without pupil: nobody",
                doc(Kind::Case, None, IB, AccessFields::default()),
                vec![],
            ),
            (
                "thermometer, pupil in care: mentors and group teachers write, care team reads",
                thermo(P_CARE),
                vec![(M_A, W), (T_A, W), (IB, R)],
            ),
            (
                "thermometer, pupil not in care: mentors and group teachers",
                thermo(P_PLAIN),
                vec![(M_B, W)],
            ),
            (
                "the school's whole roster: no device reads it (the server does)",
                roster_doc(),
                vec![],
            ),
            (
                "a staff member's view of the roster: that member reads, nobody writes",
                roster_view(T_X),
                vec![(T_X, R)],
            ),
            (
                "the care coordinator's view: the care coordinator only",
                roster_view(IB),
                vec![(IB, R)],
            ),
            ("excursion: its author", excursion(T_A), vec![(T_A, W)]),
            (
                "excursion: its author writes, the staff on the trip read",
                {
                    let mut d = excursion(T_A);
                    d.fields.readers = vec![M_B.into(), IB.into()];
                    d
                },
                vec![(T_A, W), (M_B, R), (IB, R)],
            ),
        ];
        for (cell, d, granted) in &rows {
            for user in EVERYONE {
                let want = granted
                    .iter()
                    .find(|(u, _)| *u == user)
                    .map_or(N, |&(_, a)| a);
                assert_eq!(check(&r, user, d), want, "{cell}: {user}");
            }
        }
    }

    /// Need-to-know: a staff member's view of the roster gives that member exactly the
    /// access the whole roster gives, for every document, and holds no one else's care data.
    #[test]
    fn a_roster_view_decides_like_the_whole_roster_and_holds_only_what_its_viewer_needs() {
        let r = roster();
        let docs = [
            conv(M_A, P_CARE, "shared"),
            conv(M_B, P_PLAIN, "shared"),
            conv(M_A, P_CARE, "private"),
            sig(T_X, P_PLAIN, 0, NIET_PLUIS),
            sig(T_A, P_CARE, 1, "welbevinden"),
            sig(T_X, P_PLAIN, 2, PESTEN),
            sig(T_X, P_CARE, 2, STAFF_MISCONDUCT),
            case(P_CARE),
            thermo(P_CARE),
            thermo(P_PLAIN),
            excursion(T_A),
        ];
        for user in EVERYONE {
            let view = r.view_for(user);
            for d in &docs {
                assert_eq!(check(&view, user, d), check(&r, user, d), "{user} {d:?}");
            }
            for p in [P_CARE, P_PLAIN, P_LEFT] {
                assert_eq!(
                    pupil_permissions(&view, user, p),
                    pupil_permissions(&r, user, p),
                    "{user} {p}"
                );
            }
            assert_eq!(
                view.pupils.len(),
                r.pupils.len(),
                "every pupil, for signals"
            );
            assert_eq!(view.viewer.as_deref(), Some(user));
        }
        // A teacher of group a: no care-track flag, no mentorship, only herself as teacher.
        let t = r.view_for(T_A);
        assert!(
            t.pupils
                .values()
                .all(|p| !p.in_care && p.mentors.is_empty())
        );
        assert_eq!(t.groups["a"].teachers, vec![T_A.to_string()]);
        assert!(t.groups["b"].teachers.is_empty());
        // A mentor: her own pupil's flag and mentors, nobody else's.
        let m = r.view_for(M_B);
        assert_eq!(m.pupils[P_PLAIN].mentors, vec![M_B.to_string()]);
        assert!(m.pupils[P_CARE].mentors.is_empty() && !m.pupils[P_CARE].in_care);
        // The care team: every flag and mentorship.
        let c = r.view_for(IB);
        assert!(c.pupils[P_CARE].in_care);
        assert_eq!(c.pupils, r.pupils);
    }

    #[test]
    fn teacher_who_is_not_mentor_reads_back_only_own_signals_and_no_conversations() {
        let r = roster();
        assert_eq!(check(&r, T_X, &sig(T_X, P_CARE, 1, "agressie")), W);
        assert_eq!(check(&r, T_X, &sig(T_A, P_CARE, 1, "agressie")), N);
        assert_eq!(check(&r, T_X, &sig(M_B, P_PLAIN, 0, NIET_PLUIS)), N);
        assert_eq!(check(&r, T_X, &conv(M_A, P_CARE, "shared")), N);
        assert_eq!(check(&r, T_X, &conv(M_B, P_PLAIN, "shared")), N);
        // Teaching the pupil's group gives the thermometer, not the dossier.
        assert_eq!(check(&r, T_A, &conv(M_A, P_CARE, "shared")), N);
        assert_eq!(check(&r, T_A, &thermo(P_CARE)), W);
    }

    #[test]
    fn mentor_sees_own_pupils_only() {
        let r = roster();
        expect(
            &r,
            "own pupil",
            &conv(IB, P_CARE, "shared"),
            &[(M_A, W), (M_B, N)],
        );
        expect(&r, "own pupil", &thermo(P_CARE), &[(M_A, W), (M_B, N)]);
        expect(
            &r,
            "own pupil",
            &sig(T_X, P_CARE, 0, NIET_PLUIS),
            &[(M_A, R), (M_B, N)],
        );
        expect(
            &r,
            "other pupil",
            &sig(T_X, P_PLAIN, 1, NIET_PLUIS),
            &[(M_A, N), (M_B, W)],
        );
        expect(&r, "other pupil", &thermo(P_PLAIN), &[(M_A, N), (M_B, W)]);
    }

    #[test]
    fn care_team_sees_conversations_of_pupils_in_care_and_every_signal_from_urgency_one() {
        let r = roster();
        assert_eq!(check(&r, IB, &conv(M_A, P_CARE, "shared")), W);
        assert_eq!(check(&r, IB, &conv(M_B, P_PLAIN, "shared")), N);
        assert_eq!(check(&r, IB, &conv(M_A, P_CARE, "private")), N);
        assert_eq!(check(&r, IB, &thermo(P_CARE)), R);
        assert_eq!(check(&r, IB, &thermo(P_PLAIN)), N);
        for pupil in [P_CARE, P_PLAIN] {
            assert_eq!(check(&r, IB, &sig(T_X, pupil, 0, NIET_PLUIS)), N);
            for level in 1..=3 {
                assert_eq!(check(&r, IB, &sig(T_X, pupil, level, NIET_PLUIS)), W);
            }
        }
    }

    #[test]
    fn care_track_closing_ends_care_team_access_to_conversations() {
        let mut r = roster();
        let d = conv(M_A, P_CARE, "shared");
        assert_eq!(check(&r, IB, &d), W);
        r.pupils.get_mut(P_CARE).unwrap().in_care = false;
        assert_eq!(check(&r, IB, &d), N);
        assert_eq!(check(&r, M_A, &d), W);
    }

    #[test]
    fn mentor_change_ends_old_mentor_access() {
        let mut r = roster();
        let d = conv(IB, P_PLAIN, "shared");
        assert_eq!(check(&r, M_B, &d), W);
        r.pupils.get_mut(P_PLAIN).unwrap().mentors = vec![M_A.into()];
        assert_eq!(check(&r, M_B, &d), N);
        assert_eq!(check(&r, M_A, &d), W);
    }

    #[test]
    fn anti_bullying_coordinator_gets_bullying_signals_from_urgency_one_only() {
        let r = roster();
        assert_eq!(check(&r, APC, &sig(T_X, P_PLAIN, 0, PESTEN)), N);
        for level in 1..=3 {
            assert_eq!(check(&r, APC, &sig(T_X, P_PLAIN, level, PESTEN)), W);
            assert_eq!(check(&r, APC, &sig(T_X, P_PLAIN, level, "agressie")), N);
        }
        assert_eq!(check(&r, APC, &conv(M_B, P_PLAIN, "shared")), N);
    }

    #[test]
    fn admin_reads_no_care_content() {
        let r = roster();
        let care_docs = [
            conv(M_A, P_CARE, "shared"),
            conv(M_A, P_CARE, "private"),
            sig(T_X, P_CARE, 0, NIET_PLUIS),
            sig(T_X, P_CARE, 3, THUISSITUATIE),
            sig(T_X, P_PLAIN, 2, PESTEN),
            sig(T_X, P_PLAIN, 2, STAFF_MISCONDUCT),
            case(P_CARE),
            thermo(P_CARE),
            excursion(T_A),
        ];
        for d in &care_docs {
            assert_eq!(check(&r, ADM, d), N, "{d:?}");
        }
        assert_eq!(check(&r, ADM, &roster_view(ADM)), R);
    }

    #[test]
    fn school_leader_gets_only_the_misconduct_route() {
        let r = roster();
        assert_eq!(check(&r, SL, &sig(T_X, P_CARE, 1, STAFF_MISCONDUCT)), W);
        for d in [
            conv(M_A, P_CARE, "shared"),
            sig(T_X, P_CARE, 3, THUISSITUATIE),
            sig(T_X, P_CARE, 2, PESTEN),
            case(P_CARE),
            thermo(P_CARE),
        ] {
            assert_eq!(check(&r, SL, &d), N, "{d:?}");
        }
    }

    #[test]
    fn misconduct_goes_to_school_leader_not_mentor_or_care_team() {
        let r = roster();
        for level in 0..=3 {
            let d = sig(T_A, P_CARE, level, STAFF_MISCONDUCT);
            expect(
                &r,
                "misconduct",
                &d,
                &[
                    (T_A, W),
                    (SL, W),
                    (M_A, N),
                    (IB, N),
                    (APC, N),
                    (ADM, N),
                    (T_X, N),
                ],
            );
        }
    }

    #[test]
    fn readers_the_school_leader_adds_to_misconduct_read_and_follow_up() {
        let r = roster();
        let mut d = sig(T_A, P_CARE, 2, STAFF_MISCONDUCT);
        d.fields.readers = vec![IB.into()];
        expect(
            &r,
            "misconduct with the care coordinator added",
            &d,
            &[(T_A, W), (SL, W), (IB, W), (M_A, N), (APC, N), (ADM, N)],
        );
        // Readers on a signal of another route change nothing.
        let mut d = sig(T_X, P_PLAIN, 0, PESTEN);
        d.fields.readers = vec![T_A.into(), IB.into()];
        expect(&r, "readers elsewhere", &d, &[(T_A, N), (IB, N)]);
    }

    #[test]
    fn other_school_gets_nothing() {
        let r = roster();
        let mut docs = vec![
            roster_view(M_A),
            conv(M_A, P_CARE, "shared"),
            conv(M_A, P_CARE, "private"),
            sig(T_X, P_PLAIN, 2, PESTEN),
            sig(T_X, P_PLAIN, 2, STAFF_MISCONDUCT),
            case(P_CARE),
            thermo(P_CARE),
            excursion(T_A),
        ];
        for d in &mut docs {
            d.header.school = "school-2".into();
            for user in EVERYONE {
                assert_eq!(check(&r, user, d), N, "{user} {d:?}");
            }
        }
    }

    #[test]
    fn inactive_staff_gets_nothing_even_as_author_or_listed_mentor() {
        let r = roster();
        for d in [
            roster_view(GONE),
            conv(GONE, P_CARE, "private"),
            conv(GONE, P_CARE, "shared"),
            sig(GONE, P_CARE, 0, NIET_PLUIS),
            sig(T_A, P_CARE, 2, NIET_PLUIS),
            case(P_CARE),
            thermo(P_CARE),
            excursion(GONE),
        ] {
            assert_eq!(check(&r, GONE, &d), N, "{d:?}");
        }
    }

    #[test]
    fn unknown_staff_unknown_kind_and_the_system_author_get_nothing() {
        let r = roster();
        assert_eq!(check(&r, STRANGER, &roster_view(STRANGER)), N);
        let mut d = excursion(T_A);
        d.header.kind = "dagboek".into();
        assert_eq!(check(&r, T_A, &d), N);
        // Even a roster entry called "system" never gains author rights.
        let mut r2 = roster();
        let mut s = r2.staff[T_A].clone();
        s.id = SYSTEM.into();
        r2.staff.insert(SYSTEM.into(), s);
        assert_eq!(check(&r2, SYSTEM, &roster_view(SYSTEM)), N);
    }

    #[test]
    fn private_working_note_is_for_its_author_only() {
        let r = roster();
        let d = conv(M_A, P_CARE, "private");
        for user in EVERYONE {
            let want = if user == M_A { W } else { N };
            assert_eq!(check(&r, user, &d), want, "{user}");
        }
    }

    #[test]
    fn any_active_staff_may_record_a_signal_about_an_active_pupil() {
        let r = roster();
        for user in [M_A, M_B, T_A, T_X, IB, APC, SL, ADM] {
            assert!(may_record_signal(&r, user, P_CARE), "{user}");
        }
        assert!(!may_record_signal(&r, GONE, P_CARE));
        assert!(!may_record_signal(&r, STRANGER, P_CARE));
        assert!(!may_record_signal(&r, M_B, P_LEFT));
        assert!(!may_record_signal(&r, M_B, "p-unknown"));
    }

    #[test]
    fn pupil_permissions_follow_the_access_rules() {
        let r = roster();
        let all = PupilPermissions {
            record_signal: true,
            record_thermometer: true,
            start_conversation: true,
            read_conversations: true,
            read_thermometer: true,
            record_parent_contact: true,
            read_parent_contacts: true,
        };
        let signal_only = PupilPermissions {
            record_signal: true,
            record_thermometer: false,
            start_conversation: false,
            read_conversations: false,
            read_thermometer: false,
            record_parent_contact: false,
            read_parent_contacts: false,
        };
        let nothing = PupilPermissions {
            record_signal: false,
            ..signal_only
        };
        assert_eq!(pupil_permissions(&r, M_A, P_CARE), all);
        assert_eq!(pupil_permissions(&r, M_A, P_PLAIN), signal_only);
        assert_eq!(
            pupil_permissions(&r, T_A, P_CARE),
            PupilPermissions {
                record_thermometer: true,
                read_thermometer: true,
                ..signal_only
            }
        );
        assert_eq!(
            pupil_permissions(&r, IB, P_CARE),
            PupilPermissions {
                record_thermometer: false,
                ..all
            }
        );
        assert_eq!(pupil_permissions(&r, IB, P_PLAIN), signal_only);
        assert_eq!(pupil_permissions(&r, ADM, P_CARE), signal_only);
        assert_eq!(pupil_permissions(&r, SL, P_CARE), signal_only);
        assert_eq!(pupil_permissions(&r, GONE, P_CARE), nothing);
        // A pupil who left: the dossier stays readable, nothing new is recorded.
        assert_eq!(
            pupil_permissions(&r, M_B, P_LEFT),
            PupilPermissions {
                read_conversations: true,
                read_thermometer: true,
                read_parent_contacts: true,
                ..nothing
            }
        );
    }

    #[test]
    fn a_parent_contact_is_read_and_written_like_a_shared_kindgesprek() {
        let r = roster();
        let f = AccessFields::default();
        for (pupil, author) in [(P_CARE, M_A), (P_PLAIN, M_B), (P_CARE, IB), (P_PLAIN, T_X)] {
            let contact = doc(Kind::ParentContact, Some(pupil), author, f.clone());
            let kindgesprek = conv(author, pupil, "shared");
            for user in [M_A, M_B, T_A, T_X, IB, APC, SL, ADM, GONE, STRANGER] {
                assert_eq!(
                    check(&r, user, &contact),
                    check(&r, user, &kindgesprek),
                    "{user} on {pupil} by {author}"
                );
            }
        }
        let unbound = doc(Kind::ParentContact, None, M_A, f);
        assert_eq!(check(&r, M_A, &unbound), N);
    }

    fn round(author: &str, group: &str) -> Doc {
        doc(
            Kind::SociogramRound,
            None,
            author,
            AccessFields::of_sociogram_group(group),
        )
    }

    fn answers(pupil: &str, group: &str) -> Doc {
        doc(
            Kind::SociogramAnswers,
            Some(pupil),
            SYSTEM,
            AccessFields::of_sociogram_group(group),
        )
    }

    /// The sociogram is the group's mentors' (write) and the care team's (read): never
    /// another teacher's, not even one teaching the group, nor the leader's or admin's.
    #[test]
    fn sociogram_is_for_the_groups_mentors_and_the_care_team() {
        let r = roster();
        let rows: Vec<Row> = vec![
            (
                "round of group a: its mentor writes, the care team reads",
                round(M_A, "a"),
                vec![(M_A, W), (IB, R)],
            ),
            (
                "round of group b opened by its mentor",
                round(M_B, "b"),
                vec![(M_B, W), (IB, R)],
            ),
            (
                "answers of a pupil of group a",
                answers(P_CARE, "a"),
                vec![(M_A, W), (IB, R)],
            ),
            (
                "answers of a pupil of group b",
                answers(P_PLAIN, "b"),
                vec![(M_B, W), (IB, R)],
            ),
            (
                "a group without pupils has no mentor",
                round(M_B, "c"),
                vec![(IB, R)],
            ),
        ];
        for (cell, d, granted) in &rows {
            for user in EVERYONE {
                let want = granted
                    .iter()
                    .find(|(u, _)| *u == user)
                    .map_or(N, |(_, a)| *a);
                assert_eq!(check(&r, user, d), want, "{cell}: {user}");
            }
        }
        // Malformed: no group, a round bound to a pupil, answers bound to none.
        let mut no_group = round(M_A, "a");
        no_group.fields = AccessFields::default();
        let mut bound = round(M_A, "a");
        bound.header.pupil = Some(P_CARE.into());
        let mut unbound = answers(P_CARE, "a");
        unbound.header.pupil = None;
        for d in [no_group, bound, unbound] {
            for user in EVERYONE {
                assert_eq!(check(&r, user, &d), N, "{user} {d:?}");
            }
        }
        assert!(may_open_sociogram(&r, M_A, "a"));
        assert!(!may_open_sociogram(&r, M_A, "b"));
        assert!(!may_open_sociogram(&r, T_A, "a"), "a teacher of the group");
        assert!(!may_open_sociogram(&r, IB, "a"), "the care team reads only");
        assert!(!may_open_sociogram(&r, M_A, "zz"), "an unknown group");
    }

    /// What a mentor's view of the roster gives her (her own mentorships) decides the
    /// same as the whole roster, for every user.
    #[test]
    fn sociogram_access_on_a_view_is_the_whole_rosters() {
        let r = roster();
        for user in EVERYONE {
            let view = r.view_for(user);
            for d in [round(M_A, "a"), answers(P_PLAIN, "b")] {
                assert_eq!(check(&view, user, &d), check(&r, user, &d), "{user} {d:?}");
            }
        }
    }
}
