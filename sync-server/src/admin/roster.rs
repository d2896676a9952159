//! The roster: reading it back, importing a CSV (written by difference, compacted), and
//! which documents a roster change re-decides ([`affected`]).

use super::views::{view_writes, views_mark};
use super::{audit, event};
use crate::storage::{
    AdminEventKind, AuditAction, Batch, CatalogRow, DocWrite, Storage, WriteMode,
};
use crate::{Error, Result, roster_csv};
use automerge::{ActorId, Automerge};
use omkijken_core::model::{Kind, Roster};
use omkijken_core::rosters::{Decoded, rosters};
use omkijken_core::{AccessFields, DocumentId, access, doc};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Roster chunks kept before the roster document is compacted to a snapshot.
pub(super) const ROSTER_COMPACT_AFTER: u32 = 16;

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
pub(super) fn decoded_at(st: &mut dyn Storage, row: &CatalogRow) -> Result<Option<Decoded>> {
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

/// Replace the school's roster by `make(old)`, written by `actor`, bumping the catalog
/// sequence of every document whose access changed for anyone, in one transaction.
/// Returns whether it changed, how many documents were bumped, and the new roster.
// The edit closure returns core's (large) error type.
#[allow(clippy::result_large_err)]
pub(super) fn update_roster(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    make: impl Fn(&Roster) -> Result<Roster>,
) -> Result<(bool, usize, Roster)> {
    update_roster_doc(st, actor, now, school, make, None, true)
}

/// Times a roster change is made again from the roster as stored when another writer
/// changed the roster document in between (the views' refresh at a start, which marks a
/// roster written by an older server; another node).
const ROSTER_ATTEMPTS: usize = 3;

/// [`update_roster`], also writing the school settings when `settings` is given, with a
/// `roster_import` audit row when `audited` (not for a change that is part of an operation
/// with an audit row of its own: an erasure counted in the roster).
#[allow(clippy::result_large_err)]
pub(super) fn update_roster_doc(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    make: impl Fn(&Roster) -> Result<Roster>,
    settings: Option<&omkijken_core::model::SchoolSettings>,
    audited: bool,
) -> Result<(bool, usize, Roster)> {
    let mut attempt = 1;
    loop {
        match update_roster_once(st, actor, now, school, &make, settings, audited) {
            Err(Error::Conflict) if attempt < ROSTER_ATTEMPTS => attempt += 1,
            r => return r,
        }
    }
}

/// One attempt of [`update_roster_doc`]: nothing is stored when it returns an error.
#[allow(clippy::result_large_err)]
fn update_roster_once(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    make: &impl Fn(&Roster) -> Result<Roster>,
    settings: Option<&omkijken_core::model::SchoolSettings>,
    audited: bool,
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
    // The views are written with it: it carries their mark.
    let stored = Arc::new(doc::school_settings(&am));
    doc::set_views_mark(&mut am, actor, now, &views_mark(&new, &stored))?;
    let write = roster_write(row, &am, before);
    let bump = affected(&old, &new, &rows);
    let bumped = bump.len();
    let mut docs = vec![write];
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
        audit: match audited {
            true => vec![audit(now, school, AuditAction::RosterImport)],
            false => vec![],
        },
        ..Default::default()
    })?;
    Ok((true, bumped, new))
}

/// The write of a school's roster document `am` (its catalog row `row`), changed since
/// `before`: appended, or a snapshot once it has [`ROSTER_COMPACT_AFTER`] chunks.
pub(super) fn roster_write(
    row: &CatalogRow,
    am: &Automerge,
    before: Vec<automerge::ChangeHash>,
) -> DocWrite {
    let (data, mode) = if row.chunks + 1 >= ROSTER_COMPACT_AFTER {
        (am.save(), WriteMode::Snapshot)
    } else {
        (am.save_after(&before), WriteMode::Append)
    };
    DocWrite {
        id: row.id,
        header: row.header.clone(),
        fields: AccessFields::default(),
        heads: am.get_heads(),
        data,
        mode,
        summary: None,
        base: Some(before),
    }
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
