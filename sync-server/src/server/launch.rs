//! Start and stop: the hub thread launched with its state, the listeners bound, serving
//! until shutdown ([`serve`] for the binary, [`start`] returning a [`ServerHandle`]).

use super::AppState;
use super::admin::Admin;
use super::hub_thread::{Cmd, HubThread, RETENTION_EVERY};
use super::metrics::metrics_handle;
use super::router::router;
use crate::hub::Hub;
use crate::periodic::every;
use crate::settings::Settings;
use crate::storage::PostgresStorage;
use crate::{Error, Result};
use rand::RngCore;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// A started hub thread with its state; [`run`] serves it.
pub(super) struct Launched {
    pub(super) state: AppState,
    pub(super) thread: std::thread::JoinHandle<()>,
    pub(super) shutdown_tx: watch::Sender<bool>,
}

/// Write the staff's roster views that are missing or out of date ([`crate::hub::refresh_views`])
/// on a thread of its own, over a storage connection of its own: reading every view of a
/// large school takes seconds, and devices are served meanwhile. The hub is woken when it
/// is done, to deliver what was written.
fn refresh_views_beside(settings: &Settings, wake: mpsc::WeakSender<Cmd>) {
    let settings = settings.clone();
    let spawned = std::thread::Builder::new()
        .name("omkijken-views".into())
        .spawn(move || {
            let _cipher = omkijken_core::store::cipher_in_use();
            let mut actor = [0u8; 16];
            rand::rng().fill_bytes(&mut actor);
            let actor = automerge::ActorId::from(actor.as_slice());
            let done = settings
                .open_storage()
                .and_then(|mut st| crate::hub::refresh_views(st.as_mut(), &actor));
            match done {
                Ok(()) => {
                    if let Some(tx) = wake.upgrade() {
                        let _ = tx.blocking_send(Cmd::Tick);
                    }
                }
                Err(e) => tracing::error!(error = %e, "refreshing the roster views failed"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the roster views are not refreshed: no thread");
    }
}

/// Threads that read catch-ups beside the hub, each over a storage connection of its own.
const CATCH_UP_READERS: usize = 2;
/// The page cache of each reader's connection, KiB (a catch-up reads a school's rows once,
/// in order: the server's memory stays bounded by the hub's cache and these).
const READER_PAGE_CACHE_KIB: usize = 8 * 1024;

/// Start the threads that read devices' catch-ups beside the hub
/// ([`crate::hub::CatchUpJob`]): reading every row of a large school since a fresh device's
/// cursor takes long, and the hub serves other devices meanwhile. Each read goes back to
/// the hub as [`Cmd::CaughtUp`]; a reader whose storage does not open hands its jobs back
/// unread (the hub reads them itself).
fn catch_up_readers(settings: &Settings, back: mpsc::WeakSender<Cmd>) -> Result<Readers> {
    let (tx, rx) = std::sync::mpsc::channel::<crate::hub::CatchUpJob>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let mut threads = Vec::with_capacity(CATCH_UP_READERS);
    for i in 0..CATCH_UP_READERS {
        let rx = rx.clone();
        let back = back.clone();
        let settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name(format!("omkijken-reader-{i}"))
            .spawn(move || {
                let _cipher = omkijken_core::store::cipher_in_use();
                // Opened at the first job: by then the hub has opened (and migrated) the store.
                let mut storage: Option<Box<dyn crate::Storage>> = None;
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let Ok(job) = job else { break };
                    if storage.is_none() {
                        match settings.open_storage().and_then(|mut st| {
                            st.limit_page_cache(READER_PAGE_CACHE_KIB)?;
                            Ok(st)
                        }) {
                            Ok(st) => storage = Some(st),
                            Err(e) => tracing::error!(error = %e, "a catch-up reader has no storage; the hub reads"),
                        }
                    }
                    // A read that panics is handed back unread (the hub reads it itself),
                    // and this reader goes on with a new connection.
                    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        match storage.as_mut() {
                            Some(st) => job.scan(st.as_mut()),
                            None => job.unread(Error::Stopped),
                        }
                    }));
                    let done = read.unwrap_or_else(|_| {
                        tracing::error!("a catch-up read panicked; the hub reads it");
                        job.unread(Error::Stopped)
                    });
                    if done.failed() {
                        storage = None;
                    }
                    let Some(tx) = back.upgrade() else { break };
                    if tx.blocking_send(Cmd::CaughtUp(done)).is_err() {
                        break;
                    }
                }
            })?;
        threads.push(thread);
    }
    Ok((tx, threads))
}

/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// The hub's own connection checkpoints only a log grown past this many pages (about 80
/// MiB; SQLite's default is 1,000), should the checkpointer stop.
const HUB_CHECKPOINT_PAGES: u32 = 20_000;

/// The SQLite store's checkpoints, on a thread and connection of their own ("the
/// checkpointer"). A checkpoint copies the write-ahead log's pages into the database file
/// and syncs it; run by the hub's connection (SQLite's automatic checkpoint, every 1,000
/// pages) it held the commit that crossed the mark, and every push behind it, for tens of
/// milliseconds. It starts once the hub has opened (and migrated) the store, when the hub
/// thread sends `()`; it stops when that sender is dropped.
fn checkpointer(settings: &Settings) -> Result<Checkpointer> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let settings = settings.clone();
    let thread = std::thread::Builder::new()
        .name("omkijken-checkpoint".into())
        .spawn(move || {
            let _cipher = omkijken_core::store::cipher_in_use();
            let Ok(()) = rx.recv() else { return };
            let mut storage = match settings.open_storage().and_then(|mut st| {
                st.limit_page_cache(CHECKPOINTER_PAGE_CACHE_KIB)?;
                Ok(st)
            }) {
                Ok(st) => st,
                Err(e) => {
                    tracing::error!(error = %e, "no checkpointer: the hub checkpoints past its mark");
                    return;
                }
            };
            // Until stopped (or a second start, which there is not).
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(CHECKPOINT_EVERY)
            {
                if let Err(e) = storage.checkpoint() {
                    tracing::warn!(error = %e, "a checkpoint failed; tried again");
                }
            }
        })?;
    Ok((tx, thread))
}

/// The checkpointer's page cache: it reads the log, not the tables.
const CHECKPOINTER_PAGE_CACHE_KIB: usize = 1024;

/// Starts the checkpointer (a first send) and stops it (dropped), and its thread.
pub(super) type Checkpointer = (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>);

/// Where catch-ups are sent to be read, and the threads that read them.
type Readers = (
    std::sync::mpsc::Sender<crate::hub::CatchUpJob>,
    Vec<std::thread::JoinHandle<()>>,
);

/// The reading half of a retention run at `now` ([`crate::retention::scan`]) on a thread
/// and a storage connection of its own: going through a large catalog takes seconds, and
/// devices are served meanwhile.
async fn scan_beside(settings: Settings, now: i64) -> Result<Vec<crate::retention::Scan>> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("omkijken-retention".into())
        .spawn(move || {
            let _cipher = omkijken_core::store::cipher_in_use();
            let scans = settings
                .open_storage()
                .and_then(|mut st| crate::retention::scan(st.as_mut(), now));
            let _ = tx.send(scans);
        })?;
    rx.await.map_err(|_| Error::Stopped)?
}

pub(super) fn launch(settings: &Settings) -> Result<Launched> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let (cmd, rx) = mpsc::channel(4096);
    let handled = Arc::new(AtomicU64::new(0));
    let counted = handled.clone();
    // The hub thread opens the storage and builds the hub itself (the PostgreSQL client
    // must not run on a runtime thread), then reports whether that worked.
    let (ready, started) = std::sync::mpsc::sync_channel::<Result<()>>(1);
    // One server per data directory (PostgreSQL nodes share a database instead).
    let lock = match settings.database {
        None => Some(crate::secure::lock_data_dir(&settings.data_dir)?),
        Some(_) => None,
    };
    let opening = settings.clone();
    let listen_tick = cmd.downgrade();
    let listen_tick_for_views = cmd.downgrade();
    let (readers, reader_threads) = catch_up_readers(settings, cmd.downgrade())?;
    // PostgreSQL has no log of this process's to checkpoint.
    let checkpointer = match settings.database {
        None => Some(checkpointer(settings)?),
        Some(_) => None,
    };
    let thread = std::thread::Builder::new()
        .name("omkijken-hub".into())
        .spawn(move || {
            // Dropped last, after the hub closed its store: a process that exits meanwhile
            // waits for that (see `cipher_in_use`).
            let _cipher = omkijken_core::store::cipher_in_use();
            // The roster views are refreshed beside the hub, not before it serves.
            let config = crate::HubConfig {
                refresh_views_at_start: false,
                catch_up_beside: Some(
                    opening
                        .hub
                        .catch_up_beside
                        .unwrap_or(crate::hub::CATCH_UP_BESIDE_FROM),
                ),
                fetch_beside: Some(
                    opening
                        .hub
                        .fetch_beside
                        .unwrap_or(crate::hub::FETCH_BESIDE_FROM),
                ),
                catch_up_chunk: Some(
                    opening
                        .hub
                        .catch_up_chunk
                        .unwrap_or(crate::hub::CATCH_UP_CHUNK),
                ),
                ..opening.hub.clone()
            };
            let hub = opening
                .open_storage()
                .and_then(|storage| Hub::new(storage, config, seed));
            match hub {
                Ok(mut hub) => {
                    // Several nodes on one database: another node's write wakes this hub
                    // at once (the poll tick stays as the fallback).
                    let stop_listening = Arc::new(AtomicBool::new(false));
                    if let Some(url) = opening.database.as_deref() {
                        let wake = listen_tick;
                        if let Err(e) = PostgresStorage::listen_for_changes(
                            url,
                            opening.database_password.as_deref(),
                            opening.database_ca.as_deref(),
                            hub.storage().notification_tag().map(str::to_owned),
                            stop_listening.clone(),
                            move || {
                                wake.upgrade()
                                    .is_some_and(|tx| tx.blocking_send(Cmd::Tick).is_ok())
                            },
                        ) {
                            tracing::warn!(error = %e, "not listening for other nodes' writes");
                        }
                    }
                    if let Some((start, _)) = &checkpointer {
                        match hub.storage().checkpoint_beside(HUB_CHECKPOINT_PAGES) {
                            Ok(()) => {
                                let _ = start.send(());
                            }
                            Err(e) => tracing::warn!(error = %e, "the hub checkpoints itself"),
                        }
                    }
                    let _ = ready.send(Ok(()));
                    if opening.hub.refresh_views_at_start {
                        refresh_views_beside(&opening, listen_tick_for_views.clone());
                    }
                    let worker = HubThread {
                        hub,
                        handled: counted,
                        conns: HashMap::new(),
                        waiting: HashMap::new(),
                        outbox_frames: opening.outbox_frames,
                        outbox_bytes: opening.limits.max_queued_bytes,
                        readers: Some(readers),
                        reader_threads,
                        checkpointer,
                    };
                    worker.run(rx);
                    stop_listening.store(true, Ordering::Relaxed);
                    drop(lock);
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        })?;
    // A short wait at startup (opening and migrating the store).
    started.recv().map_err(|_| Error::Stopped)??;
    let (shutdown_tx, shutdown) = watch::channel(false);
    // The poll tick: admin events from other processes, metrics upkeep.
    let tick = cmd.clone();
    let metrics = metrics_handle();
    let upkeep = metrics.clone();
    every(settings.admin_poll, shutdown.clone(), move || {
        upkeep.run_upkeep();
        let tick = tick.clone();
        async move { tick.send(Cmd::Tick).await.is_ok() }
    });
    // Retention: at start and once a day (DOMAIN.md; sync-server/README.md, "Retention").
    // The catalog is read beside the hub; the hub erases what is due.
    let retention = Admin { cmd: cmd.clone() };
    let scanning = settings.clone();
    every(RETENTION_EVERY, shutdown.clone(), move || {
        let retention = retention.clone();
        let scanning = scanning.clone();
        async move {
            let now = jiff::Timestamp::now().as_millisecond();
            let erased = match scan_beside(scanning, now).await {
                Ok(scans) => retention.erase_scanned(now, scans).await,
                Err(e) => Err(e),
            };
            match erased {
                Ok(n) if n > 0 => tracing::info!(documents = n, "retention run"),
                Ok(_) => {}
                Err(Error::Stopped) => return false,
                Err(e) => tracing::warn!(error = %e, "retention run failed; tried again tomorrow"),
            }
            true
        }
    });
    let device_oidc = settings.console.oidc.as_ref().and_then(|o| {
        crate::console::oidc::DeviceOidc::new(
            o,
            Admin { cmd: cmd.clone() },
            settings.hub.code_ttl_ms,
        )
        .map(Arc::new)
    });
    Ok(Launched {
        state: AppState {
            cmd,
            handled,
            shutdown,
            metrics,
            limits: settings.limits.clone(),
            inflight: crate::flow::Intake::budget(settings.limits.max_inflight_bytes),
            enroll_throttle: Arc::new(crate::throttle::EnrollThrottle::new(
                settings.enroll_limits.clone(),
            )),
            device_oidc,
            settings: settings.clone(),
            reads_beside: Arc::new(tokio::sync::Semaphore::new(super::READS_BESIDE)),
        },
        thread,
        shutdown_tx,
    })
}

/// The console's listener and its state, when the console is on.
type Console = Option<(TcpListener, crate::console::ConsoleState)>;

/// Bind the console's listener (`settings.console.listen`), if the console is on; its
/// enrollment QR codes name `settings.console.public_url`, else the sync listener `addr`.
async fn bind_console(settings: &Settings, addr: SocketAddr, admin: &Admin) -> Result<Console> {
    let Some(at) = settings.console.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(at).await?;
    let url = settings.console.public_url.clone().unwrap_or_else(|| {
        let scheme = if settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{addr}")
    });
    let state = crate::console::ConsoleState::new(admin.clone(), settings.clone(), url);
    Ok(Some((listener, state)))
}

pub(super) async fn run(
    launched: Launched,
    listener: TcpListener,
    console: Console,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let Launched {
        state,
        thread,
        shutdown_tx,
    } = launched;
    if let Some((console_listener, console_state)) = console {
        let mut stop = shutdown_tx.subscribe();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = crate::console::serve(console_state, console_listener, stopped).await {
                tracing::error!(error = %e, "the admin console stopped");
            }
        });
    }
    let cmd = state.cmd.clone();
    let limits = state.limits.clone();
    let app = router(state);
    let tx = shutdown_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    let gate = crate::net::Gate::new(&limits);
    let served = crate::net::serve(listener, tls, app, limits, gate, shutdown_tx.subscribe()).await;
    let _ = shutdown_tx.send(true);
    // Let socket tasks say goodbye, then stop the hub (it commits nothing half-way: every
    // frame is one transaction).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = cmd.send(Cmd::Stop).await;
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    served.map_err(Error::Io)
}

/// Serve on `listener` until `shutdown` resolves: open the store (see
/// [`Settings::open_storage`]),
/// start the hub thread, answer HTTP and WebSocket requests; then close sessions and stop.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let launched = launch(&settings)?;
    let admin = Admin {
        cmd: launched.state.cmd.clone(),
    };
    let console = bind_console(&settings, listener.local_addr()?, &admin).await?;
    if let Some((l, _)) = &console {
        tracing::info!(addr = %l.local_addr()?, "admin console listening");
    }
    run(launched, listener, console, settings.tls.clone(), shutdown).await
}

/// A server started with [`start`].
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    console_addr: Option<SocketAddr>,
    tls: bool,
    admin: Admin,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/v1/sync`.
    pub fn sync_url(&self) -> String {
        format!("ws://{}/v1/sync", self.addr)
    }

    /// `ws://ADDR/v1/enroll`.
    pub fn enroll_url(&self) -> String {
        format!("ws://{}/v1/enroll", self.addr)
    }

    /// `http://ADDR`, or `https://ADDR` with TLS.
    pub fn http_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The admin console's address, when it is on (`settings.console.listen`).
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// In-process admin operations.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Stop: close sessions, stop the hub, wait for it.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.map_err(|_| Error::Stopped)?
    }
}

/// Start a server in this tokio runtime: bind `settings.listen` (use port 0 for a free
/// port), open the store, and serve until [`ServerHandle::shutdown`].
pub async fn start(settings: Settings) -> Result<ServerHandle> {
    let listener = TcpListener::bind(settings.listen).await?;
    let addr = listener.local_addr()?;
    let launched = launch(&settings)?;
    let admin = Admin {
        cmd: launched.state.cmd.clone(),
    };
    let console = bind_console(&settings, addr, &admin).await?;
    let console_addr = match &console {
        Some((l, _)) => Some(l.local_addr()?),
        None => None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let tls = settings.tls.clone();
    let task = tokio::spawn(run(launched, listener, console, tls.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(ServerHandle {
        addr,
        console_addr,
        tls: tls.is_some(),
        admin,
        stop: Some(stop),
        task,
    })
}
