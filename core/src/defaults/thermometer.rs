//! The gevoelsthermometer's scales per age band: emotion words, smileys, a mark.

use super::Label;
use super::l;
use crate::model::AgeBand;
use serde::Serialize;

/// Id of the groep 1-4 scale: four emotions x three intensities.
pub const SCALE_EMOTIONS: &str = "emoties-4x3";
/// Id of the groep 5-8 scale: five smileys plus optional emotion words.
pub const SCALE_SMILEYS: &str = "smileys-5";
/// Id of the vo/mbo scale: a mark from 1 to 10 plus optional emotion words.
pub const SCALE_MARK: &str = "cijfer-10";

/// An emotion word a pupil may add to a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmotionWord {
    /// Stable id, written into `ThermometerEntry::emotions`.
    pub id: &'static str,
    /// What the pupil sees.
    pub label: Label,
}

/// A feelings-thermometer scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scale {
    /// Stable id, written into `ThermometerEntry::scale`.
    pub id: &'static str,
    /// The age band this scale is the default for.
    #[serde(serialize_with = "serialize_band")]
    pub band: AgeBand,
    /// Lowest score.
    pub min: u8,
    /// Highest score.
    pub max: u8,
    /// One label per score, `labels[score - min]`.
    pub labels: Vec<Label>,
    /// Optional emotion words a pupil may add; empty when the score itself is the emotion.
    pub emotion_words: Vec<EmotionWord>,
    /// The "wil je even praten?" flag.
    pub talk_flag: Label,
    /// When a reading counts as low, for the attention list; use [`Scale::is_low`].
    /// On ordered scales: a score at or below this. On the emotion scale (groep 1-4),
    /// whose score encodes emotion and intensity: the intensity (1-3) from which an
    /// unpleasant emotion (bang, boos, verdrietig) counts as low.
    pub low_threshold: u8,
}

fn serialize_band<S: serde::Serializer>(band: &AgeBand, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(band.as_str())
}

/// The four emotions of the groep 1-4 scale, in score order: emotion index `i` has scores
/// `i * 3 + 1 ..= i * 3 + 3` (a little, quite, very). Index 0 (blij) is the pleasant one.
const EMOTIONS_4: [EmotionWord; 4] = [
    EmotionWord {
        id: "blij",
        label: l("blij", "happy"),
    },
    EmotionWord {
        id: "bang",
        label: l("bang", "scared"),
    },
    EmotionWord {
        id: "boos",
        label: l("boos", "angry"),
    },
    EmotionWord {
        id: "verdrietig",
        label: l("verdrietig", "sad"),
    },
];

/// Intensities of the groep 1-4 scale, 1..=3.
const INTENSITIES: u8 = 3;

/// The optional emotion words of groep 5-8 and vo/mbo.
const EMOTION_WORDS: [EmotionWord; 8] = [
    EmotionWord {
        id: "blij",
        label: l("blij", "happy"),
    },
    EmotionWord {
        id: "trots",
        label: l("trots", "proud"),
    },
    EmotionWord {
        id: "rustig",
        label: l("rustig", "calm"),
    },
    EmotionWord {
        id: "moe",
        label: l("moe", "tired"),
    },
    EmotionWord {
        id: "zenuwachtig",
        label: l("zenuwachtig", "nervous"),
    },
    EmotionWord {
        id: "verdrietig",
        label: l("verdrietig", "sad"),
    },
    EmotionWord {
        id: "boos",
        label: l("boos", "angry"),
    },
    EmotionWord {
        id: "bang",
        label: l("bang", "scared"),
    },
];

/// Every default scale, one per age band.
pub fn scales() -> Vec<Scale> {
    vec![
        scale_for(AgeBand::Po1to4),
        scale_for(AgeBand::Po5to8),
        scale_for(AgeBand::VoMbo),
    ]
}

/// The default scale of an age band.
pub fn scale_for(band: AgeBand) -> Scale {
    match band {
        AgeBand::Po1to4 => Scale {
            id: SCALE_EMOTIONS,
            band,
            min: 1,
            max: 12,
            labels: vec![
                l("een beetje blij", "a little happy"),
                l("blij", "happy"),
                l("heel blij", "very happy"),
                l("een beetje bang", "a little scared"),
                l("bang", "scared"),
                l("heel bang", "very scared"),
                l("een beetje boos", "a little angry"),
                l("boos", "angry"),
                l("heel boos", "very angry"),
                l("een beetje verdrietig", "a little sad"),
                l("verdrietig", "sad"),
                l("heel verdrietig", "very sad"),
            ],
            emotion_words: Vec::new(),
            talk_flag: l("Wil je even praten?", "Do you want to talk for a bit?"),
            low_threshold: 2,
        },
        AgeBand::Po5to8 => Scale {
            id: SCALE_SMILEYS,
            band,
            min: 1,
            max: 5,
            labels: vec![
                l("Het gaat helemaal niet goed", "Not good at all"),
                l("Het gaat niet zo goed", "Not so good"),
                l("Het gaat wel", "Okay"),
                l("Het gaat goed", "Good"),
                l("Het gaat heel goed", "Really good"),
            ],
            emotion_words: EMOTION_WORDS.to_vec(),
            talk_flag: l(
                "Wil je even praten met je juf of meester?",
                "Would you like to talk to your teacher?",
            ),
            low_threshold: 2,
        },
        AgeBand::VoMbo => Scale {
            id: SCALE_MARK,
            band,
            min: 1,
            max: 10,
            labels: vec![
                l("1 (heel slecht)", "1 (very bad)"),
                l("2", "2"),
                l("3", "3"),
                l("4", "4"),
                l("5", "5"),
                l("6", "6"),
                l("7", "7"),
                l("8", "8"),
                l("9", "9"),
                l("10 (top)", "10 (great)"),
            ],
            emotion_words: EMOTION_WORDS.to_vec(),
            talk_flag: l(
                "Ik wil even praten met mijn mentor",
                "I want to talk to my mentor",
            ),
            low_threshold: 4,
        },
    }
}

/// A default scale by its id.
pub fn scale(id: &str) -> Option<Scale> {
    scales().into_iter().find(|s| s.id == id)
}

impl Scale {
    /// Check a reading against this scale. The reason names the field, never the value.
    pub fn validate<S: AsRef<str>>(&self, score: u8, emotions: &[S]) -> Result<(), String> {
        if !(self.min..=self.max).contains(&score) {
            return Err(format!("score is outside the range of scale {}", self.id));
        }
        for (i, e) in emotions.iter().enumerate() {
            let e = e.as_ref();
            if !self.emotion_words.iter().any(|w| w.id == e) {
                return Err(format!(
                    "emotions holds a word that scale {} does not offer",
                    self.id
                ));
            }
            if emotions[..i].iter().any(|o| o.as_ref() == e) {
                return Err("emotions holds the same word twice".into());
            }
        }
        Ok(())
    }

    /// The label of a score, if it is on the scale.
    pub fn label(&self, score: u8) -> Option<Label> {
        let i = score.checked_sub(self.min)?;
        self.labels.get(usize::from(i)).copied()
    }

    /// The score as a number in `0.0..=1.0`, higher meaning better, for trends across
    /// scales. Ordered scales map linearly. On the emotion scale, blij maps above the
    /// middle and the other emotions below it, further out with more intensity. Scores off
    /// the scale are clamped.
    pub fn normalised(&self, score: u8) -> f32 {
        let score = score.clamp(self.min, self.max);
        if self.id == SCALE_EMOTIONS {
            let (emotion, intensity) = emotion_of(score);
            let step = f32::from(intensity) / (2.0 * f32::from(INTENSITIES));
            if emotion == 0 { 0.5 + step } else { 0.5 - step }
        } else if self.max == self.min {
            1.0
        } else {
            f32::from(score - self.min) / f32::from(self.max - self.min)
        }
    }

    /// Whether a reading counts as low (see [`Scale::low_threshold`]).
    pub fn is_low(&self, score: u8) -> bool {
        if !(self.min..=self.max).contains(&score) {
            return false;
        }
        if self.id == SCALE_EMOTIONS {
            let (emotion, intensity) = emotion_of(score);
            emotion != 0 && intensity >= self.low_threshold
        } else {
            score <= self.low_threshold
        }
    }
}

/// Emotion index (0 blij, 1 bang, 2 boos, 3 verdrietig) and intensity (1-3) of a score
/// `1..=12` on the emotion scale.
pub(super) fn emotion_of(score: u8) -> (u8, u8) {
    let s = score.saturating_sub(1);
    (s / INTENSITIES, s % INTENSITIES + 1)
}

/// The four emotions of the groep 1-4 scale, in score order (see [`Scale`] `labels`).
pub fn po_1_4_emotions() -> Vec<EmotionWord> {
    EMOTIONS_4.to_vec()
}
