//! Meldcode case rules.
//!
//! Who writes is the access rules' business (the care team). On top:
//! - the case is valid on its own ([`Case::check`]: steps 1-5 with dates and an outcome
//!   or a reason for skipping, a known weighing, a closed case has monitoring agreements);
//! - it keeps what was recorded ([`Case::follows`]: step entries, linked signals and
//!   monitoring agreements are only added, the opening time stays, closed stays closed);
//! - a new step entry, and a weighing that changes, are in the writer's own name (`by`).

use super::{Ctx, Refusal, appended, at_most, short};
use crate::model::Case;

/// Signals linked to one case.
pub const MAX_SIGNALS: usize = 500;
/// Step entries of one case.
pub const MAX_STEPS: usize = 1_000;
/// Monitoring agreements of one case.
pub const MAX_MONITORING: usize = 500;
/// Participants of one step entry.
pub const MAX_PARTICIPANTS: usize = 100;

/// The case rules (see the module docs). `before` is None for a new case.
pub fn admit(ctx: &Ctx<'_>, before: Option<&Case>, after: &Case) -> Result<(), Refusal> {
    at_most("linked signals", &after.signals, MAX_SIGNALS)?;
    at_most("step entries", &after.steps, MAX_STEPS)?;
    at_most("monitoring agreements", &after.monitoring, MAX_MONITORING)?;
    for s in &after.signals {
        short("linked signal", s)?;
    }
    after.check().map_err(Refusal::Invalid)?;
    if let Some(b) = before {
        after.follows(b).map_err(Refusal::Invalid)?;
    }
    let old = before.map_or(&[][..], |b| &b.steps[..]);
    for s in appended("step entries", old, &after.steps, |e| &e.id)? {
        short("step id", &s.id)?;
        at_most("participants", &s.participants, MAX_PARTICIPANTS)?;
        ctx.own_name("step entry by", &s.by)?;
    }
    if let Some(w) = &after.weighing
        && before.is_none_or(|b| b.weighing.as_ref() != Some(w))
    {
        ctx.own_name("weighing by", &w.by)?;
    }
    Ok(())
}
