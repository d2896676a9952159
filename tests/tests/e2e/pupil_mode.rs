//! Pupil mode end to end, with the real server: a teacher starts a pupil session for her
//! group on her phone, two pupils enter their own readings (one asks to talk), the session
//! sends them and learns nothing back; the mentor's device gets the readings and the
//! request, the care coordinator's the month with the open request, and once the mentor
//! marks it answered it leaves every attention list and the coordinator's device purges
//! the month of a pupil who is not in care.

use anyhow::Result;
use omkijken_core::store::{AttentionReason, PupilReading, StoreOptions};
use omkijken_core::transport;
use omkijken_core::{Error, Store, doc};
use omkijken_tests::wire::Wire;
use omkijken_tests::*;

fn talk_items(store: &Store, pupil: &str) -> Vec<AttentionReason> {
    store
        .attention_list()
        .unwrap()
        .into_iter()
        .filter(|i| {
            i.pupil == pupil
                && matches!(
                    i.reason,
                    AttentionReason::WantsToTalk { .. } | AttentionReason::TalkNotAnswered { .. }
                )
        })
        .map(|i| i.reason)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_session_adds_readings_reads_nothing_and_requests_to_talk_are_answered()
-> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let dir = tmp.path();
    // 1. The teacher of groep 6b, the mentor and the care coordinator enroll and sync.
    let teacher = Device::enroll(&server, dir, TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    let mentor = Device::enroll(&server, dir, MENTOR, "mentor phone").await?;
    mentor.sync().await?;
    let coordinator = Device::enroll(&server, dir, COORDINATOR, "ib tablet").await?;
    coordinator.sync().await?;
    // The mentor already wrote a reading for Noor this month (a month the session will add to).
    mentor
        .store
        .record_thermometer(omkijken_core::store::NewThermometerEntry {
            pupil: PUPIL.into(),
            at: mentor.store.now(),
            score: 4,
            emotions: vec![],
            wants_to_talk: false,
            note: Some("Vrolijk na de gymles".into()),
        })?;
    mentor.sync().await?;

    // 2. The teacher starts a pupil session for her group: its own store and key.
    let session_store = Store::open_with(
        dir.join("pupil-session.db"),
        b"another-key-for-the-pupil-session",
        StoreOptions::default(),
    )?;
    let session = transport::start_pupil_session(&teacher.store, "g6b", 8, session_store).await?;
    assert_eq!(session.group(), "g6b");
    let names: Vec<&str> = session
        .pupils()
        .iter()
        .map(|p| p.first_name.as_str())
        .collect();
    assert_eq!(names, ["Noor", "Sam"], "the group's first names only");
    // Daan is in another group: not in the session.
    assert!(matches!(session.scale(OTHER_PUPIL), Err(Error::NotFound)));
    assert_eq!(session.scale(PUPIL)?.scale.id, "smileys-5");

    // 3. Noor asks to talk; Sam is fine. Daan (other group) cannot be picked.
    session.record(PupilReading {
        pupil: PUPIL.into(),
        score: 2,
        emotions: vec!["zenuwachtig".into()],
        wants_to_talk: true,
    })?;
    session.record(PupilReading {
        pupil: PUPIL_IN_CARE.into(),
        score: 5,
        emotions: vec![],
        wants_to_talk: false,
    })?;
    assert!(matches!(
        session.record(PupilReading {
            pupil: OTHER_PUPIL.into(),
            score: 3,
            emotions: vec![],
            wants_to_talk: false,
        }),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        session.record(PupilReading {
            pupil: PUPIL.into(),
            score: 9,
            emotions: vec![],
            wants_to_talk: false,
        }),
        Err(Error::Invalid(_))
    ));
    assert_eq!(session.pending()?, 2);
    let report = transport::sync_pupil_session(&session).await?;
    assert_eq!(report.pushed, 2);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(session.pending()?, 0);
    assert_eq!(report.fetched, 0, "a pupil session receives nothing");
    // What the server has leaves the session: the tablet keeps no pupil's reading once sent.
    assert!(session.store().documents()?.is_empty());
    // A second reading for the same pupil this month (her month was dropped here) starts
    // from its genesis again and still gets in beside the first.
    session.record(PupilReading {
        pupil: PUPIL.into(),
        score: 3,
        emotions: vec![],
        wants_to_talk: false,
    })?;
    let again = transport::sync_pupil_session(&session).await?;
    assert_eq!((again.pushed, again.refused.len()), (1, 0));
    assert!(session.store().documents()?.is_empty());

    // 4. What the session's token reads: nothing. An empty catalog, and a fetch of the
    //    month it just wrote to answers as for an unknown document.
    let mut wire = Wire::connect_with(&server, session.store()).await?;
    assert!(wire.catalog.is_empty());
    let month = omkijken_core::model::month_of(mentor.store.now());
    let noor_month = doc::thermometer_id(SCHOOL, PUPIL, &month, 0);
    assert!(wire.fetch(noor_month).await?.is_none());
    let roster = doc::roster_view_id(SCHOOL, TEACHER);
    assert!(wire.fetch(roster).await?.is_none());
    drop(wire);
    // Nor does the session's store hold anything but its own readings (no roster view).
    assert!(session.store().info(roster)?.is_none());

    // 5. The mentor gets both readings, marked as the pupils' own, and Noor's request.
    mentor.sync().await?;
    let m = mentor
        .store
        .thermometer_month(PUPIL, &month)?
        .expect("the mentor holds Noor's month");
    assert_eq!(m.entries.len(), 3, "the mentor's reading and Noor's two");
    assert_eq!(m.entries.iter().filter(|e| e.by_pupil()).count(), 2);
    let own = m
        .entries
        .iter()
        .find(|e| e.by_pupil() && e.wants_to_talk)
        .expect("Noor's own");
    assert_eq!(own.session.as_deref(), Some(session.session_id()));
    assert_eq!(own.recorded_by, TEACHER);
    assert!(own.wants_to_talk && own.note.is_none());
    let sam = mentor
        .store
        .thermometer_month(PUPIL_IN_CARE, &month)?
        .expect("Sam's month");
    assert!(sam.entries.iter().all(|e| e.by_pupil()));
    assert!(matches!(
        talk_items(&mentor.store, PUPIL)[..],
        [AttentionReason::WantsToTalk { .. }]
    ));
    let open = mentor.store.open_talk_requests()?;
    assert_eq!(open.len(), 1);
    assert!(open[0].by_pupil && open[0].pupil == PUPIL && !open[0].escalated);

    // 6. The care coordinator holds Noor's month while the request is open (Noor is not in
    //    care), but it is not on her list before three school days.
    coordinator.sync().await?;
    assert!(coordinator.store.info(noor_month)?.is_some());
    assert!(talk_items(&coordinator.store, PUPIL).is_empty());

    // 7. The mentor talks with Noor and marks it answered; it leaves her list, and the
    //    coordinator's device purges the month (Noor is not in care).
    let talk = mentor
        .store
        .start_conversation(PUPIL, "ik-jij-wij", "2026-11-24")?;
    mentor
        .store
        .answer_talk_request(PUPIL, &open[0].entry, "2026-11-24", Some(talk))?;
    assert!(talk_items(&mentor.store, PUPIL).is_empty());
    mentor.sync().await?;
    coordinator.sync().await?;
    assert!(coordinator.store.info(noor_month)?.is_none());
    let m = mentor.store.thermometer_month(PUPIL, &month)?.unwrap();
    let a = m.answer(&open[0].entry).expect("answered");
    assert_eq!((a.by.as_str(), a.on.as_str()), (MENTOR, "2026-11-24"));
    assert_eq!(a.conversation, Some(talk.to_string()));

    // 8. The teacher's device is no pupil session: its store refuses to be opened as one.
    assert!(matches!(
        omkijken_core::store::PupilSession::from_store(teacher.store.clone()),
        Err(Error::Invalid(_))
    ));
    // A session ends by wiping its store.
    session.wipe()?;
    assert!(matches!(session.pending(), Err(Error::Revoked)));
    Ok(())
}
