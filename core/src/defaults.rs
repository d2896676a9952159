//! Domain defaults, as data: thermometer scales, the kindgesprek template, the signal
//! taxonomy, the flag system and the urgency levels (DOMAIN.md, "What is recorded").
//!
//! Every text a user sees carries a Dutch and an English [`Label`]. Ids are stable: they are
//! written into documents (`Signal::category`, `ThermometerEntry::scale`,
//! `Conversation::template_id`, answer keys) and must never change once shipped; add new ids
//! instead. Schools choose among these scales per age band and set their own labels and
//! templates (`model::SchoolSettings`); these are the defaults.

use crate::model::AgeBand;
use serde::Serialize;

/// A user-facing text in Dutch and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Label {
    /// Dutch.
    pub nl: &'static str,
    /// English.
    pub en: &'static str,
}

/// Shorthand for building a [`Label`] in the tables below.
const fn l(nl: &'static str, en: &'static str) -> Label {
    Label { nl, en }
}

// ---------------------------------------------------------------------------------------
// Gevoelsthermometer
// ---------------------------------------------------------------------------------------

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
fn emotion_of(score: u8) -> (u8, u8) {
    let s = score.saturating_sub(1);
    (s / INTENSITIES, s % INTENSITIES + 1)
}

/// The four emotions of the groep 1-4 scale, in score order (see [`Scale`] `labels`).
pub fn po_1_4_emotions() -> Vec<EmotionWord> {
    EMOTIONS_4.to_vec()
}

// ---------------------------------------------------------------------------------------
// Kindgesprek template
// ---------------------------------------------------------------------------------------

/// Id of the default kindgesprek template.
pub const DEFAULT_TEMPLATE: &str = "ik-jij-wij";

/// Days a device may go without a completed sync before its store locks, unless the school
/// sets its own lease (`omkijken-server admin lease`). Long enough for a school trip and a
/// holiday week; a lost phone that never syncs again shows no care content after it.
pub const OFFLINE_LEASE_DAYS: u32 = 30;

/// Kindgesprekken a mentor holds with each pupil a year, unless the school sets its own
/// cadence (DOMAIN.md: 2-3 a year).
pub const CONVERSATIONS_PER_YEAR: u32 = 3;

/// A question of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Stable id, the key of the answer in `Conversation::answers`.
    pub id: &'static str,
    /// The question as the mentor asks it.
    pub label: Label,
}

/// A kindgesprek template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    /// Stable id, written into `Conversation::template_id`.
    pub id: &'static str,
    /// Name shown when choosing a template.
    pub name: Label,
    /// Read to the pupil first: who can read the note. Never promises secrecy.
    pub opening: Label,
    /// The questions, in order.
    pub questions: Vec<Question>,
}

/// A template by id.
pub fn template(id: &str) -> Option<Template> {
    (id == DEFAULT_TEMPLATE).then(ik_jij_wij)
}

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

/// Every default template.
pub fn templates() -> Vec<Template> {
    vec![ik_jij_wij()]
}

fn ik_jij_wij() -> Template {
    Template {
        id: DEFAULT_TEMPLATE,
        name: l(
            "Kindgesprek (ik, jij, wij)",
            "Pupil conversation (me, you, us)",
        ),
        opening: l(
            "Ik wil je graag wat beter leren kennen, daarom stel ik je een paar vragen. \
             Je hoeft niets te vertellen wat je niet wilt. Ik schrijf kort op wat we bespreken. \
             Dat kunnen ik en je andere mentor lezen, en als je extra hulp krijgt ook de \
             intern begeleider of zorgcoördinator. Jij en je ouders mogen het altijd inzien. \
             Ik kan niet beloven dat alles tussen ons blijft: als ik me zorgen maak over je \
             veiligheid, moet ik dat met iemand bespreken. Dat vertel ik je dan eerst.",
            "I would like to get to know you a little better, so I will ask you a few \
             questions. You don't have to tell me anything you don't want to. I will write down \
             briefly what we talk about. I and your other mentor can read that, and if you get \
             extra support, the care coordinator can too. You and your parents may always ask \
             to see it. I cannot promise that everything stays between us: if I am worried \
             about your safety, I have to talk to someone about it. I will tell you first.",
        ),
        questions: vec![
            Question {
                id: "over-jou",
                label: l(
                    "Wat wil je dat ik van jou weet?",
                    "What would you like me to know about you?",
                ),
            },
            Question {
                id: "goed-in",
                label: l("Waar ben jij goed in?", "What are you good at?"),
            },
            Question {
                id: "lachen-blij-balen",
                label: l(
                    "Waar moet je om lachen, waar word je blij van en waar baal je van?",
                    "What makes you laugh, what makes you glad, and what annoys you?",
                ),
            },
            Question {
                id: "energie",
                label: l("Waar krijg je energie van?", "What gives you energy?"),
            },
            Question {
                id: "compliment",
                label: l(
                    "Welk compliment geef je jezelf? Wat ging er deze week goed?",
                    "Which compliment would you give yourself? What went well this week?",
                ),
            },
            Question {
                id: "goed-niet-goed",
                label: l(
                    "Hoe merk ik dat het goed met je gaat, en hoe merk ik dat het niet goed \
                     gaat? Wat helpt je dan?",
                    "How can I tell that you are doing well, and how can I tell when you are \
                     not? What helps you then?",
                ),
            },
            Question {
                id: "klas",
                label: l(
                    "Wat vind je van je klas? Met wie kun je goed opschieten? Voel je je \
                     thuis in de groep?",
                    "What do you think of your class? Who do you get on with? Do you feel at \
                     home in the group?",
                ),
            },
        ],
    }
}

// ---------------------------------------------------------------------------------------
// Signal taxonomy
// ---------------------------------------------------------------------------------------

/// Category id of bullying, online bullying included.
pub const PESTEN: &str = "pesten";
/// Category id of misconduct by a staff member (the board route).
pub const STAFF_MISCONDUCT: &str = "medewerker";
/// Category id of concerns about the home situation (meldcode).
pub const THUISSITUATIE: &str = "thuissituatie";
/// Category id of sexually transgressive behaviour (rated with the flag system).
pub const SEKSUEEL: &str = "seksueel";
/// Category id of a vague concern.
pub const NIET_PLUIS: &str = "niet-pluis";

/// Where signals of a category go, beyond the author and the pupil's mentors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The care team, from urgency 1.
    Normal,
    /// The care team and the anti-bullying coordinator, from urgency 1.
    AntiBullying,
    /// The care team; may become a meldcode case for the aandachtsfunctionaris.
    Meldcode,
    /// Straight to the school leader and board; never to the mentor or care team.
    BoardRoute,
}

/// A signal category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Category {
    /// Stable id, written into `Signal::category`.
    pub id: &'static str,
    /// Name.
    pub label: Label,
    /// What belongs here, as a hint when choosing.
    pub description: Label,
    /// Who receives these signals.
    pub route: Route,
    /// Signals of this category are rated with the flag system (see [`FLAGS`]).
    pub flag_system: bool,
    /// Shown when choosing the category: when to pick urgency 3 at once.
    pub urgent_hint: Option<Label>,
}

/// The default signal categories.
pub const CATEGORIES: &[Category] = &[
    Category {
        id: "welbevinden",
        label: l("Welbevinden", "Wellbeing"),
        description: l(
            "Teruggetrokken, somber of angstig gedrag; uitspraken over zichzelf iets aandoen.",
            "Withdrawn, gloomy or anxious behaviour; statements about self-harm.",
        ),
        route: Route::Normal,
        flag_system: false,
        urgent_hint: Some(l(
            "Zegt de leerling zichzelf iets aan te willen doen? Kies urgentie 3 (acuut) en \
             laat de leerling niet alleen.",
            "Does the pupil say they want to harm themselves? Choose urgency 3 (acute) and do \
             not leave the pupil alone.",
        )),
    },
    Category {
        id: PESTEN,
        label: l("Pesten (ook online)", "Bullying (including online)"),
        description: l(
            "Herhaald kwetsen, buitensluiten of bedreigen, op school of online.",
            "Repeated hurting, excluding or threatening, at school or online.",
        ),
        route: Route::AntiBullying,
        flag_system: false,
        urgent_hint: None,
    },
    Category {
        id: "agressie",
        label: l("Agressie en geweld", "Aggression and violence"),
        description: l(
            "Fysiek of verbaal geweld, bedreiging, vernieling.",
            "Physical or verbal violence, threats, vandalism.",
        ),
        route: Route::Normal,
        flag_system: false,
        urgent_hint: None,
    },
    Category {
        id: "discriminatie",
        label: l(
            "Discriminatie en polarisatie",
            "Discrimination and polarisation",
        ),
        description: l(
            "Uitsluiten of kwetsen om afkomst, geloof, gender, seksuele oriëntatie of \
             beperking; groepen die tegenover elkaar komen te staan.",
            "Excluding or hurting because of origin, religion, gender, sexual orientation or \
             disability; groups turning against each other.",
        ),
        route: Route::Normal,
        flag_system: false,
        urgent_hint: None,
    },
    Category {
        id: SEKSUEEL,
        label: l(
            "Seksueel grensoverschrijdend gedrag",
            "Sexually transgressive behaviour",
        ),
        description: l(
            "Seksueel gedrag dat niet past bij leeftijd of situatie; beoordeel het met het \
             vlaggensysteem.",
            "Sexual behaviour that does not fit the age or the situation; rate it with the \
             flag system.",
        ),
        route: Route::Normal,
        flag_system: true,
        urgent_hint: None,
    },
    Category {
        id: THUISSITUATIE,
        label: l("Thuissituatie", "Home situation"),
        description: l(
            "Zorgen over mishandeling, verwaarlozing, getuige zijn van huiselijk geweld of \
             eergerelateerd geweld. Hiervoor geldt de meldcode.",
            "Concerns about abuse, neglect, witnessing domestic violence or honour-related \
             violence. The reporting code (meldcode) applies.",
        ),
        route: Route::Meldcode,
        flag_system: false,
        urgent_hint: None,
    },
    Category {
        id: "radicalisering",
        label: l("Radicalisering", "Radicalisation"),
        description: l(
            "Uitspraken of gedrag die wijzen op extreme denkbeelden of het goedpraten van \
             geweld.",
            "Statements or behaviour that point to extreme views or condoning violence.",
        ),
        route: Route::Normal,
        flag_system: false,
        urgent_hint: None,
    },
    Category {
        id: "middelen-verzuim",
        label: l("Middelen en verzuim", "Substances and absence"),
        description: l(
            "Alcohol, drugs, gokken of gamen dat uit de hand loopt; vaak of opvallend \
             afwezig.",
            "Alcohol, drugs, gambling or gaming getting out of hand; frequent or striking \
             absence.",
        ),
        route: Route::Normal,
        flag_system: false,
        urgent_hint: None,
    },
    Category {
        id: STAFF_MISCONDUCT,
        label: l(
            "Grensoverschrijdend gedrag door een medewerker",
            "Misconduct by a staff member",
        ),
        description: l(
            "Gaat rechtstreeks naar de schoolleiding en het bestuur, niet naar de mentor of \
             het zorgteam.",
            "Goes straight to the school leader and the board, not to the mentor or the care \
             team.",
        ),
        route: Route::BoardRoute,
        flag_system: false,
        urgent_hint: None,
    },
    Category {
        id: NIET_PLUIS,
        label: l("Niet pluis", "Something is not right"),
        description: l(
            "Een onbestemd gevoel dat er iets speelt, zonder dat je het al kunt benoemen.",
            "A vague feeling that something is going on, before you can name it.",
        ),
        route: Route::Normal,
        flag_system: false,
        urgent_hint: None,
    },
];

/// Every default category.
pub fn categories() -> Vec<Category> {
    CATEGORIES.to_vec()
}

/// A category by id.
pub fn category(id: &str) -> Option<Category> {
    CATEGORIES.iter().find(|c| c.id == id).copied()
}

/// A level of the flag system (vlaggensysteem) for sexual behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Stable id: groen, geel, rood, zwart.
    pub id: &'static str,
    /// Name.
    pub label: Label,
    /// What the level means and asks of staff.
    pub guidance: Label,
}

/// The flag system, from acceptable to severe.
pub const FLAGS: &[Flag] = &[
    Flag {
        id: "groen",
        label: l("Groen", "Green"),
        guidance: l(
            "Past bij leeftijd en situatie, met wederzijdse instemming. Geen actie nodig.",
            "Fits the age and situation, by mutual consent. No action needed.",
        ),
    },
    Flag {
        id: "geel",
        label: l("Geel", "Yellow"),
        guidance: l(
            "Licht over de grens. Benoem het, blijf opletten.",
            "Mildly over the line. Name it and keep an eye on it.",
        ),
    },
    Flag {
        id: "rood",
        label: l("Rood", "Red"),
        guidance: l(
            "Duidelijk over de grens. Grijp in en bespreek het met de intern begeleider of \
             zorgcoördinator.",
            "Clearly over the line. Step in and discuss it with the care coordinator.",
        ),
    },
    Flag {
        id: "zwart",
        label: l("Zwart", "Black"),
        guidance: l(
            "Zwaar over de grens (dwang, geweld, machtsverschil). Grijp direct in en kies \
             urgentie 3.",
            "Severely over the line (force, violence, abuse of power). Step in at once and \
             choose urgency 3.",
        ),
    },
];

/// A flag level by id.
pub fn flag(id: &str) -> Option<Flag> {
    FLAGS.iter().find(|f| f.id == id).copied()
}

// ---------------------------------------------------------------------------------------
// Urgency
// ---------------------------------------------------------------------------------------

/// Someone to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// Who, and when to call.
    pub label: Label,
    /// The number; `None` where the school fills it in (the school leader).
    pub number: Option<&'static str>,
}

/// An urgency level of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Urgency {
    /// 0 notitie, 1 zorg, 2 vermoeden, 3 acuut: written into `Signal::urgency`.
    pub level: u8,
    /// Stable name.
    pub id: &'static str,
    /// Name.
    pub label: Label,
    /// What happens with the signal and what the signaller should do.
    pub guidance: Label,
    /// Numbers shown at once, before the signal is even sent (level 3 only).
    pub emergency_contacts: &'static [Contact],
}

/// Numbers to call when a pupil is in acute danger.
pub const EMERGENCY_CONTACTS: &[Contact] = &[
    Contact {
        label: l(
            "Alarmnummer bij direct gevaar",
            "Emergency number, immediate danger",
        ),
        number: Some("112"),
    },
    Contact {
        label: l(
            "Veilig Thuis (gratis, dag en nacht)",
            "Veilig Thuis, domestic violence and child abuse (free, day and night)",
        ),
        number: Some("0800-2000"),
    },
    Contact {
        label: l("De schoolleider", "The school leader"),
        number: None,
    },
    Contact {
        label: l(
            "Crisisteam School & Veiligheid",
            "School & Veiligheid crisis team",
        ),
        number: Some("030 285 66 16"),
    },
];

/// The urgency levels, 0 to 3.
pub const URGENCIES: &[Urgency] = &[
    Urgency {
        level: 0,
        id: "notitie",
        label: l("Notitie", "Note"),
        guidance: l(
            "Iets om te onthouden. Blijft bij jou en de mentor van de leerling.",
            "Something to remember. Stays with you and the pupil's mentor.",
        ),
        emergency_contacts: &[],
    },
    Urgency {
        level: 1,
        id: "zorg",
        label: l("Zorg", "Concern"),
        guidance: l(
            "Je maakt je zorgen. De intern begeleider of zorgcoördinator kijkt er binnen \
             een week naar.",
            "You are worried. The care coordinator looks at it within a week.",
        ),
        emergency_contacts: &[],
    },
    Urgency {
        level: 2,
        id: "vermoeden",
        label: l("Vermoeden", "Suspicion"),
        guidance: l(
            "Je vermoedt dat de leerling niet veilig is. Bespreek het dezelfde dag met de \
             aandachtsfunctionaris, of bij pesten met de anti-pestcoördinator.",
            "You suspect the pupil is not safe. Discuss it the same day with the designated \
             safeguarding officer (aandachtsfunctionaris), or for bullying with the \
             anti-bullying coordinator.",
        ),
        emergency_contacts: &[],
    },
    Urgency {
        level: 3,
        id: "acuut",
        label: l("Acuut", "Acute"),
        guidance: l(
            "Er is nu gevaar. Bel eerst, schrijf daarna: wacht niet tot dit signaal \
             verstuurd is, dat kan zonder netwerk dagen duren.",
            "There is danger now. Call first, write later: do not wait until this signal has \
             been sent, without a network that can take days.",
        ),
        emergency_contacts: EMERGENCY_CONTACTS,
    },
];

/// An urgency level, 0 to 3.
pub fn urgency(level: u8) -> Option<Urgency> {
    URGENCIES.get(usize::from(level)).copied()
}

#[cfg(test)]
mod tests;
