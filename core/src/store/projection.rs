//! Projection tables, written in the same transaction as the document bytes.

use crate::Result;
use crate::doc;
use crate::ids::DocumentId;
use crate::model::{Conversation, Kind, Signal, ThermometerMonth};
use automerge::Automerge;
use rusqlite::{Connection, params};

/// Remove every projection row of a document.
pub(super) fn clear(tx: &Connection, id: DocumentId) -> Result<()> {
    let key = id.to_string();
    tx.execute("DELETE FROM conversations WHERE id = ?1", [&key])?;
    tx.execute("DELETE FROM signals WHERE id = ?1", [&key])?;
    tx.execute("DELETE FROM thermometer_entries WHERE doc_id = ?1", [&key])?;
    Ok(())
}

/// Write the projection rows of a document (after [`clear`]).
pub(super) fn project(tx: &Connection, id: DocumentId, d: &Automerge) -> Result<()> {
    let header = doc::header(id, d)?;
    let key = id.to_string();
    let pupil = header.pupil.clone().unwrap_or_default();
    match header.kind()? {
        Kind::Conversation => {
            let c: Conversation = doc::record(id, d)?;
            tx.execute(
                "INSERT INTO conversations (id, pupil, author, held_on, status, visibility, template_id, open_agreements, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    key,
                    pupil,
                    header.author,
                    c.held_on,
                    c.status().as_str(),
                    c.visibility().as_str(),
                    c.template_id,
                    c.agreements.iter().filter(|a| !a.done).count() as i64,
                    header.created_at,
                ],
            )?;
        }
        Kind::Signal => {
            let s: Signal = doc::record(id, d)?;
            tx.execute(
                "INSERT INTO signals (id, pupil, author, category, urgency, observed_at, recorded_at, shared, open, picked_up, follow_ups, excursion)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    key,
                    pupil,
                    header.author,
                    s.category,
                    s.urgency,
                    s.observed_at,
                    s.recorded_at,
                    s.shared,
                    s.is_open(),
                    s.picked_up(),
                    s.follow_ups.len() as i64,
                    s.context.excursion,
                ],
            )?;
        }
        Kind::Thermometer => {
            let t: ThermometerMonth = doc::record(id, d)?;
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO thermometer_entries (doc_id, entry_id, pupil, at, scale, score, level, wants_to_talk, recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for e in &t.entries {
                let level = crate::defaults::scale(&e.scale)
                    .map(|s| s.normalised(e.score))
                    .unwrap_or(0.5);
                stmt.execute(params![
                    key,
                    e.id,
                    pupil,
                    e.at,
                    e.scale,
                    e.score,
                    level,
                    e.wants_to_talk,
                    e.recorded_by
                ])?;
            }
        }
        Kind::Roster | Kind::Case | Kind::Excursion => {}
    }
    Ok(())
}
