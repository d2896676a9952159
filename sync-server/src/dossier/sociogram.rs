//! The dossier's sociogram section: a pupil's own answers, and how many classmates chose and
//! rejected her, as counts (AVG art. 15(4): their answers are theirs).

use super::{Item, name, record};
use crate::storage::{CatalogRow, Storage};
use crate::{Error, Result};
use automerge::Automerge;
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::{Roster, SociogramAnswers, SociogramRound};
use omkijken_core::sociogram::{Answers, Member, analyse};
use std::collections::{BTreeMap, BTreeSet};

/// What the sociogram section is made from: the rounds and answers documents of the school
/// the dossier may hold (readable, not erased), and the groups the pupil answered in (and
/// her group now).
#[derive(Default)]
pub(super) struct SociogramRows {
    pub(super) rounds: Vec<CatalogRow>,
    pub(super) answers: BTreeSet<DocumentId>,
    pub(super) groups: BTreeSet<String>,
}

/// One item a sociogram round of her groups in which she answered or a classmate named her:
/// her own answers (whom she chose, by name: her own words), and how many classmates chose
/// and rejected her, as counts. Whom of her classmates named her is their answer, not her
/// data: it is left out (AVG art. 15(4), the rights of others; DOMAIN.md).
pub(super) fn sociogram_items(
    st: &mut dyn Storage,
    roster: &Roster,
    school: &str,
    pupil: &str,
    rows: SociogramRows,
) -> Result<Vec<Item>> {
    let mut items = vec![];
    for row in rows.rounds {
        if !row
            .fields
            .category
            .as_ref()
            .is_some_and(|g| rows.groups.contains(g))
        {
            continue;
        }
        let Some(bytes) = st.load_doc(row.id)? else {
            continue;
        };
        let d = Automerge::load(&bytes).map_err(|_| Error::Corrupt("a stored document"))?;
        let round: SociogramRound = record(row.id, &d)?;
        let mut members: Vec<Member> = roster
            .group_pupils(&round.group)
            .map(|p| Member {
                id: p.id.clone(),
                name: p.id.clone(),
            })
            .collect();
        if !members.iter().any(|m| m.id == pupil) {
            members.push(Member {
                id: pupil.into(),
                name: pupil.into(),
            });
        }
        let mut answers: BTreeMap<String, Answers> = BTreeMap::new();
        for m in &members {
            let id = doc::sociogram_answers_id(school, row.id, &round.group, &m.id);
            if !rows.answers.contains(&id) {
                continue;
            }
            let Some(bytes) = st.load_doc(id)? else {
                continue;
            };
            let d = Automerge::load(&bytes).map_err(|_| Error::Corrupt("a stored document"))?;
            let a: SociogramAnswers = record(id, &d)?;
            answers.insert(m.id.clone(), a.current_choices());
        }
        let analysis = analyse(&round.questions, &members, &answers);
        let Some(at) = analysis.position(pupil) else {
            continue;
        };
        let own = answers.get(pupil);
        if own.is_none() && at.choices_received == 0 && at.rejections_received == 0 {
            continue; // a round before her time in the group
        }
        let mut lines = vec![];
        for q in &round.questions {
            if let Some(named) = own.and_then(|a| a.get(&q.id)) {
                let names: Vec<String> = named
                    .iter()
                    .map(|p| match roster.pupils.get(p) {
                        Some(p) => p.display_name.clone(),
                        None => "een leerling die niet meer op school is".into(),
                    })
                    .collect();
                let text = if names.is_empty() {
                    "niemand".into()
                } else {
                    names.join(", ")
                };
                lines.push((q.text.clone(), text));
            }
        }
        if own.is_none() {
            lines.push(("Antwoorden van de leerling".into(), "geen".into()));
        }
        let classmates = |n: u32| match n {
            0 => "niemand".to_string(),
            1 => "1 klasgenoot".to_string(),
            n => format!("{n} klasgenoten"),
        };
        lines.push((
            "Door klasgenoten".into(),
            format!(
                "gekozen door {}, afgewezen door {} (wie, staat hier niet: dat zijn \
                 hun antwoorden)",
                classmates(at.choices_received),
                classmates(at.rejections_received)
            ),
        ));
        lines.push((
            "Meegedaan".into(),
            format!(
                "{} van de {} leerlingen van de groep",
                analysis.respondents,
                members.len()
            ),
        ));
        items.push(Item {
            document: row.id.to_string(),
            heading: "Sociogram".into(),
            date: round.opened_on.clone(),
            author: name(roster, &row.header.author),
            lines,
        });
    }
    items.sort_by(|a, b| a.date.cmp(&b.date));
    Ok(items)
}
