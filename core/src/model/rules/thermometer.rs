//! Thermometer month rules.
//!
//! Who writes is the access rules' business (the pupil's mentors and the teachers of the
//! pupil's group). On top:
//! - the document is the pupil's month: its id, header and first change are the month's
//!   deterministic genesis (the one change not made by the writer's device);
//! - entries are only appended, never changed or removed; a new entry is recorded in the
//!   writer's own name (`recorded_by`), with an id of its own, on a known scale with a
//!   score and emotion words that scale offers;
//! - an entry the pupil entered herself (`source` pupil) comes from a pupil session of the
//!   writer (its `session`), and a pupil session adds only such entries, for a pupil of its
//!   group, on the scale of her age band, with no note (pupil mode: docs/mobile.md);
//! - an answer to a request to talk is added in the writer's own name (never by a pupil
//!   session), for an entry of the month that asks to talk, with a date; an answer is never
//!   removed, and one that changes (two answers to one request made offline: Automerge keeps
//!   one) is the writer's own.

use super::{Ctx, Refusal, appended, at_most, genesis_of, short};
use crate::defaults;
use crate::doc;
use crate::ids::DocumentId;
use crate::model::{Header, Roster, ThermometerEntry, ThermometerMonth};
use automerge::ChangeHash;

/// Entries of one pupil in one month.
pub const MAX_ENTRIES: usize = 3_000;
/// Emotion words of one entry.
pub const MAX_EMOTIONS: usize = 16;

/// The hash of the month's genesis change (which any device may bring), if `header` and
/// `id` are the deterministic ones of the month `after` holds, under the pupil's erasures in
/// `roster` so far or fewer ([`doc::thermometer_id`]). Fewer: a device that recorded offline
/// before it learnt of an erasure wrote under the ids before it; where that id was erased the
/// write is refused as any under an erased id, where it was not (a month the erasure did not
/// find) it is kept, so no reading is lost.
pub fn genesis(
    header: &Header,
    id: DocumentId,
    after: &ThermometerMonth,
    roster: &Roster,
) -> Result<Option<ChangeHash>, Refusal> {
    short("month", &after.month)?;
    let not_the_month = Refusal::Invalid("a thermometer month is its pupil's month");
    let pupil = header.pupil.as_deref().ok_or(not_the_month)?;
    let school = &header.school;
    let erasures = roster.pupils.get(pupil).map_or(0, |p| p.erasures);
    let erasures = (0..=erasures)
        .rev()
        .find(|n| doc::thermometer_id(school, pupil, &after.month, *n) == id)
        .ok_or(not_the_month)?;
    let genesis = doc::thermometer_genesis(school, pupil, &after.month, erasures);
    let own = doc::thermometer_header(school, pupil, &after.month);
    genesis_of(id, header, genesis, &own, not_the_month)
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
        pupil_entry(ctx, e)?;
        let valid =
            defaults::scale(&e.scale).is_some_and(|s| s.validate(e.score, &e.emotions).is_ok());
        if !valid {
            return Err(Refusal::Invalid("an entry's scale, score or emotion words"));
        }
    }
    answers(ctx, before, after)
}

/// A pupil session adds only entries its pupils entered themselves; nobody else adds one
/// that says so.
fn pupil_entry(ctx: &Ctx<'_>, e: &ThermometerEntry) -> Result<(), Refusal> {
    let Some(scope) = ctx.writer.pupil_session else {
        if e.by_pupil() || e.session.is_some() {
            return Err(Refusal::NotForRole(
                "only a pupil session records a pupil's own reading",
            ));
        }
        return Ok(());
    };
    if !e.by_pupil() || e.session.as_deref() != Some(scope.session.as_str()) {
        return Err(Refusal::NotForRole(
            "a pupil session records pupils' own readings in its own name",
        ));
    }
    if e.note.is_some() {
        return Err(Refusal::NotForRole("a pupil's reading has no note"));
    }
    let pupil = ctx
        .header
        .pupil
        .as_deref()
        .and_then(|p| ctx.writer.roster.pupils.get(p))
        .filter(|p| p.active && p.group == scope.group)
        .ok_or(Refusal::NotForRole("a pupil of the session's group"))?;
    if scope.scale_for(&pupil.age_band) != Some(e.scale.as_str()) {
        return Err(Refusal::Invalid(
            "a pupil's reading is on her age band's scale",
        ));
    }
    short("entry session", &scope.session)
}

/// Answers to requests to talk: see the module docs.
fn answers(
    ctx: &Ctx<'_>,
    before: Option<&ThermometerMonth>,
    after: &ThermometerMonth,
) -> Result<(), Refusal> {
    at_most("answers", &after.answers, MAX_ENTRIES)?;
    let old = before.map_or(&[][..], |b| &b.answers[..]);
    for o in old {
        match after.answer(&o.entry) {
            None => return Err(Refusal::Changed("answers to requests to talk")),
            Some(a) if a == o => {}
            Some(a) => {
                if ctx.writer.pupil_session.is_some() {
                    return Err(Refusal::NotForRole("a pupil session answers nothing"));
                }
                ctx.own_name("answer by", &a.by)?;
            }
        }
    }
    for a in &after.answers {
        if old.iter().any(|o| o.entry == a.entry) {
            continue;
        }
        if ctx.writer.pupil_session.is_some() {
            return Err(Refusal::NotForRole("a pupil session answers nothing"));
        }
        ctx.own_name("answer by", &a.by)?;
        short("answer entry", &a.entry)?;
        short("answer date", &a.on)?;
        if let Some(c) = &a.conversation {
            short("answer conversation", c)?;
        }
        if a.on.parse::<jiff::civil::Date>().is_err() {
            return Err(Refusal::Invalid("an answer's date is YYYY-MM-DD"));
        }
        if !after
            .entries
            .iter()
            .any(|e| e.id == a.entry && e.wants_to_talk)
        {
            return Err(Refusal::Invalid(
                "an answer is to a request to talk of its month",
            ));
        }
    }
    Ok(())
}
