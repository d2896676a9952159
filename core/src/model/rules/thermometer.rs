//! Thermometer month rules.
//!
//! Who writes is the access rules' business (the pupil's mentors and the teachers of the
//! pupil's group). On top:
//! - the document is the pupil's month: its id, header and first change are the month's
//!   deterministic genesis (the one change not made by the writer's device);
//! - entries are only appended, never changed or removed; a new entry is recorded in the
//!   writer's own name (`recorded_by`), with an id of its own, on a known scale with a
//!   score and emotion words that scale offers.

use super::{Ctx, Refusal, appended, at_most, short};
use crate::defaults;
use crate::doc;
use crate::ids::DocumentId;
use crate::model::{Header, ThermometerMonth};
use automerge::ChangeHash;

/// Entries of one pupil in one month.
pub const MAX_ENTRIES: usize = 3_000;
/// Emotion words of one entry.
pub const MAX_EMOTIONS: usize = 16;

/// The hash of the month's genesis change (which any device may bring), if `header` and
/// `id` are the deterministic ones of the month `after` holds.
pub fn genesis(
    header: &Header,
    id: DocumentId,
    after: &ThermometerMonth,
) -> Result<Option<ChangeHash>, Refusal> {
    short("month", &after.month)?;
    let not_the_month = Refusal::Invalid("a thermometer month is its pupil's month");
    let pupil = header.pupil.as_deref().ok_or(not_the_month)?;
    let school = &header.school;
    match doc::thermometer_genesis(school, pupil, &after.month) {
        Ok((gid, g))
            if gid == id && *header == doc::thermometer_header(school, pupil, &after.month) =>
        {
            Ok(g.get_heads().first().copied())
        }
        _ => Err(not_the_month),
    }
}

/// The thermometer rules (see the module docs; [`genesis`] checked the month itself).
/// `before` is None for a new month.
pub fn admit(
    ctx: &Ctx<'_>,
    before: Option<&ThermometerMonth>,
    after: &ThermometerMonth,
) -> Result<(), Refusal> {
    at_most("entries", &after.entries, MAX_ENTRIES)?;
    let old = before.map_or(&[][..], |b| &b.entries[..]);
    let new = appended("thermometer entries", old, &after.entries, |e| &e.id)?;
    let mut ids: std::collections::BTreeSet<&String> = old.iter().map(|o| &o.id).collect();
    for e in &new {
        short("entry id", &e.id)?;
        at_most("emotions", &e.emotions, MAX_EMOTIONS)?;
        if !ids.insert(&e.id) {
            return Err(Refusal::Invalid("entry ids are unique"));
        }
        ctx.own_name("entry recorded_by", &e.recorded_by)?;
        let valid =
            defaults::scale(&e.scale).is_some_and(|s| s.validate(e.score, &e.emotions).is_ok());
        if !valid {
            return Err(Refusal::Invalid("an entry's scale, score or emotion words"));
        }
    }
    Ok(())
}
