//! Rules of the notes on a signal ([`SignalNotes`]: what those who follow a signal up write
//! for one another, which the signaller does not read for being its author).
//!
//! Who writes is the access rules' business (the signal's mentors and the care team of its
//! route, and on the board route the school leader and the readers the school leader adds).
//! On top:
//! - the document is the signal's own: its id, header and first change are the
//!   deterministic genesis of the signal's school, pupil, id, category and urgency (the one
//!   change not made by the writer's device), so its access is the signal's and never
//!   changes;
//! - notes are only appended, never changed or removed; a new one is a `follow_up` in the
//!   writer's own name, with an id of its own;
//! - readers are added on the board route by the school leader only, and never removed.

use super::signal::{EntryNames, new_entries, readers_added};
use super::{Ctx, Refusal, at_most, genesis_of, short};
use crate::doc;
use crate::ids::DocumentId;
use crate::model::{FollowUpKind, Header, SignalNotes};
use automerge::ChangeHash;
use std::str::FromStr;

/// Notes on one signal.
pub const MAX_NOTES: usize = 1_000;

/// The hash of the notes' genesis change (which any device may bring), if `header` and `id`
/// are the deterministic ones of the signal `after` names.
pub fn genesis(
    header: &Header,
    id: DocumentId,
    after: &SignalNotes,
) -> Result<Option<ChangeHash>, Refusal> {
    short("signal", &after.signal)?;
    short("category", &after.category)?;
    let not_its_own = Refusal::Invalid("a signal's notes are that signal's");
    let pupil = header.pupil.as_deref().ok_or(not_its_own)?;
    let signal = DocumentId::from_str(&after.signal).map_err(|_| not_its_own)?;
    let school = &header.school;
    let genesis = doc::signal_notes_genesis(school, pupil, signal, &after.category, after.urgency);
    let own = doc::signal_notes_header(school, pupil);
    genesis_of(id, header, genesis, &own, not_its_own)
}

/// The rules of a signal's notes (see the module docs; [`genesis`] checked that they are
/// the signal's). `before` is None for new notes.
pub fn admit(
    ctx: &Ctx<'_>,
    before: Option<&SignalNotes>,
    after: &SignalNotes,
) -> Result<(), Refusal> {
    at_most("notes", &after.notes, MAX_NOTES)?;
    at_most(
        "added readers",
        &after.added_readers,
        super::signal::MAX_READERS,
    )?;
    let old = before.map_or(&[][..], |b| &b.notes[..]);
    for n in new_entries(ctx, &NOTES, old, &after.notes)? {
        if FollowUpKind::parse(&n.kind) != Some(FollowUpKind::FollowUp) {
            return Err(Refusal::Invalid(
                "a signal's notes are follow_up entries (status goes on the signal)",
            ));
        }
    }
    let old_readers = before.map_or(&[][..], |b| &b.added_readers[..]);
    readers_added(ctx, &after.category, old_readers, &after.added_readers)
}

const NOTES: EntryNames = EntryNames {
    list: "notes",
    id: "note id",
    unique: "note ids are unique",
    author: "note author",
};
