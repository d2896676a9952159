//! Automerge `sync` frames: one sync state per document and session, changes judged by
//! the same rules as a push, every change that leaves the server audited. The same handler
//! serves the `sync` and `request` messages of automerge-repo peers (`/v1/automerge-repo`,
//! see [`super::automerge_repo`]), which differ only in how a refusal or an unavailable
//! document is answered.

use super::fanout::record_delivery;
use super::push::Verdict;
use super::{ConnId, Hub, Outgoing, audit_doc, refusal_name};
use crate::Result;
use crate::storage::{AuditAction, Batch};
use automerge::Automerge;
use automerge::sync::{self, SyncDoc};
use omkijken_core::DocumentId;
use omkijken_core::sync::{Frame, Refusal, RefusalReason};

/// One automerge sync message of a session for one document.
#[derive(Debug)]
pub struct SyncMessage {
    /// The document it syncs.
    pub document_id: DocumentId,
    /// The encoded sync message.
    pub data: Vec<u8>,
    /// An automerge-repo `request` (the peer does not hold the document and asks for it);
    /// false for its `sync` and for a native session's `sync` frame.
    pub request: bool,
}

impl Hub {
    /// One sync message of `conn` for document `id` ([`SyncMessage`]).
    ///
    /// A native session gets `refused` for a refusal, followed by the server's next sync
    /// message. An automerge-repo session gets `refused` alone (its driver answers
    /// `doc-unavailable`; a sync message after it would only make the peer send the refused
    /// changes again), and a `request` for a document it may not read, or that does not
    /// exist, gets `purge` (again `doc-unavailable`): the same answer for both.
    pub(super) fn sync(&mut self, now: i64, conn: ConnId, msg: SyncMessage) -> Result<Outgoing> {
        let SyncMessage {
            document_id: id,
            data,
            request,
        } = msg;
        let (device, actor, repo) = {
            let s = &self.sessions[&conn];
            (s.device.clone(), s.actor.clone(), s.repo)
        };
        let roster = self.roster(&device.school)?;
        let refuse = |reason| {
            metrics::counter!("omkijken_refusals_total", "reason" => refusal_name(reason))
                .increment(1);
            (
                conn,
                Frame::Refused {
                    docs: vec![Refusal {
                        document_id: id,
                        reason,
                    }],
                },
            )
        };
        if self.sessions[&conn].scope.is_some() {
            // A pupil session pushes what its pupils enter; it syncs nothing.
            return Ok(vec![refuse(RefusalReason::Forbidden)]);
        }
        let size = data.len();
        let Ok(msg) = sync::Message::decode(&data) else {
            return Ok(vec![refuse(RefusalReason::Malformed)]);
        };
        let row = self.storage.catalog_get(&[id])?.pop();
        // A document this user may not read (or one erased) looks like one the server does
        // not have: it is synced from nothing, and what is sent for it judged as new.
        let base_row = Self::base_row(&roster, &device.user, None, row.as_ref()).cloned();
        let taken = base_row.is_none() && row.is_some();
        let base = match &base_row {
            Some(r) => self.load(r)?.unwrap_or_default(),
            None => Automerge::new(),
        };
        let mut state = self
            .sessions
            .get_mut(&conn)
            .and_then(|s| s.sync.take(&id))
            .unwrap_or_default();
        // Kept only for a document this device may read (or creates here).
        let mut keep = base_row.is_some();
        // What the message brings is weighed before it is applied, as a push's bytes are.
        let pre = if msg.changes.is_empty() {
            None
        } else {
            let bytes: Vec<u8> = msg.changes.iter().flatten().copied().collect();
            Self::pre_check(&roster, &device.user, None, base_row.as_ref(), &bytes)
        };
        let mut new = base.clone();
        let mut out = vec![];
        let mut reply_from = base;
        // The header of the document as this device may read it after this message.
        let mut readable_header = base_row.as_ref().map(|r| r.header.clone());
        let mut refused = None;
        if let Some(reason) = pre {
            refused = Some(reason);
        } else if new.receive_sync_message(&mut state, msg).is_err() {
            refused = Some(RefusalReason::Malformed);
        } else if new.get_heads() != reply_from.get_heads() {
            let verdict = Self::validate(
                &roster,
                &device.user,
                None,
                &actor,
                id,
                base_row.as_ref(),
                taken,
                &reply_from,
                new,
            );
            match verdict {
                Verdict::Accept(a) => {
                    let doc = a.doc.clone();
                    readable_header = Some(a.header.clone());
                    out.extend(self.commit_accepted(
                        now,
                        conn,
                        &device,
                        &roster,
                        vec![*a],
                        vec![],
                        vec![],
                    )?);
                    if let Some(doc) = doc {
                        reply_from = doc;
                    }
                    keep = true;
                }
                Verdict::Same(_) => {}
                Verdict::Refuse(reason) => refused = Some(reason),
            }
        }
        let mut batch = Batch::default();
        let unavailable = repo && request && refused.is_none() && readable_header.is_none();
        if unavailable {
            // Nothing this user may read under this id: said exactly as for an id unknown
            // here, and no state is kept.
            return Ok(vec![(conn, Frame::Purge { docs: vec![id] })]);
        }
        if let Some(reason) = refused {
            out.push(refuse(reason));
            state = sync::State::new();
            // Audited like a refused push (ids only; the stored header, if any, stays on
            // the server).
            batch.audit.push(audit_doc(
                now,
                &device.school,
                &device.id,
                &device.user,
                AuditAction::Refuse,
                id,
                row.as_ref().map(|r| &r.header),
            ));
        }
        let reply = if repo && refused.is_some() {
            None
        } else {
            reply_from.generate_sync_message(&mut state)
        };
        if let Some(m) = reply {
            if !m.changes.is_empty()
                && let Some(header) = &readable_header
            {
                // Content leaves the server: a delivery, audited like a fetch, and held.
                record_delivery(
                    &mut batch,
                    now,
                    &device.school,
                    &device.id,
                    &device.user,
                    id,
                    header,
                    true,
                );
            }
            out.push((
                conn,
                Frame::Sync {
                    document_id: id,
                    data: m.encode(),
                },
            ));
        }
        if !batch.is_empty() {
            self.storage.commit(batch)?;
        }
        if let Some(s) = self.sessions.get_mut(&conn)
            && keep
            && !(repo && refused.is_some())
        {
            s.sync.put(id, state, size);
        }
        Ok(out)
    }
}
