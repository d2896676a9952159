//! The background client: live push both ways while connected, reconnects after a server
//! restart, progress events, and stops when revoked.

use anyhow::{Context, Result};
use omkijken_core::transport::{SyncClient, SyncEvent, SyncOptions, sync_connections};
use omkijken_tests::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn options(seed: u64) -> SyncOptions {
    SyncOptions {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        tick: Duration::from_millis(200),
        seed: Some(seed),
    }
}

/// Wait (up to 20 s) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn recorder() -> (
    Arc<Mutex<Vec<SyncEvent>>>,
    impl Fn(SyncEvent) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (events, move |ev| e.lock().unwrap().push(ev))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_clients_push_live_and_reconnect_after_a_server_restart() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let coordinator =
        Device::enroll(&server, tmp.path(), COORDINATOR, "coordinator tablet").await?;

    // 1. Both devices start their background client and catch up (the roster).
    let (teacher_events, on_teacher) = recorder();
    let (coordinator_events, on_coordinator) = recorder();
    let t = SyncClient::start(teacher.store.clone(), options(1), on_teacher);
    let c = SyncClient::start(coordinator.store.clone(), options(2), on_coordinator);
    eventually("both caught up", || {
        [&teacher_events, &coordinator_events].iter().all(|e| {
            e.lock()
                .unwrap()
                .iter()
                .any(|ev| matches!(ev, SyncEvent::Idle))
        })
    })
    .await;
    assert!(
        teacher_events
            .lock()
            .unwrap()
            .iter()
            .any(|ev| matches!(ev, SyncEvent::CaughtUp { .. }))
    );

    // 2. The teacher records a signal: it is pushed at once and reaches the coordinator
    //    live, without a reconnect.
    let s1 = teacher.record_trip_signal(PUPIL_IN_CARE, 2, "feiten")?;
    eventually("the coordinator holds the signal", || {
        coordinator.store.info(s1).ok().flatten().is_some()
    })
    .await;
    eventually("the teacher's outbox is empty", || {
        teacher
            .store
            .outbox()
            .map(|o| o.is_empty())
            .unwrap_or(false)
    })
    .await;
    assert_eq!(coordinator.store.attention_list()?.len(), 1);

    // 3. The server restarts; the clients reconnect by themselves (backoff) and live push
    //    works again.
    let server = server.restart().await?;
    let s2 = teacher.record_trip_signal(PUPIL, 1, "meer feiten")?;
    eventually("the coordinator holds the second signal", || {
        coordinator.store.info(s2).ok().flatten().is_some()
    })
    .await;
    assert!(
        teacher_events
            .lock()
            .unwrap()
            .iter()
            .any(|ev| matches!(ev, SyncEvent::Disconnected { .. }))
    );

    // 4. The coordinator's tablet is revoked while connected: it wipes itself and stops.
    server.revoke_device_of(COORDINATOR).await?;
    eventually("the tablet is wiped", || coordinator.store.is_wiped()).await;
    eventually("its client stopped", || c.is_finished()).await;
    assert!(
        coordinator_events
            .lock()
            .unwrap()
            .contains(&SyncEvent::Revoked)
    );

    t.stop().await;
    assert_eq!(
        teacher_events.lock().unwrap().last(),
        Some(&SyncEvent::Stopped)
    );
    server.handle.shutdown().await?;
    Ok(())
}

/// A server with the school set up and a teacher's phone enrolled.
async fn school_with_teacher(dir: &std::path::Path) -> Result<(TestServer, Device)> {
    let server = TestServer::start(&dir.join("server"), None).await?;
    server.set_up_school().await?;
    let teacher = Device::enroll(&server, dir, TEACHER, "teacher phone").await?;
    Ok((server, teacher))
}

/// "Sync now" while the background client runs: one connection of the store, not two
/// (two would each keep their own order of the server's frames, and a purge on one could
/// overtake a fetch answer on the other). `sync_once` asks the running client and returns
/// when its session is idle: the outbox confirmed, over the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_while_the_background_client_runs_uses_its_connection() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, teacher) = school_with_teacher(tmp.path()).await?;
    let coordinator =
        Device::enroll(&server, tmp.path(), COORDINATOR, "coordinator tablet").await?;
    let (events, on_event) = recorder();
    let client = SyncClient::start(teacher.store.clone(), options(3), on_event);
    eventually("the client is idle", || {
        events.lock().unwrap().contains(&SyncEvent::Idle)
    })
    .await;
    assert_eq!(sync_connections(&teacher.store), 1);

    let facts = "Sjoerd zei dat hij ’s avonds niet meer durft te fietsen; één keer geduwd bij de brug (Zoë zag het)";
    for round in 0..5 {
        let id = teacher.record_trip_signal(PUPIL_IN_CARE, 2, &format!("{facts} #{round}"))?;
        let report = teacher.sync().await?;
        assert!(
            teacher.store.outbox()?.is_empty(),
            "round {round}: sync now returned before the outbox was confirmed"
        );
        assert!(report.refused.is_empty());
        assert_eq!(
            sync_connections(&teacher.store),
            1,
            "round {round}: sync now opened a second connection"
        );
        coordinator.sync().await?;
        assert_eq!(
            coordinator.store.signal(id)?.facts,
            format!("{facts} #{round}")
        );
    }
    assert!(
        !events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, SyncEvent::Disconnected { .. })),
        "the background connection stayed up"
    );

    // Stopped: sync now connects by itself again.
    client.stop().await;
    teacher.record_trip_signal(PUPIL, 1, "vergat zijn gymspullen")?;
    let report = teacher.sync().await?;
    assert_eq!(report.pushed, 1);
    assert_eq!(sync_connections(&teacher.store), 2);
    server.handle.shutdown().await?;
    Ok(())
}

/// "Sync now" while the background client waits to retry (the server was down): it fails
/// at once while the server is down (the user is told), and once the server is back it
/// makes the client reconnect now instead of at its next retry minutes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_wakes_a_background_client_waiting_to_retry() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, teacher) = school_with_teacher(tmp.path()).await?;
    teacher.sync().await?;
    let (addr, dir) = (server.handle.addr(), server.data_dir.clone());
    server.handle.shutdown().await?;

    let (events, on_event) = recorder();
    let client = SyncClient::start(
        teacher.store.clone(),
        SyncOptions {
            // The next retry would be 60-120 s away.
            min_backoff: Duration::from_secs(120),
            max_backoff: Duration::from_secs(120),
            ..options(4)
        },
        on_event,
    );
    eventually("the client waits to retry", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, SyncEvent::Disconnected { .. }))
    })
    .await;
    let id = teacher.record_trip_signal(
        PUPIL,
        2,
        "huilde in de bus naar huis; wilde er niet over praten",
    )?;
    let offline = tokio::time::timeout(Duration::from_secs(30), teacher.sync()).await?;
    assert!(offline.is_err(), "no server: sync now fails");
    assert_eq!(teacher.store.outbox()?.len(), 1, "the signal waits, kept");

    let server = TestServer::start_again(&dir, addr).await?;
    let report = tokio::time::timeout(Duration::from_secs(30), teacher.sync())
        .await
        .context("sync now waited for the client's next retry")??;
    assert!(teacher.store.outbox()?.is_empty());
    assert!(report.refused.is_empty());
    assert!(events.lock().unwrap().contains(&SyncEvent::Connected));
    assert_eq!(
        sync_connections(&teacher.store),
        2,
        "the first sync's and the background client's, not one of sync now's own"
    );
    let coordinator =
        Device::enroll(&server, tmp.path(), COORDINATOR, "coordinator tablet").await?;
    coordinator.sync().await?;
    assert_eq!(
        coordinator.store.signal(id)?.facts,
        "huilde in de bus naar huis; wilde er niet over praten"
    );
    client.stop().await;
    server.handle.shutdown().await?;
    Ok(())
}
