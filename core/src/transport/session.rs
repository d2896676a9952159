//! One sync session over one connection: the engine fed what arrives and its frames sent,
//! until idle (`sync_once`), stopped or closed.
//!
//! A store has one sync connection at a time ([`Sessions`]): two connections of one store
//! each keep their own order of the server's frames but not one order between them (a
//! purge on one could arrive before a fetch answer on the other, and the document came
//! back). So while a background client runs, `sync_once` asks it (it reconnects at once
//! if it was waiting to retry) and is answered when its session is idle; otherwise it
//! connects itself, and a background client waits for it before connecting.

use super::connection::{
    Arrived, SETTING_SERVER_URL, SETTING_TOKEN, SETTING_TRUSTED_CA, Ws, connect, next_frame,
    read_sized, send_reading, ws_url,
};
use crate::sync::engine::{ClientEngine, ClientInput, ClientOutput, SyncStats};
use crate::sync::frames::RefusalReason;
use crate::{DocumentId, Error, Result, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A `sync_once` waiting for the background client: answered once its session is idle.
pub(super) type Ask = tokio::sync::oneshot::Sender<Result<SyncReport>>;

/// The sync connections of one store: one at a time (module docs).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    /// Held by the session that is connecting or connected.
    pub(super) turn: tokio::sync::Mutex<()>,
    /// While a background client runs: where `sync_once` asks it.
    pub(super) background: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<Ask>>>,
    /// Sync connections opened.
    opened: AtomicU64,
}

impl Sessions {
    /// Connect for a sync session (counted).
    pub(super) async fn connect(&self, store: &Store) -> Result<Ws> {
        let (url, token, ca) = credentials(store, "/v1/sync")?;
        let ws = connect(&url, Some(&token), ca.as_deref()).await?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(ws)
    }

    /// The background client's queue of asks, if one runs.
    fn background(&self) -> Option<tokio::sync::mpsc::UnboundedSender<Ask>> {
        self.background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How many sync connections `store` opened since it was opened (the background client's
/// and `sync_once`'s together): a diagnostic.
pub fn sync_connections(store: &Store) -> u64 {
    store.sessions().opened.load(Ordering::Relaxed)
}

/// An [`Ask`] with what the session had done when it came, to report what it did since.
pub(super) struct Waiting {
    ask: Ask,
    since: Option<(SyncReport, SyncStats)>,
}

impl Waiting {
    pub(super) fn new(ask: Ask) -> Waiting {
        Waiting { ask, since: None }
    }

    /// Answer it, dropping it (the asking `sync_once` then syncs by itself) where the
    /// session did not get that far.
    pub(super) fn answer(self, result: Result<SyncReport>) {
        let _ = self.ask.send(result);
    }
}

/// Something the background client reports (for the app's sync indicator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// Connected to the server.
    Connected,
    /// Documents done of those known so far, in this session.
    Progress {
        /// Done.
        done: u64,
        /// Known so far.
        total: u64,
    },
    /// The catch-up is complete.
    CaughtUp {
        /// Stored cursor.
        cursor: u64,
    },
    /// Everything is sent and acknowledged; live.
    Idle,
    /// The server refused a document (refused for good: kept as a not-accepted item).
    Refused {
        /// Document.
        document_id: DocumentId,
        /// Why.
        reason: RefusalReason,
    },
    /// The connection ended or could not be made; a retry follows after `retry_in`.
    Disconnected {
        /// What went wrong, if anything (never the token or care content).
        error: Option<String>,
        /// When the next attempt is made.
        retry_in: Duration,
    },
    /// The device was revoked; the store is wiped and the client stopped.
    Revoked,
    /// The client stopped.
    Stopped,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Documents fetched in the catch-up and merged.
    pub fetched: u64,
    /// Documents that arrived as live pushes and were merged.
    pub received_live: u64,
    /// Documents pushed and acknowledged.
    pub pushed: u64,
    /// Documents refused by the server (kept on the device).
    pub refused: Vec<(DocumentId, RefusalReason)>,
    /// Documents purged.
    pub purged: u64,
    /// Read-log rows uploaded.
    pub log_uploaded: u64,
    /// The catch-up cursor stored.
    pub cursor: u64,
    /// Frames sent to the server.
    pub frames_sent: u64,
    /// Frames received from the server.
    pub frames_received: u64,
    /// Bytes of frames sent (CBOR, without WebSocket framing).
    pub bytes_sent: u64,
    /// Bytes of frames received.
    pub bytes_received: u64,
}

impl SyncReport {
    /// What was done after `before` (with the engine's counts `then` and `now`).
    fn since(&self, before: &SyncReport, then: SyncStats, now: SyncStats) -> SyncReport {
        let mut r = SyncReport {
            refused: self.refused[before.refused.len().min(self.refused.len())..].to_vec(),
            cursor: self.cursor,
            frames_sent: self.frames_sent - before.frames_sent,
            frames_received: self.frames_received - before.frames_received,
            bytes_sent: self.bytes_sent - before.bytes_sent,
            bytes_received: self.bytes_received - before.bytes_received,
            ..SyncReport::default()
        };
        r.add(then, now);
        r
    }

    fn add(&mut self, before: SyncStats, after: SyncStats) {
        self.fetched += after.fetched - before.fetched;
        self.received_live += after.received_live - before.received_live;
        self.pushed += after.pushed - before.pushed;
        self.purged += after.purged - before.purged;
        self.log_uploaded += after.log_uploaded - before.log_uploaded;
    }
}

/// How a session ended.
pub(super) enum End {
    /// `sync_once`: caught up and idle.
    Done,
    /// The server closed, or sent an error frame.
    Closed(Option<String>),
    /// Asked to stop.
    Stopped,
    /// Revoked; the store is wiped.
    Revoked,
}

/// What a session reacts to besides frames.
pub(super) struct Wake<'a> {
    /// Stop when this changes (or its sender is gone).
    pub(super) stop: Option<&'a mut tokio::sync::watch::Receiver<bool>>,
    /// A local change happened.
    pub(super) changed: Option<&'a tokio::sync::Notify>,
    /// Periodic tick.
    pub(super) tick: Duration,
    /// Return as soon as the engine is idle.
    pub(super) until_idle: bool,
    /// `sync_once` calls asking the background client, and those waiting for its session
    /// to be idle (left there when the session ends first).
    pub(super) asks: Option<(
        &'a mut tokio::sync::mpsc::UnboundedReceiver<Ask>,
        &'a mut Vec<Waiting>,
    )>,
}

/// Sending failed: the server may have closed the connection right after telling why
/// (`revoked`, `error`). Read what it sent before giving up with `error`.
pub(super) async fn drain(
    ws: &mut Ws,
    arrived: &mut Arrived,
    engine: &mut ClientEngine,
    error: Error,
) -> Result<End> {
    let store = engine.store().clone();
    while let Ok(Ok(Some(frame))) =
        tokio::time::timeout(Duration::from_secs(2), next_frame(ws, arrived)).await
    {
        for o in engine.handle(store.now(), ClientInput::Received(frame))? {
            match o {
                ClientOutput::Revoked => return Ok(End::Revoked),
                ClientOutput::ServerError { code, message } => {
                    return Ok(End::Closed(Some(format!(
                        "server error {code:?}: {message}"
                    ))));
                }
                _ => {}
            }
        }
    }
    Err(error)
}

pub(super) async fn run_session(
    ws: &mut Ws,
    engine: &mut ClientEngine,
    mut wake: Wake<'_>,
    report: &mut SyncReport,
    on_event: &(dyn Fn(SyncEvent) + Send + Sync),
) -> Result<End> {
    let store = engine.store().clone();
    // What the server sent while this device was writing (`send_reading`), read first.
    let mut arrived = Arrived::new();
    let mut outputs = engine.handle(store.now(), ClientInput::Connected)?;
    let mut tick = tokio::time::interval(wake.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    // Asks that came before the session: what it does from its start.
    if let Some((_, waiting)) = &mut wake.asks {
        for w in waiting.iter_mut().filter(|w| w.since.is_none()) {
            w.since = Some((report.clone(), engine.stats()));
        }
    }
    loop {
        for o in outputs.drain(..) {
            match o {
                ClientOutput::Send(frame) => match send_reading(ws, &frame, &mut arrived).await {
                    Ok(n) => {
                        report.frames_sent += 1;
                        report.bytes_sent += n as u64;
                    }
                    Err(e) => return drain(ws, &mut arrived, engine, e).await,
                },
                ClientOutput::Progress { done, total } => {
                    on_event(SyncEvent::Progress { done, total })
                }
                ClientOutput::CaughtUp { cursor } => {
                    report.cursor = cursor;
                    on_event(SyncEvent::CaughtUp { cursor });
                }
                ClientOutput::Idle => on_event(SyncEvent::Idle),
                ClientOutput::Refused {
                    document_id,
                    reason,
                } => {
                    report.refused.push((document_id, reason));
                    on_event(SyncEvent::Refused {
                        document_id,
                        reason,
                    });
                }
                ClientOutput::ServerError { code, message } => {
                    let _ = ws.close(None).await;
                    return Ok(End::Closed(Some(format!(
                        "server error {code:?}: {message}"
                    ))));
                }
                ClientOutput::Revoked => {
                    let _ = ws.close(None).await;
                    return Ok(End::Revoked);
                }
                ClientOutput::Close => {
                    let _ = ws.close(None).await;
                    return Ok(End::Closed(None));
                }
            }
        }
        if wake.until_idle && engine.is_idle() {
            let _ = ws.close(None).await;
            return Ok(End::Done);
        }
        if let Some((_, waiting)) = &mut wake.asks
            && engine.is_idle()
        {
            for w in waiting.drain(..) {
                let (before, then) = w.since.clone().unwrap_or_default();
                let done = report.since(&before, then, engine.stats());
                w.answer(Ok(done));
            }
        }
        let until_idle = wake.until_idle;
        let input = tokio::select! {
            frame = read_sized(ws, &mut arrived, until_idle) => match frame? {
                Some((f, n)) => {
                    report.frames_received += 1;
                    report.bytes_received += n as u64;
                    ClientInput::Received(f)
                }
                None => return Ok(End::Closed(None)),
            },
            _ = async { wake.changed.unwrap().notified().await }, if wake.changed.is_some() => {
                ClientInput::LocalChange
            }
            _ = tick.tick() => ClientInput::Tick,
            _ = async { wake.stop.as_mut().unwrap().changed().await }, if wake.stop.is_some() => {
                let _ = ws.close(None).await;
                return Ok(End::Stopped);
            }
            ask = async { wake.asks.as_mut().unwrap().0.recv().await }, if wake.asks.is_some() => {
                let Some(ask) = ask else { continue };
                if let Some((_, waiting)) = &mut wake.asks {
                    waiting.push(Waiting { ask, since: Some((report.clone(), engine.stats())) });
                }
                // What a tick does (the read log, retries), now.
                ClientInput::Tick
            }
        };
        outputs = engine.handle(store.now(), input)?;
    }
}

/// The WebSocket URL of the server's `path` (`/v1/sync`, `/v1/request`), the token and the
/// extra trusted root (if any) of an enrolled store.
pub(super) fn credentials(store: &Store, path: &str) -> Result<(String, String, Option<String>)> {
    let url = store
        .setting(SETTING_SERVER_URL)?
        .ok_or(Error::NotEnrolled)?;
    let token = store.setting(SETTING_TOKEN)?.ok_or(Error::NotEnrolled)?;
    let ca = store.setting(SETTING_TRUSTED_CA)?;
    Ok((ws_url(&url, path)?, token, ca))
}

/// Sync once: connect, catch up, push the outbox until every pushable document is
/// acknowledged (or refused), upload the read log, close.
///
/// A revoked device gets [`Error::Revoked`] after its store was wiped.
pub async fn sync_once(store: &Store) -> Result<SyncReport> {
    let sessions = store.sessions();
    if let Some(background) = sessions.background() {
        let (ask, answer) = tokio::sync::oneshot::channel();
        if background.send(ask).is_ok()
            && let Ok(answered) = answer.await
        {
            return answered;
        }
        // Its session ended before it was idle, or it stopped: sync here (it waits).
    }
    let _turn = sessions.turn.lock().await;
    let mut ws = sessions.connect(store).await?;
    let mut engine = ClientEngine::new(store.clone());
    let mut report = SyncReport::default();
    let end = run_session(
        &mut ws,
        &mut engine,
        Wake {
            stop: None,
            changed: None,
            tick: Duration::from_secs(3600),
            until_idle: true,
            asks: None,
        },
        &mut report,
        &|_| {},
    )
    .await;
    report.add(SyncStats::default(), engine.stats());
    match end? {
        End::Done => Ok(report),
        End::Revoked => Err(Error::Revoked),
        End::Closed(Some(why)) => Err(Error::Protocol(why)),
        End::Closed(None) | End::Stopped => Err(Error::Network(
            "the server closed the connection before the sync was complete".into(),
        )),
    }
}
