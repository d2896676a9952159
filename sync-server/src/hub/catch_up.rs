//! Catching up (`hello`: the catalog since a cursor, purges) and `fetch`.
//!
//! A catch-up reads every row of the school since the device's cursor: for a fresh device
//! in a large school, a long read. With [`HubConfig::catch_up_beside`](super::HubConfig)
//! the hub does not read the large ones itself: `hello` leaves a [`CatchUpJob`] that the driver runs
//! on a storage connection of its own ([`CatchUpJob::scan`], a pure read), and hands back
//! ([`Hub::caught_up`]). The hub then stores the marks the read found, reads on itself only
//! what changed since the read began (every write of a catalog row moves it past that
//! point), and the session goes live. Frames the session sends meanwhile wait, in order,
//! within a bound; past it the hub catches the session up itself at once.

use super::fanout::{Offer, Recipient, docs_frames, plan, same_heads, whole_doc};
use super::{ConnId, Hub, Outgoing, load_cached, readable};
use crate::Result;
use crate::storage::{Batch, CatalogRow, Device, DeviceOutbox, Storage, StoredDoc};
use automerge::{Automerge, ChangeHash};
use omkijken_core::ids::{heads_from_hex, heads_to_hex};
use omkijken_core::model::Roster;
use omkijken_core::sync::{
    CatalogEntry, DocChanges, ErrorCode, FetchRequest, Frame, MAX_DOCS_PER_FRAME,
};
use omkijken_core::{Access, DocumentId, access};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// Frames of a session waiting for its catch-up, at most, before the hub catches it up
/// itself.
const MAX_PARKED_FRAMES: usize = 16;
/// Bytes of frames waiting for a catch-up, at most (see [`MAX_PARKED_FRAMES`]).
const MAX_PARKED_BYTES: usize = 4 * 1024 * 1024;

/// A catch-up being read beside the hub, kept on its session.
#[derive(Debug)]
pub(super) struct Pending {
    ticket: u64,
    cursor: u64,
    outbox: Option<DeviceOutbox>,
    roster: Arc<Roster>,
    /// Frames the session sent meanwhile, in order, and their size.
    parked: VecDeque<Frame>,
    parked_bytes: usize,
}

/// The reading half of a device's catch-up, to run on a storage connection beside the hub
/// ([`CatchUpJob::scan`]); its result goes back to the hub with [`Hub::caught_up`].
#[derive(Debug, Clone)]
pub struct CatchUpJob {
    /// The session.
    pub conn: ConnId,
    ticket: u64,
    device: Device,
    roster: Arc<Roster>,
    cursor: u64,
    upto: u64,
    epoch: String,
}

/// What a [`CatchUpJob`] read.
#[derive(Debug)]
pub struct CaughtUp {
    conn: ConnId,
    ticket: u64,
    /// Catalog frames, none complete, and the marks to store: held from now on, purged.
    read: Result<Read>,
}

#[derive(Debug)]
struct Read {
    frames: Vec<Frame>,
    hold: Vec<DocumentId>,
    purged: Vec<DocumentId>,
    upto: u64,
}

impl CaughtUp {
    /// The session it is for.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Whether the read failed (the hub reads it itself; the reader's storage connection
    /// may be broken).
    pub fn failed(&self) -> bool {
        self.read.is_err()
    }
}

impl CatchUpJob {
    /// Handed back unread (no storage connection beside the hub): the hub reads it itself.
    pub fn unread(&self, why: crate::Error) -> CaughtUp {
        CaughtUp {
            conn: self.conn,
            ticket: self.ticket,
            read: Err(why),
        }
    }

    /// Read the school's catalog rows from the cursor up to where the catalog stood when
    /// the job was made: pure reads, on any storage connection of the same store.
    pub fn scan(&self, storage: &mut dyn Storage) -> CaughtUp {
        let read = scan(
            storage,
            &self.roster,
            &self.device,
            self.cursor,
            self.upto,
            &self.epoch,
            false,
        )
        .map(|s| {
            let mut frames = s.frames;
            if !s.entries.is_empty() || !s.purge.is_empty() {
                frames.push(Frame::Catalog {
                    entries: s.entries,
                    purge: s.purge,
                    cursor: self.upto,
                    complete: false,
                    epoch: Some(self.epoch.clone()),
                });
            }
            Read {
                frames,
                hold: s.hold,
                purged: s.purged,
                upto: self.upto,
            }
        });
        CaughtUp {
            conn: self.conn,
            ticket: self.ticket,
            read,
        }
    }
}

/// What a read of the catalog since a cursor found for one device.
struct Scan {
    /// Full catalog frames (not complete).
    frames: Vec<Frame>,
    /// What did not fill a frame.
    entries: Vec<CatalogEntry>,
    purge: Vec<DocumentId>,
    hold: Vec<DocumentId>,
    purged: Vec<DocumentId>,
    /// Every row read (when asked for).
    seen: BTreeSet<DocumentId>,
}

/// The school's rows after `cursor` and up to `upto`, a page at a time (memory for one page
/// and the entries to send, not for the school's catalog): what `device` may read becomes a
/// catalog entry and is held from now on (which also clears an earlier purge mark: the
/// device sees the entry and fetches what it lacks); what it may not read and may hold is
/// purged.
fn scan(
    storage: &mut dyn Storage,
    roster: &Roster,
    device: &Device,
    cursor: u64,
    upto: u64,
    epoch: &str,
    note_seen: bool,
) -> Result<Scan> {
    let mut s = Scan {
        frames: vec![],
        entries: vec![],
        purge: vec![],
        hold: vec![],
        purged: vec![],
        seen: BTreeSet::new(),
    };
    storage.for_each_since(&device.school, cursor, &device.id, &mut |row, held| {
        if row.seq > upto {
            // Written after the catalog's end was read: the caller reads it.
            return Ok(());
        }
        if note_seen {
            s.seen.insert(row.id);
        }
        let readable =
            !row.erased && access(roster, &device.user, &row.header, &row.fields) >= Access::Read;
        if readable {
            s.hold.push(row.id);
            s.entries.push(CatalogEntry {
                document_id: row.id,
                header: row.header,
                fields: row.fields,
                heads: heads_to_hex(&row.heads),
                seq: row.seq,
            });
        } else if held {
            // "held" means "may hold": a purge can be lost with its connection, so the row
            // stays and the purge is repeated until access returns.
            s.purged.push(row.id);
            s.purge.push(row.id);
        }
        if s.entries.len() >= MAX_DOCS_PER_FRAME || s.purge.len() >= MAX_DOCS_PER_FRAME {
            s.frames.push(Frame::Catalog {
                entries: std::mem::take(&mut s.entries),
                purge: std::mem::take(&mut s.purge),
                cursor: row.seq,
                complete: false,
                epoch: Some(epoch.to_string()),
            });
        }
        Ok(())
    })?;
    Ok(s)
}

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
        if self.sessions[&conn].scope.is_some() {
            // A pupil session reads nothing: an empty catalog, complete, at cursor 0 (not
            // even how much the school wrote), and no live pushes (`recipients`).
            let _ = cursor;
            let outbox: Vec<_> = outbox.map(|o| (device.id.clone(), o)).into_iter().collect();
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
        if self
            .config
            .catch_up_beside
            .is_some_and(|from| last - cursor > from)
        {
            // Read beside the hub ([`Hub::take_catch_ups`]); finished in [`Hub::caught_up`].
            self.next_ticket += 1;
            let ticket = self.next_ticket;
            let job = CatchUpJob {
                conn,
                ticket,
                device,
                roster: roster.clone(),
                cursor,
                upto: last,
                epoch: self.epoch.clone(),
            };
            self.catch_ups.push(job);
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.pending = Some(Box::new(Pending {
                    ticket,
                    cursor,
                    outbox,
                    roster,
                    parked: VecDeque::new(),
                    parked_bytes: 0,
                }));
            }
            return Ok(vec![]);
        }
        self.catch_up_here(now, conn, &device, &roster, cursor, last, outbox, None)
    }

    /// Read the catalog since `cursor` on the hub and end the catch-up. `earlier`: what was
    /// read beside the hub up to `cursor`; of a row written since (read here again) it
    /// keeps nothing, neither the entry nor the mark: the document may have been erased or
    /// moved out of the user's reach meanwhile, and its entry must not be sent.
    #[allow(clippy::too_many_arguments)]
    fn catch_up_here(
        &mut self,
        now: i64,
        conn: ConnId,
        device: &Device,
        roster: &Roster,
        cursor: u64,
        last: u64,
        outbox: Option<DeviceOutbox>,
        earlier: Option<Read>,
    ) -> Result<Outgoing> {
        let s = scan(
            self.storage.as_mut(),
            roster,
            device,
            cursor,
            last,
            &self.epoch,
            earlier.is_some(),
        )?;
        let mut frames = vec![];
        let mut hold = vec![];
        let mut purged = vec![];
        if let Some(e) = earlier {
            let fresh = |id: &DocumentId| !s.seen.contains(id);
            hold.extend(e.hold.into_iter().filter(fresh));
            purged.extend(e.purged.into_iter().filter(fresh));
            for mut f in e.frames {
                if let Frame::Catalog { entries, purge, .. } = &mut f {
                    entries.retain(|e| fresh(&e.document_id));
                    purge.retain(fresh);
                    if entries.is_empty() && purge.is_empty() {
                        continue;
                    }
                }
                frames.push(f);
            }
        }
        hold.extend(s.hold);
        purged.extend(s.purged);
        let mark = |ids: Vec<DocumentId>| -> Vec<(String, DocumentId)> {
            ids.into_iter().map(|id| (device.id.clone(), id)).collect()
        };
        self.storage.commit(Batch {
            touch: vec![(device.id.clone(), now)],
            outbox: outbox.map(|o| (device.id.clone(), o)).into_iter().collect(),
            hold: mark(hold),
            purged: mark(purged),
            ..Default::default()
        })?;
        frames.extend(s.frames);
        frames.push(Frame::Catalog {
            entries: s.entries,
            purge: s.purge,
            cursor: last,
            complete: true,
            epoch: Some(self.epoch.clone()),
        });
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.live = true;
            s.cursor = s.cursor.max(last);
        }
        self.index_live(conn);
        Ok(frames.into_iter().map(|f| (conn, f)).collect())
    }

    /// Catch-ups to read beside the hub (with [`HubConfig::catch_up_beside`](super::HubConfig)):
    /// run each [`CatchUpJob::scan`] on a storage connection of its own and hand the result
    /// to [`Hub::caught_up`].
    pub fn take_catch_ups(&mut self) -> Vec<CatchUpJob> {
        std::mem::take(&mut self.catch_ups)
    }

    /// A frame of a session whose catch-up is being read: it waits, in order; when too
    /// much waits already, the hub catches the session up itself and handles them all.
    pub(super) fn park(&mut self, now: i64, conn: ConnId, frame: Frame) -> Outgoing {
        let size = crate::flow::approx_size(&frame);
        if let Some(pending) = self
            .sessions
            .get_mut(&conn)
            .and_then(|s| s.pending.as_mut())
            && pending.parked.len() < MAX_PARKED_FRAMES
            && pending.parked_bytes + size <= MAX_PARKED_BYTES
        {
            pending.parked.push_back(frame);
            pending.parked_bytes += size;
            return vec![];
        }
        let mut out = self.settle(now, conn, None);
        out.extend(self.receive(now, conn, frame));
        out
    }

    /// A catch-up read beside the hub is back: store its marks, read what changed since it
    /// began, and send it all; then the frames the session sent meanwhile are handled.
    pub fn caught_up(&mut self, now: i64, done: CaughtUp) -> Outgoing {
        let current = self
            .sessions
            .get(&done.conn)
            .and_then(|s| s.pending.as_ref())
            .is_some_and(|p| p.ticket == done.ticket);
        if !current {
            // The session closed, or was caught up on the hub meanwhile.
            return vec![];
        }
        let Some(mut out) = self.poll_once_a_group(now) else {
            return self.fail(done.conn, ErrorCode::Internal, "server error");
        };
        let read = match done.read {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "a catch-up read beside the hub failed; reading on the hub");
                None
            }
        };
        out.extend(self.settle(now, done.conn, read));
        out
    }

    /// End a pending catch-up of `conn`: with what was read beside the hub, if the roster
    /// it was judged by is still the school's; else (or with nothing read) all on the hub.
    /// Then the parked frames, in order.
    fn settle(&mut self, now: i64, conn: ConnId, read: Option<Read>) -> Outgoing {
        let Some(pending) = self.sessions.get_mut(&conn).and_then(|s| s.pending.take()) else {
            return vec![];
        };
        let caught = self.settle_read(now, conn, &pending, read);
        let mut out = match caught {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "catch-up failed");
                return self.fail(
                    conn,
                    ErrorCode::Internal,
                    "server error; nothing was acknowledged",
                );
            }
        };
        for frame in pending.parked {
            out.extend(self.receive(now, conn, frame));
        }
        out
    }

    fn settle_read(
        &mut self,
        now: i64,
        conn: ConnId,
        pending: &Pending,
        read: Option<Read>,
    ) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        let roster = self.roster(&device.school)?;
        let last = self.storage.last_seq()?;
        match read {
            Some(r) if Arc::ptr_eq(&roster, &pending.roster) && r.upto <= last => {
                let upto = r.upto;
                self.catch_up_here(
                    now,
                    conn,
                    &device,
                    &roster,
                    upto,
                    last,
                    pending.outbox,
                    Some(r),
                )
            }
            // The roster changed meanwhile (or nothing was read): all of it here.
            _ => {
                let cursor = if pending.cursor > last {
                    0
                } else {
                    pending.cursor
                };
                self.catch_up_here(
                    now,
                    conn,
                    &device,
                    &roster,
                    cursor,
                    last,
                    pending.outbox,
                    None,
                )
            }
        }
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
