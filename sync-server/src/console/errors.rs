//! The console's errors and their answers.

use crate::Error;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// The console's errors: a status and a short JSON body; 5xx detail goes to the log only.
#[derive(Debug)]
pub enum ConsoleError {
    /// No session, an expired one, or a failed sign-in (401).
    Unauthorized,
    /// The session's role may not do this (403).
    Forbidden,
    /// A state-changing call without the session's CSRF token (403).
    Csrf,
    /// Too many failed sign-ins: try again after this (429).
    Throttled(Duration),
    /// Bad input (400); the text names the problem, never a value.
    Invalid(String),
    /// No such school, device, staff member (404).
    NotFound(String),
    /// Exists already, or changed meanwhile (409).
    Conflict(String),
    /// The server failed (500) or is stopping (503).
    Internal(Error),
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => ConsoleError::Invalid(m),
            Error::NotFound(w) => ConsoleError::NotFound(w.into()),
            Error::Exists(w) => ConsoleError::Conflict(format!("{w} exists already")),
            Error::Conflict => ConsoleError::Conflict(e.to_string()),
            Error::Config(m) => ConsoleError::Conflict(m),
            e => ConsoleError::Internal(e),
        }
    }
}

impl ConsoleError {
    /// Status and message (generic for server errors).
    pub fn parts(&self) -> (StatusCode, String) {
        match self {
            ConsoleError::Unauthorized => (StatusCode::UNAUTHORIZED, "not signed in".into()),
            ConsoleError::Forbidden => (StatusCode::FORBIDDEN, "your role may not do this".into()),
            ConsoleError::Csrf => (StatusCode::FORBIDDEN, "missing or wrong CSRF token".into()),
            ConsoleError::Throttled(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed sign-ins; try again later".into(),
            ),
            ConsoleError::Invalid(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ConsoleError::NotFound(w) => (StatusCode::NOT_FOUND, format!("not found: {w}")),
            ConsoleError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            ConsoleError::Internal(Error::Stopped) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server is shutting down".into(),
            ),
            ConsoleError::Internal(e) => {
                tracing::error!(error = %e, "console call failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, message) = self.parts();
        let mut r = (status, axum::Json(super::api::ErrorBody { error: message })).into_response();
        if let ConsoleError::Throttled(left) = self {
            let secs = left.as_secs().max(1).to_string();
            if let Ok(v) = header::HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
