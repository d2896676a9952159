//! One request, one answer: enrollment, and the requests a device makes of the server
//! (erase a record, a dossier, a care track, school settings, the incident register, a
//! pupil session's code).

use super::connection::{
    SETTING_DEVICE, SETTING_SERVER_URL, SETTING_TOKEN, SETTING_TRUSTED_CA, connect, read, send,
    ws_url,
};
use super::session::{SyncReport, credentials, sync_once};
use crate::store::Identity;
use crate::sync::frames::{ErrorCode, Frame, RegisterCases, RegisterSignals};
use crate::{DocumentId, Error, Result, Store};

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

/// The error for an answer of the wrong type.
fn unexpected(frame: &Frame) -> Error {
    Error::Protocol(format!("unexpected {} frame", frame.type_name()))
}

/// A request that changes the roster on the server: `answered` tells the answer expected
/// (another type is an error), then this device syncs, so it holds the change at once.
async fn request_then_sync(
    store: &Store,
    frame: &Frame,
    answered: fn(&Frame) -> bool,
) -> Result<()> {
    let answer = request(store, frame).await?;
    if !answered(&answer) {
        return Err(unexpected(&answer));
    }
    sync_once(store).await?;
    Ok(())
}

/// One request on `/v1/request` (docs/protocol.md, "Requests"): one frame, one answer.
pub(super) async fn request(store: &Store, frame: &Frame) -> Result<Frame> {
    let (url, token, ca) = credentials(store, "/v1/request")?;
    let mut ws = connect(&url, Some(&token), ca.as_deref()).await?;
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
        other => Err(unexpected(&other)),
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
        other => Err(unexpected(&other)),
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
    request_then_sync(store, &frame, |f| matches!(f, Frame::CareTrack { .. })).await
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
    request_then_sync(store, &frame, |f| matches!(f, Frame::SchoolSettings { .. })).await
}

/// The school's incident register, as the server answered it ([`Frame::Register`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRegister {
    /// Counts under this show as `< threshold`.
    pub threshold: u32,
    /// Shared signals per month and category.
    pub signals: Vec<RegisterSignals>,
    /// Meldcode cases opened and closed per month.
    pub cases: Vec<RegisterCases>,
    /// The same as CSV.
    pub csv: String,
}

/// The school's incident register from month `from` to `to` (`YYYY-MM`): counts only,
/// built on the server (school leader, anti-bullying coordinator, care team).
pub async fn incident_register(store: &Store, from: &str, to: &str) -> Result<IncidentRegister> {
    let frame = Frame::IncidentRegister {
        from: from.into(),
        to: to.into(),
    };
    match request(store, &frame).await? {
        Frame::Register {
            threshold,
            signals,
            cases,
            csv,
        } => Ok(IncidentRegister {
            threshold,
            signals,
            cases,
            csv,
        }),
        other => Err(unexpected(&other)),
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
            return Err(unexpected(&other));
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
