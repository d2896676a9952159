//! The sociogram questions on offer by default.

use super::Label;

/// A sociogram question on offer (see [`sociogram_questions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SociogramQuestionDefault {
    /// Stable id.
    pub id: &'static str,
    /// The question as pupils read it.
    pub text: Label,
    /// "positive" or "negative".
    pub polarity: &'static str,
}

/// The sociogram questions on offer by default: the three situations the SGF handreiking
/// names (playing, sitting, working together), each as a choice for and a choice against.
/// A school replaces them in its settings (`sociogram_questions`).
pub fn sociogram_questions() -> Vec<SociogramQuestionDefault> {
    let q = |id, nl, en, polarity| SociogramQuestionDefault {
        id,
        text: Label { nl, en },
        polarity,
    };
    vec![
        q(
            "spelen_graag",
            "Met wie speel je het liefst?",
            "Who do you most like to play with?",
            "positive",
        ),
        q(
            "spelen_niet",
            "Met wie speel je liever niet?",
            "Who would you rather not play with?",
            "negative",
        ),
        q(
            "zitten_graag",
            "Naast wie zit je graag in de klas?",
            "Who would you like to sit next to in class?",
            "positive",
        ),
        q(
            "zitten_niet",
            "Naast wie zit je liever niet in de klas?",
            "Who would you rather not sit next to in class?",
            "negative",
        ),
        q(
            "werken_graag",
            "Met wie werk je graag samen?",
            "Who do you like to work with?",
            "positive",
        ),
        q(
            "werken_niet",
            "Met wie werk je liever niet samen?",
            "Who would you rather not work with?",
            "negative",
        ),
    ]
}
