//! The school's IT admin backs the server's store up while it runs and later restores it
//! (a broken disk, a bad upgrade). Nothing a device holds is lost: devices give the server
//! back what it acknowledged after the backup, and the restore keeps from the replaced store
//! who may connect (a device revoked since stays revoked) and the audit log.

use anyhow::Result;
use omkijken_core::model::FollowUpKind;
use omkijken_server::backup::{self, LOCK_FILE};
use omkijken_server::server::Settings;
use omkijken_server::storage::{AuditAction, AuditFilter, SqliteStorage, Storage};
use omkijken_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_store_gets_back_from_devices_what_it_acknowledged_after_the_backup()
-> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("server");
    let settings = Settings::for_test(&data);
    let server = TestServer::start(&data, None).await?;
    server.set_up_school().await?;

    // 1. The teacher records a signal; the server acknowledges it.
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    let before = teacher.record_trip_signal(PUPIL_IN_CARE, 2, "at alleen tijdens de lunch")?;
    teacher.sync().await?;

    // 2. The admin backs the store up while the server runs; the backup refuses to
    //    overwrite a file.
    let file = tmp.path().join("omkijken-backup.db");
    let report = backup::backup(&settings, &file)?;
    assert_eq!(
        report.documents, 6,
        "the roster, the four staff members' views of it and the signal"
    );
    assert!(
        backup::backup(&settings, &file).is_err(),
        "an existing file is kept"
    );

    // 3. After the backup: a correction to that signal, a second signal (both acknowledged
    //    by the server), a mentor's phone enrolled and the teacher's second phone revoked.
    teacher.store.append_follow_up(
        before,
        FollowUpKind::Correction,
        "niet alleen: met een vriendin",
    )?;
    let after = teacher.record_trip_signal(PUPIL, 1, "vergat zijn regenjas")?;
    assert_eq!(teacher.sync().await?.pushed, 2);
    assert!(teacher.store.outbox()?.is_empty(), "all acknowledged");
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let spare = Device::enroll(&server, tmp.path(), COORDINATOR, "spare tablet").await?;
    server.revoke_device_of(COORDINATOR).await?;

    // 4. A restore needs the server stopped: while it runs, the data directory is locked.
    let err = backup::restore(&settings, &file).unwrap_err();
    assert!(err.to_string().contains("running"), "{err}");
    assert!(
        omkijken_server::server::start(Settings::for_test(&data))
            .await
            .is_err(),
        "a second server on the same data directory is refused"
    );
    let addr = server.handle.addr();
    server.handle.shutdown().await?;
    let restored = backup::restore(&settings, &file)?;
    assert_eq!(restored.documents, 6);
    let kept = restored
        .replaced
        .clone()
        .expect("the replaced store is kept");
    assert!(kept.exists());
    let carried = restored.carried.clone().expect("carried over");
    assert_eq!(
        carried.devices, 3,
        "teacher phone, mentor phone, spare tablet"
    );
    assert!(carried.audit > 0);
    assert!(data.join(LOCK_FILE).exists());

    // 5. The server starts on the restored store. The teacher's phone finds the server
    //    behind what it acknowledged and sends the rest again.
    let server = TestServer::start_again(&data, addr).await?;
    let report = teacher.sync().await?;
    assert_eq!(
        report.pushed, 2,
        "the correction and the second signal, again"
    );
    assert!(teacher.store.outbox()?.is_empty());

    // 6. The mentor (enrolled after the backup) still connects and reads both signals with
    //    the correction, word for word; the revoked tablet stays revoked and wipes itself.
    mentor.sync().await?;
    let signal = mentor.store.signal(before)?;
    assert_eq!(signal.facts, "at alleen tijdens de lunch");
    assert_eq!(
        signal.follow_ups.last().map(|f| f.text.as_str()),
        Some("niet alleen: met een vriendin")
    );
    assert_eq!(mentor.store.signal(after)?.facts, "vergat zijn regenjas");
    assert!(spare.sync().await.is_err());
    assert!(
        spare.store.is_wiped(),
        "revoked after the backup, still revoked"
    );
    server.handle.shutdown().await?;

    // 7. The audit log still has the deliveries made before the restore.
    let mut st = settings.open_storage()?;
    let rows = st.audit(&AuditFilter::Staff(MENTOR.into()))?;
    assert!(rows.iter().any(|r| r.action == AuditAction::Deliver));
    Ok(())
}

#[test]
fn a_backup_of_an_encrypted_store_is_encrypted_and_needs_the_key() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut settings = Settings::for_test(tmp.path().join("server"));
    settings.db_key = Some("server-store-key-for-the-test".into());
    omkijken_server::secure::private_dir(&settings.data_dir)?;
    let mut st = SqliteStorage::open(settings.db_path(), settings.db_key.as_deref())?;
    omkijken_server::admin::create_school(&mut st, 0, SCHOOL, "Basisschool De Linde")?;
    drop(st);

    let file = tmp.path().join("backup.db");
    backup::backup(&settings, &file)?;
    let bytes = std::fs::read(&file)?;
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "not a plain SQLite file"
    );
    assert!(
        !bytes.windows(SCHOOL.len()).any(|w| w == SCHOOL.as_bytes()),
        "no school id in the clear"
    );
    // Without the key (or with another) the backup does not restore, and nothing changes.
    let mut wrong = settings.clone();
    wrong.db_key = Some("another-key-another-key".into());
    assert!(backup::restore(&wrong, &file).is_err());
    let mut st = SqliteStorage::open(settings.db_path(), settings.db_key.as_deref())?;
    assert_eq!(st.schools()?.len(), 1, "the store is as it was");
    drop(st);
    // With the key it does.
    let r = backup::restore(&settings, &file)?;
    assert!(r.replaced.is_some());
    let mut st = SqliteStorage::open(settings.db_path(), settings.db_key.as_deref())?;
    assert_eq!(st.schools()?[0].id, SCHOOL);
    Ok(())
}

/// What the database file alone holds of `settings`' store (as if its write-ahead log were
/// lost): the signals in its catalog.
fn signals_in_the_database_file(settings: &Settings, copy: &std::path::Path) -> Result<usize> {
    std::fs::create_dir_all(copy)?;
    let file = copy.join("alone.db");
    let _ = std::fs::remove_file(copy.join("alone.db-wal"));
    std::fs::copy(settings.db_path(), &file)?;
    let mut st = SqliteStorage::open(&file, settings.db_key.as_deref())?;
    Ok(st
        .catalog_school(SCHOOL)?
        .iter()
        .filter(|r| r.header.kind == "signal")
        .count())
}

/// The server's checkpoints run beside the hub: what the hub commits reaches the database
/// file within moments, without the hub stopping for a checkpoint (its own connection
/// checkpoints only a write-ahead log of 20,000 pages, which five signals are far from).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_beside_the_hub_copies_commits_into_the_database_file() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut settings = Settings::for_test(tmp.path().join("server"));
    settings.db_key = Some("server-store-key-for-the-test".into());
    let server = TestServer::start_with(settings.clone()).await?;
    server.set_up_school().await?;
    let devices = tmp.path().join("devices");
    std::fs::create_dir_all(&devices)?;
    let teacher = Device::enroll(&server, &devices, TEACHER, "teacher phone").await?;
    teacher.sync().await?;
    for i in 0..5 {
        teacher.record_trip_signal(
            PUPIL,
            1,
            &format!("Daan ({i}) huilde bij de brug; geëmotioneerd"),
        )?;
    }
    teacher.sync().await?;
    assert!(teacher.store.outbox()?.is_empty(), "all five acknowledged");
    let copy = tmp.path().join("copy");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n = signals_in_the_database_file(&settings, &copy)?;
        if n == 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file alone holds {n} of the 5 signals"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}
