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
    Conversation, Excursion, Header, Kind, Role, Roster, Signal, SignalNotes, SociogramAnswers,
    SociogramRound, Staff, ThermometerMonth, Visibility,
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
        Self::signal_like(s.urgency, &s.category, &s.added_readers)
    }

    /// A signal's access fields, and its notes': urgency, category, the readers added.
    fn signal_like(urgency: u8, category: &str, readers: &[String]) -> AccessFields {
        AccessFields {
            urgency: Some(urgency),
            category: Some(category.into()),
            readers: readers.to_vec(),
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
        Self::signal_like(n.urgency, &n.category, &n.added_readers)
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

    /// The access fields of a conversation.
    pub fn of_conversation(c: &Conversation) -> AccessFields {
        Self::of_visibility(&c.visibility)
    }

    /// The access fields of a conversation: its visibility ("private" or "shared").
    pub fn of_visibility(visibility: &str) -> AccessFields {
        AccessFields {
            visibility: Some(visibility.into()),
            ..Default::default()
        }
    }

    /// The access fields of a sociogram round.
    pub fn of_sociogram_round(r: &SociogramRound) -> AccessFields {
        Self::of_sociogram_group(&r.group)
    }

    /// The access fields of a pupil's sociogram answers.
    pub fn of_sociogram_answers(a: &SociogramAnswers) -> AccessFields {
        Self::of_sociogram_group(&a.group)
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
        (Kind::Conversation, Some(pupil)) => conversation(
            roster,
            staff,
            is_author,
            pupil,
            fields.visibility.as_deref(),
        ),
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
/// `visibility`: its access field (none: nobody).
fn conversation(
    roster: &Roster,
    staff: &Staff,
    is_author: bool,
    pupil: &str,
    visibility: Option<&str>,
) -> Access {
    let Some(visibility) = visibility else {
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
            &Header::new(Kind::SociogramRound, &roster.school, None, user, 0),
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
    let shared = AccessFields::of_visibility(Visibility::Shared.as_str());
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
    Header::new(kind, &roster.school, Some(pupil), author, 0)
}

#[cfg(test)]
mod tests;
