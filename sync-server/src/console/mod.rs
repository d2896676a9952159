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

mod accounts;
pub mod api;
mod errors;
mod extract;
pub mod oidc;
pub mod pages;
pub mod qr;
mod sessions;
#[cfg(test)]
mod tests;
mod throttle;

pub use accounts::{add_admin, console_audit, hash_password, verify_password};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::Response;
pub use errors::ConsoleError;
pub use extract::{ApiSession, Peer, Signed, constant_time_eq, cookie};
pub use sessions::{ConsoleState, Session};
use std::net::SocketAddr;
use std::time::Duration;
pub use throttle::Throttle;

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
