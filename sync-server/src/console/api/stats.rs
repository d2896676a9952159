//! Syncs and refusals per day.

use super::types::{DailyStats, Day, ErrorBody};
use super::{ApiResult, day_of, day_start, now_ms};
use crate::console::{ApiSession, ConsoleState};
use crate::storage::{AuditAction, AuditFilter};
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
