//! The school trip, end to end: the real server on loopback, three devices using the real
//! client, offline for a while, editing the same pupil's file concurrently, then
//! converging with nothing lost and nothing seen by anyone who may not see it.

use anyhow::Result;
use omkijken_core::access::{Access, access};
use omkijken_core::defaults::DEFAULT_TEMPLATE;
use omkijken_core::store::AttentionReason;
use omkijken_core::{DocumentId, Error};
use omkijken_tests::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::BTreeSet;

const MENTOR_WORDS: &str = "Sam vertelt dat het thuis onrustig is sinds de verhuizing.";
const MENTOR_OFFLINE_WORDS: &str = " Afspraak: volgende week samen met moeder verder praten.";
const COORDINATOR_WORDS: &str = "[IB] Past bij het beeld uit het zorgoverleg. ";

/// Every document any device holds, with whether `device` may read it by the rules.
fn check_holds_exactly_what_it_may_read(
    device: &Device,
    all: &BTreeSet<DocumentId>,
    sources: &[&Device],
) -> Result<()> {
    let roster = device.store.roster()?;
    let held: BTreeSet<DocumentId> = device.held()?.into_iter().collect();
    for id in all {
        // The header and access fields of the document, from any device that holds it.
        let info = sources
            .iter()
            .find_map(|d| d.store.info(*id).ok().flatten())
            .expect("some device holds it");
        let may = access(&roster, &device.user, &info.header, &info.fields) >= Access::Read;
        assert_eq!(
            held.contains(id),
            may,
            "{} and a {} document: holds={} may read={}",
            device.label,
            info.header.kind,
            held.contains(id),
            may
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn school_trip_converges_with_nothing_lost_and_nothing_overshared() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let devices_dir = tmp.path().join("devices");
    std::fs::create_dir_all(&devices_dir)?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;

    // 1. The admin imports the roster and enrolls a mentor phone, a teacher phone and a
    //    care coordinator tablet. Each device syncs once and holds the roster.
    server.set_up_school().await?;
    let mentor = Device::enroll(&server, &devices_dir, MENTOR, "mentor phone").await?;
    let teacher = Device::enroll(&server, &devices_dir, TEACHER, "teacher phone").await?;
    let coordinator =
        Device::enroll(&server, &devices_dir, COORDINATOR, "coordinator tablet").await?;
    for d in [&mentor, &teacher, &coordinator] {
        let report = d.sync().await?;
        assert_eq!(report.fetched, 1, "the roster");
        assert_eq!(d.store.roster()?.pupils.len(), 3);
        assert!(d.store.outbox()?.is_empty());
        assert!(d.store.setting("last_sync")?.is_some());
    }

    // Before the trip the mentor holds a kindgesprek with the pupil in care and shares it;
    // mentor then coordinator sync, so the coordinator holds it too.
    let conversation =
        mentor
            .store
            .start_conversation(PUPIL_IN_CARE, DEFAULT_TEMPLATE, "2026-11-16")?;
    mentor.store.edit_notes(conversation, 0, 0, MENTOR_WORDS)?;
    mentor.store.share_conversation(conversation)?;
    assert_eq!(mentor.sync().await?.pushed, 1);
    assert_eq!(coordinator.sync().await?.fetched, 1);
    assert_eq!(
        coordinator.store.conversation(conversation)?.notes.as_str(),
        MENTOR_WORDS
    );

    // 2. The teacher goes on the trip, offline, and records signals about two pupils.
    let signal_in_care = teacher.record_trip_signal(
        PUPIL_IN_CARE,
        2,
        "Huilde bij het slapengaan, wilde naar huis.",
    )?;
    let signal = teacher.record_trip_signal(PUPIL, 1, "At twee dagen nauwelijks.")?;
    assert_eq!(teacher.store.outbox()?.len(), 2, "two signals not sent yet");

    // 3. Meanwhile, also offline, the mentor adds to the conversation's notes and the
    //    coordinator edits the same notes.
    let len = MENTOR_WORDS.chars().count();
    mentor
        .store
        .edit_notes(conversation, len, 0, MENTOR_OFFLINE_WORDS)?;
    coordinator
        .store
        .edit_notes(conversation, 0, 0, COORDINATOR_WORDS)?;
    assert_eq!(mentor.store.outbox()?.len(), 1);
    assert_eq!(coordinator.store.outbox()?.len(), 1);

    // 4. All reconnect, in random order (seeded), twice round so every device also
    //    receives what the ones after it pushed.
    let mut order = vec![&mentor, &teacher, &coordinator];
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2026));
    for round in 0..2 {
        for d in &order {
            let report = d.sync().await?;
            assert!(
                report.refused.is_empty(),
                "round {round}: {:?}",
                report.refused
            );
        }
    }

    // 5. Every device holds exactly what it may read, and nothing waits in an outbox.
    let all: BTreeSet<DocumentId> = [&mentor, &teacher, &coordinator]
        .iter()
        .flat_map(|d| d.held().unwrap())
        .collect();
    assert_eq!(
        all.len(),
        6,
        "each user's view of the roster, the conversation, two signals"
    );
    for d in [&mentor, &teacher, &coordinator] {
        check_holds_exactly_what_it_may_read(d, &all, &[&mentor, &teacher, &coordinator])?;
        assert!(
            d.store.outbox()?.is_empty(),
            "{} has unsent documents",
            d.label
        );
    }
    // The conversation holds both sets of edits, word for word, the same on both devices.
    let expected = format!("{COORDINATOR_WORDS}{MENTOR_WORDS}{MENTOR_OFFLINE_WORDS}");
    assert_eq!(
        mentor.store.conversation(conversation)?.notes.as_str(),
        expected
    );
    assert_eq!(
        coordinator.store.conversation(conversation)?.notes.as_str(),
        expected
    );
    // The teacher holds her own signals and no conversation.
    assert_eq!(
        teacher.held()?,
        sorted(vec![
            signal_in_care,
            signal,
            omkijken_core::doc::roster_view_id(SCHOOL, TEACHER)
        ])
    );
    assert!(matches!(
        teacher.store.conversation(conversation),
        Err(Error::NotFound)
    ));
    // The coordinator sees both signals in her attention list.
    let attention: BTreeSet<DocumentId> = coordinator
        .store
        .attention_list()?
        .into_iter()
        .filter_map(|item| match item.reason {
            AttentionReason::OpenSignal { signal, .. } => Some(signal),
            _ => None,
        })
        .collect();
    assert_eq!(attention, BTreeSet::from([signal_in_care, signal]));
    // Same heads everywhere a document is held.
    for id in &all {
        let heads: BTreeSet<_> = [&mentor, &teacher, &coordinator]
            .iter()
            .filter_map(|d| d.store.info(*id).unwrap().map(|i| i.heads))
            .collect();
        assert_eq!(heads.len(), 1, "a document diverged");
    }

    // 6. The server restarts on the same data directory: nothing acknowledged is missing.
    //    A brand-new tablet for the coordinator gets everything she may read, with the
    //    same heads, and the old devices have nothing to fetch or push.
    let server = server.restart().await?;
    let tablet2 =
        Device::enroll(&server, &devices_dir, COORDINATOR, "coordinator tablet 2").await?;
    let report = tablet2.sync().await?;
    assert_eq!(report.fetched as usize, coordinator.held()?.len());
    assert_eq!(tablet2.held()?, coordinator.held()?);
    for id in coordinator.held()? {
        assert_eq!(
            tablet2.store.info(id)?.unwrap().heads,
            coordinator.store.info(id)?.unwrap().heads
        );
    }
    assert_eq!(
        tablet2.store.conversation(conversation)?.notes.as_str(),
        expected
    );
    for d in [&mentor, &teacher, &coordinator] {
        let report = d.sync().await?;
        assert_eq!((report.fetched, report.pushed), (0, 0), "{}", d.label);
    }

    // 7. The mentor's phone is lost: the admin revokes it, and it wipes itself on its
    //    next contact with the server.
    server.revoke_device_of(MENTOR).await?;
    assert!(
        matches!(mentor.sync().await, Err(e) if matches!(e.downcast_ref::<Error>(), Some(Error::Revoked)))
    );
    assert!(mentor.store.is_wiped());
    assert!(!mentor.path.exists(), "the database file is gone");
    // The others are unaffected.
    assert_eq!(coordinator.sync().await?.refused.len(), 0);

    server.handle.shutdown().await?;
    Ok(())
}

fn sorted(mut v: Vec<DocumentId>) -> Vec<DocumentId> {
    v.sort();
    v
}
