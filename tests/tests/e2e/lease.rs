//! The school's offline lease end to end: the admin sets it on the real server, devices
//! learn it with the roster, a teacher's phone that stays offline past it locks, and its
//! next sync sends what it recorded and opens it again.

use anyhow::Result;
use omkijken_core::store::{SignalFilter, StoreOptions};
use omkijken_core::transport;
use omkijken_core::{Error, Store};
use omkijken_tests::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const DAY: i64 = 24 * 3600 * 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_offline_past_the_schools_lease_locks_and_its_next_sync_opens_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let admin = server.handle.admin();
    assert!(admin.set_offline_lease(SCHOOL, 3).await?);
    assert!(
        !admin.set_offline_lease(SCHOOL, 3).await?,
        "unchanged the second time"
    );

    // The teacher's phone, with a clock the test moves.
    let clock = Arc::new(AtomicI64::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64,
    ));
    let c = clock.clone();
    let phone = Store::open_with(
        tmp.path().join("phone.db"),
        KEY,
        StoreOptions {
            clock: Arc::new(move || c.load(Ordering::SeqCst)),
            seed: None,
        },
    )?;
    let code = admin.issue_code(SCHOOL, TEACHER).await?;
    transport::enroll(&server.url(), &code, "teacher phone", &phone).await?;
    transport::sync_once(&phone).await?;
    let lease = phone.lease()?;
    assert_eq!(lease.days, 3, "the school's lease came with the roster");
    assert!(!lease.locked);

    // Two days into the trip, offline: a signal. On the fourth day the phone is locked.
    clock.fetch_add(2 * DAY, Ordering::SeqCst);
    let teacher = Device {
        label: "teacher phone".into(),
        user: TEACHER.into(),
        store: phone.clone(),
        path: tmp.path().join("phone.db"),
    };
    let id = teacher.record_trip_signal(PUPIL_IN_CARE, 2, "viel van de trap")?;
    clock.fetch_add(2 * DAY, Ordering::SeqCst);
    assert!(phone.lease()?.locked);
    assert!(matches!(
        phone.list_signals(&SignalFilter::default()),
        Err(Error::Locked)
    ));
    assert!(matches!(phone.signal(id), Err(Error::Locked)));
    let refused = teacher.record_trip_signal(PUPIL, 1, "nog een").unwrap_err();
    assert!(matches!(refused.downcast_ref(), Some(Error::Locked)));

    // Back on the network: the sync sends the signal and opens the phone.
    transport::sync_once(&phone).await?;
    assert!(!phone.lease()?.locked);
    assert!(phone.outbox()?.is_empty(), "the signal was sent");
    assert_eq!(phone.signal(id)?.facts, "viel van de trap");
    let coordinator =
        Device::enroll(&server, tmp.path(), COORDINATOR, "coordinator tablet").await?;
    coordinator.sync().await?;
    assert_eq!(coordinator.store.signal(id)?.facts, "viel van de trap");

    server.handle.shutdown().await?;
    Ok(())
}
