//! Tests of `defaults`.

use super::thermometer::emotion_of;
use super::*;
use crate::model::AgeBand;

#[test]
fn every_band_has_a_scale_that_is_found_by_id() {
    for band in [AgeBand::Po1to4, AgeBand::Po5to8, AgeBand::VoMbo] {
        let s = scale_for(band);
        assert_eq!(s.band, band);
        assert_eq!(scale(s.id), Some(s));
    }
    assert_eq!(scale("onbekend"), None);
}

#[test]
fn every_scale_accepts_its_bounds_and_rejects_scores_outside() {
    for s in scales() {
        let none: [&str; 0] = [];
        assert_eq!(s.validate(s.min, &none), Ok(()), "{}", s.id);
        assert_eq!(s.validate(s.max, &none), Ok(()), "{}", s.id);
        let below = s.validate(s.min - 1, &none).unwrap_err();
        assert!(below.contains("score"), "{below}");
        assert!(s.validate(s.max + 1, &none).unwrap_err().contains("score"));
        assert!(s.validate(u8::MAX, &none).is_err());
    }
}

#[test]
fn every_scale_has_one_label_per_score_and_a_talk_flag() {
    for s in scales() {
        assert_eq!(s.labels.len(), usize::from(s.max - s.min + 1), "{}", s.id);
        assert!(!s.talk_flag.nl.is_empty() && !s.talk_flag.en.is_empty());
        assert_eq!(s.label(s.min), s.labels.first().copied());
        assert_eq!(s.label(s.max + 1), None);
    }
}

#[test]
fn emotion_words_must_be_offered_by_the_scale_and_not_repeated() {
    let s = scale_for(AgeBand::Po5to8);
    assert_eq!(s.validate(3, &["trots", "moe"]), Ok(()));
    let unknown = s.validate(3, &["woedend"]).unwrap_err();
    assert!(
        unknown.contains("emotions") && !unknown.contains("woedend"),
        "{unknown}"
    );
    assert!(
        s.validate(3, &["moe", "moe"])
            .unwrap_err()
            .contains("emotions")
    );
    // groep 1-4: the emotion is the score itself, so no extra words.
    assert!(scale_for(AgeBand::Po1to4).validate(1, &["blij"]).is_err());
    assert_eq!(
        scale_for(AgeBand::VoMbo).validate(7, &["zenuwachtig"]),
        Ok(())
    );
}

#[test]
fn emotion_scale_scores_encode_emotion_and_intensity() {
    let s = scale_for(AgeBand::Po1to4);
    for (i, e) in po_1_4_emotions().iter().enumerate() {
        for intensity in 1..=3u8 {
            let score = i as u8 * 3 + intensity;
            assert_eq!(emotion_of(score), (i as u8, intensity));
            // the label names the emotion of that score
            assert!(s.label(score).unwrap().nl.ends_with(e.label.nl));
        }
    }
}

#[test]
fn normalised_is_in_unit_range_and_higher_is_better() {
    for s in scales() {
        for score in s.min..=s.max {
            let n = s.normalised(score);
            assert!((0.0..=1.0).contains(&n), "{} {score} {n}", s.id);
        }
    }
    let po = scale_for(AgeBand::Po1to4);
    assert_eq!(po.normalised(3), 1.0); // heel blij
    assert_eq!(po.normalised(6), 0.0); // heel bang
    assert!(po.normalised(1) > 0.5 && po.normalised(4) < 0.5);
    assert!(po.normalised(4) > po.normalised(5));
    let smiley = scale_for(AgeBand::Po5to8);
    assert_eq!((smiley.normalised(1), smiley.normalised(5)), (0.0, 1.0));
    let mark = scale_for(AgeBand::VoMbo);
    assert_eq!((mark.normalised(1), mark.normalised(10)), (0.0, 1.0));
    assert!(mark.normalised(6) > mark.normalised(5));
}

#[test]
fn low_readings_are_unpleasant_or_below_the_threshold() {
    let po = scale_for(AgeBand::Po1to4);
    assert!(!po.is_low(3)); // heel blij
    assert!(!po.is_low(4)); // een beetje bang
    assert!(po.is_low(5) && po.is_low(12));
    let mark = scale_for(AgeBand::VoMbo);
    assert!(mark.is_low(4) && !mark.is_low(5) && !mark.is_low(0));
    let smiley = scale_for(AgeBand::Po5to8);
    assert!(smiley.is_low(2) && !smiley.is_low(3));
}

#[test]
fn category_ids_are_unique_and_found() {
    let cats = categories();
    for (i, c) in cats.iter().enumerate() {
        assert!(cats[..i].iter().all(|o| o.id != c.id), "duplicate {}", c.id);
        assert_eq!(category(c.id), Some(*c));
    }
    assert_eq!(category("onbekend"), None);
}

#[test]
fn categories_carry_their_routes_flags_and_hints() {
    assert_eq!(category(PESTEN).unwrap().route, Route::AntiBullying);
    assert_eq!(category(STAFF_MISCONDUCT).unwrap().route, Route::BoardRoute);
    assert_eq!(category(THUISSITUATIE).unwrap().route, Route::Meldcode);
    assert!(category(NIET_PLUIS).is_some());
    let flagged: Vec<_> = CATEGORIES
        .iter()
        .filter(|c| c.flag_system)
        .map(|c| c.id)
        .collect();
    assert_eq!(flagged, [SEKSUEEL]);
    assert!(category("welbevinden").unwrap().urgent_hint.is_some());
    let ids: Vec<_> = FLAGS.iter().map(|f| f.id).collect();
    assert_eq!(ids, ["groen", "geel", "rood", "zwart"]);
    assert_eq!(flag("rood").map(|f| f.label.en), Some("Red"));
}

#[test]
fn urgency_levels_run_from_notitie_to_acuut() {
    let ids: Vec<_> = (0..=3).map(|l| urgency(l).unwrap().id).collect();
    assert_eq!(ids, ["notitie", "zorg", "vermoeden", "acuut"]);
    for l in 0..=3 {
        assert_eq!(urgency(l).unwrap().level, l);
    }
    assert_eq!(urgency(4), None);
}

#[test]
fn acute_urgency_carries_112_and_veilig_thuis_and_lower_levels_none() {
    let numbers: Vec<_> = urgency(3)
        .unwrap()
        .emergency_contacts
        .iter()
        .filter_map(|c| c.number)
        .collect();
    assert!(numbers.contains(&"112"));
    assert!(numbers.contains(&"0800-2000"));
    assert!(numbers.contains(&"030 285 66 16"));
    for l in 0..3 {
        assert!(urgency(l).unwrap().emergency_contacts.is_empty());
    }
}

#[test]
fn template_opening_says_who_can_read_and_promises_no_secrecy() {
    let t = template(DEFAULT_TEMPLATE).unwrap();
    let nl = t.opening.nl;
    assert!(nl.contains("lezen") && nl.contains("mentor") && nl.contains("ouders"));
    assert!(nl.contains("zorgcoördinator") && nl.contains("niet beloven"));
    let en = t.opening.en;
    assert!(en.contains("can read") && en.contains("mentor") && en.contains("parents"));
    assert!(en.contains("cannot promise"));
    assert_eq!(template("onbekend"), None);
}

#[test]
fn template_questions_have_unique_ids_and_both_languages() {
    let t = template(DEFAULT_TEMPLATE).unwrap();
    assert_eq!(t.questions.len(), 7);
    for (i, q) in t.questions.iter().enumerate() {
        assert!(
            t.questions[..i].iter().all(|o| o.id != q.id),
            "duplicate {}",
            q.id
        );
        assert!(
            q.label.nl.ends_with('?') && q.label.en.ends_with('?'),
            "{}",
            q.id
        );
    }
}

#[test]
fn defaults_serialise_with_stable_names() {
    let v = serde_json::to_value(scale_for(AgeBand::Po5to8)).unwrap();
    assert_eq!(v["band"], "po_5_8");
    let c = serde_json::to_value(category(STAFF_MISCONDUCT).unwrap()).unwrap();
    assert_eq!(c["route"], "board_route");
}
