//! The privacy officer's calls: erasure, the inzage export and the audit log.

use super::types::{AuditQuery, AuditRow, Erased, ErrorBody, ExportRequest};
use super::{ApiResult, day_start};
use crate::admin;
use crate::console::{ApiSession, ConsoleError, ConsoleState};
use crate::dossier;
use crate::storage::{AdminRole, AuditAction, AuditFilter};
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// Erase every document about a pupil; devices purge them (privacy officer).
#[utoipa::path(post, path = "/api/schools/{school}/pupils/{pupil}/erase", tag = "privacy_officer",
    params(("school" = String, Path, description = "School id"),
        ("pupil" = String, Path, description = "Pupil id")),
    responses((status = 200, body = Erased), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("session" = [], "csrf" = [])))]
pub(super) async fn erase_pupil(
    ApiSession(st, s): ApiSession,
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
pub(super) async fn export_pupil(
    ApiSession(st, s): ApiSession,
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

/// A pupil's inzage dossier as the answer to send: PDF, or JSON for `format: json`, with
/// its audit row (`export`) written first.
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
    // Built on a storage connection of its own beside the hub (it goes through every catalog
    // row of the school); the export row is written through the hub before it is sent.
    let now = jiff::Timestamp::now();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let now = now.as_millisecond();
    let (s, p) = (school.clone(), pupil.clone());
    let d = crate::console::pages::beside_hub(st, move |st| {
        dossier::build(
            st,
            &s,
            &p,
            None,
            requested.unwrap_or(today),
            dossier::date_of(now),
        )
    })
    .await?;
    st.admin
        .call(move |hub, _| {
            hub.storage().commit(crate::storage::Batch {
                audit: vec![dossier::export_row(now, &school, &pupil, None)],
                ..Default::default()
            })?;
            Ok(((), vec![]))
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
pub(super) async fn audit(
    ApiSession(st, s): ApiSession,
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
    // Read on a storage connection of its own beside the hub (a long log, or all of it,
    // does not hold up the devices' syncs); the export is audited through the hub.
    let wanted = filter.clone();
    let rows = crate::console::pages::beside_hub(st, move |s| {
        Ok(s.audit(&wanted)?
            .iter()
            .filter(|r| from.is_none_or(|f| r.at >= f) && to.is_none_or(|t| r.at < t))
            .map(AuditRow::from)
            .collect::<Vec<_>>())
    })
    .await?;
    let user = format!("admin:{account}");
    st.admin
        .call(move |hub, now| {
            let row = admin::export_row(now, &filter, "admin-console", Some(&user));
            hub.storage().commit(crate::storage::Batch {
                audit: vec![row],
                ..Default::default()
            })?;
            Ok(((), vec![]))
        })
        .await?;
    Ok(rows)
}
