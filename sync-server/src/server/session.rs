//! A WebSocket sync session (`/v1/sync`, and `/v1/automerge-repo` in that dialect): the
//! connect on the hub thread, frames in and out within the flow bounds, the close.

use super::AppState;
use super::hub_thread::{Cmd, OutFrame, Outbox, closes};
use super::router::{ApiError, bearer};
use crate::hub::{ConnId, ConnectRefusal, SyncMessage};
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use omkijken_core::sync::{ErrorCode, Frame, MAX_FRAME_BYTES};
use std::time::Instant;
use tokio::sync::oneshot;
use tracing::Instrument;

/// WebSocket message limit: a little above the frame limit, so an oversized frame up to it
/// still gets a clear `too_large` error frame.
const WS_MAX_MESSAGE: usize = MAX_FRAME_BYTES + 64 * 1024;
/// The read buffer a WebSocket starts with (tungstenite's default is 128 KiB, allocated for
/// every connection: at 10,000 devices that alone was 1.2 GiB). A larger message grows it.
pub(super) const WS_READ_BUFFER: usize = 4 * 1024;

pub(super) async fn sync_ws(
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
pub(super) async fn repo_ws(
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
pub(super) enum Dialect {
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
            ws.read_buffer_size(WS_READ_BUFFER)
                .on_upgrade(move |socket| say_and_close(socket, refusal.frame(), limits, dialect))
        }
        Ok((connected, out)) => {
            let conn = connected.conn;
            let cmd = st.cmd.clone();
            let span = tracing::info_span!("session", device = %connected.device, conn = conn.0);
            ws.max_message_size(WS_MAX_MESSAGE)
                .max_frame_size(WS_MAX_MESSAGE)
                .read_buffer_size(WS_READ_BUFFER)
                .on_failed_upgrade(move |_| {
                    let _ = cmd.try_send(Cmd::Disconnect { conn });
                })
                .on_upgrade(move |socket| session(st, socket, conn, out, dialect).instrument(span))
        }
    }
}

/// Send one frame; false when the socket failed or the device did not take it within the
/// write timeout (a device that does not read is disconnected, not buffered for).
pub(super) async fn send_frame(
    socket: &mut WebSocket,
    frame: &Frame,
    limits: &crate::net::Limits,
) -> bool {
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
        Dialect::Repo(peers) => send_repo(socket, frame, peers, limits).await,
    }
}

/// Send a frame the hub queued for this session (perhaps for others too): in the native
/// dialect the bytes encoded once for all of them.
async fn send_queued(
    socket: &mut WebSocket,
    out: &OutFrame,
    dialect: &Dialect,
    limits: &crate::net::Limits,
) -> bool {
    match dialect {
        Dialect::Native => {
            let bytes = out.encoded();
            metrics::counter!("omkijken_frames_out_total", "type" => out.frame.type_name())
                .increment(1);
            metrics::counter!("omkijken_bytes_out_total").increment(bytes.len() as u64);
            send_message(socket, Message::Binary(bytes), limits).await
        }
        Dialect::Repo(peers) => send_repo(socket, &out.frame, peers, limits).await,
    }
}

/// What the hub queued for this session (`None`: the hub let it go) sent on: false when the
/// session ends (the frame closes it, the device does not read, the hub dropped it).
async fn forward(
    socket: &mut WebSocket,
    frame: Option<std::sync::Arc<OutFrame>>,
    queued: &crate::flow::Queued,
    dialect: &Dialect,
    limits: &crate::net::Limits,
) -> bool {
    let Some(f) = frame else {
        let _ = tokio::time::timeout(limits.write_timeout, socket.send(Message::Close(None))).await;
        return false;
    };
    let close = closes(&f.frame);
    // A device that stopped reading blocks this send: the hub dropping the session (its
    // queue is full) ends it at once.
    let sent = tokio::select! {
        sent = send_queued(socket, &f, dialect, limits) => sent,
        _ = queued.dropped() => false,
    };
    queued.sent(f.size);
    if !sent {
        return false;
    }
    if close {
        close_with(socket, close_code::POLICY, "", limits).await;
        return false;
    }
    true
}

/// Send one frame in automerge-repo's messages.
async fn send_repo(
    socket: &mut WebSocket,
    frame: &Frame,
    peers: &crate::automerge_repo::Peers,
    limits: &crate::net::Limits,
) -> bool {
    metrics::counter!("omkijken_frames_out_total", "type" => frame.type_name()).increment(1);
    for bytes in peers.translate(frame) {
        metrics::counter!("omkijken_bytes_out_total").increment(bytes.len() as u64);
        if !send_message(socket, Message::Binary(bytes.into()), limits).await {
            return false;
        }
    }
    true
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

pub(super) async fn session(
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
    // A device's own requests must not fill its queue past the cap that drops slow readers:
    // while more than a quarter of it waits to be sent, its socket is not read (its next
    // fetch waits in TCP), and what is queued goes out first. A fresh device pulling 100,000
    // documents sent all its fetches at once and was dropped at 64 MiB, again and again.
    let read_below = limits.max_queued_bytes / 4;
    loop {
        let hello_late = async {
            match hello_by {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = socket.recv(), if queued.bytes() <= read_below => {
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
                            let msg = SyncMessage { document_id, data, request };
                            let cmd = Cmd::RepoSync { conn, msg, _inflight: inflight };
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
                        // Waiting to be let in (the session's frames wait in the hub behind
                        // its reads beside it), what the hub sends goes on going out: a
                        // catalog read in chunks is sent while the fetches wait.
                        let inflight = {
                            let admit = intake.admit(size);
                            tokio::pin!(admit);
                            loop {
                                tokio::select! {
                                    a = &mut admit => break a,
                                    f = out.recv() => {
                                        if !forward(&mut socket, f, &queued, &dialect, &limits).await {
                                            break None;
                                        }
                                    }
                                }
                            }
                        };
                        let Some(inflight) = inflight else { break };
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
            frame = out.recv() => {
                if !forward(&mut socket, frame, &queued, &dialect, &limits).await {
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
