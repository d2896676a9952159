//! The kindgesprek templates and their questions.

use super::Label;
use super::l;
use serde::Serialize;

/// Id of the default kindgesprek template.
pub const DEFAULT_TEMPLATE: &str = "ik-jij-wij";

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
