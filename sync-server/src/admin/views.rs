//! Each staff member's view of the roster ([`omkijken_core::model::Roster::view_for`]),
//! written when it changed.

use super::event;
use super::roster::{ROSTER_COMPACT_AFTER, decoded_at, load_roster};
use crate::Result;
use crate::storage::{AdminEventKind, Batch, CatalogRow, DocWrite, Storage, WriteMode};
use automerge::ActorId;
use omkijken_core::model::{Roster, SchoolSettings};
use omkijken_core::rosters::{Decoded, rosters};
use omkijken_core::{AccessFields, DocumentId, doc};
use std::collections::HashMap;
use std::sync::Arc;

/// The writes that bring every staff member's view of `roster` up to date
/// ([`Roster::view_for`]: what that member needs of it, readable by that member alone; empty
/// for staff who left), for views missing or out of date among the school's catalog `rows`.
/// Every active member's view carries the school's `settings` (the acute screen's numbers
/// are for everyone) under the same root key as the whole roster.
// The edit closure returns core's (large) error type.
#[allow(clippy::result_large_err)]
pub(super) fn view_writes(
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
    // The views' rows only (one a staff member), not the school's catalog.
    let ids: Vec<DocumentId> = roster
        .staff
        .keys()
        .map(|user| doc::roster_view_id(&roster.school, user))
        .collect();
    let rows = st.catalog_get(&ids)?;
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
