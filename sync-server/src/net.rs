//! Connections: admission, caps and timeouts in front of the router.
//!
//! The server accepts TCP connections itself (not `axum::serve`) so that a hostile client
//! cannot hold the process hostage:
//!
//! - **Caps.** At most [`Limits::max_connections`] open connections in total and
//!   [`Limits::max_connections_per_address`] from one client address (IPv6 counted per
//!   /64). Over a cap the connection is answered `503 Service Unavailable` with a
//!   `Retry-After` and a text that says which cap (plain HTTP; with TLS it is closed), and
//!   counted in `omkijken_connections_refused_total{reason}`. When the total is reached,
//!   the oldest connection that has not sent a complete request yet (or sits idle between
//!   requests, or is an enrollment waiting for its frame) is closed to make room, so that
//!   idle connections cannot keep `/healthz`, `/readyz` or a device out.
//! - **Timeouts.** A connection must complete its first request head (and TLS handshake)
//!   within [`Limits::header_timeout`], and every later head too (hyper's header timer); a
//!   keep-alive connection with no request is closed after [`Limits::idle_timeout`]. After
//!   a WebSocket upgrade, the session's own deadlines apply (see `server`: the first frame
//!   within [`Limits::hello_timeout`], pings and [`Limits::session_idle_timeout`]).
//! - **Descriptors.** The total cap is lowered to fit the process's open-files limit
//!   (which the binary raises to the hard limit at start). If `accept` still fails for
//!   want of descriptors, the oldest idle connection is closed and accepting resumes after
//!   a short, growing pause (never a busy loop; never the one-second stall of
//!   `axum::serve`).

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceExt;

/// Connection limits and timeouts. The defaults fit a school board on one node: a few
/// thousand devices, hundreds of them behind one school's address (NAT).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections in total (lowered to fit the open-files limit).
    pub max_connections: usize,
    /// Open connections from one client address (an IPv6 /64 counts as one).
    pub max_connections_per_address: usize,
    /// From accepting a connection to its first complete request head (TLS handshake
    /// included); also the limit for reading each later request head.
    pub header_timeout: Duration,
    /// A keep-alive HTTP connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// After a WebSocket upgrade, the first frame (`hello`, `enroll`) must arrive within
    /// this.
    pub hello_timeout: Duration,
    /// A WebSocket session that receives nothing (no frame, no pong) for this long is
    /// closed.
    pub session_idle_timeout: Duration,
    /// The server pings a WebSocket session that has been quiet this long.
    pub ping_interval: Duration,
    /// Writing one frame to a device may take this long; a device that does not read is
    /// disconnected.
    pub write_timeout: Duration,
    /// Bytes of frames queued for one session; a session whose queue would pass it is
    /// disconnected as too slow (see [`crate::flow`]).
    pub max_queued_bytes: usize,
    /// Bytes of received frames waiting for the hub, all sessions together.
    pub max_inflight_bytes: usize,
    /// Frames per second one session may send (a burst of four seconds' worth); faster
    /// ones are slowed down.
    pub frames_per_sec: u32,
    /// Bytes per second one session may send (a burst of four seconds' worth).
    pub bytes_per_sec: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_address: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(10),
            session_idle_timeout: Duration::from_secs(90),
            ping_interval: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_queued_bytes: 64 * 1024 * 1024,
            max_inflight_bytes: 256 * 1024 * 1024,
            frames_per_sec: 200,
            bytes_per_sec: 32 * 1024 * 1024,
        }
    }
}

/// Descriptors kept for everything besides client connections (store files, database
/// connections, the runtime, refusals in progress).
const RESERVED_FDS: u64 = 128;
/// Refusals (503 answers) written at the same time; beyond that, refused connections are
/// closed at once.
const MAX_REFUSING: usize = 64;

impl Limits {
    /// The total cap in force: [`Limits::max_connections`], lowered to fit the process's
    /// open-files limit.
    pub fn effective_max_connections(&self) -> usize {
        match crate::secure::open_files_limit() {
            Some(n) => {
                let fits = n.saturating_sub(RESERVED_FDS).max(16);
                self.max_connections
                    .min(usize::try_from(fits).unwrap_or(usize::MAX))
            }
            None => self.max_connections,
        }
    }
}

// ---------------------------------------------------------------------- the gate

const FRESH: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;
const UPGRADED: u8 = 3;
/// Upgraded but not authenticated (an enrollment waiting for its frame): may be evicted.
const UPGRADED_ANON: u8 = 4;

/// One admitted connection's state, shared by its tasks and the gate.
#[derive(Debug)]
struct Slot {
    state: AtomicU8,
    /// When it entered its state, ms since `epoch`.
    since: AtomicU64,
    epoch: Instant,
    /// Chosen to be closed (timeout or eviction); counted in `GateInner::closing`.
    closing: AtomicBool,
    close: watch::Sender<bool>,
}

impl Slot {
    fn set(&self, state: u8) {
        self.since
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.state.store(state, Ordering::Relaxed);
    }

    async fn closed(&self) {
        let mut rx = self.close.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// Marks a response whose upgraded connection may be evicted (not authenticated yet).
#[derive(Debug, Clone, Copy)]
pub struct Evictable;

/// The connection a request came on: its peer address, and a way to learn that the
/// server chose to close it. In the request extensions of every request.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    slot: Arc<Slot>,
}

impl ConnInfo {
    /// Resolves when the server chose to close this connection (eviction, shutdown).
    pub async fn closed(&self) {
        self.slot.closed().await
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    PerAddress,
    Full,
}

#[derive(Debug, Default)]
struct GateInner {
    total: usize,
    /// Chosen to be closed but not closed yet.
    closing: usize,
    per_ip: HashMap<IpAddr, usize>,
    slots: HashMap<u64, Arc<Slot>>,
    next: u64,
}

/// Counts open connections per address and in total; picks connections to close.
#[derive(Debug)]
pub(crate) struct Gate {
    max_total: usize,
    max_per_ip: usize,
    header_timeout: Duration,
    idle_timeout: Duration,
    epoch: Instant,
    inner: Mutex<GateInner>,
}

/// An admitted connection; dropping it (with the socket it travels with) frees its place.
#[derive(Debug)]
struct Ticket {
    gate: Arc<Gate>,
    key: IpAddr,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let open = {
            let mut g = self.gate.lock();
            g.total -= 1;
            if let Some(n) = g.per_ip.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    g.per_ip.remove(&self.key);
                }
            }
            g.slots.remove(&self.id);
            if self.slot.closing.load(Ordering::Relaxed) {
                g.closing -= 1;
            }
            g.total
        };
        metrics::gauge!("omkijken_open_connections").set(open as f64);
    }
}

/// The address a cap counts: IPv4 as it is (also when mapped into IPv6), IPv6 by its /64.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

fn close_reason(state: u8) -> &'static str {
    match state {
        FRESH => "header_timeout",
        _ => "idle_timeout",
    }
}

impl Gate {
    pub(crate) fn new(limits: &Limits) -> Arc<Gate> {
        Arc::new(Gate {
            max_total: limits.effective_max_connections(),
            max_per_ip: limits.max_connections_per_address.max(1),
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
            epoch: Instant::now(),
            inner: Mutex::new(GateInner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open connections now.
    pub(crate) fn open(&self) -> usize {
        self.lock().total
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let key = address_key(ip);
        let (ticket, open) = {
            let mut g = self.lock();
            if g.per_ip.get(&key).copied().unwrap_or(0) >= self.max_per_ip {
                return Err(Refusal::PerAddress);
            }
            if g.total - g.closing >= self.max_total && !Self::evict(&mut g, "evicted") {
                return Err(Refusal::Full);
            }
            g.total += 1;
            *g.per_ip.entry(key).or_default() += 1;
            let id = g.next;
            g.next += 1;
            let (close, _) = watch::channel(false);
            let slot = Arc::new(Slot {
                state: AtomicU8::new(FRESH),
                since: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
                epoch: self.epoch,
                closing: AtomicBool::new(false),
                close,
            });
            g.slots.insert(id, slot.clone());
            let ticket = Ticket {
                gate: self.clone(),
                key,
                id,
                slot,
            };
            (ticket, g.total)
        };
        metrics::gauge!("omkijken_open_connections").set(open as f64);
        Ok(ticket)
    }

    fn mark_closing(g: &mut GateInner, slot: &Slot, reason: &'static str) {
        slot.closing.store(true, Ordering::Relaxed);
        g.closing += 1;
        slot.close.send_replace(true);
        metrics::counter!("omkijken_connections_closed_total", "reason" => reason).increment(1);
    }

    /// Close the connection that waited longest without a request in flight (or an
    /// unauthenticated upgraded one); false if there is none.
    fn evict(g: &mut GateInner, reason: &'static str) -> bool {
        let victim = g
            .slots
            .values()
            .filter(|s| {
                !s.closing.load(Ordering::Relaxed)
                    && matches!(
                        s.state.load(Ordering::Relaxed),
                        FRESH | IDLE | UPGRADED_ANON
                    )
            })
            .min_by_key(|s| s.since.load(Ordering::Relaxed))
            .cloned();
        match victim {
            Some(s) => {
                Self::mark_closing(g, &s, reason);
                true
            }
            None => false,
        }
    }

    /// Close one idle connection (out of descriptors); false if there is none.
    fn evict_one(&self) -> bool {
        Self::evict(&mut self.lock(), "evicted")
    }

    /// Close the connections past their header or idle timeout.
    fn reap(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        let header = self.header_timeout.as_millis() as u64;
        let idle = self.idle_timeout.as_millis() as u64;
        let mut g = self.lock();
        let due: Vec<(Arc<Slot>, u8)> = g
            .slots
            .values()
            .filter(|s| !s.closing.load(Ordering::Relaxed))
            .filter_map(|s| {
                let state = s.state.load(Ordering::Relaxed);
                let age = now.saturating_sub(s.since.load(Ordering::Relaxed));
                let late = match state {
                    FRESH => age >= header,
                    IDLE => age >= idle,
                    _ => false,
                };
                late.then(|| (s.clone(), state))
            })
            .collect();
        for (s, state) in due {
            Self::mark_closing(&mut g, &s, close_reason(state));
        }
    }
}

// ---------------------------------------------------------------------- the socket

/// A client's socket with its place at the gate: the place is freed when the socket is
/// dropped (also after an upgrade, when the WebSocket session ends).
struct Tracked<T> {
    io: T,
    _ticket: Ticket,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

// ---------------------------------------------------------------------- serving

/// Whether an `accept` error means the process (or system) ran out of descriptors or
/// memory for sockets.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        matches!(
            Errno::from_io_error(e),
            Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Answer a refused connection with 503 and close it (plain HTTP), or just close it (TLS).
async fn refuse(mut tcp: TcpStream, why: Refusal, tls: bool) {
    if tls {
        return;
    }
    let body = match why {
        Refusal::PerAddress => "too many connections from this address; try again later\n",
        Refusal::Full => "the server is at its connection limit; try again later\n",
    };
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         retry-after: 10\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let t = Duration::from_secs(2);
    let _ = tokio::time::timeout(t, tcp.write_all(answer.as_bytes())).await;
    let _ = tokio::time::timeout(t, tcp.shutdown()).await;
    // Read what the client sent, so that closing does not reset the connection before the
    // client has read the answer.
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Serve `router` on `listener` (TLS with `tls`) under `limits` until `shutdown` turns
/// true; then let open requests finish (10 s at most). Upgraded sessions are not waited
/// for: they end on the same signal (see `server`).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    limits: Limits,
    gate: Arc<Gate>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    let http = Arc::new(http);
    if gate.max_total < limits.max_connections {
        tracing::warn!(
            max_connections = gate.max_total,
            configured = limits.max_connections,
            "connection cap lowered to fit the open-files limit"
        );
    }
    // The reaper: header and idle timeouts.
    let reaper = {
        let gate = gate.clone();
        let every = (limits.header_timeout.min(limits.idle_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        crate::periodic::every(every, shutdown.clone(), move || {
            gate.reap();
            std::future::ready(true)
        })
    };
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    // Every connection task holds a clone; all dropped = all finished.
    let (drain_tx, mut drained) = mpsc::channel::<()>(1);
    let mut pause = Duration::ZERO;
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => {
                pause = Duration::ZERO;
                c
            }
            Err(e) if out_of_descriptors(&e) => {
                metrics::counter!("omkijken_accept_errors_total", "kind" => "no_descriptors")
                    .increment(1);
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(error = %e, open = gate.open(), "out of descriptors: closing idle connections");
                    last_warning = Some(Instant::now());
                }
                // Make room, and wait a little (growing to 100 ms) before the next try.
                gate.evict_one();
                pause = (pause * 2).clamp(Duration::from_millis(5), Duration::from_millis(100));
                tokio::time::sleep(pause).await;
                continue;
            }
            Err(e) => {
                // The client gave up before we took it (reset, aborted): nothing to do.
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        let ticket = match gate.admit(peer.ip()) {
            Ok(t) => t,
            Err(why) => {
                let reason = match why {
                    Refusal::PerAddress => "per_address",
                    Refusal::Full => "full",
                };
                metrics::counter!("omkijken_connections_refused_total", "reason" => reason)
                    .increment(1);
                tracing::debug!(reason, "connection refused");
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    let tls = acceptor.is_some();
                    tokio::spawn(async move {
                        refuse(tcp, why, tls).await;
                        drop(permit);
                    });
                }
                continue;
            }
        };
        let mut tcp = tcp;
        no_delay(&mut tcp);
        let slot = ticket.slot.clone();
        let io = Tracked {
            io: tcp,
            _ticket: ticket,
        };
        let conn = Conn {
            peer,
            slot,
            router: router.clone(),
            http: http.clone(),
            shutdown: shutdown.clone(),
            _drain: drain_tx.clone(),
        };
        match &acceptor {
            None => {
                tokio::spawn(conn.serve(io));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let header_timeout = limits.header_timeout;
                tokio::spawn(async move {
                    // The handshake counts against the header timeout (the reaper closes
                    // a connection that takes longer, too).
                    let tls = tokio::select! {
                        r = tokio::time::timeout(header_timeout, acceptor.accept(io)) => r,
                        _ = conn.slot.closed() => return,
                    };
                    match tls {
                        Ok(Ok(tls)) => conn.serve(tls).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "tls handshake failed"),
                        Err(_) => tracing::debug!("tls handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    drop(drain_tx);
    // Requests in flight finish (their connections close after them), 10 s at most.
    let _ = tokio::time::timeout(Duration::from_secs(10), drained.recv()).await;
    reaper.abort();
    Ok(())
}

/// One HTTP connection.
struct Conn {
    peer: SocketAddr,
    slot: Arc<Slot>,
    router: Router,
    http: Arc<hyper::server::conn::http1::Builder>,
    shutdown: watch::Receiver<bool>,
    _drain: mpsc::Sender<()>,
}

impl Conn {
    async fn serve<I>(mut self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (peer, slot, router) = (self.peer, self.slot.clone(), self.router.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            slot.set(BUSY);
            req.extensions_mut().insert(ConnInfo {
                peer,
                slot: slot.clone(),
            });
            let (router, slot) = (router.clone(), slot.clone());
            async move {
                let resp = router.oneshot(req).await;
                if let Ok(r) = &resp {
                    slot.set(
                        if r.status() != axum::http::StatusCode::SWITCHING_PROTOCOLS {
                            IDLE
                        } else if r.extensions().get::<Evictable>().is_some() {
                            UPGRADED_ANON
                        } else {
                            UPGRADED
                        },
                    );
                }
                resp
            }
        });
        let conn = self
            .http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => match r {
                // hyper's header timer: a request head not complete in time.
                Err(e) if e.is_timeout() => {
                    metrics::counter!("omkijken_connections_closed_total", "reason" => "header_timeout")
                        .increment(1);
                }
                Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
                Ok(()) => {}
            },
            // Chosen to be closed (timeout, eviction): drop it.
            _ = self.slot.closed() => {}
            _ = async { let _ = self.shutdown.wait_for(|s| *s).await; } => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
            }
        }
    }
}

/// Send small frames at once: with Nagle's algorithm a frame written while the previous
/// one is unacknowledged waits for the peer's delayed ACK (40 ms on Linux), and a catch-up
/// is a few small frames in a row.
pub(crate) fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}

#[cfg(test)]
mod tests;
