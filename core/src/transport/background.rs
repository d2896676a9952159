//! The background client: reconnects with backoff and jitter, live sync while connected,
//! events to a callback; and [`BackgroundSync`], what an app holds of it (its status, and
//! its events delivered in order on a thread of their own).

use super::session::{End, SyncEvent, SyncReport, Waiting, Wake, run_session};
use crate::sync::engine::{ClientEngine, ClientInput};
use crate::{Error, Result, Store};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;

/// Options of the background client.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// First retry delay after a failure.
    pub min_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// How often the engine is woken while connected (read-log upload, retries).
    pub tick: Duration,
    /// Seed of the jitter; None: OS randomness. (Tests and the simulation pass one.)
    pub seed: Option<u64>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            tick: Duration::from_secs(30),
            seed: None,
        }
    }
}

/// The delay before reconnect attempt `attempt` (0-based): exponential from `min` up to
/// `max`, with "equal jitter" (between half and all of it) so that a school full of
/// devices does not reconnect in step after a server restart.
pub fn backoff_delay(attempt: u32, min: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let base = min
        .saturating_mul(2u32.saturating_pow(attempt.min(31)))
        .min(max)
        .max(min);
    let half = base / 2;
    let jitter_ms = rng.random_range(0..=half.as_millis().min(u64::MAX as u128) as u64);
    half + Duration::from_millis(jitter_ms)
}

/// A background sync connection: live push both ways while connected, reconnects with
/// backoff, events to a callback. Stop it with [`SyncClient::stop`]; dropping it stops it
/// too (without waiting).
#[derive(Debug)]
pub struct SyncClient {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncClient {
    /// Start syncing `store` in the background on the current tokio runtime.
    pub fn start(
        store: Store,
        options: SyncOptions,
        on_event: impl Fn(SyncEvent) + Send + Sync + 'static,
    ) -> SyncClient {
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(run_client(store, options, stop_rx, Arc::new(on_event)));
        SyncClient { stop, task }
    }

    /// Stop and wait until the connection is closed.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Whether the client stopped by itself (revoked, or not enrolled).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

pub(super) async fn run_client(
    store: Store,
    options: SyncOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
    on_event: Arc<dyn Fn(SyncEvent) + Send + Sync>,
) {
    let mut rng = match options.seed {
        Some(s) => rand::rngs::StdRng::seed_from_u64(s),
        None => rand::rngs::StdRng::from_os_rng(),
    };
    let changed = Arc::new(tokio::sync::Notify::new());
    let _subscription = {
        let changed = changed.clone();
        store.subscribe(move |_| changed.notify_one())
    };
    let mut engine = ClientEngine::new(store.clone());
    let mut attempt: u32 = 0;
    // `sync_once` asks this client while it runs (one connection of a store at a time).
    let sessions = store.sessions();
    let (asks_to, mut asks) = tokio::sync::mpsc::unbounded_channel();
    *sessions
        .background
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(asks_to.clone());
    let mut waiting: Vec<Waiting> = Vec::new();
    loop {
        if *stop.borrow() {
            break;
        }
        // A `sync_once` that connected by itself finishes first.
        let turn = tokio::select! {
            turn = sessions.turn.lock() => turn,
            _ = stop.changed() => break,
        };
        let error = match sessions.connect(&store).await {
            Err(e) => Some(e),
            Ok(mut ws) => {
                on_event(SyncEvent::Connected);
                let mut report = SyncReport::default();
                let end = run_session(
                    &mut ws,
                    &mut engine,
                    Wake {
                        stop: Some(&mut stop),
                        changed: Some(&changed),
                        tick: options.tick,
                        until_idle: false,
                        asks: Some((&mut asks, &mut waiting)),
                    },
                    &mut report,
                    &*on_event,
                )
                .await;
                // A session that got as far as a catch-up resets the backoff.
                if engine.is_caught_up() {
                    attempt = 0;
                }
                let _ = engine.handle(store.now(), ClientInput::Disconnected);
                match end {
                    Ok(End::Stopped) => break,
                    Ok(End::Revoked) | Err(Error::Revoked) => {
                        for w in waiting.drain(..) {
                            w.answer(Err(Error::Revoked));
                        }
                        on_event(SyncEvent::Revoked);
                        forget_asks(&store, &asks_to);
                        return;
                    }
                    Ok(End::Done) | Ok(End::Closed(None)) => None,
                    Ok(End::Closed(Some(why))) => Some(Error::Protocol(why)),
                    Err(e) => Some(e),
                }
            }
        };
        drop(turn);
        // Asks the session did not answer: their `sync_once` tries by itself (and reports
        // its own error) while this client waits to retry.
        waiting.clear();
        if let Some(Error::NotEnrolled | Error::Revoked) = error {
            break;
        }
        let delay = backoff_delay(attempt, options.min_backoff, options.max_backoff, &mut rng);
        attempt = attempt.saturating_add(1);
        if let Some(e) = &error {
            tracing::info!(error = %e, retry_in_ms = delay.as_millis() as u64, "sync connection failed");
        }
        on_event(SyncEvent::Disconnected {
            error: error.map(|e| e.to_string()),
            retry_in: delay,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => break,
            // Asked to sync now: reconnect at once.
            Some(ask) = asks.recv() => waiting.push(Waiting::new(ask)),
        }
    }
    forget_asks(&store, &asks_to);
    on_event(SyncEvent::Stopped);
}

/// The client ends: `sync_once` connects by itself again (if a newer client took the
/// store's queue meanwhile, it stays).
fn forget_asks(store: &Store, ours: &tokio::sync::mpsc::UnboundedSender<super::session::Ask>) {
    let mut background = store
        .sessions()
        .background
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if background.as_ref().is_some_and(|b| b.same_channel(ours)) {
        *background = None;
    }
}

/// The background sync's state, for polling (an observer gets the same as events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Background sync is started.
    pub running: bool,
    /// Connected now.
    pub connected: bool,
    /// Connected, caught up and with nothing left to send.
    pub idle: bool,
    /// Documents done in this session.
    pub done: u64,
    /// Documents known in this session.
    pub total: u64,
    /// The last connection error, until the next successful connection.
    pub last_error: Option<String>,
}

impl SyncStatus {
    /// The status after `e`.
    pub fn apply(&mut self, e: &SyncEvent) {
        match e {
            SyncEvent::Connected => {
                (self.connected, self.idle, self.last_error) = (true, false, None);
                (self.done, self.total) = (0, 0);
            }
            SyncEvent::Progress { done, total } => (self.done, self.total) = (*done, *total),
            SyncEvent::CaughtUp { .. } | SyncEvent::Refused { .. } => {}
            SyncEvent::Idle => self.idle = true,
            SyncEvent::Disconnected { error, .. } => {
                (self.connected, self.idle) = (false, false);
                self.last_error.clone_from(error);
            }
            SyncEvent::Revoked | SyncEvent::Stopped => {
                (self.running, self.connected, self.idle) = (false, false, false);
            }
        }
    }
}

/// The background sync of one store, as an app holds it: started and stopped from any
/// thread (blocking on the given runtime), its status kept current, and its events
/// delivered in order on a thread of their own, never on the runtime, so an observer may
/// call back into the store (even block on the runtime for `sync_once`).
#[derive(Debug, Default)]
pub struct BackgroundSync {
    client: std::sync::Mutex<Option<SyncClient>>,
    status: Arc<std::sync::Mutex<SyncStatus>>,
}

impl BackgroundSync {
    /// Start syncing `store` on `runtime` (restarting a sync that runs); `observer` hears
    /// every event. `NotEnrolled` before enrollment.
    pub fn start(
        &self,
        runtime: &tokio::runtime::Runtime,
        store: Store,
        options: SyncOptions,
        observer: impl Fn(SyncEvent) + Send + 'static,
    ) -> Result<()> {
        store.identity()?.ok_or(Error::NotEnrolled)?;
        self.stop(runtime);
        let status = self.status.clone();
        *status.lock().unwrap_or_else(|p| p.into_inner()) = SyncStatus {
            running: true,
            ..Default::default()
        };
        let (tx, rx) = std::sync::mpsc::channel::<SyncEvent>();
        // Deliver events off the runtime, in order; the thread ends with the client.
        let _ = std::thread::Builder::new()
            .name("omkijken-sync-events".into())
            .spawn(move || {
                for event in rx {
                    observer(event);
                }
            });
        let on_event = move |e: SyncEvent| {
            if let Ok(mut s) = status.lock() {
                s.apply(&e);
            }
            let _ = tx.send(e);
        };
        let _guard = runtime.enter();
        let client = SyncClient::start(store, options, on_event);
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        Ok(())
    }

    /// Stop the background sync, if running, and wait until its connection is closed.
    pub fn stop(&self, runtime: &tokio::runtime::Runtime) {
        let client = self.client.lock().ok().and_then(|mut c| c.take());
        if let Some(client) = client {
            runtime.block_on(client.stop());
        }
        if let Ok(mut s) = self.status.lock() {
            s.running = false;
        }
    }

    /// The state and progress now.
    pub fn status(&self) -> SyncStatus {
        let mut status = self.status.lock().map(|s| s.clone()).unwrap_or_default();
        let finished = self
            .client
            .lock()
            .map(|c| c.as_ref().is_some_and(SyncClient::is_finished));
        if finished.unwrap_or(false) {
            status.running = false;
        }
        status
    }
}
