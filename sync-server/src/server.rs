//! The axum + tokio driver around the sans-io [`Hub`].
//!
//! One dedicated thread owns the hub and its storage connection (SQLite, or PostgreSQL
//! shared with other server nodes); the async side only moves bytes. The storage is opened
//! on that thread too: the synchronous PostgreSQL client must not run inside the runtime. Each WebSocket session is a task that forwards received
//! binary messages to the hub thread and writes the frames the hub sends it. The hub thread
//! also polls the admin-events log every [`Settings::admin_poll`], so an admin CLI run
//! against the data directory takes effect on the running server.
//!
//! Endpoints: `GET /healthz` (the process is up), `GET /readyz` (the hub and its storage
//! answer), `GET /metrics` (Prometheus text), WebSocket `/v1/enroll` and
//! WebSocket `/v1/sync` (device token as `Authorization: Bearer` at the upgrade; 401
//! without or with an unknown token), `/v1/request`, and `/v1/automerge-repo` (the same
//! sessions in automerge-repo's messages: [`crate::automerge_repo`]). See docs/protocol.md.

use crate::admin::RosterImport;
use crate::hub::{ConnId, ConnectRefusal, Connected, Hub, Outgoing};
use crate::storage::{AuditFilter, AuditRecord, Device, PostgresStorage};
use crate::{Error, Result};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use omkijken_core::sync::{ErrorCode, Frame, MAX_FRAME_BYTES};
use rand::RngCore;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

pub use crate::settings::{DB_FILE, Settings};

// ---------------------------------------------------------------------- hub thread

type Call = Box<dyn FnOnce(&mut Hub, i64) -> Outgoing + Send>;

/// How often retention runs (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);

enum Cmd {
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
        document_id: omkijken_core::DocumentId,
        data: Vec<u8>,
        request: bool,
        _inflight: crate::flow::Inflight,
    },
    Disconnect {
        conn: ConnId,
    },
    Enroll {
        frame: Frame,
        reply: oneshot::Sender<Frame>,
    },
    Call(Call),
    Tick,
    Stop,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn closes(frame: &Frame) -> bool {
    matches!(frame, Frame::Error { .. } | Frame::Revoked {})
}

/// What the hub sends a session: frames with their size, and the bytes queued.
struct Outbox {
    rx: mpsc::Receiver<(Frame, usize)>,
    queued: Arc<crate::flow::Queued>,
}

struct ConnOut {
    tx: mpsc::Sender<(Frame, usize)>,
    queued: Arc<crate::flow::Queued>,
}

struct HubThread {
    hub: Hub,
    /// Commands handled so far: `/readyz` tells a busy hub (this moves) from a stuck one.
    handled: Arc<AtomicU64>,
    conns: HashMap<ConnId, ConnOut>,
    outbox_frames: usize,
    outbox_bytes: usize,
}

impl HubThread {
    fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        while let Some(cmd) = rx.blocking_recv() {
            if matches!(cmd, Cmd::Stop) {
                break;
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(cmd)));
            self.handled.fetch_add(1, Ordering::Relaxed);
            if r.is_err() {
                tracing::error!("the hub panicked while handling a command; it keeps running");
            }
        }
        tracing::debug!("hub thread stopped");
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
            Cmd::Frame {
                conn, frame, at, ..
            } => {
                let out = self.hub.receive(now, conn, frame);
                if out
                    .iter()
                    .any(|(c, f)| *c == conn && matches!(f, Frame::Ack { .. }))
                {
                    metrics::histogram!("omkijken_ack_latency_seconds")
                        .record(at.elapsed().as_secs_f64());
                }
                self.dispatch(out);
            }
            Cmd::RepoSync {
                conn,
                document_id,
                data,
                request,
                ..
            } => {
                let out = self.hub.receive_repo(now, conn, document_id, data, request);
                self.dispatch(out);
            }
            Cmd::Disconnect { conn } => {
                self.conns.remove(&conn);
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
        for (conn, frame) in out {
            let close = closes(&frame);
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            let size = crate::flow::approx_size(&frame);
            let fits = c.queued.add(size, self.outbox_bytes);
            if !fits || c.tx.try_send((frame, size)).is_err() {
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

// ---------------------------------------------------------------------- metrics

fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("omkijken_ack_latency_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed already; /metrics stays empty");
            }
            // Register the series at zero, so a fresh server's /metrics is not empty and
            // dashboards see them before the first device connects.
            metrics::gauge!("omkijken_connected_devices").increment(0.0);
            metrics::gauge!("omkijken_open_connections").increment(0.0);
            metrics::gauge!("omkijken_sync_states").increment(0.0);
            metrics::counter!("omkijken_rate_limited_total").increment(0);
            metrics::counter!("omkijken_enroll_throttled_total").increment(0);
            metrics::counter!("omkijken_enroll_slowed_total").increment(0);
            metrics::counter!("omkijken_enroll_failures_total", "reason" => "bad_code")
                .increment(0);
            for reason in ["per_address", "full"] {
                metrics::counter!("omkijken_connections_refused_total", "reason" => reason)
                    .increment(0);
            }
            for reason in [
                "header_timeout",
                "idle_timeout",
                "evicted",
                "hello_timeout",
                "session_idle",
                "slow_reader",
            ] {
                metrics::counter!("omkijken_connections_closed_total", "reason" => reason)
                    .increment(0);
            }
            for name in [
                "omkijken_acked_changes_total",
                "omkijken_bytes_in_total",
                "omkijken_bytes_out_total",
                "omkijken_frames_in_total",
                "omkijken_frames_out_total",
                "omkijken_protocol_errors_total",
            ] {
                metrics::counter!(name).increment(0);
            }
            handle
        })
        .clone()
}

// ---------------------------------------------------------------------- app state

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    cmd: mpsc::Sender<Cmd>,
    /// Commands the hub has handled ([`HubThread::handled`]).
    handled: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
    metrics: PrometheusHandle,
    limits: crate::net::Limits,
    /// Bytes of received frames waiting for the hub, all sessions together (KiB permits).
    inflight: (Arc<tokio::sync::Semaphore>, u32),
    enroll_throttle: Arc<crate::throttle::EnrollThrottle>,
    /// Device enrollment through the school's identity provider, when configured.
    device_oidc: Option<Arc<crate::console::oidc::DeviceOidc>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// A started hub thread with its state; [`run`] serves it.
struct Launched {
    state: AppState,
    thread: std::thread::JoinHandle<()>,
    shutdown_tx: watch::Sender<bool>,
}

fn launch(settings: &Settings) -> Result<Launched> {
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
    let thread = std::thread::Builder::new()
        .name("omkijken-hub".into())
        .spawn(move || {
            // Dropped last, after the hub closed its store: a process that exits meanwhile
            // waits for that (see `cipher_in_use`).
            let _cipher = omkijken_core::store::cipher_in_use();
            let hub = opening
                .open_storage()
                .and_then(|storage| Hub::new(storage, opening.hub.clone(), seed));
            match hub {
                Ok(hub) => {
                    // Several nodes on one database: another node's write wakes this hub
                    // at once (the poll tick stays as the fallback).
                    let stop_listening = Arc::new(AtomicBool::new(false));
                    if let Some(url) = opening.database.as_deref() {
                        let wake = listen_tick;
                        if let Err(e) = PostgresStorage::listen_for_changes(
                            url,
                            opening.database_password.as_deref(),
                            opening.database_ca.as_deref(),
                            stop_listening.clone(),
                            move || {
                                wake.upgrade()
                                    .is_some_and(|tx| tx.blocking_send(Cmd::Tick).is_ok())
                            },
                        ) {
                            tracing::warn!(error = %e, "not listening for other nodes' writes");
                        }
                    }
                    let _ = ready.send(Ok(()));
                    let worker = HubThread {
                        hub,
                        handled: counted,
                        conns: HashMap::new(),
                        outbox_frames: opening.outbox_frames,
                        outbox_bytes: opening.limits.max_queued_bytes,
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
    let every = settings.admin_poll;
    let mut stop = shutdown.clone();
    let metrics = metrics_handle();
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(every);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = iv.tick() => {
                    upkeep.run_upkeep();
                    if tick.send(Cmd::Tick).await.is_err() { break; }
                }
                _ = stop.changed() => break,
            }
        }
    });
    // Retention: at start and once a day (DOMAIN.md; sync-server/README.md, "Retention").
    let retention = Admin { cmd: cmd.clone() };
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(RETENTION_EVERY);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = iv.tick() => {
                    match retention.apply_retention(None).await {
                        Ok(n) if n > 0 => tracing::info!(documents = n, "retention run"),
                        Ok(_) => {}
                        Err(Error::Stopped) => break,
                        Err(e) => tracing::warn!(error = %e, "retention run failed; tried again tomorrow"),
                    }
                }
                _ = stop.changed() => break,
            }
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

async fn run(
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

/// The router: `/healthz`, `/readyz`, `/metrics`, `/v1/enroll`, `/v1/sync`, `/v1/request`,
/// `/v1/automerge-repo`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/v1/enroll", get(enroll_ws))
        .route("/v1/sync", get(sync_ws))
        .route("/v1/request", get(request_ws))
        .route("/v1/automerge-repo", get(repo_ws))
        .route("/v1/oidc/enroll", get(oidc_enroll))
        .route("/v1/oidc/callback", get(oidc_callback))
        .with_state(state)
        // A span per request (method and path; never headers, so never the token).
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // Plain requests and upgrades answer in time; upgraded sessions are not affected.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
}

#[derive(serde::Deserialize)]
struct OidcEnroll {
    challenge: String,
    #[serde(rename = "return")]
    return_url: String,
}

/// Device enrollment through the identity provider, step 1 (see
/// [`crate::console::oidc::DeviceOidc`]): send the phone's browser to the provider.
async fn oidc_enroll(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<OidcEnroll>,
) -> Response {
    let Some(oidc) = &st.device_oidc else {
        return (StatusCode::NOT_FOUND, "no identity provider is configured").into_response();
    };
    match oidc.start(&q.challenge, &q.return_url).await {
        Ok(url) => axum::response::Redirect::to(&url).into_response(),
        Err(Error::Invalid(m)) => (StatusCode::BAD_REQUEST, m).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "device enrollment through the identity provider");
            (
                StatusCode::BAD_GATEWAY,
                "the identity provider cannot be reached",
            )
                .into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct OidcCallback {
    code: Option<String>,
    state: Option<String>,
}

/// Device enrollment through the identity provider, step 2: the provider's callback; the
/// browser goes back to the app with the outcome.
async fn oidc_callback(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<OidcCallback>,
) -> Response {
    let Some(oidc) = &st.device_oidc else {
        return (StatusCode::NOT_FOUND, "no identity provider is configured").into_response();
    };
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return (StatusCode::BAD_REQUEST, "the sign-in was not completed").into_response();
    };
    match oidc.finish(&code, &state).await {
        Ok(url) => axum::response::Redirect::to(&url).into_response(),
        Err(Error::NotFound(_)) => {
            (StatusCode::BAD_REQUEST, "unknown or expired sign-in").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "device enrollment through the identity provider");
            (
                StatusCode::BAD_GATEWAY,
                "the identity provider cannot be reached",
            )
                .into_response()
        }
    }
}

/// Ready to serve devices: the hub reads its storage (200 "ready"). Its answer waits behind
/// the commands queued before it; if it has not come within 2 s, a hub that handled other
/// commands meanwhile is busy, not unready (200 "ready (busy)": a load balancer must not
/// drop a node exactly when it is needed), and one that handled none is stuck (503). A
/// storage that fails is 503 "storage". `/healthz` only says the process is up; a load
/// balancer in front of several nodes should route by this.
async fn readyz(State(st): State<AppState>) -> Response {
    let admin = Admin {
        cmd: st.cmd.clone(),
    };
    let before = st.handled.load(Ordering::Relaxed);
    let check = admin.call(|hub, _| Ok((hub.storage().last_seq(), vec![])));
    let probe = match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(Ok(_))) => Probe::Answered,
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "not ready: the storage failed");
            Probe::StorageFailed
        }
        Ok(Err(_)) => Probe::Stopping,
        Err(_) => Probe::Waiting {
            progressed: st.handled.load(Ordering::Relaxed) > before,
        },
    };
    let (status, body) = readiness(probe);
    (status, body).into_response()
}

/// What `/readyz` learnt from its probe of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// The hub read its storage.
    Answered,
    /// The hub answered that its storage failed.
    StorageFailed,
    /// The hub is stopping.
    Stopping,
    /// No answer within the wait; whether the hub handled other commands meanwhile.
    Waiting { progressed: bool },
}

/// `/readyz`'s answer to a probe.
fn readiness(probe: Probe) -> (StatusCode, &'static str) {
    match probe {
        Probe::Answered => (StatusCode::OK, "ready\n"),
        Probe::Waiting { progressed: true } => (StatusCode::OK, "ready (busy)\n"),
        Probe::Waiting { progressed: false } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the hub is not answering\n",
        ),
        Probe::StorageFailed => (StatusCode::SERVICE_UNAVAILABLE, "not ready: storage\n"),
        Probe::Stopping => (StatusCode::SERVICE_UNAVAILABLE, "not ready: stopping\n"),
    }
}

async fn metrics_text(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

/// Errors of the HTTP layer; bodies are generic, detail goes to the log.
#[derive(Debug)]
enum ApiError {
    Unauthorized,
    Unavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "unauthorized",
            )
                .into_response(),
            ApiError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "server is shutting down").into_response()
            }
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    let t = t.trim();
    (!t.is_empty() && t.len() <= 128).then(|| t.to_string())
}

/// WebSocket message limit: a little above the frame limit, so an oversized frame up to it
/// still gets a clear `too_large` error frame.
const WS_MAX_MESSAGE: usize = MAX_FRAME_BYTES + 64 * 1024;

async fn sync_ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return ApiError::Unauthorized.into_response();
    };
    open_session(st, token, ws, Dialect::Native).await
}

/// `/v1/automerge-repo`: an automerge-repo peer with a device token (Bearer, or Basic with
/// the token as password: [`crate::automerge_repo::token`]).
async fn repo_ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(token) = crate::automerge_repo::token(&headers) else {
        return ApiError::Unauthorized.into_response();
    };
    let dialect = Dialect::Repo(crate::automerge_repo::Peers::new(REPO_PEER_ID));
    open_session(st, token, ws, dialect).await
}

/// The server's peer id towards automerge-repo peers.
const REPO_PEER_ID: &str = "omkijken-sync-server";

/// What a session speaks: the native frames, or automerge-repo's messages.
enum Dialect {
    Native,
    Repo(crate::automerge_repo::Peers),
}

async fn open_session(
    st: AppState,
    token: String,
    ws: std::result::Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    dialect: Dialect,
) -> Response {
    let repo = matches!(dialect, Dialect::Repo(_));
    let (reply, rx) = oneshot::channel();
    if st
        .cmd
        .send(Cmd::Connect { token, repo, reply })
        .await
        .is_err()
    {
        return ApiError::Unavailable.into_response();
    }
    let Ok(res) = rx.await else {
        return ApiError::Unavailable.into_response();
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            if let Ok((c, _)) = &res {
                let _ = st.cmd.send(Cmd::Disconnect { conn: c.conn }).await;
            }
            return rejection.into_response();
        }
    };
    match res {
        Err(ConnectRefusal::Unauthorized) => ApiError::Unauthorized.into_response(),
        Err(refusal) => {
            tracing::info!(?refusal, "connection refused after upgrade");
            let limits = st.limits.clone();
            ws.on_upgrade(move |socket| say_and_close(socket, refusal.frame(), limits, dialect))
        }
        Ok((connected, out)) => {
            let conn = connected.conn;
            let cmd = st.cmd.clone();
            let span = tracing::info_span!("session", device = %connected.device, conn = conn.0);
            ws.max_message_size(WS_MAX_MESSAGE)
                .max_frame_size(WS_MAX_MESSAGE)
                .on_failed_upgrade(move |_| {
                    let _ = cmd.try_send(Cmd::Disconnect { conn });
                })
                .on_upgrade(move |socket| session(st, socket, conn, out, dialect).instrument(span))
        }
    }
}

/// Send one frame; false when the socket failed or the device did not take it within the
/// write timeout (a device that does not read is disconnected, not buffered for).
async fn send_frame(socket: &mut WebSocket, frame: &Frame, limits: &crate::net::Limits) -> bool {
    let bytes = frame.encode();
    metrics::counter!("omkijken_frames_out_total", "type" => frame.type_name()).increment(1);
    metrics::counter!("omkijken_bytes_out_total").increment(bytes.len() as u64);
    send_message(socket, Message::Binary(bytes.into()), limits).await
}

/// Send one frame of the hub in the session's dialect.
async fn send_out(
    socket: &mut WebSocket,
    frame: &Frame,
    dialect: &Dialect,
    limits: &crate::net::Limits,
) -> bool {
    match dialect {
        Dialect::Native => send_frame(socket, frame, limits).await,
        Dialect::Repo(peers) => {
            metrics::counter!("omkijken_frames_out_total", "type" => frame.type_name())
                .increment(1);
            for bytes in peers.translate(frame) {
                metrics::counter!("omkijken_bytes_out_total").increment(bytes.len() as u64);
                if !send_message(socket, Message::Binary(bytes.into()), limits).await {
                    return false;
                }
            }
            true
        }
    }
}

async fn send_message(socket: &mut WebSocket, msg: Message, limits: &crate::net::Limits) -> bool {
    match tokio::time::timeout(limits.write_timeout, socket.send(msg)).await {
        Ok(r) => r.is_ok(),
        Err(_) => {
            metrics::counter!("omkijken_connections_closed_total", "reason" => "slow_reader")
                .increment(1);
            tracing::info!("closing a session whose device does not read");
            false
        }
    }
}

async fn say_and_close(
    mut socket: WebSocket,
    frame: Option<Frame>,
    limits: crate::net::Limits,
    dialect: Dialect,
) {
    if let Some(f) = frame {
        let _ = send_out(&mut socket, &f, &dialect, &limits).await;
    }
    let _ = tokio::time::timeout(
        limits.write_timeout,
        socket.send(Message::Close(Some(CloseFrame {
            code: close_code::POLICY,
            reason: "".into(),
        }))),
    )
    .await;
}

async fn close_with(
    socket: &mut WebSocket,
    code: u16,
    reason: &'static str,
    limits: &crate::net::Limits,
) {
    let _ = tokio::time::timeout(
        limits.write_timeout,
        socket.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))),
    )
    .await;
}

async fn session(
    st: AppState,
    mut socket: WebSocket,
    conn: ConnId,
    out: Outbox,
    mut dialect: Dialect,
) {
    let Outbox {
        rx: mut out,
        queued,
    } = out;
    let intake = crate::flow::Intake::new(st.inflight.0.clone(), st.inflight.1);
    let mut rate = crate::flow::RateLimit::new(st.limits.frames_per_sec, st.limits.bytes_per_sec);
    tracing::info!("connected");
    metrics::gauge!("omkijken_connected_devices").increment(1.0);
    let limits = st.limits.clone();
    let mut shutdown = st.shutdown.clone();
    // The first frame (hello) within the hello timeout; then anything (a frame, a pong)
    // within the session idle timeout, with a ping when it has been quiet.
    let mut hello_by = Some(tokio::time::Instant::now() + limits.hello_timeout);
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + limits.ping_interval,
        limits.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let hello_late = async {
            match hello_by {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = socket.recv() => {
                heard = Instant::now();
                match msg {
                    Some(Ok(msg @ (Message::Binary(_) | Message::Text(_)))) => {
                        hello_by = None;
                        let at = Instant::now();
                        let bytes: &[u8] = match &msg {
                            Message::Binary(b) => b,
                            Message::Text(t) => t.as_bytes(),
                            _ => &[],
                        };
                        metrics::counter!("omkijken_frames_in_total").increment(1);
                        metrics::counter!("omkijken_bytes_in_total").increment(bytes.len() as u64);
                        // Over its rates: wait (and so stop reading) before taking it in.
                        let wait = rate.take(bytes.len());
                        if !wait.is_zero() {
                            metrics::counter!("omkijken_rate_limited_total").increment(1);
                            tokio::time::sleep(wait).await;
                        }
                        let peers = match &mut dialect {
                            Dialect::Native => None,
                            Dialect::Repo(p) => Some(p),
                        };
                        if let Some(peers) = peers {
                            // automerge-repo: the handshake is answered here; only the
                            // per-document messages go to the hub.
                            let (document_id, data, request) = match crate::automerge_repo::decode(bytes) {
                                Ok(crate::automerge_repo::Incoming::Join { peer, speaks_v1 }) => {
                                    peers.client = Some(peer);
                                    if !speaks_v1 {
                                        let m = peers.error("unsupported protocol version");
                                        let _ = send_message(&mut socket, Message::Binary(m.into()), &limits).await;
                                        close_with(&mut socket, close_code::POLICY, "", &limits).await;
                                        break;
                                    }
                                    let m = peers.peer();
                                    if !send_message(&mut socket, Message::Binary(m.into()), &limits).await { break; }
                                    continue;
                                }
                                Ok(_) if peers.client.is_none() => {
                                    metrics::counter!("omkijken_protocol_errors_total", "code" => ErrorCode::Malformed.as_str())
                                        .increment(1);
                                    let m = peers.error("malformed: send join first");
                                    let _ = send_message(&mut socket, Message::Binary(m.into()), &limits).await;
                                    close_with(&mut socket, close_code::POLICY, "", &limits).await;
                                    break;
                                }
                                Ok(crate::automerge_repo::Incoming::Sync { document_id, data, request }) => {
                                    (document_id, data, request)
                                }
                                Ok(crate::automerge_repo::Incoming::Unavailable { document_id }) => {
                                    let m = peers.unavailable(document_id);
                                    if !send_message(&mut socket, Message::Binary(m.into()), &limits).await { break; }
                                    continue;
                                }
                                Ok(crate::automerge_repo::Incoming::Ignored) => {
                                    metrics::counter!("omkijken_frames_ignored_total").increment(1);
                                    continue;
                                }
                                Err(bad) => {
                                    metrics::counter!("omkijken_protocol_errors_total", "code" => bad.code.as_str())
                                        .increment(1);
                                    let m = peers.error(&format!("{}: {}", bad.code.as_str(), bad.message));
                                    let _ = send_message(&mut socket, Message::Binary(m.into()), &limits).await;
                                    close_with(&mut socket, close_code::POLICY, "", &limits).await;
                                    break;
                                }
                            };
                            let size = bytes.len();
                            drop(msg);
                            let Some(inflight) = intake.admit(size).await else { break };
                            let cmd = Cmd::RepoSync { conn, document_id, data, request, _inflight: inflight };
                            if st.cmd.send(cmd).await.is_err() { break; }
                            continue;
                        }
                        // Walked and decoded here, off the hub's thread; a bad frame ends
                        // the session with the hub's error frame.
                        let frame = match crate::flow::decode(bytes) {
                            Ok(f) => f,
                            Err(error) => {
                                if let Frame::Error { code, .. } = &error {
                                    metrics::counter!("omkijken_protocol_errors_total", "code" => code.as_str())
                                        .increment(1);
                                }
                                let _ = send_frame(&mut socket, &error, &limits).await;
                                close_with(&mut socket, close_code::POLICY, "", &limits).await;
                                break;
                            }
                        };
                        let size = bytes.len();
                        drop(msg);
                        let Some(inflight) = intake.admit(size).await else { break };
                        let cmd = Cmd::Frame { conn, frame, at, _inflight: inflight };
                        if st.cmd.send(cmd).await.is_err() { break; }
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::info!(error = %e, "websocket error");
                        // Refused by the WebSocket layer (a message past its size limit):
                        // counted like the refusals of the frames it lets through.
                        metrics::counter!("omkijken_protocol_errors_total", "code" => ErrorCode::TooLarge.as_str())
                            .increment(1);
                        let f = Frame::Error { code: ErrorCode::TooLarge, message: "message rejected".into() };
                        let _ = send_out(&mut socket, &f, &dialect, &limits).await;
                        break;
                    }
                }
            },
            frame = out.recv() => match frame {
                Some((f, size)) => {
                    let close = closes(&f);
                    // A device that stopped reading blocks this send: the hub dropping the
                    // session (its queue is full) ends it at once.
                    let sent = tokio::select! {
                        sent = send_out(&mut socket, &f, &dialect, &limits) => sent,
                        _ = queued.dropped() => false,
                    };
                    queued.sent(size);
                    if !sent { break; }
                    if close {
                        close_with(&mut socket, close_code::POLICY, "", &limits).await;
                        break;
                    }
                }
                None => {
                    let _ = tokio::time::timeout(limits.write_timeout, socket.send(Message::Close(None))).await;
                    break;
                }
            },
            _ = hello_late => {
                metrics::counter!("omkijken_connections_closed_total", "reason" => "hello_timeout")
                    .increment(1);
                tracing::info!("no hello in time");
                close_with(&mut socket, close_code::POLICY, "hello expected", &limits).await;
                break;
            }
            _ = ping.tick() => {
                let quiet = heard.elapsed();
                if quiet >= limits.session_idle_timeout {
                    metrics::counter!("omkijken_connections_closed_total", "reason" => "session_idle")
                        .increment(1);
                    tracing::info!("closing a silent session");
                    close_with(&mut socket, close_code::AWAY, "idle", &limits).await;
                    break;
                }
                if quiet >= limits.ping_interval
                    && !send_message(&mut socket, Message::Ping(Default::default()), &limits).await
                {
                    break;
                }
            }
            _ = queued.dropped() => {
                // The hub dropped it as too slow: go now, without sending what is queued.
                break;
            }
            _ = shutdown.changed() => {
                close_with(&mut socket, close_code::AWAY, "server shutting down", &limits).await;
                break;
            }
        }
    }
    let _ = st.cmd.send(Cmd::Disconnect { conn }).await;
    metrics::gauge!("omkijken_connected_devices").decrement(1.0);
    tracing::info!("disconnected");
}

async fn enroll_ws(
    State(st): State<AppState>,
    info: Option<axum::Extension<crate::net::ConnInfo>>,
    ws: WebSocketUpgrade,
) -> Response {
    let info = info.map(|axum::Extension(i)| i);
    let peer = info.as_ref().map(|i| i.peer.ip());
    // Throttled per address and in total: within the burst at once, past it after a wait,
    // and refused (429) when the wait would be long.
    if let Some(ip) = peer {
        match st.enroll_throttle.attempt(ip, Instant::now()) {
            crate::throttle::Decision::Go(wait) if wait.is_zero() => {}
            crate::throttle::Decision::Go(wait) => {
                metrics::counter!("omkijken_enroll_slowed_total").increment(1);
                tokio::time::sleep(wait).await;
            }
            crate::throttle::Decision::Refuse(retry) => {
                metrics::counter!("omkijken_enroll_throttled_total").increment(1);
                tracing::info!(peer = %ip, "enrollment attempts throttled");
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry.as_secs().to_string())],
                    "too many enrollment attempts; try again later\n",
                )
                    .into_response();
            }
        }
    }
    let mut resp = ws
        .max_message_size(64 * 1024)
        .on_upgrade(move |mut socket| async move {
            let limits = st.limits.clone();
            // The enroll frame within the hello timeout; meanwhile the connection may be
            // closed to make room for others (it is not authenticated).
            let evicted = async {
                match &info {
                    Some(i) => i.closed().await,
                    None => std::future::pending().await,
                }
            };
            let first = tokio::select! {
                r = tokio::time::timeout(limits.hello_timeout, socket.recv()) => r,
                _ = evicted => return,
            };
            let reply = match first {
                Ok(Some(Ok(Message::Binary(b)))) => match Frame::decode(&b) {
                    Ok(frame @ Frame::Enroll { .. }) => {
                        let (reply, rx) = oneshot::channel();
                        if st.cmd.send(Cmd::Enroll { frame, reply }).await.is_ok() {
                            rx.await.ok()
                        } else {
                            None
                        }
                    }
                    _ => Some(Frame::Error {
                        code: ErrorCode::Malformed,
                        message: "expected an enroll frame".into(),
                    }),
                },
                Err(_) => {
                    metrics::counter!("omkijken_connections_closed_total", "reason" => "hello_timeout")
                        .increment(1);
                    Some(Frame::Error {
                        code: ErrorCode::Malformed,
                        message: "expected an enroll frame".into(),
                    })
                }
                _ => Some(Frame::Error {
                    code: ErrorCode::Malformed,
                    message: "expected an enroll frame".into(),
                }),
            };
            let reply = reply.unwrap_or(Frame::Error {
                code: ErrorCode::Internal,
                message: "server error".into(),
            });
            if let Frame::Error { code, .. } = &reply
                && *code != ErrorCode::Internal
            {
                enroll_failed(&st, peer, *code).await;
            }
            let _ = send_frame(&mut socket, &reply, &limits).await;
            let _ = tokio::time::timeout(limits.write_timeout, socket.send(Message::Close(None))).await;
        });
    resp.extensions_mut().insert(crate::net::Evictable);
    resp
}

/// `/v1/request`: one request frame of an enrolled device (bearer token), one answer.
async fn request_ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return ApiError::Unauthorized.into_response();
    };
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |mut socket| async move {
            let limits = st.limits.clone();
            let first = tokio::time::timeout(limits.hello_timeout, socket.recv()).await;
            let reply = match first {
                Ok(Some(Ok(Message::Binary(b)))) => match Frame::decode(&b) {
                    Ok(
                        frame @ (Frame::EraseRecord { .. }
                        | Frame::ExportDossier { .. }
                        | Frame::SetCareTrack { .. }
                        | Frame::IncidentRegister { .. }
                        | Frame::SetSchoolSettings { .. }
                        | Frame::StartPupilSession { .. }),
                    ) => {
                        let (reply, rx) = oneshot::channel();
                        if st
                            .cmd
                            .send(Cmd::Request {
                                token,
                                frame,
                                reply,
                            })
                            .await
                            .is_ok()
                        {
                            rx.await.ok()
                        } else {
                            None
                        }
                    }
                    _ => None,
                },
                _ => None,
            };
            let reply = reply.unwrap_or(Frame::Error {
                code: ErrorCode::Malformed,
                message: "expected a request frame".into(),
            });
            let _ = send_frame(&mut socket, &reply, &limits).await;
            let _ =
                tokio::time::timeout(limits.write_timeout, socket.send(Message::Close(None))).await;
        })
}

/// A failed enrollment attempt: logged (with the client's address, never the code),
/// counted, written to the audit log, and charged to the address's throttle.
async fn enroll_failed(st: &AppState, peer: Option<std::net::IpAddr>, code: ErrorCode) {
    let reason = match code {
        ErrorCode::BadEnrollmentCode => "bad_code",
        ErrorCode::TooLarge => "too_large",
        _ => "malformed",
    };
    metrics::counter!("omkijken_enroll_failures_total", "reason" => reason).increment(1);
    match peer {
        Some(ip) => {
            st.enroll_throttle.failed(ip);
            tracing::warn!(peer = %ip, reason, "enrollment attempt failed");
        }
        None => tracing::warn!(reason, "enrollment attempt failed"),
    }
    let admin = Admin {
        cmd: st.cmd.clone(),
    };
    let written = admin
        .append_audit(move |now| AuditRecord {
            seq: 0,
            at: now,
            school: String::new(),
            device: None,
            user: None,
            action: crate::storage::AuditAction::EnrollFailed,
            document: None,
            kind: Some(reason.to_string()),
            pupil: None,
            device_seq: None,
            device_at: None,
        })
        .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "could not write the audit row of a failed enrollment");
    }
}

// ---------------------------------------------------------------------- in-process API

/// Admin operations on a running server, in-process (for tests and embedding). Each call
/// runs on the hub thread, so its effects (purges, grants, dropped connections) are
/// delivered before it returns.
#[derive(Clone)]
pub struct Admin {
    cmd: mpsc::Sender<Cmd>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Hub, i64) -> Result<(T, Outgoing)> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let call: Call = Box::new(move |hub, now| match f(hub, now) {
            Ok((t, out)) => {
                let _ = tx.send(Ok(t));
                out
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                vec![]
            }
        });
        self.cmd
            .send(Cmd::Call(call))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Append one audit row, made at the hub's `now`, in a transaction of its own.
    pub(crate) async fn append_audit(
        &self,
        row: impl FnOnce(i64) -> AuditRecord + Send + 'static,
    ) -> Result<()> {
        self.call(move |hub, now| {
            hub.storage().commit(crate::storage::Batch {
                audit: vec![row(now)],
                ..Default::default()
            })?;
            Ok(((), vec![]))
        })
        .await
    }

    /// Create a school (id: 1-64 of a-z, 0-9, `-`, `_`, `.`) with an empty roster.
    pub async fn create_school(&self, id: &str, name: &str) -> Result<()> {
        let (id, name) = (id.to_string(), name.to_string());
        self.call(move |hub, now| Ok(((), hub.create_school(now, &id, &name)?)))
            .await
    }

    /// Import a roster CSV (format: [`crate::roster_csv`]) into a school.
    pub async fn import_roster(&self, school: &str, csv: &str) -> Result<RosterImport> {
        let (school, csv) = (school.to_string(), csv.to_string());
        self.call(move |hub, now| hub.import_roster(now, &school, &csv))
            .await
    }

    /// Set a school's offline lease in days (0: none); returns whether it changed.
    pub async fn set_offline_lease(&self, school: &str, days: u32) -> Result<bool> {
        let school = school.to_string();
        self.call(move |hub, now| hub.set_offline_lease(now, &school, days))
            .await
    }

    /// Issue a one-time enrollment code for a staff member of a school.
    pub async fn issue_code(&self, school: &str, user: &str) -> Result<String> {
        let (school, user) = (school.to_string(), user.to_string());
        self.call(move |hub, now| Ok((hub.issue_code(now, &school, &user)?, vec![])))
            .await
    }

    /// All devices.
    pub async fn devices(&self) -> Result<Vec<Device>> {
        self.call(|hub, _| Ok((hub.devices()?, vec![]))).await
    }

    /// Revoke a device: its live connections get `revoked {}` and are dropped.
    pub async fn revoke_device(&self, device: &str) -> Result<()> {
        let device = device.to_string();
        self.call(move |hub, now| Ok(((), hub.revoke_device(now, &device)?)))
            .await
    }

    /// Erase every document about a pupil; returns how many.
    pub async fn erase_pupil(&self, school: &str, pupil: &str) -> Result<usize> {
        let (school, pupil) = (school.to_string(), pupil.to_string());
        self.call(move |hub, now| hub.erase_pupil(now, &school, &pupil))
            .await
    }

    /// Run retention now, or as of `at` (unix ms, for tests and the dry-run's "when"):
    /// erase what expired in every school (devices purge it); returns how many documents.
    pub async fn apply_retention(&self, at: Option<i64>) -> Result<usize> {
        self.call(move |hub, now| {
            let (gone, out) = hub.apply_retention(now, at.unwrap_or(now))?;
            Ok((gone.len(), out))
        })
        .await
    }

    /// Audit rows (ids only).
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>> {
        self.call(move |hub, _| Ok((hub.audit(&filter)?, vec![])))
            .await
    }
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

#[cfg(test)]
mod tests {
    use super::{Admin, AppState, Settings, launch, readyz};
    use axum::extract::State;
    use axum::http::StatusCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Keep the hub at work: `n` commands of `each` after one another, all queued (one
    /// running) before this returns.
    async fn occupy(state: &AppState, n: usize, each: Duration) {
        let started = Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let admin = Admin {
                cmd: state.cmd.clone(),
            };
            let started = started.clone();
            tokio::spawn(async move {
                let _ = admin
                    .call(move |_, _| {
                        started.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(each);
                        Ok(((), vec![]))
                    })
                    .await;
            });
        }
        let queued = || state.cmd.max_capacity() - state.cmd.capacity();
        while started.load(Ordering::SeqCst) == 0 || queued() + 1 < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn status(state: &AppState) -> (StatusCode, String) {
        let r = readyz(State(state.clone())).await;
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The real hub thread: behind a queue of commands it works through, `/readyz` says
    /// ready (busy); behind one command that holds it past the wait, not ready.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readyz_tells_a_busy_hub_from_a_stuck_one() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let launched = launch(&Settings::for_test(&data)).unwrap();
        let state = launched.state.clone();
        assert_eq!(status(&state).await, (StatusCode::OK, "ready\n".into()));
        // Forty commands of 100 ms queued before the probe: four seconds of work, the
        // probe waits two, and the hub handles commands meanwhile.
        occupy(&state, 40, Duration::from_millis(100)).await;
        assert_eq!(
            status(&state).await,
            (StatusCode::OK, "ready (busy)\n".into())
        );
        // Wait until the queue is worked off, then hold the hub with one long command.
        while status(&state).await.1 != "ready\n" {}
        occupy(&state, 1, Duration::from_secs(5)).await;
        assert_eq!(
            status(&state).await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the hub is not answering\n".into()
            )
        );
        let _ = launched.shutdown_tx.send(true);
    }
}
