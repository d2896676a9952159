//! An excursion end to end, through the real server: the organiser plans the trip, the
//! staff who go get the trip roster and contact list on their phones, signals refer to it,
//! and on return the trip cache is wiped from the phones.

use anyhow::Result;
use omkijken_core::Error;
use omkijken_core::model::SignalContext;
use omkijken_core::store::{NewExcursion, NewSignal, NewTripContact, SignalFilter};
use omkijken_tests::*;

const OTHER_MENTOR: &str = "m-smit";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staff_on_a_trip_carry_it_offline_and_wipe_it_on_return() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let organiser = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let smit = Device::enroll(&server, tmp.path(), OTHER_MENTOR, "smit phone").await?;
    let coordinator = Device::enroll(&server, tmp.path(), COORDINATOR, "ib tablet").await?;

    for d in [&organiser, &teacher, &smit, &coordinator] {
        d.sync().await?;
    }

    // 1. The mentor plans the trip with two colleagues and a parent on the contact list.
    let trip = organiser.store.plan_excursion(NewExcursion {
        name: "Schoolkamp".into(),
        place: "Ardennen".into(),
        starts_on: "2027-05-10".into(),
        ends_on: "2027-05-12".into(),
        participants: vec![PUPIL_IN_CARE.into(), PUPIL.into(), OTHER_PUPIL.into()],
        staff: vec![TEACHER.into(), OTHER_MENTOR.into()],
        contacts: vec![NewTripContact {
            name: "Ouder van dienst".into(),
            role: "begeleider".into(),
            phone: "06-12345678".into(),
            supervises: true,
        }],
    })?;
    organiser.sync().await?;
    for d in [&teacher, &smit, &coordinator] {
        d.sync().await?;
    }
    assert!(organiser.store.outbox()?.is_empty());

    // 2. The colleagues hold the trip; the care coordinator, not on it, does not.
    for d in [&teacher, &smit] {
        assert!(d.held()?.contains(&trip), "{}", d.label);
        assert_eq!(d.store.excursion(trip)?.contacts[0].phone, "06-12345678");
        let s = d.store.excursion_supervision(trip)?;
        assert_eq!(
            (s.pupils, s.adults, s.required, s.enough()),
            (3, 4, 1, true)
        );
    }
    assert!(!coordinator.held()?.contains(&trip));

    // 3. Smit cannot come after all: his phone loses the trip at its next sync.
    organiser.store.update_excursion(trip, |e| {
        e.staff.retain(|s| s != OTHER_MENTOR);
        Ok(())
    })?;
    organiser.sync().await?;
    smit.sync().await?;
    assert!(!smit.held()?.contains(&trip));
    assert!(matches!(smit.store.excursion(trip), Err(Error::NotFound)));

    // 4. On the trip, offline, the teacher records a signal that refers to it; the
    //    excursion is on the phone without a network.
    let sig = teacher.store.record_signal(NewSignal {
        context: SignalContext {
            place: "bij het kampvuur".into(),
            excursion: Some(trip.to_string()),
        },
        ..omkijken_core::testing::signal(
            PUPIL,
            teacher.store.now(),
            "",
            1,
            "huilt en wil naar huis",
        )
    })?;
    assert_eq!(teacher.store.excursion(trip)?.participants.len(), 3);
    // Nothing unsent is wiped.
    assert_eq!(teacher.store.wipe_excursion_cache(&trip.to_string())?, 0);

    // 5. Back home the phone syncs, and the trip cache is wiped: the signal and the trip.
    teacher.sync().await?;
    assert_eq!(teacher.store.wipe_excursion_cache(&trip.to_string())?, 2);
    assert!(!teacher.held()?.contains(&trip));
    assert!(!teacher.held()?.contains(&sig));
    assert!(teacher.store.list_excursions()?.is_empty());
    // The organiser keeps the trip; the care coordinator has the signal, by excursion.
    assert_eq!(organiser.store.wipe_excursion_cache(&trip.to_string())?, 0);
    assert_eq!(organiser.store.list_excursions()?.len(), 1);
    coordinator.sync().await?;
    let on_trip = coordinator.store.list_signals(&SignalFilter {
        excursion: Some(trip.to_string()),
        ..Default::default()
    })?;
    assert_eq!(on_trip.len(), 1);
    assert_eq!(on_trip[0].id, sig);
    server.handle.shutdown().await?;
    Ok(())
}
