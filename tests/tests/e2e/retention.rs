//! Retention by the calendar, through the real server and real devices, with the clock
//! moved forward: two pupils leave; a school year ends (thermometer months go), two years
//! pass (the pupil file goes), a legal hold keeps one pupil's file, and once it is lifted an
//! open meldcode case still keeps the signal it is built on. Devices purge exactly what the
//! server erased; the audit log says why.

use anyhow::Result;
use omkijken_core::defaults::DEFAULT_TEMPLATE;
use omkijken_core::model::FollowUpKind;
use omkijken_core::store::NewThermometerEntry;
use omkijken_core::{DocumentId, Error, doc};
use omkijken_server::retention;
use omkijken_server::server::Settings;
use omkijken_server::storage::{AuditAction, AuditFilter};
use omkijken_tests::*;

fn ms(date: &str) -> i64 {
    date.parse::<jiff::civil::Date>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn today() -> jiff::civil::Date {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
}

/// Both test pupils leave: the next roster import no longer lists them (they are recorded as
/// left today).
async fn both_pupils_leave(admin: &omkijken_server::server::Admin) -> Result<()> {
    let csv: String = roster_csv()
        .lines()
        .filter(|l| !l.contains(PUPIL) && !l.contains(PUPIL_IN_CARE))
        .collect::<Vec<_>>()
        .join("\n");
    admin.import_roster(SCHOOL, &csv).await?;
    Ok(())
}

/// A server with the test school, and a mentor's and a care coordinator's device, synced.
async fn school_with_mentor_and_coordinator(
    tmp: &tempfile::TempDir,
) -> Result<(std::path::PathBuf, TestServer, Device, Device)> {
    let data = tmp.path().join("server");
    let server = TestServer::start(&data, None).await?;
    server.set_up_school().await?;
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let coordinator = Device::enroll(&server, tmp.path(), COORDINATOR, "ib tablet").await?;
    mentor.sync().await?;
    coordinator.sync().await?;
    Ok((data, server, mentor, coordinator))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_erases_what_expired_everywhere_and_keeps_what_is_held() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let (data, server, mentor, coordinator) = school_with_mentor_and_coordinator(&tmp).await?;
    let admin = server.handle.admin();

    // 1. The mentor's records about two pupils: a shared kindgesprek, a signal and a
    //    thermometer reading each. The coordinator opens a meldcode case on the signal
    //    about the pupil in care.
    let mut docs: Vec<(&str, &str, DocumentId)> = vec![];
    for pupil in [PUPIL, PUPIL_IN_CARE] {
        let c = mentor
            .store
            .start_conversation(pupil, DEFAULT_TEMPLATE, "2026-11-30")?;
        mentor.store.set_notes(c, "Gesprek over de overstap.")?;
        mentor.store.share_conversation(c)?;
        let s = mentor.record_trip_signal(pupil, 2, "Wilde niet mee naar binnen.")?;
        let t = mentor.store.record_thermometer(NewThermometerEntry {
            pupil: pupil.into(),
            at: mentor.store.now(),
            score: 2,
            emotions: vec![],
            wants_to_talk: false,
            note: None,
        })?;
        docs.extend([
            (pupil, "conversation", c),
            (pupil, "signal", s),
            (pupil, "thermometer", t),
        ]);
    }
    let find = |pupil: &str, kind: &str| {
        docs.iter()
            .find(|(p, k, _)| *p == pupil && *k == kind)
            .map(|d| d.2)
            .unwrap()
    };
    mentor.sync().await?;
    coordinator.sync().await?;
    let case = coordinator
        .store
        .open_case(PUPIL_IN_CARE, &[find(PUPIL_IN_CARE, "signal")])?;
    // The coordinator's notes on both signals (beside them, with their terms and holds).
    let signals = [PUPIL, PUPIL_IN_CARE].map(|p| (p, find(p, "signal")));
    for (pupil, sid) in signals {
        coordinator.store.append_follow_up(
            sid,
            FollowUpKind::FollowUp,
            "Besproken in het zorgteam.",
        )?;
        let s = coordinator.store.signal(sid)?;
        let notes = doc::signal_notes_id(SCHOOL, pupil, sid, &s.category, s.urgency);
        docs.push((pupil, "signal_notes", notes));
    }
    let find = |pupil: &str, kind: &str| {
        docs.iter()
            .find(|(p, k, _)| *p == pupil && *k == kind)
            .map(|d| d.2)
            .unwrap()
    };
    coordinator.sync().await?;
    mentor.sync().await?;

    // 2. Both pupils leave: the next roster import no longer lists them (they are recorded
    //    as left today). The privacy officer puts a legal hold on the pupil in care.
    both_pupils_leave(admin).await?;
    let settings = Settings::for_test(&data);
    {
        let mut st = settings.open_storage()?;
        let p = retention::policy(st.as_mut(), SCHOOL)?;
        assert_eq!(p.left_on.get(PUPIL), Some(&today().to_string()));
        retention::set_hold(st.as_mut(), 0, SCHOOL, PUPIL_IN_CARE, true)?;
    }

    // 3. Today nothing goes.
    assert_eq!(admin.apply_retention(None).await?, 0);

    // 4. After the end of the school year, the thermometer month of the pupil not on hold
    //    goes; on every device too.
    let after_school_year = format!("{}-08-15", today().year() + 1);
    assert_eq!(
        admin.apply_retention(Some(ms(&after_school_year))).await?,
        1
    );
    mentor.sync().await?;
    let gone_thermometer = find(PUPIL, "thermometer");
    assert!(!mentor.held()?.contains(&gone_thermometer));
    for (p, k, id) in &docs {
        if *id != gone_thermometer {
            assert!(mentor.held()?.contains(id), "{p} {k} kept");
        }
    }

    // 5. Two years after leaving: the pupil file of the pupil not on hold goes (the
    //    signal's notes with it).
    let two_years = today().checked_add(jiff::Span::new().years(2).days(1))?;
    let at = ms(&two_years.to_string());
    assert_eq!(admin.apply_retention(Some(at)).await?, 3);
    mentor.sync().await?;
    coordinator.sync().await?;
    for kind in ["conversation", "signal", "signal_notes"] {
        let id = find(PUPIL, kind);
        assert!(!mentor.held()?.contains(&id), "{kind}");
        assert!(!coordinator.held()?.contains(&id), "{kind}");
        assert!(matches!(mentor.store.signal(id), Err(Error::NotFound)));
    }
    for kind in ["conversation", "signal", "signal_notes", "thermometer"] {
        assert!(
            mentor.held()?.contains(&find(PUPIL_IN_CARE, kind)),
            "held: {kind}"
        );
    }

    // 6. The hold is lifted: the pupil in care's conversation and thermometer month go; the
    //    signal the open meldcode case is built on stays with its notes, and so does the
    //    case (no term).
    {
        let mut st = settings.open_storage()?;
        retention::set_hold(st.as_mut(), 0, SCHOOL, PUPIL_IN_CARE, false)?;
        let plan = retention::plan(st.as_mut(), SCHOOL, two_years)?;
        let held: Vec<_> = plan.iter().filter(|e| e.held.is_some()).collect();
        let mut ids: Vec<DocumentId> = held.iter().map(|e| e.id).collect();
        ids.sort();
        let mut want = vec![
            find(PUPIL_IN_CARE, "signal"),
            find(PUPIL_IN_CARE, "signal_notes"),
        ];
        want.sort();
        assert_eq!(ids, want);
        assert!(held.iter().all(|e| e.held == Some("open meldcode case")));
    }
    assert_eq!(admin.apply_retention(Some(at)).await?, 2);
    coordinator.sync().await?;
    mentor.sync().await?;
    assert!(coordinator.held()?.contains(&find(PUPIL_IN_CARE, "signal")));
    assert!(
        coordinator
            .held()?
            .contains(&find(PUPIL_IN_CARE, "signal_notes"))
    );
    assert!(coordinator.held()?.contains(&case));
    for kind in ["conversation", "thermometer"] {
        assert!(
            !mentor.held()?.contains(&find(PUPIL_IN_CARE, kind)),
            "{kind}"
        );
    }

    // 7. The audit log: one `retention` row per erased document, with its kind.
    let mut rows = admin.audit(AuditFilter::Pupil(PUPIL.into())).await?;
    rows.retain(|r| r.action == AuditAction::Retention);
    let mut kinds: Vec<_> = rows.iter().filter_map(|r| r.kind.clone()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["conversation", "signal", "signal_notes", "thermometer"]
    );
    let holds = admin
        .audit(AuditFilter::Pupil(PUPIL_IN_CARE.into()))
        .await?;
    assert!(holds.iter().any(|r| r.action == AuditAction::Hold));
    assert!(holds.iter().any(|r| r.action == AuditAction::Release));
    server.handle.shutdown().await?;
    Ok(())
}

/// The daily run reads the catalog beside the hub (`retention::scan`, on a connection of
/// its own) and erases on the hub (`erase_scanned`): what changed in between is judged as it
/// is at the erasure. A legal hold placed after the read keeps the pupil's file; a signal
/// linked to an open meldcode case after the read is kept by it; the rest of what was due
/// goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_or_a_case_made_after_the_catalog_was_read_still_keeps_its_documents() -> Result<()>
{
    let tmp = tempfile::tempdir()?;
    let (data, server, mentor, coordinator) = school_with_mentor_and_coordinator(&tmp).await?;
    let admin = server.handle.admin();
    let held_signal = mentor.record_trip_signal(PUPIL, 2, "Zat alleen aan tafel.")?;
    let first_signal = mentor.record_trip_signal(PUPIL_IN_CARE, 2, "Huilde bij het ontbijt.")?;
    let case_signal = mentor.record_trip_signal(PUPIL_IN_CARE, 2, "Wilde niet naar huis.")?;
    let conversation =
        mentor
            .store
            .start_conversation(PUPIL_IN_CARE, DEFAULT_TEMPLATE, "2026-11-30")?;
    mentor
        .store
        .set_notes(conversation, "Gesprek over de overstap.")?;
    mentor.store.share_conversation(conversation)?;
    mentor.sync().await?;
    coordinator.sync().await?;
    // A meldcode case about the pupil in care, on the first of her two signals.
    let case = coordinator
        .store
        .open_case(PUPIL_IN_CARE, &[first_signal])?;
    coordinator.sync().await?;
    // Both pupils leave.
    both_pupils_leave(admin).await?;
    let two_years = today().checked_add(jiff::Span::new().years(2).days(1))?;
    let at = ms(&two_years.to_string());

    // The read: four documents are due, the case's signal held by it.
    let settings = Settings::for_test(&data);
    let scans = {
        let mut st = settings.open_storage()?;
        let scans = retention::scan(st.as_mut(), at)?;
        let due = retention::plan(st.as_mut(), SCHOOL, two_years)?;
        assert_eq!(due.len(), 4, "four documents due at the read");
        let held: Vec<DocumentId> = due
            .iter()
            .filter(|e| e.held.is_some())
            .map(|e| e.id)
            .collect();
        assert_eq!(held, vec![first_signal]);
        scans
    };
    // After the read: a legal hold on the first pupil; the case is now built on the pupil
    // in care's second signal as well.
    {
        let mut st = settings.open_storage()?;
        retention::set_hold(st.as_mut(), 0, SCHOOL, PUPIL, true)?;
    }
    coordinator.store.link_case_signal(case, case_signal)?;
    coordinator.sync().await?;

    // The erasure: only the conversation goes, on the devices too.
    assert_eq!(admin.erase_scanned(at, scans).await?, 1);
    mentor.sync().await?;
    coordinator.sync().await?;
    assert!(!mentor.held()?.contains(&conversation));
    for id in [held_signal, first_signal, case_signal] {
        assert!(mentor.held()?.contains(&id), "kept by a hold or a case");
    }
    assert!(coordinator.held()?.contains(&case));
    let mut rows = admin
        .audit(AuditFilter::Pupil(PUPIL_IN_CARE.into()))
        .await?;
    rows.retain(|r| r.action == AuditAction::Retention);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].document, Some(conversation));
    server.handle.shutdown().await?;
    Ok(())
}
