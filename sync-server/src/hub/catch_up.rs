//! Catching up (`hello`: the catalog since a cursor, purges) and `fetch`.

use super::fanout::{Offer, Recipient, docs_frames, plan, same_heads, whole_doc};
use super::{ConnId, Hub, Outgoing, load_cached, readable};
use crate::Result;
use crate::storage::{Batch, CatalogRow, DeviceOutbox, StoredDoc};
use automerge::{Automerge, ChangeHash};
use omkijken_core::ids::{heads_from_hex, heads_to_hex};
use omkijken_core::sync::{CatalogEntry, DocChanges, FetchRequest, Frame, MAX_DOCS_PER_FRAME};
use omkijken_core::{Access, DocumentId, access};
use std::collections::BTreeSet;

impl Hub {
    /// `outbox`: the device's outbox as `hello` reported it (bounded), stored with the
    /// last-seen time.
    pub(super) fn hello(
        &mut self,
        now: i64,
        conn: ConnId,
        cursor: u64,
        outbox: Option<DeviceOutbox>,
    ) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        let outbox: Vec<_> = outbox.map(|o| (device.id.clone(), o)).into_iter().collect();
        if self.sessions[&conn].scope.is_some() {
            // A pupil session reads nothing: an empty catalog, complete, at cursor 0 (not
            // even how much the school wrote), and no live pushes (`recipients`).
            let _ = cursor;
            self.storage.commit(Batch {
                touch: vec![(device.id.clone(), now)],
                outbox,
                ..Default::default()
            })?;
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.live = true;
            }
            return Ok(vec![(
                conn,
                Frame::Catalog {
                    entries: vec![],
                    purge: vec![],
                    cursor: 0,
                    complete: true,
                    epoch: Some(self.epoch.clone()),
                },
            )]);
        }
        let roster = self.roster(&device.school)?;
        let last = self.storage.last_seq()?;
        // A cursor from the future (the server's store was restored from a backup): the
        // device cannot trust what it skipped, so it catches up from the start.
        let cursor = if cursor > last { 0 } else { cursor };
        let mut batch = Batch {
            touch: vec![(device.id.clone(), now)],
            outbox,
            ..Default::default()
        };
        let mut frames = vec![];
        let mut entries = vec![];
        let mut purge = vec![];
        // The school's rows since the cursor, a page at a time (memory for one page and the
        // entries to send, not for the school's catalog).
        let epoch = self.epoch.clone();
        self.storage
            .for_each_since(&device.school, cursor, &device.id, &mut |row, held| {
                let readable = !row.erased
                    && access(&roster, &device.user, &row.header, &row.fields) >= Access::Read;
                if readable {
                    // Held from now on (this also clears an earlier purge mark: the device
                    // sees the entry and fetches what it lacks).
                    batch.hold.push((device.id.clone(), row.id));
                    entries.push(CatalogEntry {
                        document_id: row.id,
                        header: row.header,
                        fields: row.fields,
                        heads: heads_to_hex(&row.heads),
                        seq: row.seq,
                    });
                } else if held {
                    // "held" means "may hold": a purge can be lost with its connection, so the
                    // row stays and the purge is repeated until access returns.
                    batch.purged.push((device.id.clone(), row.id));
                    purge.push(row.id);
                }
                if entries.len() >= MAX_DOCS_PER_FRAME || purge.len() >= MAX_DOCS_PER_FRAME {
                    frames.push(Frame::Catalog {
                        entries: std::mem::take(&mut entries),
                        purge: std::mem::take(&mut purge),
                        cursor: row.seq,
                        complete: false,
                        epoch: Some(epoch.clone()),
                    });
                }
                Ok(())
            })?;
        frames.push(Frame::Catalog {
            entries,
            purge,
            cursor: last,
            complete: true,
            epoch: Some(self.epoch.clone()),
        });
        self.storage.commit(batch)?;
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.live = true;
            s.cursor = s.cursor.max(last);
        }
        self.index_live(conn);
        Ok(frames.into_iter().map(|f| (conn, f)).collect())
    }
    // ------------------------------------------------------------------ fetch

    pub(super) fn fetch(
        &mut self,
        now: i64,
        conn: ConnId,
        reqs: Vec<FetchRequest>,
    ) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        if self.sessions[&conn].scope.is_some() {
            // A pupil session reads nothing: every document looks unknown (nothing is sent).
            return Ok(vec![(
                conn,
                Frame::Docs {
                    docs: vec![],
                    cursor: 0,
                },
            )]);
        }
        let roster = self.roster(&device.school)?;
        let ids: Vec<DocumentId> = reqs.iter().map(|r| r.document_id).collect();
        let rows = self.catalog_map(&ids)?;
        // Whole documents (a device that has none of it: a fresh pull) are read together.
        let whole: Vec<DocumentId> = reqs
            .iter()
            .filter(|r| {
                r.have.is_empty()
                    && rows
                        .get(&r.document_id)
                        .is_some_and(|row| readable(&roster, &device.user, row))
            })
            .map(|r| r.document_id)
            .collect();
        let mut stored_whole = self.storage.load_stored_many(&whole)?;
        // Each document once, in the order asked; unknown ones left out (unknown, erased and
        // unreadable look the same: the planner sends nothing for the last two).
        let mut seen = BTreeSet::new();
        let asked: Vec<(&CatalogRow, Vec<ChangeHash>)> = reqs
            .iter()
            .filter(|r| seen.insert(r.document_id))
            .filter_map(|r| {
                let row = rows.get(&r.document_id)?;
                Some((row, heads_from_hex(&r.have).unwrap_or_default()))
            })
            .collect();
        let offers: Vec<Offer<'_>> = asked.iter().map(|(row, _)| Offer::of(row)).collect();
        let recipient = [Recipient {
            conn,
            device: device.id.clone(),
            user: device.user.clone(),
        }];
        let offered: Vec<DocumentId> = offers.iter().map(|o| o.id).collect();
        let holdings = self
            .storage
            .holdings(std::slice::from_ref(&device.id), &offered)?;
        let mut batch = Batch::default();
        let mut compact = vec![];
        let cache = &mut self.cache;
        let deliveries = plan(
            self.storage.as_mut(),
            &mut batch,
            now,
            &roster,
            &recipient,
            &offers,
            &holdings,
            None,
            false,
            |st, i, _| {
                let (row, have) = &asked[i];
                let mut have_sorted = have.clone();
                have_sorted.sort();
                if have_sorted == row.heads {
                    return Ok(None);
                }
                let doc = if have.is_empty() {
                    match stored_whole.remove(&row.id) {
                        Some(stored) if row.chunks > 0 && stored.summary.is_some() => {
                            // A snapshot plus changes: saved as one document (sent so that
                            // the device need not load it) and stored so for the next device.
                            match Automerge::load(&stored.data) {
                                Ok(d) if same_heads(&d.get_heads(), &row.heads) => {
                                    let data = d.save();
                                    compact.push((row.id, row.chunks, data.clone()));
                                    let compacted = CatalogRow {
                                        chunks: 0,
                                        ..(*row).clone()
                                    };
                                    let summary = stored.summary;
                                    Some(whole_doc(&compacted, StoredDoc { data, summary }))
                                }
                                _ => Some(whole_doc(row, stored)),
                            }
                        }
                        stored => stored.map(|s| whole_doc(row, s)),
                    }
                } else {
                    load_cached(cache, st, row)?.map(|doc| {
                        let known: Vec<ChangeHash> = have
                            .iter()
                            .filter(|h| doc.get_change_meta_by_hash(h).is_some())
                            .copied()
                            .collect();
                        let data = if known.is_empty() {
                            doc.save()
                        } else {
                            doc.save_after(&known)
                        };
                        DocChanges::new(row.id, data)
                    })
                };
                Ok(doc.filter(|d| !d.data.is_empty()))
            },
        )?;
        batch.compact = compact;
        if !batch.is_empty() {
            self.storage.commit(batch)?;
        }
        // Always an answer, empty or not (the device waits for it).
        let docs = deliveries.into_iter().flat_map(|d| d.docs).collect();
        Ok(docs_frames(docs, 0)
            .into_iter()
            .map(|f| (conn, f))
            .collect())
    }
}
