//! Conversation (kindgesprek) rules.
//!
//! Who writes is the access rules' business: a private working note is its author's alone,
//! a shared one the author's, the pupil's mentors' and, for a pupil in care, the care
//! team's; all of them edit answers, notes, participants and agreements together. On top:
//! - a shared conversation stays shared (it is part of the pupil's dossier, and of the
//!   parents' inzage); only its author shares it (the access rules: a private note is the
//!   author's alone);
//! - status is draft or final, visibility private or shared, the date a date;
//! - an agreement is added in the writer's own name (`by`) and keeps it.

use super::{Ctx, Refusal, agreements, at_most, short};
use crate::model::{Conversation, Visibility, check_date};

/// Participants of one conversation.
pub const MAX_PARTICIPANTS: usize = 100;
/// Answers (questions) of one conversation.
pub const MAX_ANSWERS: usize = 100;
/// Agreements of one conversation.
pub const MAX_AGREEMENTS: usize = 500;

/// The conversation rules (see the module docs). `before` is None for a new conversation.
pub fn admit(
    ctx: &Ctx<'_>,
    before: Option<&Conversation>,
    after: &Conversation,
) -> Result<(), Refusal> {
    at_most("participants", &after.participants, MAX_PARTICIPANTS)?;
    at_most("agreements", &after.agreements, MAX_AGREEMENTS)?;
    if after.answers.len() > MAX_ANSWERS {
        return Err(Refusal::TooLarge("answers"));
    }
    for s in [&after.held_on, &after.template_id, &after.status] {
        short("a short field", s)?;
    }
    if !matches!(after.status.as_str(), "draft" | "final")
        || !matches!(after.visibility.as_str(), "private" | "shared")
        || check_date("held_on", &after.held_on).is_err()
    {
        return Err(Refusal::Invalid(
            "status, visibility or date of a conversation",
        ));
    }
    if before.is_some_and(|b| b.visibility() == Visibility::Shared)
        && after.visibility() != Visibility::Shared
    {
        return Err(Refusal::Changed("the sharing of a conversation"));
    }
    agreements(
        ctx,
        before.map_or(&[][..], |b| &b.agreements[..]),
        &after.agreements,
    )
}
