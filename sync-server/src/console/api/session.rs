//! Health, signing in and out, who is signed in.

use super::ApiResult;
use super::types::{ErrorBody, Health, SessionInfo, SignIn};
use crate::console::{ApiSession, ConsoleState, Peer, SESSION_COOKIE, cookie};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The server's health (any role).
#[utoipa::path(get, path = "/api/health", tag = "session",
    responses((status = 200, body = Health), (status = 401, body = ErrorBody)),
    security(("session" = [])))]
pub(super) async fn health(ApiSession(st, s): ApiSession) -> ApiResult<Json<Health>> {
    let h = health_info(&st).await?;
    st.audit(Some(&s.name), "health", None, None).await;
    Ok(Json(h))
}

/// The server's health (what `GET /api/health` answers and the schools page shows).
pub(crate) async fn health_info(st: &ConsoleState) -> ApiResult<Health> {
    let storage = st.settings.storage_kind().to_string();
    let (catalog_seq, active_devices) = st
        .admin
        .call(|hub, _| {
            let seq = hub.storage().last_seq()?;
            let n = hub
                .devices()?
                .iter()
                .filter(|d| d.revoked_at.is_none())
                .count();
            Ok(((seq, n), vec![]))
        })
        .await?;
    Ok(Health {
        status: "ok".into(),
        catalog_seq,
        storage,
        active_devices,
    })
}

/// Sign in: sets the session cookie and answers the CSRF token. Throttled per account name
/// and client address (429 with Retry-After).
#[utoipa::path(post, path = "/api/session", tag = "session", request_body = SignIn,
    responses((status = 200, body = SessionInfo),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn sign_in(
    State(st): State<ConsoleState>,
    Peer(peer): Peer,
    Json(req): Json<SignIn>,
) -> ApiResult<Response> {
    let (token, s) = st.sign_in(&req.name, &req.password, peer).await?;
    let info = SessionInfo {
        name: s.name.clone(),
        role: s.role.as_str().into(),
        csrf: s.csrf.clone(),
        expires_in: st.settings.console.session_ttl.as_secs(),
    };
    Ok((
        [(header::SET_COOKIE, st.session_cookie(&token))],
        Json(info),
    )
        .into_response())
}

/// The signed-in session (and its CSRF token).
#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)),
    security(("session" = [])))]
pub(super) async fn whoami(ApiSession(st, s): ApiSession) -> Json<SessionInfo> {
    st.audit(Some(&s.name), "session", None, None).await;
    Json(SessionInfo {
        name: s.name.clone(),
        role: s.role.as_str().into(),
        csrf: s.csrf.clone(),
        expires_in: s
            .expires
            .saturating_duration_since(std::time::Instant::now())
            .as_secs(),
    })
}

/// Sign out: the session ends.
#[utoipa::path(delete, path = "/api/session", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(super) async fn sign_out(ApiSession(st, s): ApiSession, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        st.sign_out(&token);
    }
    st.audit(Some(&s.name), "sign_out", None, None).await;
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
    )
        .into_response()
}
