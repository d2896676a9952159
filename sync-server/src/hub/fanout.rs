//! Fan-out: what live sessions get of the documents that changed (others' pushes, writes
//! of another process or the admin), planned in one place for push, fetch and the poll path.

use super::{ConnId, Hub, Outgoing, audit_doc};
use crate::Result;
use crate::storage::{AuditAction, Batch, CatalogRow, Holding, Storage, StoredDoc};
use automerge::ChangeHash;
use omkijken_core::doc::{self, AccessFields};
use omkijken_core::ids::heads_to_hex;
use omkijken_core::model::{Header, Roster};
use omkijken_core::sync::{DocChanges, Frame, MAX_DOCS_PER_FRAME};
use omkijken_core::{Access, DocumentId, access};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// Bytes of document data per outgoing `docs` frame before a new frame is started.
const DOCS_FRAME_BYTES: usize = 8 * 1024 * 1024;
/// Catalog rows handled per step when delivering others' writes.
const DELIVER_PAGE: usize = 10_000;
/// Up to this many rows of a school, others' writes go to their readers and holders
/// (`Hub::recipients_of`); more, to every live session of the school.
const HOLDERS_UP_TO: usize = 256;
/// How often live sessions that got nothing are given the cursor they may keep, ms.
const CURSOR_EVERY_MS: i64 = 5_000;
/// The live sessions are given their cursors in this many slices (by connection number),
/// each at its own moment of the period: 10,000 sessions given a frame at once held the
/// pushes behind them for tens of milliseconds every 5 s.
pub(super) const CURSOR_SLICES: usize = 10;

/// A whole document for a device that does not hold it: the stored bytes, with the heads
/// and summary stored with them when the bytes are one document chunk declaring those heads
/// (a snapshot with no chunks appended since), so the device can check the bytes against
/// the heads and store them without loading them (docs/protocol.md, "Whole documents").
pub(super) fn whole_doc(row: &CatalogRow, stored: StoredDoc) -> DocChanges {
    let single = |data: &[u8]| {
        row.chunks == 0 && doc::saved_heads(data).is_some_and(|h| same_heads(&h, &row.heads))
    };
    let summary = stored.summary.filter(|_| single(&stored.data));
    let mut d = DocChanges::new(row.id, stored.data);
    if let Some(summary) = summary {
        d.heads = heads_to_hex(&row.heads);
        d.summary = Some(summary);
    }
    d
}

/// Whether two sets of heads are the same, in any order.
pub(super) fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// Split document changes into `docs` frames within the count and byte limits; the cursor
/// goes on the last frame only.
pub(super) fn docs_frames(docs: Vec<DocChanges>, cursor: u64) -> Vec<Frame> {
    let mut frames = vec![];
    let mut cur: Vec<DocChanges> = vec![];
    let mut bytes = 0;
    for d in docs {
        if !cur.is_empty()
            && (cur.len() >= MAX_DOCS_PER_FRAME || bytes + d.data.len() > DOCS_FRAME_BYTES)
        {
            frames.push(Frame::Docs {
                docs: std::mem::take(&mut cur),
                cursor: 0,
            });
            bytes = 0;
        }
        bytes += d.data.len();
        cur.push(d);
    }
    frames.push(Frame::Docs { docs: cur, cursor });
    frames
}

pub(super) fn purge_frames(ids: Vec<DocumentId>) -> Vec<Frame> {
    ids.chunks(MAX_DOCS_PER_FRAME)
        .map(|c| Frame::Purge { docs: c.to_vec() })
        .collect()
}

/// A document the planner offers to live sessions: its catalog identity and access.
pub(super) struct Offer<'a> {
    pub id: DocumentId,
    pub header: &'a Header,
    pub fields: &'a AccessFields,
    pub erased: bool,
}

impl<'a> Offer<'a> {
    /// The offer of a catalog row.
    pub fn of(row: &'a CatalogRow) -> Offer<'a> {
        Offer {
            id: row.id,
            header: &row.header,
            fields: &row.fields,
            erased: row.erased,
        }
    }
}

/// A session a delivery goes to.
pub(super) struct Recipient {
    pub conn: ConnId,
    pub device: String,
    pub user: String,
}

/// What one session gets: purges, then documents.
pub(super) struct Delivery {
    pub conn: ConnId,
    pub docs: Vec<DocChanges>,
    pub purge: Vec<DocumentId>,
}

/// The one place a document's content is recorded as leaving the server for a device: a
/// `deliver` audit row (ids only), and held by the device from now on when it did not hold
/// it (which also clears an earlier purge mark), in the batch that commits with it.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_delivery(
    batch: &mut Batch,
    now: i64,
    school: &str,
    device: &str,
    user: &str,
    id: DocumentId,
    header: &Header,
    hold: bool,
) {
    if hold {
        batch.hold.push((device.to_string(), id));
    }
    batch.audit.push(audit_doc(
        now,
        school,
        device,
        user,
        AuditAction::Deliver,
        id,
        Some(header),
    ));
}

/// The delivery planner: for every recipient and offer, what the device may read is sent
/// (`payload(storage, offer index, whether the device holds it)`: the changes to send, or
/// none when it needs nothing) and recorded ([`record_delivery`]); what it may no longer
/// read but may hold is purged (when `purge`), and the purge remembered. `holdings` is what
/// the recipients hold, asked of the storage once by the caller ([`Storage::holdings`] or
/// [`Storage::holders`]; a device left out holds none of the offers). `holder` is a device
/// that holds every offer whatever the storage says (the pusher's, whose own push is in the
/// same batch). Push, fetch and the poll path deliver through here.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    storage: &mut dyn Storage,
    batch: &mut Batch,
    now: i64,
    roster: &Roster,
    recipients: &[Recipient],
    offers: &[Offer<'_>],
    holdings: &HashMap<String, Holding>,
    holder: Option<&str>,
    purge: bool,
    mut payload: impl FnMut(&mut dyn Storage, usize, bool) -> Result<Option<DocChanges>>,
) -> Result<Vec<Delivery>> {
    let none = Holding::default();
    let mut out = vec![];
    for r in recipients {
        let holding = holdings.get(&r.device).unwrap_or(&none);
        let mut docs = vec![];
        let mut purged = vec![];
        for (i, o) in offers.iter().enumerate() {
            let readable = !o.erased && access(roster, &r.user, o.header, o.fields) >= Access::Read;
            let has = holding.has(&o.id) || holder == Some(r.device.as_str());
            if readable {
                if let Some(d) = payload(storage, i, has)? {
                    record_delivery(
                        batch,
                        now,
                        &o.header.school,
                        &r.device,
                        &r.user,
                        o.id,
                        o.header,
                        !has,
                    );
                    docs.push(d);
                }
            } else if purge && holding.held.contains(&o.id) {
                // "held" means "may hold": a purge can be lost with its connection, so the
                // row stays and the purge is repeated until access returns.
                batch.purged.push((r.device.clone(), o.id));
                purged.push(o.id);
            }
        }
        if !docs.is_empty() || !purged.is_empty() {
            out.push(Delivery {
                conn: r.conn,
                docs,
                purge: purged,
            });
        }
    }
    Ok(out)
}

/// The frames of planned deliveries, `cursor` on each session's last `docs` frame. Purges
/// first: a docs frame carries a cursor past the purge, so the purge must not arrive after
/// it (or be lost while it arrives).
pub(super) fn delivery_frames(deliveries: Vec<Delivery>, cursor: u64) -> Outgoing {
    let mut out = vec![];
    for d in deliveries {
        out.extend(purge_frames(d.purge).into_iter().map(|f| (d.conn, f)));
        if !d.docs.is_empty() {
            out.extend(docs_frames(d.docs, cursor).into_iter().map(|f| (d.conn, f)));
        }
    }
    out
}

impl Hub {
    /// The live sessions of `school` (but `except`), as recipients of deliveries.
    pub(super) fn recipients(&self, school: &str, except: Option<ConnId>) -> Vec<Recipient> {
        self.sessions
            .iter()
            // A pupil session is write-only: nothing is delivered to it.
            .filter(|(c, s)| {
                s.live && s.scope.is_none() && s.device.school == school && Some(**c) != except
            })
            .map(|(c, s)| Recipient {
                conn: *c,
                device: s.device.id.clone(),
                user: s.device.user.clone(),
            })
            .collect()
    }

    /// Deliver catalog rows this hub has not delivered yet (written by another process, or
    /// by an admin operation): changed documents to sessions that may read them, purges to
    /// those that may no longer.
    fn deliver_since(&mut self, now: i64) -> Result<Outgoing> {
        let mut out = vec![];
        loop {
            let rows = self.storage.catalog_changes(self.seen_seq, DELIVER_PAGE)?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                break;
            };
            let mut by_school: BTreeMap<String, Vec<CatalogRow>> = BTreeMap::new();
            for r in rows {
                by_school
                    .entry(r.header.school.clone())
                    .or_default()
                    .push(r);
            }
            let mut batch = Batch::default();
            let mut deliveries = vec![];
            for (school, rows) in by_school {
                if !self.live.contains_key(&school) {
                    continue;
                }
                let roster = self.roster(&school)?;
                let offers: Vec<Offer<'_>> = rows.iter().map(Offer::of).collect();
                let ids: Vec<DocumentId> = rows.iter().map(|r| r.id).collect();
                let (recipients, holdings) = if rows.len() <= HOLDERS_UP_TO {
                    // A few documents (another node's push): their readers and holders.
                    let holders = self.storage.holders(&ids)?;
                    let recipients = self.recipients_of(&school, None, &roster, &offers, &holders);
                    (recipients, holders)
                } else {
                    // Many (a roster change bumps every row it concerns): every live
                    // session of the school, and what they hold of them.
                    let recipients = self.recipients(&school, None);
                    let mut devices: Vec<String> =
                        recipients.iter().map(|r| r.device.clone()).collect();
                    devices.sort();
                    devices.dedup();
                    let holdings = self.storage.holdings(&devices, &ids)?;
                    (recipients, holdings)
                };
                if recipients.is_empty() {
                    continue;
                }
                let seen = self.seen_seq;
                // Each whole document is read once, for every session that gets it.
                let mut whole: BTreeMap<DocumentId, Option<DocChanges>> = BTreeMap::new();
                let payload = |st: &mut dyn Storage, i: usize, has: bool| {
                    let row = &rows[i];
                    // A reader gets the whole document when it changed since last seen, or
                    // when the device does not hold it (never had it, or purged it: "held"
                    // only means "may hold", see hello). A row only bumped by a roster
                    // change that the device still holds needs nothing.
                    if has && row.content_seq <= seen {
                        return Ok(None);
                    }
                    let doc = match whole.entry(row.id) {
                        Entry::Occupied(e) => e.into_mut(),
                        Entry::Vacant(e) => {
                            e.insert(st.load_stored(row.id)?.map(|s| whole_doc(row, s)))
                        }
                    };
                    Ok(doc.clone())
                };
                deliveries.extend(plan(
                    self.storage.as_mut(),
                    &mut batch,
                    now,
                    &roster,
                    &recipients,
                    &offers,
                    &holdings,
                    None,
                    true,
                    payload,
                )?);
            }
            self.storage.commit(batch)?;
            let frames = delivery_frames(deliveries, last);
            self.note_cursors(&frames);
            out.extend(frames);
            self.seen_seq = last;
        }
        Ok(out)
    }

    /// Pick up what was written outside this hub (admin CLI, another node): revoked devices
    /// are told and dropped, roster changes purge and grant. Call about once a second.
    pub fn poll(&mut self, now: i64) -> Outgoing {
        self.poll_logged(now).unwrap_or_default()
    }

    /// [`Hub::try_poll`], its error logged: `None` when the poll failed.
    pub(super) fn poll_logged(&mut self, now: i64) -> Option<Outgoing> {
        self.try_poll(now)
            .inspect_err(|e| tracing::error!(error = %e, "poll failed"))
            .ok()
    }

    pub(super) fn try_poll(&mut self, now: i64) -> Result<Outgoing> {
        let mut out = vec![];
        let (last_seq, last_event) = self.storage.last_seqs()?;
        if last_event > self.admin_seq {
            for ev in self.storage.admin_events_since(self.admin_seq)? {
                self.admin_seq = ev.seq;
                match ev.kind {
                    crate::storage::AdminEventKind::Revoke => {
                        let Some(dev) = ev.device else { continue };
                        let conns: Vec<ConnId> = self
                            .sessions
                            .iter()
                            .filter(|(_, s)| s.device.id == dev)
                            .map(|(c, _)| *c)
                            .collect();
                        for c in conns {
                            self.remove_session(c);
                            out.push((c, Frame::Revoked {}));
                        }
                    }
                    _ => {
                        if let Some(school) = ev.school {
                            self.rosters.remove(&school);
                            self.cache.remove(&doc::roster_id(&school));
                        }
                    }
                }
            }
        }
        if last_seq > self.seen_seq {
            out.extend(self.deliver_since(now)?);
        }
        out.extend(self.repo_fanout(now)?);
        out.extend(self.move_cursors(now));
        Ok(out)
    }

    /// Remember the cursors that live `docs` frames carry to their sessions.
    pub(super) fn note_cursors(&mut self, frames: &Outgoing) {
        for (conn, f) in frames {
            if let Frame::Docs { cursor, .. } = f
                && *cursor > 0
                && let Some(s) = self.sessions.get_mut(conn)
            {
                s.cursor = s.cursor.max(*cursor);
            }
        }
    }

    /// Give every live session whose cursor is behind the cursor it may keep: every catalog
    /// row up to `seen_seq` was offered to it (frames to one session go out in order, so
    /// this one follows whatever it was given of them), and what it got nothing of it may
    /// not read. A document it is granted later comes back above the cursor (a roster
    /// change bumps the rows it concerns), so nothing it may read is skipped; its next
    /// catch-up then costs what changed for it, not what changed in the school. A device
    /// keeps such a cursor only once caught up with nothing left to fetch (core's engine).
    ///
    /// Every [`CURSOR_EVERY_MS`], in [`CURSOR_SLICES`] slices: slice i's period starts i
    /// tenths into the period, so each session is swept once a period, at its slice's
    /// moment, and a clock that jumps a whole period sweeps every slice.
    fn move_cursors(&mut self, now: i64) -> Outgoing {
        let step = CURSOR_EVERY_MS / CURSOR_SLICES as i64;
        let mut due = [false; CURSOR_SLICES];
        for (i, d) in due.iter_mut().enumerate() {
            let period = (now + i as i64 * step).div_euclid(CURSOR_EVERY_MS);
            if period > self.cursor_periods[i] {
                self.cursor_periods[i] = period;
                *d = true;
            }
        }
        if !due.contains(&true) {
            return vec![];
        }
        let seen = self.seen_seq;
        let mut out = vec![];
        for (conn, s) in self.sessions.iter_mut() {
            if due[conn.0 as usize % CURSOR_SLICES]
                && s.live
                && s.scope.is_none()
                && !s.repo
                && s.cursor < seen
            {
                s.cursor = seen;
                out.push((
                    *conn,
                    Frame::Docs {
                        docs: vec![],
                        cursor: seen,
                    },
                ));
            }
        }
        out
    }
}
