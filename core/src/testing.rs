//! Fixtures the workspace's tests share (feature `testing`, which only dev-dependencies and
//! the tests crate enable: never part of a release build).

use crate::model::{Signal, SignalContext, Source};
use crate::store::NewSignal;

/// A signal to share about `pupil`, observed at `observed_at` (unix ms) at `place`:
/// category `welbevinden`, seen by the writer, without interpretation, quote or flag.
/// Other fields by struct update: `NewSignal { share: false, ..signal(..) }`.
pub fn signal(pupil: &str, observed_at: i64, place: &str, urgency: u8, facts: &str) -> NewSignal {
    NewSignal {
        pupil: pupil.into(),
        observed_at,
        context: SignalContext {
            place: place.into(),
            excursion: None,
        },
        category: "welbevinden".into(),
        urgency,
        facts: facts.into(),
        interpretation: None,
        source: Source::seen(),
        pupil_quote: None,
        flag: None,
        share: true,
    }
}

/// A shared signal record (the document's content, as a peer writes it) observed and
/// recorded at `at` at `place`: category `welbevinden`, seen, no follow-ups. Other fields by
/// struct update.
pub fn signal_record(at: i64, place: &str, urgency: u8, facts: &str) -> Signal {
    Signal {
        observed_at: at,
        recorded_at: at,
        context: SignalContext {
            place: place.into(),
            excursion: None,
        },
        category: "welbevinden".into(),
        urgency,
        facts: facts.into(),
        interpretation: None,
        source: Source::seen(),
        pupil_quote: None,
        flag: None,
        shared: true,
        follow_ups: vec![],
        added_readers: vec![],
    }
}
