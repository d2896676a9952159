//! The admin-events log: what another process (the admin CLI) tells a running server.

/// What an admin event tells a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminEventKind {
    /// A device was revoked: drop its live connections.
    Revoke,
    /// A school's roster changed: reload it (catalog rows were bumped).
    Roster,
    /// Documents were erased.
    Erase,
    /// A school was created.
    School,
}

impl AdminEventKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminEventKind::Revoke => "revoke",
            AdminEventKind::Roster => "roster",
            AdminEventKind::Erase => "erase",
            AdminEventKind::School => "school",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Revoke, Self::Roster, Self::Erase, Self::School]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// One admin event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminEvent {
    /// Sequence (0 before it is stored).
    pub seq: u64,
    /// Unix ms.
    pub at: i64,
    /// What.
    pub kind: AdminEventKind,
    /// School concerned.
    pub school: Option<String>,
    /// Device concerned.
    pub device: Option<String>,
}

impl AdminEvent {
    /// An event of `kind` at `at` (unix ms), naming a school and a device or not.
    pub fn new(at: i64, kind: AdminEventKind, school: Option<&str>, device: Option<&str>) -> Self {
        AdminEvent {
            seq: 0,
            at,
            kind,
            school: school.map(Into::into),
            device: device.map(Into::into),
        }
    }
}
