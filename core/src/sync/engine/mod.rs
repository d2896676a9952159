//! The sans-io device sync engine (docs/protocol.md, version 1).
//!
//! [`ClientEngine::handle`] takes the time and one input (connected, a frame received, a
//! local change, a tick, disconnected) and returns what to do: frames to send, progress to
//! show, "caught up", refusals to report, "revoked" (after it wiped the store), close. It
//! reads and writes the [`Store`] but owns no socket, no task and no clock, so the same
//! engine runs behind the tokio driver (`crate::transport`, feature `transport`), in unit tests and in the
//! deterministic simulation.
//!
//! What the engine promises:
//! - The catch-up cursor is stored only once a catch-up is complete and every document it
//!   asked for is merged; an interrupted catch-up starts again from the old cursor.
//! - A document leaves the outbox only when a server acknowledged the heads that were
//!   pushed (never the server's heads, which may include changes this device lacks).
//! - A document refused for good (`invalid_record`, `forbidden` while the user may still
//!   read it, `too_large`, `malformed`) is reported once, kept for the user as a
//!   not-accepted item, and returned to the server's version, which the engine fetches:
//!   words are never lost, refusals never loop, and the device never diverges for good.
//!   Other refused documents stay in the store, unsent until they change locally or the
//!   server sends changes of them.
//! - Acknowledged heads are only ever heads the device holds (see `fetch_gaps`).
//! - Merges of one `docs` frame are one store transaction; acknowledged heads of one frame
//!   are one more.
//!
//! The engine's parts, one file a concern: `catch_up` (catalog pages, fetches, merging
//! `docs` frames, the cursor), `outbox` (pushing and acknowledgements), `refusals` (what a
//! refused push becomes) and `read_log` (uploading the local read log, and the barriers
//! that tell when fetches are answered). This file holds the types and `handle`.

mod catch_up;
mod outbox;
mod read_log;
mod refusals;
#[cfg(test)]
mod tests;

use super::frames::{ErrorCode, Frame, PROTOCOL_VERSION, RefusalReason};
use crate::ids::DocumentId;
use crate::store::OutboxCounts;
use crate::{Error, Result, Store};
use automerge::{ChangeHash, ReadDoc};
use std::collections::{HashMap, HashSet, VecDeque};

/// Documents per `push` frame.
pub const PUSH_BATCH_DOCS: usize = 500;
/// Bytes of document data per `push` frame (well under the 16 MiB frame limit).
pub const PUSH_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Documents pushed and not yet answered, at most (flow control).
pub const PUSH_WINDOW_DOCS: usize = 2_000;
/// Documents per `fetch` frame.
pub const FETCH_BATCH_DOCS: usize = 500;

/// Store setting: the catalog cursor of the last complete catch-up.
pub const SETTING_CURSOR: &str = "cursor";
/// Store setting: the lineage of the server store the cursor belongs to.
pub const SETTING_EPOCH: &str = "server_epoch";
/// Store setting: unix ms of the last complete sync (caught up, outbox answered).
pub const SETTING_LAST_SYNC: &str = "last_sync";

/// When `store` last completed a sync (caught up, outbox answered), unix ms; None if never.
pub fn last_sync_time(store: &Store) -> Result<Option<i64>> {
    Ok(store
        .setting(SETTING_LAST_SYNC)?
        .and_then(|v| v.parse().ok()))
}

/// What happened, as input to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientInput {
    /// A connection to `/v1/sync` is open (the upgrade was accepted).
    Connected,
    /// A frame arrived.
    Received(Frame),
    /// Something changed in the store (a local edit, or reads to upload).
    LocalChange,
    /// Periodic wake-up (uploads the read log, retries what waits).
    Tick,
    /// The connection is gone.
    Disconnected,
}

/// What the driver should do or show.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOutput {
    /// Send this frame.
    Send(Frame),
    /// Documents fetched, merged, pushed and answered in this session, of those known so far.
    Progress {
        /// Done.
        done: u64,
        /// Known so far (grows while the catalog streams in).
        total: u64,
    },
    /// The catch-up is complete and merged; the cursor is stored.
    CaughtUp {
        /// The stored cursor.
        cursor: u64,
    },
    /// Caught up, and every pushable document is acknowledged (or refused): nothing to do.
    Idle,
    /// The server refused a document. Refused for good: kept as a not-accepted item and
    /// the document returned to the server's version (`Store::not_accepted`); otherwise it
    /// stays in the store, unsent until it changes or the server sends changes of it.
    Refused {
        /// Document.
        document_id: DocumentId,
        /// Why.
        reason: RefusalReason,
    },
    /// The server sent an error frame; the connection ends.
    ServerError {
        /// Code.
        code: ErrorCode,
        /// The server's text (never care content).
        message: String,
    },
    /// The device was revoked; the store is wiped already.
    Revoked,
    /// Close the connection.
    Close,
}

/// Counts of one engine's work (since it was created).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Documents fetched during catch-ups and merged.
    pub fetched: u64,
    /// Documents received as live pushes and merged.
    pub received_live: u64,
    /// Documents pushed and acknowledged.
    pub pushed: u64,
    /// Refusals reported.
    pub refused: u64,
    /// Documents purged.
    pub purged: u64,
    /// Refusals for good kept as not-accepted items (the documents went back to the
    /// server's version).
    pub not_accepted: u64,
    /// Read-log rows acknowledged by the server.
    pub log_uploaded: u64,
}

#[derive(Debug, Clone)]
struct Pushed {
    heads: Vec<ChangeHash>,
    whole: bool,
}

/// The per-connection state; reset on connect and disconnect.
#[derive(Debug, Default)]
struct Session {
    connected: bool,
    /// The first catalog frame arrived: pushing may start.
    pushing: bool,
    /// When this connection last restarted the offline lease (engine clock).
    lease_marked_at: Option<i64>,
    /// Cursor of the complete catalog, waiting for the fetched documents.
    catalog_cursor: Option<u64>,
    /// The server store's lineage, as this catch-up gave it.
    epoch: Option<String>,
    /// A refused document arrived from the server: push again.
    retry_refused: bool,
    /// This catch-up is from a server store restored from a backup (its lineage is not
    /// the one the device knew): documents listed so far, to find those it lost.
    restored: Option<HashSet<DocumentId>>,
    /// Fetched whole from a restored server, to replace what this device holds of them
    /// when the answer comes (the roster: [`crate::store::Received::replaces`]).
    replace: HashSet<DocumentId>,
    caught_up: bool,
    /// Fetched documents not merged yet, with the heads the catalog gave (known durable).
    pending_fetch: HashMap<DocumentId, Vec<ChangeHash>>,
    /// Pushed and not yet answered.
    inflight: HashMap<DocumentId, Pushed>,
    /// The outbox had more than the window allowed.
    more_to_push: bool,
    /// `readLog` frames sent and not yet answered, in order: the highest sequence each
    /// carried (None: an empty one, sent as a barrier).
    log_inflight: VecDeque<Option<i64>>,
    /// Empty `readLog` frames sent after fetches, to know when those fetches are answered:
    /// the server answers frames in order, and leaves out of a fetch answer what it will
    /// not send (no longer readable, erased, or unchanged). Per barrier: how many `logAck`s
    /// are still to come up to and including its own, and the documents whose last fetch
    /// was sent before it (still pending once it is answered: left out).
    fetch_barriers: Vec<(usize, Vec<DocumentId>)>,
    idle_reported: bool,
    /// The outbox as last reported to the server on this connection (in `hello`, or an
    /// `outbox` frame): another report goes only when a sync round ends with it changed.
    outbox_reported: Option<OutboxCounts>,
    done: u64,
    total: u64,
}

/// The device side of the sync protocol, sans-io.
#[derive(Debug)]
pub struct ClientEngine {
    store: Store,
    session: Session,
    /// Documents to push whole next time (after `missing_deps`).
    need_whole: HashSet<DocumentId>,
    /// Documents to push with this device's own changes only: the server refused them for
    /// holding changes of others it does not have (after a restore from a backup, only the
    /// devices hold what it acknowledged since). Their authors' devices send those.
    own_only: HashSet<DocumentId>,
    /// Documents refused for good whose push held more than one change of this device,
    /// with the reason: their changes go one at a time, so that only the first refused
    /// one and what follows it are set aside (the changes before it get in, among them
    /// any a restored server had lost).
    stepwise: HashMap<DocumentId, RefusalReason>,
    /// Documents refused until the server has others' changes they depend on: tried again
    /// when the server sends changes of them.
    waiting: HashSet<DocumentId>,
    /// Refused documents and the heads that were refused: not pushed again until their
    /// local heads change. Kept for the engine's lifetime (not only one connection).
    refused: HashMap<DocumentId, Vec<ChangeHash>>,
    revoked: bool,
    /// Whether the store is a pupil session's, read once (a store never stops being one).
    pupil_session: Option<bool>,
    stats: SyncStats,
}

/// How often a live, caught-up connection restarts the offline lease.
const LEASE_MARK_EVERY_MS: i64 = 3_600_000;

fn sorted(mut v: Vec<ChangeHash>) -> Vec<ChangeHash> {
    v.sort();
    v
}
impl ClientEngine {
    /// An engine syncing `store`.
    pub fn new(store: Store) -> ClientEngine {
        ClientEngine {
            store,
            session: Session::default(),
            need_whole: HashSet::new(),
            own_only: HashSet::new(),
            stepwise: HashMap::new(),
            waiting: HashSet::new(),
            refused: HashMap::new(),
            revoked: false,
            pupil_session: None,
            stats: SyncStats::default(),
        }
    }

    /// The store synced.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Counts since the engine was created.
    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// Whether a connection is open (between `Connected` and `Disconnected`/`Close`).
    pub fn is_connected(&self) -> bool {
        self.session.connected
    }

    /// Whether this session's catch-up is complete.
    pub fn is_caught_up(&self) -> bool {
        self.session.caught_up
    }

    /// Caught up, nothing pushed and unanswered, nothing waiting to be pushed, no read log
    /// in flight.
    pub fn is_idle(&self) -> bool {
        let s = &self.session;
        s.connected
            && s.caught_up
            && s.inflight.is_empty()
            && !s.more_to_push
            && s.log_inflight.is_empty()
    }

    /// Whether the device was revoked (and its store wiped).
    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// Handle one input at time `now_ms` (unix ms, from the caller's clock).
    ///
    /// An error is a local failure (storage); the driver should close the connection and
    /// try again later. Nothing acknowledged is lost by that.
    pub fn handle(&mut self, now_ms: i64, input: ClientInput) -> Result<Vec<ClientOutput>> {
        let mut out = Vec::new();
        if self.revoked {
            return Err(Error::Revoked);
        }
        match input {
            ClientInput::Connected => {
                self.session = Session {
                    connected: true,
                    ..Session::default()
                };
                let cursor = self
                    .store
                    .setting(SETTING_CURSOR)?
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let outbox = self.store.outbox_counts()?;
                self.session.outbox_reported = Some(outbox);
                out.push(ClientOutput::Send(Frame::Hello {
                    protocol: PROTOCOL_VERSION,
                    cursor,
                    epoch: self.store.setting(SETTING_EPOCH)?,
                    outbox: Some(outbox.report(now_ms)),
                }));
                self.send_read_log(&mut out)?;
            }
            ClientInput::Disconnected => {
                self.session = Session::default();
                return Ok(out);
            }
            ClientInput::LocalChange | ClientInput::Tick => {
                if !self.session.connected {
                    return Ok(out);
                }
                self.push_outbox(&mut out)?;
                if self.session.log_inflight.is_empty() {
                    self.send_read_log(&mut out)?;
                }
            }
            ClientInput::Received(frame) => {
                if !self.session.connected {
                    return Ok(out);
                }
                self.receive(frame, &mut out)?;
                if !self.session.connected {
                    return Ok(out);
                }
            }
        }
        if self.session.caught_up
            && self
                .session
                .lease_marked_at
                .is_none_or(|t| now_ms - t >= LEASE_MARK_EVERY_MS)
        {
            // In contact with the server and caught up: the offline lease starts again
            // (also now and then during a long live connection).
            self.store.mark_synced()?;
            self.session.lease_marked_at = Some(now_ms);
        }
        self.check_idle(now_ms, &mut out)?;
        Ok(out)
    }

    /// One frame from the server, to the part of the engine it concerns.
    fn receive(&mut self, frame: Frame, out: &mut Vec<ClientOutput>) -> Result<()> {
        match frame {
            Frame::Catalog {
                entries,
                purge,
                cursor,
                complete,
                epoch,
            } => self.on_catalog(entries, &purge, cursor, complete, epoch, out),
            Frame::Docs { docs, cursor } => self.on_docs(docs, cursor, out),
            Frame::Ack { docs } => self.on_ack(docs, out),
            Frame::Refused { docs } => self.on_refused(docs, out),
            Frame::LogAck { seq } => self.on_log_ack(seq, out),
            Frame::Purge { docs } => {
                self.purge(&docs)?;
                self.maybe_caught_up(out)
            }
            Frame::Revoked {} => {
                tracing::warn!("device revoked by the school: wiping the store");
                self.store.wipe()?;
                self.revoked = true;
                self.session = Session::default();
                out.push(ClientOutput::Revoked);
                out.push(ClientOutput::Close);
                Ok(())
            }
            Frame::Error { code, message } => {
                tracing::warn!(?code, "server error frame");
                self.session = Session::default();
                out.push(ClientOutput::ServerError { code, message });
                out.push(ClientOutput::Close);
                Ok(())
            }
            // Per-document sync messages are for automerge-repo peers; this device uses the
            // batch frames. Client-to-server frames from a server make no sense.
            other => {
                tracing::debug!(frame = other.type_name(), "ignored frame");
                Ok(())
            }
        }
    }

    /// Whether the local copy of `id` holds every one of `heads`.
    fn contains_all(&self, id: DocumentId, heads: &[ChangeHash]) -> Result<bool> {
        Ok(match self.store.load(id)? {
            Some(d) => heads.iter().all(|h| d.get_change_by_hash(h).is_some()),
            None => heads.is_empty(),
        })
    }

    fn purge(&mut self, ids: &[DocumentId]) -> Result<()> {
        for id in ids {
            if self.store.purge(*id)? {
                self.stats.purged += 1;
            }
            self.session.inflight.remove(id);
            if self.session.pending_fetch.remove(id).is_some() {
                self.session.done += 1;
            }
            self.refused.remove(id);
            self.need_whole.remove(id);
        }
        Ok(())
    }

    fn check_idle(&mut self, now_ms: i64, out: &mut Vec<ClientOutput>) -> Result<()> {
        if self.is_idle() {
            if !self.session.idle_reported {
                self.session.idle_reported = true;
                self.store
                    .set_setting(SETTING_LAST_SYNC, Some(&now_ms.to_string()))?;
                self.report_outbox(now_ms, out)?;
                out.push(ClientOutput::Idle);
            }
        } else {
            self.session.idle_reported = false;
        }
        Ok(())
    }

    /// At the end of a sync round: tell the server the outbox if it changed since the last
    /// report of this connection (one frame a round, not one per ack).
    fn report_outbox(&mut self, now_ms: i64, out: &mut Vec<ClientOutput>) -> Result<()> {
        let now = self.store.outbox_counts()?;
        if self.session.outbox_reported != Some(now) {
            self.session.outbox_reported = Some(now);
            out.push(ClientOutput::Send(Frame::outbox(now.report(now_ms))));
        }
        Ok(())
    }

    fn progress(&self, out: &mut Vec<ClientOutput>) {
        out.push(ClientOutput::Progress {
            done: self.session.done,
            total: self.session.total,
        });
    }
}
