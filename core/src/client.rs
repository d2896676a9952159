//! The tokio WebSocket transport of a device (feature `client`).
//!
//! A thin loop around the sans-io [`ClientEngine`]: it opens the WebSocket, feeds the
//! engine what arrives, sends what the engine says, and sleeps between reconnects. All
//! protocol decisions live in the engine.
//!
//! - [`enroll`] exchanges a one-time enrollment code for a device token.
//! - [`sync_once`] connects, catches up, pushes the outbox until it is acknowledged, and
//!   closes: for "pull to refresh" and for tests.
//! - [`SyncClient`] keeps a connection open in the background: live pushes both ways,
//!   reconnects with exponential backoff and jitter, progress events to a callback.
//!
//! Transport failures are [`Error::Network`]; their messages never carry the token.

use crate::store::Identity;
use crate::sync::client::{ClientEngine, ClientInput, ClientOutput, SyncStats};
use crate::sync::frames::{ErrorCode, Frame, MAX_FRAME_BYTES, RefusalReason};
use crate::{DocumentId, Error, Result, Store};
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
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
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES + 1024))
        .max_frame_size(Some(MAX_FRAME_BYTES + 1024))
}

/// `base` (http, https, ws or wss, with or without a trailing slash) joined with `path`,
/// as a WebSocket URL.
fn ws_url(base: &str, path: &str) -> Result<String> {
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
fn network(e: tungstenite::Error) -> Error {
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
fn roots(extra: Option<&str>) -> Result<rustls::RootCertStore> {
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
fn tls_connector(extra_ca: Option<&str>) -> Result<tokio_tungstenite::Connector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Network("tls setup failed".into()))?
        .with_root_certificates(roots(extra_ca)?)
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
}

async fn connect(url: &str, token: Option<&str>, extra_ca: Option<&str>) -> Result<Ws> {
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

/// Read the next frame, answering pings; None when the connection closed.
async fn next_frame(ws: &mut Ws) -> Result<Option<Frame>> {
    Ok(next_frame_sized(ws).await?.map(|(f, _)| f))
}

/// The next frame and its size in bytes.
async fn next_frame_sized(ws: &mut Ws) -> Result<Option<(Frame, usize)>> {
    loop {
        match ws.next().await {
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
async fn read(ws: &mut Ws, deadline: bool) -> Result<Option<Frame>> {
    Ok(read_sized(ws, deadline).await?.map(|(f, _)| f))
}

/// [`read`] with the frame's size in bytes.
async fn read_sized(ws: &mut Ws, deadline: bool) -> Result<Option<(Frame, usize)>> {
    if deadline {
        tokio::time::timeout(ANSWER_TIMEOUT, next_frame_sized(ws))
            .await
            .map_err(|_| Error::Network("timed out waiting for the server".into()))?
    } else {
        next_frame_sized(ws).await
    }
}

async fn send(ws: &mut Ws, frame: &Frame) -> Result<()> {
    send_sized(ws, frame).await.map(|_| ())
}

/// [`send`], returning the frame's size in bytes.
async fn send_sized(ws: &mut Ws, frame: &Frame) -> Result<usize> {
    let bytes = frame.encode();
    let n = bytes.len();
    ws.send(Message::binary(bytes)).await.map_err(network)?;
    Ok(n)
}

/// Store settings of a device enrollment through the identity provider in progress.
const SETTING_OIDC_VERIFIER: &str = "oidc_enroll_verifier";
const SETTING_OIDC_SERVER: &str = "oidc_enroll_server";

/// Begin enrolling through the school's identity provider: keep a new secret in the store
/// and answer the URL to open in the system browser. There the staff member signs in; the
/// server then sends the browser to `return_url` (the app's own scheme, or a loopback URL)
/// with `?enrollment=ready`, or `?enrollment=refused` when the sign-in maps to no staff
/// member. Then call [`finish_oidc_enrollment`].
pub fn begin_oidc_enrollment(store: &Store, server_url: &str, return_url: &str) -> Result<String> {
    if store.identity()?.is_some() {
        return Err(Error::Invalid("this device is already enrolled".into()));
    }
    ws_url(server_url, "")?;
    let verifier = crate::invite::oidc::new_verifier();
    let challenge = crate::invite::oidc::challenge(&verifier);
    store.set_setting(SETTING_OIDC_VERIFIER, Some(&verifier))?;
    store.set_setting(SETTING_OIDC_SERVER, Some(server_url))?;
    let encoded: String = return_url
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    Ok(format!(
        "{}/v1/oidc/enroll?challenge={challenge}&return={encoded}",
        server_url.trim_end_matches('/')
    ))
}

/// Finish an enrollment begun with [`begin_oidc_enrollment`], once the browser came back:
/// the kept secret is the device's one-time enrollment code. `Forbidden` when the sign-in
/// did not succeed (or mapped to no staff member); `Invalid` when none was begun.
pub async fn finish_oidc_enrollment(store: &Store, label: &str) -> Result<Identity> {
    let verifier = store.setting(SETTING_OIDC_VERIFIER)?.ok_or_else(|| {
        Error::Invalid("no enrollment through the identity provider was begun".into())
    })?;
    let server = store.setting(SETTING_OIDC_SERVER)?.ok_or_else(|| {
        Error::Invalid("no enrollment through the identity provider was begun".into())
    })?;
    let identity = enroll(&server, &verifier, label, store).await?;
    store.set_setting(SETTING_OIDC_VERIFIER, None)?;
    store.set_setting(SETTING_OIDC_SERVER, None)?;
    Ok(identity)
}

/// Enroll this device from a scanned enrollment invite ([`crate::invite`], the QR code the
/// admin console shows). When the invite names the school's own certificate authority, the
/// store must trust an authority with that fingerprint ([`trust_certificate`]) first, else
/// `Invalid` and nothing is sent: the invite pins the authority the app was given.
pub async fn enroll_with_invite(payload: &str, label: &str, store: &Store) -> Result<Identity> {
    let invite = crate::invite::EnrollmentInvite::parse(payload)?;
    if let Some(want) = &invite.ca_sha256 {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        use sha2::{Digest, Sha256};
        let ca = store.setting(SETTING_TRUSTED_CA)?.unwrap_or_default();
        let pinned = CertificateDer::pem_slice_iter(ca.as_bytes())
            .filter_map(|c| c.ok())
            .any(|c| hex::encode(Sha256::digest(c.as_ref())) == *want);
        if !pinned {
            return Err(Error::Invalid(
                "the invite names a certificate authority this device does not trust yet".into(),
            ));
        }
    }
    enroll(&invite.server, &invite.code, label, store).await
}

/// Enroll this device with a one-time code from the school's IT admin.
///
/// Sends the store's actor id, so the server will accept changes of this device only.
/// Stores the identity, the token, the device id and the server url in the encrypted
/// store. A code that is unknown, used or expired is [`Error::Forbidden`].
pub async fn enroll(server_url: &str, code: &str, label: &str, store: &Store) -> Result<Identity> {
    if store.identity()?.is_some() {
        return Err(Error::Invalid("this device is already enrolled".into()));
    }
    let ca = store.setting(SETTING_TRUSTED_CA)?;
    let mut ws = connect(&ws_url(server_url, "/v1/enroll")?, None, ca.as_deref()).await?;
    send(
        &mut ws,
        &Frame::Enroll {
            code: code.into(),
            actor: hex::encode(store.actor().to_bytes()),
            label: label.into(),
        },
    )
    .await?;
    let answer = read(&mut ws, true).await?;
    let _ = ws.close(None).await;
    match answer {
        Some(Frame::Enrolled {
            token,
            school,
            user,
            device,
        }) => {
            let identity = Identity { school, user };
            store.set_setting(SETTING_SERVER_URL, Some(server_url))?;
            store.set_setting(SETTING_TOKEN, Some(&token))?;
            store.set_setting(SETTING_DEVICE, Some(&device))?;
            store.set_identity(&identity)?;
            Ok(identity)
        }
        Some(Frame::Error {
            code: ErrorCode::BadEnrollmentCode,
            ..
        }) => Err(Error::Forbidden(
            "the enrollment code is unknown, used or expired",
        )),
        Some(Frame::Error { code, .. }) => {
            Err(Error::Protocol(format!("enrollment failed: {code:?}")))
        }
        Some(other) => Err(Error::Protocol(format!(
            "unexpected {} frame at enrollment",
            other.type_name()
        ))),
        None => Err(Error::Network(
            "the server closed the connection at enrollment".into(),
        )),
    }
}

/// One request on `/v1/request` (docs/protocol.md, "Requests"): one frame, one answer.
async fn request(store: &Store, frame: &Frame) -> Result<Frame> {
    let url = store
        .setting(SETTING_SERVER_URL)?
        .ok_or(Error::NotEnrolled)?;
    let token = store.setting(SETTING_TOKEN)?.ok_or(Error::NotEnrolled)?;
    let ca = store.setting(SETTING_TRUSTED_CA)?;
    let mut ws = connect(&ws_url(&url, "/v1/request")?, Some(&token), ca.as_deref()).await?;
    send(&mut ws, frame).await?;
    let answer = read(&mut ws, true).await?;
    let _ = ws.close(None).await;
    match answer {
        Some(Frame::Error { code, .. }) => Err(match code {
            ErrorCode::NotFound => Error::NotFound,
            ErrorCode::Forbidden => {
                Error::Forbidden("the server refused: not allowed for this user")
            }
            ErrorCode::Unauthorized => Error::Revoked,
            ErrorCode::Malformed => Error::Invalid("the server did not accept the request".into()),
            other => Error::Protocol(format!("request failed: {other:?}")),
        }),
        Some(f) => Ok(f),
        None => Err(Error::Network("the server closed the connection".into())),
    }
}

/// Erase a whole record that should never have been written (the wrong pupil): a care
/// coordinator any record she may read, the author her private working note or draft
/// signal. Needs the server (the erasure must reach every device): the server decides, erases
/// it with its history, writes an audit row, and every device purges it; this device at once.
pub async fn erase_record(store: &Store, id: DocumentId) -> Result<()> {
    match request(store, &Frame::EraseRecord { document_id: id }).await? {
        Frame::Erased { document_id } if document_id == id => {
            store.purge(id)?;
            Ok(())
        }
        other => Err(Error::Protocol(format!(
            "unexpected {} frame",
            other.type_name()
        ))),
    }
}

/// The inzage dossier of a pupil, built by the server from what this user may read (care
/// coordinators): `(json, pdf)`. The request is written to the server's audit log.
pub async fn request_dossier(
    store: &Store,
    pupil: &str,
    requested_on: &str,
) -> Result<(String, Vec<u8>)> {
    let frame = Frame::ExportDossier {
        pupil: pupil.into(),
        requested_on: requested_on.into(),
    };
    match request(store, &frame).await? {
        Frame::Dossier { json, pdf } => Ok((json, pdf)),
        other => Err(Error::Protocol(format!(
            "unexpected {} frame",
            other.type_name()
        ))),
    }
}

/// Open or close a pupil's care track (care coordinators) with a reason code (`signal`,
/// `care_meeting`, `parents`, `external`, `goals_met`, `moved_school`, `other`). The server
/// changes the roster at once; this device then syncs, so its access follows.
pub async fn set_care_track(store: &Store, pupil: &str, in_care: bool, reason: &str) -> Result<()> {
    let frame = Frame::SetCareTrack {
        pupil: pupil.into(),
        in_care,
        reason: reason.into(),
    };
    match request(store, &frame).await? {
        Frame::CareTrack { .. } => {
            sync_once(store).await?;
            Ok(())
        }
        other => Err(Error::Protocol(format!(
            "unexpected {} frame",
            other.type_name()
        ))),
    }
}

/// Change the school's settings (the school leader): `json` is an object of settings, each
/// key it holds replacing that setting (docs/protocol.md, "School settings"). Checked here
/// first against the settings this device holds (`Invalid` with the reason), then by the
/// server, which writes them into the roster document; this device then syncs, so it holds
/// them at once (others at their next sync).
pub async fn set_school_settings(store: &Store, json: &str) -> Result<()> {
    let mut local = store.school_settings()?;
    local.merge_json(json).map_err(Error::Invalid)?;
    let frame = Frame::SetSchoolSettings {
        settings: json.into(),
    };
    match request(store, &frame).await? {
        Frame::SchoolSettings { .. } => {
            sync_once(store).await?;
            Ok(())
        }
        other => Err(Error::Protocol(format!(
            "unexpected {} frame",
            other.type_name()
        ))),
    }
}

/// The school's incident register from month `from` to `to` (`YYYY-MM`): counts only,
/// built on the server (school leader, anti-bullying coordinator, care team). Returns the
/// `register` frame.
pub async fn incident_register(store: &Store, from: &str, to: &str) -> Result<Frame> {
    let frame = Frame::IncidentRegister {
        from: from.into(),
        to: to.into(),
    };
    match request(store, &frame).await? {
        f @ Frame::Register { .. } => Ok(f),
        other => Err(Error::Protocol(format!(
            "unexpected {} frame",
            other.type_name()
        ))),
    }
}

/// Start a pupil session (pupil mode, docs/mobile.md) for `group` on this device: the
/// teacher's store asks the server (online), which checks she is a teacher or mentor of the
/// group and decides the scope; the session's own store `session` (new and empty, opened
/// with its own key: its own database and actor) then enrolls with the one-time code the
/// server gave, and keeps the group's first names and the school's thermometer labels from
/// the teacher's store. `Forbidden` for a user who may not, `Invalid` for a `session` store
/// that is enrolled already, `Network` offline: a pupil session starts online.
pub async fn start_pupil_session(
    teacher: &Store,
    group: &str,
    hours: u32,
    session: Store,
) -> Result<crate::store::PupilSession> {
    let url = teacher
        .setting(SETTING_SERVER_URL)?
        .ok_or(Error::NotEnrolled)?;
    if session.identity()?.is_some() {
        return Err(Error::Invalid(
            "the session's store is enrolled already".into(),
        ));
    }
    // What the session takes from this device, read first: a device that cannot (locked
    // until it syncs) asks the server for nothing.
    let draft = crate::store::PupilSession::prepare(teacher, group)?;
    let frame = Frame::StartPupilSession {
        group: group.into(),
        hours,
    };
    let (code, scope) = match request(teacher, &frame).await? {
        Frame::PupilSession { code, scope } => (code, scope),
        other => {
            return Err(Error::Protocol(format!(
                "unexpected {} frame",
                other.type_name()
            )));
        }
    };
    if let Some(ca) = teacher.setting(SETTING_TRUSTED_CA)? {
        session.set_setting(SETTING_TRUSTED_CA, Some(&ca))?;
    }
    let label = format!("pupil session {}", scope.group);
    enroll(&url, &code, &label, &session).await?;
    crate::store::PupilSession::start(session, draft, scope)
}

/// Send what a pupil session holds (its pupils' readings) to the server. Nothing comes
/// back: the server delivers nothing to a pupil session.
pub async fn sync_pupil_session(session: &crate::store::PupilSession) -> Result<SyncReport> {
    sync_once(session.store()).await
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

/// How a session ended.
enum End {
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
struct Wake<'a> {
    /// Stop when this changes (or its sender is gone).
    stop: Option<&'a mut tokio::sync::watch::Receiver<bool>>,
    /// A local change happened.
    changed: Option<&'a tokio::sync::Notify>,
    /// Periodic tick.
    tick: Duration,
    /// Return as soon as the engine is idle.
    until_idle: bool,
}

/// Sending failed: the server may have closed the connection right after telling why
/// (`revoked`, `error`). Read what it sent before giving up with `error`.
async fn drain(ws: &mut Ws, engine: &mut ClientEngine, error: Error) -> Result<End> {
    let store = engine.store().clone();
    while let Ok(Ok(Some(frame))) =
        tokio::time::timeout(Duration::from_secs(2), next_frame(ws)).await
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

async fn run_session(
    ws: &mut Ws,
    engine: &mut ClientEngine,
    mut wake: Wake<'_>,
    report: &mut SyncReport,
    on_event: &(dyn Fn(SyncEvent) + Send + Sync),
) -> Result<End> {
    let store = engine.store().clone();
    let mut outputs = engine.handle(store.now(), ClientInput::Connected)?;
    let mut tick = tokio::time::interval(wake.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    loop {
        for o in outputs.drain(..) {
            match o {
                ClientOutput::Send(frame) => match send_sized(ws, &frame).await {
                    Ok(n) => {
                        report.frames_sent += 1;
                        report.bytes_sent += n as u64;
                    }
                    Err(e) => return drain(ws, engine, e).await,
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
            frame = read_sized(ws, until_idle) => match frame? {
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

/// The sync URL, the token and the extra trusted root (if any) of an enrolled store.
fn credentials(store: &Store) -> Result<(String, String, Option<String>)> {
    let url = store
        .setting(SETTING_SERVER_URL)?
        .ok_or(Error::NotEnrolled)?;
    let token = store.setting(SETTING_TOKEN)?.ok_or(Error::NotEnrolled)?;
    let ca = store.setting(SETTING_TRUSTED_CA)?;
    Ok((ws_url(&url, "/v1/sync")?, token, ca))
}

/// Sync once: connect, catch up, push the outbox until every pushable document is
/// acknowledged (or refused), upload the read log, close.
///
/// A revoked device gets [`Error::Revoked`] after its store was wiped.
pub async fn sync_once(store: &Store) -> Result<SyncReport> {
    let (url, token, ca) = credentials(store)?;
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

async fn run_client(
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
    loop {
        if *stop.borrow() {
            break;
        }
        let error = match credentials(&store) {
            Err(e) => Some(e),
            Ok((url, token, ca)) => match connect(&url, Some(&token), ca.as_deref()).await {
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
                            on_event(SyncEvent::Revoked);
                            return;
                        }
                        Ok(End::Done) | Ok(End::Closed(None)) => None,
                        Ok(End::Closed(Some(why))) => Some(Error::Protocol(why)),
                        Err(e) => Some(e),
                    }
                }
            },
        };
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
        }
    }
    on_event(SyncEvent::Stopped);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_websocket_urls() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080/", "/v1/sync").unwrap(),
            "ws://127.0.0.1:8080/v1/sync"
        );
        assert_eq!(
            ws_url("https://sync.school.nl", "/v1/enroll").unwrap(),
            "wss://sync.school.nl/v1/enroll"
        );
        assert_eq!(ws_url("ws://h:1", "/v1/sync").unwrap(), "ws://h:1/v1/sync");
        assert!(ws_url("ftp://h", "/v1/sync").is_err());
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(10);
        for attempt in 0..40 {
            let base = (min * 2u32.saturating_pow(attempt.min(20))).min(max);
            let d = backoff_delay(attempt, min, max, &mut rng);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
        }
        // Same seed, same delays: deterministic tests and simulation.
        let a: Vec<_> = (0..5)
            .map(|i| backoff_delay(i, min, max, &mut rand::rngs::StdRng::seed_from_u64(1)))
            .collect();
        let b: Vec<_> = (0..5)
            .map(|i| backoff_delay(i, min, max, &mut rand::rngs::StdRng::seed_from_u64(1)))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn transport_errors_never_carry_the_request() {
        let resp = http::Response::builder().status(401).body(None).unwrap();
        let e = network(tungstenite::Error::Http(Box::new(resp)));
        assert!(matches!(e, Error::Forbidden(_)));
        let e = network(tungstenite::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "secret-token",
        )));
        assert!(!e.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn unreachable_server_is_a_network_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db"), b"0123456789abcdef").unwrap();
        store
            .set_setting(SETTING_SERVER_URL, Some("http://127.0.0.1:1"))
            .unwrap();
        store.set_setting(SETTING_TOKEN, Some("tok")).unwrap();
        assert!(matches!(sync_once(&store).await, Err(Error::Network(_))));
        let err = enroll("http://127.0.0.1:1", "code", "label", &store)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Network(_)));
    }

    #[tokio::test]
    async fn sync_needs_enrollment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db"), b"0123456789abcdef").unwrap();
        assert!(matches!(sync_once(&store).await, Err(Error::NotEnrolled)));
    }
}
