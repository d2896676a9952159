//! Oudercontact rules.
//!
//! Who writes is the access rules' business: the author, the pupil's current mentors and,
//! for a pupil in care, the care team (as a shared kindgesprek). On top:
//! - a new oudercontact is recorded by one of the pupil's mentors or, for a pupil in care, the
//!   care team: being its author alone is not enough to create one (a teacher who is not the
//!   pupil's mentor records a signal instead);
//! - the date is a date, the channel and the parents' roles known ones, the status draft or
//!   final, and a final one stays final;
//! - a parent is recorded by role, with a name only when the school's roster says it records
//!   names (`Roster::parent_names`); a name recorded before the school stopped doing so stays;
//! - staff present are active staff of the school;
//! - an agreement is added in the writer's own name (`by`) and keeps it.

use super::{Ctx, Refusal, agreements, at_most, short};
use crate::access::dossier_team;
use crate::model::parent_contact::{CHANNELS, PARENT_ROLES};
use crate::model::{ConversationStatus, ParentContact, check_date};

/// Staff present at one contact.
pub const MAX_STAFF: usize = 50;
/// Parents present at one contact.
pub const MAX_PARENTS: usize = 20;
/// Agreements of one contact.
pub const MAX_AGREEMENTS: usize = 500;

/// The oudercontact rules (see the module docs). `before` is None for a new contact.
pub fn admit(
    ctx: &Ctx<'_>,
    before: Option<&ParentContact>,
    after: &ParentContact,
) -> Result<(), Refusal> {
    at_most("staff present", &after.staff, MAX_STAFF)?;
    at_most("parents present", &after.parents, MAX_PARENTS)?;
    at_most("agreements", &after.agreements, MAX_AGREEMENTS)?;
    for s in [&after.held_on, &after.channel, &after.status] {
        short("a short field", s)?;
    }
    if before.is_none() {
        let pupil = ctx.header.pupil.as_deref().unwrap_or_default();
        if !dossier_team(ctx.writer.roster, ctx.staff, pupil) {
            return Err(Refusal::NotForRole(
                "only the pupil's mentors and care team record a parent contact",
            ));
        }
    }
    if !matches!(after.status.as_str(), "draft" | "final")
        || !CHANNELS.contains(&after.channel.as_str())
        || check_date("held_on", &after.held_on).is_err()
    {
        return Err(Refusal::Invalid(
            "status, channel or date of a parent contact",
        ));
    }
    if before.is_some_and(|b| b.status() == ConversationStatus::Final)
        && after.status() != ConversationStatus::Final
    {
        return Err(Refusal::Changed("the final status of a parent contact"));
    }
    for s in &after.staff {
        short("staff present", s)?;
        if !ctx.writer.roster.staff.contains_key(s) {
            return Err(Refusal::Invalid(
                "staff present must be staff of the school",
            ));
        }
    }
    let old_parents = before.map_or(&[][..], |b| &b.parents[..]);
    for p in &after.parents {
        short("parent role", &p.role)?;
        if !PARENT_ROLES.contains(&p.role.as_str()) {
            return Err(Refusal::Invalid("a parent's role"));
        }
        if let Some(n) = &p.name {
            short("parent name", n)?;
            if !ctx.writer.roster.parent_names && !old_parents.contains(p) {
                return Err(Refusal::Invalid(
                    "parents' names are not recorded at this school",
                ));
            }
        }
    }
    agreements(
        ctx,
        before.map_or(&[][..], |b| &b.agreements[..]),
        &after.agreements,
    )
}
