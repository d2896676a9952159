//! Signal rules (DOMAIN.md: "Once shared, a signal is append-only"; urgency 1-3: "author
//! (append only); follow-ups by mentors and care team").
//!
//! - A draft (not yet shared) is changed by its author only: nobody else adds to it either.
//! - Once shared, the original (facts, interpretation, source, quote, category, urgency,
//!   times, place, flag) never changes and the signal stays shared.
//! - Follow-ups are only ever appended: an existing one is never changed or removed. A new
//!   one is in the writer's own name, of a known kind, with an id of its own. The signal is
//!   what its author reads, so what others append to it is what she may know (DOMAIN.md:
//!   "the signaller gets feedback that it was picked up"):
//!   - `correction`, `follow_up`: the author's (the notes of mentors and the care team go
//!     in the signal's own notes document, [`crate::model::SignalNotes`], which she does not
//!     read for being its author);
//!   - `picked_up`, `closed` (status, what the signaller reads back): the care team of the
//!     signal's route: the care coordinators, for bullying also the anti-bullying
//!     coordinator, for staff misconduct the school leader; no text of their own (empty,
//!     or one of the fixed [`crate::model::signal::STATUS_TEXTS`]);
//!   - `to_signaller`: a note addressed to the signaller, by anyone else who may write the
//!     signal.
//! - Readers are added to a staff-misconduct signal by the school leader only, and never
//!   removed.

use super::{Ctx, Refusal, appended, at_most, short};
use crate::defaults::{self, Route};
use crate::model::signal::STATUS_TEXTS;
use crate::model::{FollowUp, FollowUpKind, Role, Signal, SourceKind, Staff};

/// Follow-ups of one signal.
pub const MAX_FOLLOW_UPS: usize = 1_000;
/// Readers added to a staff-misconduct signal.
pub const MAX_READERS: usize = 200;

/// Whether `staff` is the care team of signals of `category`: who sets their status.
pub fn handles(staff: &Staff, category: &str) -> bool {
    match defaults::category(category).map(|c| c.route) {
        Some(Route::BoardRoute) => staff.has(Role::SchoolLeader),
        Some(Route::AntiBullying) => {
            staff.has(Role::CareCoordinator) || staff.has(Role::AntiBullyingCoordinator)
        }
        Some(Route::Normal | Route::Meldcode) => staff.has(Role::CareCoordinator),
        None => false,
    }
}

/// The signal rules (see the module docs). `before` is None for a new signal.
pub fn admit(ctx: &Ctx<'_>, before: Option<&Signal>, after: &Signal) -> Result<(), Refusal> {
    at_most("follow-ups", &after.follow_ups, MAX_FOLLOW_UPS)?;
    at_most("added readers", &after.added_readers, MAX_READERS)?;
    for s in [&after.category, &after.source.kind, &after.context.place] {
        short("a short field", s)?;
    }
    if SourceKind::parse(&after.source.kind).is_none() {
        return Err(Refusal::Invalid("source must be seen, heard or told_by"));
    }
    if let Some(i) = &after.interpretation {
        // An interpretation says whose it is: written by the author, the author's.
        if before.is_none_or(|b| b.interpretation.as_ref() != Some(i)) {
            ctx.own_name("interpretation.by", &i.by)?;
        }
    }
    if let Some(b) = before {
        if !b.shared && !ctx.is_author() && b != after {
            return Err(Refusal::NotForRole(
                "only its author changes a draft signal",
            ));
        }
        if b.shared && (!after.shared || !b.same_original(after)) {
            return Err(Refusal::Changed("the original of a shared signal"));
        }
    }
    let old = before.map_or(&[][..], |b| &b.follow_ups[..]);
    for f in new_entries(ctx, &FOLLOW_UPS, old, &after.follow_ups)? {
        match FollowUpKind::parse(&f.kind) {
            None => return Err(Refusal::Invalid("unknown follow-up kind")),
            Some(FollowUpKind::Correction) if !ctx.is_author() => {
                return Err(Refusal::NotForRole("a correction is its author's"));
            }
            Some(FollowUpKind::FollowUp) if !ctx.is_author() => {
                return Err(Refusal::NotForRole(
                    "on the signal a follow-up is its author's: others write in its notes",
                ));
            }
            Some(FollowUpKind::ToSignaller) if ctx.is_author() => {
                return Err(Refusal::Invalid(
                    "a note to the signaller is for the author",
                ));
            }
            Some(FollowUpKind::PickedUp | FollowUpKind::Closed)
                if !handles(ctx.staff, &after.category) =>
            {
                return Err(Refusal::NotForRole("status entries are the care team's"));
            }
            Some(FollowUpKind::PickedUp | FollowUpKind::Closed)
                if !f.text.is_empty() && !STATUS_TEXTS.contains(&f.text.as_str()) =>
            {
                return Err(Refusal::Invalid(
                    "a status entry has no text of its own (a note to the signaller has)",
                ));
            }
            Some(_) => {}
        }
    }
    let old_readers = before.map_or(&[][..], |b| &b.added_readers[..]);
    readers_added(ctx, &after.category, old_readers, &after.added_readers)
}

/// How a list of entries is named in refusals.
pub(super) struct EntryNames {
    /// The list.
    pub list: &'static str,
    /// An entry's id.
    pub id: &'static str,
    /// The ids are unique.
    pub unique: &'static str,
    /// An entry's author.
    pub author: &'static str,
}

const FOLLOW_UPS: EntryNames = EntryNames {
    list: "follow-ups",
    id: "follow-up id",
    unique: "follow-up ids are unique",
    author: "follow-up author",
};

/// The entries `after` appends to `old` (which it keeps, unchanged): each with an id of its
/// own, in the writer's own name.
pub(super) fn new_entries<'a>(
    ctx: &Ctx<'_>,
    names: &EntryNames,
    old: &[FollowUp],
    after: &'a [FollowUp],
) -> Result<Vec<&'a FollowUp>, Refusal> {
    let new = appended(names.list, old, after, |e| &e.id)?;
    let mut ids: std::collections::BTreeSet<&String> = old.iter().map(|o| &o.id).collect();
    for f in &new {
        short(names.id, &f.id)?;
        if !ids.insert(&f.id) {
            return Err(Refusal::Invalid(names.unique));
        }
        ctx.own_name(names.author, &f.author)?;
    }
    Ok(new)
}

/// Readers of a staff-misconduct signal (and of its notes): only a school leader adds them,
/// and nobody removes one.
pub(super) fn readers_added(
    ctx: &Ctx<'_>,
    category: &str,
    old: &[String],
    after: &[String],
) -> Result<(), Refusal> {
    if after == old {
        return Ok(());
    }
    let board = defaults::category(category).is_some_and(|c| c.route == Route::BoardRoute);
    if !board || !old.iter().all(|r| after.contains(r)) {
        return Err(Refusal::Changed("added readers"));
    }
    if !ctx.staff.has(Role::SchoolLeader) {
        return Err(Refusal::NotForRole("only the school leader adds readers"));
    }
    Ok(())
}
