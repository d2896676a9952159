//! The router of the sync listener, the HTTP layer's errors and the bearer token, and the
//! device enrollment through the school's identity provider (`/v1/oidc/enroll`, `/v1/oidc/callback`).

use super::AppState;
use super::enroll::{enroll_ws, request_ws};
use super::metrics::metrics_text;
use super::readyz::readyz;
use super::session::{repo_ws, sync_ws};
use crate::Error;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::time::Duration;

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
async fn oidc_enroll(State(st): State<AppState>, Query(q): Query<OidcEnroll>) -> Response {
    let Some(oidc) = &st.device_oidc else {
        return (StatusCode::NOT_FOUND, "no identity provider is configured").into_response();
    };
    match oidc.start(&q.challenge, &q.return_url).await {
        Err(Error::Invalid(m)) => (StatusCode::BAD_REQUEST, m).into_response(),
        r => to_provider_or_back(r),
    }
}

#[derive(serde::Deserialize)]
struct OidcCallback {
    code: Option<String>,
    state: Option<String>,
}

/// Device enrollment through the identity provider, step 2: the provider's callback; the
/// browser goes back to the app with the outcome.
async fn oidc_callback(State(st): State<AppState>, Query(q): Query<OidcCallback>) -> Response {
    let Some(oidc) = &st.device_oidc else {
        return (StatusCode::NOT_FOUND, "no identity provider is configured").into_response();
    };
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return (StatusCode::BAD_REQUEST, "the sign-in was not completed").into_response();
    };
    match oidc.finish(&code, &state).await {
        Err(Error::NotFound(_)) => {
            (StatusCode::BAD_REQUEST, "unknown or expired sign-in").into_response()
        }
        r => to_provider_or_back(r),
    }
}

/// A step of device enrollment through the identity provider that did not refuse: the
/// browser sent on to `url`, or a 502 (logged) when the provider could not be reached.
fn to_provider_or_back(step: crate::Result<String>) -> Response {
    match step {
        Ok(url) => axum::response::Redirect::to(&url).into_response(),
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

/// Errors of the HTTP layer; bodies are generic, detail goes to the log.
#[derive(Debug)]
pub(super) enum ApiError {
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

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    let t = t.trim();
    (!t.is_empty() && t.len() <= 128).then(|| t.to_string())
}
