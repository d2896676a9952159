//! Admin console accounts and their roles.

/// The role of an admin console account: what it may do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// The school's IT admin: schools, roster, enrollment, devices, settings, backups; no
    /// care content, no audit log, no erasure.
    ItAdmin,
    /// The privacy officer (FG): the audit log, inzage exports and erasure; no roster or
    /// device management.
    PrivacyOfficer,
}

impl AdminRole {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::ItAdmin => "it_admin",
            AdminRole::PrivacyOfficer => "privacy_officer",
        }
    }
    /// Parse a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::ItAdmin, Self::PrivacyOfficer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// An account of the admin console (`console`): a name, a role and an argon2id password
/// hash (PHC string).
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAccount {
    /// Sign-in name.
    pub name: String,
    /// What the account may do.
    pub role: AdminRole,
    /// The password's argon2id hash as a PHC string (salt and parameters included).
    pub password_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// A disabled account cannot sign in.
    pub disabled: bool,
}

impl std::fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAccount")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}
