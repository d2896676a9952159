//! Each staff member's view of the roster ([`omkijken_core::model::Roster::view_for`]),
//! written when it changed.

use super::event;
use super::roster::{ROSTER_COMPACT_AFTER, decoded_at, load_roster, roster_write};
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

/// The fingerprint of every staff member's view of `roster` with `settings` (what
/// [`desired_view`] gives each, in the roster's order): the mark a school's roster document
/// carries of the views written from it ([`doc::views_mark`]). A change to the roster, the
/// settings or the way views are made changes it.
pub(super) fn views_mark(roster: &Roster, settings: &SchoolSettings) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    /// `fmt::Write` into a running SHA-256: no string of the whole school is built.
    struct Hashing(sha2::Sha256);
    impl Write for Hashing {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }
    let mut h = Hashing(sha2::Sha256::new());
    for user in roster.staff.keys() {
        // The derived `Debug` of the maps is in key order; should it ever print otherwise,
        // the mark differs once and the views are read again: never a view skipped.
        let _ = write!(h, "{user:?}{:?};", desired_view(roster, settings, user));
    }
    hex::encode(h.0.finalize())
}

/// Write the staff's views of a school's roster that are missing or out of date (a store
/// from before views, or written by an older server), in one transaction with a roster
/// event, so that running servers deliver them. Returns how many were written.
///
/// A roster document that carries the mark of the views it would give ([`views_mark`],
/// written with the views) needs nothing: no view is read. Otherwise every view is read
/// and compared, and the mark is written with what is written (reading every view of 20
/// schools of 210 staff took three minutes of a core at each start).
pub fn refresh_roster_views(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
) -> Result<usize> {
    let Decoded {
        doc: mut am,
        roster,
        settings,
    } = load_roster(st, school)?;
    // A school without staff has no views: nothing to read, nothing to mark.
    if roster.staff.is_empty() {
        return Ok(0);
    }
    let mark = views_mark(&roster, &settings);
    if doc::views_mark(&am).as_deref() == Some(mark.as_str()) {
        return Ok(0);
    }
    // The views' rows only (one a staff member), not the school's catalog.
    let rid = doc::roster_id(school);
    let ids: Vec<DocumentId> = roster
        .staff
        .keys()
        .map(|user| doc::roster_view_id(&roster.school, user))
        .chain([rid])
        .collect();
    let mut rows = st.catalog_get(&ids)?;
    let Some(at) = rows.iter().position(|r| r.id == rid) else {
        return Err(crate::Error::NotFound("roster"));
    };
    let roster_row = rows.swap_remove(at);
    let mut docs = view_writes(st, actor, now, (&roster, &settings), None, &rows)?;
    let n = docs.len();
    let before = am.get_heads();
    doc::set_views_mark(&mut am, actor, now, &mark)?;
    docs.push(roster_write(&roster_row, &am, before));
    rosters().put(
        rid,
        Decoded {
            doc: am,
            roster,
            settings,
        },
    );
    // Running servers deliver what was written; the mark alone is for no device.
    let events = match n {
        0 => vec![],
        _ => vec![event(now, AdminEventKind::Roster, Some(school), None)],
    };
    st.commit(Batch {
        docs,
        events,
        ..Default::default()
    })?;
    Ok(n)
}
