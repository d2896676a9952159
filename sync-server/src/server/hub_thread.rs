//! The hub thread: one thread owns the [`Hub`] and its storage; commands reach it over a
//! channel (sessions' frames, connects, enrollments, in-process calls, the admin-event poll
//! and the daily retention run), and it sends each session's frames to its outbox.

use crate::hub::{ConnId, ConnectRefusal, Connected, Hub, Outgoing};
use omkijken_core::sync::Frame;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub(super) type Call = Box<dyn FnOnce(&mut Hub, i64) -> Outgoing + Send>;

/// How often retention runs (and once at start).
pub(super) const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);

pub(super) enum Cmd {
    Request {
        token: String,
        frame: Frame,
        reply: oneshot::Sender<Frame>,
    },
    Connect {
        token: String,
        /// An automerge-repo session (`/v1/automerge-repo`).
        repo: bool,
        reply: oneshot::Sender<std::result::Result<(Connected, Outbox), ConnectRefusal>>,
    },
    /// A frame decoded on the session's task; its permits are released once handled.
    Frame {
        conn: ConnId,
        frame: Frame,
        at: Instant,
        _inflight: crate::flow::Inflight,
    },
    /// A `sync` or `request` message of an automerge-repo session.
    RepoSync {
        conn: ConnId,
        msg: crate::hub::SyncMessage,
        _inflight: crate::flow::Inflight,
    },
    Disconnect {
        conn: ConnId,
    },
    Enroll {
        frame: Frame,
        reply: oneshot::Sender<Frame>,
    },
    /// A catch-up read beside the hub ([`crate::hub::CatchUpJob`]) is back.
    CaughtUp(crate::hub::CaughtUp),
    Call(Call),
    Tick,
    Stop,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Sessions' frames handled in one group commit at most.
const MAX_GROUP: usize = 64;

/// A frame of a session: what a group commit groups.
fn is_session_frame(cmd: &Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Frame { .. } | Cmd::RepoSync { .. } | Cmd::CaughtUp(_)
    )
}

pub(super) fn closes(frame: &Frame) -> bool {
    matches!(frame, Frame::Error { .. } | Frame::Revoked {})
}

/// A frame the hub sends one session or several (a live push of a signal in a school of
/// 10,000 devices is the same frame to a few hundred): encoded once, by the first session
/// that sends it, and shared.
pub(super) struct OutFrame {
    pub(super) frame: Frame,
    /// Its size for the flow bounds ([`crate::flow::approx_size`]).
    pub(super) size: usize,
    encoded: std::sync::OnceLock<bytes::Bytes>,
}

impl OutFrame {
    fn new(frame: Frame) -> Arc<OutFrame> {
        Arc::new(OutFrame {
            size: crate::flow::approx_size(&frame),
            frame,
            encoded: std::sync::OnceLock::new(),
        })
    }

    /// The frame's bytes in the native protocol.
    pub(super) fn encoded(&self) -> bytes::Bytes {
        self.encoded
            .get_or_init(|| self.frame.encode().into())
            .clone()
    }
}

/// What the hub sends a session: frames, and the bytes queued.
pub(super) struct Outbox {
    pub(super) rx: mpsc::Receiver<Arc<OutFrame>>,
    pub(super) queued: Arc<crate::flow::Queued>,
}

pub(super) struct ConnOut {
    pub(super) tx: mpsc::Sender<Arc<OutFrame>>,
    pub(super) queued: Arc<crate::flow::Queued>,
}

pub(super) struct HubThread {
    pub(super) hub: Hub,
    /// Commands handled so far: `/readyz` tells a busy hub (this moves) from a stuck one.
    pub(super) handled: Arc<AtomicU64>,
    pub(super) conns: HashMap<ConnId, ConnOut>,
    /// The session permits of sessions' frames that wait in the hub behind a read beside
    /// it (a catch-up, a fetch): kept until the session waits no more, so that a session
    /// stops reading its socket instead of filling the hub with frames to park.
    pub(super) waiting: HashMap<ConnId, Vec<tokio::sync::OwnedSemaphorePermit>>,
    pub(super) outbox_frames: usize,
    pub(super) outbox_bytes: usize,
    /// Where catch-ups go to be read beside the hub (none: the hub reads them).
    pub(super) readers: Option<std::sync::mpsc::Sender<crate::hub::CatchUpJob>>,
    /// The reader threads, joined when the hub stops (they hold storage connections).
    pub(super) reader_threads: Vec<std::thread::JoinHandle<()>>,
    /// The SQLite store's checkpointer ([`super::launch`]), stopped and joined with the
    /// readers.
    pub(super) checkpointer: Option<super::launch::Checkpointer>,
}

impl HubThread {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let mut next = None;
        loop {
            let Some(cmd) = next.take().or_else(|| rx.blocking_recv()) else {
                break;
            };
            if matches!(cmd, Cmd::Stop) {
                break;
            }
            if !is_session_frame(&cmd) {
                self.guarded(|t| t.handle(cmd));
                continue;
            }
            // Sessions' frames waiting already are handled as one group commit (up to
            // MAX_GROUP): one sync to disk for all their writes.
            let mut group = vec![cmd];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(c) if is_session_frame(&c) => group.push(c),
                    Ok(c) => {
                        next = Some(c);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.handle_group(group);
        }
        // The readers stop once they can neither take a job nor hand one back; their storage
        // connections are closed before the hub's is (a restore may replace the files next).
        drop(rx);
        self.readers = None;
        for reader in std::mem::take(&mut self.reader_threads) {
            let _ = reader.join();
        }
        if let Some((stop, thread)) = self.checkpointer.take() {
            drop(stop);
            let _ = thread.join();
        }
        tracing::debug!("hub thread stopped");
    }

    /// Run `f` on the hub; a panic is logged and the hub keeps running.
    fn guarded(&mut self, f: impl FnOnce(&mut Self)) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        self.handled.fetch_add(1, Ordering::Relaxed);
        if r.is_err() {
            tracing::error!("the hub panicked while handling a command; it keeps running");
        }
    }

    /// Sessions' frames (one or more) in one group commit ([`Hub::begin_group`]): what
    /// they answer is sent once all their writes are stored.
    fn handle_group(&mut self, group: Vec<Cmd>) {
        metrics::histogram!("omkijken_group_commit_frames").record(group.len() as f64);
        self.hub.begin_group();
        // The group's new documents are checked first, on all cores ([`Hub::precheck`]).
        let frames: Vec<(ConnId, &Frame)> = group
            .iter()
            .filter_map(|c| match c {
                Cmd::Frame { conn, frame, .. } => Some((*conn, frame)),
                _ => None,
            })
            .collect();
        if frames.len() > 1 {
            self.guarded(|t| t.hub.precheck(&frames));
        }
        let mut out = Vec::new();
        let mut acked = Vec::new();
        for cmd in group {
            let now = now_ms();
            let mut handled = Vec::new();
            self.guarded(|t| {
                handled = match cmd {
                    Cmd::Frame {
                        conn,
                        frame,
                        at,
                        _inflight: inflight,
                    } => {
                        let o = t.hub.receive(now, conn, frame);
                        if o.iter()
                            .any(|(c, f)| *c == conn && matches!(f, Frame::Ack { .. }))
                        {
                            acked.push(at);
                        }
                        if t.hub.is_waiting(conn) {
                            t.waiting
                                .entry(conn)
                                .or_default()
                                .push(inflight.session_only());
                        }
                        o
                    }
                    Cmd::RepoSync { conn, msg, .. } => t.hub.receive_repo(now, conn, msg),
                    Cmd::CaughtUp(done) => t.hub.caught_up(now, done),
                    _ => vec![],
                };
            });
            out.extend(handled);
        }
        let out = self.hub.end_group(out);
        for at in acked {
            metrics::histogram!("omkijken_ack_latency_seconds").record(at.elapsed().as_secs_f64());
        }
        self.dispatch(out);
        self.send_catch_ups();
        self.release_waiting();
    }

    /// Release the flow permits a session's frames keep while it waits for reads beside the
    /// hub: one for each read or frame that still waits (all of them when the session waits
    /// no more, or is gone). A session with two fetches out reads its next frame as soon as
    /// one is answered, not when both are.
    fn release_waiting(&mut self) {
        if !self.waiting.is_empty() {
            let hub = &self.hub;
            self.waiting.retain(|conn, permits| {
                permits.truncate(hub.waiting_for(*conn));
                !permits.is_empty()
            });
        }
    }

    /// Hand the catch-ups the hub left to the readers beside it; without readers (or when
    /// they are gone), the hub reads them itself.
    fn send_catch_ups(&mut self) {
        for job in self.hub.take_catch_ups() {
            let job = match &self.readers {
                Some(tx) => match tx.send(job) {
                    Ok(()) => {
                        metrics::counter!("omkijken_catch_ups_beside_total").increment(1);
                        continue;
                    }
                    Err(std::sync::mpsc::SendError(job)) => job,
                },
                None => job,
            };
            self.readers = None;
            let out = self
                .hub
                .caught_up(now_ms(), job.unread(crate::Error::Stopped));
            self.dispatch(out);
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        let now = now_ms();
        match cmd {
            Cmd::Connect { token, repo, reply } => {
                let r = if repo {
                    self.hub.connect_repo(now, &token)
                } else {
                    self.hub.connect(now, &token)
                };
                let r = r.map(|c| {
                    let (tx, rx) = mpsc::channel(self.outbox_frames);
                    let queued = Arc::new(crate::flow::Queued::default());
                    self.conns.insert(
                        c.conn,
                        ConnOut {
                            tx,
                            queued: queued.clone(),
                        },
                    );
                    (c, Outbox { rx, queued })
                });
                if let Err(Ok((c, _))) = reply.send(r) {
                    self.conns.remove(&c.conn);
                    self.hub.disconnect(c.conn);
                }
            }
            // Sessions' frames are handled as a group ([`HubThread::handle_group`]).
            Cmd::Frame { .. } | Cmd::RepoSync { .. } | Cmd::CaughtUp(_) => {}
            Cmd::Disconnect { conn } => {
                self.conns.remove(&conn);
                self.waiting.remove(&conn);
                self.hub.disconnect(conn);
            }
            Cmd::Enroll { frame, reply } => {
                let _ = reply.send(self.hub.enroll(now, frame));
            }
            Cmd::Request {
                token,
                frame,
                reply,
            } => {
                let (answer, out) = self.hub.request(now, &token, frame);
                let _ = reply.send(answer);
                self.dispatch(out);
            }
            Cmd::Call(f) => {
                let out = f(&mut self.hub, now);
                self.dispatch(out);
                self.send_catch_ups();
                self.release_waiting();
            }
            Cmd::Tick => {
                let out = self.hub.poll(now);
                self.dispatch(out);
                metrics::gauge!("omkijken_sync_states").set(self.hub.sync_states() as f64);
            }
            Cmd::Stop => {}
        }
    }

    fn dispatch(&mut self, out: Outgoing) {
        // The deliveries of one change to many sessions come one after the other, each
        // with the same frame: one shared frame for the run.
        let mut last: Option<Arc<OutFrame>> = None;
        for (conn, frame) in out {
            let close = closes(&frame);
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            let shared = match last.as_ref().filter(|l| l.frame == frame) {
                Some(l) => l.clone(),
                None => last.insert(OutFrame::new(frame)).clone(),
            };
            let size = shared.size;
            let fits = c.queued.add(size, self.outbox_bytes);
            if !fits || c.tx.try_send(shared).is_err() {
                // Too slow (or gone): drop it rather than block everyone else or buffer
                // without end.
                if fits {
                    c.queued.sent(size);
                }
                tracing::warn!(
                    conn = conn.0,
                    queued = c.queued.bytes(),
                    "dropping a connection that does not keep up"
                );
                metrics::counter!("omkijken_connections_closed_total", "reason" => "slow_reader")
                    .increment(1);
                c.queued.drop_session();
                self.conns.remove(&conn);
                self.hub.disconnect(conn);
                continue;
            }
            if close {
                // The hub forgot the session; dropping the sender ends the socket task
                // after it has sent what is queued.
                self.conns.remove(&conn);
            }
        }
    }
}
