//! Enrollment codes, OIDC tickets and revoking a device.

use super::roster::roster;
use super::{audit, event};
use crate::storage::{AdminEventKind, AuditAction, Batch, EnrollmentCode, Storage};
use crate::{Error, Result, tokens};
use rand::RngCore;

/// Issue a one-time enrollment code for staff member `user` of `school`, valid `ttl_ms`.
/// The code is returned once; only its hash is stored.
pub fn issue_code(
    st: &mut dyn Storage,
    rng: &mut dyn RngCore,
    now: i64,
    school: &str,
    user: &str,
    ttl_ms: i64,
) -> Result<String> {
    let staff = Staff::check(st, school, user)?;
    let code = tokens::new_code(rng);
    staff.store_code(st, now, ttl_ms, tokens::code_hash(&code), None)?;
    Ok(code)
}

/// A one-time enrollment ticket for staff member `user` of `school` that a device redeems
/// with the verifier of `challenge` (`omkijken_core::invite::oidc`): after the staff member
/// signed in through the school's identity provider. Audited as `code_issued` of kind `oidc`.
pub fn issue_oidc_ticket(
    st: &mut dyn Storage,
    now: i64,
    school: &str,
    user: &str,
    ttl_ms: i64,
    challenge: &str,
) -> Result<()> {
    let staff = Staff::check(st, school, user)?;
    staff.store_code(st, now, ttl_ms, tokens::code_hash(challenge), Some("oidc"))
}

/// The staff member's school on this server: the one school whose roster has `user` as an
/// active staff member (`NotFound` for none; `Invalid` for several, which a staff id that
/// two schools share would be).
pub fn school_of_staff(st: &mut dyn Storage, user: &str) -> Result<String> {
    let mut found = vec![];
    for school in st.schools()? {
        let roster = roster(st, &school.id)?;
        if roster.active_staff(user).is_some() {
            found.push(school.id);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::NotFound("active staff member in the roster")),
        _ => Err(Error::Invalid(
            "the staff id is in several schools' rosters".into(),
        )),
    }
}

/// An active staff member of a school, as its roster says: whom a code may be issued to.
struct Staff<'a> {
    school: &'a str,
    user: &'a str,
}

impl<'a> Staff<'a> {
    /// Staff member `user` of `school` (`NotFound` unless active in its roster).
    fn check(st: &mut dyn Storage, school: &'a str, user: &'a str) -> Result<Self> {
        let roster = roster(st, school)?;
        if roster.active_staff(user).is_none() {
            return Err(Error::NotFound("active staff member in the roster"));
        }
        Ok(Staff { school, user })
    }

    /// Store a one-time code for them by its hash, valid `ttl_ms` from `now`; audited as
    /// `code_issued` (of `kind`).
    fn store_code(
        &self,
        st: &mut dyn Storage,
        now: i64,
        ttl_ms: i64,
        code_hash: [u8; 32],
        kind: Option<&str>,
    ) -> Result<()> {
        let (school, user) = (self.school, self.user);
        let mut a = audit(now, school, AuditAction::CodeIssued);
        a.user = Some(user.into());
        a.kind = kind.map(Into::into);
        st.commit(Batch {
            codes: vec![EnrollmentCode {
                code_hash,
                school: school.into(),
                user: user.into(),
                created_at: now,
                expires_at: now + ttl_ms,
                scope: None,
            }],
            audit: vec![a],
            ..Default::default()
        })?;
        Ok(())
    }
}

/// Revoke a device. Returns false if it was revoked already.
pub fn revoke(st: &mut dyn Storage, now: i64, device: &str) -> Result<bool> {
    let d = st.device(device)?.ok_or(Error::NotFound("device"))?;
    if d.revoked_at.is_some() {
        return Ok(false);
    }
    let mut a = audit(now, &d.school, AuditAction::Revoke);
    a.device = Some(d.id.clone());
    a.user = Some(d.user.clone());
    st.commit(Batch {
        revoke: vec![(d.id.clone(), now)],
        events: vec![event(
            now,
            AdminEventKind::Revoke,
            Some(&d.school),
            Some(&d.id),
        )],
        audit: vec![a],
        ..Default::default()
    })?;
    Ok(true)
}
