//! One sync session over one connection: the engine fed what arrives and its frames sent,
//! until idle (`sync_once`), stopped or closed.

use super::connection::{
    Arrived, SETTING_SERVER_URL, SETTING_TOKEN, SETTING_TRUSTED_CA, Ws, connect, next_frame,
    read_sized, send_reading, ws_url,
};
use crate::sync::engine::{ClientEngine, ClientInput, ClientOutput, SyncStats};
use crate::sync::frames::RefusalReason;
use crate::{DocumentId, Error, Result, Store};
use std::time::Duration;

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
    let (url, token, ca) = credentials(store, "/v1/sync")?;
    let mut ws = connect(&url, Some(&token), ca.as_deref()).await?;
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
