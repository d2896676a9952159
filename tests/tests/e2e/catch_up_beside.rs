//! Catch-ups read beside the hub, through the real server: with `catch_up_beside` at 0 the
//! server hands every catch-up to its reader threads (each with a storage connection of its
//! own). A fresh tablet lists and fetches what its user may read, word for word in Dutch;
//! after an erasure a second fresh tablet never sees the erased signals, and the first one
//! purges them; a teacher's phone lists only her own.

use anyhow::Result;
use omkijken_core::Error;
use omkijken_server::server::Settings;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_catch_up_through_the_readers_beside_the_hub() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let devices = tmp.path().join("devices");
    std::fs::create_dir_all(&devices)?;
    let mut settings = Settings::for_test(tmp.path().join("server"));
    settings.hub.catch_up_beside = Some(0);
    let server = TestServer::start_with(settings).await?;
    server.set_up_school().await?;
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
