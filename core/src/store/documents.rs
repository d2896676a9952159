//! Documents as stored: their bytes (a snapshot plus incremental chunks, compacted now and
//! then), header, heads and info rows; reading, writing and purging one, and the roster.

use super::sql::CachedSql;
use super::{COMPACT_AFTER_CHUNKS, Identity, Store, heads_json, loaded, not_accepted, projection};
use crate::doc::{self, AccessFields};
use crate::ids::{self, DocumentId};
use crate::model::{Header, Roster};
use crate::{Error, Result};
use automerge::{Automerge, ChangeHash};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

impl Store {
    /// What the enrolled user may do for `pupil` (which buttons to show), by the roster
    /// this device holds. `NotEnrolled` before enrollment.
    pub fn pupil_permissions(&self, pupil: &str) -> Result<crate::access::PupilPermissions> {
        let me = self.require_identity()?;
        let roster = self.roster()?;
        Ok(crate::access::pupil_permissions(&roster, &me.user, pupil))
    }

    /// The school's roster as this device holds it (empty if none yet).
    pub fn roster(&self) -> Result<Arc<Roster>> {
        if let Some(r) = self
            .inner
            .roster_cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(r.clone());
        }
        let identity = self.require_identity()?;
        let roster = match self.roster_heads(&identity)? {
            // Decoded already, by this store or another in the process (the roster cache
            // holds documents by content: the same heads are the same roster).
            Some((id, heads)) => match crate::rosters::rosters().record(id, &heads) {
                Some((roster, _)) => roster,
                None => match self.load(id)? {
                    Some(d) => crate::rosters::rosters().decode(id, d)?.roster,
                    None => return Err(Error::Invalid("roster vanished".into())),
                },
            },
            None => Arc::new(Roster {
                school: identity.school.clone(),
                ..Default::default()
            }),
        };
        *self
            .inner
            .roster_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(roster.clone());
        Ok(roster)
    }

    /// Whether this store holds its roster (the user's view of it, or the school's): a
    /// store that does not (yet) cannot tell what its user may read.
    pub(crate) fn holds_roster(&self) -> Result<bool> {
        let identity = self.require_identity()?;
        Ok(self.roster_heads(&identity)?.is_some())
    }

    /// The id and heads of the roster document this device holds: its own view of the
    /// roster, else the whole roster (as [`Store::roster_doc`] finds them).
    fn roster_heads(&self, identity: &Identity) -> Result<Option<(DocumentId, Vec<ChangeHash>)>> {
        for id in [
            doc::roster_view_id(&identity.school, &identity.user),
            doc::roster_id(&identity.school),
        ] {
            let heads: Option<String> = self.read(|tx| {
                Ok(tx
                    .prepare_cached("SELECT heads FROM documents WHERE id = ?1")?
                    .query_row([id.to_string()], |r| r.get(0))
                    .optional()?)
            })?;
            if let Some(heads) = heads {
                let heads = serde_json::from_str::<Vec<String>>(&heads)
                    .ok()
                    .and_then(|h| ids::heads_from_hex(&h))
                    .ok_or_else(|| Error::Invalid("bad heads in store".into()))?;
                return Ok(Some((id, heads)));
            }
        }
        Ok(None)
    }

    /// The roster document this device holds: the user's view of the roster (what a server
    /// sends, with the school settings), or the school's whole roster where a device holds
    /// that instead (an older server); None before the first sync.
    pub(crate) fn roster_doc(
        &self,
        identity: &Identity,
    ) -> Result<Option<(DocumentId, Automerge)>> {
        for id in [
            doc::roster_view_id(&identity.school, &identity.user),
            doc::roster_id(&identity.school),
        ] {
            if let Some(d) = self.load(id)? {
                return Ok(Some((id, d)));
            }
        }
        Ok(None)
    }

    /// Run the record rules ([`crate::model::rules::admit`]) on a local change before it
    /// is committed, as the server will: the app says no before the server has to. `before`
    /// is the document before the change (None: a new one), `after` with the change.
    pub(crate) fn admit_local(
        &self,
        id: DocumentId,
        before: Option<&Automerge>,
        after: &Automerge,
    ) -> Result<()> {
        if before.is_some_and(|b| b.get_heads() == after.get_heads()) {
            return Ok(());
        }
        let me = self.require_identity()?;
        let roster = self.roster()?;
        let writer = crate::model::rules::Writer {
            roster: &roster,
            user: &me.user,
            actor: self.inner.actor.to_bytes(),
            pupil_session: None,
        };
        crate::model::rules::admit(id, before, after, &writer)?;
        Ok(())
    }

    /// Access of the enrolled user to a document.
    pub fn access_to(&self, header: &Header, fields: &AccessFields) -> Result<crate::Access> {
        let identity = self.require_identity()?;
        Ok(crate::access(
            &*self.roster()?,
            &identity.user,
            header,
            fields,
        ))
    }

    /// Load a document, or None.
    pub fn load(&self, id: DocumentId) -> Result<Option<Automerge>> {
        self.read(|tx| load_doc(tx, id))
    }

    /// The saved bytes of a document (for a fresh peer), or None.
    pub fn document_bytes(&self, id: DocumentId) -> Result<Option<Vec<u8>>> {
        Ok(self.load(id)?.map(|d| d.save()))
    }

    /// The stored bytes of a document as they are (snapshot followed by change chunks),
    /// without loading it: loadable with `Automerge::load` or `load_incremental`.
    pub fn raw_bytes(&self, id: DocumentId) -> Result<Option<Vec<u8>>> {
        self.read(|tx| {
            let snapshot: Option<Vec<u8>> = tx
                .prepare_cached("SELECT snapshot FROM documents WHERE id = ?1")?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()?;
            let Some(mut out) = snapshot else {
                return Ok(None);
            };
            let mut stmt =
                tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
            for c in stmt.query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))? {
                out.extend_from_slice(&c?);
            }
            Ok(Some(out))
        })
    }

    /// Header, access fields and heads of a document, without loading it.
    pub fn info(&self, id: DocumentId) -> Result<Option<DocumentInfo>> {
        self.read(|tx| info(tx, id))
    }

    /// [`Store::info`] of many documents in one read transaction (a catalog page): in the
    /// order of `ids`, `None` where not held.
    pub fn infos(&self, ids: &[DocumentId]) -> Result<Vec<Option<DocumentInfo>>> {
        self.read(|tx| ids.iter().map(|id| info(tx, *id)).collect())
    }

    /// All documents held, with their heads.
    pub fn documents(&self) -> Result<Vec<DocumentInfo>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, school, pupil, author, created_at, fields, heads, acked_heads FROM documents",
            )?;
            let rows = stmt.query_map([], info_row)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            Ok(out)
        })
    }

    /// Change a document inside one store transaction: load it (or start from an empty
    /// document when it is new), let `f` change it, then save the new changes, update the
    /// header and projections, all in one commit. Listeners hear of it after the commit.
    /// Returns `f`'s result.
    pub fn transact<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut Automerge) -> Result<T>,
    ) -> Result<T> {
        let (result, changed) = self.write(|tx| {
            let (mut d, size) = load_doc_sized(tx, id)?.unwrap_or_default();
            let before = d.get_heads();
            let result = f(&mut d)?;
            let changed = d.get_heads() != before;
            if changed {
                let size = save_doc(tx, id, &d, &before, self.now(), size)?;
                // The next load of this version comes from memory (see `loaded`).
                loaded::put(id, heads_json(&d.get_heads()), size, d);
            }
            Ok((result, changed))
        })?;
        if changed {
            self.after_change(&[id]);
        }
        Ok(result)
    }

    /// Remove a document and everything derived from it (access ended, or erasure),
    /// its not-accepted items included.
    pub fn purge(&self, id: DocumentId) -> Result<bool> {
        let removed = self.write(|tx| {
            not_accepted::drop_items_of(tx, id)?;
            purge_doc(tx, id)
        })?;
        if removed {
            self.inner.epoch.fetch_add(1, Ordering::SeqCst);
            self.after_change(&[id]);
        }
        Ok(removed)
    }

    /// Remove every document tied to an excursion (the trip cache wiped on return): signals
    /// recorded on it and, on the phones of the staff who went along, the excursion itself
    /// (trip roster and contact list), where the server has acknowledged them. Nothing
    /// unsent is removed, and the trip stays while a signal recorded on it waits to be
    /// sent. The organiser keeps the excursion.
    pub fn wipe_excursion_cache(&self, excursion: &str) -> Result<usize> {
        let me = self.identity()?.ok_or(Error::NotEnrolled)?;
        let ids: Vec<DocumentId> = self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT s.id FROM signals s JOIN documents d ON d.id = s.id
                 WHERE s.excursion = ?1 AND d.acked_heads = d.heads
                 UNION ALL
                 SELECT e.id FROM excursions e JOIN documents d ON d.id = e.id
                 WHERE e.id = ?1 AND d.acked_heads = d.heads AND e.author != ?2
                   AND NOT EXISTS (
                     SELECT 1 FROM signals s2 JOIN documents d2 ON d2.id = s2.id
                     WHERE s2.excursion = ?1
                       AND (d2.acked_heads IS NULL OR d2.acked_heads != d2.heads))",
            )?;
            let rows = stmt.query_map(params![excursion, me.user], |r| r.get::<_, String>(0))?;
            Ok(rows.filter_map(|r| r.ok()?.parse().ok()).collect())
        })?;
        // Not-accepted items stay: the server never had them, and they are their
        // author's to copy or discard.
        for id in &ids {
            if self.write(|tx| purge_doc(tx, *id))? {
                self.inner.epoch.fetch_add(1, Ordering::SeqCst);
                self.after_change(&[*id]);
            }
        }
        Ok(ids.len())
    }

    /// Wipe the whole store: every row is deleted, the WAL truncated and the files removed.
    /// Afterwards every call answers [`Error::Revoked`].
    pub fn wipe(&self) -> Result<()> {
        {
            let conn = self
                .inner
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !self.inner.wiped.swap(true, Ordering::SeqCst) {
                let ids: Vec<DocumentId> = conn
                    .prepare("SELECT id FROM documents")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .filter_map(|r| r.ok()?.parse().ok())
                    .collect();
                loaded::forget(&ids);
                conn.execute_batch(
                    "DELETE FROM doc_chunks; DELETE FROM documents; DELETE FROM conversations;
                     DELETE FROM signals; DELETE FROM thermometer_entries; DELETE FROM cases;
                     DELETE FROM excursions; DELETE FROM access_log; DELETE FROM meta;
                     DELETE FROM not_accepted; DELETE FROM parent_contacts;
                     DELETE FROM agreements_due;",
                )?;
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
            }
        }
        self.inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self
            .inner
            .roster_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .inner
            .identity_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.inner.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        self.after_change(&[]);
        Ok(())
    }

    /// Whether the store was wiped.
    pub fn is_wiped(&self) -> bool {
        self.inner.wiped.load(Ordering::SeqCst)
    }

    /// Rebuild every projection from the documents.
    pub fn rebuild_projections(&self) -> Result<()> {
        self.write(|tx| {
            tx.execute_batch(
                "DELETE FROM conversations; DELETE FROM signals; DELETE FROM thermometer_entries;
                 DELETE FROM cases; DELETE FROM excursions; DELETE FROM parent_contacts;
                 DELETE FROM agreements_due;",
            )?;
            let ids: Vec<String> = {
                let mut stmt = tx.prepare("SELECT id FROM documents")?;
                stmt.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for id in ids {
                let Ok(id) = id.parse::<DocumentId>() else {
                    continue;
                };
                if let Some(d) = load_doc(tx, id)?
                    && let Ok(p) = doc::summarize(id, &d)
                {
                    projection::project(tx, id, &p)?;
                }
            }
            Ok(())
        })
    }
}

/// A summary of what a document is, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInfo {
    /// Id.
    pub id: DocumentId,
    /// Header.
    pub header: Header,
    /// Access-relevant fields.
    pub fields: AccessFields,
    /// Local heads.
    pub heads: Vec<ChangeHash>,
    /// Heads last acknowledged by a server.
    pub acked_heads: Option<Vec<ChangeHash>>,
}

pub(super) fn load_doc(tx: &Connection, id: DocumentId) -> Result<Option<Automerge>> {
    Ok(load_doc_sized(tx, id)?.map(|(d, _)| d))
}

/// [`load_doc`] with the document's stored size.
pub(super) fn load_doc_sized(
    tx: &Connection,
    id: DocumentId,
) -> Result<Option<(Automerge, usize)>> {
    stored_bytes(tx, id)?
        .map(|s| {
            let size = s.size;
            decode(s).map(|d| (d, size))
        })
        .transpose()
}

/// A document's stored bytes: its snapshot and the chunks appended since, in order; or,
/// when the cache of loaded documents holds it at the row's heads, that copy instead.
pub(super) struct Stored {
    pub(super) id: DocumentId,
    pub(super) snapshot: Vec<u8>,
    pub(super) chunks: Vec<Vec<u8>>,
    /// The row's chunk count.
    pub(super) count: i64,
    /// The row's heads (JSON).
    pub(super) heads: String,
    /// The stored bytes' size.
    pub(super) size: usize,
    /// The document from the cache ([`loaded`]), if it was there.
    pub(super) cached: Option<Automerge>,
}

pub(super) fn stored_bytes(tx: &Connection, id: DocumentId) -> Result<Option<Stored>> {
    let key = id.to_string();
    let row: Option<(String, i64, i64)> = tx
        .prepare_cached(
            "SELECT heads, chunks, length(snapshot) + coalesce((SELECT sum(length(bytes)) FROM doc_chunks WHERE doc_id = ?1), 0)
             FROM documents WHERE id = ?1",
        )?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((heads, count, size)) = row else {
        return Ok(None);
    };
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if let Some((doc, _)) = loaded::get(id, &heads) {
        return Ok(Some(Stored {
            id,
            snapshot: Vec::new(),
            chunks: Vec::new(),
            count,
            heads,
            size,
            cached: Some(doc),
        }));
    }
    let snapshot: Vec<u8> = tx
        .prepare_cached("SELECT snapshot FROM documents WHERE id = ?1")?
        .query_row([&key], |r| r.get(0))?;
    let mut stmt =
        tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let chunks = stmt
        .query_map([&key], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(Stored {
        id,
        snapshot,
        chunks,
        count,
        heads,
        size,
        cached: None,
    }))
}

/// The document of `stored`: the cached copy, or decoded from the bytes (and then kept in
/// the cache under the row's heads when it loads to exactly those).
pub(super) fn decode(stored: Stored) -> Result<Automerge> {
    if let Some(d) = stored.cached {
        return Ok(d);
    }
    let mut d = if stored.snapshot.is_empty() {
        Automerge::new()
    } else {
        Automerge::load(&stored.snapshot)?
    };
    for c in &stored.chunks {
        d.load_incremental(c)?;
    }
    if heads_json(&d.get_heads()) == stored.heads {
        loaded::put(stored.id, stored.heads, stored.size, d.clone());
    }
    Ok(d)
}

/// Save what changed since `before`, update header, heads and projections. `size`: the
/// stored size before; returns the stored size after.
pub(super) fn save_doc(
    tx: &Connection,
    id: DocumentId,
    d: &Automerge,
    before: &[ChangeHash],
    now: i64,
    size: usize,
) -> Result<usize> {
    let chunks: Option<i64> = tx
        .prepare_cached("SELECT chunks FROM documents WHERE id = ?1")?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()?;
    let prepared = Prepared::new(id, d, before, None, chunks);
    write_doc(tx, id, &prepared, now, None)?;
    Ok(prepared.stored_size(size))
}

/// What a write stores of a document's bytes.
pub(super) enum DocBytes<'a> {
    /// A new or compacted snapshot (replacing the chunks).
    Snapshot(std::borrow::Cow<'a, [u8]>),
    /// One more chunk after `chunks` stored ones.
    Chunk(Vec<u8>),
}

/// Everything a write needs of a document, made from it without the database: for a batch
/// this runs on all cores, and the document is dropped there too.
pub(super) struct Prepared<'a> {
    pub(super) heads: String,
    pub(super) header: Option<Header>,
    pub(super) fields_json: String,
    pub(super) summary: Option<doc::Summary>,
    pub(super) bytes: DocBytes<'a>,
    /// Chunks stored before (none: the document is new here).
    pub(super) chunks: Option<i64>,
}

impl<'a> Prepared<'a> {
    /// The document's stored size once this is written, `before` the size before.
    pub(super) fn stored_size(&self, before: usize) -> usize {
        match &self.bytes {
            DocBytes::Snapshot(b) => b.len(),
            DocBytes::Chunk(c) => before + c.len(),
        }
    }

    pub(super) fn new(
        id: DocumentId,
        d: &Automerge,
        before: &[ChangeHash],
        raw: Option<&'a [u8]>,
        chunks: Option<i64>,
    ) -> Prepared<'a> {
        let (header, fields, summary) = match doc::summarize(id, d) {
            Ok(p) => (Some(p.header.clone()), p.fields.clone(), Some(p)),
            // Not a valid record: keep the bytes (no word is lost), skip projections.
            Err(_) => (doc::header(id, d).ok(), AccessFields::default(), None),
        };
        let bytes = match chunks {
            None => match raw {
                Some(r) if before.is_empty() => DocBytes::Snapshot(r.into()),
                _ => DocBytes::Snapshot(d.save().into()),
            },
            Some(n) if n + 1 >= COMPACT_AFTER_CHUNKS => DocBytes::Snapshot(d.save().into()),
            Some(_) => DocBytes::Chunk(d.save_after(before)),
        };
        Prepared {
            heads: heads_json(&d.get_heads()),
            header,
            fields_json: serde_json::to_string(&fields).unwrap_or_default(),
            summary,
            bytes,
            chunks,
        }
    }
}

/// Write a prepared document: its row, bytes and projections. A new document is inserted
/// with `acked` heads (JSON) if given; returns whether it was new.
pub(super) fn write_doc(
    tx: &Connection,
    id: DocumentId,
    p: &Prepared<'_>,
    now: i64,
    acked: Option<&str>,
) -> Result<bool> {
    let key = id.to_string();
    let (heads, fields_json, valid) = (&p.heads, &p.fields_json, p.summary.is_some());
    let (kind, school, pupil, author, created_at) = match &p.header {
        Some(h) => (
            h.kind.as_str(),
            h.school.as_str(),
            h.pupil.as_deref(),
            h.author.as_str(),
            h.created_at,
        ),
        None => ("", "", None, "", 0),
    };
    match (&p.bytes, p.chunks) {
        (DocBytes::Snapshot(snapshot), None) => {
            tx.prepare_cached(
                "INSERT INTO documents (id, kind, school, pupil, author, created_at, fields, snapshot, chunks, heads, updated_at, valid, acked_heads)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![key, kind, school, pupil, author, created_at, fields_json, snapshot.as_ref(), heads, now, valid, acked])?;
        }
        (DocBytes::Snapshot(snapshot), Some(_)) => {
            tx.execute_cached("DELETE FROM doc_chunks WHERE doc_id = ?1", [&key])?;
            tx.execute_cached(
                "UPDATE documents SET kind=?2, school=?3, pupil=?4, author=?5, created_at=?6, fields=?7,
                 snapshot=?8, chunks=0, heads=?9, updated_at=?10, valid=?11 WHERE id = ?1",
                params![key, kind, school, pupil, author, created_at, fields_json, snapshot.as_ref(), heads, now, valid],
            )?;
        }
        (DocBytes::Chunk(chunk), n) => {
            let n = n.unwrap_or(0);
            tx.prepare_cached("INSERT INTO doc_chunks (doc_id, seq, bytes) VALUES (?1, ?2, ?3)")?
                .execute(params![key, n + 1, chunk])?;
            tx.execute_cached(
                "UPDATE documents SET kind=?2, school=?3, pupil=?4, author=?5, created_at=?6, fields=?7,
                 chunks=?8, heads=?9, updated_at=?10, valid=?11 WHERE id = ?1",
                params![key, kind, school, pupil, author, created_at, fields_json, n + 1, heads, now, valid],
            )?;
        }
    }
    if p.chunks.is_some() {
        projection::clear(tx, id)?;
    }
    if let Some(summary) = &p.summary {
        projection::project(tx, id, summary)?;
    }
    Ok(p.chunks.is_none())
}

pub(super) fn purge_doc(tx: &Connection, id: DocumentId) -> Result<bool> {
    loaded::forget(&[id]);
    let key = id.to_string();
    projection::clear(tx, id)?;
    tx.execute_cached("DELETE FROM doc_chunks WHERE doc_id = ?1", [&key])?;
    let n = tx.execute_cached("DELETE FROM documents WHERE id = ?1", [&key])?;
    Ok(n > 0)
}

pub(super) fn info(tx: &Connection, id: DocumentId) -> Result<Option<DocumentInfo>> {
    tx.prepare_cached(
        "SELECT id, kind, school, pupil, author, created_at, fields, heads, acked_heads FROM documents WHERE id = ?1",
    )?
    .query_row([id.to_string()], info_row)
    .optional()?
    .transpose()
}

pub(super) fn info_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<DocumentInfo>> {
    let id: String = r.get(0)?;
    let header = Header {
        kind: r.get(1)?,
        school: r.get(2)?,
        pupil: r.get(3)?,
        author: r.get(4)?,
        created_at: r.get(5)?,
        schema: crate::model::SCHEMA_VERSION,
    };
    let fields: String = r.get(6)?;
    let heads: String = r.get(7)?;
    let acked: Option<String> = r.get(8)?;
    let parse_heads = |s: &str| -> Option<Vec<ChangeHash>> {
        let v: Vec<String> = serde_json::from_str(s).ok()?;
        ids::heads_from_hex(&v)
    };
    Ok((|| {
        Ok(DocumentInfo {
            id: id
                .parse()
                .map_err(|_| Error::Invalid("bad id in store".into()))?,
            header,
            fields: serde_json::from_str(&fields).unwrap_or_default(),
            heads: parse_heads(&heads).unwrap_or_default(),
            acked_heads: acked.as_deref().and_then(parse_heads),
        })
    })())
}
