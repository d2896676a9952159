//! A fixed class for the tests: groep 6b, eleven pupils, four questions, ten answered.
//!
//! What it shows, worked out by hand:
//! - Daan is chosen by six classmates (Bram, Chloé, Fleur, Inès, Joep, Noor) and rejected
//!   by none: popular, and with mutual choices (Joep, Noor) a positive force;
//! - Bram is chosen by Fleur alone and rejected by four (Anouk, Chloé, Inès, Mees): rejected;
//! - Sem did not answer and nobody chose him: isolated;
//! - mutual choices: Anouk-Zoë, Chloé-Zoë, Daan-Joep, Daan-Noor, Inès-Mees, so three
//!   sub-groups: {Anouk, Chloé, Zoë}, {Daan, Joep, Noor}, {Inès, Mees};
//! - Zoë is named by Anouk in both positive questions: one choice received from her.
//!
//! Choices received add up to 17 over 11 pupils (mean 1.55), so only Daan (6) reaches twice
//! the mean and the minimum of three.

use super::analysis::{Answers, Member};
use crate::model::SociogramQuestion;
use std::collections::BTreeMap;

/// One answer in the table below: (question, pupils named).
type Named = (&'static str, &'static [&'static str]);

/// The round's questions, the members in order, and each respondent's answers.
pub fn groep_6b() -> (
    Vec<SociogramQuestion>,
    Vec<Member>,
    BTreeMap<String, Answers>,
) {
    let q = |id: &str, text: &str, polarity: &str| SociogramQuestion {
        id: id.into(),
        text: text.into(),
        polarity: polarity.into(),
    };
    let questions = vec![
        q("spelen_graag", "Met wie speel je graag?", "positive"),
        q("spelen_niet", "Met wie speel je liever niet?", "negative"),
        q(
            "zitten_graag",
            "Naast wie zou je graag willen zitten?",
            "positive",
        ),
        q(
            "zitten_niet",
            "Naast wie zou je liever niet zitten?",
            "negative",
        ),
    ];
    let members = [
        ("p-anouk", "Anouk"),
        ("p-bram", "Bram"),
        ("p-chloe", "Chloé"),
        ("p-daan", "Daan"),
        ("p-fleur", "Fleur van 't Hof"),
        ("p-ines", "Inès"),
        ("p-joep", "Joep"),
        ("p-mees", "Mees"),
        ("p-noor", "Noor"),
        ("p-sem", "Sem Öztürk"),
        ("p-zoe", "Zoë"),
    ]
    .into_iter()
    .map(|(id, name)| Member {
        id: id.into(),
        name: name.into(),
    })
    .collect();
    let table: [(&str, &[Named]); 10] = [
        (
            "p-anouk",
            &[
                ("spelen_graag", &["p-zoe"]),
                ("zitten_graag", &["p-zoe"]),
                ("spelen_niet", &["p-bram"]),
            ],
        ),
        (
            "p-bram",
            &[
                ("spelen_graag", &["p-daan", "p-joep"]),
                ("zitten_niet", &["p-noor"]),
            ],
        ),
        (
            "p-chloe",
            &[
                ("spelen_graag", &["p-zoe"]),
                ("zitten_graag", &["p-daan"]),
                ("spelen_niet", &["p-bram"]),
                ("zitten_niet", &["p-bram"]),
            ],
        ),
        ("p-daan", &[("spelen_graag", &["p-joep", "p-noor"])]),
        ("p-fleur", &[("spelen_graag", &["p-daan", "p-bram"])]),
        (
            "p-ines",
            &[
                ("spelen_graag", &["p-mees", "p-daan"]),
                ("spelen_niet", &["p-bram"]),
            ],
        ),
        (
            "p-joep",
            &[("zitten_graag", &["p-daan"]), ("spelen_niet", &["p-zoe"])],
        ),
        (
            "p-mees",
            &[
                ("spelen_graag", &["p-ines", "p-fleur"]),
                ("zitten_niet", &["p-bram"]),
            ],
        ),
        (
            "p-noor",
            &[("spelen_graag", &["p-daan"]), ("spelen_niet", &[])],
        ),
        (
            "p-zoe",
            &[
                ("spelen_graag", &["p-anouk", "p-chloe"]),
                ("zitten_niet", &["p-fleur"]),
            ],
        ),
    ];
    let answers = table
        .into_iter()
        .map(|(pupil, by_question)| {
            let a: Answers = by_question
                .iter()
                .map(|(q, named)| (q.to_string(), named.iter().map(|p| p.to_string()).collect()))
                .collect();
            (pupil.to_string(), a)
        })
        .collect();
    (questions, members, answers)
}
