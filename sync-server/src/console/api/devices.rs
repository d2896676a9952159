//! Devices and revoking one (IT admin).

use super::ApiResult;
use super::types::{DeviceInfo, ErrorBody, OutboxInfo};
use crate::console::{ApiSession, ConsoleState};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;

/// Every device, with its last connection (IT admin).
#[utoipa::path(get, path = "/api/devices", tag = "it_admin",
    responses((status = 200, body = Vec<DeviceInfo>), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub(super) async fn devices(ApiSession(st, s): ApiSession) -> ApiResult<Json<Vec<DeviceInfo>>> {
    st.it_admin(&s, "devices", None).await?;
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
pub(super) async fn revoke(
    ApiSession(st, s): ApiSession,
    Path(device): Path<String>,
) -> ApiResult<StatusCode> {
    st.it_admin(&s, "revoke", None).await?;
    st.admin.revoke_device(&device).await?;
    Ok(StatusCode::NO_CONTENT)
}
