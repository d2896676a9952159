//! A pupil's care track set or ended from the console or CLI ([`set_care_track`]).

use super::audit;
use super::roster::update_roster;
use crate::storage::{AuditAction, Batch, Storage};
use crate::{Error, Result};
use automerge::ActorId;

/// Why a care track was opened or closed (a code, never free text: the audit log holds no
/// content).
pub const CARE_TRACK_REASONS: [&str; 7] = [
    "signal",
    "care_meeting",
    "parents",
    "external",
    "goals_met",
    "moved_school",
    "other",
];

/// A care track opened or closed: whose, which way, and the reason code
/// ([`CARE_TRACK_REASONS`]).
#[derive(Debug, Clone, Copy)]
pub struct CareTrackChange<'a> {
    /// The pupil.
    pub pupil: &'a str,
    /// Opened (true) or closed.
    pub in_care: bool,
    /// One of [`CARE_TRACK_REASONS`].
    pub reason: &'a str,
}

/// Open or close a pupil's care track (zorgtraject) at the care team's decision: the roster
/// changes at once and access follows (the pupil's shared notes reach the care team, or are
/// purged from it), with an audit row naming who decided (`by`: device and staff id; None:
/// the admin) and the reason code, the roster written by `actor`. Returns whether anything
/// changed.
pub fn set_care_track(
    st: &mut dyn Storage,
    now: i64,
    school: &str,
    change: CareTrackChange<'_>,
    by: Option<(&str, &str)>,
    actor: &ActorId,
) -> Result<bool> {
    let CareTrackChange {
        pupil,
        in_care,
        reason,
    } = change;
    if !CARE_TRACK_REASONS.contains(&reason) {
        return Err(Error::Invalid(format!(
            "reason must be one of {}",
            CARE_TRACK_REASONS.join(", ")
        )));
    }
    let (changed, _, _) = update_roster(st, actor, now, school, |old| {
        let mut new = old.clone();
        let p = new
            .pupils
            .get_mut(pupil)
            .filter(|p| p.active)
            .ok_or(Error::NotFound("pupil"))?;
        p.in_care = in_care;
        Ok(new)
    })?;
    if changed {
        let action = if in_care {
            AuditAction::CareTrackOpened
        } else {
            AuditAction::CareTrackClosed
        };
        let mut a = audit(now, school, action);
        a.pupil = Some(pupil.into());
        a.kind = Some(reason.into());
        a.device = by.map(|b| b.0.to_string());
        a.user = by.map(|b| b.1.to_string());
        st.commit(Batch {
            audit: vec![a],
            ..Default::default()
        })?;
    }
    Ok(changed)
}
