//! The sociogram through the store's public interface: the group's mentor opens a round,
//! enters her pupils' answers, closes it; she and the care team read the analysis, the
//! picture and a pupil's position; a teacher of the group and another mentor read nothing.

mod common;

use common::*;
use omkijken_core::Error;
use omkijken_core::Store;
use omkijken_core::model::{Pupil, RoundStatus, SociogramQuestion};
use omkijken_core::store::{AnswerSource, Identity, NewSociogramAnswer, StoreOptions};
use std::sync::Arc;

/// The common roster with groep 6a filled: Anouk (p1, in care), Bram (p2), Chloé, Daan,
/// Zoë; all mentored by m1, taught by m1 and t1.
fn class_roster() -> omkijken_core::model::Roster {
    let mut r = roster();
    r.pupils.get_mut("p1").unwrap().display_name = "Anouk de Vries".into();
    r.pupils.get_mut("p2").unwrap().display_name = "Bram Jansen".into();
    for (id, name) in [
        ("p4", "Chloé Bakker"),
        ("p5", "Daan Öztürk"),
        ("p6", "Zoë Visser"),
    ] {
        r.pupils.insert(
            id.into(),
            Pupil {
                id: id.into(),
                display_name: name.into(),
                group: "6a".into(),
                age_band: "po_5_8".into(),
                active: true,
                in_care: false,
                mentors: vec!["m1".into()],
                erasures: 0,
            },
        );
    }
    r
}

fn store(dir: &std::path::Path, user: &str) -> Store {
    let s = Store::open_with(
        dir.join(format!("{user}.db")),
        KEY,
        StoreOptions {
            clock: Arc::new(|| T0),
            seed: None,
        },
    )
    .unwrap();
    s.set_identity(&Identity {
        school: SCHOOL.into(),
        user: user.into(),
    })
    .unwrap();
    s.merge_bytes(
        omkijken_core::doc::roster_id(SCHOOL),
        &roster_bytes(&class_roster()),
    )
    .unwrap();
    s
}

fn questions(s: &Store) -> Vec<SociogramQuestion> {
    s.sociogram_questions()
        .unwrap()
        .into_iter()
        .filter(|q| q.id.starts_with("spelen"))
        .map(|q| SociogramQuestion {
            id: q.id,
            text: q.text.nl,
            polarity: q.polarity,
        })
        .collect()
}

fn said(question: &str, pupils: &[&str]) -> NewSociogramAnswer {
    NewSociogramAnswer {
        question: question.into(),
        pupils: pupils.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn the_groups_mentor_runs_a_sociogram_that_only_she_and_the_care_team_read() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, m2, t1, cc) = (
        store(dir.path(), "m1"),
        store(dir.path(), "m2"),
        store(dir.path(), "t1"),
        store(dir.path(), "cc"),
    );
    // 1. The default questions: playing, sitting and working, for and against.
    let qs = questions(&m1);
    assert_eq!(
        qs.iter().map(|q| q.polarity.as_str()).collect::<Vec<_>>(),
        ["positive", "negative"]
    );
    assert_eq!(qs[0].text, "Met wie speel je het liefst?");
    // 2. Only the group's mentor opens a round.
    for (s, what) in [
        (&t1, "a teacher of the group"),
        (&cc, "the care team"),
        (&m2, "another mentor"),
    ] {
        assert!(
            matches!(
                s.open_sociogram_round("6a", "2026-11-23", qs.clone()),
                Err(Error::Forbidden(_))
            ),
            "{what}"
        );
    }
    assert!(matches!(
        m1.open_sociogram_round("7c", "2026-11-23", qs.clone()),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        m1.open_sociogram_round("6a", "2026-11-23", vec![]),
        Err(Error::Invalid(_))
    ));
    let round = m1.open_sociogram_round("6a", "2026-11-23", qs).unwrap();
    // 3. She enters the answers on her pupils' behalf.
    let answers: [(&str, &[NewSociogramAnswer]); 5] = [
        (
            "p1",
            &[
                said("spelen_graag", &["p6", "p5"]),
                said("spelen_niet", &["p2"]),
            ],
        ),
        ("p2", &[said("spelen_graag", &["p5"])]),
        (
            "p4",
            &[said("spelen_graag", &["p6"]), said("spelen_niet", &["p2"])],
        ),
        (
            "p5",
            &[said("spelen_graag", &["p1"]), said("spelen_niet", &[])],
        ),
        ("p6", &[said("spelen_graag", &["p1", "p4"])]),
    ];
    for (pupil, a) in answers {
        m1.add_sociogram_answers(round, pupil, a.to_vec(), AnswerSource::Staff)
            .unwrap();
    }
    // Bad input is refused with what is wrong, and writes nothing.
    let refused = [
        (
            "p1",
            said("spelen_graag", &["p3"]),
            "a pupil of another group",
        ),
        ("p1", said("spelen_graag", &["p1"]), "herself"),
        ("p1", said("spelen_graag", &["p5", "p5"]), "twice"),
        (
            "p1",
            said("lievelingsvak", &["p5"]),
            "a question not in the round",
        ),
        (
            "p3",
            said("spelen_graag", &["p1"]),
            "a pupil of another group answering",
        ),
    ];
    for (pupil, a, what) in refused {
        assert!(
            matches!(
                m1.add_sociogram_answers(round, pupil, vec![a], AnswerSource::Staff),
                Err(Error::Invalid(_))
            ),
            "{what}"
        );
    }
    // A pupil's own answer comes from a pupil session, which the rules do not admit yet.
    assert!(matches!(
        m1.append_sociogram_answers(
            round,
            "6a",
            "p4",
            vec![said("spelen_graag", &["p1"])],
            AnswerSource::Pupil,
            Some("sessie-1"),
        ),
        Err(Error::Forbidden(_))
    ));
    // 4. The analysis: Anouk and Zoë, Anouk and Daan, Zoë and Chloé choose each other;
    // Bram is rejected by two and chosen by nobody: isolated and rejected.
    let s = m1.sociogram(round, "nl").unwrap();
    let a = &s.analysis;
    assert_eq!(a.respondents, 5);
    assert_eq!(a.pupils_where(|p| p.isolated), ["p2"]);
    assert_eq!(a.pupils_where(|p| p.rejected), ["p2"]);
    assert_eq!(a.subgroups, [vec!["p1", "p4", "p5", "p6"]]);
    assert_eq!(a.mutual.len(), 3);
    assert!(s.svg.contains(">Anouk<") && s.svg.contains(">Zoë<") && !s.svg.contains("Öztürk"));
    // A later answer replaces the earlier one: Bram now chooses Anouk, not Daan.
    m1.add_sociogram_answers(
        round,
        "p2",
        vec![said("spelen_graag", &["p1"])],
        AnswerSource::Staff,
    )
    .unwrap();
    let current = m1.sociogram_answers(round, "p2").unwrap().unwrap();
    assert_eq!(current.current()[0].pupils, ["p1"]);
    // 5. The care team reads it after a sync; a teacher of the group and another mentor
    // do not, not even the round.
    for other in [&cc, &t1, &m2] {
        exchange(&m1, other);
    }
    let seen = cc.sociogram(round, "en").unwrap();
    assert_eq!(seen.analysis.pupils_where(|p| p.isolated), ["p2"]);
    assert!(seen.svg.contains(">isolated<"));
    assert!(matches!(
        cc.add_sociogram_answers(
            round,
            "p1",
            vec![said("spelen_graag", &["p4"])],
            AnswerSource::Staff
        ),
        Err(Error::Forbidden(_))
    ));
    for s in [&t1, &m2] {
        assert!(matches!(s.sociogram(round, "nl"), Err(Error::NotFound)));
        assert!(matches!(s.sociogram_round(round), Err(Error::NotFound)));
        assert!(s.list_sociogram_rounds(None).unwrap().is_empty());
        assert_eq!(s.pupil_sociogram("p1").unwrap(), None);
    }
    // 6. The pupil view: Anouk's position, next to her thermometer and signals.
    let pos = cc.pupil_sociogram("p1").unwrap().unwrap();
    assert_eq!(pos.round, round);
    assert_eq!((pos.members, pos.respondents), (5, 5));
    assert_eq!(
        pos.position.choices_received, 3,
        "Daan, Zoë and, by his new answer, Bram"
    );
    assert_eq!(pos.mutual_names, ["Daan", "Zoë"]);
    // 7. Closed: no more answers, and it stays closed.
    m1.close_sociogram_round(round, "2026-11-27").unwrap();
    assert!(matches!(
        m1.add_sociogram_answers(
            round,
            "p4",
            vec![said("spelen_graag", &["p1"])],
            AnswerSource::Staff
        ),
        Err(Error::Invalid(_))
    ));
    let listed = m1.list_sociogram_rounds(Some("6a")).unwrap();
    assert_eq!(
        (
            listed.len(),
            listed[0].status,
            listed[0].closed_on.as_deref()
        ),
        (1, RoundStatus::Closed, Some("2026-11-27"))
    );
}
