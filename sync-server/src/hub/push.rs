//! `push`: pre-checks on the catalog row and the bytes, merge, core's record rules
//! (admit), one commit, and the answer; the live sessions get the changes through the
//! delivery planner (`super::fanout`).

use super::fanout::{Offer, delivery_frames, plan, purge_frames};
use super::{ConnId, Hub, Outgoing, audit_doc, readable, refusal_name};
use crate::storage::{AuditAction, Batch, CatalogRow, Committed, Device, DocWrite, WriteMode};
use crate::{Error, Result};
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};
use omkijken_core::budget;
use omkijken_core::doc::{self, AccessFields};
use omkijken_core::ids::heads_to_hex;
use omkijken_core::model::{Header, PupilScope, Roster, rules};
use omkijken_core::sync::{Acked, DocChanges, Frame, MAX_DOC_BYTES, Refusal, RefusalReason};
use omkijken_core::{Access, DocumentId, access};
use std::collections::BTreeMap;

/// From this many documents in one push frame, merging and validating them runs on all
/// cores (below it, handing work to other threads costs more than it saves).
const PARALLEL_FROM: usize = 8;
/// Times a push is merged again after its commit conflicted with another writer.
const PUSH_ATTEMPTS: usize = 5;

/// A document change that passed every check, ready to commit.
pub(super) struct Accepted {
    pub(super) id: DocumentId,
    /// The heads to acknowledge, when they are not `heads`: a pupil session's own.
    pub(super) ack_heads: Option<Vec<ChangeHash>>,
    /// The merged document; none for a new one, whose pushed bytes (`full`) are all that
    /// is needed (it is dropped on the worker that checked it).
    pub(super) doc: Option<Automerge>,
    pub(super) header: Header,
    pub(super) fields: AccessFields,
    pub(super) heads: Vec<ChangeHash>,
    /// Heads before the change.
    pub(super) old_heads: Vec<ChangeHash>,
    /// The new changes (`save_after` of the heads before), once computed.
    pub(super) delta: Option<Vec<u8>>,
    /// The whole document, once computed.
    pub(super) full: Option<Vec<u8>>,
    /// The document's summary at `heads` (`doc::Summary::to_wire`).
    pub(super) summary: Option<Vec<u8>>,
    /// Chunks stored before (for compaction).
    pub(super) chunks: u32,
    /// Stored size (before the change; after it once written).
    pub(super) size: usize,
    pub(super) existed: bool,
    pub(super) changes: usize,
}

impl Accepted {
    pub(super) fn full(&mut self) -> Vec<u8> {
        let doc = &self.doc;
        self.full
            .get_or_insert_with(|| doc.as_ref().map(Automerge::save).unwrap_or_default())
            .clone()
    }

    /// The new changes; for a new document that is the whole document.
    pub(super) fn delta(&mut self) -> Vec<u8> {
        if !self.existed {
            return self.full();
        }
        let (doc, old) = (&self.doc, &self.old_heads);
        self.delta
            .get_or_insert_with(|| doc.as_ref().map(|d| d.save_after(old)).unwrap_or_default())
            .clone()
    }
}

pub(super) enum Verdict {
    Accept(Box<Accepted>),
    /// Nothing new: the server has all of it already.
    Same(Vec<ChangeHash>),
    Refuse(RefusalReason),
}

impl Hub {
    /// The catalog row a push of `id` is judged against: the stored document when the user
    /// may read it. A document the user may not read, or that was erased, is judged as if
    /// it did not exist (as a new document), so that the answer never tells the two apart
    /// (docs/protocol.md, "No existence oracle").
    ///
    /// A pupil session (`scope`) reads nothing, yet adds readings to months others wrote:
    /// its base is the stored thermometer month of its school (the rules then decide whose
    /// month it may add to); every other document is judged as new. Its answers are the
    /// same whether a month exists or not.
    pub(super) fn base_row<'r>(
        roster: &Roster,
        user: &str,
        scope: Option<&PupilScope>,
        row: Option<&'r CatalogRow>,
    ) -> Option<&'r CatalogRow> {
        match scope {
            None => row.filter(|r| readable(roster, user, r)),
            Some(_) => row.filter(|r| {
                !r.erased
                    && r.header.school == roster.school
                    && rules::PUPIL_SESSION_KINDS
                        .iter()
                        .any(|k| r.header.kind == k.as_str())
            }),
        }
    }

    /// Checks that need only the catalog row of a readable document (`row`; none for a new
    /// one or one judged as new) and the pushed bytes before they are loaded: write access,
    /// the stored size, and what the bytes will hold once loaded (core's `budget::scan`
    /// against the kind's limits: changes, operations, inflated bytes).
    pub(super) fn pre_check(
        roster: &Roster,
        user: &str,
        scope: Option<&PupilScope>,
        row: Option<&CatalogRow>,
        data: &[u8],
    ) -> Option<RefusalReason> {
        let stored = row.map_or(0, |r| r.size as usize);
        if let Some(row) = row {
            // Core's rules, on the catalog row: the same verdict `admit` would reach.
            let writer = rules::Writer {
                roster,
                user,
                actor: &[],
                pupil_session: scope,
            };
            if let Err(refusal) = rules::may_write_stored(&writer, &row.header, &row.fields) {
                return Some(refusal.reason());
            }
        }
        if stored + data.len() > MAX_DOC_BYTES {
            return Some(RefusalReason::TooLarge);
        }
        let kind = row.and_then(|r| r.header.kind().ok());
        match budget::scan(data, rules::wire_budget(kind)) {
            Ok(_) => None,
            Err(budget::ScanError::TooLarge) => Some(RefusalReason::TooLarge),
            Err(budget::ScanError::Malformed) => Some(RefusalReason::Malformed),
        }
    }

    /// Whether the change from the stored `old` (empty for a new document) to the merged
    /// `new` is admitted: core's `rules::admit`, the one judge of every record kind. `row` is
    /// the readable row the change was merged into (none: judged as a new document);
    /// `taken` says the id belongs to a document the user may not read (or one erased): a
    /// change admitted as new is then refused `forbidden`, as it would be for a document
    /// the user may not create.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn validate(
        roster: &Roster,
        user: &str,
        scope: Option<&PupilScope>,
        actor: &ActorId,
        id: DocumentId,
        row: Option<&CatalogRow>,
        taken: bool,
        old: &Automerge,
        new: Automerge,
    ) -> Verdict {
        let old_heads = old.get_heads();
        if new.get_heads() == old_heads {
            // A pupil session is told only of its own changes, never of others' heads.
            return Verdict::Same(match scope {
                Some(_) => own_heads(old, actor.to_bytes()),
                None => old_heads,
            });
        }
        let writer = rules::Writer {
            roster,
            user,
            actor: actor.to_bytes(),
            pupil_session: scope,
        };
        let before = row.map(|_| old);
        let admitted = match rules::admit(id, before, &new, &writer) {
            Ok(_) if taken => {
                return Verdict::Refuse(RefusalReason::Forbidden);
            }
            Ok(a) => a,
            Err(refusal) => {
                // The rule, never content.
                tracing::info!(document = %id, rule = %refusal, "change refused");
                return Verdict::Refuse(refusal.reason());
            }
        };
        let header = admitted.header.clone();
        let fields = admitted.fields.clone();
        let changes = admitted.changes;
        // Stored with the heads and sent with the whole document to devices that do not
        // hold it: they store it without loading it (core's `Store::merge_many_acked`).
        let summary = admitted.summary().ok().map(|s| s.to_wire());
        let ack_heads = scope.map(|_| own_heads(&new, actor.to_bytes()));
        Verdict::Accept(Box::new(Accepted {
            id,
            ack_heads,
            heads: new.get_heads(),
            doc: Some(new),
            header,
            fields,
            old_heads,
            delta: None,
            full: None,
            summary,
            chunks: row.map_or(0, |r| r.chunks),
            size: row.map_or(0, |r| r.size as usize),
            existed: row.is_some(),
            changes,
        }))
    }

    pub(super) fn push(
        &mut self,
        now: i64,
        conn: ConnId,
        docs: Vec<DocChanges>,
    ) -> Result<Outgoing> {
        let (device, actor, scope) = {
            let s = &self.sessions[&conn];
            (s.device.clone(), s.actor.clone(), s.scope.clone())
        };
        // The same document twice in one frame: its chunks are applied together.
        let mut order: Vec<DocumentId> = vec![];
        let mut data: BTreeMap<DocumentId, Vec<u8>> = BTreeMap::new();
        for d in docs {
            match data.get_mut(&d.document_id) {
                Some(v) => v.extend_from_slice(&d.data),
                None => {
                    order.push(d.document_id);
                    data.insert(d.document_id, d.data);
                }
            }
        }
        // Another writer of the same storage (a server node sharing the database, the admin
        // CLI) committed one of these documents after this hub read it: the commit wrote
        // nothing, so merge and check again against what is stored now.
        let mut attempt = 0;
        loop {
            match self.push_attempt(now, conn, &device, &actor, scope.as_deref(), &order, &data) {
                Err(Error::Conflict) if attempt < PUSH_ATTEMPTS => {
                    attempt += 1;
                    metrics::counter!("omkijken_push_conflicts_total").increment(1);
                    tracing::debug!(attempt, "push conflicted with another writer; retrying");
                }
                r => return r,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push_attempt(
        &mut self,
        now: i64,
        conn: ConnId,
        device: &Device,
        actor: &ActorId,
        scope: Option<&PupilScope>,
        order: &[DocumentId],
        data: &BTreeMap<DocumentId, Vec<u8>>,
    ) -> Result<Outgoing> {
        let roster = self.roster(&device.school)?;
        let rows = self.catalog_map(order)?;
        // Checks on the catalog row and loading the stored documents need the storage:
        // one after the other. Merging and validating the pushed bytes is pure work per
        // document: spread over the cores, results in the frame's order.
        let mut work = Vec::with_capacity(order.len());
        for &id in order {
            // A new document checked before its group's frames were handled, from the same
            // bytes under the same roster: that verdict ([`Hub::precheck`]).
            if !rows.contains_key(&id)
                && let Some(v) = self.prechecked(conn, id, &roster, &data[&id])
            {
                work.push((id, Pending::Ready(v)));
                continue;
            }
            let row = Self::base_row(&roster, &device.user, scope, rows.get(&id));
            let pending = match Self::pre_check(&roster, &device.user, scope, row, &data[&id]) {
                Some(r) => Err(r),
                None => Ok(match row {
                    Some(r) => self.load(r)?.unwrap_or_default(),
                    None => Automerge::new(),
                }),
            };
            work.push((id, Pending::Check(Box::new(pending))));
        }
        let user = device.user.as_str();
        let check = |(id, pending): (DocumentId, Pending)| {
            let verdict = match pending {
                Pending::Ready(v) => v,
                Pending::Check(old) => {
                    let row = Self::base_row(&roster, user, scope, rows.get(&id));
                    let taken = row.is_none() && rows.contains_key(&id);
                    let who = Pusher {
                        roster: &roster,
                        user,
                        scope,
                        actor,
                    };
                    check_one(&who, id, row, taken, *old, &data[&id])
                }
            };
            (id, verdict)
        };
        let verdicts: Vec<(DocumentId, Verdict)> = if work.len() >= PARALLEL_FROM {
            use rayon::prelude::*;
            work.into_par_iter().map(check).collect()
        } else {
            work.into_iter().map(check).collect()
        };
        let mut accepted = vec![];
        let mut same = vec![];
        let mut refused = vec![];
        for (id, verdict) in verdicts {
            match verdict {
                Verdict::Accept(a) => accepted.push(*a),
                Verdict::Same(heads) => same.push(Acked {
                    document_id: id,
                    heads: heads_to_hex(&heads),
                }),
                Verdict::Refuse(reason) => refused.push(Refusal {
                    document_id: id,
                    reason,
                }),
            }
        }
        // A write refused as forbidden to someone who may not even read the document (the
        // pupil moved to another mentor while this device recorded offline), or under an
        // id that is taken: the device must not keep it either. It has been told of the
        // refusal; now it purges.
        let mut purge = vec![];
        for r in &refused {
            if r.reason != RefusalReason::Forbidden {
                continue;
            }
            // Decided on what the device sent when the stored document is one it may not
            // read: the same as for a document that does not exist.
            // An id that is taken (a document erased, or one this user may not read) never
            // takes this document: the device may not keep it either, nor a not-accepted
            // item of it (a thermometer month written offline for a pupil whose file was
            // erased meanwhile would otherwise stay on the phone for good). The answer
            // differed from a free id's already (refused, not acknowledged), so the purge
            // tells nothing more.
            let readable =
                match Self::base_row(&roster, &device.user, scope, rows.get(&r.document_id)) {
                    Some(_) => true,
                    None if rows.contains_key(&r.document_id) => false,
                    None => {
                        let mut d = Automerge::new();
                        d.load_incremental(&data[&r.document_id]).is_ok()
                            && doc::parse(r.document_id, &d).is_ok_and(|p| {
                                access(&roster, &device.user, &p.header, &p.fields) >= Access::Read
                            })
                    }
                };
            if !readable {
                purge.push(r.document_id);
            }
        }
        // Every refusal is audited (ids only; the reason is in the metrics and the log).
        let mut refusals = Batch::default();
        for r in &refused {
            let header = rows.get(&r.document_id).map(|row| &row.header);
            refusals.audit.push(audit_doc(
                now,
                &device.school,
                &device.id,
                &device.user,
                AuditAction::Refuse,
                r.document_id,
                header,
            ));
        }
        // Remember the purge, so the document is sent whole when access returns.
        refusals.purged = purge.iter().map(|id| (device.id.clone(), *id)).collect();
        // The accepted changes first: if they conflict with another writer, the whole
        // attempt is repeated and nothing of it may be stored twice.
        let mut out = self.commit_accepted(now, conn, device, &roster, accepted, same, refused)?;
        if !refusals.is_empty() {
            self.storage.commit(refusals)?;
        }
        out.extend(purge_frames(purge).into_iter().map(|f| (conn, f)));
        Ok(out)
    }

    /// Commit accepted changes in one transaction (with the live-push bookkeeping), then
    /// answer: ack and refused to `conn`, live pushes and purges to the other sessions.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_accepted(
        &mut self,
        now: i64,
        conn: ConnId,
        device: &Device,
        roster: &Roster,
        mut accepted: Vec<Accepted>,
        mut acks: Vec<Acked>,
        refused: Vec<Refusal>,
    ) -> Result<Outgoing> {
        let mut out: Outgoing = vec![];
        for r in &refused {
            metrics::counter!("omkijken_refusals_total", "reason" => refusal_name(r.reason))
                .increment(1);
            // Pseudonymous ids only; never content.
            tracing::debug!(document = %r.document_id, reason = refusal_name(r.reason), "refused");
        }
        if accepted.is_empty() {
            // Every push is answered by one `ack` (empty when nothing was taken), so a client
            // can wait for it; the refusals follow it at once.
            out.push((conn, Frame::Ack { docs: acks }));
            if !refused.is_empty() {
                out.push((conn, Frame::Refused { docs: refused }));
            }
            return Ok(out);
        }
        let mut batch = Batch::default();
        for a in &mut accepted {
            let snapshot = !a.existed || a.chunks + 1 >= self.config.compact_after_chunks;
            let (data, mode) = if snapshot {
                (a.full(), WriteMode::Snapshot)
            } else {
                (a.delta(), WriteMode::Append)
            };
            a.size = match mode {
                WriteMode::Snapshot => data.len(),
                WriteMode::Append => a.size + data.len(),
            };
            batch.docs.push(DocWrite {
                id: a.id,
                header: a.header.clone(),
                fields: a.fields.clone(),
                heads: a.heads.clone(),
                data,
                mode,
                summary: a.summary.clone(),
                base: Some(a.old_heads.clone()),
            });
            batch.hold.push((device.id.clone(), a.id));
            batch.audit.push(audit_doc(
                now,
                &device.school,
                &device.id,
                &device.user,
                AuditAction::Write,
                a.id,
                Some(&a.header),
            ));
        }
        // Live push plan: who gets which changes, who must purge. The pusher's other
        // sessions hold what it pushed.
        let catalog: Vec<(DocumentId, Header, AccessFields)> = accepted
            .iter()
            .map(|a| (a.id, a.header.clone(), a.fields.clone()))
            .collect();
        let offers: Vec<Offer<'_>> = catalog
            .iter()
            .map(|(id, header, fields)| Offer {
                id: *id,
                header,
                fields,
                erased: false,
            })
            .collect();
        // Who holds them (one query by document), then the sessions of their readers and
        // holders: not every live session of the school.
        let ids: Vec<DocumentId> = accepted.iter().map(|a| a.id).collect();
        let holders = if self.live.contains_key(&device.school) {
            self.storage.holders(&ids)?
        } else {
            Default::default()
        };
        let recipients = self.recipients_of(&device.school, Some(conn), roster, &offers, &holders);
        let mut payloads: Vec<[Option<DocChanges>; 2]> = vec![[None, None]; accepted.len()];
        let deliveries = plan(
            self.storage.as_mut(),
            &mut batch,
            now,
            roster,
            &recipients,
            &offers,
            &holders,
            Some(&device.id),
            true,
            |_, i, has| {
                // The same for every recipient that holds it (or every one that does not):
                // made once.
                let d = payloads[i][usize::from(has)].get_or_insert_with(|| {
                    let a = &mut accepted[i];
                    let mut d = DocChanges::new(a.id, if has { a.delta() } else { a.full() });
                    if !has && let Some(summary) = &a.summary {
                        // A whole document: see `whole_doc`.
                        d.heads = heads_to_hex(&a.heads);
                        d.summary = Some(summary.clone());
                    }
                    d
                });
                Ok(Some(d.clone()))
            },
        )?;
        let committed: Committed = self.storage.commit(batch)?;
        // Durable: now acknowledge.
        let changes: usize = accepted.iter().map(|a| a.changes).sum();
        metrics::counter!("omkijken_acked_changes_total").increment(changes as u64);
        for a in accepted {
            acks.push(Acked {
                document_id: a.id,
                heads: heads_to_hex(a.ack_heads.as_ref().unwrap_or(&a.heads)),
            });
            // New documents are not cached: most are not touched again soon, and
            // evicting them would cost more than loading the few that are.
            if let Some(doc) = a.doc {
                self.cache.put(a.id, doc, a.size);
            }
        }
        let in_order = committed.prev_seq == self.seen_seq;
        let cursor = if in_order { committed.last_seq } else { 0 };
        let pupil_session = self.sessions.get(&conn).is_some_and(|s| s.scope.is_some());
        if in_order && !pupil_session {
            // The pusher holds what it pushed: its cursor may move past it too. Sent before
            // the ack, so a client that closes once everything is acknowledged has it.
            out.push((
                conn,
                Frame::Docs {
                    docs: vec![],
                    cursor,
                },
            ));
        }
        out.push((conn, Frame::Ack { docs: acks }));
        if !refused.is_empty() {
            out.push((conn, Frame::Refused { docs: refused }));
        }
        out.extend(delivery_frames(deliveries, cursor));
        self.note_cursors(&out);
        if in_order {
            self.seen_seq = committed.last_seq;
        } else {
            // Another process wrote in between: take in its admin events (a roster change
            // must be known before its bumped rows are delivered), then deliver everything
            // since, in order.
            out.extend(self.try_poll(now)?);
        }
        Ok(out)
    }
}

/// A pushed document before its check: its verdict already made ([`Hub::precheck`]), or
/// the stored document to merge it into (or why it is refused before it is loaded).
pub(super) enum Pending {
    Ready(Verdict),
    Check(Box<std::result::Result<Automerge, RefusalReason>>),
}

/// Who pushes: the school's roster, the user, a pupil session's scope, the device's actor.
pub(super) struct Pusher<'a> {
    pub(super) roster: &'a Roster,
    pub(super) user: &'a str,
    pub(super) scope: Option<&'a PupilScope>,
    pub(super) actor: &'a ActorId,
}

/// Merge the pushed `data` of `id` into `old` (the stored document; empty for a new one)
/// and judge it ([`Hub::validate`]): pure work, on any thread. `row` is the readable row it
/// is judged against (none: as new); `taken`, that the id belongs to a document the user
/// may not read.
pub(super) fn check_one(
    who: &Pusher<'_>,
    id: DocumentId,
    row: Option<&CatalogRow>,
    taken: bool,
    old: std::result::Result<Automerge, RefusalReason>,
    data: &[u8],
) -> Verdict {
    let verdict = match old {
        Err(r) => Verdict::Refuse(r),
        Ok(old) => {
            // A new document's bytes are stored and sent on as they came, so they must load
            // strictly: anything after their valid part would load here (leniently) and
            // then never again, for the server or any device.
            let merged = if old.get_heads().is_empty() {
                Automerge::load(data).map_err(|e| {
                    if matches!(e, automerge::AutomergeError::MissingDeps) {
                        RefusalReason::MissingDeps
                    } else {
                        RefusalReason::Malformed
                    }
                })
            } else {
                let mut new = old.clone();
                new.load_incremental(data)
                    .map(|_| new)
                    .map_err(|_| RefusalReason::Malformed)
            };
            match merged {
                Err(reason) => Verdict::Refuse(reason),
                Ok(new) if !new.get_missing_deps(&[]).is_empty() => {
                    Verdict::Refuse(RefusalReason::MissingDeps)
                }
                Ok(new) => Hub::validate(
                    who.roster, who.user, who.scope, who.actor, id, row, taken, &old, new,
                ),
            }
        }
    };
    match verdict {
        Verdict::Accept(mut a) if !a.existed => {
            // The pushed bytes load into exactly this document: store and forward them as
            // they are when they are one document chunk (what devices that do not hold it
            // can store without loading, see `whole_doc`), else save it as one; and drop the
            // document here, off the hub's thread.
            a.full = Some(match (doc::saved_heads(data), &a.doc) {
                (None, Some(d)) => d.save(),
                _ => data.to_vec(),
            });
            a.doc = None;
            Verdict::Accept(a)
        }
        v => v,
    }
}

/// The heads of the changes `actor` (a device's registered actor, or a session actor that
/// extends it) made in `doc`: what a pupil session holds of a month, since it never
/// receives others' changes.
fn own_heads(doc: &Automerge, actor: &[u8]) -> Vec<ChangeHash> {
    let metas = doc.get_changes_meta(&[]);
    let own: Vec<_> = metas
        .iter()
        .filter(|m| {
            let a = m.actor.to_bytes();
            a.starts_with(actor) && a.len() <= actor.len() + 16
        })
        .collect();
    let deps: std::collections::BTreeSet<ChangeHash> =
        own.iter().flat_map(|m| m.deps.iter().copied()).collect();
    let mut heads: Vec<ChangeHash> = own
        .iter()
        .map(|m| m.hash)
        .filter(|h| !deps.contains(h))
        .collect();
    heads.sort();
    heads
}
