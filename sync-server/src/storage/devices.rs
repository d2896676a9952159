//! Schools, devices and one-time enrollment codes.

use super::audit::{AuditAction, AuditRecord};

/// A school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct School {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
}

/// An enrolled device.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id.
    pub id: String,
    /// School.
    pub school: String,
    /// Staff id of its user.
    pub user: String,
    /// Its registered Automerge actor id.
    pub actor: Vec<u8>,
    /// Label for the device list.
    pub label: String,
    /// SHA-256 of its token.
    pub token_hash: [u8; 32],
    /// Unix ms.
    pub created_at: i64,
    /// Last connection, unix ms.
    pub last_seen: Option<i64>,
    /// When revoked, unix ms.
    pub revoked_at: Option<i64>,
    /// A pupil session's device: its scope (core's `PupilScope` as JSON), from the code it
    /// enrolled with. None for a staff member's own device.
    pub scope: Option<String>,
    /// Its outbox as it last reported it (None: it never did; devices built before the
    /// report send none).
    pub outbox: Option<DeviceOutbox>,
}

/// A device's outbox as it reported it (docs/protocol.md, "Outbox state"): counts only,
/// bounded when taken in (core's `OutboxState::clamped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceOutbox {
    /// Documents with changes the server has not acknowledged.
    pub pending: u64,
    /// Changes refused for good, kept on the device for their author.
    pub not_accepted: u64,
    /// When the oldest waiting change was made, unix ms of the server's clock (the report's
    /// time less the age the device gave); None when nothing waits.
    pub oldest_at: Option<i64>,
    /// When the server got the report, unix ms.
    pub reported_at: i64,
}

impl DeviceOutbox {
    /// A report received at `now` (bounded first).
    pub fn reported(state: omkijken_core::sync::OutboxState, now: i64) -> DeviceOutbox {
        let s = state.clamped();
        DeviceOutbox {
            pending: s.pending,
            not_accepted: s.not_accepted,
            oldest_at: s
                .oldest_age
                .map(|a| now.saturating_sub(i64::try_from(a).unwrap_or(i64::MAX))),
            reported_at: now,
        }
    }
}

impl Device {
    /// The pupil session scope of this device: `Ok(None)` for a staff device, `Corrupt` for
    /// a scope that does not read (the device is then refused: fail closed).
    pub fn pupil_scope(&self) -> crate::Result<Option<omkijken_core::model::PupilScope>> {
        match &self.scope {
            None => Ok(None),
            Some(s) => omkijken_core::model::PupilScope::from_json(s)
                .map(Some)
                .ok_or(crate::Error::Corrupt("a pupil session's scope")),
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("school", &self.school)
            .field("user", &self.user)
            .field("revoked", &self.revoked_at.is_some())
            .field("pupil_session", &self.scope.is_some())
            .finish_non_exhaustive()
    }
}

/// A one-time enrollment code, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentCode {
    /// SHA-256 of the normalised code.
    pub code_hash: [u8; 32],
    /// School.
    pub school: String,
    /// Staff id the device will belong to.
    pub user: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which the code is refused.
    pub expires_at: i64,
    /// For a pupil session: the scope its device gets (core's `PupilScope` as JSON).
    pub scope: Option<String>,
}

/// A device to create when spending an enrollment code.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Device id.
    pub id: String,
    /// Actor id.
    pub actor: Vec<u8>,
    /// Label.
    pub label: String,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
}

impl NewDevice {
    /// The device as enrolled for `user` of `school` at `now`.
    pub fn enrolled(
        &self,
        school: String,
        user: String,
        scope: Option<String>,
        now: i64,
    ) -> Device {
        Device {
            id: self.id.clone(),
            school,
            user,
            actor: self.actor.clone(),
            label: self.label.clone(),
            token_hash: self.token_hash,
            created_at: now,
            last_seen: None,
            revoked_at: None,
            scope,
            outbox: None,
        }
    }

    /// The audit row of its enrollment.
    pub fn enroll_audit(&self, school: &str, user: &str, now: i64) -> AuditRecord {
        AuditRecord {
            device: Some(self.id.clone()),
            user: Some(user.into()),
            ..AuditRecord::new(now, school, AuditAction::Enroll)
        }
    }
}

impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDevice")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Outcome of [`Storage::enroll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// The code was spent and the device created.
    Enrolled(Box<Device>),
    /// Unknown, spent or expired code (one answer for all three). Nothing changed.
    BadCode,
    /// Another device already has this actor id. Nothing changed, the code is not spent.
    ActorTaken,
}
