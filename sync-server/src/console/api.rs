//! The admin console's JSON API. Each handler checks the session's role, runs the same
//! function the CLI runs (on the hub thread, through [`crate::server::Admin`]) and writes an
//! audit row. The OpenAPI document ([`ApiDoc`]) is generated from these handlers and served
//! at [`OPENAPI_PATH`]; `docs/admin-openapi.json` is a copy that a test keeps current.

use super::{ApiSession, ConsoleError, ConsoleState, Peer, SESSION_COOKIE, cookie};
use crate::admin::{self, RosterImport, RosterPreview};
use crate::storage::{AdminRole, AuditAction, AuditFilter, AuditRecord};
use crate::{backup, dossier, retention};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{OpenApi, ToSchema};

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
        health,
        sign_in,
        whoami,
        sign_out,
        schools,
        create_school,
        roster_preview,
        roster_import,
        enrollment,
        set_lease,
        get_retention,
        set_retention,
        erase_pupil,
        export_pupil,
        devices,
        revoke,
        audit,
        backups,
        start_backup,
        daily
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

// ------------------------------------------------------------------------ types

/// An error answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong (never a value that was sent).
    pub error: String,
}

/// The server's health.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the hub answered and its storage was read.
    pub status: String,
    /// The last catalog sequence.
    pub catalog_seq: u64,
    /// The store: `sqlite` or `postgres`.
    pub storage: String,
    /// Devices enrolled and not revoked.
    pub active_devices: usize,
}

/// A sign-in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignIn {
    /// Account name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// The signed-in session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// Account name.
    pub name: String,
    /// `it_admin` or `privacy_officer`.
    pub role: String,
    /// Send this as the X-CSRF-Token header on every state-changing call.
    pub csrf: String,
    /// Seconds until the session expires.
    pub expires_in: u64,
}

/// A school.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SchoolInfo {
    /// School id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Active staff: id -> display name (IT admin only; empty for the privacy officer).
    pub staff: BTreeMap<String, String>,
}

/// A school to create.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewSchool {
    /// Id: 1-64 of a-z, 0-9, `-`, `_`, `.`.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A roster CSV (columns: type,id,name,group,age_band,in_care,roles,mentors,teaches).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RosterCsv {
    /// The CSV text.
    pub csv: String,
}

/// What an import did, with what it changed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    /// Counts after the import.
    pub import: RosterImport,
    /// What changed.
    pub preview: RosterPreview,
}

/// An enrollment to issue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewEnrollment {
    /// Staff id from the roster.
    pub user: String,
}

/// An issued enrollment: the one-time code and the QR code that holds it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Enrollment {
    /// Staff id.
    pub user: String,
    /// The one-time code (shown once).
    pub code: String,
    /// Unix ms after which the code is refused.
    pub expires_at: i64,
    /// The QR code's payload (`omkijken_core::invite`).
    pub payload: String,
    /// The QR code as SVG.
    pub qr_svg: String,
}

/// An offline lease.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    /// Days a device may go without a completed sync before its store locks (0: none).
    pub days: u32,
}

/// Whether something changed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Changed {
    /// Whether it changed.
    pub changed: bool,
}

/// What an erasure did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Erased {
    /// Documents erased.
    pub documents: usize,
}

/// An inzage export.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ExportRequest {
    /// Date of the request, YYYY-MM-DD (default: today).
    pub requested_on: Option<String>,
    /// `pdf` (default) or `json`.
    pub format: Option<String>,
}

/// A device.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceInfo {
    /// Device id.
    pub id: String,
    /// School.
    pub school: String,
    /// Staff id of its user.
    pub user: String,
    /// Label.
    pub label: String,
    /// Enrolled, unix ms.
    pub created_at: i64,
    /// Last connection, unix ms.
    pub last_seen: Option<i64>,
    /// Revoked, unix ms.
    pub revoked_at: Option<i64>,
    /// A pupil session's device.
    pub pupil_session: bool,
    /// The device's outbox as it last reported it (when it connected, and when a sync
    /// round ended with it changed); null until it reports one (apps from before the
    /// report never do).
    pub outbox: Option<OutboxInfo>,
}

/// A device's outbox as it reported it: counts only (docs/protocol.md, "Outbox state").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutboxInfo {
    /// Documents with changes the server has not acknowledged (0: all sent).
    pub pending: u64,
    /// Changes the server refused for good, kept on the device for their author.
    pub not_accepted: u64,
    /// When the oldest waiting change was made, unix ms (server clock: the report's time
    /// less the age the device gave); null when nothing waits.
    pub oldest_pending_at: Option<i64>,
    /// When the device reported this, unix ms.
    pub reported_at: i64,
}

/// One audit row (ids only, never content).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditRow {
    /// Sequence.
    pub seq: u64,
    /// Unix ms.
    pub at: i64,
    /// School.
    pub school: String,
    /// Device.
    pub device: Option<String>,
    /// Staff id (or `admin:NAME`).
    pub user: Option<String>,
    /// Action.
    pub action: String,
    /// Document id.
    pub document: Option<String>,
    /// Kind (or operation).
    pub kind: Option<String>,
    /// Pupil id.
    pub pupil: Option<String>,
}

impl From<&AuditRecord> for AuditRow {
    fn from(r: &AuditRecord) -> Self {
        AuditRow {
            seq: r.seq,
            at: r.at,
            school: r.school.clone(),
            device: r.device.clone(),
            user: r.user.clone(),
            action: r.action.as_str().into(),
            document: r.document.map(|d| d.to_string()),
            kind: r.kind.clone(),
            pupil: r.pupil.clone(),
        }
    }
}

/// Which audit rows: one of pupil, staff or action (none: every row), within from/to.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Rows about this pupil.
    pub pupil: Option<String>,
    /// Rows of this staff member.
    pub staff: Option<String>,
    /// Rows of this action (e.g. `read`, `enroll_failed`, `console`).
    pub action: Option<String>,
    /// From this day, YYYY-MM-DD (UTC).
    pub from: Option<String>,
    /// To this day, YYYY-MM-DD (UTC), inclusive.
    pub to: Option<String>,
}

/// A backup.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupInfo {
    /// Path.
    pub path: String,
    /// Unix ms.
    pub taken_at: i64,
    /// Whether the file is still there.
    pub present: bool,
    /// Documents erased since: such a backup should be destroyed.
    pub erased_since: u64,
}

/// A backup taken.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackupDone {
    /// Path of the file.
    pub path: String,
    /// Documents in it.
    pub documents: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Accepted writes and refusals per day.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DailyStats {
    /// Oldest first.
    pub days: Vec<Day>,
}

/// One day of [`DailyStats`].
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Day {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    /// Changes accepted from devices (audit rows `write`).
    pub writes: u64,
    /// Documents delivered to devices (audit rows `deliver`).
    pub deliveries: u64,
    /// Changes refused (audit rows `refuse`) and read reports refused (`read_refused`).
    pub refusals: u64,
}

// ------------------------------------------------------------------------ helpers

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

// ------------------------------------------------------------------------ session

/// The server's health (any role).
#[utoipa::path(get, path = "/api/health", tag = "session",
    responses((status = 200, body = Health), (status = 401, body = ErrorBody)),
    security(("session" = [])))]
async fn health(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<Health>> {
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
async fn sign_in(
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
async fn whoami(State(st): State<ConsoleState>, ApiSession(s): ApiSession) -> Json<SessionInfo> {
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
async fn sign_out(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    headers: HeaderMap,
) -> Response {
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

// ------------------------------------------------------------------------ schools

/// The schools (with their active staff for the IT admin).
#[utoipa::path(get, path = "/api/schools", tag = "it_admin",
    responses((status = 200, body = Vec<SchoolInfo>), (status = 401, body = ErrorBody)),
    security(("session" = [])))]
async fn schools(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<Vec<SchoolInfo>>> {
    let with_staff = s.role == AdminRole::ItAdmin;
    let list = list_schools(&st, with_staff).await?;
    st.audit(Some(&s.name), "schools", None, None).await;
    Ok(Json(list))
}

pub(crate) async fn list_schools(
    st: &ConsoleState,
    with_staff: bool,
) -> ApiResult<Vec<SchoolInfo>> {
    Ok(st
        .admin
        .call(move |hub, _| {
            let mut out = vec![];
            for sc in hub.storage().schools()? {
                let mut staff = BTreeMap::new();
                if with_staff {
                    let roster = admin::roster(hub.storage(), &sc.id)?;
                    for (id, m) in roster.staff.iter().filter(|(_, m)| m.active) {
                        staff.insert(id.clone(), m.display_name.clone());
                    }
                }
                out.push(SchoolInfo {
                    id: sc.id,
                    name: sc.name,
                    created_at: sc.created_at,
                    staff,
                });
            }
            Ok((out, vec![]))
        })
        .await?)
}

/// Create a school with an empty roster (IT admin).
#[utoipa::path(post, path = "/api/schools", tag = "it_admin", request_body = NewSchool,
    responses((status = 201), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn create_school(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Json(req): Json<NewSchool>,
) -> ApiResult<StatusCode> {
    st.authorize(&s, AdminRole::ItAdmin, "create_school", Some(&req.id), None)
        .await?;
    st.admin.create_school(&req.id, &req.name).await?;
    Ok(StatusCode::CREATED)
}

/// What importing a roster CSV would change; nothing is written (IT admin).
#[utoipa::path(post, path = "/api/schools/{school}/roster/preview", tag = "it_admin",
    params(("school" = String, Path, description = "School id")), request_body = RosterCsv,
    responses((status = 200, body = RosterPreview), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn roster_preview(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<RosterCsv>,
) -> ApiResult<Json<RosterPreview>> {
    st.authorize(
        &s,
        AdminRole::ItAdmin,
        "roster_preview",
        Some(&school),
        None,
    )
    .await?;
    Ok(Json(preview(&st, &school, req.csv).await?))
}

pub(crate) async fn preview(
    st: &ConsoleState,
    school: &str,
    csv: String,
) -> ApiResult<RosterPreview> {
    let school = school.to_string();
    Ok(st
        .admin
        .call(move |hub, _| Ok((admin::preview_roster(hub.storage(), &school, &csv)?, vec![])))
        .await?)
}

pub(crate) async fn import(
    st: &ConsoleState,
    school: &str,
    csv: String,
) -> ApiResult<ImportResult> {
    let preview = preview(st, school, csv.clone()).await?;
    let import = st.admin.import_roster(school, &csv).await?;
    Ok(ImportResult { import, preview })
}

/// Import a roster CSV (IT admin); answers what changed.
#[utoipa::path(post, path = "/api/schools/{school}/roster", tag = "it_admin",
    params(("school" = String, Path, description = "School id")), request_body = RosterCsv,
    responses((status = 200, body = ImportResult), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn roster_import(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<RosterCsv>,
) -> ApiResult<Json<ImportResult>> {
    st.authorize(&s, AdminRole::ItAdmin, "import_roster", Some(&school), None)
        .await?;
    Ok(Json(import(&st, &school, req.csv).await?))
}

/// Issue a one-time enrollment code for a staff member, with its QR code (IT admin).
#[utoipa::path(post, path = "/api/schools/{school}/enrollments", tag = "it_admin",
    params(("school" = String, Path, description = "School id")), request_body = NewEnrollment,
    responses((status = 200, body = Enrollment), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn enrollment(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<NewEnrollment>,
) -> ApiResult<Json<Enrollment>> {
    st.authorize(&s, AdminRole::ItAdmin, "enrollment", Some(&school), None)
        .await?;
    let code = st.admin.issue_code(&school, &req.user).await?;
    Ok(Json(issue_enrollment(&st, &req.user, code, now_ms())?))
}

/// Set a school's offline lease (IT admin).
#[utoipa::path(put, path = "/api/schools/{school}/lease", tag = "it_admin",
    params(("school" = String, Path, description = "School id")), request_body = Lease,
    responses((status = 200, body = Changed), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn set_lease(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<Lease>,
) -> ApiResult<Json<Changed>> {
    st.authorize(&s, AdminRole::ItAdmin, "set_lease", Some(&school), None)
        .await?;
    let changed = st.admin.set_offline_lease(&school, req.days).await?;
    Ok(Json(Changed { changed }))
}

/// A school's retention terms (IT admin, privacy officer).
#[utoipa::path(get, path = "/api/schools/{school}/retention", tag = "it_admin",
    params(("school" = String, Path, description = "School id")),
    responses((status = 200, body = retention::Retention), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
async fn get_retention(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path(school): Path<String>,
) -> ApiResult<Json<retention::Retention>> {
    st.audit(Some(&s.name), "retention", Some(&school), None)
        .await;
    Ok(Json(retention_of(&st, &school).await?))
}

/// A school's retention terms (404 for no such school).
pub(crate) async fn retention_of(
    st: &ConsoleState,
    school: &str,
) -> ApiResult<retention::Retention> {
    let school = school.to_string();
    Ok(st
        .admin
        .call(move |hub, _| {
            if hub.storage().school(&school)?.is_none() {
                return Err(crate::Error::NotFound("school"));
            }
            Ok((retention::policy(hub.storage(), &school)?.retention, vec![]))
        })
        .await?)
}

/// A school's offline lease in days (0: none; 404 for no such school).
pub(crate) async fn lease_of(st: &ConsoleState, school: &str) -> ApiResult<u32> {
    let school = school.to_string();
    Ok(st
        .admin
        .call(move |hub, _| {
            if hub.storage().school(&school)?.is_none() {
                return Err(crate::Error::NotFound("school"));
            }
            let r = admin::roster(hub.storage(), &school)?;
            Ok((r.offline_lease_days(), vec![]))
        })
        .await?)
}

/// Set a school's retention terms (IT admin).
#[utoipa::path(put, path = "/api/schools/{school}/retention", tag = "it_admin",
    params(("school" = String, Path, description = "School id")),
    request_body = retention::Retention,
    responses((status = 200, body = Changed), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn set_retention(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<retention::Retention>,
) -> ApiResult<Json<Changed>> {
    st.authorize(&s, AdminRole::ItAdmin, "set_retention", Some(&school), None)
        .await?;
    Ok(Json(Changed {
        changed: set_retention_of(&st, &school, req).await?,
    }))
}

/// Set a school's retention terms; whether they changed (400 when they do not check).
pub(crate) async fn set_retention_of(
    st: &ConsoleState,
    school: &str,
    req: retention::Retention,
) -> ApiResult<bool> {
    let school = school.to_string();
    Ok(st
        .admin
        .call(move |hub, _| {
            let st = hub.storage();
            if st.school(&school)?.is_none() {
                return Err(crate::Error::NotFound("school"));
            }
            let mut p = retention::policy(st, &school)?;
            let changed = p.retention != req;
            p.retention = req;
            retention::set_policy(st, &school, &p)?;
            Ok((changed, vec![]))
        })
        .await?)
}

// ------------------------------------------------------------------------ privacy officer

/// Erase every document about a pupil; devices purge them (privacy officer).
#[utoipa::path(post, path = "/api/schools/{school}/pupils/{pupil}/erase", tag = "privacy_officer",
    params(("school" = String, Path, description = "School id"),
        ("pupil" = String, Path, description = "Pupil id")),
    responses((status = 200, body = Erased), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn erase_pupil(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path((school, pupil)): Path<(String, String)>,
) -> ApiResult<Json<Erased>> {
    st.authorize(
        &s,
        AdminRole::PrivacyOfficer,
        "erase_pupil",
        Some(&school),
        Some(&pupil),
    )
    .await?;
    let documents = st.admin.erase_pupil(&school, &pupil).await?;
    Ok(Json(Erased { documents }))
}

/// A pupil's dossier for inzage, as PDF (or JSON); the export is audited (privacy officer).
#[utoipa::path(post, path = "/api/schools/{school}/pupils/{pupil}/export", tag = "privacy_officer",
    params(("school" = String, Path, description = "School id"),
        ("pupil" = String, Path, description = "Pupil id")),
    request_body = ExportRequest,
    responses((status = 200, description = "The dossier", content_type = "application/pdf"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn export_pupil(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path((school, pupil)): Path<(String, String)>,
    Json(req): Json<ExportRequest>,
) -> ApiResult<Response> {
    st.authorize(
        &s,
        AdminRole::PrivacyOfficer,
        "export_pupil",
        Some(&school),
        Some(&pupil),
    )
    .await?;
    export_response(&st, &school, &pupil, req).await
}

/// A pupil's inzage dossier as the answer to send: PDF, or JSON for `format: json`. The
/// export writes its own audit row (`export`).
pub(crate) async fn export_response(
    st: &ConsoleState,
    school: &str,
    pupil: &str,
    req: ExportRequest,
) -> ApiResult<Response> {
    let requested = match req.requested_on.as_deref() {
        Some(d) => Some(
            d.parse::<jiff::civil::Date>()
                .map_err(|_| ConsoleError::Invalid("requested_on must be YYYY-MM-DD".into()))?,
        ),
        None => None,
    };
    let (school, pupil) = (school.to_string(), pupil.to_string());
    let d = st
        .admin
        .call(move |hub, now| {
            let today = jiff::Timestamp::from_millisecond(now)
                .map_err(|_| crate::Error::Invalid("time".into()))?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            let d = dossier::export(
                hub.storage(),
                now,
                &school,
                &pupil,
                None,
                requested.unwrap_or(today),
            )?;
            Ok((d, vec![]))
        })
        .await?;
    Ok(match req.format.as_deref() {
        Some("json") => ([(header::CONTENT_TYPE, "application/json")], d.to_json()).into_response(),
        _ => ([(header::CONTENT_TYPE, "application/pdf")], d.to_pdf()).into_response(),
    })
}

/// The audit log (ids only) by pupil, staff member or action, within a period (privacy
/// officer). The lookup is itself audited.
#[utoipa::path(get, path = "/api/audit", tag = "privacy_officer", params(AuditQuery),
    responses((status = 200, body = Vec<AuditRow>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("session" = [])))]
async fn audit(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditRow>>> {
    st.authorize(&s, AdminRole::PrivacyOfficer, "audit", None, None)
        .await?;
    Ok(Json(audit_rows(&st, &s.name, q).await?))
}

pub(crate) async fn audit_rows(
    st: &ConsoleState,
    account: &str,
    q: AuditQuery,
) -> ApiResult<Vec<AuditRow>> {
    let filter = match (
        q.pupil.filter(|p| !p.is_empty()),
        q.staff.filter(|p| !p.is_empty()),
        q.action.filter(|p| !p.is_empty()),
    ) {
        (Some(p), None, None) => AuditFilter::Pupil(p),
        (None, Some(s), None) => AuditFilter::Staff(s),
        (None, None, Some(a)) => AuditFilter::Action(
            AuditAction::parse(&a)
                .ok_or_else(|| ConsoleError::Invalid("no such audit action".into()))?,
        ),
        (None, None, None) => AuditFilter::All,
        _ => {
            return Err(ConsoleError::Invalid(
                "give one of pupil, staff or action".into(),
            ));
        }
    };
    let from = q
        .from
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(day_start)
        .transpose()?;
    let to =
        q.to.as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| day_start(d).map(|t| t + 86_400_000))
            .transpose()?;
    let user = format!("admin:{account}");
    let rows = st
        .admin
        .call(move |hub, now| {
            let rows =
                admin::export_audit_by(hub.storage(), now, &filter, "admin-console", Some(&user))?;
            Ok((rows, vec![]))
        })
        .await?;
    Ok(rows
        .iter()
        .filter(|r| from.is_none_or(|f| r.at >= f) && to.is_none_or(|t| r.at < t))
        .map(AuditRow::from)
        .collect())
}

// ------------------------------------------------------------------------ devices

/// Every device, with its last connection (IT admin).
#[utoipa::path(get, path = "/api/devices", tag = "it_admin",
    responses((status = 200, body = Vec<DeviceInfo>), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
async fn devices(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<Vec<DeviceInfo>>> {
    st.authorize(&s, AdminRole::ItAdmin, "devices", None, None)
        .await?;
    Ok(Json(device_list(&st).await?))
}

pub(crate) async fn device_list(st: &ConsoleState) -> ApiResult<Vec<DeviceInfo>> {
    Ok(st
        .admin
        .devices()
        .await?
        .into_iter()
        .map(|d| DeviceInfo {
            pupil_session: d.scope.is_some(),
            id: d.id,
            school: d.school,
            user: d.user,
            label: d.label,
            created_at: d.created_at,
            last_seen: d.last_seen,
            revoked_at: d.revoked_at,
            outbox: d.outbox.map(|o| OutboxInfo {
                pending: o.pending,
                not_accepted: o.not_accepted,
                oldest_pending_at: o.oldest_at,
                reported_at: o.reported_at,
            }),
        })
        .collect())
}

/// Revoke a device: it wipes its store at its next contact; a live connection is dropped
/// at once (IT admin).
#[utoipa::path(post, path = "/api/devices/{device}/revoke", tag = "it_admin",
    params(("device" = String, Path, description = "Device id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn revoke(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
    Path(device): Path<String>,
) -> ApiResult<StatusCode> {
    st.authorize(&s, AdminRole::ItAdmin, "revoke", None, None)
        .await?;
    st.admin.revoke_device(&device).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------------ backups

/// The backups taken, and whether they still hold erased data (IT admin).
#[utoipa::path(get, path = "/api/backups", tag = "it_admin",
    responses((status = 200, body = Vec<BackupInfo>), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("session" = [])))]
async fn backups(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<Vec<BackupInfo>>> {
    st.authorize(&s, AdminRole::ItAdmin, "backups", None, None)
        .await?;
    Ok(Json(backup_list(&st).await?))
}

/// The backups taken, oldest first.
pub(crate) async fn backup_list(st: &ConsoleState) -> ApiResult<Vec<BackupInfo>> {
    let settings = st.settings.clone();
    let list = tokio::task::spawn_blocking(move || backup::list_backups(&settings))
        .await
        .map_err(|_| ConsoleError::Internal(crate::Error::Stopped))??;
    Ok(list
        .into_iter()
        .map(|b| BackupInfo {
            path: b.path,
            taken_at: b.taken_at,
            present: b.present,
            erased_since: b.erased_since,
        })
        .collect())
}

/// Take a backup now into the configured backup directory (IT admin). 409 when the server
/// has no backup directory (`--backup-dir`) or stores in PostgreSQL.
#[utoipa::path(post, path = "/api/backups", tag = "it_admin",
    responses((status = 201, body = BackupDone), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
async fn start_backup(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
) -> ApiResult<(StatusCode, Json<BackupDone>)> {
    st.authorize(&s, AdminRole::ItAdmin, "backup", None, None)
        .await?;
    Ok((StatusCode::CREATED, Json(take_backup(&st).await?)))
}

/// Take a backup into the configured backup directory (409 without one, or on PostgreSQL).
pub(crate) async fn take_backup(st: &ConsoleState) -> ApiResult<BackupDone> {
    let dir = st
        .settings
        .console
        .backup_dir
        .clone()
        .ok_or_else(|| ConsoleError::Conflict("no backup directory is configured".into()))?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let to = dir.join(format!("omkijken-{stamp}.db"));
    let settings = st.settings.clone();
    let path = to.clone();
    let r = tokio::task::spawn_blocking(move || backup::backup(&settings, &path))
        .await
        .map_err(|_| ConsoleError::Internal(crate::Error::Stopped))??;
    Ok(BackupDone {
        path: to.display().to_string(),
        documents: r.documents,
        bytes: r.bytes,
    })
}

// ------------------------------------------------------------------------ stats

/// Accepted writes, deliveries and refusals per day over the last `days` days (default 14),
/// counted from the audit log (IT admin).
#[utoipa::path(get, path = "/api/stats/daily", tag = "it_admin",
    responses((status = 200, body = DailyStats), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
async fn daily(
    State(st): State<ConsoleState>,
    ApiSession(s): ApiSession,
) -> ApiResult<Json<DailyStats>> {
    st.authorize(&s, AdminRole::ItAdmin, "stats", None, None)
        .await?;
    Ok(Json(daily_stats(&st, 14).await?))
}

pub(crate) async fn daily_stats(st: &ConsoleState, days: i64) -> ApiResult<DailyStats> {
    let now = now_ms();
    let today = day_start(&day_of(now))?;
    let first = today - (days - 1) * 86_400_000;
    let mut out: Vec<Day> = (0..days)
        .map(|i| Day {
            day: day_of(first + i * 86_400_000),
            writes: 0,
            deliveries: 0,
            refusals: 0,
        })
        .collect();
    let counts = st
        .admin
        .call(move |hub, _| {
            let mut counts: Vec<(i64, AuditAction)> = vec![];
            for a in [
                AuditAction::Write,
                AuditAction::Deliver,
                AuditAction::Refuse,
                AuditAction::ReadRefused,
            ] {
                for r in hub.storage().audit(&AuditFilter::Action(a))? {
                    if r.at >= first {
                        counts.push((r.at, a));
                    }
                }
            }
            Ok((counts, vec![]))
        })
        .await?;
    for (at, a) in counts {
        let i = ((at - first) / 86_400_000) as usize;
        if let Some(d) = out.get_mut(i) {
            match a {
                AuditAction::Write => d.writes += 1,
                AuditAction::Deliver => d.deliveries += 1,
                _ => d.refusals += 1,
            }
        }
    }
    Ok(DailyStats { days: out })
}

#[cfg(test)]
mod tests {
    /// docs/admin-openapi.json is the document the code generates. To update it:
    /// `OMKIJKEN_WRITE_OPENAPI=1 cargo test -p omkijken-server openapi`.
    #[test]
    fn the_committed_openapi_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("docs")
            .join("admin-openapi.json");
        let now = super::openapi_document();
        if std::env::var_os("OMKIJKEN_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &now).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == now,
            "docs/admin-openapi.json is not the document the code generates; run \
             OMKIJKEN_WRITE_OPENAPI=1 cargo test -p omkijken-server openapi and commit it"
        );
    }
}
