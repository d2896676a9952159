//! Reads beside the hub: a long catch-up (the catalog since a fresh device's cursor,
//! `catch_up`) and a large fetch (the documents it then asks for, `fetch`) are read on a
//! storage connection of the driver's, not on the hub's thread, so that the hub serves
//! other devices meanwhile, and readers serve different devices at once.
//!
//! The hub leaves a [`CatchUpJob`] ([`Hub::take_catch_ups`]); the driver runs
//! [`CatchUpJob::scan`] on a connection of its own (pure reads) and hands the [`CaughtUp`]
//! back ([`Hub::caught_up`]). Nothing read there is sent as it was read: the hub judges it
//! again against the roster and the catalog as they are then. The frames the session
//! sends meanwhile wait, in order, within a bound (past it the hub does all that waits
//! itself, at once); a session may have a few fetches read beside at once, handed back in
//! any order and answered in the order they were sent.

use super::catch_up::{self, Read};
use super::fetch::{self, MadeBeside};
use super::{ConnId, Hub, Outgoing};
use crate::Result;
use crate::storage::Device;
use omkijken_core::model::Roster;
use omkijken_core::sync::{ErrorCode, Frame};
use std::collections::VecDeque;
use std::sync::Arc;

/// Frames of a session waiting behind its reads beside the hub, at most, before the hub
/// does all that waits itself.
const MAX_PARKED_FRAMES: usize = 16;
/// Bytes of frames waiting behind reads beside the hub, at most (see [`MAX_PARKED_FRAMES`]).
const MAX_PARKED_BYTES: usize = 4 * 1024 * 1024;
/// Fetches of one session read beside the hub at once, at most.
const MAX_FETCHES_BESIDE: usize = 4;

/// What a session waits for, kept on it: its reads beside the hub and the frames it sent
/// after them, in the order sent. The reads come first: a read is left only while nothing
/// but fetches read beside waits.
#[derive(Debug, Default)]
pub(super) struct Beside {
    queue: VecDeque<Waiting>,
    parked_bytes: usize,
}

impl Beside {
    /// Reads and frames waiting.
    pub(super) fn waiting(&self) -> usize {
        self.queue.len()
    }
}

#[derive(Debug)]
enum Waiting {
    /// A read beside the hub; once back, what it read (none: nothing, the hub reads it).
    Read {
        ticket: u64,
        purpose: Purpose,
        back: Option<Option<Found>>,
    },
    /// A frame the session sent after the reads.
    Frame(Frame),
}

/// What a read beside the hub is for, as the hub left it.
#[derive(Debug)]
pub(super) enum Purpose {
    CatchUp(catch_up::Awaited),
    Fetch(fetch::Awaited),
}

/// What a read beside the hub found.
#[derive(Debug)]
pub(super) enum Found {
    Catalog(Read),
    Fetch(MadeBeside),
}

/// The reading half of a device's catch-up or fetch, to run on a storage connection beside
/// the hub ([`CatchUpJob::scan`]); its result goes back to the hub with [`Hub::caught_up`].
#[derive(Debug, Clone)]
pub struct CatchUpJob {
    /// The session.
    pub conn: ConnId,
    ticket: u64,
    device: Device,
    roster: Arc<Roster>,
    what: Job,
}

#[derive(Debug, Clone)]
enum Job {
    /// The school's catalog rows after `cursor`, up to `upto`; at most `chunk` of them.
    Catalog {
        cursor: u64,
        upto: u64,
        epoch: String,
        chunk: Option<usize>,
    },
    /// The documents asked for.
    Fetch(Vec<omkijken_core::sync::FetchRequest>),
}

/// What a [`CatchUpJob`] read.
#[derive(Debug)]
pub struct CaughtUp {
    conn: ConnId,
    ticket: u64,
    read: Result<Found>,
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

    /// Read it: pure reads, on any storage connection of the same store.
    pub fn scan(&self, storage: &mut dyn crate::Storage) -> CaughtUp {
        let read = match &self.what {
            Job::Catalog {
                cursor,
                upto,
                epoch,
                chunk,
            } => catch_up::scan(
                storage,
                &self.roster,
                &self.device,
                *cursor,
                *upto,
                epoch,
                false,
                *chunk,
            )
            .map(|s| Found::Catalog(s.beside(*upto, epoch))),
            Job::Fetch(reqs) => {
                fetch::prepare_beside(storage, &self.roster, &self.device.user, reqs)
                    .map(Found::Fetch)
            }
        };
        CaughtUp {
            conn: self.conn,
            ticket: self.ticket,
            read,
        }
    }
}

impl Hub {
    /// Catch-ups and fetches to read beside the hub (with
    /// [`HubConfig::catch_up_beside`](super::HubConfig) and
    /// [`HubConfig::fetch_beside`](super::HubConfig)): run each [`CatchUpJob::scan`] on a
    /// storage connection of its own and hand the result to [`Hub::caught_up`].
    pub fn take_catch_ups(&mut self) -> Vec<CatchUpJob> {
        std::mem::take(&mut self.catch_ups)
    }

    /// Whether a fetch of `conn` may be read beside the hub now: nothing but reads beside
    /// the hub waits (fetches, the catalog read in chunks), and fewer than
    /// [`MAX_FETCHES_BESIDE`] fetches. A fetch the device sent after a chunk of its catalog
    /// is then read while the next chunk is, and answered before it.
    pub(super) fn may_read_beside(&self, conn: ConnId) -> bool {
        match self.sessions.get(&conn).and_then(|s| s.beside.as_ref()) {
            None => true,
            Some(b) => {
                let fetches = b
                    .queue
                    .iter()
                    .filter(|w| {
                        matches!(
                            w,
                            Waiting::Read {
                                purpose: Purpose::Fetch(_),
                                ..
                            }
                        )
                    })
                    .count();
                fetches < MAX_FETCHES_BESIDE
                    && b.queue.iter().all(|w| matches!(w, Waiting::Read { .. }))
            }
        }
    }

    /// Whether `conn` said hello and its catalog is being read beside the hub.
    pub(super) fn catching_up(&self, conn: ConnId) -> bool {
        self.sessions
            .get(&conn)
            .and_then(|s| s.beside.as_ref())
            .is_some_and(|b| {
                b.queue.iter().any(|w| {
                    matches!(
                        w,
                        Waiting::Read {
                            purpose: Purpose::CatchUp(_),
                            ..
                        }
                    )
                })
            })
    }

    /// Leave a read of `conn` to be read beside the hub: the session waits for it.
    pub(super) fn read_beside(
        &mut self,
        conn: ConnId,
        device: Device,
        roster: Arc<Roster>,
        purpose: Purpose,
    ) {
        let waiting = self.leave_job(conn, device, roster, purpose);
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.beside
                .get_or_insert_with(Box::default)
                .queue
                .push_back(waiting);
        }
    }

    /// The job for a read beside the hub, left for the driver, and what the session waits
    /// for until it is back.
    fn leave_job(
        &mut self,
        conn: ConnId,
        device: Device,
        roster: Arc<Roster>,
        purpose: Purpose,
    ) -> Waiting {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let what = match &purpose {
            Purpose::CatchUp(a) => Job::Catalog {
                cursor: a.cursor,
                upto: a.upto,
                epoch: self.epoch.clone(),
                chunk: self.config.catch_up_chunk,
            },
            Purpose::Fetch(a) => Job::Fetch(a.reqs.clone()),
        };
        self.catch_ups.push(CatchUpJob {
            conn,
            ticket,
            device,
            roster,
            what,
        });
        Waiting::Read {
            ticket,
            purpose,
            back: None,
        }
    }

    /// A frame of a session with reads beside the hub: it waits, in order; when too much
    /// waits already, the hub does all that waits itself, then handles this frame.
    pub(super) fn park(&mut self, now: i64, conn: ConnId, frame: Frame) -> Outgoing {
        let size = crate::flow::approx_size(&frame);
        if let Some(b) = self.sessions.get_mut(&conn).and_then(|s| s.beside.as_mut())
            && b.queue
                .iter()
                .filter(|w| matches!(w, Waiting::Frame(_)))
                .count()
                < MAX_PARKED_FRAMES
            && b.parked_bytes + size <= MAX_PARKED_BYTES
        {
            b.queue.push_back(Waiting::Frame(frame));
            b.parked_bytes += size;
            return vec![];
        }
        let mut out = self.settle(now, conn, true);
        out.extend(self.receive(now, conn, frame));
        out
    }

    /// A read beside the hub is back: what waited for it, and for the reads before it, is
    /// done in order, as far as what is back allows.
    pub fn caught_up(&mut self, now: i64, done: CaughtUp) -> Outgoing {
        let Some(slot) = self
            .sessions
            .get_mut(&done.conn)
            .and_then(|s| s.beside.as_mut())
            .and_then(|b| {
                b.queue.iter_mut().find_map(|w| match w {
                    Waiting::Read { ticket, back, .. } if *ticket == done.ticket => Some(back),
                    _ => None,
                })
            })
        else {
            // The session closed, or did what waited on the hub meanwhile.
            return vec![];
        };
        *slot = Some(match done.read {
            Ok(found) => Some(found),
            Err(e) => {
                tracing::warn!(error = %e, "a read beside the hub failed; reading on the hub");
                None
            }
        });
        let Some(mut out) = self.poll_once_a_group(now) else {
            return self.fail(done.conn, ErrorCode::Internal, "server error");
        };
        out.extend(self.settle(now, done.conn, false));
        out
    }

    /// Do what waits on `conn`, in order: each read that is back, and the frames after the
    /// reads; stop at a read not back yet, unless `all` (the hub then reads it itself).
    fn settle(&mut self, now: i64, conn: ConnId, all: bool) -> Outgoing {
        let Some(mut beside) = self.sessions.get_mut(&conn).and_then(|s| s.beside.take()) else {
            return vec![];
        };
        let mut out = vec![];
        while let Some(waiting) = beside.queue.pop_front() {
            if !self.sessions.contains_key(&conn) {
                break;
            }
            match waiting {
                Waiting::Read { back: None, .. } if !all => {
                    // Reads come first: nothing after this one was done, and the session
                    // waits again.
                    beside.queue.push_front(waiting);
                    if let Some(s) = self.sessions.get_mut(&conn) {
                        s.beside = Some(beside);
                    }
                    break;
                }
                Waiting::Read { purpose, back, .. } => {
                    let found = back.flatten();
                    let done = match purpose {
                        Purpose::CatchUp(a) => {
                            let read = match found {
                                Some(Found::Catalog(r)) => Some(r),
                                _ => None,
                            };
                            self.settle_read(now, conn, &a, read).map(|(out, next)| {
                                if let Some(next) = next {
                                    // The catalog's next chunk: after the reads that wait,
                                    // before the frames (they wait for all reads).
                                    let device = self.sessions[&conn].device.clone();
                                    let roster = next.roster.clone();
                                    let w = self.leave_job(
                                        conn,
                                        device,
                                        roster,
                                        Purpose::CatchUp(next),
                                    );
                                    let at = beside
                                        .queue
                                        .iter()
                                        .position(|w| matches!(w, Waiting::Frame(_)))
                                        .unwrap_or(beside.queue.len());
                                    beside.queue.insert(at, w);
                                }
                                out
                            })
                        }
                        Purpose::Fetch(a) => {
                            let made = match found {
                                Some(Found::Fetch(m)) => Some(m),
                                _ => None,
                            };
                            self.fetched(now, conn, a, made)
                        }
                    };
                    match done {
                        Ok(o) => out.extend(o),
                        Err(e) => {
                            tracing::error!(error = %e, "catch-up failed");
                            out.extend(self.fail(
                                conn,
                                ErrorCode::Internal,
                                "server error; nothing was acknowledged",
                            ));
                            break;
                        }
                    }
                }
                // A frame after the reads: handled as if it came now (it may leave a read
                // beside the hub again; what follows it then waits behind that).
                Waiting::Frame(frame) => out.extend(self.receive(now, conn, frame)),
            }
        }
        out
    }
}
