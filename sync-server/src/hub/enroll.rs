//! Enrollment: a one-time code for a device token.

use super::{Hub, error_frame};
use crate::storage::{EnrollOutcome, NewDevice};
use crate::tokens;
use omkijken_core::sync::{ErrorCode, Frame};

impl Hub {
    /// Answer an `enroll` frame: `enrolled` with a new device token, or an error frame.
    pub fn enroll(&mut self, now: i64, frame: Frame) -> Frame {
        let Frame::Enroll { code, actor, label } = frame else {
            return error_frame(ErrorCode::Malformed, "expected an enroll frame");
        };
        let actor = match hex::decode(actor.trim()) {
            Ok(a) if a.len() == 16 => a,
            _ => return error_frame(ErrorCode::Malformed, "actor must be 16 bytes in hex"),
        };
        let token = tokens::new_token(&mut self.rng);
        let device = NewDevice {
            id: tokens::new_device_id(&mut self.rng),
            actor,
            label: label.chars().take(64).collect(),
            token_hash: tokens::token_hash(&token),
        };
        // A device enrolling through the identity provider presents its verifier; the
        // server stored the ticket under the challenge (`console::oidc`).
        let hash = if omkijken_core::invite::oidc::is_verifier(&code) {
            tokens::code_hash(&omkijken_core::invite::oidc::challenge(&code))
        } else {
            tokens::code_hash(&code)
        };
        match self.storage.enroll(&hash, now, &device) {
            Ok(EnrollOutcome::Enrolled(d)) => {
                tracing::info!(device = %d.id, school = %d.school, "device enrolled");
                Frame::Enrolled {
                    token,
                    school: d.school,
                    user: d.user,
                    device: d.id,
                }
            }
            Ok(EnrollOutcome::BadCode) => error_frame(
                ErrorCode::BadEnrollmentCode,
                "unknown, used or expired enrollment code",
            ),
            Ok(EnrollOutcome::ActorTaken) => {
                error_frame(ErrorCode::Malformed, "this actor id is already enrolled")
            }
            Err(e) => {
                tracing::error!(error = %e, "enrollment failed");
                error_frame(ErrorCode::Internal, "server error")
            }
        }
    }
}
