//! Urgency levels, with the emergency contacts to call.

use super::Label;
use super::l;
use serde::Serialize;

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
