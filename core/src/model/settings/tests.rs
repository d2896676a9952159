//! Tests of `settings`.

use super::*;

#[test]
fn defaults_are_todays() {
    let s = SchoolSettings::default();
    assert_eq!(s.check(), Ok(()));
    let scale = s.scale_for(AgeBand::Po5to8);
    assert_eq!(scale.scale, defaults::scale_for(AgeBand::Po5to8));
    assert_eq!(scale.labels.len(), 5);
    assert_eq!(scale.emotion_words.len(), 8);
    assert_eq!(s.default_template(), defaults::DEFAULT_TEMPLATE);
    assert_eq!(s.templates().len(), 1);
    assert_eq!(s.conversations_per_year(), defaults::CONVERSATIONS_PER_YEAR);
    assert!(s.thermometer_month(7));
}

#[test]
fn a_school_sets_its_scale_labels_templates_and_cadence() {
    let mut s = SchoolSettings::default();
    s.merge_json(
        r#"{
          "thermometer": {"po_1_4": {"scale": "smileys-5",
             "labels": [{"nl": "slecht"}, {"nl": "matig"}, {"nl": "gaat wel"},
                        {"nl": "goed"}, {"nl": "super", "en": "great"}],
             "talk_flag": {"nl": "Wil je de juf even spreken?"},
             "emotion_words": ["blij", "moe"]}},
          "templates": [{"id": "start-groep-3", "name": {"nl": "Startgesprek"},
             "opening": {"nl": "Ik schrijf op wat we bespreken; je ouders mogen het lezen."},
             "questions": [{"id": "leuk", "label": {"nl": "Wat vind je leuk?"}}]}],
          "default_template": "start-groep-3",
          "conversations_per_year": 3,
          "thermometer_months": [10, 2, 6]
        }"#,
    )
    .unwrap();
    let scale = s.scale_for(AgeBand::Po1to4);
    assert_eq!(scale.scale.id, defaults::SCALE_SMILEYS);
    assert_eq!(scale.labels[4].en, "great");
    assert_eq!(scale.labels[0].en, "slecht");
    assert_eq!(scale.emotion_words.len(), 2);
    assert!(scale.validate(3, &["moe"]).is_ok());
    assert!(scale.validate(3, &["trots"]).is_err());
    // Other bands keep their default.
    assert_eq!(s.scale_for(AgeBand::VoMbo).scale.id, defaults::SCALE_MARK);
    assert_eq!(s.default_template(), "start-groep-3");
    assert_eq!(s.templates()[0].questions[0].label.en, "Wat vind je leuk?");
    assert_eq!(s.templates().len(), 2);
    assert!(s.thermometer_month(2) && !s.thermometer_month(3));
    // A later file changes only what it names; null goes back to the default.
    s.leader_phone = Some("020-1234567".into());
    s.merge_json(r#"{"conversations_per_year": null}"#).unwrap();
    assert_eq!(s.conversations_per_year, None);
    assert_eq!(s.leader_phone.as_deref(), Some("020-1234567"));
    assert_eq!(s.templates.len(), 1);
}

#[test]
fn settings_that_do_not_fit_are_refused_and_change_nothing() {
    let mut s = SchoolSettings::default();
    for bad in [
        r#"{"thermometer": {"groep-9": {"scale": "smileys-5"}}}"#,
        r#"{"thermometer": {"po_5_8": {"scale": "sterren-7"}}}"#,
        r#"{"thermometer": {"po_5_8": {"scale": "smileys-5", "labels": [{"nl": "a"}]}}}"#,
        r#"{"thermometer": {"po_1_4": {"scale": "emoties-4x3", "emotion_words": ["moe"]}}}"#,
        r#"{"templates": [{"id": "ik-jij-wij", "name": {"nl": "x"}, "opening": {"nl": "x"}, "questions": [{"id": "q", "label": {"nl": "q"}}]}]}"#,
        r#"{"templates": [{"id": "t", "name": {"nl": "x"}, "opening": {"nl": "x"}, "questions": []}]}"#,
        r#"{"default_template": "bestaat-niet"}"#,
        r#"{"conversations_per_year": 0}"#,
        r#"{"thermometer_months": [13]}"#,
        r#"{"thermometer_months": [2, 2]}"#,
        r#"{"kleur": "blauw"}"#,
        r#"["niet", "een", "object"]"#,
    ] {
        assert!(s.merge_json(bad).is_err(), "admitted {bad}");
    }
    assert_eq!(s, SchoolSettings::default());
}

#[test]
fn rounds_split_the_school_year_or_follow_the_school() {
    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    let s = SchoolSettings::default();
    let r: Vec<(String, String)> = s.rounds().into_iter().map(|r| (r.from, r.to)).collect();
    assert_eq!(
        r,
        [("08-01", "11-30"), ("12-01", "03-31"), ("04-01", "07-31")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let two = SchoolSettings {
        conversations_per_year: Some(2),
        ..Default::default()
    };
    assert_eq!(two.rounds()[1].from, "02-01");
    // A school's own rounds, one over New Year; a day between them is in none.
    let mut own = SchoolSettings::default();
    own.merge_json(
        r#"{"conversations_per_year": 2, "conversation_rounds":
            [{"from": "09-15", "to": "11-15"}, {"from": "12-15", "to": "02-28"}]}"#,
    )
    .unwrap();
    assert_eq!(own.round_on(d("2026-10-01")).map(|r| r.number), Some(1));
    let winter = own.round_on(d("2027-01-05")).unwrap();
    assert_eq!(
        (winter.number, winter.from, winter.to),
        (2, d("2026-12-15"), d("2027-02-28"))
    );
    assert_eq!(own.round_on(d("2026-12-01")), None);
    // One round per kindgesprek a year, as MM-DD.
    let mut bad = SchoolSettings::default();
    assert!(
        bad.merge_json(r#"{"conversation_rounds": [{"from": "09-15", "to": "11-15"}]}"#)
            .is_err()
    );
    assert!(bad
        .merge_json(
            r#"{"conversations_per_year": 1, "conversation_rounds": [{"from": "9-15", "to": "11-15"}]}"#
        )
        .is_err());
}

#[test]
fn a_school_sets_its_own_sociogram_questions_and_bad_ones_are_refused() {
    let mut s = SchoolSettings::default();
    let defaults: Vec<String> = s.sociogram_questions().into_iter().map(|q| q.id).collect();
    assert_eq!(defaults.len(), 6);
    s.merge_json(
        r#"{"sociogram_questions": [
            {"id": "pauze_graag", "text": {"nl": "Met wie speel je graag in de pauze?"}, "polarity": "positive"},
            {"id": "pauze_niet", "text": {"nl": "Met wie liever niet?", "en": "Who not?"}, "polarity": "negative"}
        ]}"#,
    )
    .unwrap();
    let qs = s.sociogram_questions();
    assert_eq!(
        qs.iter()
            .map(|q| (q.id.as_str(), q.text.en.as_str(), q.polarity.as_str()))
            .collect::<Vec<_>>(),
        [
            (
                "pauze_graag",
                "Met wie speel je graag in de pauze?",
                "positive"
            ),
            ("pauze_niet", "Who not?", "negative"),
        ],
        "an English text left out is the Dutch one"
    );
    for bad in [
        r#"{"sociogram_questions": [{"id": "x", "text": {"nl": "Wie?"}, "polarity": "neutraal"}]}"#,
        r#"{"sociogram_questions": [{"id": "x y", "text": {"nl": "Wie?"}, "polarity": "positive"}]}"#,
        r#"{"sociogram_questions": [{"id": "x", "text": {"nl": " "}, "polarity": "positive"}]}"#,
        r#"{"sociogram_questions": [{"id": "x", "text": {"nl": "Wie?"}, "polarity": "positive"},
                                    {"id": "x", "text": {"nl": "Wie?"}, "polarity": "negative"}]}"#,
    ] {
        let mut t = s.clone();
        assert!(t.merge_json(bad).is_err(), "{bad}");
        assert_eq!(t, s, "nothing changes");
    }
    s.merge_json(r#"{"sociogram_questions": null}"#).unwrap();
    assert_eq!(s.sociogram_questions().len(), 6, "back to the defaults");
}
