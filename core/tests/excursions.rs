//! Excursions through the store's public interface: planning a trip, who holds it, the
//! guideline's count of adults, and bad input.

mod common;

use common::*;
use omkijken_core::Error;
use omkijken_core::store::{NewExcursion, NewTripContact};

fn trip() -> NewExcursion {
    NewExcursion {
        name: "Schoolkamp Ardennen".into(),
        place: "Han-sur-Lesse".into(),
        starts_on: "2027-05-10".into(),
        ends_on: "2027-05-12".into(),
        participants: vec!["p1".into(), "p2".into(), "p3".into()],
        staff: vec!["t1".into()],
        contacts: vec![NewTripContact {
            name: "Ouder van dienst".into(),
            role: "begeleider".into(),
            phone: "06-12345678".into(),
            supervises: true,
        }],
    }
}

#[test]
fn the_organiser_plans_a_trip_and_the_staff_on_it_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let (t1, _) = store_for(dir.path(), "t1");
    let (t2, _) = store_for(dir.path(), "t2");
    let (cc, _) = store_for(dir.path(), "cc");
    let id = m1.plan_excursion(trip()).unwrap();
    for s in [&t1, &t2, &cc] {
        exchange(&m1, s);
    }

    let e = m1.excursion(id).unwrap();
    assert_eq!(e.participants, vec!["p1", "p2", "p3"]);
    assert_eq!(e.staff, vec!["t1"]);
    assert_eq!(e.contacts[0].phone, "06-12345678");
    assert_eq!(
        t1.excursion(id).unwrap(),
        e,
        "the teacher on the trip reads it"
    );
    let listed = t1.list_excursions().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].id,
            listed[0].organiser.as_str(),
            listed[0].participants
        ),
        (id, "m1", 3)
    );
    // Staff not on the trip, the care coordinator included, do not see it.
    for s in [&t2, &cc] {
        assert!(matches!(s.excursion(id), Err(Error::NotFound)));
        assert!(s.list_excursions().unwrap().is_empty());
    }
    // Only the organiser changes it.
    assert!(matches!(
        t1.update_excursion(id, |e| {
            e.place = "elders".into();
            Ok(())
        }),
        Err(Error::Forbidden(_))
    ));

    // Taken off the trip, the teacher no longer reads it.
    m1.update_excursion(id, |e| {
        e.staff.clear();
        Ok(())
    })
    .unwrap();
    exchange(&m1, &t1);
    assert!(matches!(t1.excursion(id), Err(Error::NotFound)));
    assert!(t1.list_excursions().unwrap().is_empty());
}

#[test]
fn the_guideline_counts_the_adults_a_trip_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    // p3 is in groep 1-4 (one adult per 5), p1 and p2 in groep 5-8 (one per 7): two adults
    // needed. The organiser, t1 and a parent who supervises make three.
    let id = m1.plan_excursion(trip()).unwrap();
    let s = m1.excursion_supervision(id).unwrap();
    assert_eq!(
        (s.pupils, s.adults, s.required, s.enough()),
        (3, 3, 2, true)
    );
    m1.update_excursion(id, |e| {
        e.staff.clear();
        e.contacts.clear();
        Ok(())
    })
    .unwrap();
    let s = m1.excursion_supervision(id).unwrap();
    assert_eq!((s.adults, s.required, s.enough()), (1, 2, false));
    m1.add_trip_contact(
        id,
        NewTripContact {
            name: "Stagiair".into(),
            role: "begeleider".into(),
            phone: "06-87654321".into(),
            supervises: true,
        },
    )
    .unwrap();
    assert!(m1.excursion_supervision(id).unwrap().enough());
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let bad: [fn(&mut NewExcursion); 6] = [
        |e| e.name = " ".into(),
        |e| e.ends_on = "2027-05-09".into(),
        |e| e.starts_on = "10 mei".into(),
        |e| e.participants.push("nobody".into()),
        |e| e.staff.push("nobody".into()),
        |e| e.contacts[0].phone = "".into(),
    ];
    for f in bad {
        let mut e = trip();
        f(&mut e);
        assert!(matches!(m1.plan_excursion(e), Err(Error::Invalid(_))));
    }
    assert!(m1.list_excursions().unwrap().is_empty());

    let id = m1.plan_excursion(trip()).unwrap();
    let before = m1.excursion(id).unwrap();
    assert!(matches!(
        m1.update_excursion(id, |e| {
            e.participants.push("p1".into());
            Ok(())
        }),
        Err(Error::Invalid(_))
    ));
    assert_eq!(m1.excursion(id).unwrap(), before);
}

#[test]
fn two_devices_of_the_organiser_adding_the_same_colleague_merge_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, _) = store_for(dir.path(), "m1");
    let laptop_dir = dir.path().join("laptop");
    std::fs::create_dir_all(&laptop_dir).unwrap();
    let (laptop, _) = store_for(&laptop_dir, "m1");
    let mut e = trip();
    e.staff.clear();
    let id = phone.plan_excursion(e).unwrap();
    exchange(&phone, &laptop);
    for s in [&phone, &laptop] {
        s.update_excursion(id, |e| {
            e.staff.push("t1".into());
            e.participants.push("p1".into());
            Ok(())
        })
        .unwrap_err(); // p1 is already going: refused on each device
        s.update_excursion(id, |e| {
            e.staff.push("t1".into());
            Ok(())
        })
        .unwrap();
    }
    exchange(&phone, &laptop);
    for s in [&phone, &laptop] {
        let e = s.excursion(id).unwrap();
        assert_eq!(e.staff, vec!["t1"], "once, though added on both devices");
        assert_eq!(s.excursion_supervision(id).unwrap().adults, 3);
        // The organiser's next edit writes each colleague once again.
        s.update_excursion(id, |e| {
            e.place = "Durbuy".into();
            Ok(())
        })
        .unwrap();
    }
    exchange(&phone, &laptop);
    assert_eq!(phone.excursion(id).unwrap(), laptop.excursion(id).unwrap());
}
