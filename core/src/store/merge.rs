//! Merging what a server sent: documents decoded and merged in parallel off the writer,
//! written in one transaction with the heads the server is known to hold.

use super::{
    DocBytes, PARALLEL_FROM, Prepared, Store, Stored, decode, heads_json, loaded, not_accepted,
    purge_doc, stored_bytes, write_acked_heads, write_doc,
};
use crate::Result;
use crate::doc;
use crate::ids::DocumentId;
use automerge::{Automerge, ChangeHash, ReadDoc};
use rusqlite::Transaction;
use std::collections::HashMap;

impl Store {
    /// Merge bytes received from elsewhere (a saved document or change chunks) into a
    /// document, creating it if new. Projections follow. Returns the new heads.
    pub fn merge_bytes(&self, id: DocumentId, bytes: &[u8]) -> Result<Vec<ChangeHash>> {
        self.transact(id, |d| {
            d.load_incremental(bytes)?;
            Ok(d.get_heads())
        })
    }

    /// Merge many documents in one (durable) transaction.
    pub fn merge_many(&self, docs: &[(DocumentId, Vec<u8>)]) -> Result<()> {
        let docs: Vec<_> = docs
            .iter()
            .map(|(id, b)| (*id, b.as_slice(), None))
            .collect();
        self.merge_batch(&docs, &[], &[], true).map(|_| ())
    }

    /// Merge many documents and record acknowledged heads (see
    /// [`Store::set_acked_heads_many`]) in one transaction: a `docs` frame from the server.
    /// Stored bytes are read first; decoding, merging and summarising the documents (the
    /// Automerge work) then runs on all cores for a batch of [`PARALLEL_FROM`] or more; the
    /// writes follow in the given order, a new document inserted with its acknowledged
    /// heads. If any document does not load, nothing is written and the error is returned.
    /// The server holds all of it, so the commit does not wait for the disk (see
    /// [`Store::write_recoverable`]).
    ///
    /// A whole document not held here, sent once in the batch with [`Whole`], is stored
    /// without loading it when its bytes are exactly one document chunk whose checksum and
    /// declared heads match ([`doc::saved_heads`]): its projections come from the server's
    /// summary. That skips the Automerge load and read (about 85 of the ~110 us a fresh
    /// device spends per small signal). The server is the authority on content anyway (it
    /// checked and summarised these very heads); the document is loaded when it is first
    /// opened or changed. Anything else, or a summary of another version, takes the
    /// loading path.
    ///
    /// Acknowledged heads are recorded only where the merged document holds them all and
    /// nothing received waits for a change that is not here: such a change (sent while the
    /// device lacked an earlier one) is held back by Automerge and not stored, and recording
    /// the server's heads then would make the device believe it holds what it never got.
    /// Returns the documents left so: the caller fetches what they lack.
    pub fn merge_many_acked(
        &self,
        docs: &[Received],
        acks: &[(DocumentId, Vec<ChangeHash>)],
    ) -> Result<Vec<DocumentId>> {
        let replace: Vec<DocumentId> = docs.iter().filter(|r| r.replaces).map(|r| r.id).collect();
        let docs: Vec<_> = docs
            .iter()
            .map(|r| (r.id, r.data.as_slice(), r.whole.as_ref()))
            .collect();
        self.merge_batch(&docs, acks, &replace, false)
    }

    /// `replace`: documents whose held copy goes first, in the same transaction (see
    /// [`Received::replaces`]).
    pub(super) fn merge_batch(
        &self,
        docs: &[(DocumentId, &[u8], Option<&Whole>)],
        acks: &[(DocumentId, Vec<ChangeHash>)],
        replace: &[DocumentId],
        durable: bool,
    ) -> Result<Vec<DocumentId>> {
        let now = self.now();
        let wanted: HashMap<DocumentId, &[ChangeHash]> =
            acks.iter().map(|(id, h)| (*id, h.as_slice())).collect();
        // The same document twice in a batch: its bytes are merged together.
        let mut order: Vec<DocumentId> = Vec::with_capacity(docs.len());
        let mut bytes: HashMap<DocumentId, (Vec<&[u8]>, Option<&Whole>)> =
            HashMap::with_capacity(docs.len());
        for (id, b, whole) in docs {
            bytes
                .entry(*id)
                .and_modify(|(pieces, w)| {
                    pieces.push(b);
                    *w = None;
                })
                .or_insert_with(|| {
                    order.push(*id);
                    (vec![b], *whole)
                });
        }
        let batch = |tx: &Transaction<'_>| {
            let mut purged = false;
            for id in replace {
                not_accepted::drop_items_of(tx, *id)?;
                purged |= purge_doc(tx, *id)?;
            }
            let mut work = Vec::with_capacity(order.len());
            for id in &order {
                let (pieces, whole) = &bytes[id];
                work.push((*id, stored_bytes(tx, *id)?, pieces.as_slice(), *whole));
            }
            let merge = |(id, stored, pieces, whole)| {
                Merged::received(id, stored, pieces, whole, wanted.get(&id).copied())
            };
            let merged: Vec<_> = if work.len() >= PARALLEL_FROM {
                use rayon::prelude::*;
                work.into_par_iter().map(merge).collect()
            } else {
                work.into_iter().map(merge).collect()
            };
            // A new document takes its acknowledged heads in its insert.
            let mut acked: HashMap<DocumentId, String> =
                acks.iter().map(|(id, h)| (*id, heads_json(h))).collect();
            let mut changed = Vec::new();
            let mut lacking = Vec::new();
            for (id, m) in order.iter().zip(merged) {
                let (m, holds_acked) = m?;
                if !holds_acked && acked.remove(id).is_some() {
                    lacking.push(*id);
                }
                if let Some(m) = m {
                    let ack = acked.get(&m.id).map(String::as_str);
                    if write_doc(tx, m.id, &m.prepared, now, ack)? {
                        acked.remove(&m.id);
                    }
                    changed.push(m.id);
                }
            }
            let rest: Vec<_> = acks
                .iter()
                .filter(|(id, _)| acked.contains_key(id))
                .cloned()
                .collect();
            write_acked_heads(tx, &rest)?;
            Ok((changed, lacking, purged))
        };
        let (changed, lacking, purged) = if durable {
            self.write(batch)?
        } else {
            self.write_recoverable(batch)?
        };
        if purged {
            // As after any purge: the writer actor moves on (see `Store::writer_actor`).
            self.inner
                .epoch
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if !changed.is_empty() {
            self.after_change(&changed);
        }
        Ok(lacking)
    }
}

/// A document, or changes of one, received from a server (see [`Store::merge_many_acked`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Received {
    /// Document.
    pub id: DocumentId,
    /// Automerge bytes: a saved document or change chunks.
    pub data: Vec<u8>,
    /// What the server says `data` is, when it sends a whole document.
    pub whole: Option<Whole>,
    /// `data` is all of the document, and it replaces what this device holds of it in the
    /// same transaction instead of being merged into it: the roster of a server restored
    /// from a backup (the server writes the roster, so its copy is the roster). The device
    /// holds a roster throughout (a purge first would leave it without one until the answer
    /// came, and judge every access as none meanwhile).
    pub replaces: bool,
}

impl std::fmt::Debug for Received {
    // Never the bytes: they hold note text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("id", &self.id)
            .field("bytes", &self.data.len())
            .field("whole", &self.whole.is_some())
            .field("replaces", &self.replaces)
            .finish()
    }
}

/// What a server says of a whole document it sends: its heads and its summary at those
/// heads ([`doc::Summary::to_wire`]), which the server made when it accepted the changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// Heads of the document.
    pub heads: Vec<ChangeHash>,
    /// Its summary, wire form.
    pub summary: Vec<u8>,
}

/// A document merged with received bytes and prepared for writing: the pure part of a
/// merge, done off the writer's thread.
pub(super) struct Merged<'a> {
    id: DocumentId,
    prepared: Prepared<'a>,
}

impl<'a> Merged<'a> {
    /// Merge the received `pieces` into the stored document; `None` if they add nothing.
    /// With it: whether the merged document holds every one of `wanted` (heads the caller
    /// would record as acknowledged) and every change the pieces depend on.
    fn new(
        id: DocumentId,
        stored: Option<Stored>,
        pieces: &[&'a [u8]],
        wanted: Option<&[ChangeHash]>,
    ) -> Result<(Option<Merged<'a>>, bool)> {
        let chunks = stored.as_ref().map(|s| s.count);
        let size = stored.as_ref().map_or(0, |s| s.size);
        // One received piece that makes a new document is stored as it came, if it loads
        // strictly: bytes with anything after their valid part would load here (leniently)
        // and then never again. Otherwise the document is saved anew.
        let mut raw = None;
        let (mut doc, rest) = match (stored, pieces) {
            (Some(s), _) => (decode(s)?, pieces),
            (None, [one]) => match Automerge::load(one) {
                Ok(d) => {
                    raw = Some(*one);
                    (d, &[][..])
                }
                Err(_) => (Automerge::new(), pieces),
            },
            (None, _) => (Automerge::new(), pieces),
        };
        let before: Vec<ChangeHash> = if raw.is_some() {
            Vec::new()
        } else {
            doc.get_heads()
        };
        for piece in rest {
            doc.load_incremental(piece)?;
        }
        // Changes whose dependencies are not here are held back by Automerge (and not
        // stored): the document lacks something the sender has.
        let holds = doc.get_missing_deps(&[]).is_empty()
            && wanted.is_none_or(|w| w.iter().all(|h| doc.get_change_by_hash(h).is_some()));
        if doc.get_heads() == before {
            return Ok((None, holds));
        }
        let prepared = Prepared::new(id, &doc, &before, raw, chunks);
        loaded::put(id, prepared.heads.clone(), prepared.stored_size(size), doc);
        Ok((Some(Merged { id, prepared }), holds))
    }

    /// [`Merged::whole`] where it applies, else [`Merged::new`].
    fn received(
        id: DocumentId,
        stored: Option<Stored>,
        pieces: &[&'a [u8]],
        whole: Option<&Whole>,
        wanted: Option<&[ChangeHash]>,
    ) -> Result<(Option<Merged<'a>>, bool)> {
        if let (None, [one], Some(w)) = (&stored, pieces, whole)
            && wanted.is_none_or(|h| h.iter().all(|h| w.heads.contains(h)))
            && let Some(m) = Merged::whole(id, one, w)
        {
            return Ok((Some(m), true));
        }
        Merged::new(id, stored, pieces, wanted)
    }

    /// A whole document new here, stored as it came with the server's summary, if its bytes
    /// are one document chunk declaring exactly the heads the server gives and the summary
    /// is of this build's version; None otherwise (then it is loaded).
    fn whole(id: DocumentId, raw: &'a [u8], whole: &Whole) -> Option<Merged<'a>> {
        let mut heads = whole.heads.clone();
        heads.sort();
        if heads.is_empty() || doc::saved_heads(raw)? != heads {
            return None;
        }
        let summary = doc::Summary::from_wire(&whole.summary)?;
        let prepared = Prepared {
            heads: heads_json(&heads),
            header: Some(summary.header.clone()),
            fields_json: serde_json::to_string(&summary.fields).unwrap_or_default(),
            summary: Some(summary),
            bytes: DocBytes::Snapshot(raw.into()),
            chunks: None,
        };
        Some(Merged { id, prepared })
    }
}
