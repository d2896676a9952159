//! What a roster import would change, before it is made ([`preview_roster`]).

use super::roster::roster;
use crate::storage::Storage;
use crate::{Result, roster_csv};
use omkijken_core::model::Roster;
use serde::Serialize;

/// A pupil in a roster preview: id, display name and group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PreviewPupil {
    /// Pupil id.
    pub id: String,
    /// Display name as the roster has it.
    pub name: String,
    /// Group id (after the import; before it for a pupil who left).
    pub group: String,
}

/// A pupil who moved to another group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PreviewMove {
    /// Pupil id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Group before.
    pub from: String,
    /// Group after.
    pub to: String,
}

/// A pupil whose mentors change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PreviewMentors {
    /// Pupil id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Staff ids before.
    pub before: Vec<String>,
    /// Staff ids after.
    pub after: Vec<String>,
}

/// A staff member in a roster preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PreviewStaff {
    /// Staff id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// What importing a roster CSV would change, before anything is written
/// ([`preview_roster`]): pupils added, left and moved, mentors changed, care tracks opened
/// or closed, staff added or left. Ids and display names only, as the roster holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RosterPreview {
    /// Whether the import would change the roster at all.
    pub changed: bool,
    /// Active pupils new in the roster (or back after leaving).
    pub pupils_added: Vec<PreviewPupil>,
    /// Pupils no longer active.
    pub pupils_left: Vec<PreviewPupil>,
    /// Active pupils in another group.
    pub pupils_moved: Vec<PreviewMove>,
    /// Active pupils whose mentors change.
    pub mentors_changed: Vec<PreviewMentors>,
    /// Active pupils whose care track opens (ids only).
    pub care_opened: Vec<String>,
    /// Pupils whose care track closes (ids only).
    pub care_closed: Vec<String>,
    /// Active staff new in the roster.
    pub staff_added: Vec<PreviewStaff>,
    /// Staff no longer active.
    pub staff_left: Vec<PreviewStaff>,
}

/// What changes between two rosters of a school, for [`RosterPreview`].
pub fn roster_diff(old: &Roster, new: &Roster) -> RosterPreview {
    let mut p = RosterPreview {
        changed: old != new,
        ..Default::default()
    };
    let pupil = |x: &omkijken_core::model::Pupil| PreviewPupil {
        id: x.id.clone(),
        name: x.display_name.clone(),
        group: x.group.clone(),
    };
    for (id, n) in &new.pupils {
        let o = old.pupils.get(id).filter(|o| o.active);
        match (o, n.active) {
            (None, true) => p.pupils_added.push(pupil(n)),
            (Some(o), false) => p.pupils_left.push(pupil(o)),
            (Some(o), true) => {
                if o.group != n.group {
                    p.pupils_moved.push(PreviewMove {
                        id: id.clone(),
                        name: n.display_name.clone(),
                        from: o.group.clone(),
                        to: n.group.clone(),
                    });
                }
                let (mut a, mut b) = (o.mentors.clone(), n.mentors.clone());
                a.sort();
                b.sort();
                if a != b {
                    p.mentors_changed.push(PreviewMentors {
                        id: id.clone(),
                        name: n.display_name.clone(),
                        before: a,
                        after: b,
                    });
                }
            }
            (None, false) => {}
        }
        let was_in_care = old.pupils.get(id).is_some_and(|o| o.active && o.in_care);
        let in_care = n.active && n.in_care;
        if in_care && !was_in_care {
            p.care_opened.push(id.clone());
        } else if was_in_care && !in_care {
            p.care_closed.push(id.clone());
        }
    }
    for (id, o) in old.pupils.iter().filter(|(_, o)| o.active) {
        if !new.pupils.contains_key(id) {
            p.pupils_left.push(pupil(o));
            if o.in_care {
                p.care_closed.push(id.clone());
            }
        }
    }
    let staff = |x: &omkijken_core::model::Staff| PreviewStaff {
        id: x.id.clone(),
        name: x.display_name.clone(),
    };
    for (id, n) in &new.staff {
        let was = old.staff.get(id).is_some_and(|o| o.active);
        if n.active && !was {
            p.staff_added.push(staff(n));
        } else if !n.active && was {
            p.staff_left.push(staff(n));
        }
    }
    for (id, o) in old.staff.iter().filter(|(_, o)| o.active) {
        if !new.staff.contains_key(id) {
            p.staff_left.push(staff(o));
        }
    }
    p
}

/// What importing `csv` into the school's roster would change ([`import_roster`] writes
/// it): the CSV is parsed exactly as the import parses it, nothing is written.
pub fn preview_roster(st: &mut dyn Storage, school: &str, csv: &str) -> Result<RosterPreview> {
    let old = roster(st, school)?;
    let new = roster_csv::parse(school, csv, &old)?;
    Ok(roster_diff(&old, &new))
}
