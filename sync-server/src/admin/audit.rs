//! The audit log read back: CSV and JSON Lines exports and the hash chain's verification.

use super::audit;
use crate::storage::{AuditAction, AuditFilter, AuditRecord, Batch, Storage};
use crate::{Error, Result};
use serde::Serialize;

/// One exported audit row (ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditExport {
    /// Server sequence.
    pub seq: u64,
    /// Server time, RFC 3339.
    pub at: String,
    /// School.
    pub school: String,
    /// Action.
    pub action: &'static str,
    /// Staff id.
    pub user: String,
    /// Device id.
    pub device: String,
    /// Document id.
    pub document: String,
    /// Kind.
    pub kind: String,
    /// Pupil id.
    pub pupil: String,
    /// For reads: when the device says it happened, RFC 3339.
    pub device_at: String,
}

/// A cell a spreadsheet would not run as a formula: text starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return gets a leading `'` (OWASP's advice for CSV injection).
pub fn csv_cell(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

impl AuditExport {
    /// Every text cell made safe for a spreadsheet ([`csv_cell`]).
    pub fn csv_safe(self) -> AuditExport {
        AuditExport {
            at: csv_cell(self.at),
            school: csv_cell(self.school),
            user: csv_cell(self.user),
            device: csv_cell(self.device),
            document: csv_cell(self.document),
            kind: csv_cell(self.kind),
            pupil: csv_cell(self.pupil),
            device_at: csv_cell(self.device_at),
            ..self
        }
    }
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl From<&AuditRecord> for AuditExport {
    fn from(a: &AuditRecord) -> Self {
        AuditExport {
            seq: a.seq,
            at: rfc3339(a.at),
            school: a.school.clone(),
            action: a.action.as_str(),
            user: a.user.clone().unwrap_or_default(),
            device: a.device.clone().unwrap_or_default(),
            document: a.document.map(|d| d.to_string()).unwrap_or_default(),
            kind: a.kind.clone().unwrap_or_default(),
            pupil: a.pupil.clone().unwrap_or_default(),
            device_at: a.device_at.map(rfc3339).unwrap_or_default(),
        }
    }
}

/// Audit rows as CSV with a header row.
pub fn audit_csv(rows: &[AuditRecord]) -> Result<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    for r in rows {
        w.serialize(AuditExport::from(r).csv_safe())
            .map_err(|_| Error::Invalid("audit export".into()))?;
    }
    if rows.is_empty() {
        w.write_record([
            "seq",
            "at",
            "school",
            "action",
            "user",
            "device",
            "document",
            "kind",
            "pupil",
            "device_at",
        ])
        .map_err(|_| Error::Invalid("audit export".into()))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|_| Error::Invalid("audit export".into()))?;
    String::from_utf8(bytes).map_err(|_| Error::Invalid("audit export".into()))
}

/// Audit rows as JSON lines (JSON strings are data: nothing to escape beyond JSON's own).
pub fn audit_json_lines(rows: &[AuditRecord]) -> String {
    let mut out = String::new();
    for r in rows {
        if let Ok(line) = serde_json::to_string(&AuditExport::from(r)) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Audit rows for a filter.
pub fn audit_rows(st: &mut dyn Storage, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
    st.audit(filter)
}

/// What `admin audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Rows read.
    pub rows: u64,
    /// Rows from before the chain (no link hash), at its start.
    pub unlinked: u64,
    /// The first row whose link does not match: changed, or a row before it changed,
    /// removed or inserted.
    pub broken_at: Option<u64>,
    /// The last row's sequence and link (hex): note it down to detect rows cut off the end.
    pub head: Option<(u64, String)>,
}

/// Walk the audit log in sequence order and check every row's link to the one before it
/// (see `storage::audit_hash`).
pub fn verify_audit(st: &mut dyn Storage) -> Result<AuditVerification> {
    const PAGE: usize = 10_000;
    let mut v = AuditVerification {
        rows: 0,
        unlinked: 0,
        broken_at: None,
        head: None,
    };
    let mut prev: Option<[u8; 32]> = None;
    let mut after = 0;
    loop {
        let page = st.audit_page(after, PAGE)?;
        let Some(last) = page.last().map(|(r, _)| r.seq) else {
            break;
        };
        for (row, stored) in page {
            v.rows += 1;
            let stored = stored.and_then(|h| <[u8; 32]>::try_from(h.as_slice()).ok());
            match (prev, stored) {
                // Rows from before the chain, at its start.
                (None, None) => v.unlinked += 1,
                (_, None) => {
                    v.broken_at.get_or_insert(row.seq);
                }
                (p, Some(h)) => {
                    let expected = crate::storage::audit_hash(&p.unwrap_or([0; 32]), &row);
                    if expected != h {
                        v.broken_at.get_or_insert(row.seq);
                    }
                    v.head = Some((row.seq, hex::encode(h)));
                    prev = Some(h);
                }
            }
        }
        after = last;
    }
    Ok(v)
}

/// Audit rows for a filter, read for an export: the export is itself audited (action
/// `audit_export`, device `admin-cli`, the filter in `kind`, the pupil when the filter
/// names one), so reading who read a pupil's file leaves a trace too.
pub fn export_audit(
    st: &mut dyn Storage,
    now: i64,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>> {
    export_audit_by(st, now, filter, "admin-cli", None)
}

/// [`export_audit`] by a named reader: `device` says through what (`admin-cli`,
/// `admin-console`), `user` who (the console's `admin:NAME`).
pub fn export_audit_by(
    st: &mut dyn Storage,
    now: i64,
    filter: &AuditFilter,
    device: &str,
    user: Option<&str>,
) -> Result<Vec<AuditRecord>> {
    let rows = st.audit(filter)?;
    st.commit(Batch {
        audit: vec![export_row(now, filter, device, user)],
        ..Default::default()
    })?;
    Ok(rows)
}

/// The `audit_export` row that says who exported which part of the audit log (`filter`), from
/// which device or tool.
pub fn export_row(now: i64, filter: &AuditFilter, device: &str, user: Option<&str>) -> AuditRecord {
    let (kind, pupil) = match filter {
        AuditFilter::Pupil(p) => ("pupil".to_string(), Some(p.clone())),
        AuditFilter::Staff(s) => (format!("staff:{s}"), None),
        AuditFilter::Action(a) => (format!("action:{}", a.as_str()), None),
        AuditFilter::All => ("all".to_string(), None),
    };
    let mut row = audit(now, "", AuditAction::AuditExport);
    row.device = Some(device.into());
    row.user = user.map(Into::into);
    row.kind = Some(kind);
    row.pupil = pupil;
    row
}
