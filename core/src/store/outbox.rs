//! The outbox: documents with local changes a server has not acknowledged, the heads it
//! acknowledged, and what is pushed next.

use super::Store;
use super::sql::CachedSql;
use crate::Result;
use crate::ids::{self, DocumentId};
use crate::model::Kind;
use automerge::ChangeHash;
use rusqlite::{Connection, params};

impl Store {
    /// Record that a server acknowledged `heads` of a document as durable.
    pub fn set_acked_heads(&self, id: DocumentId, heads: &[ChangeHash]) -> Result<()> {
        let s = serde_json::to_string(&ids::heads_to_hex(heads)).unwrap_or_default();
        self.write(|tx| {
            tx.execute_cached(
                "UPDATE documents SET acked_heads = ?2 WHERE id = ?1",
                params![id.to_string(), s],
            )?;
            Ok(())
        })
    }

    /// Record acknowledged heads of many documents in one transaction (one fsync for a
    /// whole `ack` frame or catch-up batch).
    pub fn set_acked_heads_many(&self, acks: &[(DocumentId, Vec<ChangeHash>)]) -> Result<()> {
        if acks.is_empty() {
            return Ok(());
        }
        self.write(|tx| write_acked_heads(tx, acks))
    }

    /// Forget that a server holds these documents (its store was restored from a backup
    /// older than their acknowledgement): they return to the outbox and are sent whole.
    pub fn forget_acked(&self, ids: &[DocumentId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let mut stmt =
                tx.prepare_cached("UPDATE documents SET acked_heads = NULL WHERE id = ?1")?;
            for id in ids {
                stmt.execute(params![id.to_string()])?;
            }
            Ok(())
        })
    }

    /// Up to `limit` outbox documents to push, in one read transaction: heads, acknowledged
    /// heads, and for documents never acknowledged their stored bytes as they are (the
    /// whole document, without decoding it). `skip` leaves out documents already in flight.
    /// The roster is never pushed (the server writes it). Returns whether more are waiting.
    pub fn pushable(
        &self,
        limit: usize,
        skip: impl Fn(&DocumentId) -> bool,
    ) -> Result<(Vec<Pushable>, bool)> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, heads, acked_heads FROM documents
                 WHERE acked_heads IS NULL OR acked_heads != heads ORDER BY updated_at",
            )?;
            let mut snap = tx.prepare_cached("SELECT snapshot FROM documents WHERE id = ?1")?;
            let mut chunks =
                tx.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
            let parse_heads = |s: &str| -> Option<Vec<ChangeHash>> {
                let v: Vec<String> = serde_json::from_str(s).ok()?;
                ids::heads_from_hex(&v)
            };
            let mut out = Vec::new();
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (id, kind): (String, String) = (r.get(0)?, r.get(1)?);
                let (Ok(id), Ok(kind)) = (id.parse::<DocumentId>(), kind.parse::<Kind>()) else {
                    continue;
                };
                if kind == Kind::Roster || skip(&id) {
                    continue;
                }
                if out.len() == limit {
                    return Ok((out, true));
                }
                let heads = parse_heads(&r.get::<_, String>(2)?).unwrap_or_default();
                let acked_heads = r
                    .get::<_, Option<String>>(3)?
                    .as_deref()
                    .and_then(parse_heads);
                let raw = if acked_heads.is_none() {
                    let mut bytes: Vec<u8> = snap.query_row([id.to_string()], |r| r.get(0))?;
                    for c in chunks.query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))? {
                        bytes.extend_from_slice(&c?);
                    }
                    Some(bytes)
                } else {
                    None
                };
                out.push(Pushable {
                    id,
                    kind,
                    heads,
                    acked_heads,
                    raw,
                });
            }
            Ok((out, false))
        })
    }

    /// Counts of the outbox, for the device's report to the server (`hello`'s `outbox`):
    /// documents waiting to be pushed (the roster is never pushed), not-accepted items, and
    /// when the oldest waiting document was last changed here (unix ms, store clock).
    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.read(|tx| {
            let (pending, oldest): (i64, Option<i64>) = tx
                .prepare_cached(
                    "SELECT count(*), min(updated_at) FROM documents
                     WHERE (acked_heads IS NULL OR acked_heads != heads) AND kind != 'roster'",
                )?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let not_accepted: i64 = tx
                .prepare_cached("SELECT count(*) FROM not_accepted")?
                .query_row([], |r| r.get(0))?;
            Ok(OutboxCounts {
                pending: pending.max(0) as u64,
                not_accepted: not_accepted.max(0) as u64,
                oldest_at: oldest.filter(|_| pending > 0),
            })
        })
    }

    /// Documents whose local heads no server has acknowledged ("3 signals not sent yet").
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, pupil FROM documents
                 WHERE acked_heads IS NULL OR acked_heads != heads ORDER BY updated_at",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (id, kind, pupil) = r?;
                let (Ok(id), Ok(kind)) = (id.parse(), kind.parse()) else {
                    continue;
                };
                out.push(OutboxEntry { id, kind, pupil });
            }
            Ok(out)
        })
    }
}

/// A document whose local heads a server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Document.
    pub id: DocumentId,
    /// Kind.
    pub kind: Kind,
    /// Pupil, if bound to one.
    pub pupil: Option<String>,
}

/// The outbox in numbers (see [`Store::outbox_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Documents waiting to be pushed.
    pub pending: u64,
    /// Not-accepted items kept for their author.
    pub not_accepted: u64,
    /// When the oldest waiting document was last changed (unix ms); None when none waits.
    pub oldest_at: Option<i64>,
}

impl OutboxCounts {
    /// As reported at `now_ms` (the age of the oldest, never negative).
    pub fn report(&self, now_ms: i64) -> crate::sync::OutboxState {
        crate::sync::OutboxState {
            pending: self.pending,
            not_accepted: self.not_accepted,
            oldest_age: self
                .oldest_at
                .map(|t| now_ms.saturating_sub(t).max(0) as u64),
        }
        .clamped()
    }
}

/// A document waiting to be pushed (see [`Store::pushable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushable {
    /// Document.
    pub id: DocumentId,
    /// Kind.
    pub kind: Kind,
    /// Local heads.
    pub heads: Vec<ChangeHash>,
    /// Heads a server acknowledged, if any.
    pub acked_heads: Option<Vec<ChangeHash>>,
    /// The stored bytes, for a document never acknowledged.
    pub raw: Option<Vec<u8>>,
}

/// Heads as stored: a JSON array of sorted hex strings. Written by hand (hex needs no
/// escaping): a pull writes one a document.
pub(super) fn heads_json(heads: &[ChangeHash]) -> String {
    let hex = ids::heads_to_hex(heads);
    let mut s = String::with_capacity(2 + hex.len() * 67);
    s.push('[');
    for (i, h) in hex.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        s.push_str(h);
        s.push('"');
    }
    s.push(']');
    s
}

pub(super) fn write_acked_heads(
    tx: &Connection,
    acks: &[(DocumentId, Vec<ChangeHash>)],
) -> Result<()> {
    let mut stmt = tx.prepare_cached("UPDATE documents SET acked_heads = ?2 WHERE id = ?1")?;
    for (id, heads) in acks {
        stmt.execute(params![id.to_string(), heads_json(heads)])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_written_as_serde_json_writes_them() {
        let h = |b: u8| ChangeHash([b; 32]);
        for heads in [vec![], vec![h(7)], vec![h(9), h(1), h(200)]] {
            let want = serde_json::to_string(&ids::heads_to_hex(&heads)).unwrap();
            assert_eq!(heads_json(&heads), want);
            let back: Vec<String> = serde_json::from_str(&heads_json(&heads)).unwrap();
            assert_eq!(back, ids::heads_to_hex(&heads));
        }
    }
}
