//! Excursion rules.
//!
//! Who writes is the access rules' business (the organiser; the staff on the trip read).
//! On top: a valid trip ([`Excursion::check`]: a name, dates, contacts with a name and a
//! phone number) within its limits. The organiser's device checks more before it writes
//! ([`Excursion::check_plan`]: the order of the dates, nobody listed twice), which two
//! concurrent edits can break without either being wrong, so the server does not.

use super::{Ctx, Refusal, at_most, short};
use crate::model::Excursion;

/// Pupils on one trip.
pub const MAX_PARTICIPANTS: usize = 2_000;
/// Staff on one trip.
pub const MAX_STAFF: usize = 200;
/// Contacts of one trip.
pub const MAX_CONTACTS: usize = 500;

/// The excursion rules (see the module docs). `before` is None for a new excursion.
pub fn admit(
    _ctx: &Ctx<'_>,
    _before: Option<&Excursion>,
    after: &Excursion,
) -> Result<(), Refusal> {
    at_most("participants", &after.participants, MAX_PARTICIPANTS)?;
    at_most("staff", &after.staff, MAX_STAFF)?;
    at_most("contacts", &after.contacts, MAX_CONTACTS)?;
    for s in after.participants.iter().chain(&after.staff) {
        short("a pupil or staff id", s)?;
    }
    after.check().map_err(Refusal::Invalid)
}
