//! The benchmarks' document: the automerge-repo peer benchmark's `{title, n, done, owner,
//! tags: [10 strings]}` (../shared/peers) mirrored as a signal whose facts are the title,
//! with 10 short follow-up entries.

use omkijken_core::model::{
    FollowUp, FollowUpKind, Header, Kind, SCHEMA_VERSION, Signal, SignalContext, Source,
};

/// Header and record of the `i`-th benchmark signal of `school`, by staff member `t1` about
/// pupil `p1`.
pub fn signal(school: &str, i: usize) -> (Header, Signal) {
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: school.into(),
        pupil: Some("p1".into()),
        author: "t1".into(),
        created_at: 1_795_338_000_000,
        schema: SCHEMA_VERSION,
    };
    let record = Signal {
        observed_at: i as i64,
        recorded_at: 1_795_338_000_000,
        context: SignalContext {
            place: "alice".into(),
            excursion: None,
        },
        category: "welbevinden".into(),
        urgency: 1,
        facts: format!("doc {i}"),
        interpretation: None,
        source: Source::seen(),
        pupil_quote: None,
        flag: None,
        shared: true,
        follow_ups: (0..10)
            .map(|j| FollowUp {
                id: format!("{i}-{j}"),
                author: "t1".into(),
                at: 0,
                kind: FollowUpKind::FollowUp.as_str().into(),
                text: format!("item-{i}-{j}"),
            })
            .collect(),
        added_readers: vec![],
    };
    (header, record)
}
