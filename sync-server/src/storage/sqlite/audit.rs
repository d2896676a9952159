//! The audit log read back from SQLite: by pupil, staff member or action, the legal holds
//! through their own index, counts per day, and pages with their links for the chain check.

use super::rows::audit_row;
use crate::storage::{AuditAction, AuditFilter, AuditRecord};
use crate::{Error, Result};
use rusqlite::{Connection, params};

/// Audit rows of `filter`, in sequence order (`Storage::audit`).
pub(super) fn rows(conn: &Connection, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
    const COLS: &str =
        "seq, at, school, device, user, action, doc, kind, pupil, device_seq, device_at";
    let (sql, arg) = match filter {
        AuditFilter::Pupil(p) => (
            format!("SELECT {COLS} FROM audit WHERE pupil = ?1 ORDER BY seq"),
            Some(p.as_str()),
        ),
        AuditFilter::Staff(s) => (
            format!("SELECT {COLS} FROM audit WHERE user = ?1 ORDER BY seq"),
            Some(s.as_str()),
        ),
        AuditFilter::All => (format!("SELECT {COLS} FROM audit ORDER BY seq"), None),
        AuditFilter::Action(a) => (
            format!("SELECT {COLS} FROM audit WHERE action = ?1 ORDER BY seq"),
            Some(a.as_str()),
        ),
    };
    let mut st = conn.prepare_cached(&sql)?;
    let rows: rusqlite::Result<Vec<AuditRecord>> = match arg {
        Some(a) => st.query_map(params![a], audit_row)?.collect(),
        None => st.query_map([], audit_row)?.collect(),
    };
    rows.map_err(Error::from)
}

/// The legal holds' rows through their own index (`Storage::hold_rows`).
pub(super) fn hold_rows(conn: &Connection) -> Result<Vec<AuditRecord>> {
    let mut st = conn.prepare_cached(
        "SELECT seq, at, school, device, user, action, doc, kind, pupil, device_seq, \
         device_at FROM audit WHERE action IN ('hold', 'release') ORDER BY seq",
    )?;
    let rows = st
        .query_map([], audit_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Rows per action and day from `since` (`Storage::audit_counts_by_day`).
pub(super) fn counts_by_day(conn: &Connection, since: i64) -> Result<Vec<(AuditAction, i64, u64)>> {
    let mut st = conn.prepare_cached(
        "SELECT action, (at - ?1) / 86400000, count(*) FROM audit WHERE at >= ?1 \
         GROUP BY 1, 2",
    )?;
    let rows = st
        .query_map([since], |r| crate::storage::rows::audit_count_row(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Up to `limit` rows after `after`, with their links (`Storage::audit_page`).
pub(super) fn page(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<(AuditRecord, Option<Vec<u8>>)>> {
    let mut st = conn.prepare_cached(
        "SELECT seq, at, school, device, user, action, doc, kind, pupil, device_seq, \
         device_at, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = st
        .query_map(params![after as i64, limit as i64], |r| {
            Ok((audit_row(r)?, r.get::<_, Option<Vec<u8>>>(11)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}
