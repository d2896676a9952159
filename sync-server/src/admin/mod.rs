//! Admin operations on a [`Storage`]: schools, roster import, enrollment codes, devices,
//! audit export, erasure.
//!
//! These functions only write to storage and append an admin event; the
//! [`Hub`](crate::hub::Hub) turns the events into pushes, purges and dropped connections
//! (at once when called through the hub, within a poll interval when another process, the
//! admin CLI, wrote them).

mod audit;
mod care_track;
mod devices;
mod erasure;
mod preview;
mod roster;
mod schools;
#[cfg(test)]
mod tests;
mod views;

use crate::storage::{AdminEvent, AdminEventKind, AuditAction, AuditRecord};
use crate::{Error, Result};
pub use audit::{
    AuditExport, AuditVerification, audit_csv, audit_json_lines, audit_rows, csv_cell,
    export_audit, export_audit_by, export_row, verify_audit,
};
pub use care_track::{CARE_TRACK_REASONS, CareTrackChange, set_care_track};
pub use devices::{issue_code, issue_oidc_ticket, revoke, school_of_staff};
pub use erasure::{erase_pupil, erase_record, keep_erasure_counts, notes_of_signal};
pub use preview::{
    PreviewMentors, PreviewMove, PreviewPupil, PreviewStaff, RosterPreview, preview_roster,
    roster_diff,
};
pub use roster::{RosterImport, affected, import_roster, load_roster, roster};
pub use schools::{
    create_school, school_settings, set_offline_lease, set_parent_names, set_school_settings,
};
pub use views::refresh_roster_views;

fn audit(now: i64, school: &str, action: AuditAction) -> AuditRecord {
    AuditRecord::new(now, school, action)
}

fn event(now: i64, kind: AdminEventKind, school: Option<&str>, device: Option<&str>) -> AdminEvent {
    AdminEvent::new(now, kind, school, device)
}

fn check_id(what: &'static str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} must be 1-64 characters a-z, 0-9, '-', '_' or '.'"
        )))
    }
}
