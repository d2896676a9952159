//! Tests of reading and writing documents.

use super::*;
use crate::model::{Conversation, Kind, Roster, SCHEMA_VERSION};
use automerge::{ActorId, Automerge};

/// A roster written by difference reads back as the roster it was brought to, after any
/// sequence of changes (pupils, groups and staff added, changed and removed; top-level
/// fields), both in the document and after a save and load.
#[test]
fn roster_updates_by_difference_read_back_whole() {
    use crate::model::{Group, Pupil, Staff};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let pupil = (
        0u8..6,
        "[a-zé]{1,6}",
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        0u8..3,
    );
    let roster = (
        proptest::collection::vec(pupil, 0..8),
        proptest::collection::vec((0u8..3, "[a-z ]{0,5}", 0u8..3), 0..3),
        proptest::collection::vec((0u8..4, "[a-zö]{1,5}", any::<bool>(), any::<bool>()), 0..4),
        proptest::option::of(1u32..60),
        any::<bool>(),
    )
        .prop_map(|(pupils, groups, staff, lease, parents)| Roster {
            school: "s".into(),
            pupils: pupils
                .into_iter()
                .map(|(i, name, g, active, care, m)| {
                    let id = format!("p{i}");
                    let p = Pupil {
                        id: id.clone(),
                        display_name: name,
                        group: format!("g{g}"),
                        age_band: "8-12".into(),
                        active,
                        in_care: care,
                        mentors: (0..m).map(|k| format!("t{k}")).collect(),
                        erasures: 0,
                    };
                    (id, p)
                })
                .collect(),
            groups: groups
                .into_iter()
                .map(|(i, name, t)| {
                    let id = format!("g{i}");
                    let teachers = (0..t).map(|k| format!("t{k}")).collect();
                    (id.clone(), Group { id, name, teachers })
                })
                .collect(),
            staff: staff
                .into_iter()
                .map(|(i, name, duty, active)| {
                    let id = format!("t{i}");
                    let roles = vec!["mentor".to_string()];
                    let st = Staff {
                        id: id.clone(),
                        display_name: name,
                        roles,
                        meldcode_duty: duty,
                        active,
                    };
                    (id, st)
                })
                .collect(),
            offline_lease_days: lease,
            viewer: None,
            parent_names: parents,
        });
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(roster, 1..6), |rosters| {
            let (id, mut d) = roster_genesis("s").unwrap();
            let actor = ActorId::from(&[7u8; 16][..]);
            let mut held: Roster = record(id, &d).unwrap();
            for (n, r) in rosters.iter().enumerate() {
                let changed = update_roster(id, &mut d, &actor, n as i64, &held, r).unwrap();
                prop_assert_eq!(changed, held != *r);
                held = record(id, &d).unwrap();
                prop_assert_eq!(&held, r);
            }
            let reloaded = Automerge::load(&d.save()).unwrap();
            prop_assert_eq!(
                &record::<Roster>(id, &reloaded).unwrap(),
                rosters.last().unwrap()
            );
            Ok(())
        })
        .unwrap();
}

/// A roster written whole into an empty one (a new staff member's view, a school's first
/// import: one batch) reaches a device that holds the empty genesis: merged, it reads the
/// same roster, and later edits made entry by entry arrive on top of it.
#[test]
fn a_roster_written_whole_merges_into_the_genesis_a_device_holds() {
    use crate::model::{Group, Pupil, Staff};
    let (id, mut server) = roster_genesis("s").unwrap();
    let mut device = server.clone();
    let empty: Roster = record(id, &server).unwrap();
    let mut r = empty.clone();
    for (p, name) in [("p1", "Noëlle"), ("p2", "Zoë"), ("p3", "Sjoerd")] {
        r.pupils.insert(
            p.into(),
            Pupil {
                id: p.into(),
                display_name: name.into(),
                group: "g1".into(),
                age_band: "po_5_8".into(),
                active: true,
                in_care: false,
                mentors: vec!["m1".into()],
                erasures: 0,
            },
        );
    }
    r.groups.insert(
        "g1".into(),
        Group {
            id: "g1".into(),
            name: "groep 6b".into(),
            teachers: vec!["t1".into()],
        },
    );
    r.staff.insert(
        "m1".into(),
        Staff {
            id: "m1".into(),
            display_name: "Meester Jeroen".into(),
            roles: vec!["mentor".into()],
            meldcode_duty: false,
            active: true,
        },
    );
    let actor = ActorId::from(&[9u8; 16][..]);
    assert!(update_roster(id, &mut server, &actor, 1, &empty, &r).unwrap());
    device
        .load_incremental(&server.save_after(&device.get_heads()))
        .unwrap();
    assert_eq!(record::<Roster>(id, &device).unwrap(), r);

    let mut r2 = r.clone();
    r2.pupils.get_mut("p2").unwrap().in_care = true;
    r2.pupils.remove("p3");
    assert!(update_roster(id, &mut server, &actor, 2, &r, &r2).unwrap());
    device
        .load_incremental(&server.save_after(&device.get_heads()))
        .unwrap();
    assert_eq!(record::<Roster>(id, &device).unwrap(), r2);
    assert_eq!(device.get_heads(), server.get_heads());
}

/// An actor that wrote before, then another actor, then the first again: the text must
/// not read as stale (it did when read outside the transaction).
#[test]
fn text_edits_after_another_writer_are_not_stale() {
    let id = DocumentId::random();
    let header = Header {
        kind: Kind::Conversation.as_str().into(),
        school: "s".into(),
        pupil: Some("p".into()),
        author: "m".into(),
        created_at: 0,
        schema: SCHEMA_VERSION,
    };
    let conversation = Conversation {
        held_on: "2026-11-02".into(),
        participants: vec![],
        template_id: "ik-jij-wij".into(),
        answers: Default::default(),
        notes: Default::default(),
        agreements: vec![],
        status: "draft".into(),
        visibility: "shared".into(),
    };
    let (a, b) = (
        ActorId::from(*b"actor-a-01234567"),
        ActorId::from(*b"actor-b-01234567"),
    );
    let mut d = create(a.clone(), 0, &header, &conversation).unwrap();
    let notes = |d: &Automerge| {
        record::<Conversation>(id, d)
            .unwrap()
            .notes
            .as_str()
            .to_string()
    };
    update(id, &mut d, &b, 0, |c: &mut Conversation| {
        c.notes.splice(0, 0, "b").unwrap();
        Ok(())
    })
    .unwrap();
    update(id, &mut d, &a, 0, |c: &mut Conversation| {
        c.notes.splice(1, 0, "a").unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(notes(&d), "ba");
    // A failed edit changes nothing.
    let heads = d.get_heads();
    let err = update(id, &mut d, &b, 0, |c: &mut Conversation| {
        c.notes.splice(0, 0, "x").unwrap();
        Err(Error::Invalid("no".into()))
    });
    assert!(err.is_err());
    assert_eq!((d.get_heads(), notes(&d)), (heads, "ba".to_string()));
}
