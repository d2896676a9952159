//! An erasure lasts: the privacy officer erases a pupil's file, the IT admin later restores a
//! backup taken before the erasure, and devices reconnect in any order. The erased content
//! never returns anywhere: not to a device enrolled after the restore, not from a phone that
//! still held it offline (listed as erased, or refused `erased`: purged), and a canary string of the erased record
//! is in no server file (database, WAL, the replaced store, backups taken after) and in no
//! device file.

use anyhow::Result;
use omkijken_core::Error;
use omkijken_server::backup;
use omkijken_server::server::Settings;
use omkijken_tests::*;
use std::path::Path;

const CANARY: &str = "KANARIE-uitgewist-7f3a9c-zorgcoördinator";

/// Whether `needle` is in any file directly in `dir` (or `dir` itself if it is a file).
fn found_in(path: &Path, needle: &str) -> Result<Vec<String>> {
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    let mut hits = vec![];
    for f in files {
        let bytes = std::fs::read(&f)?;
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            hits.push(f.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    Ok(hits)
}

fn device_files(d: &Device) -> Vec<std::path::PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            let mut p = d.path.as_os_str().to_os_string();
            p.push(s);
            p.into()
        })
        .filter(|p: &std::path::PathBuf| p.exists())
        .collect()
}

/// A reading of `PUPIL` made now on `d` (its clock), with `note` if any.
fn reading(d: &Device, score: u8, note: Option<&str>) -> omkijken_core::store::NewThermometerEntry {
    omkijken_core::store::NewThermometerEntry {
        pupil: PUPIL.into(),
        at: d.store.now(),
        score,
        emotions: vec![],
        wants_to_talk: false,
        note: note.map(Into::into),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_survives_a_restore_and_leaves_no_trace_in_any_file() -> Result<()> {
    // The devices reconnect to the restored server in every order: 0 the teacher's phone
    // (offline all along, still holding the erased signal), 1 the coordinator's tablet
    // (purged it before the restore), 2 a tablet enrolled after the restore.
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        scenario(order).await?;
    }
    Ok(())
}

async fn scenario(order: [usize; 3]) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("server");
    let devices = tmp.path().join("devices");
    std::fs::create_dir_all(&devices)?;
    // A plain (unencrypted) store on purpose: with the default encrypted store the canary
    // would be unreadable anyway; this shows that the erased bytes are gone, not just hidden.
    let mut settings = Settings::for_test(&data);
    settings.plain_store = true;
    let server = TestServer::start_with(settings.clone()).await?;
    server.set_up_school().await?;

    // 1. The teacher records a signal about the pupil in care (with the canary) and one
    //    about another pupil; the coordinator receives both.
    let teacher = Device::enroll(&server, &devices, TEACHER, "teacher phone").await?;
    let coordinator = Device::enroll(&server, &devices, COORDINATOR, "ib tablet").await?;
    teacher.sync().await?;
    let erased = teacher.record_trip_signal(PUPIL_IN_CARE, 2, CANARY)?;
    let kept = teacher.record_trip_signal(PUPIL, 1, "vergat zijn gymspullen")?;
    teacher.sync().await?;
    coordinator.sync().await?;
    assert_eq!(coordinator.store.signal(erased)?.facts, CANARY);
    assert!(
        !found_in(&data, CANARY)?.is_empty(),
        "the test's canary is visible in the (unencrypted test) server store before"
    );

    // 2. The admin backs up (before the erasure).
    let before = tmp.path().join("backup-before.db");
    backup::backup(&settings, &before)?;

    // 3. The privacy officer erases the pupil's file. The coordinator syncs and purges it;
    //    the teacher's phone stays offline and still holds its own signal.
    let n = server
        .handle
        .admin()
        .erase_pupil(SCHOOL, PUPIL_IN_CARE)
        .await?;
    assert!(n >= 1);
    coordinator.sync().await?;
    assert!(matches!(
        coordinator.store.signal(erased),
        Err(Error::NotFound)
    ));
    assert_eq!(
        found_in(&data, CANARY)?,
        Vec::<String>::new(),
        "server files"
    );
    for f in device_files(&coordinator) {
        assert!(found_in(&f, CANARY)?.is_empty(), "coordinator's {f:?}");
    }

    // 4. A backup after the erasure holds nothing of it; `admin backups` lists the one
    //    before as still holding erased data.
    let after = tmp.path().join("backup-after.db");
    backup::backup(&settings, &after)?;
    assert!(found_in(&after, CANARY)?.is_empty());
    let listed = backup::list_backups(&settings)?;
    assert_eq!(listed.len(), 2);
    assert!(listed[0].path.ends_with("backup-before.db"));
    assert!(listed[0].present && listed[0].erased_since >= 1);
    assert!(listed[1].path.ends_with("backup-after.db"));
    assert_eq!(listed[1].erased_since, 0);

    // 5. The server is stopped and the backup from before the erasure restored: the
    //    erasure is applied again.
    let addr = server.handle.addr();
    server.handle.shutdown().await?;
    let restored = backup::restore(&settings, &before)?;
    let carried = restored.carried.expect("carried over");
    assert!(carried.erasures >= 1, "{carried:?}");
    assert_eq!(
        found_in(&data, CANARY)?,
        Vec::<String>::new(),
        "no file in the data directory (restored store, replaced store, WAL)"
    );
    let mut again = settings.clone();
    again.listen = addr;
    let server = TestServer::start_again_with(again).await?;

    // 6. Devices reconnect in the order given. The teacher's phone purges its copy (the
    //    restored catalog lists it as erased; had the phone pushed it first, the push would
    //    be refused `erased` with the same effect). The new tablet never sees it.
    assert_eq!(teacher.store.signal(erased)?.facts, CANARY);
    let mut fresh = None;
    for who in order {
        match who {
            0 => {
                let report = teacher.sync().await?;
                let refused_erased = report.refused.iter().any(|(id, r)| {
                    *id == erased && *r == omkijken_core::sync::RefusalReason::Erased
                });
                assert!(
                    report.purged >= 1 || refused_erased,
                    "{order:?}: {report:?}"
                );
            }
            1 => {
                coordinator.sync().await?;
            }
            _ => {
                let d = Device::enroll(&server, &devices, COORDINATOR, "new ib tablet").await?;
                d.sync().await?;
                fresh = Some(d);
            }
        }
    }
    let fresh = fresh.expect("enrolled");
    for d in [&fresh, &coordinator, &teacher, &fresh] {
        d.sync().await?;
        assert!(!d.held()?.contains(&erased), "{order:?}: {}", d.label);
        assert!(matches!(d.store.signal(erased), Err(Error::NotFound)));
    }
    assert_eq!(fresh.store.signal(kept)?.facts, "vergat zijn gymspullen");
    server.handle.shutdown().await?;
    assert_eq!(found_in(&data, CANARY)?, Vec::<String>::new());
    for d in [&teacher, &coordinator, &fresh] {
        for f in device_files(d) {
            assert!(found_in(&f, CANARY)?.is_empty(), "{}: {f:?}", d.label);
        }
    }
    Ok(())
}

/// Found by simulation seed 5136: a thermometer month has a deterministic id (pupil and
/// month), and an erased id is refused for good, so a reading recorded after the privacy
/// officer erased the pupil's file, in the same month, was refused (`forbidden`) and lost.
/// The erasure now counts in the roster (`Pupil::erasures`) and her months after it have new
/// ids: the new reading reaches the server and the other devices, the erased one stays gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_recorded_after_an_erasure_in_the_same_month_reaches_the_server() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    mentor.sync().await?;

    // 1. A reading, synced; the privacy officer erases the pupil's file; the phone purges it.
    let erased = mentor.store.record_thermometer(reading(
        &mentor,
        2,
        Some("voor de wissing: zij was verdrietig"),
    ))?;
    mentor.sync().await?;
    let action = |a| omkijken_server::storage::AuditFilter::Action(a);
    use omkijken_server::storage::AuditAction::{Erase, RosterImport};
    let imports = server
        .handle
        .admin()
        .audit(action(RosterImport))
        .await?
        .len();
    server.handle.admin().erase_pupil(SCHOOL, PUPIL).await?;
    // The erasure is audited as one (the count in the roster is part of it).
    let erase_rows = server.handle.admin().audit(action(Erase)).await?;
    assert_eq!(erase_rows.len(), 1);
    assert_eq!(erase_rows[0].pupil.as_deref(), Some(PUPIL));
    let after = server
        .handle
        .admin()
        .audit(action(RosterImport))
        .await?
        .len();
    assert_eq!(after, imports, "no roster import is audited for an erasure");
    mentor.sync().await?;
    assert!(mentor.store.info(erased)?.is_none());
    let month = omkijken_core::model::month_of(mentor.store.now());
    assert_eq!(mentor.store.thermometer_month(PUPIL, &month)?, None);

    // 2. The pupil is still at school: a new reading the same month goes to the server.
    let kept = mentor.store.record_thermometer(reading(
        &mentor,
        4,
        Some("na de wissing: het gaat beter, zegt Zoë"),
    ))?;
    assert_ne!(kept, erased, "a new month, not the erased one");
    let report = mentor.sync().await?;
    assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
    assert!(mentor.store.not_accepted()?.is_empty());
    assert!(
        mentor
            .store
            .info(kept)?
            .is_some_and(|i| i.acked_heads.is_some())
    );

    // 3. Another device of hers gets it, and nothing of before the erasure.
    let tablet = Device::enroll(&server, tmp.path(), MENTOR, "mentor tablet").await?;
    tablet.sync().await?;
    let m = tablet
        .store
        .thermometer_month(PUPIL, &month)?
        .expect("the month after the erasure");
    let notes: Vec<_> = m.entries.iter().map(|e| e.note.clone()).collect();
    assert_eq!(
        notes,
        vec![Some("na de wissing: het gaat beter, zegt Zoë".to_string())]
    );
    assert!(tablet.store.info(erased)?.is_none());

    // 4. A second erasure takes that month too, and the next reading goes on again.
    server.handle.admin().erase_pupil(SCHOOL, PUPIL).await?;
    mentor.sync().await?;
    assert!(mentor.store.info(kept)?.is_none());
    let third =
        mentor
            .store
            .record_thermometer(reading(&mentor, 3, Some("weer een nieuwe maand")))?;
    assert!(third != kept && third != erased);
    let report = mentor.sync().await?;
    assert!(report.refused.is_empty(), "refused: {:?}", report.refused);
    server.handle.shutdown().await?;
    Ok(())
}

/// A server with the school set up, and the mentor's phone and tablet enrolled and synced.
async fn mentor_phone_and_tablet(dir: &std::path::Path) -> Result<(TestServer, Device, Device)> {
    let server = TestServer::start(&dir.join("server"), None).await?;
    server.set_up_school().await?;
    let phone = Device::enroll(&server, dir, MENTOR, "mentor phone").await?;
    let tablet = Device::enroll(&server, dir, MENTOR, "mentor tablet").await?;
    phone.sync().await?;
    tablet.sync().await?;
    Ok((server, phone, tablet))
}

/// A month the erasure did not take, started by a phone that did not know of the erasure
/// yet: the server keeps it under the earlier id, and the tablet, which knows of the
/// erasure, adds to that month instead of starting a second one; both readings read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_started_before_the_device_knew_of_an_erasure_stays_one_month() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, phone, tablet) = mentor_phone_and_tablet(tmp.path()).await?;
    // Nothing of this month yet; the erasure counts in the roster. The phone has not synced.
    server.handle.admin().erase_pupil(SCHOOL, PUPIL).await?;
    let started = phone.store.record_thermometer(reading(
        &phone,
        3,
        Some("op de telefoon, nog niet gesynchroniseerd"),
    ))?;
    let report = phone.sync().await?;
    assert!(report.refused.is_empty(), "{report:?}");
    tablet.sync().await?;
    let added = tablet.store.record_thermometer(reading(
        &tablet,
        5,
        Some("op de tablet, na de wissing"),
    ))?;
    assert_eq!(added, started, "one month, not two");
    let report = tablet.sync().await?;
    assert!(report.refused.is_empty(), "{report:?}");
    phone.sync().await?;
    let month = omkijken_core::model::month_of(phone.store.now());
    let m = phone
        .store
        .thermometer_month(PUPIL, &month)?
        .expect("the month");
    let scores: Vec<u8> = m.entries.iter().map(|e| e.score).collect();
    assert_eq!(scores, vec![3, 5]);
    server.handle.shutdown().await?;
    Ok(())
}

/// A restore from a backup taken before an erasure: the restore applies the erasure again
/// and keeps the roster's count of erasures of the store it replaces, so the month recorded
/// after the erasure, which the phone pushes again to the restored server, is taken under
/// its id, and the erased month stays gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_months_after_an_erasure_keep_their_ids_through_a_restore() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let settings = Settings::for_test(tmp.path().join("server"));
    let server = TestServer::start_with(settings.clone()).await?;
    server.set_up_school().await?;
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    mentor.sync().await?;
    let erased = mentor
        .store
        .record_thermometer(reading(&mentor, 2, Some("vóór de back-up")))?;
    mentor.sync().await?;
    let before = tmp.path().join("backup-before.db");
    backup::backup(&settings, &before)?;
    server.handle.admin().erase_pupil(SCHOOL, PUPIL).await?;
    mentor.sync().await?;
    let kept = mentor.store.record_thermometer(reading(
        &mentor,
        4,
        Some("na de wissing, vóór het terugzetten"),
    ))?;
    let report = mentor.sync().await?;
    assert!(report.refused.is_empty(), "{report:?}");

    let addr = server.handle.addr();
    server.handle.shutdown().await?;
    backup::restore(&settings, &before)?;
    let mut again = settings.clone();
    again.listen = addr;
    let server = TestServer::start_again_with(again).await?;
    let report = mentor.sync().await?;
    assert!(report.refused.is_empty(), "{report:?}");
    assert!(mentor.store.not_accepted()?.is_empty());
    assert!(mentor.store.info(erased)?.is_none());
    assert!(mentor.store.info(kept)?.is_some());

    let tablet = Device::enroll(&server, tmp.path(), MENTOR, "mentor tablet").await?;
    tablet.sync().await?;
    let month = omkijken_core::model::month_of(tablet.store.now());
    let m = tablet
        .store
        .thermometer_month(PUPIL, &month)?
        .expect("the month after the erasure, pushed again");
    let notes: Vec<_> = m.entries.iter().filter_map(|e| e.note.clone()).collect();
    assert_eq!(
        notes,
        vec!["na de wissing, vóór het terugzetten".to_string()]
    );
    assert!(tablet.store.info(erased)?.is_none());
    server.handle.shutdown().await?;
    Ok(())
}

/// Pupil mode after an erasure: the teacher of the group starts a pupil session after the
/// privacy officer erased a pupil's file; the pupil's own reading, in the month the erasure
/// took, is taken by the server and reaches her mentor, without what was erased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupils_own_reading_after_an_erasure_reaches_her_mentor() -> Result<()> {
    use omkijken_core::store::{PupilReading, StoreOptions};
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher tablet").await?;
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    mentor.sync().await?;
    mentor
        .store
        .record_thermometer(reading(&mentor, 1, Some("vóór de wissing")))?;
    mentor.sync().await?;
    server.handle.admin().erase_pupil(SCHOOL, PUPIL).await?;
    teacher.sync().await?;

    let session_store = omkijken_core::Store::open_with(
        tmp.path().join("pupil-session.db"),
        b"a-key-for-the-pupil-session-after",
        StoreOptions::default(),
    )?;
    let session =
        omkijken_core::transport::start_pupil_session(&teacher.store, "g6b", 8, session_store)
            .await?;
    session.record(PupilReading {
        pupil: PUPIL.into(),
        score: 4,
        emotions: vec![],
        wants_to_talk: false,
    })?;
    let report = omkijken_core::transport::sync_pupil_session(&session).await?;
    assert_eq!((report.pushed, report.refused.len()), (1, 0), "{report:?}");

    mentor.sync().await?;
    let month = omkijken_core::model::month_of(mentor.store.now());
    let m = mentor
        .store
        .thermometer_month(PUPIL, &month)?
        .expect("her month after the erasure");
    let got: Vec<_> = m.entries.iter().map(|e| (e.score, e.by_pupil())).collect();
    assert_eq!(got, vec![(4, true)], "her own reading, nothing erased");
    server.handle.shutdown().await?;
    Ok(())
}

/// Found by simulation seed 128 (there by retention; the same with the privacy officer's
/// erasure) and by fresh seeds from 1428346929: a phone recorded a reading offline, in a
/// month another phone had already synced; the month is erased before the phone comes back.
/// Its push of that month is refused (`forbidden`: the id is taken) and the reading was kept
/// as a not-accepted item, content of an erased file on the phone. A refusal under a taken
/// id is now followed by a purge, which takes the item too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_written_offline_before_an_erasure_leaves_nothing_on_the_phone() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (server, phone, tablet) = mentor_phone_and_tablet(tmp.path()).await?;

    // 1. The tablet records a reading and syncs; the phone records one offline.
    tablet.store.record_thermometer(reading(&tablet, 2, None))?;
    tablet.sync().await?;
    let month = phone.store.record_thermometer(reading(&phone, 4, None))?;

    // 2. The pupil's file is erased; then the phone comes back.
    server.handle.admin().erase_pupil(SCHOOL, PUPIL).await?;
    phone.sync().await?;
    phone.sync().await?;

    // 3. Nothing of the erased month stays on the phone.
    assert!(phone.store.info(month)?.is_none());
    assert!(phone.store.not_accepted()?.is_empty());
    server.handle.shutdown().await?;
    Ok(())
}
