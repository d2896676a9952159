//! The backups taken, and starting one (IT admin).

use super::ApiResult;
use super::types::{BackupDone, BackupInfo, ErrorBody};
use crate::backup;
use crate::console::{ApiSession, ConsoleError, ConsoleState};
use axum::Json;
use axum::http::StatusCode;

/// The backups taken, and whether they still hold erased data (IT admin).
#[utoipa::path(get, path = "/api/backups", tag = "it_admin",
    responses((status = 200, body = Vec<BackupInfo>), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub(super) async fn backups(ApiSession(st, s): ApiSession) -> ApiResult<Json<Vec<BackupInfo>>> {
    st.it_admin(&s, "backups", None).await?;
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
pub(super) async fn start_backup(
    ApiSession(st, s): ApiSession,
) -> ApiResult<(StatusCode, Json<BackupDone>)> {
    st.it_admin(&s, "backup", None).await?;
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
