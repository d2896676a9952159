//! Erasing a pupil or one record.

use super::audit;
use crate::storage::{AuditAction, Batch, CatalogRow, Storage};
use crate::{Error, Result};
use automerge::ActorId;
use omkijken_core::model::Roster;
use omkijken_core::{DocumentId, doc};

/// Erase every document about a pupil (the privacy officer, on a request): bytes and
/// history are dropped, the ids are refused from now on and every device purges them.
/// Returns how many documents were erased.
///
/// First her count of erasures in the roster goes up (written by `actor`, the roster's
/// writer; the `erase` audit row covers it, no `roster_import` row is written), so that her
/// thermometer months start under new ids ([`doc::thermometer_id`]): a pupil still at
/// school who fills in the thermometer after the erasure, in the month it took, is recorded
/// in a new month and not refused under the erased id. Devices learn the count with the
/// purge, in their roster views. The roster is written before the erasure: should the
/// erasure fail after it, her months only move to new ids early.
pub fn erase_pupil(
    st: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
    school: &str,
    pupil: &str,
) -> Result<usize> {
    let count = |old: &Roster| {
        let mut new = old.clone();
        if let Some(p) = new.pupils.get_mut(pupil) {
            p.erasures = p.erasures.saturating_add(1);
        }
        Ok(new)
    };
    super::roster::update_roster_doc(st, actor, now, school, count, None, false)?;
    let mut ids: Vec<DocumentId> = vec![];
    st.for_each_in_school(school, &mut |r| {
        if !r.erased && r.header.pupil.as_deref() == Some(pupil) {
            ids.push(r.id);
        }
        Ok(())
    })?;
    let n = ids.len();
    let mut a = audit(now, school, AuditAction::Erase);
    a.pupil = Some(pupil.into());
    st.commit(Batch::erasure(now, school, ids, vec![a]))?;
    Ok(n)
}

/// After a restore: each pupil's count of erasures in the rosters of `to` (the restored
/// store) raised to what `from` (the store it replaced) counts, written by `actor`. An
/// erasure made after the backup is applied again by the restore; her months written since
/// have the ids after it, and the devices that hold them push them again: they are taken only
/// under the count they were written with. Returns how many schools' rosters changed.
pub fn keep_erasure_counts(
    from: &mut dyn Storage,
    to: &mut dyn Storage,
    actor: &ActorId,
    now: i64,
) -> Result<usize> {
    let mut changed = 0;
    for school in to.schools()? {
        let Ok(theirs) = super::roster::load_roster(from, &school.id) else {
            continue;
        };
        let counts: Vec<(String, u32)> = theirs
            .roster
            .pupils
            .iter()
            .filter(|(_, p)| p.erasures > 0)
            .map(|(id, p)| (id.clone(), p.erasures))
            .collect();
        if counts.is_empty() {
            continue;
        }
        let (did, _, _) = super::roster::update_roster_doc(
            to,
            actor,
            now,
            &school.id,
            |old| {
                let mut new = old.clone();
                for (id, n) in &counts {
                    if let Some(p) = new.pupils.get_mut(id) {
                        p.erasures = p.erasures.max(*n);
                    }
                }
                Ok(new)
            },
            None,
            false,
        )?;
        changed += usize::from(did);
    }
    Ok(changed)
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
        .map(|r| audit(now, school, AuditAction::Erase).about(r.id, &r.header))
        .collect();
    st.commit(Batch::erasure(
        now,
        school,
        rows.iter().map(|r| r.id).collect(),
        audit,
    ))?;
    Ok(())
}
