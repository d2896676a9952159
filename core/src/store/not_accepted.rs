//! Changes the server refused for good, kept for their author ("not accepted").
//!
//! When the server refuses a document's changes for a reason that will not go away by
//! sending them again (`invalid_record`, `forbidden` for a document the user may still
//! read, `too_large`, `malformed`), the device must neither drop the words nor keep a copy
//! that differs from the server's for good. So, in one transaction, the store keeps the
//! document as the device had it as a "not accepted" item with the reason, and returns the
//! document to what the server holds: its acknowledged heads (the changes beyond them are
//! dropped), or nothing at all when the server never held it. The sync engine then fetches
//! what the server has beyond that. The user sees the item, copies what she wants into a new
//! entry, and discards it.
//!
//! An item lives as long as its author keeps it, except that it goes when its document
//! goes for access reasons (purged because the user may no longer read it, or erased) or
//! when the roster no longer lets the user read such a document: a device holds nothing its
//! user may not read.

use super::sql::CachedSql;
use super::{DocBytes, Prepared, Store, load_doc, purge_doc, write_doc};
use crate::access::Access;
use crate::doc::{self, AccessFields, Body};
use crate::ids::DocumentId;
use crate::model::{Header, Kind};
use crate::sync::frames::RefusalReason;
use crate::{Error, Result};
use automerge::{Automerge, ChangeHash, ReadDoc};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::atomic::Ordering;

/// A change of this device that the server refused for good, kept for its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAccepted {
    /// The item's id (for [`Store::not_accepted_content`] and
    /// [`Store::discard_not_accepted`]).
    pub id: i64,
    /// The document whose changes were refused.
    pub document_id: DocumentId,
    /// Its kind.
    pub kind: Kind,
    /// The pupil it is about, if any.
    pub pupil: Option<String>,
    /// Why the server refused it.
    pub reason: RefusalReason,
    /// When the refusal arrived (unix ms, device clock).
    pub refused_at: i64,
}

/// The record of a not-accepted item (see [`Store::not_accepted_content`]).
#[derive(Debug, Clone)]
pub struct NotAcceptedRecord {
    /// The document it is of.
    pub document_id: DocumentId,
    /// The record as the device had it when it was refused.
    pub body: Body,
}

/// What [`Store::set_aside_refused`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// The new item.
    pub item: i64,
    /// The heads the document is back at (what the server acknowledged); empty when the
    /// document was removed because the server never held it.
    pub heads: Vec<ChangeHash>,
}

fn reason_name(r: RefusalReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn reason_from(s: &str) -> Option<RefusalReason> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

impl Store {
    /// Keep document `id` as this device has it as a "not accepted" item with `reason`, and
    /// return the document to what the server acknowledged (see the module docs), in one
    /// transaction. Later writes use a fresh actor suffix, so no sequence number of a
    /// dropped change is used again. None if the document is not held.
    pub fn set_aside_refused(
        &self,
        id: DocumentId,
        reason: RefusalReason,
    ) -> Result<Option<SetAside>> {
        let now = self.now();
        let done = self.write(|tx| {
            let Some(d) = load_doc(tx, id)? else {
                return Ok(None);
            };
            let Some(info) = super::info(tx, id)? else {
                return Ok(None);
            };
            let content = d.save();
            let acked = info
                .acked_heads
                .filter(|h| !h.is_empty() && h.iter().all(|h| d.get_change_by_hash(h).is_some()));
            let heads = match acked {
                Some(acked) => {
                    let back = d.fork_at(&acked)?;
                    let chunks: i64 = tx
                        .prepare_cached("SELECT chunks FROM documents WHERE id = ?1")?
                        .query_row([id.to_string()], |r| r.get(0))?;
                    let mut prepared = Prepared::new(id, &back, &[], None, Some(chunks));
                    // One snapshot of the server's version replaces what was stored.
                    prepared.bytes = DocBytes::Snapshot(back.save().into());
                    write_doc(tx, id, &prepared, now, None)?;
                    back.get_heads()
                }
                None => {
                    purge_doc(tx, id)?;
                    Vec::new()
                }
            };
            tx.prepare_cached(
                "INSERT INTO not_accepted (doc_id, kind, pupil, header, fields, reason, refused_at, content)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id.to_string(),
                info.header.kind,
                info.header.pupil,
                serde_json::to_string(&info.header).unwrap_or_default(),
                serde_json::to_string(&info.fields).unwrap_or_default(),
                reason_name(reason),
                now,
                content,
            ])?;
            Ok(Some(SetAside {
                item: tx.last_insert_rowid(),
                heads,
            }))
        })?;
        if done.is_some() {
            self.inner.epoch.fetch_add(1, Ordering::SeqCst);
            self.after_change(&[id]);
        }
        Ok(done)
    }

    /// Changes of this device the server refused for good, oldest first ("not accepted":
    /// show them to the user with the reason; see [`Store::not_accepted_content`]).
    pub fn not_accepted(&self) -> Result<Vec<NotAccepted>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, doc_id, kind, pupil, reason, refused_at FROM not_accepted ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (id, doc, kind, pupil, reason, refused_at) = r?;
                let (Ok(document_id), Ok(kind), Some(reason)) =
                    (doc.parse(), kind.parse(), reason_from(&reason))
                else {
                    continue;
                };
                out.push(NotAccepted {
                    id,
                    document_id,
                    kind,
                    pupil,
                    reason,
                    refused_at,
                });
            }
            Ok(out)
        })
    }

    /// The record of a not-accepted item as the device had it when it was refused (care
    /// content: the offline lease applies and the read is logged). `NotFound` if there is
    /// no such item.
    pub fn not_accepted_content(&self, item: i64) -> Result<NotAcceptedRecord> {
        self.unlocked_identity()?;
        let (doc_id, kind, content) = self
            .read(|tx| {
                Ok(tx
                    .query_row(
                        "SELECT doc_id, kind, content FROM not_accepted WHERE id = ?1",
                        [item],
                        |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, Vec<u8>>(2)?,
                            ))
                        },
                    )
                    .optional()?)
            })?
            .ok_or(Error::NotFound)?;
        let id: DocumentId = doc_id.parse().map_err(|_| Error::NotFound)?;
        let kind: Kind = kind.parse()?;
        let d = Automerge::load(&content)?;
        let body = doc::parse(id, &d)?.body;
        self.log_read(id, kind)?;
        Ok(NotAcceptedRecord {
            document_id: id,
            body,
        })
    }

    /// The header and access fields of a not-accepted item's document (who it is about and
    /// who may read it), or None if there is no such item.
    pub fn not_accepted_header(&self, item: i64) -> Result<Option<(Header, AccessFields)>> {
        let row: Option<(String, String)> = self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT header, fields FROM not_accepted WHERE id = ?1",
                    [item],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })?;
        Ok(row.and_then(|(h, f)| {
            Some((
                serde_json::from_str(&h).ok()?,
                serde_json::from_str(&f).ok()?,
            ))
        }))
    }

    /// Discard a not-accepted item (the user copied what she wanted, or lets it go).
    /// `NotFound` if there is no such item.
    pub fn discard_not_accepted(&self, item: i64) -> Result<()> {
        let n = self
            .write(|tx| Ok(tx.execute_cached("DELETE FROM not_accepted WHERE id = ?1", [item])?))?;
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Remove the not-accepted items of documents the user may no longer read by the
    /// roster this device holds (run after the roster changed). Returns how many.
    pub fn drop_unreadable_not_accepted(&self) -> Result<usize> {
        let items: Vec<(i64, String, String)> = self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT id, header, fields FROM not_accepted")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut gone = Vec::new();
        for (item, header, fields) in items {
            let readable = match (
                serde_json::from_str::<Header>(&header),
                serde_json::from_str::<AccessFields>(&fields),
            ) {
                (Ok(h), Ok(f)) => self.access_to(&h, &f)? >= Access::Read,
                _ => false,
            };
            if !readable {
                gone.push(item);
            }
        }
        if !gone.is_empty() {
            self.write(|tx| {
                for item in &gone {
                    tx.execute_cached("DELETE FROM not_accepted WHERE id = ?1", [item])?;
                }
                Ok(())
            })?;
        }
        Ok(gone.len())
    }
}

/// Remove the not-accepted items of a document (it was purged because the user may no
/// longer read it, or erased).
pub(super) fn drop_items_of(tx: &Connection, id: DocumentId) -> Result<()> {
    tx.execute_cached(
        "DELETE FROM not_accepted WHERE doc_id = ?1",
        [id.to_string()],
    )?;
    Ok(())
}
