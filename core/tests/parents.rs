//! Oudercontacten and the school's settings through the store's public interface: who
//! records and reads a contact with parents, the roles-not-names rule, the projection list,
//! and a device using its school's thermometer scale and kindgesprek template.

mod common;

use automerge::{ActorId, Automerge};
use common::*;
use omkijken_core::Error;
use omkijken_core::doc;
use omkijken_core::model::{ParentPresent, SchoolSettings};
use omkijken_core::store::{NewParentContact, NewThermometerEntry};

fn contact(pupil: &str, discussed: &str) -> NewParentContact {
    NewParentContact {
        pupil: pupil.into(),
        held_on: "2026-11-20".into(),
        channel: "phone".into(),
        staff: vec![],
        parents: vec![ParentPresent {
            role: "vader".into(),
            name: None,
        }],
        pupil_present: false,
        discussed: discussed.into(),
    }
}

#[test]
fn a_parent_contact_is_shared_with_the_pupils_mentors_and_care_team_only() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let (t1, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    // p1 is in care (the care team shares the file), p2 is not.
    let in_care = m1
        .record_parent_contact(contact("p1", "Slaapt slecht."))
        .unwrap();
    let plain = m1
        .record_parent_contact(contact("p2", "Gaat goed."))
        .unwrap();
    let aid = m1
        .add_parent_contact_agreement(in_care, "Over een week bellen", "m1", Some("2026-11-27"))
        .unwrap();
    m1.add_parent_contact_agreement(in_care, "Briefje mee", "parents", None)
        .unwrap();
    m1.set_parent_contact_agreement_done(in_care, &aid, true)
        .unwrap();
    m1.finalize_parent_contact(in_care).unwrap();
    let c = m1.parent_contact(in_care).unwrap();
    assert_eq!(
        (c.staff.clone(), c.status.as_str()),
        (vec!["m1".to_string()], "final")
    );
    let list = m1.list_parent_contacts("p1").unwrap();
    assert_eq!(
        (
            list.len(),
            list[0].open_agreements,
            list[0].channel.as_str()
        ),
        (1, 1, "phone")
    );
    exchange(&m1, &cc);
    exchange(&m1, &t1);
    assert_eq!(
        cc.parent_contact(in_care).unwrap().discussed.as_str(),
        "Slaapt slecht."
    );
    assert!(matches!(cc.parent_contact(plain), Err(Error::NotFound)));
    assert!(cc.list_parent_contacts("p2").unwrap().is_empty());
    assert!(matches!(t1.parent_contact(in_care), Err(Error::NotFound)));
    assert!(t1.list_parent_contacts("p1").unwrap().is_empty());
    // A teacher records none; the care team does for a pupil in care, not for another.
    assert!(matches!(
        t1.record_parent_contact(contact("p2", "x")),
        Err(Error::Forbidden(_))
    ));
    cc.record_parent_contact(contact("p1", "Overleg met moeder."))
        .unwrap();
    assert!(matches!(
        cc.record_parent_contact(contact("p2", "x")),
        Err(Error::Forbidden(_))
    ));
    // The care team completes the mentor's note; the mentor gets the edit.
    cc.edit_parent_contact_discussed(in_care, 14, 0, " Wijkteam erbij.")
        .unwrap();
    exchange(&cc, &m1);
    assert_eq!(
        m1.parent_contact(in_care).unwrap().discussed.as_str(),
        "Slaapt slecht. Wijkteam erbij."
    );
}

#[test]
fn parents_are_recorded_by_role_unless_the_school_records_names() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let mut named = contact("p2", "Gesprek.");
    named.parents[0].name = Some("Meneer de Vries".into());
    assert!(matches!(
        m1.record_parent_contact(named.clone()),
        Err(Error::Invalid(_))
    ));
    let mut bad = contact("p2", "x");
    bad.channel = "brief".into();
    assert!(matches!(
        m1.record_parent_contact(bad),
        Err(Error::Invalid(_))
    ));
    // The admin turns names on: a later change to the roster the device holds.
    let rid = doc::roster_id(SCHOOL);
    let mut d = Automerge::load(&roster_bytes(&roster())).unwrap();
    doc::update(
        rid,
        &mut d,
        &ActorId::from(b"server-actor-001".to_vec()),
        T0,
        |r: &mut omkijken_core::model::Roster| {
            r.parent_names = true;
            Ok(())
        },
    )
    .unwrap();
    m1.merge_bytes(rid, &d.save()).unwrap();
    let id = m1.record_parent_contact(named.clone()).unwrap();
    assert_eq!(
        m1.parent_contact(id).unwrap().parents[0].name.as_deref(),
        Some("Meneer de Vries")
    );
    // The school stops recording names: the name recorded stays (the note can still be
    // completed), a new one is refused.
    doc::update(
        rid,
        &mut d,
        &ActorId::from(b"server-actor-002".to_vec()),
        T0,
        |r: &mut omkijken_core::model::Roster| {
            r.parent_names = false;
            Ok(())
        },
    )
    .unwrap();
    m1.merge_bytes(rid, &d.save()).unwrap();
    named.discussed = "Gesprek; vervolg over twee weken.".into();
    m1.update_parent_contact(id, named.clone()).unwrap();
    named.parents.push(ParentPresent {
        role: "moeder".into(),
        name: Some("Mevrouw de Vries".into()),
    });
    assert!(matches!(
        m1.update_parent_contact(id, named),
        Err(Error::Invalid(_))
    ));
}

/// The roster document with `settings` written by the server.
fn with_settings(json: &str) -> Vec<u8> {
    let mut s = SchoolSettings::default();
    s.merge_json(json).unwrap();
    let mut d = Automerge::load(&roster_bytes(&roster())).unwrap();
    doc::set_school_settings(&mut d, &ActorId::from(b"server-actor-000".to_vec()), T0, &s).unwrap();
    d.save()
}

#[test]
fn a_device_uses_its_schools_scale_and_template() {
    let dir = tempfile::tempdir().unwrap();
    let (m2, _) = store_for(dir.path(), "m2");
    // Defaults first: p3 is in groep 1-4, the emotion scale.
    assert_eq!(m2.thermometer_scale("p3").unwrap().scale.id, "emoties-4x3");
    m2.merge_bytes(
        doc::roster_id(SCHOOL),
        &with_settings(
            r#"{"thermometer": {"po_1_4": {"scale": "smileys-5", "emotion_words": ["blij", "moe"],
                 "talk_flag": {"nl": "Even praten met de juf?"}}},
               "templates": [{"id": "kort", "name": {"nl": "Kort gesprek"},
                 "opening": {"nl": "Je ouders en je juf mogen lezen wat ik opschrijf."},
                 "questions": [{"id": "fijn", "label": {"nl": "Wat was fijn?"}}]}],
               "default_template": "kort", "conversations_per_year": 4}"#,
        ),
    )
    .unwrap();
    let scale = m2.thermometer_scale("p3").unwrap();
    assert_eq!(scale.scale.id, "smileys-5");
    assert_eq!(scale.talk_flag.en, "Even praten met de juf?");
    let entry = |score, emotions: &[&str]| NewThermometerEntry {
        pupil: "p3".into(),
        at: T0,
        score,
        emotions: emotions.iter().map(|e| e.to_string()).collect(),
        wants_to_talk: false,
        note: None,
    };
    let month = m2.record_thermometer(entry(4, &["moe"])).unwrap();
    assert!(matches!(
        m2.record_thermometer(entry(4, &["trots"])),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        m2.record_thermometer(entry(9, &[])),
        Err(Error::Invalid(_))
    ));
    let m = m2.thermometer_month("p3", "2026-11").unwrap().unwrap();
    assert_eq!(
        (m.entries.len(), m.entries[0].scale.as_str()),
        (1, "smileys-5")
    );
    assert!(m2.info(month).unwrap().is_some());
    let cid = m2.start_conversation("p3", "", "2026-11-21").unwrap();
    let c = m2.conversation(cid).unwrap();
    assert_eq!(c.template_id, "kort");
    assert_eq!(c.answers.keys().collect::<Vec<_>>(), vec!["fijn"]);
    assert_eq!(m2.conversation_templates().unwrap().len(), 2);
    let due = m2.conversations_due("2026-11-22").unwrap();
    assert_eq!(
        (due[0].pupil.as_str(), due[0].due_on.as_str(), due[0].due),
        ("p3", "2027-02-20", false)
    );
}
