//! Projection tables, written in the same transaction as the document bytes.

use crate::Result;
use crate::doc::{Summary, SummaryBody};
use crate::ids::DocumentId;
use rusqlite::types::ToSql;
use rusqlite::{Connection, params, params_from_iter};

/// What removes a document's rows from each projection table.
const CLEAR: [&str; 7] = [
    "DELETE FROM conversations WHERE id = ?1",
    "DELETE FROM signals WHERE id = ?1",
    "DELETE FROM thermometer_entries WHERE doc_id = ?1",
    "DELETE FROM cases WHERE id = ?1",
    "DELETE FROM excursions WHERE id = ?1",
    "DELETE FROM parent_contacts WHERE id = ?1",
    "DELETE FROM agreements_due WHERE doc_id = ?1",
];

/// Remove every projection row of a document.
pub(super) fn clear(tx: &Connection, id: DocumentId) -> Result<()> {
    let key = id.to_string();
    for sql in CLEAR {
        tx.prepare_cached(sql)?.execute([&key])?;
    }
    Ok(())
}

/// Insert a pupil record's row: `lead` (the document id, the pupil and the author), then
/// `values`, in the order of `sql`'s columns.
fn insert_row(
    tx: &Connection,
    sql: &str,
    lead: &[&dyn ToSql; 3],
    values: &[&dyn ToSql],
) -> Result<()> {
    tx.prepare_cached(sql)?
        .execute(params_from_iter(lead.iter().chain(values)))?;
    Ok(())
}

/// Write the projection rows of a document (after [`clear`]).
pub(super) fn project(tx: &Connection, id: DocumentId, summary: &Summary) -> Result<()> {
    let header = &summary.header;
    let key = id.to_string();
    let pupil = header.pupil.clone().unwrap_or_default();
    let lead: [&dyn ToSql; 3] = [&key, &pupil, &header.author];
    match &summary.body {
        SummaryBody::Conversation {
            held_on,
            status,
            visibility,
            template_id,
            open_agreements,
            due_agreements,
        } => {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO agreements_due (doc_id, agreement_id, pupil, owner, due)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (aid, owner, due) in due_agreements {
                stmt.execute(params![key, aid, pupil, owner, due])?;
            }
            insert_row(
                tx,
                "INSERT INTO conversations (id, pupil, author, held_on, status, visibility, template_id, open_agreements, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                &lead,
                params![
                    held_on,
                    status.as_str(),
                    visibility.as_str(),
                    template_id,
                    open_agreements,
                    header.created_at,
                ],
            )?;
        }
        SummaryBody::Signal {
            category,
            urgency,
            observed_at,
            recorded_at,
            shared,
            open,
            picked_up,
            follow_ups,
            excursion,
        } => {
            insert_row(
                tx,
                "INSERT INTO signals (id, pupil, author, category, urgency, observed_at, recorded_at, shared, open, picked_up, follow_ups, excursion)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                &lead,
                params![
                    category,
                    urgency,
                    observed_at,
                    recorded_at,
                    shared,
                    open,
                    picked_up,
                    follow_ups,
                    excursion,
                ],
            )?;
        }
        SummaryBody::Thermometer(entries) => {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO thermometer_entries (doc_id, entry_id, pupil, at, scale, score, level, wants_to_talk, recorded_by, by_pupil, answered_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for e in entries {
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
                    e.recorded_by,
                    e.by_pupil,
                    e.answered_on
                ])?;
            }
        }
        SummaryBody::Case {
            status,
            opened_at,
            step,
            signals,
            feedback_due,
            evaluation_on,
        } => {
            insert_row(
                tx,
                "INSERT INTO cases (id, pupil, author, status, opened_at, step, signals, feedback_due, evaluation_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                &lead,
                params![
                    status.as_str(),
                    opened_at,
                    step,
                    signals,
                    feedback_due,
                    evaluation_on,
                ],
            )?;
        }
        SummaryBody::Excursion {
            name,
            starts_on,
            ends_on,
            participants,
        } => {
            tx.prepare_cached(
                "INSERT INTO excursions (id, author, name, starts_on, ends_on, participants)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                key,
                header.author,
                name,
                starts_on,
                ends_on,
                participants
            ])?;
        }
        SummaryBody::ParentContact {
            held_on,
            status,
            channel,
            open_agreements,
        } => {
            insert_row(
                tx,
                "INSERT INTO parent_contacts (id, pupil, author, held_on, status, channel, open_agreements)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &lead,
                params![held_on, status.as_str(), channel, open_agreements],
            )?;
        }
        SummaryBody::Other => {}
    }
    Ok(())
}
