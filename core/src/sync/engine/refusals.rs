//! What a refused push becomes: pushed again whole, with this device's own changes only,
//! or one change at a time; kept aside as a not-accepted item when refused for good (the
//! document returned to the server's version); purged when the user may no longer read it
//! or it was erased; or waiting until the server has what it builds on.

use super::{ClientEngine, ClientOutput, Pushed};
use crate::Result;
use crate::access::Access;
use crate::ids::DocumentId;
use crate::model::Kind;
use crate::sync::frames::{Refusal, RefusalReason};
use automerge::{ChangeHash, ReadDoc};

impl ClientEngine {
    /// A `refused` frame: each refusal of a push in flight, reported once it is settled.
    pub(super) fn on_refused(
        &mut self,
        docs: Vec<Refusal>,
        out: &mut Vec<ClientOutput>,
    ) -> Result<()> {
        let mut set_aside = Vec::new();
        for r in docs {
            let Some(p) = self.session.inflight.remove(&r.document_id) else {
                continue;
            };
            self.session.done += 1;
            if self.push_again_otherwise(&r, &p)? {
                continue;
            }
            let id = r.document_id;
            let reason = match (r.reason, self.stepwise.get(&id)) {
                // A single change that now lacks what it builds on: give up going
                // one at a time, for the reason that started it.
                (RefusalReason::MissingDeps, Some(&first)) => first,
                (reason, _) => reason,
            };
            self.stats.refused += 1;
            if self.settle(id, reason, p)? {
                set_aside.push((id, reason));
            }
            tracing::warn!(document = %id, ?reason, "document refused by the server");
            out.push(ClientOutput::Refused {
                document_id: id,
                reason,
            });
        }
        self.set_aside(&set_aside, out)?;
        self.push_outbox(out)?;
        self.progress(out);
        Ok(())
    }

    /// Whether the refused push goes again another way before anything is reported: whole
    /// (after `missing_deps`), with this device's own changes only (after `forged_actor`),
    /// or one change at a time (refused for good, several changes of this device).
    fn push_again_otherwise(&mut self, r: &Refusal, p: &Pushed) -> Result<bool> {
        let id = r.document_id;
        if r.reason == RefusalReason::MissingDeps && !p.whole && !self.stepwise.contains_key(&id) {
            // Pushed again, whole, by push_outbox.
            self.need_whole.insert(id);
            return Ok(true);
        }
        if r.reason == RefusalReason::ForgedActor {
            if self.own_only.insert(id) {
                // Changes of others the server lacks: pushed again with
                // this device's own changes only.
                return Ok(true);
            }
            self.waiting.insert(id);
        }
        if is_for_good(r.reason)
            && !self.stepwise.contains_key(&id)
            && self.may_read(id)?
            && !self.waits_for_others(id, r.reason)?
            && self.changes_beyond_acked(id)?.1 > 1
        {
            // Which of its changes is refused? They go again one at a time
            // (reported once the refused one is found).
            self.stepwise.insert(id, r.reason);
            return Ok(true);
        }
        Ok(false)
    }

    /// What becomes of a refused document; true if it is to be set aside as not accepted.
    fn settle(&mut self, id: DocumentId, reason: RefusalReason, p: Pushed) -> Result<bool> {
        match reason {
            RefusalReason::Forbidden if !self.may_read(id)? && self.knows_access()? => {
                // Written while the user still had access (offline), refused
                // because access ended: the user cannot open it here any more
                // either, so keeping it would only leave care content on a device
                // that may not hold it.
                self.stepwise.remove(&id);
                if self.store.purge(id)? {
                    self.stats.purged += 1;
                }
            }
            RefusalReason::Erased => {
                // Erased on the server: nothing of it stays anywhere.
                self.stepwise.remove(&id);
                if self.store.purge(id)? {
                    self.stats.purged += 1;
                }
            }
            RefusalReason::Forbidden
            | RefusalReason::InvalidRecord
            | RefusalReason::TooLarge
            | RefusalReason::Malformed
                if !self.stepwise.contains_key(&id) && self.waits_for_others(id, reason)? =>
            {
                // Not a refusal of this user's entry: the server lacks others'
                // changes it builds on (it was restored from a backup), which
                // their authors' devices give back. Until then it waits here, and
                // is sent again when the server sends changes of it.
                self.refused.insert(id, p.heads);
            }
            RefusalReason::Forbidden
            | RefusalReason::InvalidRecord
            | RefusalReason::TooLarge
            | RefusalReason::Malformed => {
                // Refused for good: kept for the user as "not accepted", and the
                // document goes back to the server's version.
                return Ok(true);
            }
            RefusalReason::ForgedActor | RefusalReason::MissingDeps => {
                // Tried again when the server has more of it.
                self.refused.insert(id, p.heads);
            }
        }
        Ok(false)
    }

    /// Whether this device can tell what its user may read: it holds its roster. A staff
    /// device without one (between a restore of the server and the roster's next delivery,
    /// say) reads every access as none, and must not purge what its user may read on that
    /// account: the server purges what she may not. A pupil session holds no roster and
    /// keeps nothing the server refuses.
    pub(super) fn knows_access(&mut self) -> Result<bool> {
        Ok(self.is_pupil_session()? || self.store.holds_roster()?)
    }

    /// Whether the enrolled user may read `id` by the roster this device holds.
    pub(super) fn may_read(&self, id: DocumentId) -> Result<bool> {
        Ok(match self.store.info(id)? {
            Some(info) => self.store.access_to(&info.header, &info.fields)? >= Access::Read,
            None => false,
        })
    }

    /// Whether a refusal of `id` for `reason` is about others' changes the server lacks
    /// rather than this user's entry. After a restore from a backup, devices send back
    /// others' changes too, and the server takes those only from their authors' devices:
    /// nothing of this device's own is beyond what the server acknowledged, or the server
    /// does not have the document and another user created it (nobody creates a document
    /// in another's name; a thermometer month and a signal's notes have no author).
    fn waits_for_others(&self, id: DocumentId, reason: RefusalReason) -> Result<bool> {
        let Some(info) = self.store.info(id)? else {
            return Ok(false);
        };
        let me = self.store.identity()?.map(|i| i.user).unwrap_or_default();
        if reason == RefusalReason::Forbidden
            && info.acked_heads.is_none()
            && info.header.author != me
            && !Kind::name_has_shared_genesis(&info.header.kind)
        {
            return Ok(true);
        }
        Ok(self.changes_beyond_acked(id)?.0 == 0)
    }

    /// How many changes `id` holds beyond the heads a server acknowledged: this device's,
    /// and all.
    fn changes_beyond_acked(&self, id: DocumentId) -> Result<(usize, usize)> {
        let (Some(doc), Some(info)) = (self.store.load(id)?, self.store.info(id)?) else {
            return Ok((0, 0));
        };
        let base: Vec<ChangeHash> = info
            .acked_heads
            .filter(|h| h.iter().all(|h| doc.get_change_by_hash(h).is_some()))
            .unwrap_or_default();
        let actor = self.store.actor().to_bytes();
        let beyond = doc.get_changes(&base);
        let own = beyond
            .iter()
            .filter(|c| {
                let a = c.actor_id().to_bytes();
                a.starts_with(actor) && a.len() <= 32
            })
            .count();
        Ok((own, beyond.len()))
    }

    /// Documents the server refused for good: each is kept as a not-accepted item for the
    /// user and goes back to what the server acknowledged (`Store::set_aside_refused`);
    /// then what the server holds beyond that is fetched, so the device holds the server's
    /// version, as every device that may read it does.
    pub(super) fn set_aside(
        &mut self,
        refused: &[(DocumentId, RefusalReason)],
        out: &mut Vec<ClientOutput>,
    ) -> Result<()> {
        let mut fetch = Vec::with_capacity(refused.len());
        for &(id, reason) in refused {
            self.refused.remove(&id);
            self.need_whole.remove(&id);
            self.own_only.remove(&id);
            self.stepwise.remove(&id);
            self.waiting.remove(&id);
            if self.store.set_aside_refused(id, reason)?.is_some() {
                self.stats.not_accepted += 1;
                fetch.push(id);
            }
        }
        if !fetch.is_empty() {
            self.fetch_gaps(&fetch, out)?;
        }
        Ok(())
    }
}

/// Refusals for good: the server will not take these changes as they are.
fn is_for_good(reason: RefusalReason) -> bool {
    matches!(
        reason,
        RefusalReason::Forbidden
            | RefusalReason::InvalidRecord
            | RefusalReason::TooLarge
            | RefusalReason::Malformed
    )
}
