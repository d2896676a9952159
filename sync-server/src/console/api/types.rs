//! The API's request and answer bodies, with their OpenAPI schemas.

use crate::admin::{RosterImport, RosterPreview};
use crate::storage::AuditRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

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
