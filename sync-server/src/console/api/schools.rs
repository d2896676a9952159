//! Schools, the roster (preview and import), enrollment codes, the offline lease and
//! the retention terms (IT admin).

use super::types::{
    Changed, Enrollment, ErrorBody, ImportResult, Lease, NewEnrollment, NewSchool, RosterCsv,
    SchoolInfo,
};
use super::{ApiResult, issue_enrollment, now_ms};
use crate::admin::{self, RosterPreview};
use crate::console::{ApiSession, ConsoleState};
use crate::hub::Hub;
use crate::retention;
use crate::storage::AdminRole;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use std::collections::BTreeMap;

/// The schools (with their active staff for the IT admin).
#[utoipa::path(get, path = "/api/schools", tag = "it_admin",
    responses((status = 200, body = Vec<SchoolInfo>), (status = 401, body = ErrorBody)),
    security(("session" = [])))]
pub(super) async fn schools(ApiSession(st, s): ApiSession) -> ApiResult<Json<Vec<SchoolInfo>>> {
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
pub(super) async fn create_school(
    ApiSession(st, s): ApiSession,
    Json(req): Json<NewSchool>,
) -> ApiResult<StatusCode> {
    st.it_admin(&s, "create_school", Some(&req.id)).await?;
    st.admin.create_school(&req.id, &req.name).await?;
    Ok(StatusCode::CREATED)
}

/// What importing a roster CSV would change; nothing is written (IT admin).
#[utoipa::path(post, path = "/api/schools/{school}/roster/preview", tag = "it_admin",
    params(("school" = String, Path, description = "School id")), request_body = RosterCsv,
    responses((status = 200, body = RosterPreview), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(super) async fn roster_preview(
    ApiSession(st, s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<RosterCsv>,
) -> ApiResult<Json<RosterPreview>> {
    st.it_admin(&s, "roster_preview", Some(&school)).await?;
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
pub(super) async fn roster_import(
    ApiSession(st, s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<RosterCsv>,
) -> ApiResult<Json<ImportResult>> {
    st.it_admin(&s, "import_roster", Some(&school)).await?;
    Ok(Json(import(&st, &school, req.csv).await?))
}

/// Issue a one-time enrollment code for a staff member, with its QR code (IT admin).
#[utoipa::path(post, path = "/api/schools/{school}/enrollments", tag = "it_admin",
    params(("school" = String, Path, description = "School id")), request_body = NewEnrollment,
    responses((status = 200, body = Enrollment), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(super) async fn enrollment(
    ApiSession(st, s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<NewEnrollment>,
) -> ApiResult<Json<Enrollment>> {
    st.it_admin(&s, "enrollment", Some(&school)).await?;
    let code = st.admin.issue_code(&school, &req.user).await?;
    Ok(Json(issue_enrollment(&st, &req.user, code, now_ms())?))
}

/// Set a school's offline lease (IT admin).
#[utoipa::path(put, path = "/api/schools/{school}/lease", tag = "it_admin",
    params(("school" = String, Path, description = "School id")), request_body = Lease,
    responses((status = 200, body = Changed), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(super) async fn set_lease(
    ApiSession(st, s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<Lease>,
) -> ApiResult<Json<Changed>> {
    st.it_admin(&s, "set_lease", Some(&school)).await?;
    let changed = st.admin.set_offline_lease(&school, req.days).await?;
    Ok(Json(Changed { changed }))
}

/// A school's retention terms (IT admin, privacy officer).
#[utoipa::path(get, path = "/api/schools/{school}/retention", tag = "it_admin",
    params(("school" = String, Path, description = "School id")),
    responses((status = 200, body = retention::Retention), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub(super) async fn get_retention(
    ApiSession(st, s): ApiSession,
    Path(school): Path<String>,
) -> ApiResult<Json<retention::Retention>> {
    st.audit(Some(&s.name), "retention", Some(&school), None)
        .await;
    Ok(Json(retention_of(&st, &school).await?))
}

/// `f` on the hub and the school's id, for a school that exists (404 for no such school).
async fn for_school<T: Send + 'static>(
    st: &ConsoleState,
    school: &str,
    f: impl FnOnce(&mut Hub, &str) -> crate::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let school = school.to_string();
    Ok(st
        .admin
        .call(move |hub, _| {
            if hub.storage().school(&school)?.is_none() {
                return Err(crate::Error::NotFound("school"));
            }
            Ok((f(hub, &school)?, vec![]))
        })
        .await?)
}

/// A school's retention terms (404 for no such school).
pub(crate) async fn retention_of(
    st: &ConsoleState,
    school: &str,
) -> ApiResult<retention::Retention> {
    for_school(st, school, |hub, school| {
        Ok(retention::policy(hub.storage(), school)?.retention)
    })
    .await
}

/// A school's offline lease in days (0: none; 404 for no such school).
pub(crate) async fn lease_of(st: &ConsoleState, school: &str) -> ApiResult<u32> {
    for_school(st, school, |hub, school| {
        Ok(admin::roster(hub.storage(), school)?.offline_lease_days())
    })
    .await
}

/// Set a school's retention terms (IT admin).
#[utoipa::path(put, path = "/api/schools/{school}/retention", tag = "it_admin",
    params(("school" = String, Path, description = "School id")),
    request_body = retention::Retention,
    responses((status = 200, body = Changed), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(super) async fn set_retention(
    ApiSession(st, s): ApiSession,
    Path(school): Path<String>,
    Json(req): Json<retention::Retention>,
) -> ApiResult<Json<Changed>> {
    st.it_admin(&s, "set_retention", Some(&school)).await?;
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
    for_school(st, school, move |hub, school| {
        let st = hub.storage();
        let mut p = retention::policy(st, school)?;
        let changed = p.retention != req;
        p.retention = req;
        retention::set_policy(st, school, &p)?;
        Ok(changed)
    })
    .await
}
