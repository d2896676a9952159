//! The console's web pages: server-rendered HTML with its stylesheet inline, no JavaScript
//! and nothing loaded from elsewhere; Dutch, with English a click away (a cookie); large
//! touch targets for a tablet. Each page calls the same functions as the JSON API
//! ([`super::api`]) and is audited like it; forms carry the session's CSRF token.

/// The admitted visit (state, language, admin) of a [`Visit`] method's result, or return
/// the answer it gives instead from the page's handler.
macro_rules! admit {
    ($admission:expr) => {
        match $admission {
            Ok(a) => a,
            Err(r) => return r,
        }
    };
}

mod activity;
mod audit;
mod backups;
mod devices;
mod enroll;
mod layout;
mod privacy;
mod roster;
mod schools;
mod settings;
mod sign_in;
#[cfg(test)]
mod tests;
mod text;

use super::api;
use super::{ConsoleError, ConsoleState, LANG_COOKIE, Signed, cookie};
use crate::storage::AdminRole;
use activity::activity_page;
pub use activity::chart_svg;
use audit::audit_page;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use backups::{backup_post, backups_page};
use devices::{devices_page, revoke_post};
use enroll::{enroll_page, enroll_post};
use layout::failed;
/// Escape text for HTML.
pub use omkijken_core::markup::html_escape as esc;
use privacy::{erase_post, export_post, hold_post, privacy_page};
use roster::{roster_page, roster_post};
use schools::schools_page;
use serde::Deserialize;
use settings::{lease_post, retention_post, school_settings_post, settings_page};
use sign_in::{home, login, login_page, logout, oidc_callback, oidc_login, set_lang};
use std::convert::Infallible;

/// The pages' routes.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/oidc/login", get(oidc_login))
        .route("/oidc/callback", get(oidc_callback))
        .route("/logout", post(logout))
        .route("/lang/{lang}", get(set_lang))
        .route("/roster", get(roster_page).post(roster_post))
        .route("/devices", get(devices_page))
        .route("/devices/{device}/revoke", post(revoke_post))
        .route("/enroll", get(enroll_page).post(enroll_post))
        .route("/activity", get(activity_page))
        .route("/audit", get(audit_page))
        .route("/schools", get(schools_page))
        .route("/settings", get(settings_page))
        .route("/settings/lease", post(lease_post))
        .route("/settings/retention", post(retention_post))
        .route("/settings/school", post(school_settings_post))
        .route("/backups", get(backups_page).post(backup_post))
        .route("/privacy", get(privacy_page))
        .route("/privacy/export", post(export_post))
        .route("/privacy/erase", post(erase_post))
        .route("/privacy/hold", post(hold_post))
}

/// The pages' language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Dutch (the default).
    Nl,
    /// English.
    En,
}

fn lang(headers: &HeaderMap) -> Lang {
    match cookie(headers, LANG_COOKIE).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Nl,
    }
}

fn when(ms: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn check_csrf(signed: &Signed, sent: &str) -> Result<(), ConsoleError> {
    if super::constant_time_eq(sent.as_bytes(), signed.session.csrf.as_bytes()) {
        Ok(())
    } else {
        Err(ConsoleError::Csrf)
    }
}

fn csrf_field(signed: &Signed) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&signed.session.csrf)
    )
}

/// A visit to a page: the console's state, the page's language (its cookie) and the
/// signed-in admin, or why there is none (each page answers that in its language).
struct Visit {
    st: ConsoleState,
    lang: Lang,
    signed: Result<Signed, ConsoleError>,
}

/// A visit let in: the console's state, the page's language and the signed-in admin.
type Admitted = (ConsoleState, Lang, Signed);

/// Read `f` from the storage on a connection of its own, beside the hub (a page that reads
/// the whole audit log must not hold up syncing devices).
pub(in crate::console) async fn beside_hub<T: Send + 'static>(
    st: &ConsoleState,
    f: impl FnOnce(&mut dyn crate::storage::Storage) -> crate::Result<T> + Send + 'static,
) -> Result<T, ConsoleError> {
    let settings = st.settings.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = settings.open_storage()?;
        f(store.as_mut())
    })
    .await
    .map_err(|_| ConsoleError::Internal(std::io::Error::other("a storage read stopped").into()))?
    .map_err(Into::into)
}

impl FromRequestParts<ConsoleState> for Visit {
    type Rejection = Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        st: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Visit {
            st: st.clone(),
            lang: lang(&parts.headers),
            signed: Signed::from_request_parts(parts, st).await,
        })
    }
}

impl Visit {
    /// Any signed-in admin, or the answer to give instead.
    #[allow(clippy::result_large_err)] // the error is the page answered instead, as returned
    fn signed_in(self) -> Result<Admitted, Response> {
        let lang = self.lang;
        let s = self.signed.map_err(|e| failed(lang, None, e))?;
        Ok((self.st, lang, s))
    }

    /// A page for one role: the signed-in admin (the view of page `op` audited), or the
    /// answer to give instead (a refusal audited too).
    async fn for_role(
        self,
        role: AdminRole,
        op: &str,
        school: Option<&str>,
    ) -> Result<Admitted, Response> {
        self.admit(None, role, op, school, None).await
    }

    /// A form's post for one role: as the API, the session first, then the CSRF token (a
    /// refusal of either writes no operation's row), then the role (the operation audited, or
    /// its refusal), naming the school and pupil in the audit row.
    async fn for_form(
        self,
        csrf: &str,
        role: AdminRole,
        op: &str,
        school: Option<&str>,
        pupil: Option<&str>,
    ) -> Result<Admitted, Response> {
        self.admit(Some(csrf), role, op, school, pupil).await
    }

    /// The session, the CSRF token sent (when a form's), then the role.
    async fn admit(
        self,
        csrf: Option<&str>,
        role: AdminRole,
        op: &str,
        school: Option<&str>,
        pupil: Option<&str>,
    ) -> Result<Admitted, Response> {
        let (st, lang, s) = self.signed_in()?;
        if let Some(csrf) = csrf {
            check_csrf(&s, csrf).map_err(|e| failed(lang, Some(&s), e))?;
        }
        st.authorize(&s.session, role, op, school, pupil)
            .await
            .map_err(|e| failed(lang, Some(&s), e))?;
        Ok((st, lang, s))
    }
}

fn school_options(schools: &[api::SchoolInfo], chosen: Option<&str>) -> String {
    schools
        .iter()
        .map(|s| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                esc(&s.id),
                if chosen == Some(s.id.as_str()) {
                    " selected"
                } else {
                    ""
                },
                esc(&s.name)
            )
        })
        .collect()
}

/// A form that carries only the CSRF token (signing out, revoking, starting a backup).
#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}
