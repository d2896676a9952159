//! Projection tables, written in the same transaction as the document bytes.

use crate::Result;
use crate::doc::{Body, Parsed};
use crate::ids::DocumentId;
use rusqlite::{Connection, params};

/// Remove every projection row of a document.
pub(super) fn clear(tx: &Connection, id: DocumentId) -> Result<()> {
    let key = id.to_string();
    tx.prepare_cached("DELETE FROM conversations WHERE id = ?1")?
        .execute([&key])?;
    tx.prepare_cached("DELETE FROM signals WHERE id = ?1")?
        .execute([&key])?;
    tx.prepare_cached("DELETE FROM thermometer_entries WHERE doc_id = ?1")?
        .execute([&key])?;
    Ok(())
}

/// Write the projection rows of a document (after [`clear`]).
pub(super) fn project(tx: &Connection, id: DocumentId, parsed: &Parsed) -> Result<()> {
    let header = &parsed.header;
    let key = id.to_string();
    let pupil = header.pupil.clone().unwrap_or_default();
    match &parsed.body {
        Body::Conversation(c) => {
            tx.prepare_cached(
                "INSERT INTO conversations (id, pupil, author, held_on, status, visibility, template_id, open_agreements, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                    key,
                    pupil,
                    header.author,
                    c.held_on,
                    c.status().as_str(),
                    c.visibility().as_str(),
                    c.template_id,
                    c.agreements.iter().filter(|a| !a.done).count() as i64,
                    header.created_at,
                ])?;
        }
        Body::Signal(s) => {
            tx.prepare_cached(
                "INSERT INTO signals (id, pupil, author, category, urgency, observed_at, recorded_at, shared, open, picked_up, follow_ups, excursion)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
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
                ])?;
        }
        Body::Thermometer(t) => {
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
        Body::Roster(_) | Body::Other => {}
    }
    Ok(())
}
