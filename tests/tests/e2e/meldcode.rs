//! A meldcode case end to end, through the real server: a teacher's signal from a trip, the
//! care coordinator's case on it through the five steps, and who ends up holding what.

use anyhow::Result;
use omkijken_core::Error;
use omkijken_core::model::{CaseHelp, CaseStatus, FollowUpKind, Unsafety};
use omkijken_core::store::{CASE_CLOSED_STATUS, CASE_OPENED_STATUS, NewCaseStep};
use omkijken_tests::*;

fn step(step: u8, on: &str, outcome: &str) -> NewCaseStep {
    NewCaseStep {
        step,
        on: on.into(),
        participants: vec![COORDINATOR.into()],
        outcome: outcome.into(),
        skipped_because: None,
        parents: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_on_a_trip_signal_reaches_the_care_team_only_and_the_signaller_sees_its_status()
-> Result<()> {
    let tmp = tempfile::tempdir()?;
    let server = TestServer::start(&tmp.path().join("server"), None).await?;
    server.set_up_school().await?;
    let teacher = Device::enroll(&server, tmp.path(), TEACHER, "teacher phone").await?;
    let mentor = Device::enroll(&server, tmp.path(), MENTOR, "mentor phone").await?;
    let tablet = Device::enroll(&server, tmp.path(), COORDINATOR, "coordinator tablet").await?;
    let laptop = Device::enroll(&server, tmp.path(), COORDINATOR, "coordinator laptop").await?;
    for d in [&teacher, &mentor, &tablet, &laptop] {
        d.sync().await?;
    }

    // 1. On the trip the teacher records a signal; back home it syncs.
    let sig = teacher.record_trip_signal(PUPIL, 2, "vertelt dat er thuis geslagen wordt")?;
    teacher.sync().await?;

    // 2. The care coordinator opens a case on it (offline on her tablet), works through
    //    the steps, and syncs.
    tablet.sync().await?;
    let case = tablet.store.open_case(PUPIL, &[sig])?;
    let s = &tablet.store;
    s.record_case_step(
        case,
        step(1, "2026-11-16", "signaal en eerdere zorgen in kaart"),
    )?;
    s.record_case_step(case, step(2, "2026-11-17", "overleg aandachtsfunctionaris"))?;
    s.record_case_step(
        case,
        step(3, "2026-11-18", "gesprek met ouders en leerling"),
    )?;
    s.weigh_case(case, "2026-11-19", true, Unsafety::Doubt)?;
    s.report_case(case, "2026-11-19", "VT-0042")?;
    s.arrange_case_help(
        case,
        CaseHelp {
            case_manager: "wijkteam".into(),
            deadline: "2026-11-30".into(),
            evaluation_on: "2027-01-15".into(),
        },
    )?;
    tablet.sync().await?;

    // 3. Her laptop picks the case up and closes it there with a monitoring agreement.
    laptop.sync().await?;
    let l = &laptop.store;
    assert_eq!(
        l.case(case)?,
        s.case(case)?,
        "the laptop holds the case word for word"
    );
    assert!(
        matches!(l.close_case(case), Err(Error::Invalid(_))),
        "no monitoring yet"
    );
    l.add_monitoring_agreement(
        case,
        "mentor houdt wekelijks contact",
        MENTOR,
        Some("2027-02-01"),
    )?;
    l.close_case(case)?;
    laptop.sync().await?;
    tablet.sync().await?;
    for d in [&teacher, &mentor] {
        d.sync().await?;
    }

    // 4. Both coordinator devices hold the closed case with every entry.
    for d in [&tablet, &laptop] {
        let c = d.store.case(case)?;
        assert_eq!(c.status(), CaseStatus::Closed);
        assert_eq!(c.steps.len(), 3);
        assert_eq!(
            c.report.as_ref().map(|r| r.feedback_due.as_str()),
            Some("2026-11-26")
        );
        assert_eq!(c.monitoring.len(), 1);
        let row = &d.store.list_cases(Some(PUPIL))?[0];
        assert_eq!(
            (row.status, row.step, row.signals),
            (CaseStatus::Closed, 5, 1)
        );
        assert!(d.held()?.contains(&case));
    }

    // 5. The teacher and the mentor never receive the case document; the signal tells
    //    them its status and nothing else.
    for d in [&teacher, &mentor] {
        assert!(!d.held()?.contains(&case), "{} holds the case", d.label);
        assert!(matches!(d.store.case(case), Err(Error::NotFound)));
        assert!(d.store.list_cases(None)?.is_empty());
        let status: Vec<(String, String)> = d
            .store
            .signal(sig)?
            .follow_ups
            .into_iter()
            .map(|f| (f.kind, f.text))
            .collect();
        assert_eq!(
            status,
            vec![
                (
                    FollowUpKind::PickedUp.as_str().into(),
                    CASE_OPENED_STATUS.into()
                ),
                (
                    FollowUpKind::ToSignaller.as_str().into(),
                    CASE_CLOSED_STATUS.into()
                ),
            ]
        );
    }
    for d in [&teacher, &mentor, &tablet, &laptop] {
        assert!(
            d.store.outbox()?.is_empty(),
            "{}: everything acknowledged",
            d.label
        );
    }
    server.handle.shutdown().await?;
    Ok(())
}
