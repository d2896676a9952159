//! Admin operations on a [`Storage`]: schools, roster import, enrollment codes, devices,
//! audit export, erasure.
//!
//! These functions only write to storage and append an admin event; the
//! [`Hub`](crate::hub::Hub) turns the events into pushes, purges and dropped connections
//! (at once when called through the hub, within a poll interval when another process, the
//! admin CLI, wrote them).

use crate::storage::{
    AdminEvent, AdminEventKind, AuditAction, AuditFilter, AuditRecord, Batch, CatalogRow, DocWrite,
    EnrollmentCode, School, Storage, WriteMode,
};
use crate::{Error, Result, roster_csv, tokens};
use automerge::{ActorId, Automerge};
use omkijken_core::model::{Kind, Roster, SchoolSettings};
use omkijken_core::rosters::{Decoded, rosters};
use omkijken_core::{AccessFields, DocumentId, access, doc};
use rand::RngCore;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Roster chunks kept before the roster document is compacted to a snapshot.
const ROSTER_COMPACT_AFTER: u32 = 16;

fn audit(now: i64, school: &str, action: AuditAction) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: now,
        school: school.into(),
        device: None,
        user: None,
        action,
        document: None,
        kind: None,
        pupil: None,
        device_seq: None,
        device_at: None,
    }
}

fn event(now: i64, kind: AdminEventKind, school: Option<&str>, device: Option<&str>) -> AdminEvent {
    AdminEvent {
        seq: 0,
        at: now,
        kind,
        school: school.map(Into::into),
        device: device.map(Into::into),
    }
}

fn check_id(what: &'static str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} must be 1-64 characters a-z, 0-9, '-', '_' or '.'"
        )))
    }
}

/// Create a school with an empty roster document.
pub fn create_school(st: &mut dyn Storage, now: i64, id: &str, name: &str) -> Result<()> {
    check_id("school id", id)?;
    if st.school(id)?.is_some() {
        return Err(Error::Exists("school"));
    }
    let (rid, roster) = doc::roster_genesis(id)?;
    let header = doc::header(rid, &roster)?;
    st.commit(Batch {
        schools: vec![School {
            id: id.into(),
            name: name.into(),
            created_at: now,
        }],
        docs: vec![DocWrite {
            id: rid,
            header,
            fields: AccessFields::default(),
            heads: roster.get_heads(),
            data: roster.save(),
            mode: WriteMode::Snapshot,
            summary: None,
            base: Some(vec![]),
        }],
        events: vec![event(now, AdminEventKind::School, Some(id), None)],
        audit: vec![audit(now, id, AuditAction::SchoolCreated)],
        ..Default::default()
    })?;
    Ok(())
}

/// The roster document of a school, decoded: the document with its roster and settings
/// (through the process's cache of decoded rosters, [`omkijken_core::rosters`]).
pub fn load_roster(st: &mut dyn Storage, school: &str) -> Result<Decoded> {
    decoded(st, doc::roster_id(school))?.ok_or(Error::NotFound("school"))
}

/// The roster of a school (read only: no copy of its document).
pub fn roster(st: &mut dyn Storage, school: &str) -> Result<Arc<Roster>> {
    let rid = doc::roster_id(school);
    let row = st
        .catalog_get(&[rid])?
        .pop()
        .ok_or(Error::NotFound("school"))?;
    if let Some((roster, _)) = rosters().record(rid, &row.heads) {
        return Ok(roster);
    }
    Ok(load_roster(st, school)?.roster)
}

/// The stored roster document `id` (a school's roster or a staff member's view), decoded,
/// from the cache when it holds the catalog's heads.
fn decoded(st: &mut dyn Storage, id: DocumentId) -> Result<Option<Decoded>> {
    let Some(row) = st.catalog_get(&[id])?.pop() else {
        return Ok(None);
    };
    decoded_at(st, &row)
}

/// [`decoded`] for a catalog row already read.
fn decoded_at(st: &mut dyn Storage, row: &CatalogRow) -> Result<Option<Decoded>> {
    if let Some(d) = rosters().get(row.id, &row.heads) {
        return Ok(Some(d));
    }
    let Some(bytes) = st.load_doc(row.id)? else {
        return Ok(None);
    };
    Ok(Some(rosters().decode(row.id, Automerge::load(&bytes)?)?))
}

/// What a roster import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RosterImport {
    /// Whether the roster changed at all.
    pub changed: bool,
    /// Active pupils after the import.
    pub pupils: usize,
    /// Active staff after the import.
    pub staff: usize,
    /// Groups.
    pub groups: usize,
    /// Documents whose access changed for someone (their catalog sequence was bumped).
    pub bumped: usize,
}

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

/// Import a roster CSV (format: [`roster_csv`]) into the school's roster document, written
/// by `actor`, bumping the catalog sequence of every document whose access changed for
/// anyone, in one transaction.
pub fn import_roster(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    csv: &str,
) -> Result<RosterImport> {
    let (changed, bumped, new) = update_roster(st, actor, now, school, |old| {
        roster_csv::parse(school, csv, old)
    })?;
    let today = jiff::Timestamp::from_millisecond(now)
        .map_err(|_| Error::Invalid("time".into()))?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    crate::retention::note_leavers(st, school, &new, &roster_csv::left_dates(csv), today)?;
    Ok(RosterImport {
        changed,
        pupils: new.pupils.values().filter(|p| p.active).count(),
        staff: new.staff.values().filter(|s| s.active).count(),
        groups: new.groups.len(),
        bumped,
    })
}

/// Set a school's offline lease: the days a device may go without a completed sync before
/// its store locks (0: no lease). It travels in the roster document, so devices learn it at
/// their next sync. Returns whether it changed.
pub fn set_offline_lease(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    days: u32,
) -> Result<bool> {
    let (changed, _, _) = update_roster(st, actor, now, school, |old| {
        Ok(Roster {
            offline_lease_days: Some(days),
            ..old.clone()
        })
    })?;
    Ok(changed)
}

/// Set the school's settings (the acute screen's leader name and number, thermometer scales
/// and labels, kindgesprek templates, cadence: [`omkijken_core::model::SchoolSettings`]),
/// read by every device from the roster document at its next sync. Refused (nothing
/// changes) unless they pass `SchoolSettings::check`. Returns whether anything changed.
pub fn set_school_settings(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    settings: &omkijken_core::model::SchoolSettings,
) -> Result<bool> {
    settings.check().map_err(Error::Invalid)?;
    let (changed, _, _) = update_roster_doc(
        st,
        actor,
        now,
        school,
        |old| Ok(old.clone()),
        Some(settings),
    )?;
    Ok(changed)
}

/// Whether the school records parents' names on an oudercontact (else their role only).
/// Kept in the roster record, where the record rules read it. Returns whether it changed.
pub fn set_parent_names(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    names: bool,
) -> Result<bool> {
    let (changed, _, _) = update_roster(st, actor, now, school, |old| {
        Ok(Roster {
            parent_names: names,
            ..old.clone()
        })
    })?;
    Ok(changed)
}

/// The school's settings as stored.
pub fn school_settings(
    st: &mut dyn Storage,
    school: &str,
) -> Result<omkijken_core::model::SchoolSettings> {
    Ok((*load_roster(st, school)?.settings).clone())
}

/// Why a care track was opened or closed (a code, never free text: the audit log holds no
/// content).
pub const CARE_TRACK_REASONS: [&str; 7] = [
    "signal",
    "care_meeting",
    "parents",
    "external",
    "goals_met",
    "moved_school",
    "other",
];

/// A care track opened or closed: whose, which way, and the reason code
/// ([`CARE_TRACK_REASONS`]).
#[derive(Debug, Clone, Copy)]
pub struct CareTrackChange<'a> {
    /// The pupil.
    pub pupil: &'a str,
    /// Opened (true) or closed.
    pub in_care: bool,
    /// One of [`CARE_TRACK_REASONS`].
    pub reason: &'a str,
}

/// Open or close a pupil's care track (zorgtraject) at the care team's decision: the roster
/// changes at once and access follows (the pupil's shared notes reach the care team, or are
/// purged from it), with an audit row naming who decided (`by`: device and staff id; None:
/// the admin) and the reason code, the roster written by `actor`. Returns whether anything
/// changed.
pub fn set_care_track(
    st: &mut dyn Storage,
    now: i64,
    school: &str,
    change: CareTrackChange<'_>,
    by: Option<(&str, &str)>,
    actor: &ActorId,
) -> Result<bool> {
    let CareTrackChange {
        pupil,
        in_care,
        reason,
    } = change;
    if !CARE_TRACK_REASONS.contains(&reason) {
        return Err(Error::Invalid(format!(
            "reason must be one of {}",
            CARE_TRACK_REASONS.join(", ")
        )));
    }
    let (changed, _, _) = update_roster(st, actor, now, school, |old| {
        let mut new = old.clone();
        let p = new
            .pupils
            .get_mut(pupil)
            .filter(|p| p.active)
            .ok_or(Error::NotFound("pupil"))?;
        p.in_care = in_care;
        Ok(new)
    })?;
    if changed {
        let action = if in_care {
            AuditAction::CareTrackOpened
        } else {
            AuditAction::CareTrackClosed
        };
        let mut a = audit(now, school, action);
        a.pupil = Some(pupil.into());
        a.kind = Some(reason.into());
        a.device = by.map(|b| b.0.to_string());
        a.user = by.map(|b| b.1.to_string());
        st.commit(Batch {
            audit: vec![a],
            ..Default::default()
        })?;
    }
    Ok(changed)
}

/// Replace the school's roster by `make(old)`, written by `actor`, bumping the catalog
/// sequence of every document whose access changed for anyone, in one transaction.
/// Returns whether it changed, how many documents were bumped, and the new roster.
// The edit closure returns core's (large) error type.
#[allow(clippy::result_large_err)]
fn update_roster(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    make: impl FnOnce(&Roster) -> Result<Roster>,
) -> Result<(bool, usize, Roster)> {
    update_roster_doc(st, actor, now, school, make, None)
}

/// [`update_roster`], also writing the school settings when `settings` is given.
#[allow(clippy::result_large_err)]
fn update_roster_doc(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    make: impl FnOnce(&Roster) -> Result<Roster>,
    settings: Option<&omkijken_core::model::SchoolSettings>,
) -> Result<(bool, usize, Roster)> {
    let rid = doc::roster_id(school);
    let Decoded {
        doc: mut am,
        roster: old,
        settings: old_settings,
    } = load_roster(st, school)?;
    let new = make(&old)?;
    if new == *old && settings.is_none_or(|s| *s == *old_settings) {
        // Nothing to write: skip reconciling the whole roster only to find no change.
        return Ok((false, 0, new));
    }
    let before = am.get_heads();
    let mut changed = doc::update_roster(rid, &mut am, actor, now, &old, &new)?;
    if let Some(s) = settings.filter(|s| **s != *old_settings) {
        changed |= doc::set_school_settings(&mut am, actor, now, s)?;
    }
    if !changed {
        return Ok((false, 0, new));
    }
    let rows = st.catalog_school(school)?;
    let row = rows
        .iter()
        .find(|r| r.id == rid)
        .ok_or(Error::NotFound("roster"))?;
    let (data, mode) = if row.chunks + 1 >= ROSTER_COMPACT_AFTER {
        (am.save(), WriteMode::Snapshot)
    } else {
        (am.save_after(&before), WriteMode::Append)
    };
    let write = DocWrite {
        id: rid,
        header: row.header.clone(),
        fields: AccessFields::default(),
        heads: am.get_heads(),
        data,
        mode,
        summary: None,
        base: Some(before),
    };
    let bump = affected(&old, &new, &rows);
    let bumped = bump.len();
    let mut docs = vec![write];
    let stored = Arc::new(doc::school_settings(&am));
    docs.extend(view_writes(
        st,
        actor,
        now,
        (&new, &stored),
        Some((&old, &old_settings)),
        &rows,
    )?);
    rosters().put(
        rid,
        Decoded {
            doc: am,
            roster: Arc::new(new.clone()),
            settings: stored,
        },
    );
    st.commit(Batch {
        docs,
        bump,
        events: vec![event(now, AdminEventKind::Roster, Some(school), None)],
        audit: vec![audit(now, school, AuditAction::RosterImport)],
        ..Default::default()
    })?;
    Ok((true, bumped, new))
}

/// The writes that bring every staff member's view of `roster` up to date
/// ([`Roster::view_for`]: what that member needs of it, readable by that member alone; empty
/// for staff who left), for views missing or out of date among the school's catalog `rows`.
/// Every active member's view carries the school's `settings` (the acute screen's numbers
/// are for everyone) under the same root key as the whole roster.
// The edit closure returns core's (large) error type.
#[allow(clippy::result_large_err)]
fn view_writes(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    (roster, settings): (&Roster, &SchoolSettings),
    previous: Option<(&Roster, &SchoolSettings)>,
    rows: &[CatalogRow],
) -> Result<Vec<DocWrite>> {
    let by_id: HashMap<DocumentId, &CatalogRow> = rows.iter().map(|r| (r.id, r)).collect();
    let mut out = vec![];
    for staff in roster.staff.values() {
        let user = &staff.id;
        let vid = doc::roster_view_id(&roster.school, user);
        let row = by_id.get(&vid).copied();
        if !staff.active && row.is_none() {
            continue;
        }
        let (view, view_settings) = desired_view(roster, settings, user);
        // A view written from the previous roster and settings is current when the member's
        // view of both is the same: no load, no reconcile (a roster change touches few).
        if row.is_some()
            && previous.is_some_and(|(r, s)| {
                let (was, was_settings) = desired_view(r, s, user);
                was == view && was_settings == view_settings
            })
        {
            continue;
        }
        let (mut d, held, held_settings) = match row {
            Some(r) => match decoded_at(st, r)? {
                Some(Decoded {
                    doc,
                    roster,
                    settings,
                }) => (doc, roster, settings),
                None => continue,
            },
            None => {
                let d = doc::roster_view_genesis(&roster.school, user)?.1;
                let held = Arc::new(doc::record::<Roster>(vid, &d)?);
                let settings = Arc::new(doc::school_settings(&d));
                (d, held, settings)
            }
        };
        // What the view holds (without a previous roster, at a start-up refresh, this is
        // the only way to know whether it is current).
        if row.is_some() && *held == view && *held_settings == view_settings {
            continue;
        }
        let before = d.get_heads();
        let fields = AccessFields::of_roster(&view);
        let mut changed = doc::update_roster(vid, &mut d, actor, now, &held, &view)?;
        if *held_settings != view_settings {
            changed |= doc::set_school_settings(&mut d, actor, now, &view_settings)?;
        }
        let (data, mode, base) = match row {
            None => (d.save(), WriteMode::Snapshot, vec![]),
            Some(_) if !changed => continue,
            Some(r) if r.chunks + 1 >= ROSTER_COMPACT_AFTER => {
                (d.save(), WriteMode::Snapshot, before)
            }
            Some(_) => (d.save_after(&before), WriteMode::Append, before),
        };
        out.push(DocWrite {
            id: vid,
            header: doc::header(vid, &d)?,
            fields,
            heads: d.get_heads(),
            data,
            mode,
            summary: None,
            base: Some(base),
        });
        rosters().put(
            vid,
            Decoded {
                doc: d,
                roster: Arc::new(view),
                settings: Arc::new(view_settings),
            },
        );
    }
    Ok(out)
}

/// Write the staff's views of a school's roster that are missing or out of date (a store
/// from before views, or written by an older server), in one transaction with a roster
/// event, so that running servers deliver them. Returns how many were written.
/// What `user`'s view of `roster` should hold: [`Roster::view_for`] and the school's settings
/// for an active member; staff who left keep no view: theirs is emptied (and devices still
/// holding it are told to purge it, like everything else they may no longer read).
fn desired_view(
    roster: &Roster,
    settings: &SchoolSettings,
    user: &str,
) -> (Roster, SchoolSettings) {
    match roster.staff.get(user) {
        Some(staff) if staff.active => (roster.view_for(user), settings.clone()),
        _ => (
            Roster {
                school: roster.school.clone(),
                viewer: Some(user.to_string()),
                ..Default::default()
            },
            Default::default(),
        ),
    }
}

pub fn refresh_roster_views(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
) -> Result<usize> {
    let Decoded {
        roster, settings, ..
    } = load_roster(st, school)?;
    let rows = st.catalog_school(school)?;
    let docs = view_writes(st, actor, now, (&roster, &settings), None, &rows)?;
    let n = docs.len();
    if n > 0 {
        st.commit(Batch {
            docs,
            events: vec![event(now, AdminEventKind::Roster, Some(school), None)],
            ..Default::default()
        })?;
    }
    Ok(n)
}

/// Documents whose access differs between two rosters for at least one staff member.
///
/// Access to a document depends on the staff member's record, the pupil's record and the
/// teachers of the pupil's group. So a document is compared for every staff member when its
/// pupil (or the pupil's group) changed, a sociogram round's or answers' when any pupil of
/// their group changed (the group's mentors are its pupils' mentors), and otherwise only for
/// the staff whose own record changed.
pub fn affected(old: &Roster, new: &Roster, rows: &[CatalogRow]) -> Vec<DocumentId> {
    let all_staff: BTreeSet<&String> = old.staff.keys().chain(new.staff.keys()).collect();
    let changed_staff: Vec<&String> = all_staff
        .iter()
        .copied()
        .filter(|s| old.staff.get(*s) != new.staff.get(*s))
        .collect();
    let changed_groups: BTreeSet<&String> = old
        .groups
        .keys()
        .chain(new.groups.keys())
        .filter(|g| old.groups.get(*g) != new.groups.get(*g))
        .collect();
    let pupil_changed = |p: &str| {
        let (o, n) = (old.pupils.get(p), new.pupils.get(p));
        o != n
            || o.is_some_and(|x| changed_groups.contains(&x.group))
            || n.is_some_and(|x| changed_groups.contains(&x.group))
    };
    // A sociogram's access follows its group's mentors (the mentors of the group's pupils),
    // so a change to any pupil of the group (her mentors, or her moving in or out) may
    // change it, whoever's document it is.
    let groups_of_changed: BTreeSet<&String> = old
        .pupils
        .keys()
        .chain(new.pupils.keys())
        .filter(|p| pupil_changed(p))
        .flat_map(|p| [old.pupils.get(p), new.pupils.get(p)])
        .flatten()
        .map(|p| &p.group)
        .collect();
    let group_changed = |g: &str| {
        groups_of_changed.iter().any(|x| *x == g) || changed_groups.iter().any(|x| *x == g)
    };
    let by_group = [
        Kind::SociogramRound.as_str(),
        Kind::SociogramAnswers.as_str(),
    ];
    let mut out = vec![];
    for row in rows {
        if row.erased || row.header.kind == Kind::Roster.as_str() {
            continue;
        }
        let all = row.header.pupil.as_deref().is_some_and(pupil_changed)
            || (by_group.contains(&row.header.kind.as_str())
                && row.fields.category.as_deref().is_some_and(group_changed));
        let differs = |s: &&String| {
            access(old, s, &row.header, &row.fields) != access(new, s, &row.header, &row.fields)
        };
        let hit = if all {
            all_staff.iter().any(differs)
        } else {
            changed_staff.iter().any(differs)
        };
        if hit {
            out.push(row.id);
        }
    }
    out
}

/// Issue a one-time enrollment code for staff member `user` of `school`, valid `ttl_ms`.
/// The code is returned once; only its hash is stored.
pub fn issue_code(
    st: &mut dyn Storage,
    rng: &mut dyn RngCore,
    now: i64,
    school: &str,
    user: &str,
    ttl_ms: i64,
) -> Result<String> {
    check_staff(st, school, user)?;
    let code = tokens::new_code(rng);
    store_code(
        st,
        now,
        school,
        user,
        ttl_ms,
        tokens::code_hash(&code),
        None,
    )?;
    Ok(code)
}

fn check_staff(st: &mut dyn Storage, school: &str, user: &str) -> Result<()> {
    let roster = roster(st, school)?;
    if roster.active_staff(user).is_none() {
        return Err(Error::NotFound("active staff member in the roster"));
    }
    Ok(())
}

/// A one-time enrollment ticket for staff member `user` of `school` that a device redeems
/// with the verifier of `challenge` (`omkijken_core::invite::oidc`): after the staff member
/// signed in through the school's identity provider. Audited as `code_issued` of kind `oidc`.
pub fn issue_oidc_ticket(
    st: &mut dyn Storage,
    now: i64,
    school: &str,
    user: &str,
    ttl_ms: i64,
    challenge: &str,
) -> Result<()> {
    check_staff(st, school, user)?;
    store_code(
        st,
        now,
        school,
        user,
        ttl_ms,
        tokens::code_hash(challenge),
        Some("oidc"),
    )
}

/// The staff member's school on this server: the one school whose roster has `user` as an
/// active staff member (`NotFound` for none; `Invalid` for several, which a staff id that
/// two schools share would be).
pub fn school_of_staff(st: &mut dyn Storage, user: &str) -> Result<String> {
    let mut found = vec![];
    for school in st.schools()? {
        let roster = roster(st, &school.id)?;
        if roster.active_staff(user).is_some() {
            found.push(school.id);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::NotFound("active staff member in the roster")),
        _ => Err(Error::Invalid(
            "the staff id is in several schools' rosters".into(),
        )),
    }
}

fn store_code(
    st: &mut dyn Storage,
    now: i64,
    school: &str,
    user: &str,
    ttl_ms: i64,
    code_hash: [u8; 32],
    kind: Option<&str>,
) -> Result<()> {
    let mut a = audit(now, school, AuditAction::CodeIssued);
    a.user = Some(user.into());
    a.kind = kind.map(Into::into);
    st.commit(Batch {
        codes: vec![EnrollmentCode {
            code_hash,
            school: school.into(),
            user: user.into(),
            created_at: now,
            expires_at: now + ttl_ms,
            scope: None,
        }],
        audit: vec![a],
        ..Default::default()
    })?;
    Ok(())
}

/// Revoke a device. Returns false if it was revoked already.
pub fn revoke(st: &mut dyn Storage, now: i64, device: &str) -> Result<bool> {
    let d = st.device(device)?.ok_or(Error::NotFound("device"))?;
    if d.revoked_at.is_some() {
        return Ok(false);
    }
    let mut a = audit(now, &d.school, AuditAction::Revoke);
    a.device = Some(d.id.clone());
    a.user = Some(d.user.clone());
    st.commit(Batch {
        revoke: vec![(d.id.clone(), now)],
        events: vec![event(
            now,
            AdminEventKind::Revoke,
            Some(&d.school),
            Some(&d.id),
        )],
        audit: vec![a],
        ..Default::default()
    })?;
    Ok(true)
}

/// Erase every document about a pupil (retention expiry or a request): bytes and history
/// are dropped, the ids are refused from now on and every device purges them. Returns how
/// many documents were erased.
pub fn erase_pupil(st: &mut dyn Storage, now: i64, school: &str, pupil: &str) -> Result<usize> {
    let ids: Vec<DocumentId> = st
        .catalog_school(school)?
        .into_iter()
        .filter(|r| !r.erased && r.header.pupil.as_deref() == Some(pupil))
        .map(|r| r.id)
        .collect();
    let n = ids.len();
    let mut a = audit(now, school, AuditAction::Erase);
    a.pupil = Some(pupil.into());
    st.commit(Batch {
        erase: ids,
        events: vec![event(now, AdminEventKind::Erase, Some(school), None)],
        audit: vec![a],
        ..Default::default()
    })?;
    Ok(n)
}

/// The notes beside a signal (`SignalNotes`), if the store has them: erased with it.
pub fn notes_of_signal(st: &mut dyn Storage, row: &CatalogRow) -> Result<Option<CatalogRow>> {
    let (Some(pupil), true) = (
        row.header.pupil.as_deref(),
        row.header.kind == omkijken_core::model::Kind::Signal.as_str(),
    ) else {
        return Ok(None);
    };
    let (Some(urgency), Some(category)) = (row.fields.urgency, row.fields.category.as_deref())
    else {
        return Ok(None);
    };
    let id = doc::signal_notes_id(&row.header.school, pupil, row.id, category, urgency);
    Ok(st.catalog_get(&[id])?.into_iter().find(|r| !r.erased))
}

/// Erase one record that should never have been written (the wrong pupil): bytes and
/// history dropped, the id refused from now on, every device purges it, an audit row.
/// Roster documents are not erased this way.
pub fn erase_record(st: &mut dyn Storage, now: i64, school: &str, id: DocumentId) -> Result<()> {
    let row = st
        .catalog_get(&[id])?
        .into_iter()
        .next()
        .filter(|r| !r.erased && r.header.school == school)
        .ok_or(Error::NotFound("document"))?;
    if row.header.kind == omkijken_core::model::Kind::Roster.as_str() {
        return Err(Error::Invalid(
            "the roster is not erased; import a new one".into(),
        ));
    }
    let mut rows = vec![row.clone()];
    rows.extend(notes_of_signal(st, &row)?);
    let audit = rows
        .iter()
        .map(|r| {
            let mut a = audit(now, school, AuditAction::Erase);
            a.document = Some(r.id);
            a.kind = Some(r.header.kind.clone());
            a.pupil = r.header.pupil.clone();
            a
        })
        .collect();
    st.commit(Batch {
        erase: rows.iter().map(|r| r.id).collect(),
        events: vec![event(now, AdminEventKind::Erase, Some(school), None)],
        audit,
        ..Default::default()
    })?;
    Ok(())
}

/// One exported audit row (ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditExport {
    /// Server sequence.
    pub seq: u64,
    /// Server time, RFC 3339.
    pub at: String,
    /// School.
    pub school: String,
    /// Action.
    pub action: &'static str,
    /// Staff id.
    pub user: String,
    /// Device id.
    pub device: String,
    /// Document id.
    pub document: String,
    /// Kind.
    pub kind: String,
    /// Pupil id.
    pub pupil: String,
    /// For reads: when the device says it happened, RFC 3339.
    pub device_at: String,
}

/// A cell a spreadsheet would not run as a formula: text starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return gets a leading `'` (OWASP's advice for CSV injection).
pub fn csv_cell(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

impl AuditExport {
    /// Every text cell made safe for a spreadsheet ([`csv_cell`]).
    pub fn csv_safe(self) -> AuditExport {
        AuditExport {
            at: csv_cell(self.at),
            school: csv_cell(self.school),
            user: csv_cell(self.user),
            device: csv_cell(self.device),
            document: csv_cell(self.document),
            kind: csv_cell(self.kind),
            pupil: csv_cell(self.pupil),
            device_at: csv_cell(self.device_at),
            ..self
        }
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl From<&AuditRecord> for AuditExport {
    fn from(a: &AuditRecord) -> Self {
        AuditExport {
            seq: a.seq,
            at: rfc3339(a.at),
            school: a.school.clone(),
            action: a.action.as_str(),
            user: a.user.clone().unwrap_or_default(),
            device: a.device.clone().unwrap_or_default(),
            document: a.document.map(|d| d.to_string()).unwrap_or_default(),
            kind: a.kind.clone().unwrap_or_default(),
            pupil: a.pupil.clone().unwrap_or_default(),
            device_at: a.device_at.map(rfc3339).unwrap_or_default(),
        }
    }
}

/// Audit rows as CSV with a header row.
pub fn audit_csv(rows: &[AuditRecord]) -> Result<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.serialize(AuditExport::from(r).csv_safe())
            .map_err(|_| Error::Invalid("audit export".into()))?;
    }
    if rows.is_empty() {
        w.write_record([
            "seq",
            "at",
            "school",
            "action",
            "user",
            "device",
            "document",
            "kind",
            "pupil",
            "device_at",
        ])
        .map_err(|_| Error::Invalid("audit export".into()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|_| Error::Invalid("audit export".into()))?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid("audit export".into()))
}

/// Audit rows as JSON lines (JSON strings are data: nothing to escape beyond JSON's own).
pub fn audit_json_lines(rows: &[AuditRecord]) -> String {
    let mut out = String::new();
    for r in rows {
        if let Ok(line) = serde_json::to_string(&AuditExport::from(r)) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Audit rows for a filter.
pub fn audit_rows(st: &mut dyn Storage, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
    st.audit(filter)
}

/// What `admin audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Rows read.
    pub rows: u64,
    /// Rows from before the chain (no link hash), at its start.
    pub unlinked: u64,
    /// The first row whose link does not match: changed, or a row before it changed,
    /// removed or inserted.
    pub broken_at: Option<u64>,
    /// The last row's sequence and link (hex): note it down to detect rows cut off the end.
    pub head: Option<(u64, String)>,
}

/// Walk the audit log in sequence order and check every row's link to the one before it
/// (see `storage::audit_hash`).
pub fn verify_audit(st: &mut dyn Storage) -> Result<AuditVerification> {
    const PAGE: usize = 10_000;
    let mut v = AuditVerification {
        rows: 0,
        unlinked: 0,
        broken_at: None,
        head: None,
    };
    let mut prev: Option<[u8; 32]> = None;
    let mut after = 0;
    loop {
        let page = st.audit_page(after, PAGE)?;
        let Some(last) = page.last().map(|(r, _)| r.seq) else {
            break;
        };
        for (row, stored) in page {
            v.rows += 1;
            let stored = stored.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok());
            match (prev, stored) {
                // Rows from before the chain, at its start.
                (None, None) => v.unlinked += 1,
                (_, None) => {
                    v.broken_at.get_or_insert(row.seq);
                }
                (p, Some(h)) => {
                    let expected = crate::storage::audit_hash(&p.unwrap_or([0; 32]), &row);
                    if expected != h {
                        v.broken_at.get_or_insert(row.seq);
                    }
                    v.head = Some((row.seq, hex::encode(h)));
                    prev = Some(h);
                }
            }
        }
        after = last;
    }
    Ok(v)
}

/// Audit rows for a filter, read for an export: the export is itself audited (action
/// `audit_export`, device `admin-cli`, the filter in `kind`, the pupil when the filter
/// names one), so reading who read a pupil's file leaves a trace too.
pub fn export_audit(
    st: &mut dyn Storage,
    now: i64,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>> {
    export_audit_by(st, now, filter, "admin-cli", None)
}

/// [`export_audit`] by a named reader: `device` says through what (`admin-cli`,
/// `admin-console`), `user` who (the console's `admin:NAME`).
pub fn export_audit_by(
    st: &mut dyn Storage,
    now: i64,
    filter: &AuditFilter,
    device: &str,
    user: Option<&str>,
) -> Result<Vec<AuditRecord>> {
    let rows = st.audit(filter)?;
    let (kind, pupil) = match filter {
        AuditFilter::Pupil(p) => ("pupil".to_string(), Some(p.clone())),
        AuditFilter::Staff(s) => (format!("staff:{s}"), None),
        AuditFilter::Action(a) => (format!("action:{}", a.as_str()), None),
        AuditFilter::All => ("all".to_string(), None),
    };
    let mut row = audit(now, "", AuditAction::AuditExport);
    row.device = Some(device.into());
    row.user = user.map(Into::into);
    row.kind = Some(kind);
    row.pupil = pupil;
    st.commit(Batch {
        audit: vec![row],
        ..Default::default()
    })?;
    Ok(rows)
}

#[cfg(test)]
mod csv_tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_escaped() {
        for bad in ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(bad.into()), format!("'{bad}"));
        }
        for good in ["signal", "p1", "2026-01-01T00:00:00Z", "", "a=b"] {
            assert_eq!(csv_cell(good.into()), good);
        }
        let row = AuditRecord {
            seq: 1,
            at: 0,
            school: "=s".into(),
            device: Some("@d".into()),
            user: Some("+u".into()),
            action: AuditAction::Read,
            document: None,
            kind: Some("=HYPERLINK(\"x\")".into()),
            pupil: Some("-p".into()),
            device_seq: None,
            device_at: None,
        };
        let csv = audit_csv(&[row]).unwrap();
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert!(
            rec.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])),
            "{csv}"
        );
        assert_eq!(&rec[7], "'=HYPERLINK(\"x\")");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omkijken_core::model::{Group, Header, Pupil, Staff};

    fn roster(mentor_of_bram: &str) -> Roster {
        let pupil = |id: &str, name: &str, mentor: &str| {
            let p = Pupil {
                id: id.into(),
                display_name: name.into(),
                group: "g6b".into(),
                age_band: "po_5_8".into(),
                active: true,
                in_care: false,
                mentors: vec![mentor.into()],
            };
            (id.to_string(), p)
        };
        let staff = |id: &str, role: &str| {
            let s = Staff {
                id: id.into(),
                display_name: id.into(),
                roles: vec![role.into()],
                meldcode_duty: false,
                active: true,
            };
            (id.to_string(), s)
        };
        Roster {
            school: "s1".into(),
            pupils: [
                pupil("p1", "Zoë", "m1"),
                pupil("p2", "Bram", mentor_of_bram),
            ]
            .into(),
            groups: [(
                "g6b".to_string(),
                Group {
                    id: "g6b".into(),
                    name: "Groep 6b".into(),
                    teachers: vec![],
                },
            )]
            .into(),
            staff: [
                staff("m1", "mentor"),
                staff("m2", "mentor"),
                staff("zc", "care_coordinator"),
            ]
            .into(),
            ..Default::default()
        }
    }

    fn row(kind: Kind, pupil: Option<&str>) -> CatalogRow {
        CatalogRow {
            id: DocumentId::random(),
            header: Header {
                kind: kind.as_str().into(),
                school: "s1".into(),
                pupil: pupil.map(Into::into),
                author: "m1".into(),
                created_at: 0,
                schema: 1,
            },
            fields: AccessFields::of_sociogram_group("g6b"),
            heads: vec![],
            seq: 1,
            content_seq: 1,
            size: 0,
            chunks: 0,
            erased: false,
        }
    }

    /// Bram gets a second mentor's care: m2 becomes a mentor of groep 6b, so the group's
    /// sociogram (the round, and Zoë's answers, whose own record did not change) reaches
    /// m2's devices, which the catalog learns by a bump. (The simulation found the round
    /// left behind on a mentor's device when only a classmate's mentor changed.)
    #[test]
    fn a_change_to_any_pupil_of_the_group_re_decides_its_sociogram() {
        let (old, new) = (roster("m1"), roster("m2"));
        let round = row(Kind::SociogramRound, None);
        let zoe = row(Kind::SociogramAnswers, Some("p1"));
        let bumped = affected(&old, &new, &[round.clone(), zoe.clone()]);
        assert_eq!(bumped, [round.id, zoe.id]);
        assert!(affected(&old, &old, &[round, zoe]).is_empty());
    }
}
