//! Scale-out: two server nodes on one PostgreSQL database, real devices on each. A signal
//! the teacher pushes to node 1 reaches the care coordinator's tablet, connected live to
//! node 2; an admin action on node 2 reaches a device on node 1.
//!
//! Runs against `OMKIJKEN_TEST_POSTGRES` (`scripts/test.sh` starts a throwaway cluster), in
//! a fresh schema; skipped without it, except under `CI`, where it fails.

use anyhow::Result;
use omkijken_core::DocumentId;
use omkijken_core::store::Store;
use omkijken_core::transport::{SyncClient, SyncEvent, SyncOptions};
use omkijken_server::storage::postgres::testing::{TestSchema, database_url};
use omkijken_tests::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_pushed_to_one_node_reaches_a_device_live_on_another() -> Result<()> {
    let Some(url) = database_url("a_signal_pushed_to_one_node_reaches_a_device_live_on_another")
    else {
        return Ok(());
    };
    let schema = TestSchema::create(&url);
    let tmp = tempfile::tempdir()?;
    let node1 = TestServer::start_on_database(&tmp.path().join("node1"), &schema.url()).await?;
    let node2 = TestServer::start_on_database(&tmp.path().join("node2"), &schema.url()).await?;
    node1.set_up_school().await?;
    let teacher = Device::enroll(&node1, tmp.path(), TEACHER, "teacher phone").await?;
    // The school node 1 created is known on node 2: it issues the tablet's code.
    let coordinator = Device::enroll(&node2, tmp.path(), COORDINATOR, "coordinator tablet").await?;

    // 1. The tablet stays connected to node 2 (live).
    let (c, events) = live(&coordinator.store, Duration::from_millis(200));
    caught_up(&events).await;

    // 2. The teacher records a signal and syncs with node 1; node 2 finds it in the shared
    //    catalog at its next poll and pushes it to the tablet.
    teacher.sync().await?; // the roster first
    let s1 = teacher.record_trip_signal(PUPIL_IN_CARE, 2, "viel stil tijdens de boottocht")?;
    let report = teacher.sync().await?;
    assert_eq!(report.pushed, 1);
    arrives_on_the_tablet(&coordinator, s1).await?;
    assert!(teacher.store.outbox()?.is_empty(), "acknowledged by node 1");

    // 3. Both nodes see every device; a revocation on node 2 reaches the teacher's phone
    //    at its next sync with node 1.
    assert_eq!(node2.handle.admin().devices().await?.len(), 2);
    node2.revoke_device_of(TEACHER).await?;
    let _ = teacher.sync().await;
    assert!(teacher.store.is_wiped(), "the phone wiped itself");

    c.stop().await;
    node1.handle.shutdown().await?;
    node2.handle.shutdown().await?;
    Ok(())
}

/// A live client of `store` and the events it reports; `tick` is how often it looks for
/// something to send by itself.
fn live(store: &Store, tick: Duration) -> (SyncClient, Arc<Mutex<Vec<SyncEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let options = SyncOptions {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        tick,
        seed: Some(7),
    };
    let client = SyncClient::start(store.clone(), options, move |ev| e.lock().unwrap().push(ev));
    (client, events)
}

async fn caught_up(events: &Mutex<Vec<SyncEvent>>) {
    eventually("a device caught up", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|ev| matches!(ev, SyncEvent::Idle))
    })
    .await;
}

/// The tablet (live on the other node) receives signal `id` and lists it for attention.
async fn arrives_on_the_tablet(tablet: &Device, id: DocumentId) -> Result<()> {
    let t = Instant::now();
    eventually("the tablet on the other node holds the signal", || {
        tablet.store.info(id).ok().flatten().is_some()
    })
    .await;
    eprintln!("on the tablet via the other node after {:?}", t.elapsed());
    assert_eq!(tablet.store.attention_list()?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_poll_once_an_hour_still_pass_on_each_others_writes_at_once() -> Result<()> {
    let Some(url) =
        database_url("nodes_that_poll_once_an_hour_still_pass_on_each_others_writes_at_once")
    else {
        return Ok(());
    };
    let schema = TestSchema::create(&url);
    let tmp = tempfile::tempdir()?;
    let hour = Duration::from_secs(3600);
    let node1 =
        TestServer::start_on_database_polling(&tmp.path().join("node1"), &schema.url(), hour)
            .await?;
    let node2 =
        TestServer::start_on_database_polling(&tmp.path().join("node2"), &schema.url(), hour)
            .await?;
    node1.set_up_school().await?;
    let teacher = Device::enroll(&node1, tmp.path(), TEACHER, "teacher phone").await?;
    let coordinator = Device::enroll(&node2, tmp.path(), COORDINATOR, "coordinator tablet").await?;

    // 1. Both devices stay connected, each to its own node, and catch up.
    // No periodic traffic from the devices: a frame would make its node look at the
    // database too, and this test is about the nodes being told.
    let (t, teacher_events) = live(&teacher.store, hour);
    let (c, tablet_events) = live(&coordinator.store, hour);
    caught_up(&teacher_events).await;
    caught_up(&tablet_events).await;

    // 2. The teacher records a signal; her phone pushes it to node 1 by itself. Node 2 is
    //    told by the database and passes it to the tablet, an hour before its next poll.
    let s1 = teacher.record_trip_signal(PUPIL_IN_CARE, 2, "viel stil tijdens de boottocht")?;
    arrives_on_the_tablet(&coordinator, s1).await?;

    // 3. The admin revokes the phone on node 2; node 1 is told, and the phone, connected to
    //    node 1 and sending nothing, wipes itself.
    node2.revoke_device_of(TEACHER).await?;
    eventually("the phone on node 1 wiped itself", || {
        teacher.store.is_wiped()
    })
    .await;
    // The event follows the wipe.
    eventually("the phone reported it was revoked", || {
        teacher_events.lock().unwrap().contains(&SyncEvent::Revoked)
    })
    .await;
    assert!(!coordinator.store.is_wiped(), "only the revoked device");

    t.stop().await;
    c.stop().await;
    node1.handle.shutdown().await?;
    node2.handle.shutdown().await?;
    Ok(())
}
