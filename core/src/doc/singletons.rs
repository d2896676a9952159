//! Documents every device creates alike: deterministic ids, headers and genesis changes of
//! the roster (and each member's view of it), thermometer months, a signal's notes and a
//! pupil's sociogram answers, so that devices working offline make the same change.

use super::genesis_singleton;
use crate::Result;
use crate::ids::DocumentId;
use crate::model::{Header, Kind, Record, Roster, SignalNotes, SociogramAnswers, ThermometerMonth};
use automerge::Automerge;

/// The deterministic id of the notes on a signal ([`SignalNotes`]): from the signal's
/// school, pupil, id, category and urgency (its access), which never change once shared.
pub fn signal_notes_id(
    school: &str,
    pupil: &str,
    signal: DocumentId,
    category: &str,
    urgency: u8,
) -> DocumentId {
    DocumentId::derived(&[
        "signal-notes",
        school,
        pupil,
        &signal.to_string(),
        category,
        &urgency.to_string(),
    ])
}

/// The header of a signal's notes (deterministic: the system's, like a thermometer month).
pub fn signal_notes_header(school: &str, pupil: &str) -> Header {
    Header::new(Kind::SignalNotes, school, Some(pupil), "system", 0)
}

/// The genesis of the notes on the shared signal `signal` (of `school` and `pupil`, with
/// its `category` and `urgency`): the same document on every device that starts it.
pub fn signal_notes_genesis(
    school: &str,
    pupil: &str,
    signal: DocumentId,
    category: &str,
    urgency: u8,
) -> Result<(DocumentId, Automerge)> {
    let id = signal_notes_id(school, pupil, signal, category, urgency);
    singleton(
        id,
        &signal_notes_header(school, pupil),
        &SignalNotes {
            signal: signal.to_string(),
            category: category.into(),
            urgency,
            notes: vec![],
            added_readers: vec![],
        },
    )
}

/// The deterministic id of a pupil's answers in a sociogram round: from the school, the
/// round, its group (their access) and the pupil.
pub fn sociogram_answers_id(
    school: &str,
    round: DocumentId,
    group: &str,
    pupil: &str,
) -> DocumentId {
    DocumentId::derived(&[
        "sociogram-answers",
        school,
        &round.to_string(),
        group,
        pupil,
    ])
}

/// The header of a pupil's sociogram answers (deterministic: the system's, like a
/// thermometer month).
pub fn sociogram_answers_header(school: &str, pupil: &str) -> Header {
    Header::new(Kind::SociogramAnswers, school, Some(pupil), "system", 0)
}

/// The genesis of a pupil's answers in round `round` of `group`: the same document on
/// every device that starts it (a mentor's phone, a pupil session).
pub fn sociogram_answers_genesis(
    school: &str,
    round: DocumentId,
    group: &str,
    pupil: &str,
) -> Result<(DocumentId, Automerge)> {
    let id = sociogram_answers_id(school, round, group, pupil);
    singleton(
        id,
        &sociogram_answers_header(school, pupil),
        &SociogramAnswers {
            round: round.to_string(),
            group: group.into(),
            answers: vec![],
        },
    )
}

/// The deterministic id of a pupil's thermometer month, `erasures` the times her file was
/// erased ([`crate::model::Pupil::erasures`]): an erased id is never taken again, so after an
/// erasure her months start under new ids. Before any erasure, the ids as they always were.
pub fn thermometer_id(school: &str, pupil: &str, month: &str, erasures: u32) -> DocumentId {
    match erasures {
        0 => DocumentId::derived(&["thermometer", school, pupil, month]),
        n => DocumentId::derived(&["thermometer", school, pupil, month, &n.to_string()]),
    }
}

/// The deterministic id of a school's roster (the whole roster, which only the server
/// reads).
pub fn roster_id(school: &str) -> DocumentId {
    DocumentId::derived(&["roster", school])
}

/// The deterministic id of staff member `user`'s view of the school's roster
/// ([`Roster::view_for`]): what that member's devices hold.
pub fn roster_view_id(school: &str, user: &str) -> DocumentId {
    DocumentId::derived(&["roster-view", school, user])
}

/// The genesis of a staff member's roster view (empty; the server fills it).
pub fn roster_view_genesis(school: &str, user: &str) -> Result<(DocumentId, Automerge)> {
    let id = roster_view_id(school, user);
    singleton(
        id,
        &roster_header(school),
        &Roster {
            school: school.into(),
            viewer: Some(user.into()),
            ..Default::default()
        },
    )
}

/// The genesis of the singleton `id` (see [`genesis_singleton`]), with its id.
fn singleton<R: Record>(
    id: DocumentId,
    header: &Header,
    record: &R,
) -> Result<(DocumentId, Automerge)> {
    Ok((id, genesis_singleton(id, header, record)?))
}

pub(super) fn roster_header(school: &str) -> Header {
    Header::new(Kind::Roster, school, None, "system", 0)
}

/// Header of a thermometer month (deterministic: same bytes on every device).
pub fn thermometer_header(school: &str, pupil: &str, month: &str) -> Header {
    let created_at = format!("{month}-01")
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0);
    Header::new(Kind::Thermometer, school, Some(pupil), "system", created_at)
}

/// The genesis of a thermometer month.
pub fn thermometer_genesis(
    school: &str,
    pupil: &str,
    month: &str,
    erasures: u32,
) -> Result<(DocumentId, Automerge)> {
    let id = thermometer_id(school, pupil, month, erasures);
    singleton(
        id,
        &thermometer_header(school, pupil, month),
        &ThermometerMonth {
            month: month.into(),
            entries: vec![],
            answers: vec![],
        },
    )
}

/// The genesis of a school's roster (empty; the server fills it).
pub fn roster_genesis(school: &str) -> Result<(DocumentId, Automerge)> {
    let id = roster_id(school);
    singleton(
        id,
        &roster_header(school),
        &Roster {
            school: school.into(),
            ..Default::default()
        },
    )
}
