//! Erasing a pupil or one record.

use super::audit;
use crate::storage::{AuditAction, Batch, CatalogRow, Storage};
use crate::{Error, Result};
use omkijken_core::{DocumentId, doc};

/// Erase every document about a pupil (retention expiry or a request): bytes and history
/// are dropped, the ids are refused from now on and every device purges them. Returns how
/// many documents were erased.
pub fn erase_pupil(st: &mut dyn Storage, now: i64, school: &str, pupil: &str) -> Result<usize> {
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
