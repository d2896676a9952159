//! Syncs and refusals per day.

use super::types::{DailyStats, Day, ErrorBody};
use super::{ApiResult, day_of, day_start, now_ms};
use crate::console::{ApiSession, ConsoleState};
use crate::storage::AuditAction;
use axum::Json;

/// Accepted writes, deliveries and refusals per day over the last `days` days (default 14),
/// counted from the audit log (IT admin).
#[utoipa::path(get, path = "/api/stats/daily", tag = "it_admin",
    responses((status = 200, body = DailyStats), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub(super) async fn daily(ApiSession(st, s): ApiSession) -> ApiResult<Json<DailyStats>> {
    st.it_admin(&s, "stats", None).await?;
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
    // Counted by the database on a connection of its own beside the hub: a long audit log
    // neither fills the memory nor holds up the devices' syncs.
    let counts =
        crate::console::pages::beside_hub(st, move |s| s.audit_counts_by_day(first)).await?;
    for (action, day, n) in counts {
        let Some(d) = usize::try_from(day).ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        match action {
            AuditAction::Write => d.writes += n,
            AuditAction::Deliver => d.deliveries += n,
            AuditAction::Refuse | AuditAction::ReadRefused => d.refusals += n,
            _ => {}
        }
    }
    Ok(DailyStats { days: out })
}
