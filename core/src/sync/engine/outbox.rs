//! Pushing: the outbox in `push` frames within the window, whole or after the acknowledged
//! heads, this device's own changes only, or one change at a time; and the acknowledgements
//! that take documents out of the outbox.

use super::{
    ClientEngine, ClientOutput, PUSH_BATCH_BYTES, PUSH_BATCH_DOCS, PUSH_WINDOW_DOCS, Pushed, sorted,
};
use crate::Result;
use crate::ids::{self, DocumentId};
use crate::model::Kind;
use crate::sync::frames::{Acked, DocChanges, Frame, MAX_DOC_BYTES, RefusalReason};
use automerge::{ChangeHash, ReadDoc};
use std::collections::HashSet;

/// The `push` frame being filled (its documents and their bytes), and how many documents
/// went into frames in this round (its and the ones sent before).
#[derive(Default)]
struct PushBatch {
    docs: Vec<DocChanges>,
    bytes: usize,
    added: usize,
}

impl PushBatch {
    fn add(&mut self, id: DocumentId, data: Vec<u8>) {
        self.bytes += data.len();
        self.docs.push(DocChanges::new(id, data));
        self.added += 1;
    }
}

impl ClientEngine {
    /// An `ack` frame: the pushed heads are durable on the server, and the documents leave
    /// the outbox.
    pub(super) fn on_ack(&mut self, docs: Vec<Acked>, out: &mut Vec<ClientOutput>) -> Result<()> {
        let mut acks = Vec::new();
        // Answers that acknowledge less than the push in flight (see below).
        let mut partial = Vec::new();
        let mut gaps = Vec::new();
        for a in docs {
            let Some(p) = self.session.inflight.get(&a.document_id) else {
                // No push of it in flight any more: a purge crossed the push (access moved
                // away and came back while the push was on its way), and the document
                // returned at the server's older version. The server took the push: if the
                // copy here lacks what it acknowledges, fetch the gap, or the device would
                // hold the older version for good, believing it in sync.
                if let Some(h) = ids::heads_from_hex(&a.heads)
                    && self.store.info(a.document_id)?.is_some()
                    && !self.contains_all(a.document_id, &h)?
                {
                    gaps.push(a.document_id);
                }
                continue;
            };
            if !self.ack_covers(a.document_id, &a.heads, &p.heads)? {
                // An answer to an earlier push of this document (a push that reached
                // the server twice is answered twice), or the answer to a push that left
                // out changes the server was believed to hold and does not (a server
                // restored from a backup, before its catalog listed the document): no
                // other answer comes then. The server holds what it acknowledges, and
                // every head of it is here (`ack_covers` is true otherwise): take that as
                // acknowledged and send the rest again, or the push could wait for an
                // answer for good. After a duplicate, that sends the rest once more; the
                // answer that then comes for the push finds the new one in flight, with
                // the same heads.
                if let Some(h) = ids::heads_from_hex(&a.heads) {
                    self.session.inflight.remove(&a.document_id);
                    partial.push((a.document_id, sorted(h)));
                }
                continue;
            }
            // After a push of its own changes only, the server may hold more than
            // what was pushed (others' changes it got meanwhile): take its heads when
            // this device has them all, so the next push starts there.
            let own_only = self.own_only.remove(&a.document_id);
            let stepwise = self.stepwise.contains_key(&a.document_id);
            let heads = match ids::heads_from_hex(&a.heads) {
                Some(h) if own_only || stepwise => {
                    if self.contains_all(a.document_id, &h)? {
                        sorted(h)
                    } else {
                        p.heads.clone()
                    }
                }
                _ => p.heads.clone(),
            };
            if stepwise
                && self
                    .store
                    .info(a.document_id)?
                    .is_some_and(|i| sorted(i.heads) == heads)
            {
                // Everything got in: no more one at a time.
                self.stepwise.remove(&a.document_id);
            }
            self.session.inflight.remove(&a.document_id);
            self.need_whole.remove(&a.document_id);
            self.refused.remove(&a.document_id);
            acks.push((a.document_id, heads));
        }
        self.store.set_acked_heads_many(&acks)?;
        self.store.set_acked_heads_many(&partial)?;
        if self.is_pupil_session()? {
            self.forget_sent(&acks)?;
        }
        if !gaps.is_empty() {
            self.fetch_gaps(&gaps, out)?;
        }
        self.stats.pushed += acks.len() as u64;
        self.session.done += acks.len() as u64;
        self.push_outbox(out)?;
        self.progress(out);
        Ok(())
    }

    /// Whether an acknowledgement with the server's heads `ack` covers the heads this device
    /// pushed: they are among the server's heads (the usual case, no load), or the server's
    /// heads are all known here and include them. When the server's heads hold changes this
    /// device lacks and not the pushed heads themselves, the server merged ours under
    /// others' (it had them already): that counts. Over one connection frames stay in order
    /// and every push gets one answer, so only a push that reached the server twice can be
    /// answered by a stale acknowledgement; this keeps such an answer from marking later
    /// changes as held by the server.
    fn ack_covers(&self, id: DocumentId, ack: &[String], pushed: &[ChangeHash]) -> Result<bool> {
        let Some(ack) = ids::heads_from_hex(ack) else {
            return Ok(false);
        };
        if pushed.iter().all(|h| ack.contains(h)) {
            return Ok(true);
        }
        let Some(doc) = self.store.load(id)? else {
            return Ok(false);
        };
        if ack.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            return Ok(true);
        }
        Ok(match doc.fork_at(&ack) {
            Ok(fork) => pushed.iter().all(|h| fork.get_change_by_hash(h).is_some()),
            Err(_) => false,
        })
    }

    /// Push what the outbox holds and is not in flight, refused, or over the window.
    pub(super) fn push_outbox(&mut self, out: &mut Vec<ClientOutput>) -> Result<()> {
        if !self.session.connected || !self.session.pushing {
            return Ok(());
        }
        let room = PUSH_WINDOW_DOCS.saturating_sub(self.session.inflight.len());
        self.session.more_to_push = false;
        let mut batch = PushBatch::default();
        // Refused for good without asking the server again (too large to send, or nothing
        // left to send one change at a time).
        let mut too_large = Vec::new();
        let (candidates, more) = {
            let inflight = &self.session.inflight;
            let refused = &self.refused;
            // Refused documents wait until they change locally; they are filtered below, so
            // ask for enough rows to fill the window anyway.
            self.store
                .pushable(room + refused.len(), |id| inflight.contains_key(id))?
        };
        if more {
            self.session.more_to_push = true;
        }
        for p in candidates {
            let id = p.id;
            let heads = sorted(p.heads);
            if self.refused.get(&id).is_some_and(|h| *h == heads) {
                continue;
            }
            if batch.added == room {
                self.session.more_to_push = true;
                break;
            }
            if let Some(&reason) = self.stepwise.get(&id) {
                match self.own_changes(id, p.acked_heads.as_deref(), true)? {
                    Some((data, pushed)) => {
                        batch.add(id, data);
                        self.in_flight(id, pushed, false);
                        continue;
                    }
                    // Nothing to send one at a time (the acknowledged heads are not all
                    // here): set aside as refused, rather than sending the same again.
                    None => {
                        self.stepwise.remove(&id);
                        too_large.push((id, reason));
                        continue;
                    }
                }
            }
            if self.own_only.contains(&id) {
                match self.own_changes(id, p.acked_heads.as_deref(), false)? {
                    Some((data, pushed)) => {
                        batch.add(id, data);
                        self.in_flight(id, pushed, false);
                    }
                    None => {
                        // Nothing of its own the server can take yet: wait for the others
                        // (reported once, like any refusal).
                        self.refused.insert(id, heads);
                        if self.waiting.insert(id) {
                            self.stats.refused += 1;
                            tracing::warn!(document = %id, "document holds changes of others the server does not have");
                            out.push(ClientOutput::Refused {
                                document_id: id,
                                reason: RefusalReason::ForgedActor,
                            });
                        }
                    }
                }
                continue;
            }
            let whole = self.need_whole.contains(&id) || p.acked_heads.is_none();
            let data = match (&p.acked_heads, p.raw, whole) {
                (Some(acked), _, false) => match self.store.load(id)? {
                    Some(doc) => doc.save_after(acked),
                    None => continue,
                },
                // The whole document: its stored bytes as they are (no decode, no encode).
                (_, Some(raw), _) => raw,
                _ => match self.store.raw_bytes(id)? {
                    Some(raw) => raw,
                    None => continue,
                },
            };
            if data.len() > MAX_DOC_BYTES {
                // The server would refuse it for good: as if it had.
                self.stats.refused += 1;
                tracing::warn!(document = %id, "document too large to send");
                out.push(ClientOutput::Refused {
                    document_id: id,
                    reason: RefusalReason::TooLarge,
                });
                too_large.push((id, RefusalReason::TooLarge));
                continue;
            }
            if !batch.docs.is_empty()
                && (batch.docs.len() == PUSH_BATCH_DOCS
                    || batch.bytes + data.len() > PUSH_BATCH_BYTES)
            {
                out.push(ClientOutput::Send(Frame::Push {
                    docs: std::mem::take(&mut batch.docs),
                }));
                batch.bytes = 0;
            }
            batch.add(id, data);
            self.in_flight(id, heads, whole);
        }
        if !batch.docs.is_empty() {
            out.push(ClientOutput::Send(Frame::Push { docs: batch.docs }));
        }
        self.set_aside(&too_large, out)?;
        Ok(())
    }

    /// This device's changes of `id` beyond what the server holds (`acked`, if known here)
    /// that depend only on what the server holds or on each other (with `first_only`: the
    /// first change beyond it, of anyone), as change bytes, and the heads the server will
    /// then hold. None if there are none.
    fn own_changes(
        &self,
        id: DocumentId,
        acked: Option<&[ChangeHash]>,
        first_only: bool,
    ) -> Result<Option<(Vec<u8>, Vec<ChangeHash>)>> {
        let Some(doc) = self.store.load(id)? else {
            return Ok(None);
        };
        let base: Vec<ChangeHash> = acked
            .filter(|h| h.iter().all(|h| doc.get_change_by_hash(h).is_some()))
            .map(<[ChangeHash]>::to_vec)
            .unwrap_or_default();
        // Own: the registered device actor or a session actor extending it (the server's
        // authorship rule); the shared genesis change of a thermometer month or a signal's
        // notes counts as own.
        let me = self.store.actor().to_bytes().to_vec();
        let shared_genesis = self
            .store
            .info(id)?
            .is_some_and(|i| Kind::name_has_shared_genesis(&i.header.kind));
        let own = |c: &automerge::Change| {
            let a = c.actor_id().to_bytes();
            (a.starts_with(&me) && a.len() <= 32) || (shared_genesis && c.deps().is_empty())
        };
        // In causal order: a change is taken when its dependencies are held by the server
        // (in the history of `base`) or taken before it.
        let mut taken: Vec<&automerge::Change> = Vec::new();
        let mut taken_hashes: HashSet<ChangeHash> = HashSet::new();
        let changes = doc.get_changes(&base);
        let beyond: HashSet<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
        for c in &changes {
            // One at a time (finding the refused change): the first in causal order, of
            // whoever made it (the server answers one it has already as unchanged).
            if !first_only && !own(c) {
                continue;
            }
            let ready = c
                .deps()
                .iter()
                .all(|d| taken_hashes.contains(d) || !beyond.contains(d));
            if ready {
                taken_hashes.insert(c.hash());
                taken.push(c);
                if first_only {
                    break;
                }
            }
        }
        if taken.is_empty() {
            return Ok(None);
        }
        let mut data = Vec::new();
        for c in &taken {
            data.extend_from_slice(c.raw_bytes());
        }
        // Heads afterwards: the server's heads and the taken changes, less what a taken
        // change depends on.
        let covered: HashSet<ChangeHash> = taken.iter().flat_map(|c| c.deps().to_vec()).collect();
        let mut heads: Vec<ChangeHash> = base
            .iter()
            .copied()
            .chain(taken_hashes.iter().copied())
            .filter(|h| !covered.contains(h))
            .collect();
        heads.sort();
        heads.dedup();
        Ok(Some((data, heads)))
    }

    /// Whether the store is a pupil session's (write-only; see `store::pupil_session`):
    /// read from the store at the first ack only, not on every one.
    pub(super) fn is_pupil_session(&mut self) -> Result<bool> {
        if let Some(known) = self.pupil_session {
            return Ok(known);
        }
        let known = self
            .store
            .setting(crate::store::pupil_session::SETTING_PUPIL_SESSION)?
            .is_some();
        self.pupil_session = Some(known);
        Ok(known)
    }

    /// A pupil session keeps no reading the server has: each document whose every change
    /// was acknowledged leaves the session's store at once (a pupil session shows nothing,
    /// so what it holds is only what waits to be sent; an erasure on the server then has
    /// nothing to reach on it). Writing the same month again later starts from its genesis
    /// with a fresh actor suffix (the purge moves it), so no sequence number repeats.
    fn forget_sent(&mut self, acks: &[(DocumentId, Vec<ChangeHash>)]) -> Result<()> {
        for (id, heads) in acks {
            let sent = self
                .store
                .info(*id)?
                .is_some_and(|i| sorted(i.heads) == *heads);
            if sent {
                self.store.purge(*id)?;
            }
        }
        Ok(())
    }

    /// Count `id` as pushed (up to `heads`, whole or not) and unanswered.
    fn in_flight(&mut self, id: DocumentId, heads: Vec<ChangeHash>, whole: bool) {
        self.session.inflight.insert(id, Pushed { heads, whole });
        self.session.total += 1;
    }
}
