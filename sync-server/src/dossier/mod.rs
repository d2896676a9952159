//! The dossier for inzage (DOMAIN.md: parents, and pupils of 16 and over, may see the
//! pupil's file within 4 weeks, purely personal working notes excepted).
//!
//! [`build`] collects every shared record of one pupil from the server's store: shared
//! kindgesprekken, shared signals with all their follow-ups (those on the signal and the
//! notes of the mentors and the care team beside it, `SignalNotes`), thermometer entries and
//! meldcode cases, with the names of the staff who wrote them. Private working notes
//! (conversations never shared, signals still a draft) are left out. Given a viewer, only
//! what that staff member may read goes in (a care coordinator asking from her tablet gets
//! no more than her devices may hold). [`Dossier::to_pdf`] renders it as a readable PDF with
//! Dutch headings and dates and a cover page with the date of the request; the same content
//! serialises to JSON for a machine.

use crate::storage::Storage;
use crate::{Error, Result};
use automerge::Automerge;
use jiff::civil::Date;
use omkijken_core::model::{
    Case, Conversation, Kind, ParentContact, Roster, Signal, SignalNotes, ThermometerMonth,
    Visibility,
};
use omkijken_core::{Access, DocumentId, access, doc};
use serde::Serialize;
use sociogram::{SociogramRows, sociogram_items};

mod sociogram;

/// The dossier of one pupil.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dossier {
    /// School id.
    pub school: String,
    /// Pupil id.
    pub pupil: String,
    /// The pupil's name as the roster gives it.
    pub pupil_name: String,
    /// The date of the request (`YYYY-MM-DD`).
    pub requested_on: String,
    /// When this was made (`YYYY-MM-DD`).
    pub made_on: String,
    /// Sections, in a fixed order (kindgesprekken, signalen, gevoelsthermometer,
    /// sociogram, meldcode, oudercontacten).
    pub sections: Vec<Section>,
}

/// One section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// Dutch heading.
    pub title: String,
    /// Its records, oldest first.
    pub items: Vec<Item>,
}

/// One record or entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Document id.
    pub document: String,
    /// Dutch heading of the record.
    pub heading: String,
    /// Date (`YYYY-MM-DD`).
    pub date: String,
    /// Who wrote it (name from the roster, or the staff id if unknown).
    pub author: String,
    /// (label, text) lines, in order.
    pub lines: Vec<(String, String)>,
}

const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

/// A date in Dutch: "5 december 2026".
pub fn dutch_date(d: Date) -> String {
    format!(
        "{} {} {}",
        d.day(),
        MONTHS[usize::from(d.month().unsigned_abs()) - 1],
        d.year()
    )
}

/// The day of `ms` (unix ms) in the Netherlands.
pub fn date_of(ms: i64) -> Date {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap_or(jiff::tz::TimeZone::UTC))
        .date()
}

fn name(roster: &Roster, staff: &str) -> String {
    roster
        .staff
        .get(staff)
        .map(|s| s.display_name.clone())
        .unwrap_or_else(|| staff.to_string())
}

fn follow_up_label(kind: &str) -> &'static str {
    match kind {
        "correction" => "Correctie",
        "picked_up" => "Opgepakt",
        "closed" => "Afgesloten",
        "to_signaller" => "Aan de melder",
        _ => "Vervolg",
    }
}

/// Build the dossier of `pupil` in `school`. With `viewer` (a staff id), only what that
/// staff member may read is in it.
pub fn build(
    st: &mut dyn Storage,
    school: &str,
    pupil: &str,
    viewer: Option<&str>,
    requested_on: Date,
    today: Date,
) -> Result<Dossier> {
    let roster_bytes = st
        .load_doc(doc::roster_id(school))?
        .ok_or(Error::Invalid("no roster for this school".into()))?;
    let roster_doc = Automerge::load(&roster_bytes).map_err(|_| Error::Corrupt("roster"))?;
    let roster: Roster =
        doc::record(doc::roster_id(school), &roster_doc).map_err(|_| Error::Corrupt("roster"))?;
    let settings = doc::school_settings(&roster_doc);
    let Some(p) = roster.pupils.get(pupil) else {
        return Err(Error::Invalid("no such pupil".into()));
    };
    // The pupil's rows, and the school's sociogram rows (the school's read page by page,
    // not all at once).
    let mut rows = vec![];
    let mut sociogram = SociogramRows::default();
    let (round_kind, answers_kind) = (
        Kind::SociogramRound.as_str(),
        Kind::SociogramAnswers.as_str(),
    );
    st.for_each_in_school(school, &mut |r| {
        if r.erased
            || viewer.is_some_and(|v| access(&roster, v, &r.header, &r.fields) < Access::Read)
        {
            return Ok(());
        }
        if r.header.kind == round_kind {
            sociogram.rounds.push(r);
        } else if r.header.kind == answers_kind {
            if r.header.pupil.as_deref() == Some(pupil) {
                sociogram.groups.extend(r.fields.category.clone());
            }
            sociogram.answers.insert(r.id);
        } else if r.header.pupil.as_deref() == Some(pupil) {
            rows.push(r);
        }
        Ok(())
    })?;
    sociogram.groups.insert(p.group.clone());
    let sociogram = sociogram_items(st, &roster, school, pupil, sociogram)?;
    rows.sort_by_key(|r| (r.header.created_at, r.id));
    let mut conversations = vec![];
    let mut signals = vec![];
    let mut thermometer = vec![];
    let mut cases = vec![];
    let mut parent_contacts = vec![];
    // A signal's notes are its follow-ups too (by signal id), merged once all are read.
    let mut shared_signals: Vec<(String, String, Signal)> = vec![];
    let mut notes: std::collections::BTreeMap<String, Vec<omkijken_core::model::FollowUp>> =
        Default::default();
    for r in rows {
        let Some(bytes) = st.load_doc(r.id)? else {
            continue;
        };
        let d = Automerge::load(&bytes).map_err(|_| Error::Corrupt("a stored document"))?;
        let author = name(&roster, &r.header.author);
        let id = r.id.to_string();
        match r.header.kind.parse::<Kind>() {
            Ok(Kind::Conversation) => {
                let c: Conversation = record(r.id, &d)?;
                if c.visibility() != Visibility::Shared {
                    continue; // a private working note
                }
                let template = settings.template(&c.template_id);
                conversations.push(conversation_item(&roster, id, author, &c, template));
            }
            Ok(Kind::Signal) => {
                let s: Signal = record(r.id, &d)?;
                if !s.shared {
                    continue; // a draft: the signaller's own working note
                }
                shared_signals.push((id, author, s));
            }
            Ok(Kind::SignalNotes) => {
                let n: SignalNotes = record(r.id, &d)?;
                notes.entry(n.signal).or_default().extend(n.notes);
            }
            Ok(Kind::Thermometer) => {
                let m: ThermometerMonth = record(r.id, &d)?;
                for e in m.entries {
                    let mut lines = vec![("Score".to_string(), e.score.to_string())];
                    if !e.emotions.is_empty() {
                        lines.push(("Gevoelens".into(), e.emotions.join(", ")));
                    }
                    if e.wants_to_talk {
                        lines.push(("Wil even praten".into(), "ja".into()));
                    }
                    if let Some(n) = e.note {
                        lines.push(("Notitie".into(), n));
                    }
                    thermometer.push(Item {
                        document: id.clone(),
                        heading: "Gevoelsthermometer".into(),
                        date: date_of(e.at).to_string(),
                        author: name(&roster, &e.recorded_by),
                        lines,
                    });
                }
            }
            Ok(Kind::Case) => {
                let c: Case = record(r.id, &d)?;
                cases.push(case_item(&roster, id, author, &c));
            }
            Ok(Kind::ParentContact) => {
                let c: ParentContact = record(r.id, &d)?;
                parent_contacts.push(parent_contact_item(&roster, id, author, &c));
            }
            _ => {}
        }
    }
    for (id, author, mut s) in shared_signals {
        if let Some(n) = notes.remove(&id) {
            s.follow_ups.extend(n);
            s.follow_ups.sort_by_key(|f| f.at);
        }
        signals.push(signal_item(&roster, id, author, &s));
    }
    thermometer.sort_by(|a, b| a.date.cmp(&b.date));
    let section = |title: &str, items| Section {
        title: title.into(),
        items,
    };
    Ok(Dossier {
        school: school.into(),
        pupil: pupil.into(),
        pupil_name: p.display_name.clone(),
        requested_on: requested_on.to_string(),
        made_on: today.to_string(),
        sections: vec![
            section("Kindgesprekken", conversations),
            section("Signalen", signals),
            section("Gevoelsthermometer", thermometer),
            section("Sociogram", sociogram),
            section("Meldcode", cases),
            section("Oudercontacten", parent_contacts),
        ],
    })
}

pub(super) fn record<R: omkijken_core::model::Record>(id: DocumentId, d: &Automerge) -> Result<R> {
    doc::record(id, d).map_err(|_| Error::Corrupt("a stored record"))
}

fn conversation_item(
    roster: &Roster,
    document: String,
    author: String,
    c: &Conversation,
    template: Option<omkijken_core::model::TemplateSetting>,
) -> Item {
    let mut lines = vec![(
        "Aanwezig".to_string(),
        c.participants
            .iter()
            .map(|p| {
                if p == "pupil" {
                    "leerling".into()
                } else {
                    name(roster, p)
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    )];
    let mut answered: Vec<(&String, String)> = c
        .answers
        .iter()
        .filter(|(_, a)| !a.as_str().is_empty())
        .map(|(q, a)| (q, a.as_str().to_string()))
        .collect();
    // In the template's order.
    if let Some(t) = &template {
        answered.sort_by_key(|(q, _)| t.questions.iter().position(|x| x.id == q.as_str()));
    }
    for (q, a) in answered {
        let label = template
            .as_ref()
            .and_then(|t| t.questions.iter().find(|x| x.id == q.as_str()))
            .map(|x| x.label.nl.clone())
            .unwrap_or_else(|| q.clone());
        lines.push((label, a));
    }
    let notes = ("Notities", c.notes.as_str());
    text_and_agreements(&mut lines, roster, notes, &c.agreements);
    Item {
        document,
        heading: "Kindgesprek".into(),
        date: c.held_on.clone(),
        author,
        lines,
    }
}

/// A conversation's last lines: its text under its label (when written), then its agreements.
fn text_and_agreements(
    lines: &mut Vec<(String, String)>,
    roster: &Roster,
    (label, text): (&str, &str),
    agreements: &[omkijken_core::model::Agreement],
) {
    if !text.is_empty() {
        lines.push((label.into(), text.to_string()));
    }
    lines.extend(agreements.iter().map(|a| agreement_line(roster, a)));
}

fn agreement_line(roster: &Roster, a: &omkijken_core::model::Agreement) -> (String, String) {
    let owner = match a.owner.as_str() {
        "pupil" => "leerling".to_string(),
        "parents" => "ouders".to_string(),
        o => name(roster, o),
    };
    let due = a
        .due
        .as_deref()
        .map(|d| format!(", uiterlijk {d}"))
        .unwrap_or_default();
    let done = if a.done { " (gedaan)" } else { "" };
    (
        "Afspraak".into(),
        format!("{} ({owner}{due}){done}", a.text),
    )
}

fn parent_contact_item(
    roster: &Roster,
    document: String,
    author: String,
    c: &ParentContact,
) -> Item {
    let channel = match c.channel.as_str() {
        "meeting" => "gesprek op school",
        "phone" => "telefoon",
        "video" => "videogesprek",
        "home_visit" => "huisbezoek",
        _ => "anders",
    };
    let mut present: Vec<String> = c.staff.iter().map(|s| name(roster, s)).collect();
    present.extend(c.parents.iter().map(|p| match &p.name {
        Some(n) => format!("{} ({n})", p.role),
        None => p.role.clone(),
    }));
    if c.pupil_present {
        present.push("leerling".into());
    }
    let mut lines = vec![
        ("Vorm".to_string(), channel.to_string()),
        ("Aanwezig".into(), present.join(", ")),
    ];
    let discussed = ("Besproken", c.discussed.as_str());
    text_and_agreements(&mut lines, roster, discussed, &c.agreements);
    Item {
        document,
        heading: "Oudercontact".into(),
        date: c.held_on.clone(),
        author,
        lines,
    }
}

fn signal_item(roster: &Roster, document: String, author: String, s: &Signal) -> Item {
    let category = omkijken_core::defaults::category(&s.category)
        .map(|c| c.label.nl.to_string())
        .unwrap_or_else(|| s.category.clone());
    let mut lines = vec![
        ("Categorie".to_string(), category),
        ("Waar".into(), s.context.place.clone()),
        ("Feiten".into(), s.facts.clone()),
    ];
    if let Some(i) = &s.interpretation {
        lines.push(("Interpretatie".into(), i.text.clone()));
    }
    if let Some(q) = &s.pupil_quote {
        lines.push(("Woorden van de leerling".into(), q.clone()));
    }
    for f in &s.follow_ups {
        lines.push((
            format!(
                "{} ({}, {})",
                follow_up_label(&f.kind),
                name(roster, &f.author),
                dutch_date(date_of(f.at))
            ),
            f.text.clone(),
        ));
    }
    Item {
        document,
        heading: "Signaal".into(),
        date: date_of(s.observed_at).to_string(),
        author,
        lines,
    }
}

fn case_item(roster: &Roster, document: String, author: String, c: &Case) -> Item {
    let mut lines = vec![(
        "Status".to_string(),
        if c.status == "closed" {
            "afgesloten"
        } else {
            "open"
        }
        .to_string(),
    )];
    for step in &c.steps {
        let mut text = match &step.skipped_because {
            Some(why) => format!("overgeslagen: {why}"),
            None => step.outcome.clone(),
        };
        if let Some(p) = &step.parents {
            let part = match (p.how.as_str(), &p.on, &p.reason) {
                ("informed", Some(on), _) => format!("ouders geïnformeerd op {on}"),
                ("consulted", Some(on), _) => format!("ouders gehoord op {on}"),
                (_, _, Some(why)) => format!("ouders niet betrokken: {why}"),
                _ => "ouders: niet vastgelegd".into(),
            };
            text = format!("{text} ({part})");
        }
        lines.push((
            format!(
                "Stap {} ({}, {})",
                step.step,
                step.on,
                name(roster, &step.by)
            ),
            text,
        ));
    }
    if let Some(w) = &c.weighing {
        lines.push((
            format!("Afweging ({})", w.on),
            format!(
                "vermoeden: {}; onveiligheid: {}",
                if w.suspicion { "ja" } else { "nee" },
                w.unsafety
            ),
        ));
    }
    if let Some(r) = &c.report {
        lines.push((
            "Melding Veilig Thuis".into(),
            format!("{} (kenmerk {})", r.reported_on, r.reference),
        ));
    }
    for m in &c.monitoring {
        lines.push(("Monitoring".into(), m.text.clone()));
    }
    Item {
        document,
        heading: "Meldcodedossier".into(),
        date: date_of(c.opened_at).to_string(),
        author,
        lines,
    }
}

/// Build the dossier (as [`build`]) and write its export to the audit log: who asked (the
/// device and its user, or the admin when both are None) and about which pupil.
#[allow(clippy::too_many_arguments)]
pub fn export(
    st: &mut dyn Storage,
    now: i64,
    school: &str,
    pupil: &str,
    device: Option<(&str, &str)>,
    requested_on: Date,
) -> Result<Dossier> {
    let today = date_of(now);
    let dossier = build(st, school, pupil, device.map(|d| d.1), requested_on, today)?;
    st.commit(crate::storage::Batch {
        audit: vec![export_row(now, school, pupil, device)],
        ..Default::default()
    })?;
    Ok(dossier)
}

/// The `export` audit row of a dossier: who asked (the device and its user, or the admin
/// when both are None) and about which pupil.
pub fn export_row(
    now: i64,
    school: &str,
    pupil: &str,
    device: Option<(&str, &str)>,
) -> crate::storage::AuditRecord {
    crate::storage::AuditRecord {
        device: device.map(|d| d.0.to_string()),
        user: device.map(|d| d.1.to_string()),
        pupil: Some(pupil.into()),
        ..crate::storage::AuditRecord::new(now, school, crate::storage::AuditAction::Export)
    }
}

impl Dossier {
    /// As JSON (the same content as the PDF).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// As a PDF (A4, Helvetica): a cover page, then one heading per section.
    pub fn to_pdf(&self) -> Vec<u8> {
        let mut w = crate::pdf::Writer::new();
        let requested = self
            .requested_on
            .parse()
            .map(dutch_date)
            .unwrap_or_default();
        let made = self.made_on.parse().map(dutch_date).unwrap_or_default();
        w.title("Dossier leerling");
        w.line(&format!("Leerling: {} ({})", self.pupil_name, self.pupil));
        w.line(&format!("School: {}", self.school));
        w.line(&format!("Datum van het verzoek: {requested}"));
        w.line(&format!("Opgesteld op: {made}"));
        w.gap();
        w.paragraph(
            "Dit dossier bevat alle gedeelde gegevens over de leerling: gedeelde \
             kindgesprekken, signalen met hun vervolg, de gevoelsthermometer, het \
             sociogram, het meldcodedossier en de oudercontacten. Persoonlijke \
             werkaantekeningen van medewerkers horen er niet bij. Van het sociogram staan \
             hier de antwoorden van de leerling zelf, en hoe vaak klasgenoten de leerling \
             kozen of afwezen, zonder hun namen: hun antwoorden zijn hun gegevens (AVG \
             artikel 15 lid 4).",
        );
        for s in &self.sections {
            w.new_page();
            w.title(&s.title);
            if s.items.is_empty() {
                w.line("Geen gegevens.");
            }
            for item in &s.items {
                let date = item
                    .date
                    .parse()
                    .map(dutch_date)
                    .unwrap_or(item.date.clone());
                w.heading(&format!(
                    "{} van {date}, door {}",
                    item.heading, item.author
                ));
                for (label, text) in &item.lines {
                    w.paragraph(&format!("{label}: {text}"));
                }
                w.gap();
            }
        }
        w.finish()
    }
}
