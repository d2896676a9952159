//! Catching up: catalog pages compared with what the device holds, fetches (the roster
//! first), `docs` frames merged in one transaction each, gaps fetched again, and the cursor
//! stored once everything asked for is merged.

use super::{ClientEngine, ClientOutput, FETCH_BATCH_DOCS, SETTING_CURSOR, SETTING_EPOCH, sorted};
use crate::ids::{self, DocumentId};
use crate::model::Kind;
use crate::store::{DocumentInfo, Received, Whole};
use crate::sync::frames::{CatalogEntry, DocChanges, FetchRequest, Frame};
use crate::{Error, Result};
use automerge::{Automerge, ChangeHash};
use std::collections::HashSet;

/// A document a catalog page asks to fetch: whether it is the roster, its id, the heads the
/// device has of it (`have`) and the server's heads.
type Wanted = (bool, DocumentId, Vec<ChangeHash>, Vec<ChangeHash>);

impl ClientEngine {
    /// A catalog page: note the server store's lineage, purge what it says, acknowledge
    /// what the server holds as this device does, fetch what it holds beyond, and once the
    /// catalog is complete wait for the fetches to be merged. The first page starts the
    /// pushing.
    pub(super) fn on_catalog(
        &mut self,
        entries: Vec<CatalogEntry>,
        purge: &[DocumentId],
        cursor: u64,
        complete: bool,
        epoch: Option<String>,
        out: &mut Vec<ClientOutput>,
    ) -> Result<()> {
        if let Some(epoch) = epoch {
            self.note_epoch(epoch)?;
        }
        if let Some(listed) = self.session.restored.as_mut() {
            listed.extend(entries.iter().map(|e| e.document_id));
        }
        self.purge(purge)?;
        let (fetch, acks) = self.compare_catalog(entries)?;
        self.store.set_acked_heads_many(&acks)?;
        self.send_fetches(fetch, out);
        if complete {
            self.catalog_complete(cursor, out)?;
        }
        if !self.session.pushing {
            self.session.pushing = true;
            self.push_outbox(out)?;
        } else if self.session.restored.is_some() {
            // This page may have returned documents to the outbox.
            self.push_outbox(out)?;
        }
        self.progress(out);
        self.maybe_caught_up(out)
    }

    /// The lineage of the server's store, as the catalog gives it. Another lineage than the
    /// one the device knew: the store was restored from a backup.
    fn note_epoch(&mut self, epoch: String) -> Result<()> {
        let known = self.store.setting(SETTING_EPOCH)?;
        if self.session.restored.is_none() && known.is_some_and(|k| k != epoch) {
            tracing::warn!("the server's store was restored from a backup: checking what it holds");
            self.session.restored = Some(HashSet::new());
            // Refusals were answers of the store that is gone: none holds for
            // the restored one (a document that waited for others' changes may
            // be unknown to it now, and is sent whole again).
            self.refused.clear();
            self.waiting.clear();
            self.own_only.clear();
            self.stepwise.clear();
            self.need_whole.clear();
        }
        self.session.epoch = Some(epoch);
        Ok(())
    }

    /// Each catalog entry against the local copy: what to fetch, and what the server is
    /// now known to hold.
    #[allow(clippy::type_complexity)]
    fn compare_catalog(
        &mut self,
        entries: Vec<CatalogEntry>,
    ) -> Result<(Vec<Wanted>, Vec<(DocumentId, Vec<ChangeHash>)>)> {
        let mut fetch = Vec::new();
        let mut acks = Vec::new();
        let catalog_ids: Vec<DocumentId> = entries.iter().map(|e| e.document_id).collect();
        let held = self.store.infos(&catalog_ids)?;
        for (e, held) in entries.into_iter().zip(held) {
            let Some(server_heads) = ids::heads_from_hex(&e.heads) else {
                continue;
            };
            let server_heads = sorted(server_heads);
            let id = e.document_id;
            if self.refused.remove(&id).is_some() {
                // Listed: it changed on the server since this device last caught up
                // (or the server was restored); a refusal may not hold any more.
                self.waiting.remove(&id);
                self.own_only.remove(&id);
            }
            if let Some(have) = self.have(&e, &server_heads, held, &mut acks)? {
                let roster = e.header.kind == Kind::Roster.as_str();
                fetch.push((roster, id, have, server_heads));
            }
        }
        Ok((fetch, acks))
    }

    /// What to fetch of one catalog entry: None if nothing (and the server's heads go to
    /// `acks` when they are durable and not acknowledged yet), else the heads to fetch
    /// after (empty: the whole document).
    fn have(
        &mut self,
        e: &CatalogEntry,
        server_heads: &[ChangeHash],
        held: Option<DocumentInfo>,
        acks: &mut Vec<(DocumentId, Vec<ChangeHash>)>,
    ) -> Result<Option<Vec<ChangeHash>>> {
        let id = e.document_id;
        let Some(info) = held else {
            return Ok(Some(Vec::new()));
        };
        let local = sorted(info.heads);
        let acked = info.acked_heads.map(sorted);
        let restored = self.session.restored.is_some();
        Ok(if local == server_heads {
            // The server has exactly what we have: all of it is durable
            // (this also heals an acknowledgement lost in transit).
            if acked.as_deref() != Some(server_heads) {
                acks.push((id, server_heads.to_vec()));
            }
            None
        } else if restored && e.header.kind == Kind::Roster.as_str() {
            // The server writes the roster: its copy is the roster, and
            // what this device holds beyond it (written before the
            // restore) is dropped, not merged: replaced when the whole
            // one comes, so that the device holds a roster meanwhile.
            self.session.replace.insert(id);
            Some(Vec::new())
        } else if restored && self.contains_all(id, server_heads)? {
            // The restored server lacks what it once acknowledged:
            // send the rest again.
            acks.push((id, server_heads.to_vec()));
            None
        } else if restored {
            // Both moved, and what was acknowledged may be unknown
            // there now: the whole document, then send the rest.
            Some(Vec::new())
        } else if acked.as_ref() == Some(&local) {
            // Nothing local to send: the server is ahead.
            Some(local)
        } else if self.contains_all(id, server_heads)? {
            // We are ahead: the server's state is in ours.
            acks.push((id, server_heads.to_vec()));
            None
        } else {
            // Both moved: ask for what the server has beyond what it
            // acknowledged to us.
            Some(acked.unwrap_or_default())
        })
    }

    /// `fetch` frames for the documents wanted and not asked for yet in this session, the
    /// roster first: access and projections of the rest depend on it.
    fn send_fetches(&mut self, mut fetch: Vec<Wanted>, out: &mut Vec<ClientOutput>) {
        fetch.sort_by_key(|(roster, ..)| !*roster);
        let mut requests = Vec::with_capacity(fetch.len());
        for (_, id, have, server_heads) in fetch {
            if self
                .session
                .pending_fetch
                .insert(id, server_heads)
                .is_none()
            {
                self.session.total += 1;
                requests.push(FetchRequest {
                    document_id: id,
                    have: ids::heads_to_hex(&have),
                });
            }
        }
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(FETCH_BATCH_DOCS));
            out.push(ClientOutput::Send(Frame::Fetch { docs: requests }));
            requests = rest;
        }
    }

    /// The last catalog page: after a restore, what the server no longer lists is sent whole
    /// again; the cursor waits for the fetches to be merged.
    fn catalog_complete(&mut self, cursor: u64, out: &mut Vec<ClientOutput>) -> Result<()> {
        if let Some(listed) = self.session.restored.as_ref() {
            // Acknowledged once, not listed now: the restored server does not
            // have them (or no longer lets this user read them; it then refuses
            // the push and nothing is lost). Sent whole again.
            let lost: Vec<DocumentId> = self
                .store
                .documents()?
                .into_iter()
                .filter(|d| d.acked_heads.is_some() && !listed.contains(&d.id))
                .map(|d| d.id)
                .collect();
            self.store.forget_acked(&lost)?;
        }
        self.session.catalog_cursor = Some(cursor);
        // After the last fetch: its answer comes after all fetch answers.
        self.fetch_barrier(out);
        Ok(())
    }

    /// A `docs` frame: answers to fetches, or live pushes of what others changed.
    pub(super) fn on_docs(
        &mut self,
        docs: Vec<DocChanges>,
        cursor: u64,
        out: &mut Vec<ClientOutput>,
    ) -> Result<()> {
        let merged = self.merge_docs(docs, out)?;
        if self.session.restored.is_some() || std::mem::take(&mut self.session.retry_refused) {
            // A merged document may hold more than the restored server, or the
            // server now has what a refused one waited for: send them.
            self.push_outbox(out)?;
        }
        if merged {
            self.keep_live_cursor(cursor)?;
        }
        self.progress(out);
        self.maybe_caught_up(out)
    }

    /// A live frame's cursor covers every change up to it (the server sets it only when
    /// that holds); keep it once caught up, so the next catch-up is shorter.
    fn keep_live_cursor(&mut self, cursor: u64) -> Result<()> {
        if cursor == 0 || !self.session.caught_up || !self.session.pending_fetch.is_empty() {
            return Ok(());
        }
        let stored: u64 = self
            .store
            .setting(SETTING_CURSOR)?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if cursor > stored {
            self.store
                .set_setting(SETTING_CURSOR, Some(&cursor.to_string()))?;
        }
        Ok(())
    }

    /// Merge a `docs` frame and record what the server is known to hold of each document,
    /// in one transaction.
    /// Returns whether every document merged.
    fn merge_docs(&mut self, docs: Vec<DocChanges>, out: &mut Vec<ClientOutput>) -> Result<bool> {
        let mut acks = Vec::new();
        let mut received = Vec::with_capacity(docs.len());
        for d in docs {
            // A whole document with the server's heads and summary (see
            // `Store::merge_many_acked`); unreadable heads: merged the usual way.
            let whole = match (ids::heads_from_hex(&d.heads), d.summary) {
                (Some(heads), Some(summary)) if !heads.is_empty() => Some(Whole { heads, summary }),
                _ => None,
            };
            let pending = self.session.pending_fetch.remove(&d.document_id);
            let fetched = pending.is_some();
            if pending.is_some() {
                self.session.done += 1;
                self.stats.fetched += 1;
            } else {
                self.stats.received_live += 1;
            }
            if let Some(w) = &whole {
                // A whole document: the heads it declares are what the server holds now.
                acks.push((d.document_id, w.heads.clone()));
            } else if let Some(server_heads) = pending.filter(|h| !h.is_empty()) {
                // Answer to a fetch: the server sent everything after `have`, so the local
                // copy now holds at least the catalog's heads, which are durable there. (A
                // live push of the document may arrive first and be taken for the answer:
                // the store records these heads only if the merged copy holds them all.)
                acks.push((d.document_id, server_heads));
            } else if let Some(heads) = self.server_heads_after(d.document_id, &d.data)? {
                // Live push, or the answer to a fetch of a gap (after `have` = the
                // acknowledged heads): the server holds what it acknowledged before plus
                // these changes.
                acks.push((d.document_id, heads));
            }
            if self.refused.remove(&d.document_id).is_some() {
                // The server has more of it now (the changes of others it waited for, or the
                // document itself, unknown to it when it refused): try again once.
                self.waiting.remove(&d.document_id);
                self.own_only.remove(&d.document_id);
                self.session.retry_refused = true;
            }
            // The answer to a fetch of all of it (`have` empty) replaces it.
            let replaces = fetched && self.session.replace.remove(&d.document_id);
            received.push(Received {
                id: d.document_id,
                data: d.data,
                whole,
                replaces,
            });
        }
        let lacking = match self.store.merge_many_acked(&received, &acks) {
            Ok(lacking) => lacking,
            Err(e) => return self.merge_one_by_one(e, &received, acks),
        };
        if let Some(me) = self.store.identity()?
            && received.iter().any(|r| {
                r.id == crate::doc::roster_id(&me.school)
                    || r.id == crate::doc::roster_view_id(&me.school, &me.user)
            })
        {
            // The roster changed: not-accepted items of documents the user may no longer
            // read go.
            self.store.drop_unreadable_not_accepted()?;
        }
        if lacking.is_empty() {
            return Ok(true);
        }
        // Changes that depend on changes this device lacks (a live push that overtook the
        // answer to a fetch, or that answer lost with a connection): fetch the gap.
        self.fetch_gaps(&lacking, out)?;
        Ok(false)
    }

    /// After a batch merge failed with `e`: merge one by one and leave out what does not
    /// load, so one bad document does not block the others (nor loop the session).
    fn merge_one_by_one(
        &mut self,
        e: Error,
        received: &[Received],
        mut acks: Vec<(DocumentId, Vec<ChangeHash>)>,
    ) -> Result<bool> {
        {
            if matches!(e, Error::Revoked | Error::Sqlite(_)) {
                return Err(e);
            }
            // One bad document must not block the others (nor loop the session): merge one by
            // one and leave out what does not load.
            tracing::warn!(error = %e, "batch merge failed; merging documents one by one");
            let mut bad = HashSet::new();
            for Received {
                id, data, replaces, ..
            } in received
            {
                if *replaces {
                    self.store.purge(*id)?;
                }
                if let Err(e) = self.store.merge_bytes(*id, data) {
                    if matches!(e, Error::Revoked | Error::Sqlite(_)) {
                        return Err(e);
                    }
                    tracing::warn!(document = %id, error = %e, "document from the server does not merge");
                    bad.insert(*id);
                }
            }
            acks.retain(|(id, _)| !bad.contains(id));
            // Only heads the copy holds (see `Store::merge_many_acked`).
            let mut holds = Vec::with_capacity(acks.len());
            for (id, heads) in acks {
                if self.contains_all(id, &heads)? {
                    holds.push((id, heads));
                } else {
                    bad.insert(id);
                }
            }
            self.store.set_acked_heads_many(&holds)?;
            Ok(bad.is_empty())
        }
    }

    /// Fetch what the server holds of `ids` beyond what it acknowledged to this device:
    /// their changes merged so far depend on changes that never arrived. Until the answers
    /// are merged (or the server leaves them out: see the barrier) the catch-up is not
    /// complete and a live frame's cursor is not kept, so a lost answer is fetched again at
    /// the next connection.
    pub(super) fn fetch_gaps(
        &mut self,
        ids: &[DocumentId],
        out: &mut Vec<ClientOutput>,
    ) -> Result<()> {
        let infos = self.store.infos(ids)?;
        let mut docs = Vec::with_capacity(ids.len());
        for (id, info) in ids.iter().zip(infos) {
            let have = info.and_then(|i| i.acked_heads).unwrap_or_default();
            // Unknown heads: the answer is taken as a live push (acknowledged heads plus
            // what it carries).
            if self.session.pending_fetch.insert(*id, Vec::new()).is_none() {
                self.session.total += 1;
            }
            tracing::debug!(document = %id, "changes depend on changes not here: fetching the gap");
            docs.push(FetchRequest {
                document_id: *id,
                have: ids::heads_to_hex(&have),
            });
        }
        // The cursor kept so far may already cover these documents (a change set aside
        // returns its document to older heads than the ones the cursor was kept after): if
        // an answer is lost with its connection, the next catch-up must list them again. It
        // starts from the beginning; the cursor is kept again once the gaps are merged (a
        // complete catch-up, or a live frame after it).
        if self
            .store
            .setting(SETTING_CURSOR)?
            .is_some_and(|c| c != "0")
        {
            self.store.set_setting(SETTING_CURSOR, Some("0"))?;
        }
        // Their last fetch is this one: earlier barriers no longer tell of it.
        for (_, before) in &mut self.session.fetch_barriers {
            before.retain(|id| !ids.contains(id));
        }
        for chunk in docs.chunks(FETCH_BATCH_DOCS) {
            out.push(ClientOutput::Send(Frame::Fetch {
                docs: chunk.to_vec(),
            }));
        }
        self.fetch_barrier(out);
        Ok(())
    }

    /// Send a barrier after the fetches sent so far (see `Session::fetch_barriers`).
    pub(super) fn fetch_barrier(&mut self, out: &mut Vec<ClientOutput>) {
        if self.session.pending_fetch.is_empty() {
            return;
        }
        out.push(ClientOutput::Send(Frame::ReadLog { entries: vec![] }));
        self.session.log_inflight.push_back(None);
        let ids = self.session.pending_fetch.keys().copied().collect();
        let n = self.session.log_inflight.len();
        self.session.fetch_barriers.push((n, ids));
    }

    /// The heads the server is known to hold of `id` once it sent `data`: the heads it
    /// acknowledged to us, plus `data`. None if that cannot be worked out.
    fn server_heads_after(&self, id: DocumentId, data: &[u8]) -> Result<Option<Vec<ChangeHash>>> {
        let base = match self.store.info(id)?.and_then(|i| i.acked_heads) {
            Some(acked) => match self.store.load(id)? {
                // Nothing here beyond what the server acknowledged: the document itself is
                // that version (forking would rebuild it from its history).
                Some(d) if sorted(d.get_heads()) == sorted(acked.clone()) => d,
                Some(d) => match d.fork_at(&acked) {
                    Ok(f) => f,
                    Err(_) => return Ok(None),
                },
                None => Automerge::new(),
            },
            None => Automerge::new(),
        };
        let mut f = base;
        if f.load_incremental(data).is_err() {
            return Ok(None);
        }
        let heads = f.get_heads();
        Ok((!heads.is_empty()).then(|| sorted(heads)))
    }

    pub(super) fn maybe_caught_up(&mut self, out: &mut Vec<ClientOutput>) -> Result<()> {
        let s = &mut self.session;
        if s.caught_up || !s.pending_fetch.is_empty() {
            return Ok(());
        }
        let Some(cursor) = s.catalog_cursor else {
            return Ok(());
        };
        s.caught_up = true;
        // The roster is current now: not-accepted items of documents the user may no
        // longer read go.
        self.store.drop_unreadable_not_accepted()?;
        let s = &mut self.session;
        if let Some(epoch) = s.epoch.as_deref() {
            self.store.set_setting(SETTING_EPOCH, Some(epoch))?;
        }
        self.store
            .set_setting(SETTING_CURSOR, Some(&cursor.to_string()))?;
        out.push(ClientOutput::CaughtUp { cursor });
        Ok(())
    }
}
