//! Catching up: `hello`, the catalog since a cursor, and purges.
//!
//! A catch-up reads every row of the school since the device's cursor: for a fresh device
//! in a large school, a long read. With [`HubConfig::catch_up_beside`](super::HubConfig)
//! the hub does not read the large ones itself but leaves them to a reader beside it
//! ([`super::beside`]). Back, the hub stores the marks the read found, reads on itself only
//! what changed since the read began (every write of a catalog row moves it past that
//! point), and the session goes live.

use super::beside::Purpose;
use super::fetch::MOVED_UP_TO;
use super::{ConnId, Hub, Outgoing, readable};
use crate::Result;
use crate::storage::{Batch, CatalogRow, Device, DeviceOutbox, Storage};
use omkijken_core::DocumentId;
use omkijken_core::ids::heads_to_hex;
use omkijken_core::model::Roster;
use omkijken_core::sync::{CatalogEntry, Frame, MAX_DOCS_PER_FRAME};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A catch-up read beside the hub ([`super::beside`]): where this read began and ended,
/// where the catch-up began (`from`: a long one is read in chunks,
/// [`HubConfig::catch_up_chunk`](super::HubConfig)), the outbox `hello` reported, and the
/// roster it was judged by.
#[derive(Debug)]
pub(super) struct Awaited {
    pub(super) cursor: u64,
    pub(super) upto: u64,
    pub(super) from: u64,
    pub(super) outbox: Option<DeviceOutbox>,
    pub(super) roster: Arc<Roster>,
}

/// What a catch-up read beside the hub found: catalog frames, none complete, and the marks
/// to store (held from now on, purged); `next`: it stopped at its chunk's end, after the
/// row of this sequence, before `upto`.
#[derive(Debug)]
pub(super) struct Read {
    frames: Vec<Frame>,
    hold: Vec<DocumentId>,
    purged: Vec<DocumentId>,
    upto: u64,
    next: Option<u64>,
}

impl Read {
    /// Without what it read of these documents (their rows were written since).
    fn without(mut self, moved: &BTreeSet<DocumentId>) -> Read {
        let fresh = |id: &DocumentId| !moved.contains(id);
        self.hold.retain(fresh);
        self.purged.retain(fresh);
        self.frames.retain_mut(|f| match f {
            Frame::Catalog { entries, purge, .. } => {
                entries.retain(|e| fresh(&e.document_id));
                purge.retain(fresh);
                !entries.is_empty() || !purge.is_empty()
            }
            _ => true,
        });
        self
    }
}

/// What a read of the catalog since a cursor found for one device.
#[derive(Default)]
pub(super) struct Scan {
    /// Full catalog frames (not complete).
    frames: Vec<Frame>,
    /// What did not fill a frame.
    entries: Vec<CatalogEntry>,
    purge: Vec<DocumentId>,
    hold: Vec<DocumentId>,
    purged: Vec<DocumentId>,
    /// Every row read (when asked for).
    seen: BTreeSet<DocumentId>,
    /// Stopped at the chunk's end, after the row of this sequence.
    next: Option<u64>,
}

impl Scan {
    /// What was read beside the hub up to `upto` (where the catalog stood when the job was
    /// made), to be handed back.
    pub(super) fn beside(self, upto: u64, epoch: &str) -> Read {
        let mut frames = self.frames;
        if !self.entries.is_empty() || !self.purge.is_empty() {
            frames.push(Frame::Catalog {
                entries: self.entries,
                purge: self.purge,
                cursor: upto,
                complete: false,
                epoch: Some(epoch.to_string()),
            });
        }
        Read {
            frames,
            hold: self.hold,
            purged: self.purged,
            upto,
            next: self.next,
        }
    }
}

/// The school's rows after `cursor` and up to `upto`, a page at a time (memory for one page
/// and the entries to send, not for the school's catalog): what `device` may read becomes a
/// catalog entry and is held from now on (which also clears an earlier purge mark: the
/// device sees the entry and fetches what it lacks); what it may not read and may hold is
/// purged. Pure reads: beside the hub ([`Scan::beside`]) on any storage connection of the
/// same store. With `chunk`, it stops after that many rows ([`Scan::next`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn scan(
    storage: &mut dyn Storage,
    roster: &Roster,
    device: &Device,
    cursor: u64,
    upto: u64,
    epoch: &str,
    note_seen: bool,
    chunk: Option<usize>,
) -> Result<Scan> {
    let mut s = Scan::default();
    let mut after = cursor;
    let mut read = 0usize;
    loop {
        let page = storage.catalog_since(&device.school, after, &device.id)?;
        let full = page.len() == crate::storage::CATALOG_PAGE;
        for (row, held) in page {
            after = row.seq;
            if row.seq > upto {
                // Written after the catalog's end was read: the caller reads it.
                return Ok(s);
            }
            let reach = readable(roster, &device.user, &row);
            s.row(epoch, note_seen, &row, reach, held);
            read += 1;
            if chunk.is_some_and(|c| read >= c) {
                s.next = Some(after);
                return Ok(s);
            }
        }
        if !full {
            return Ok(s);
        }
    }
}

/// [`scan`] over rows already read (a school's tail kept in memory, [`super::tail`]): the
/// same entries, marks and purges. Only whether the device holds what it may not read is
/// asked of the storage, in one call.
fn scan_rows(
    storage: &mut dyn Storage,
    roster: &Roster,
    device: &Device,
    epoch: &str,
    note_seen: bool,
    rows: &[CatalogRow],
) -> Result<Scan> {
    // Judged once a row: the same verdict decides the purge question and the entry.
    let reach: Vec<bool> = rows
        .iter()
        .map(|r| readable(roster, &device.user, r))
        .collect();
    let out_of_reach: Vec<DocumentId> = rows
        .iter()
        .zip(&reach)
        .filter(|(_, may)| !**may)
        .map(|(r, _)| r.id)
        .collect();
    let held = match out_of_reach.is_empty() {
        true => Default::default(),
        false => storage.held_among(&device.id, &out_of_reach)?,
    };
    let mut s = Scan::default();
    for (row, may) in rows.iter().zip(reach) {
        s.row(epoch, note_seen, row, may, held.contains(&row.id));
    }
    Ok(s)
}

impl Scan {
    /// One catalog row read for a device: `readable` whether its user may read it now, `held`
    /// whether the device may hold it.
    fn row(&mut self, epoch: &str, note_seen: bool, row: &CatalogRow, readable: bool, held: bool) {
        if note_seen {
            self.seen.insert(row.id);
        }
        if readable {
            self.hold.push(row.id);
            self.entries.push(CatalogEntry {
                document_id: row.id,
                header: row.header.clone(),
                fields: row.fields.clone(),
                heads: heads_to_hex(&row.heads),
                seq: row.seq,
            });
        } else if held {
            // "held" means "may hold": a purge can be lost with its connection, so the row
            // stays and the purge is repeated until access returns.
            self.purged.push(row.id);
            self.purge.push(row.id);
        }
        if self.entries.len() >= MAX_DOCS_PER_FRAME || self.purge.len() >= MAX_DOCS_PER_FRAME {
            self.frames.push(Frame::Catalog {
                entries: std::mem::take(&mut self.entries),
                purge: std::mem::take(&mut self.purge),
                cursor: row.seq,
                complete: false,
                epoch: Some(epoch.to_string()),
            });
        }
    }
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
        let cursor = clamp(cursor, last);
        if self
            .config
            .catch_up_beside
            .is_some_and(|from| last - cursor > from)
        {
            // Read beside the hub (`super::beside`); finished in `settle_read`.
            self.read_beside(
                conn,
                device,
                roster.clone(),
                Purpose::CatchUp(Awaited {
                    cursor,
                    upto: last,
                    from: cursor,
                    outbox,
                    roster,
                }),
            );
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
        // A short catch-up: from the school's tail in memory when it fits one.
        let storage = self.storage.as_mut();
        let s = match self.tails.rows(storage, &device.school, cursor, last)? {
            Some(rows) => scan_rows(
                storage,
                roster,
                device,
                &self.epoch,
                earlier.is_some(),
                rows,
            )?,
            None => scan(
                storage,
                roster,
                device,
                cursor,
                last,
                &self.epoch,
                earlier.is_some(),
                None,
            )?,
        };
        let mut frames = vec![];
        let mut hold = vec![];
        let mut purged = vec![];
        if let Some(e) = earlier {
            let e = e.without(&s.seen);
            hold.extend(e.hold);
            purged.extend(e.purged);
            frames.extend(e.frames);
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

    /// A catch-up read beside the hub is back (`read`: none when nothing was read): with
    /// what was read there, if the roster it was judged by is still the school's, else all
    /// on the hub. A chunk that stopped short of the catalog's end is sent at once (its
    /// rows written since left out: the next chunk or the hub reads them anew) and the
    /// next chunk returned, to be read beside the hub.
    pub(super) fn settle_read(
        &mut self,
        now: i64,
        conn: ConnId,
        pending: &Awaited,
        read: Option<Read>,
    ) -> Result<(Outgoing, Option<Awaited>)> {
        let device = self.sessions[&conn].device.clone();
        let roster = self.roster(&device.school)?;
        let last = self.storage.last_seq()?;
        let same = Arc::ptr_eq(&roster, &pending.roster);
        let here = |hub: &mut Hub, cursor: u64, earlier: Option<Read>| {
            hub.catch_up_here(
                now,
                conn,
                &device,
                &roster,
                cursor,
                last,
                pending.outbox,
                earlier,
            )
            .map(|o| (o, None))
        };
        match read {
            Some(r) if same && r.upto <= last => match r.next {
                None => {
                    let upto = r.upto;
                    here(self, upto, Some(r))
                }
                Some(next) => {
                    let moved = self.storage.catalog_changes(r.upto, MOVED_UP_TO)?;
                    if moved.len() >= MOVED_UP_TO {
                        // Too much written since to sort out: this chunk and the rest here.
                        return here(self, pending.cursor, None);
                    }
                    let moved: BTreeSet<DocumentId> = moved.into_iter().map(|r| r.id).collect();
                    let r = r.without(&moved);
                    let mark = |ids: Vec<DocumentId>| -> Vec<(String, DocumentId)> {
                        ids.into_iter().map(|id| (device.id.clone(), id)).collect()
                    };
                    if !r.hold.is_empty() || !r.purged.is_empty() {
                        self.storage.commit(Batch {
                            hold: mark(r.hold),
                            purged: mark(r.purged),
                            ..Default::default()
                        })?;
                    }
                    let out = r.frames.into_iter().map(|f| (conn, f)).collect();
                    Ok((
                        out,
                        Some(Awaited {
                            cursor: next,
                            upto: last,
                            from: pending.from,
                            outbox: pending.outbox,
                            roster: pending.roster.clone(),
                        }),
                    ))
                }
            },
            // Nothing was read: all of it here, from where this read began.
            None if same => here(self, clamp(pending.cursor, last), None),
            // The roster changed meanwhile (or the store was restored): all of it here, from
            // where the catch-up began, since the chunks sent so far were judged by the
            // roster before (what they listed that the user may no longer read is purged).
            _ => here(self, clamp(pending.from, last), None),
        }
    }
}

/// A cursor past the catalog's end (the store was restored from a backup) starts over.
fn clamp(cursor: u64, last: u64) -> u64 {
    if cursor > last { 0 } else { cursor }
}
