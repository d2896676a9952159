//! Schools and their settings: creating a school, the offline lease, the settings in the
//! roster document (scales, templates, cadence) and whether parents' names are recorded.

use super::roster::{load_roster, update_roster, update_roster_doc};
use super::{audit, check_id, event};
use crate::storage::{AdminEventKind, AuditAction, Batch, DocWrite, School, Storage, WriteMode};
use crate::{Error, Result};
use automerge::ActorId;
use omkijken_core::model::Roster;
use omkijken_core::{AccessFields, doc};

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
    change_roster(st, actor, now, school, |r| {
        r.offline_lease_days = Some(days)
    })
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
        true,
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
    change_roster(st, actor, now, school, |r| r.parent_names = names)
}

/// Change the school's roster record by `change`; whether it changed.
fn change_roster(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    change: impl Fn(&mut Roster),
) -> Result<bool> {
    let (changed, _, _) = update_roster(st, actor, now, school, |old| {
        let mut r = old.clone();
        change(&mut r);
        Ok(r)
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
