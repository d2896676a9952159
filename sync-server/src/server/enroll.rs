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
                        if crate::requests::only_reads(&frame) {
                            read_beside(&st, token, frame).await
                        } else {
                            ask_hub(&st, token, frame).await
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

/// A request answered by the hub (`None`: the hub is gone).
async fn ask_hub(st: &AppState, token: String, frame: Frame) -> Option<Frame> {
    let (reply, rx) = oneshot::channel();
    let cmd = Cmd::Request {
        token,
        frame,
        reply,
    };
    if st.cmd.send(cmd).await.is_ok() {
        rx.await.ok()
    } else {
        None
    }
}

/// A request that only reads ([`crate::requests::only_reads`]: the dossier, the incident
/// register) answered on a storage connection of its own, beside the hub, so that building
/// it over a large school does not hold up the devices' syncs; its audit rows are written
/// through the hub (which links them into the chain) before the answer goes. Without a
/// connection of its own the hub answers it.
async fn read_beside(st: &AppState, token: String, frame: Frame) -> Option<Frame> {
    let Ok(_turn) = st.reads_beside.clone().acquire_owned().await else {
        return ask_hub(st, token, frame).await;
    };
    let settings = st.settings.clone();
    let now = jiff::Timestamp::now().as_millisecond();
    let (t, f) = (token.clone(), frame.clone());
    let read = tokio::task::spawn_blocking(move || {
        let _cipher = omkijken_core::store::cipher_in_use();
        let mut storage = settings.open_storage()?;
        Ok::<_, crate::Error>(crate::requests::read_only(storage.as_mut(), now, &t, f))
    })
    .await;
    let (answer, audit) = match read {
        Ok(Ok(answered)) => answered,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no storage beside the hub: the hub answers the request");
            return ask_hub(st, token, frame).await;
        }
        Err(_) => return ask_hub(st, token, frame).await,
    };
    if !audit.is_empty() {
        let admin = Admin {
            cmd: st.cmd.clone(),
        };
        let written = admin
            .call(move |hub, _| {
                hub.storage().commit(crate::storage::Batch {
                    audit,
                    ..Default::default()
                })?;
                Ok(((), vec![]))
            })
            .await;
        if let Err(e) = written {
            // Nothing leaves the server without its audit row.
            tracing::error!(error = %e, "the audit row of a request could not be written");
            return Some(Frame::Error {
                code: ErrorCode::Internal,
                message: "server error".into(),
            });
        }
    }
    Some(answer)
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
