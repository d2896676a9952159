//! The background client: live push both ways while connected, reconnects after a server
//! restart, progress events, and stops when revoked.

use anyhow::Result;
use omkijken_core::transport::{SyncClient, SyncEvent, SyncOptions};
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
