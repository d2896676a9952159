//! The audit log's rows, their hash chain and the filters that read them back.

use omkijken_core::{DocumentId, Header};

/// What an audit row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A device reported a read of care content (from its local read log).
    Read,
    /// Changes of a user were accepted into a document.
    Write,
    /// A device enrolled.
    Enroll,
    /// A device was revoked.
    Revoke,
    /// An enrollment code was issued.
    CodeIssued,
    /// The roster was imported.
    RosterImport,
    /// A school was created.
    SchoolCreated,
    /// A document was erased.
    Erase,
    /// A document (or changes of it) was delivered to a device.
    Deliver,
    /// A device's changes to a document were refused.
    Refuse,
    /// A document was erased because its retention term ended (its kind says which term).
    Retention,
    /// A legal hold was put on a pupil's file: retention erases nothing of it.
    Hold,
    /// A legal hold on a pupil's file was lifted.
    Release,
    /// A pupil's dossier was exported for inzage (by the admin, or by the device's user).
    Export,
    /// The care team opened a pupil's care track (the row's kind holds the reason code).
    CareTrackOpened,
    /// The care team closed a pupil's care track (the row's kind holds the reason code).
    CareTrackClosed,
    /// An enrollment attempt failed (unknown, used or expired code; never the code itself;
    /// `kind` says why). No school is known: the row's school is empty.
    EnrollFailed,
    /// A device reported reading a document it may not read (the entry was not taken as
    /// a read; `kind` is `refused`).
    ReadRefused,
    /// The audit log was exported (`admin audit`; `kind` names the filter).
    AuditExport,
    /// The school leader changed the school's settings from a device (the row names the
    /// device and user; the settings themselves are in the roster document).
    SchoolSettings,
    /// A call of the admin console (`console`): `user` is `admin:NAME`, `kind` the
    /// operation (`sign_in`, `sign_in_failed`, `import_roster`, ...); `pupil` and `school`
    /// where the call named them.
    Console,
}

impl AuditAction {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Read => "read",
            AuditAction::Write => "write",
            AuditAction::Enroll => "enroll",
            AuditAction::Revoke => "revoke",
            AuditAction::CodeIssued => "code_issued",
            AuditAction::RosterImport => "roster_import",
            AuditAction::SchoolCreated => "school_created",
            AuditAction::Erase => "erase",
            AuditAction::Deliver => "deliver",
            AuditAction::Refuse => "refuse",
            AuditAction::Retention => "retention",
            AuditAction::Hold => "hold",
            AuditAction::Release => "release",
            AuditAction::Export => "export",
            AuditAction::CareTrackOpened => "care_track_opened",
            AuditAction::CareTrackClosed => "care_track_closed",
            AuditAction::EnrollFailed => "enroll_failed",
            AuditAction::ReadRefused => "read_refused",
            AuditAction::AuditExport => "audit_export",
            AuditAction::SchoolSettings => "school_settings",
            AuditAction::Console => "console",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Read,
            Self::Write,
            Self::Enroll,
            Self::Revoke,
            Self::CodeIssued,
            Self::RosterImport,
            Self::SchoolCreated,
            Self::Erase,
            Self::Deliver,
            Self::Refuse,
            Self::Retention,
            Self::Hold,
            Self::Release,
            Self::Export,
            Self::CareTrackOpened,
            Self::CareTrackClosed,
            Self::EnrollFailed,
            Self::ReadRefused,
            Self::AuditExport,
            Self::SchoolSettings,
            Self::Console,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One audit-log row: ids only, never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Server sequence (0 before it is stored).
    pub seq: u64,
    /// Server time, unix ms.
    pub at: i64,
    /// School.
    pub school: String,
    /// Device, if a device did it.
    pub device: Option<String>,
    /// Staff id of the person behind it.
    pub user: Option<String>,
    /// What happened.
    pub action: AuditAction,
    /// Document concerned.
    pub document: Option<DocumentId>,
    /// Kind of that document.
    pub kind: Option<String>,
    /// Pupil that document is about.
    pub pupil: Option<String>,
    /// For reads: the device's own log sequence (rows are deduplicated on it).
    pub device_seq: Option<i64>,
    /// For reads: when the device says it happened (device clock, unix ms).
    pub device_at: Option<i64>,
}

impl AuditRecord {
    /// A row of `action` at `at` (server time) in `school`, naming no device, user,
    /// document or pupil: the rest is filled in with struct update syntax.
    pub fn new(at: i64, school: &str, action: AuditAction) -> AuditRecord {
        AuditRecord {
            seq: 0,
            at,
            school: school.into(),
            device: None,
            user: None,
            action,
            document: None,
            kind: None,
            pupil: None,
            device_seq: None,
            device_at: None,
        }
    }

    /// The same row about document `id` with this header (its kind and pupil).
    pub fn about(self, id: DocumentId, header: &Header) -> AuditRecord {
        AuditRecord {
            document: Some(id),
            kind: Some(header.kind.clone()),
            pupil: header.pupil.clone(),
            ..self
        }
    }
}

/// The hash that links an audit row to the one before it: SHA-256 of the previous row's
/// hash (32 zero bytes for the first hashed row) and the row's fields, its sequence
/// included, each length-prefixed. Changing, removing or inserting a row breaks the link of
/// every row after it (`admin audit verify`); cutting rows off the end shows only against
/// a head noted down earlier.
pub fn audit_hash(prev: &[u8; 32], r: &AuditRecord) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    fn text(h: &mut Sha256, v: Option<&[u8]>) {
        match v {
            None => h.update([0u8]),
            Some(b) => {
                h.update([1u8]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
        }
    }
    fn int(h: &mut Sha256, v: Option<i64>) {
        match v {
            None => h.update([0u8]),
            Some(n) => {
                h.update([1u8]);
                h.update(n.to_be_bytes());
            }
        }
    }
    let mut h = Sha256::new();
    h.update(b"omkijken-audit-v1");
    h.update(prev);
    h.update(r.seq.to_be_bytes());
    int(&mut h, Some(r.at));
    text(&mut h, Some(r.school.as_bytes()));
    text(&mut h, r.device.as_deref().map(str::as_bytes));
    text(&mut h, r.user.as_deref().map(str::as_bytes));
    text(&mut h, Some(r.action.as_str().as_bytes()));
    text(&mut h, r.document.as_ref().map(|d| d.as_bytes().as_slice()));
    text(&mut h, r.kind.as_deref().map(str::as_bytes));
    text(&mut h, r.pupil.as_deref().map(str::as_bytes));
    int(&mut h, r.device_seq);
    int(&mut h, r.device_at);
    h.finalize().into()
}

/// The previous hash of a chain as stored (NULL, or a row from before the chain: zeros).
pub fn chain_prev(stored: Option<Vec<u8>>) -> [u8; 32] {
    stored
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .unwrap_or([0; 32])
}

/// Which audit rows to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFilter {
    /// Rows about this pupil's documents.
    Pupil(String),
    /// Rows of this staff member.
    Staff(String),
    /// Everything.
    All,
    /// Rows of one action (failed enrollments, refused read reports).
    Action(AuditAction),
}
