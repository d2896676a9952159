//! Meldcode cases through the store's public interface: the five steps, the closing rules,
//! who may see what (the signaller sees status only), and concurrent work merging.

mod common;

use common::*;
use omkijken_core::Error;
use omkijken_core::model::{CaseHelp, CaseStatus, FollowUpKind, Unsafety};
use omkijken_core::store::{CASE_CLOSED_STATUS, CASE_OPENED_STATUS, NewCaseStep, SignalFilter};

fn step(step: u8, on: &str, outcome: &str) -> NewCaseStep {
    NewCaseStep {
        step,
        on: on.into(),
        participants: vec!["cc".into()],
        outcome: outcome.into(),
        skipped_because: None,
        parents: None,
    }
}

fn home_signal(pupil: &str) -> omkijken_core::store::NewSignal {
    let mut s = signal(pupil, 2, "blauwe plekken op beide armen");
    s.category = "thuissituatie".into();
    s
}

#[test]
fn a_case_goes_through_the_five_steps_and_closes_only_by_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (teacher, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    let sig = teacher.record_signal(home_signal("p2")).unwrap();
    exchange(&teacher, &cc);

    let case = cc.open_case("p2", &[sig]).unwrap();
    cc.record_case_step(case, step(1, "2026-11-16", "signalen in kaart gebracht"))
        .unwrap();
    cc.record_case_step(
        case,
        step(
            2,
            "2026-11-17",
            "collegiale consultatie; Veilig Thuis gebeld (anoniem advies)",
        ),
    )
    .unwrap();
    cc.record_case_step(
        case,
        NewCaseStep {
            skipped_because: Some("gesprek zou het kind in gevaar brengen".into()),
            parents: None,
            ..step(3, "2026-11-17", "")
        },
    )
    .unwrap();
    cc.weigh_case(case, "2026-11-18", true, Unsafety::Structural)
        .unwrap();
    cc.arrange_case_help(
        case,
        CaseHelp {
            case_manager: "wijkteam".into(),
            deadline: "2026-11-25".into(),
            evaluation_on: "2026-12-16".into(),
        },
    )
    .unwrap();

    // No monitoring agreements yet: refused, and nothing changes.
    let before = cc.case(case).unwrap();
    assert!(matches!(cc.close_case(case), Err(Error::Invalid(r)) if r.contains("monitoring")));
    cc.add_monitoring_agreement(
        case,
        "mentor spreekt wekelijks met leerling",
        "m1",
        Some("2027-01-31"),
    )
    .unwrap();
    // Suspicion with structural unsafety: the report to Veilig Thuis is required.
    assert!(matches!(cc.close_case(case), Err(Error::Invalid(r)) if r.contains("Veilig Thuis")));
    // Thursday: feedback due five working days later, the Thursday after.
    cc.report_case(case, "2026-11-19", "VT-2026-0042").unwrap();
    let row = &cc.list_cases(Some("p2")).unwrap()[0];
    assert_eq!(row.feedback_due.as_deref(), Some("2026-11-26"));
    assert_eq!(row.evaluation_on.as_deref(), Some("2026-12-16"));
    cc.record_case_feedback(case, "2026-11-24").unwrap();
    cc.close_case(case).unwrap();

    let c = cc.case(case).unwrap();
    assert_eq!(c.status(), CaseStatus::Closed);
    assert_eq!(c.signals, vec![sig.to_string()]);
    assert_eq!(c.steps.len(), 3);
    assert_eq!(c.steps[..1], before.steps[..1]);
    assert_eq!(
        c.steps[2].skipped_because.as_deref(),
        Some("gesprek zou het kind in gevaar brengen")
    );
    assert!(c.weighing.as_ref().unwrap().report_required());
    let report = c.report.as_ref().unwrap();
    assert_eq!(
        (report.reference.as_str(), report.feedback_on.as_deref()),
        ("VT-2026-0042", Some("2026-11-24"))
    );
    assert_eq!(c.monitoring.len(), 1);
    assert!(c.closed_at.is_some());

    let rows = cc.list_cases(None).unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        (row.id, row.status, row.step, row.signals),
        (case, CaseStatus::Closed, 5, 1)
    );
    assert_eq!(row.feedback_due, None, "feedback came");

    // A closed case is final.
    assert!(matches!(
        cc.record_case_step(case, step(5, "2026-11-30", "nog iets")),
        Err(Error::Forbidden(_))
    ));
    assert_eq!(cc.case(case).unwrap(), c);
}

#[test]
fn the_signaller_sees_status_only_and_the_care_team_alone_reads_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let (teacher, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    let (mentor, _) = store_for(dir.path(), "m1");
    let sig = teacher.record_signal(home_signal("p2")).unwrap();
    exchange(&teacher, &cc);
    assert_eq!(cc.attention_list().unwrap().len(), 1, "the open signal");

    let case = cc.open_case("p2", &[sig]).unwrap();
    assert!(cc.attention_list().unwrap().is_empty(), "picked up");
    cc.add_monitoring_agreement(case, "dagelijks even checken", "m1", None)
        .unwrap();
    cc.close_case(case).unwrap();
    exchange(&cc, &teacher);
    exchange(&cc, &mentor);

    // The teacher holds the case document (exchange copies everything) but may not read it.
    assert!(matches!(teacher.case(case), Err(Error::NotFound)));
    assert!(teacher.list_cases(None).unwrap().is_empty());
    assert!(matches!(mentor.case(case), Err(Error::NotFound)));
    assert!(mentor.list_cases(None).unwrap().is_empty());

    // Her signal tells her the status, and nothing of the case.
    let s = teacher.signal(sig).unwrap();
    let entries: Vec<(&str, &str, &str)> = s
        .follow_ups
        .iter()
        .map(|f| (f.kind.as_str(), f.author.as_str(), f.text.as_str()))
        .collect();
    assert_eq!(
        entries,
        vec![
            (FollowUpKind::PickedUp.as_str(), "cc", CASE_OPENED_STATUS),
            (FollowUpKind::ToSignaller.as_str(), "cc", CASE_CLOSED_STATUS),
        ]
    );
    let listed = teacher.list_signals(&SignalFilter::default()).unwrap();
    assert!(listed[0].picked_up);
}

#[test]
fn only_the_care_team_opens_a_case_on_the_pupils_own_readable_signals() {
    let dir = tempfile::tempdir().unwrap();
    let (teacher, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    let (mentor, _) = store_for(dir.path(), "m1");
    let sig = teacher.record_signal(home_signal("p2")).unwrap();
    let other = teacher.record_signal(home_signal("p1")).unwrap();
    exchange(&teacher, &cc);
    exchange(&teacher, &mentor);

    assert!(matches!(
        mentor.open_case("p2", &[sig]),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        teacher.open_case("p2", &[sig]),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(cc.open_case("p2", &[]), Err(Error::Invalid(_))));
    assert!(matches!(
        cc.open_case("p2", &[other]),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        cc.open_case("p2", &[omkijken_core::DocumentId::from_bytes([9; 16])]),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        cc.open_case("nobody", &[sig]),
        Err(Error::NotFound)
    ));
    assert!(cc.list_cases(None).unwrap().is_empty(), "nothing written");
    // Nothing was said to the signaller either.
    assert!(cc.signal(sig).unwrap().follow_ups.is_empty());

    let case = cc.open_case("p2", &[sig]).unwrap();
    assert!(matches!(
        cc.link_case_signal(case, other),
        Err(Error::Invalid(_))
    ));
    let second = teacher.record_signal(home_signal("p2")).unwrap();
    exchange(&teacher, &cc);
    cc.link_case_signal(case, second).unwrap();
    cc.link_case_signal(case, second).unwrap();
    assert_eq!(cc.case(case).unwrap().signals.len(), 2, "linked once");
    assert_eq!(cc.signal(second).unwrap().follow_ups.len(), 1, "told once");
}

#[test]
fn bad_input_is_refused_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (teacher, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    let sig = teacher.record_signal(home_signal("p2")).unwrap();
    exchange(&teacher, &cc);
    let case = cc.open_case("p2", &[sig]).unwrap();
    cc.record_case_step(case, step(1, "2026-11-16", "in kaart"))
        .unwrap();
    let before = cc.case(case).unwrap();

    for bad in [
        step(0, "2026-11-16", "x"),
        step(6, "2026-11-16", "x"),
        step(2, "16-11-2026", "x"),
        step(2, "2026-11-16", "  "),
    ] {
        assert!(matches!(
            cc.record_case_step(case, bad),
            Err(Error::Invalid(_))
        ));
    }
    assert!(matches!(
        cc.weigh_case(case, "gisteren", true, Unsafety::Acute),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        cc.report_case(case, "2026-11-19", " "),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        cc.report_case(case, "19-11", "VT-1"),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        cc.record_case_feedback(case, "2026-11-20"),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        cc.arrange_case_help(
            case,
            CaseHelp {
                case_manager: "".into(),
                deadline: "2026-11-25".into(),
                evaluation_on: "2026-12-16".into(),
            }
        ),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        cc.add_monitoring_agreement(case, "x", "m1", Some("morgen")),
        Err(Error::Invalid(_))
    ));
    assert_eq!(cc.case(case).unwrap(), before);
    assert_eq!(cc.list_cases(None).unwrap()[0].step, 1);
}

#[test]
fn two_coordinators_working_offline_keep_both_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (teacher, _) = store_for(dir.path(), "t1");
    let (tablet, _) = store_for(dir.path(), "cc");
    let laptop_dir = dir.path().join("laptop");
    std::fs::create_dir_all(&laptop_dir).unwrap();
    let (laptop, _) = store_for(&laptop_dir, "cc");
    let sig = teacher.record_signal(home_signal("p2")).unwrap();
    exchange(&teacher, &tablet);
    let case = tablet.open_case("p2", &[sig]).unwrap();
    exchange(&tablet, &laptop);

    let a = tablet
        .record_case_step(case, step(2, "2026-11-17", "overleg met collega"))
        .unwrap();
    let b = laptop
        .record_case_step(case, step(3, "2026-11-17", "gesprek met ouders"))
        .unwrap();
    laptop
        .add_monitoring_agreement(case, "wekelijks gesprek", "m1", None)
        .unwrap();
    exchange(&tablet, &laptop);

    for s in [&tablet, &laptop] {
        let c = s.case(case).unwrap();
        let mut ids: Vec<&str> = c.steps.iter().map(|e| e.id.as_str()).collect();
        ids.sort();
        let mut want = vec![a.as_str(), b.as_str()];
        want.sort();
        assert_eq!(ids, want);
        assert_eq!(c.monitoring.len(), 1);
        assert_eq!(s.list_cases(Some("p2")).unwrap()[0].step, 3);
    }
    // Projections rebuilt from the documents say the same.
    tablet.rebuild_projections().unwrap();
    assert_eq!(
        tablet.list_cases(None).unwrap(),
        laptop.list_cases(None).unwrap()
    );
}

#[test]
fn the_one_pass_reads_of_a_case_equal_the_typed_read() {
    use omkijken_core::doc::{self, SummaryBody};
    use omkijken_core::model::Case;
    let dir = tempfile::tempdir().unwrap();
    let (teacher, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    let sig = teacher.record_signal(home_signal("p2")).unwrap();
    exchange(&teacher, &cc);
    let case = cc.open_case("p2", &[sig]).unwrap();
    let check = |want_step: u8, want_due: Option<&str>| {
        let d = cc.load(case).unwrap().unwrap();
        let typed: Case = doc::record(case, &d).unwrap();
        assert_eq!(doc::record_fast::<Case>(case, &d).unwrap(), typed);
        let summary = doc::summarize(case, &d).unwrap();
        assert_eq!(
            summary,
            doc::Hydrated::new(case, &d).unwrap().summary().unwrap()
        );
        let SummaryBody::Case {
            status,
            opened_at,
            step,
            signals,
            feedback_due,
            evaluation_on,
        } = summary.body
        else {
            panic!("not a case summary");
        };
        assert_eq!(
            (status, opened_at, step),
            (typed.status(), typed.opened_at, typed.current_step())
        );
        assert_eq!(step, want_step);
        assert_eq!(signals, typed.signals.len() as i64);
        assert_eq!(feedback_due.as_deref(), want_due);
        assert_eq!(evaluation_on, typed.help.map(|h| h.evaluation_on));
    };
    check(0, None);
    cc.record_case_step(case, step(2, "2026-11-17", "overleg"))
        .unwrap();
    check(2, None);
    cc.weigh_case(case, "2026-11-18", true, Unsafety::Acute)
        .unwrap();
    check(4, None);
    cc.report_case(case, "2026-11-18", "VT-9").unwrap();
    check(5, Some("2026-11-25"));
    cc.arrange_case_help(
        case,
        CaseHelp {
            case_manager: "wijkteam".into(),
            deadline: "2026-11-25".into(),
            evaluation_on: "2026-12-16".into(),
        },
    )
    .unwrap();
    check(5, Some("2026-11-25"));
    cc.record_case_feedback(case, "2026-11-20").unwrap();
    check(5, None);
}

#[test]
fn the_attention_list_shows_overdue_feedback_and_evaluations_that_have_come() {
    use omkijken_core::store::AttentionReason;
    let dir = tempfile::tempdir().unwrap();
    let (teacher, _) = store_for(dir.path(), "t1");
    let (cc, clock) = store_for(dir.path(), "cc");
    let sig = teacher.record_signal(home_signal("p2")).unwrap();
    exchange(&teacher, &cc);
    let case = cc.open_case("p2", &[sig]).unwrap();
    let case_items = |s: &omkijken_core::Store| -> Vec<AttentionReason> {
        s.attention_list()
            .unwrap()
            .into_iter()
            .map(|i| i.reason)
            .filter(|r| {
                matches!(
                    r,
                    AttentionReason::CaseFeedbackOverdue { .. }
                        | AttentionReason::CaseEvaluationDue { .. }
                )
            })
            .collect()
    };
    // T0 is Sunday 2026-11-22. Reported on Monday the 16th: feedback due Monday the 23rd.
    cc.report_case(case, "2026-11-16", "VT-7").unwrap();
    cc.arrange_case_help(
        case,
        CaseHelp {
            case_manager: "wijkteam".into(),
            deadline: "2026-11-20".into(),
            evaluation_on: "2026-11-24".into(),
        },
    )
    .unwrap();
    assert!(case_items(&cc).is_empty(), "nothing due yet");
    clock.advance(2 * DAY);
    assert_eq!(
        case_items(&cc),
        vec![
            AttentionReason::CaseFeedbackOverdue {
                case,
                due: "2026-11-23".into()
            },
            AttentionReason::CaseEvaluationDue {
                case,
                on: "2026-11-24".into()
            },
        ]
    );
    // Others never see the case, here either.
    exchange(&cc, &teacher);
    assert!(case_items(&teacher).is_empty());
    cc.record_case_feedback(case, "2026-11-24").unwrap();
    cc.add_monitoring_agreement(case, "mentor volgt", "m1", None)
        .unwrap();
    cc.close_case(case).unwrap();
    assert!(
        case_items(&cc).is_empty(),
        "feedback came and the case closed"
    );
}
