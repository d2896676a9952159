//! Group commit: the frames of several sessions handled in one storage transaction, stored
//! durably together (one sync to disk instead of one a push), their answers held back until
//! then.

use super::{ConnId, Hub, Outgoing, error_frame};
use crate::cache::DocCache;
use omkijken_core::DocumentId;
use omkijken_core::sync::{ErrorCode, Frame};
use std::collections::{BTreeMap, BTreeSet};

impl Hub {
    /// Begin a group: the writes of the frames handled until [`Hub::end_group`] are stored
    /// durably together at its end. The frames those handlers return must be held back
    /// until then (an ack says the change is stored). On an error the frames are handled
    /// one by one, each committed on its own.
    pub fn begin_group(&mut self) {
        self.group = Some(false);
        if let Err(e) = self.storage.begin_group() {
            tracing::error!(error = %e, "a group commit could not begin; committing one by one");
        }
    }

    /// Take in what another process wrote ([`Hub::poll_logged`]) before a frame or a
    /// catch-up read beside the hub is handled: in a group, once, before the first (see
    /// [`Hub::receive`]). `None` when the poll failed.
    pub(super) fn poll_once_a_group(&mut self, now: i64) -> Option<Outgoing> {
        let out = if self.group == Some(true) {
            vec![]
        } else {
            self.poll_logged(now)?
        };
        if self.group.is_some() {
            self.group = Some(true);
        }
        Some(out)
    }

    /// End the group begun by [`Hub::begin_group`]: `out` is what the group's frames
    /// returned. Stored, it is returned to be sent, less what a later frame of the group
    /// told the same session to purge ([`withdraw_purged`]). If the storage could not store the
    /// group, none of its writes exist and nothing of `out` may be sent: every session is
    /// ended with a server error (devices keep what was not acknowledged and send it again
    /// when they reconnect), and what the hub learnt from the lost writes is forgotten.
    pub fn end_group(&mut self, out: Outgoing) -> Outgoing {
        self.group = None;
        self.prechecked.clear();
        match self.storage.end_group() {
            Ok(()) => withdraw_purged(out),
            Err(e) => {
                tracing::error!(error = %e, "a group commit failed; ending every session");
                self.forget_lost_writes()
            }
        }
    }

    /// After writes were lost (a failed group commit): end every session with a server
    /// error and start again from what the storage holds.
    fn forget_lost_writes(&mut self) -> Outgoing {
        let conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        let mut out = Vec::with_capacity(conns.len());
        for conn in conns {
            self.remove_session(conn);
            out.push((
                conn,
                error_frame(
                    ErrorCode::Internal,
                    "server error; nothing was acknowledged",
                ),
            ));
        }
        self.cache = DocCache::new(self.config.cache_docs, self.config.cache_bytes);
        self.rosters.clear();
        self.reader_memo.clear();
        if let Ok(seq) = self.storage.last_seq() {
            self.seen_seq = seq;
            self.repo_seq = seq;
        }
        if let Ok(seq) = self.storage.last_admin_event() {
            self.admin_seq = seq;
        }
        out
    }
}

/// The frames of a group go out once it is stored, after every frame of it was handled:
/// content one frame gave a session (a fetch's answer, a live push) that a later frame of
/// the group took away again (a purge: the document's access changed) would reach the
/// device when it may no longer read it. Those documents are taken out of the earlier
/// frames (the purge still goes out); handled one by one, the device would have had them
/// in the meantime.
fn withdraw_purged(mut out: Outgoing) -> Outgoing {
    if !out.iter().any(|(_, f)| purges(f)) {
        return out;
    }
    // From the last frame back: the documents purged later, per session.
    let mut later: BTreeMap<ConnId, BTreeSet<DocumentId>> = BTreeMap::new();
    let mut drop = vec![false; out.len()];
    for (i, (conn, frame)) in out.iter_mut().enumerate().rev() {
        let gone = later.entry(*conn).or_default();
        match frame {
            Frame::Purge { docs } => gone.extend(docs.iter().copied()),
            Frame::Catalog { entries, purge, .. } => {
                entries.retain(|e| !gone.contains(&e.document_id));
                gone.extend(purge.iter().copied());
            }
            Frame::Docs { docs, .. } => docs.retain(|d| !gone.contains(&d.document_id)),
            Frame::Sync { document_id, .. } => drop[i] = gone.contains(document_id),
            _ => {}
        }
    }
    let mut keep = drop.into_iter().map(|d| !d);
    out.retain(|_| keep.next().unwrap_or(true));
    out
}

fn purges(frame: &Frame) -> bool {
    match frame {
        Frame::Purge { docs } => !docs.is_empty(),
        Frame::Catalog { purge, .. } => !purge.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omkijken_core::sync::DocChanges;

    fn docs(ids: &[DocumentId]) -> Frame {
        Frame::Docs {
            docs: ids.iter().map(|&id| DocChanges::new(id, vec![1])).collect(),
            cursor: 7,
        }
    }

    fn ids(frame: &Frame) -> Vec<DocumentId> {
        match frame {
            Frame::Docs { docs, .. } => docs.iter().map(|d| d.document_id).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn content_a_later_frame_of_the_group_purges_is_not_sent() {
        let (x, y) = (DocumentId::random(), DocumentId::random());
        let (c, d) = (ConnId(1), ConnId(2));
        let out = withdraw_purged(vec![
            (c, docs(&[x, y])),
            (d, docs(&[x])),
            (c, Frame::Purge { docs: vec![x] }),
            // Readable again after the purge (a later frame gave it back): sent.
            (c, docs(&[x])),
        ]);
        assert_eq!(out.len(), 4);
        // The fetch answer keeps its other document and its cursor.
        assert_eq!(ids(&out[0].1), [y]);
        assert!(matches!(out[0].1, Frame::Docs { cursor: 7, .. }));
        // Another session, not purged, keeps it.
        assert_eq!(ids(&out[1].1), [x]);
        assert!(matches!(&out[2].1, Frame::Purge { docs } if docs == &[x]));
        assert_eq!(ids(&out[3].1), [x]);
    }

    #[test]
    fn a_sync_message_of_a_document_purged_later_is_dropped() {
        let x = DocumentId::random();
        let c = ConnId(1);
        let out = withdraw_purged(vec![
            (
                c,
                Frame::Sync {
                    document_id: x,
                    data: vec![1, 2],
                },
            ),
            (
                c,
                Frame::Catalog {
                    entries: vec![],
                    purge: vec![x],
                    cursor: 3,
                    complete: true,
                    epoch: None,
                },
            ),
        ]);
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0].1, Frame::Catalog { purge, .. } if purge == &[x]));
    }
}
