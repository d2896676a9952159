//! The WebSocket connection: URLs, TLS (the web roots plus a school's own authority),
//! frames read and written with a deadline, and transport errors without the request.

use crate::sync::frames::{Frame, MAX_FRAME_BYTES};
use crate::{Error, Result, Store};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Store setting: the device token (kept in the encrypted store).
pub const SETTING_TOKEN: &str = "token";

/// Store setting: the server's base URL (`http(s)://` or `ws(s)://host:port`).
pub const SETTING_SERVER_URL: &str = "server_url";

/// Store setting: the device id the server gave at enrollment.
pub const SETTING_DEVICE: &str = "device";

/// Store setting: an extra root certificate (PEM) trusted for `wss://`, for a school server
/// with a certificate from its own authority. See [`trust_certificate`].
pub const SETTING_TRUSTED_CA: &str = "tls_trusted_ca";

/// How long a connection may stay silent while the device waits for an answer.
pub(super) const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES + 1024))
        .max_frame_size(Some(MAX_FRAME_BYTES + 1024))
}

/// `base` (http, https, ws or wss, with or without a trailing slash) joined with `path`,
/// as a WebSocket URL.
pub(super) fn ws_url(base: &str, path: &str) -> Result<String> {
    let base = base.trim_end_matches('/');
    let url = if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if base.starts_with("ws://") || base.starts_with("wss://") {
        base.to_string()
    } else {
        return Err(Error::Invalid(
            "server url must start with http(s):// or ws(s)://".into(),
        ));
    };
    Ok(format!("{url}{path}"))
}

/// A transport error as an [`Error`], without anything from the request (the token).
pub(super) fn network(e: tungstenite::Error) -> Error {
    use tungstenite::Error as E;
    match e {
        E::Http(resp) if resp.status() == http::StatusCode::UNAUTHORIZED => {
            Error::Forbidden("the server does not accept this device's token")
        }
        E::Http(resp) => Error::Network(format!("server answered HTTP {}", resp.status())),
        E::Io(io) => Error::Network(format!("i/o: {}", io.kind())),
        E::ConnectionClosed | E::AlreadyClosed => Error::Network("connection closed".into()),
        E::Capacity(_) => Error::Network("frame over the size limit".into()),
        E::Url(_) => Error::Invalid("bad server url".into()),
        E::Tls(_) => Error::Network("tls failure".into()),
        E::Protocol(p) => Error::Network(format!("websocket protocol: {p}")),
        _ => Error::Network("websocket failure".into()),
    }
}

/// Trust `pem` (one or more PEM certificates) as root authorities for `wss://`, besides
/// the public web roots: for a school server whose certificate comes from the school's
/// own authority. Set before [`enroll`]; kept in the encrypted store.
pub fn trust_certificate(store: &Store, pem: &str) -> Result<()> {
    roots(Some(pem))?;
    store.set_setting(SETTING_TRUSTED_CA, Some(pem))
}

/// The public web roots (webpki-roots), plus the certificates in `extra` (PEM).
pub(super) fn roots(extra: Option<&str>) -> Result<rustls::RootCertStore> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| Error::Invalid("not a PEM certificate".into()))?;
            roots
                .add(cert)
                .map_err(|_| Error::Invalid("not a usable root certificate".into()))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::Invalid("no certificate in the PEM text".into()));
        }
    }
    Ok(roots)
}

/// TLS for `wss://`: rustls with ring, TLS 1.2 and 1.3, the roots above.
pub(super) fn tls_connector(extra_ca: Option<&str>) -> Result<tokio_tungstenite::Connector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Network("tls setup failed".into()))?
        .with_root_certificates(roots(extra_ca)?)
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
}

pub(super) async fn connect(url: &str, token: Option<&str>, extra_ca: Option<&str>) -> Result<Ws> {
    let mut request = url.into_client_request().map_err(network)?;
    if let Some(token) = token {
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::Invalid("the stored token is not a valid header value".into()))?;
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
    }
    let connector = if url.starts_with("wss://") {
        tls_connector(extra_ca)?
    } else {
        tokio_tungstenite::Connector::Plain
    };
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(ws_config()),
        true,
        Some(connector),
    )
    .await
    .map_err(network)?;
    Ok(ws)
}

/// Messages that arrived while the device was writing ([`send_reading`]): read before the
/// socket, in order.
pub(super) type Arrived = VecDeque<tungstenite::Result<Message>>;

/// Read the next frame, answering pings; None when the connection closed.
pub(super) async fn next_frame(ws: &mut Ws, arrived: &mut Arrived) -> Result<Option<Frame>> {
    Ok(next_frame_sized(ws, arrived).await?.map(|(f, _)| f))
}

/// The next frame and its size in bytes: what arrived while writing first, then the socket.
pub(super) async fn next_frame_sized(
    ws: &mut Ws,
    arrived: &mut Arrived,
) -> Result<Option<(Frame, usize)>> {
    loop {
        let message = match arrived.pop_front() {
            Some(m) => Some(m),
            None => ws.next().await,
        };
        match message {
            None => return Ok(None),
            Some(Err(e)) => {
                return match e {
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                        Ok(None)
                    }
                    e => Err(network(e)),
                };
            }
            Some(Ok(Message::Binary(bytes))) => {
                return Ok(Some((Frame::decode(&bytes)?, bytes.len())));
            }
            Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(Message::Ping(_))) => {
                // tungstenite queued the pong; flush it out.
                ws.flush().await.map_err(network)?;
            }
            Some(Ok(_)) => {}
        }
    }
}

/// The next frame; with `deadline`, a server silent for [`ANSWER_TIMEOUT`] is an error.
pub(super) async fn read(ws: &mut Ws, deadline: bool) -> Result<Option<Frame>> {
    Ok(read_sized(ws, &mut Arrived::new(), deadline)
        .await?
        .map(|(f, _)| f))
}

/// [`read`] with the frame's size in bytes, what arrived while writing first.
pub(super) async fn read_sized(
    ws: &mut Ws,
    arrived: &mut Arrived,
    deadline: bool,
) -> Result<Option<(Frame, usize)>> {
    if deadline {
        tokio::time::timeout(ANSWER_TIMEOUT, next_frame_sized(ws, arrived))
            .await
            .map_err(|_| Error::Network("timed out waiting for the server".into()))?
    } else {
        next_frame_sized(ws, arrived).await
    }
}

pub(super) async fn send(ws: &mut Ws, frame: &Frame) -> Result<()> {
    send_sized(ws, frame).await.map(|_| ())
}

/// [`send`], returning the frame's size in bytes.
pub(super) async fn send_sized(ws: &mut Ws, frame: &Frame) -> Result<usize> {
    let bytes = frame.encode();
    let n = bytes.len();
    ws.send(Message::binary(bytes)).await.map_err(network)?;
    Ok(n)
}

/// [`send_sized`] that goes on reading while the frame is written: what arrives meanwhile
/// is kept in `arrived`, in order, for [`read_sized`]. The server stops reading a session
/// while much waits to be sent to it (a large catalog, fetched documents): a device that
/// then only wrote (a large outbox) would wait for the server, and the server for it,
/// until the server closed the session as one whose device does not read.
pub(super) async fn send_reading(
    ws: &mut Ws,
    frame: &Frame,
    arrived: &mut Arrived,
) -> Result<usize> {
    let bytes = frame.encode();
    let n = bytes.len();
    let mut message = Some(Message::binary(bytes));
    let mut reading = true;
    std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(r) = poll_write(ws, &mut message, cx) {
                return Poll::Ready(r.map_err(network));
            }
            if !reading {
                return Poll::Pending;
            }
            match Pin::new(&mut *ws).poll_next(cx) {
                Poll::Ready(Some(m)) => {
                    // After an error or a close, nothing more is read here.
                    reading = matches!(m, Ok(ref m) if !m.is_close());
                    arrived.push_back(m);
                }
                Poll::Ready(None) => {
                    reading = false;
                    arrived.push_back(Ok(Message::Close(None)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await?;
    Ok(n)
}

/// Hand `message` (once) to the socket and flush it: ready when all is written.
fn poll_write(
    ws: &mut Ws,
    message: &mut Option<Message>,
    cx: &mut Context<'_>,
) -> Poll<tungstenite::Result<()>> {
    if message.is_some() {
        ready!(Pin::new(&mut *ws).poll_ready(cx))?;
        if let Some(m) = message.take() {
            Pin::new(&mut *ws).start_send(m)?;
        }
    }
    Pin::new(ws).poll_flush(cx)
}
