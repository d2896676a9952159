//! The admin console's JSON API. Each handler checks the session's role, runs the same
//! function the CLI runs (on the hub thread, through [`crate::server::Admin`]) and writes an
//! audit row. The OpenAPI document ([`ApiDoc`]) is generated from these handlers and served
//! at [`OPENAPI_PATH`]; `docs/admin-openapi.json` is a copy that a test keeps current.

mod backups;
mod devices;
mod privacy;
mod schools;
mod session;
mod stats;
#[cfg(test)]
mod tests;
mod types;

use super::{ConsoleError, ConsoleState, SESSION_COOKIE};
use crate::admin::{RosterImport, RosterPreview};
use crate::retention;
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
pub(crate) use backups::{backup_list, take_backup};
pub(crate) use devices::device_list;
pub(crate) use privacy::{audit_rows, export_response};
pub(crate) use schools::{import, lease_of, list_schools, preview, retention_of, set_retention_of};
pub(crate) use session::health_info;
pub(crate) use stats::daily_stats;
pub use types::{
    AuditQuery, AuditRow, BackupDone, BackupInfo, Changed, DailyStats, Day, DeviceInfo, Enrollment,
    Erased, ErrorBody, ExportRequest, Health, ImportResult, Lease, NewEnrollment, NewSchool,
    OutboxInfo, RosterCsv, SchoolInfo, SessionInfo, SignIn,
};
use utoipa::OpenApi;

use backups::{backups, start_backup};
use devices::{devices, revoke};
use privacy::{audit, erase_pupil, export_pupil};
use schools::{
    create_school, enrollment, get_retention, roster_import, roster_preview, schools, set_lease,
    set_retention,
};
use session::{health, sign_in, sign_out, whoami};
use stats::daily;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

type ApiResult<T> = Result<T, ConsoleError>;

/// The API's routes.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route(OPENAPI_PATH, get(openapi_json))
        .route("/api/health", get(health))
        .route("/api/session", post(sign_in).get(whoami).delete(sign_out))
        .route("/api/schools", get(schools).post(create_school))
        .route("/api/schools/{school}/roster/preview", post(roster_preview))
        .route("/api/schools/{school}/roster", post(roster_import))
        .route("/api/schools/{school}/enrollments", post(enrollment))
        .route("/api/schools/{school}/lease", put(set_lease))
        .route(
            "/api/schools/{school}/retention",
            get(get_retention).put(set_retention),
        )
        .route(
            "/api/schools/{school}/pupils/{pupil}/erase",
            post(erase_pupil),
        )
        .route(
            "/api/schools/{school}/pupils/{pupil}/export",
            post(export_pupil),
        )
        .route("/api/devices", get(devices))
        .route("/api/devices/{device}/revoke", post(revoke))
        .route("/api/audit", get(audit))
        .route("/api/backups", get(backups).post(start_backup))
        .route("/api/stats/daily", get(daily))
}

/// The OpenAPI document of the admin API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Omkijken admin API",
        description = "The school's admin console: schools, roster import with preview, \
            enrollment (with QR codes), devices and revocation, the audit log, erasure, \
            retention and lease settings, backups. Sign in with POST /api/session; the \
            session is a cookie; state-changing calls carry the X-CSRF-Token header the \
            sign-in answer gives. Every call is written to the audit log.",
        license(name = "EUPL-1.2")
    ),
    paths(
        session::health,
        session::sign_in,
        session::whoami,
        session::sign_out,
        schools::schools,
        schools::create_school,
        schools::roster_preview,
        schools::roster_import,
        schools::enrollment,
        schools::set_lease,
        schools::get_retention,
        schools::set_retention,
        privacy::erase_pupil,
        privacy::export_pupil,
        devices::devices,
        devices::revoke,
        privacy::audit,
        backups::backups,
        backups::start_backup,
        stats::daily
    ),
    components(schemas(
        ErrorBody,
        Health,
        SignIn,
        SessionInfo,
        SchoolInfo,
        NewSchool,
        RosterCsv,
        RosterPreview,
        ImportResult,
        RosterImport,
        NewEnrollment,
        Enrollment,
        Lease,
        Changed,
        retention::Retention,
        Erased,
        ExportRequest,
        DeviceInfo,
        OutboxInfo,
        AuditRow,
        BackupInfo,
        BackupDone,
        DailyStats,
        Day
    )),
    modifiers(&SessionCookie),
    tags(
        (name = "session", description = "Sign in and out"),
        (name = "it_admin", description = "The IT admin: roster, enrollment, devices, settings, backups"),
        (name = "privacy_officer", description = "The privacy officer: audit log, inzage exports, erasure")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct SessionCookie;

impl utoipa::Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
        c.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-CSRF-Token"))),
        );
    }
}

/// The OpenAPI document as pretty JSON (what `docs/admin-openapi.json` holds).
pub fn openapi_document() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    s.push('\n');
    s
}

async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi_document(),
    )
        .into_response()
}

fn day_start(d: &str) -> ApiResult<i64> {
    let date: jiff::civil::Date = d
        .parse()
        .map_err(|_| ConsoleError::Invalid("a date must be YYYY-MM-DD".into()))?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .map_err(|_| ConsoleError::Invalid("a date out of range".into()))
}

fn day_of(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

pub(crate) fn issue_enrollment(
    st: &ConsoleState,
    user: &str,
    code: String,
    now: i64,
) -> ApiResult<Enrollment> {
    let invite = omkijken_core::invite::EnrollmentInvite::new(
        &st.server_url,
        &code,
        st.settings.console.ca_sha256.clone(),
    );
    let payload = invite.to_payload();
    Ok(Enrollment {
        user: user.into(),
        code,
        expires_at: now + st.settings.hub.code_ttl_ms,
        qr_svg: super::qr::svg(&payload)?,
        payload,
    })
}

pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
