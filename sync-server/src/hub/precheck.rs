//! A group's new documents checked before its frames are handled ([`Hub::precheck`]).
//!
//! The frames of a group commit are handled one after the other on the hub's thread, and a
//! push of one document checks it there: Automerge's load (every change rebuilt and
//! hashed) and core's record rules, about 0.1-0.2 ms a document. Checking a new document
//! needs nothing but its bytes, the roster and who pushes it, so the new documents of all
//! the group's push frames are checked first, on all cores at once, before the first frame
//! writes (on PostgreSQL a group holds the writers' locks from its first write to its end).
//! Each frame then takes its verdict if the document is still new, the roster the same and
//! the bytes the ones checked; anything else is checked in place, as before.

use super::push::{Pusher, Verdict, check_one};
use super::{ConnId, Hub};
use automerge::{ActorId, Automerge};
use omkijken_core::DocumentId;
use omkijken_core::model::{PupilScope, Roster};
use omkijken_core::sync::Frame;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// Bytes of new documents a group checks first, at most: live pushes are a few KB each; a
/// group of large frames (a device that was offline for weeks, or one that floods) is
/// checked in place, one document at a time, as before, so that checking ahead never holds
/// more than this in copies and verdicts.
const PRECHECK_BYTES: usize = 4 * 1024 * 1024;

/// A new document's verdict, made before its group's frames were handled.
pub(super) struct Prechecked {
    roster: Arc<Roster>,
    data: Vec<u8>,
    verdict: Verdict,
}

/// The queue of verdicts of one session's document, in the order of its frames.
pub(super) type PrecheckedQueue = VecDeque<Prechecked>;

/// A document to check: who pushed it, under which roster, and its bytes.
struct Candidate {
    conn: ConnId,
    id: DocumentId,
    data: Vec<u8>,
    roster: Arc<Roster>,
    user: String,
    scope: Option<Arc<PupilScope>>,
    actor: ActorId,
}

impl Hub {
    /// Check the documents the push frames of a group bring that the catalog does not hold
    /// yet, all at once on all cores, before the group's frames are handled (see the module
    /// docs). What is not used by the group's end is dropped.
    pub fn precheck(&mut self, frames: &[(ConnId, &Frame)]) {
        self.prechecked.clear();
        let mut candidates = vec![];
        let mut bytes = 0;
        for (conn, frame) in frames {
            let Frame::Push { docs } = frame else {
                continue;
            };
            let Some(s) = self.sessions.get(conn) else {
                continue;
            };
            // A frame that will wait (behind a read beside the hub, or for `hello`), or
            // that applies chunks of one document together, is checked in place.
            let mut ids = BTreeSet::new();
            if !s.live
                || s.repo
                || s.beside.is_some()
                || !docs.iter().all(|d| ids.insert(d.document_id))
            {
                continue;
            }
            let (school, user, scope, actor) = (
                s.device.school.clone(),
                s.device.user.clone(),
                s.scope.clone(),
                s.actor.clone(),
            );
            let Ok(roster) = self.roster(&school) else {
                continue;
            };
            let size: usize = docs.iter().map(|d| d.data.len()).sum();
            if bytes + size > PRECHECK_BYTES {
                continue;
            }
            bytes += size;
            for d in docs {
                candidates.push(Candidate {
                    conn: *conn,
                    id: d.document_id,
                    data: d.data.clone(),
                    roster: roster.clone(),
                    user: user.clone(),
                    scope: scope.clone(),
                    actor: actor.clone(),
                });
            }
        }
        // One document: nothing to gain over checking it in place.
        if candidates.len() < 2 {
            return;
        }
        let ids: Vec<DocumentId> = candidates.iter().map(|c| c.id).collect();
        let Ok(rows) = self.storage.catalog_get(&ids) else {
            return;
        };
        let stored: BTreeSet<DocumentId> = rows.into_iter().map(|r| r.id).collect();
        candidates.retain(|c| !stored.contains(&c.id));
        let check = |c: &Candidate| {
            let who = Pusher {
                roster: &c.roster,
                user: &c.user,
                scope: c.scope.as_deref(),
                actor: &c.actor,
            };
            let old = match Hub::pre_check(&c.roster, &c.user, c.scope.as_deref(), None, &c.data) {
                Some(r) => Err(r),
                None => Ok(Automerge::new()),
            };
            check_one(&who, c.id, None, false, old, &c.data)
        };
        use rayon::prelude::*;
        let verdicts: Vec<Verdict> = candidates.par_iter().map(check).collect();
        for (c, verdict) in candidates.into_iter().zip(verdicts) {
            self.prechecked
                .entry((c.conn, c.id))
                .or_default()
                .push_back(Prechecked {
                    roster: c.roster,
                    data: c.data,
                    verdict,
                });
        }
    }

    /// The verdict made for `id` of `conn` before the group's frames were handled, if it
    /// was made under `roster` from `data`.
    pub(super) fn prechecked(
        &mut self,
        conn: ConnId,
        id: DocumentId,
        roster: &Arc<Roster>,
        data: &[u8],
    ) -> Option<Verdict> {
        let p = self.prechecked.get_mut(&(conn, id))?.pop_front()?;
        let fits = Arc::ptr_eq(&p.roster, roster) && p.data == data;
        if fits {
            self.prechecks_used += 1;
            metrics::counter!("omkijken_prechecked_total").increment(1);
        }
        fits.then_some(p.verdict)
    }

    /// Verdicts made before their group's frames and taken by them, since the hub opened.
    pub fn prechecks_used(&self) -> u64 {
        self.prechecks_used
    }
}
