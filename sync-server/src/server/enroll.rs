//! One-frame WebSocket endpoints: `/v1/enroll` (with its throttle and the audit of failed
//! enrollments) and `/v1/request`.

use super::AppState;
use super::admin::Admin;
use super::hub_thread::Cmd;
use super::router::{ApiError, bearer};
use super::session::send_frame;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omkijken_core::sync::{ErrorCode, Frame};
use std::time::Instant;
use tokio::sync::oneshot;

pub(super) async fn enroll_ws(
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
        .read_buffer_size(super::session::WS_READ_BUFFER)
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
pub(super) async fn request_ws(
    State(st): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return ApiError::Unauthorized.into_response();
    };
    ws.max_message_size(64 * 1024)
        .read_buffer_size(super::session::WS_READ_BUFFER)
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
    let written = admin.audit_enroll_failed(reason.to_string()).await;
    if let Err(e) = written {
        tracing::error!(error = %e, "could not write the audit row of a failed enrollment");
    }
}
