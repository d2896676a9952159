//! What a handler takes from a request: cookies, the client's address, a signed-in
//! session (pages) or an API session with its CSRF token.

use super::errors::ConsoleError;
use super::sessions::{ConsoleState, Session};
use super::{CSRF_HEADER, SESSION_COOKIE};
use crate::Result;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use std::net::{IpAddr, SocketAddr};

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The client's address (from the listener's connect info), if known.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A signed-in admin, for the pages: an expired or missing session is `Unauthorized`
/// (the pages redirect to the sign-in page); forms check the CSRF token themselves.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The session.
    pub session: Session,
    /// Its cookie token.
    pub token: String,
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = ConsoleError;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::Unauthorized)?;
        let session = st.session(&token).ok_or(ConsoleError::Unauthorized)?;
        Ok(Signed { session, token })
    }
}

/// A signed-in admin calling the API, with the console's state: as [`Signed`], and a
/// state-changing call (not GET or HEAD) must carry the session's CSRF token in the
/// `X-CSRF-Token` header.
#[derive(Clone)]
pub struct ApiSession(pub ConsoleState, pub Session);

impl std::fmt::Debug for ApiSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state holds no more about the call.
        f.debug_tuple("ApiSession").field(&self.1).finish()
    }
}

impl FromRequestParts<ConsoleState> for ApiSession {
    type Rejection = ConsoleError;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let Signed { session, .. } = Signed::from_request_parts(parts, st).await?;
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
                return Err(ConsoleError::Csrf);
            }
        }
        Ok(ApiSession(st.clone(), session))
    }
}

/// Compare two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
