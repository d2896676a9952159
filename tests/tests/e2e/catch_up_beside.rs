//! Catch-ups and fetches read beside the hub, through the real server: with
//! `catch_up_beside` at 0 and `fetch_beside` at 1 the server hands every catch-up and every
//! fetch to its reader threads (each with a storage connection of its own). A fresh tablet lists and fetches what its user may read, word for word in Dutch;
//! after an erasure a second fresh tablet never sees the erased signals, and the first one
//! purges them; a teacher's phone lists only her own.

use anyhow::Result;
use omkijken_core::Error;
use omkijken_server::server::Settings;
use omkijken_tests::wire::Wire;
use omkijken_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The counter `name` of the server's `/metrics`.
async fn counter(server: &TestServer, name: &str) -> Result<f64> {
    let mut s = tokio::net::TcpStream::connect(server.handle.addr()).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    Ok(body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0))
}

/// A server that hands every catch-up and fetch to its reader threads, with the school set
/// up, and a folder `devices` for the device stores.
async fn school_with_readers() -> Result<(tempfile::TempDir, TestServer)> {
    let tmp = tempfile::tempdir()?;
    std::fs::create_dir_all(tmp.path().join("devices"))?;
    let mut settings = Settings::for_test(tmp.path().join("server"));
    settings.hub.catch_up_beside = Some(0);
    settings.hub.fetch_beside = Some(1);
    let server = TestServer::start_with(settings).await?;
    server.set_up_school().await?;
    Ok((tmp, server))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_catch_up_through_the_readers_beside_the_hub() -> Result<()> {
    let (tmp, server) = school_with_readers().await?;
    let devices = tmp.path().join("devices");
    let before = counter(&server, "omkijken_catch_ups_beside_total").await?;

    // 1. A teacher records signals on a school trip about two pupils.
    let teacher = Device::enroll(&server, &devices, TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    let facts = |i: usize| {
        format!(
            "Zoë ({i}) zei bij het kampvuur: \"ik wil niet naar huis\"; geëmotioneerd, één keer gehuild"
        )
    };
    let mut in_care = vec![];
    let mut other = vec![];
    for i in 0..24 {
        let (pupil, list) = if i % 2 == 0 {
            (PUPIL_IN_CARE, &mut in_care)
        } else {
            (PUPIL, &mut other)
        };
        list.push((teacher.record_trip_signal(pupil, 2, &facts(i))?, facts(i)));
    }
    teacher.sync().await?;

    // 2. A fresh coordinator's tablet: every signal, word for word.
    let tablet = Device::enroll(&server, &devices, COORDINATOR, "ib tablet").await?;
    tablet.sync().await?;
    for (id, text) in in_care.iter().chain(&other) {
        assert_eq!(&tablet.store.signal(*id)?.facts, text);
    }

    // 3. The privacy officer erases the pupil in care. A second fresh tablet never sees
    //    those signals; the first purges them; the others stay.
    let n = server
        .handle
        .admin()
        .erase_pupil(SCHOOL, PUPIL_IN_CARE)
        .await?;
    assert!(n >= in_care.len());
    let second = Device::enroll(&server, &devices, COORDINATOR, "second ib tablet").await?;
    second.sync().await?;
    tablet.sync().await?;
    for d in [&tablet, &second] {
        for (id, _) in &in_care {
            assert!(matches!(d.store.signal(*id), Err(Error::NotFound)));
        }
        for (id, text) in &other {
            assert_eq!(&d.store.signal(*id)?.facts, text);
        }
    }

    // 4. A teacher's second phone, fresh: her own signals about the pupil not erased, none
    //    of the erased ones.
    let phone = Device::enroll(&server, &devices, TEACHER, "teacher's second phone").await?;
    phone.sync().await?;
    let held = phone.held()?;
    for (id, _) in &other {
        assert!(held.contains(id));
    }
    for (id, _) in &in_care {
        assert!(!held.contains(id));
    }

    // The catch-ups went through the readers (the server's own count).
    let after = counter(&server, "omkijken_catch_ups_beside_total").await?;
    assert!(after - before >= 4.0, "{before} -> {after}");
    server.handle.shutdown().await?;
    Ok(())
}

/// A teacher's phone whose app was replaced: it says `hello` from nothing and, without
/// waiting for its catalog, sends 40 pushes in a colleague's name and 10 fetches of
/// documents it may not read. The server lists its catalog first, then refuses every push and
/// sends nothing of the documents, in order; nothing is stored, and an honest device
/// syncs meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_floods_frames_before_its_catalog_gets_them_answered_in_order_after_it()
-> Result<()> {
    use omkijken_core::DocumentId;
    use omkijken_core::doc;
    use omkijken_core::model::{Header, Kind, SCHEMA_VERSION};
    use omkijken_core::sync::{DocChanges, FetchRequest, Frame};

    let (tmp, server) = school_with_readers().await?;
    let devices = tmp.path().join("devices");
    let mentor = Device::enroll(&server, &devices, MENTOR, "mentor phone").await?;
    mentor.sync().await?;
    let secret = mentor.store.start_conversation(
        PUPIL_IN_CARE,
        omkijken_core::defaults::DEFAULT_TEMPLATE,
        "2026-12-01",
    )?;
    mentor
        .store
        .set_notes(secret, "Zoë vertelde over thuis; niet doorvertellen")?;
    mentor.sync().await?;

    let phone = Device::enroll(&server, &devices, TEACHER, "replaced app").await?;
    let mut wire = Wire::open(&server, &phone.store).await?;
    wire.hello(0).await?;
    let now = 1_790_000_000_000;
    let mut forged = vec![];
    for i in 0..40 {
        let id = DocumentId::random();
        let header = Header {
            kind: Kind::Signal.as_str().into(),
            school: SCHOOL.into(),
            pupil: Some(PUPIL.into()),
            author: MENTOR.into(),
            created_at: now,
            schema: SCHEMA_VERSION,
        };
        let rec = omkijken_core::testing::signal_record(now, "gang", 1, &format!("vals {i}"));
        let d = doc::create(wire.actor.clone(), now, &header, &rec)?;
        wire.send(Frame::Push {
            docs: vec![DocChanges::new(id, d.save())],
        })
        .await?;
        forged.push(id);
        if i % 4 == 0 {
            wire.send(Frame::Fetch {
                docs: vec![FetchRequest {
                    document_id: secret,
                    have: vec![],
                }],
            })
            .await?;
        }
    }
    // Meanwhile an honest device syncs.
    mentor.store.set_notes(
        secret,
        "Zoë vertelde over thuis; niet doorvertellen. Later: ouders gebeld",
    )?;
    mentor.sync().await?;

    let mut complete = false;
    let mut refused = 0;
    let mut docs_answers = 0;
    while refused < forged.len() || docs_answers < 10 {
        match tokio::time::timeout(std::time::Duration::from_secs(30), wire.next()).await?? {
            Frame::Catalog {
                entries,
                complete: c,
                ..
            } => {
                assert!(!complete, "one catalog");
                assert!(entries.iter().all(|e| e.document_id != secret));
                complete = c;
            }
            Frame::Refused { docs } => {
                assert!(complete, "answered after the catalog");
                refused += docs.len();
            }
            Frame::Docs { docs, .. } => {
                assert!(complete, "answered after the catalog");
                assert!(
                    docs.iter().all(|d| d.document_id != secret),
                    "nothing of it"
                );
                docs_answers += 1;
            }
            Frame::Ack { docs } => {
                assert!(complete, "answered after the catalog");
                assert!(docs.is_empty(), "a forged push was acknowledged: {docs:?}");
            }
            Frame::Error { code, .. } => panic!("the session was ended: {code:?}"),
            _ => {}
        }
    }
    assert_eq!(refused, forged.len());

    // Nothing of it is stored: a coordinator's fresh tablet lists none of the forged ids.
    let tablet = Device::enroll(&server, &devices, COORDINATOR, "ib tablet").await?;
    tablet.sync().await?;
    let held = tablet.held()?;
    assert!(forged.iter().all(|id| !held.contains(id)));
    server.handle.shutdown().await?;
    Ok(())
}

/// A coordinator's tablet that sends forty fetches at once, without waiting for an answer:
/// each is made beside the hub, a few at once, and the answers come in the order asked,
/// word for word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_fetches_sent_at_once_are_each_made_beside_the_hub_and_answered_in_order()
-> Result<()> {
    use omkijken_core::doc;
    use omkijken_core::model::Signal;
    use omkijken_core::sync::{FetchRequest, Frame};

    let (tmp, server) = school_with_readers().await?;
    let devices = tmp.path().join("devices");
    let teacher = Device::enroll(&server, &devices, TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    let mut signals = vec![];
    for i in 0..8 {
        let facts = format!("Daniël ({i}) werd na de gymles uitgelachen; hij zei: \"laat maar\"");
        signals.push((teacher.record_trip_signal(PUPIL, 1, &facts)?, facts));
    }
    teacher.sync().await?;

    let tablet = Device::enroll(&server, &devices, COORDINATOR, "ib tablet").await?;
    let mut wire = Wire::open(&server, &tablet.store).await?;
    wire.hello(0).await?;
    loop {
        if let Frame::Catalog { complete: true, .. } = wire.next().await? {
            break;
        }
    }
    let before = counter(&server, "omkijken_catch_ups_beside_total").await?;
    let asked: Vec<usize> = (0..40).map(|i| (i * 3) % signals.len()).collect();
    for &i in &asked {
        wire.send(Frame::Fetch {
            docs: vec![FetchRequest {
                document_id: signals[i].0,
                have: vec![],
            }],
        })
        .await?;
    }
    let mut answered = vec![];
    while answered.len() < asked.len() {
        match tokio::time::timeout(std::time::Duration::from_secs(30), wire.next()).await?? {
            Frame::Docs { docs, .. } => {
                for d in docs {
                    let loaded = automerge::Automerge::load(&d.data)?;
                    let facts = doc::record::<Signal>(d.document_id, &loaded)?.facts;
                    answered.push((d.document_id, facts));
                }
            }
            Frame::Error { code, .. } => panic!("the session was ended: {code:?}"),
            _ => {}
        }
    }
    let want: Vec<_> = asked.iter().map(|&i| signals[i].clone()).collect();
    assert_eq!(answered, want, "in the order asked, word for word");
    let after = counter(&server, "omkijken_catch_ups_beside_total").await?;
    assert!(
        after - before >= 40.0,
        "every fetch made beside the hub: {before} -> {after}"
    );
    server.handle.shutdown().await?;
    Ok(())
}
