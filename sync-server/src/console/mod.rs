//! The school's admin console: a JSON API ([`api`], described by an OpenAPI document
//! generated from the code) and server-rendered web pages ([`pages`]) on a listener of their
//! own (`serve --admin-listen`, loopback by default), apart from the devices' listener.
//!
//! - Accounts ([`crate::storage::AdminAccount`]) have a role: the IT admin (schools, roster,
//!   enrollment, devices, settings, backups; no care content, no audit log) or the privacy
//!   officer (audit log, inzage exports, erasure). Passwords are hashed with argon2id. The
//!   first account is made with `omkijken-server admin add-admin`.
//! - A sign-in gives a session: a random token in an `HttpOnly; SameSite=Strict` cookie,
//!   kept (hashed) in this process's memory, expiring after [`ConsoleSettings::session_ttl`]
//!   (a restart signs everybody out). Every state-changing call also needs the session's
//!   CSRF token: the `X-CSRF-Token` header for the API (the sign-in answer gives it), a
//!   hidden `csrf` form field for the pages.
//! - Failed sign-ins are throttled per account name and per client address
//!   ([`Throttle`]): past [`ConsoleSettings::max_failures`] within the window, sign-in is
//!   refused (429) until the window has passed, even with the right password.
//! - Every call is written to the audit log (action `console`, user `admin:NAME`, kind the
//!   operation), sign-ins and refused sign-ins included; the operations themselves are the
//!   ones the CLI calls ([`crate::admin`], [`crate::retention`], [`crate::dossier`],
//!   [`crate::backup`]), run on the hub thread through [`crate::server::Admin`], so their
//!   effects (purges, dropped connections) reach devices at once.

pub mod api;
pub mod oidc;
pub mod pages;
pub mod qr;

use crate::server::Admin;
use crate::settings::Settings;
use crate::storage::{AdminAccount, AdminRole, AuditAction, AuditRecord, Batch, Storage};
use crate::{Error, Result};
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "omkijken_admin";
/// Name of the language cookie of the pages (`nl`, `en`).
pub const LANG_COOKIE: &str = "omkijken_lang";
/// Header that carries the CSRF token on the API's state-changing calls.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Shortest password accepted for an admin account.
pub const MIN_PASSWORD: usize = 12;

/// Settings of the admin console.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    /// Address of the console's listener; none: no console.
    pub listen: Option<SocketAddr>,
    /// The server's URL as devices reach it (`https://omkijken.school.nl`), written into
    /// enrollment QR codes; none: `http(s)://` and the sync listener's address.
    pub public_url: Option<String>,
    /// SHA-256 (hex) of the school's own certificate authority, written into enrollment
    /// QR codes (see `omkijken_core::invite`); none when the certificate is from a public
    /// authority.
    pub ca_sha256: Option<String>,
    /// How long a session lasts after sign-in.
    pub session_ttl: Duration,
    /// Failed sign-ins per account name (and per client address) within `failure_window`
    /// before sign-in is refused until the window has passed.
    pub max_failures: u32,
    /// The window of `max_failures`.
    pub failure_window: Duration,
    /// Where backups started from the console are written (not the data directory: the
    /// key file is there); none: backups cannot be started from the console.
    pub backup_dir: Option<std::path::PathBuf>,
    /// Mark the session cookie `Secure` (the console is behind HTTPS).
    pub secure_cookie: bool,
    /// Sign-in through the school's identity provider (OIDC), besides passwords.
    pub oidc: Option<oidc::OidcSettings>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            listen: None,
            public_url: None,
            ca_sha256: None,
            session_ttl: Duration::from_secs(8 * 3600),
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            backup_dir: None,
            secure_cookie: false,
            oidc: None,
        }
    }
}

// ------------------------------------------------------------------------ accounts

fn hasher() -> argon2::Argon2<'static> {
    // argon2id, version 0x13, the crate's defaults (OWASP's minimum: m=19 MiB, t=2, p=1).
    argon2::Argon2::default()
}

/// Hash a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| Error::Invalid("salt".into()))?;
    Ok(hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| Error::Invalid("the password could not be hashed".into()))?
        .to_string())
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .map(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Create an admin console account, or set a new password and role on an existing one
/// (`omkijken-server admin add-admin`). The name is 1-64 of a-z, 0-9, `-`, `_`, `.`; the
/// password at least [`MIN_PASSWORD`] characters. Written to the audit log (never the
/// password). Returns whether the account was new.
pub fn add_admin(
    st: &mut dyn Storage,
    now: i64,
    name: &str,
    role: AdminRole,
    password: &str,
) -> Result<bool> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        return Err(Error::Invalid(
            "the account name must be 1-64 characters a-z, 0-9, '-', '_' or '.'".into(),
        ));
    }
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::Invalid(format!(
            "the password must be at least {MIN_PASSWORD} characters"
        )));
    }
    let existing = st.admin_account(name)?;
    st.put_admin_account(&AdminAccount {
        name: name.into(),
        role,
        password_hash: hash_password(password)?,
        created_at: existing.as_ref().map(|a| a.created_at).unwrap_or(now),
        disabled: false,
    })?;
    st.commit(Batch {
        audit: vec![console_audit(
            now,
            Some(name),
            if existing.is_some() {
                "account_changed"
            } else {
                "account_added"
            },
            None,
            None,
        )],
        ..Default::default()
    })?;
    Ok(existing.is_none())
}

/// The audit row of a console call.
pub fn console_audit(
    now: i64,
    account: Option<&str>,
    op: &str,
    school: Option<&str>,
    pupil: Option<&str>,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: now,
        school: school.unwrap_or_default().into(),
        device: Some("admin-console".into()),
        user: account.map(|a| format!("admin:{a}")),
        action: AuditAction::Console,
        document: None,
        kind: Some(op.into()),
        pupil: pupil.map(Into::into),
        device_seq: None,
        device_at: None,
    }
}

// ------------------------------------------------------------------------ throttle

/// Failed sign-ins per key (an account name, a client address) in a fixed window.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// If `key` is locked out at `now`: the time left.
    pub fn locked(&self, key: &str, now: Instant, max: u32, window: Duration) -> Option<Duration> {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (n, since) = f.get(key)?;
        let left = window.checked_sub(now.saturating_duration_since(*since))?;
        (*n >= max && !left.is_zero()).then_some(left)
    }

    /// Count a failure of `key` at `now`.
    pub fn failed(&self, key: &str, now: Instant, window: Duration) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget windows that have passed (keeps the map small).
        f.retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
        let e = f.entry(key.to_string()).or_insert((0, now));
        e.0 += 1;
    }

    /// Forget the failures of `key` (a successful sign-in).
    pub fn succeeded(&self, key: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.remove(key);
    }
}

// ------------------------------------------------------------------------ sessions

/// A signed-in admin.
#[derive(Clone)]
pub struct Session {
    /// Account name.
    pub name: String,
    /// Its role.
    pub role: AdminRole,
    /// The session's CSRF token.
    pub csrf: String,
    /// When it expires.
    pub expires: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Refuse (403) unless the session's role is `role`.
    pub fn require(&self, role: AdminRole) -> Result<(), ConsoleError> {
        if self.role == role {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    hex::encode(b)
}

/// Shared state of the console's router.
#[derive(Clone)]
pub struct ConsoleState {
    pub(crate) admin: Admin,
    pub(crate) settings: Arc<Settings>,
    /// The sync server's URL for enrollment QR codes.
    pub(crate) server_url: String,
    sessions: Arc<Mutex<HashMap<[u8; 32], Session>>>,
    throttle: Arc<Throttle>,
    oidc: Arc<oidc::OidcState>,
}

impl std::fmt::Debug for ConsoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleState").finish_non_exhaustive()
    }
}

impl ConsoleState {
    /// State for a server's console: `server_url` goes into enrollment QR codes.
    pub fn new(admin: Admin, settings: Settings, server_url: String) -> Self {
        ConsoleState {
            admin,
            settings: Arc::new(settings),
            server_url,
            sessions: Arc::default(),
            throttle: Arc::default(),
            oidc: Arc::default(),
        }
    }

    fn console(&self) -> &ConsoleSettings {
        &self.settings.console
    }

    /// Audit a call of `s` that needs `role`: the operation when the role may, else the
    /// refusal (kind `refused:OP`) and 403.
    pub(crate) async fn authorize(
        &self,
        s: &Session,
        role: AdminRole,
        op: &str,
        school: Option<&str>,
        pupil: Option<&str>,
    ) -> Result<(), ConsoleError> {
        if s.role == role {
            self.audit(Some(&s.name), op, school, pupil).await;
            Ok(())
        } else {
            self.audit(Some(&s.name), &format!("refused:{op}"), school, pupil)
                .await;
            Err(ConsoleError::Forbidden)
        }
    }

    /// Write an audit row of a call (errors are logged: the call itself went through).
    pub(crate) async fn audit(
        &self,
        account: Option<&str>,
        op: &str,
        school: Option<&str>,
        pupil: Option<&str>,
    ) {
        let op = op.to_string();
        let (account, school, pupil) = (
            account.map(str::to_string),
            school.map(str::to_string),
            pupil.map(str::to_string),
        );
        let written = self
            .admin
            .append_audit(move |now| {
                console_audit(
                    now,
                    account.as_deref(),
                    &op,
                    school.as_deref(),
                    pupil.as_deref(),
                )
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the audit row of a console call");
        }
    }

    /// Sign in: check the throttle, the account and the password; on success a new
    /// session (its cookie token and the session). Every outcome is audited.
    pub(crate) async fn sign_in(
        &self,
        name: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Result<(String, Session), ConsoleError> {
        let c = self.console();
        let now = Instant::now();
        let name_key = format!("name:{}", name.to_ascii_lowercase());
        let peer_key = peer.map(|p| format!("addr:{p}"));
        for key in std::iter::once(&name_key).chain(peer_key.as_ref()) {
            if let Some(left) = self
                .throttle
                .locked(key, now, c.max_failures, c.failure_window)
            {
                metrics::counter!("omkijken_console_sign_ins_total", "outcome" => "throttled")
                    .increment(1);
                tracing::warn!(peer = ?peer, "console sign-in throttled");
                self.audit(None, "sign_in_throttled", None, None).await;
                return Err(ConsoleError::Throttled(left));
            }
        }
        let lookup = name.to_string();
        let account = self
            .admin
            .call(move |hub, _| Ok((hub.storage().admin_account(&lookup)?, vec![])))
            .await?;
        // Verify on a blocking thread (argon2 takes its time on purpose); a dummy hash for
        // an unknown name, so that the answer takes as long and says as little.
        let hash = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_string());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        match account {
            Some(a) if ok && !a.disabled => {
                self.throttle.succeeded(&name_key);
                let (token, session) = self.open_session(&a);
                metrics::counter!("omkijken_console_sign_ins_total", "outcome" => "ok")
                    .increment(1);
                self.audit(Some(&a.name), "sign_in", None, None).await;
                Ok((token, session))
            }
            known => {
                self.throttle.failed(&name_key, now, c.failure_window);
                if let Some(k) = &peer_key {
                    self.throttle.failed(k, now, c.failure_window);
                }
                metrics::counter!("omkijken_console_sign_ins_total", "outcome" => "failed")
                    .increment(1);
                tracing::warn!(peer = ?peer, "console sign-in failed");
                // The name only when it is an account's (a mistyped name may be a password).
                let account = known.map(|a| a.name);
                self.audit(account.as_deref(), "sign_in_failed", None, None)
                    .await;
                Err(ConsoleError::Unauthorized)
            }
        }
    }

    /// A new session of `account`: its cookie token and the session.
    pub(crate) fn open_session(&self, account: &AdminAccount) -> (String, Session) {
        let now = Instant::now();
        let token = random_token();
        let session = Session {
            name: account.name.clone(),
            role: account.role,
            csrf: random_token(),
            expires: now + self.console().session_ttl,
        };
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|_, s| s.expires > now);
        s.insert(token_key(&token), session.clone());
        (token, session)
    }

    /// The live session of a cookie token.
    fn session(&self, token: &str) -> Option<Session> {
        let s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.get(&token_key(token))
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// End the session of a cookie token.
    pub(crate) fn sign_out(&self, token: &str) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.remove(&token_key(token));
    }

    /// The `Set-Cookie` value of a new session.
    pub(crate) fn session_cookie(&self, token: &str) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.console().session_ttl.as_secs(),
            if self.console().secure_cookie {
                "; Secure"
            } else {
                ""
            }
        )
    }
}

/// An argon2id hash of a random password nobody knows: verified against when the account
/// name is unknown, so that an unknown name costs as much time as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$b21raWprZW4tZHVtbXk$Rk8AmHt7Zf2ZJbo3VH2WnmFUm0xMOmqW0a8kUPDR6m0";

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

/// A signed-in admin calling the API: as [`Signed`], and a state-changing call (not GET
/// or HEAD) must carry the session's CSRF token in the `X-CSRF-Token` header.
#[derive(Debug, Clone)]
pub struct ApiSession(pub Session);

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
        Ok(ApiSession(session))
    }
}

/// Compare two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ------------------------------------------------------------------------ errors

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
        let mut r = (status, axum::Json(api::ErrorBody { error: message })).into_response();
        if let ConsoleError::Throttled(left) = self {
            let secs = left.as_secs().max(1).to_string();
            if let Ok(v) = header::HeaderValue::from_str(&secs) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

// ------------------------------------------------------------------------ router

/// The console's router: the API under `/api` (its OpenAPI document at
/// [`api::OPENAPI_PATH`]) and the pages.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        // A roster CSV of a large school is a few hundred kilobytes.
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024))
}

/// Headers on every answer: nothing but the console's own inline style and SVG runs or
/// loads (no scripts at all), no framing (a revoke button under someone else's page), no
/// referrer, no caching of pages that show the roster or the audit log.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (k, v) in set {
        h.insert(k, header::HeaderValue::from_static(v));
    }
    r
}

/// Serve the console on `listener` until `shutdown` resolves.
pub async fn serve(
    state: ConsoleState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("x", "not a hash"));
        // The dummy hash parses (else an unknown name would answer faster).
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn the_throttle_locks_a_key_for_the_rest_of_its_window() {
        let t = Throttle::default();
        let w = Duration::from_secs(60);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.locked("k", t0, 3, w), None);
            t.failed("k", t0, w);
        }
        assert!(t.locked("k", t0 + Duration::from_secs(10), 3, w).is_some());
        assert!(t.locked("other", t0, 3, w).is_none());
        assert_eq!(t.locked("k", t0 + Duration::from_secs(61), 3, w), None);
        t.succeeded("k");
        assert_eq!(t.locked("k", t0, 3, w), None);
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; omkijken_admin=tok; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
