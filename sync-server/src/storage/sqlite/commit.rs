//! The commit transaction ([`Storage::commit`](crate::storage::Storage::commit)): every part of a [`Batch`] in one
//! immediate transaction, with the audit rows' hash chain and erasure.

use super::SqliteStorage;
use super::rows::*;
use crate::storage::rows;
use crate::storage::{AuditRecord, Batch, Committed, WriteMode};
use crate::{Error, Result};
use omkijken_core::store::sql::CachedSql;
use rusqlite::{OptionalExtension, params};

/// Erase document `id` in the store attached as `db` ("main" for the store itself) at
/// catalog sequence `seq`: its bytes and history go (overwritten, as every connection runs
/// with `secure_delete`), its catalog row stays with the header and `erased = 1` (ids only),
/// so the id is refused for good. Used by [`Storage::commit`](crate::storage::Storage::commit) and by a restore that
/// re-applies erasures made after a backup.
pub(crate) fn erase_row(
    tx: &rusqlite::Connection,
    db: &str,
    id: &[u8],
    seq: i64,
) -> rusqlite::Result<()> {
    tx.execute_cached(
        &format!("DELETE FROM {db}.changes WHERE doc = ?1"),
        params![id],
    )?;
    tx.execute_cached(
        &format!("DELETE FROM {db}.snapshots WHERE doc = ?1"),
        params![id],
    )?;
    tx.execute_cached(
        &format!(
            "UPDATE {db}.catalog SET erased = 1, heads = x'', size = 0, chunks = 0, \
             visibility = NULL, urgency = NULL, category = NULL, summary = NULL, readers = NULL, \
             seq = ?2, content_seq = ?2 WHERE id = ?1"
        ),
        params![id, seq],
    )?;
    Ok(())
}

/// Insert an audit row (ignored if its device sequence is there already) and link it to the
/// row before it (see `audit_hash`): [`insert_audits`] of one.
pub(super) fn insert_audit(tx: &rusqlite::Connection, a: &AuditRecord) -> rusqlite::Result<()> {
    insert_audits(tx, std::slice::from_ref(a))
}

/// Insert audit rows in order (each ignored if its device sequence is there already), each
/// linked to the row before it (see `audit_hash`). SQLite has one writer, so rows are linked
/// in order: the last row's sequence and link are read once, and every row is inserted with
/// its sequence and link at once.
pub(super) fn insert_audits(
    tx: &rusqlite::Connection,
    rows: &[AuditRecord],
) -> rusqlite::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    // The table is AUTOINCREMENT: a sequence is never given twice, even after the row
    // that had it is gone.
    let (last, prev): (i64, Option<Vec<u8>>) = tx
        .prepare_cached(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), \
                        coalesce((SELECT max(seq) FROM audit), 0)), \
                    (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (mut seq, mut prev) = (last, crate::storage::chain_prev(prev));
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO audit (seq, at, school, device, user, action, doc, kind, pupil, \
         device_seq, device_at, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for a in rows {
        let linked = AuditRecord {
            seq: (seq + 1) as u64,
            ..a.clone()
        };
        let hash = crate::storage::audit_hash(&prev, &linked);
        let inserted = st.execute(params![
            seq + 1,
            a.at,
            a.school,
            a.device,
            a.user,
            a.action.as_str(),
            a.document.map(|d| d.as_bytes().to_vec()),
            a.kind,
            a.pupil,
            a.device_seq,
            a.device_at,
            hash.as_slice(),
        ])?;
        if inserted == 1 {
            seq += 1;
            prev = hash;
        }
    }
    Ok(())
}

impl SqliteStorage {
    /// [`Storage::commit`](crate::storage::Storage::commit): the whole batch in one immediate
    /// transaction (a savepoint of the open group, durable at its end).
    pub(super) fn commit_batch(&mut self, batch: Batch) -> Result<Committed> {
        let tx = self.begin()?;
        let prev_seq: i64 = tx.query_row_cached(
            "SELECT value FROM meta WHERE key = 'catalog_seq'",
            [],
            |r| r.get(0),
        )?;
        // Writes made from a state that is no longer the stored one: write nothing.
        for w in batch.docs.iter().filter(|w| w.base.is_some()) {
            let stored: Option<(Vec<u8>, bool)> = tx
                .prepare_cached("SELECT heads, erased FROM catalog WHERE id = ?1")?
                .query_row(params![w.id.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let current = match stored {
                None => Some(vec![]),
                Some((_, true)) => None,
                Some((heads, false)) => Some(heads_from_blob(&heads)?),
            };
            if !w.base_matches(current.as_deref()) {
                return Err(Error::Conflict);
            }
        }
        let mut seq = prev_seq;
        for s in &batch.schools {
            tx.execute_cached(
                "INSERT INTO schools (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![s.id, s.name, s.created_at],
            )?;
        }
        for w in &batch.docs {
            seq += 1;
            let id = w.id.as_bytes().as_slice();
            let size = w.data.len() as i64;
            match w.mode {
                WriteMode::Append => {
                    tx.prepare_cached("INSERT INTO changes (doc, data) VALUES (?1, ?2)")?
                        .execute(params![id, w.data])?;
                }
                WriteMode::Snapshot => {
                    tx.prepare_cached("DELETE FROM changes WHERE doc = ?1")?
                        .execute(params![id])?;
                    tx.prepare_cached(
                        "INSERT INTO snapshots (doc, data) VALUES (?1, ?2) \
                         ON CONFLICT (doc) DO UPDATE SET data = excluded.data",
                    )?
                    .execute(params![id, w.data])?;
                }
            }
            let snapshot = w.mode == WriteMode::Snapshot;
            tx.prepare_cached(
                "INSERT INTO catalog (id, school, kind, pupil, author, created_at, schema, \
                 visibility, urgency, category, heads, seq, content_seq, size, chunks, erased, \
                 summary, readers) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, 0, ?16, ?17) \
                 ON CONFLICT (id) DO UPDATE SET visibility = excluded.visibility, \
                 urgency = excluded.urgency, category = excluded.category, \
                 readers = excluded.readers, \
                 heads = excluded.heads, seq = excluded.seq, content_seq = excluded.seq, \
                 summary = excluded.summary, \
                 size = CASE WHEN ?15 THEN excluded.size ELSE catalog.size + excluded.size END, \
                 chunks = CASE WHEN ?15 THEN 0 ELSE catalog.chunks + 1 END",
            )?
            .execute(params![
                id,
                w.header.school,
                w.header.kind,
                w.header.pupil,
                w.header.author,
                w.header.created_at,
                w.header.schema as i64,
                w.fields.visibility,
                w.fields.urgency.map(i64::from),
                w.fields.category,
                rows::heads_to_bytes(&w.heads),
                seq,
                size,
                if snapshot { 0 } else { 1 },
                snapshot,
                w.summary,
                readers_to(&w.fields.readers),
            ])?;
        }
        for id in &batch.bump {
            seq += 1;
            tx.prepare_cached("UPDATE catalog SET seq = ?2 WHERE id = ?1")?
                .execute(params![id.as_bytes().as_slice(), seq])?;
        }
        for id in &batch.erase {
            seq += 1;
            erase_row(&tx, "main", id.as_bytes().as_slice(), seq)?;
        }
        for (id, chunks, snapshot) in &batch.compact {
            let idb = id.as_bytes().as_slice();
            let n = tx
                .prepare_cached(
                    "UPDATE catalog SET size = ?2, chunks = 0 \
                     WHERE id = ?1 AND chunks = ?3 AND erased = 0",
                )?
                .execute(params![idb, snapshot.len() as i64, i64::from(*chunks)])?;
            if n == 1 {
                tx.prepare_cached("DELETE FROM changes WHERE doc = ?1")?
                    .execute(params![idb])?;
                tx.prepare_cached(
                    "INSERT INTO snapshots (doc, data) VALUES (?1, ?2) \
                     ON CONFLICT (doc) DO UPDATE SET data = excluded.data",
                )?
                .execute(params![idb, snapshot])?;
            }
        }
        // The marks of a catch-up can be a whole school's rows: each statement is taken
        // from the cache once, not once a row.
        for (marks, sql) in [
            (
                &batch.hold,
                "INSERT INTO held (device, doc) VALUES (?1, ?2) \
                 ON CONFLICT (device, doc) DO UPDATE SET purged = 0 WHERE purged != 0",
            ),
            (
                &batch.purged,
                "UPDATE held SET purged = 1 WHERE device = ?1 AND doc = ?2",
            ),
            (
                &batch.unhold,
                "DELETE FROM held WHERE device = ?1 AND doc = ?2",
            ),
        ] {
            if marks.is_empty() {
                continue;
            }
            let mut st = tx.prepare_cached(sql)?;
            for (device, doc) in marks {
                st.execute(params![device, doc.as_bytes().as_slice()])?;
            }
        }
        insert_audits(&tx, &batch.audit)?;
        for e in &batch.events {
            tx.execute_cached(
                "INSERT INTO admin_events (at, kind, school, device) VALUES (?1, ?2, ?3, ?4)",
                params![e.at, e.kind.as_str(), e.school, e.device],
            )?;
        }
        for c in &batch.codes {
            tx.execute_cached(
                "INSERT INTO enrollment_codes (code_hash, school, user, created_at, expires_at, \
                 scope) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    c.code_hash.as_slice(),
                    c.school,
                    c.user,
                    c.created_at,
                    c.expires_at,
                    c.scope
                ],
            )?;
        }
        for (device, at) in &batch.revoke {
            tx.execute_cached(
                "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![device, at],
            )?;
        }
        for (device, at) in &batch.touch {
            tx.prepare_cached("UPDATE devices SET last_seen = ?2 WHERE id = ?1")?
                .execute(params![device, at])?;
        }
        for (device, o) in &batch.outbox {
            tx.prepare_cached(
                "UPDATE devices SET outbox_pending = ?2, outbox_not_accepted = ?3, \
                 outbox_oldest_at = ?4, outbox_at = ?5 WHERE id = ?1",
            )?
            .execute(params![
                device,
                o.pending as i64,
                o.not_accepted as i64,
                o.oldest_at,
                o.reported_at
            ])?;
        }
        if seq != prev_seq {
            tx.execute_cached(
                "UPDATE meta SET value = ?1 WHERE key = 'catalog_seq'",
                params![seq],
            )?;
        }
        tx.commit()?;
        if !batch.erase.is_empty() {
            // The erased pages were overwritten in the WAL; copy them into the database and
            // empty the WAL, so no older frame of the erased content stays in any file (in
            // a group: once it is committed).
            self.checkpoint_after_erasure();
        }
        Ok(Committed {
            prev_seq: prev_seq as u64,
            last_seq: seq as u64,
        })
    }
}
