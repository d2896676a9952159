//! The signal taxonomy: categories with their routes, and the flags.

use super::Label;
use super::l;
use serde::Serialize;

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
