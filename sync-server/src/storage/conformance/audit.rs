//! Conformance checks on the audit: the hash-chained audit log, read rows deduplicated per
//! device sequence, and sequenced admin events.

use super::*;

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn the_audit_log_is_a_hash_chain(mut s: Box<dyn Storage>) {
    let row = |n: i64, seq: Option<i64>| AuditRecord {
        seq: 0,
        at: n,
        school: "s1".into(),
        device: Some("d1".into()),
        user: Some("m1".into()),
        action: AuditAction::Read,
        document: Some(DocumentId::random()),
        kind: Some("signal".into()),
        pupil: Some("p1".into()),
        device_seq: seq,
        device_at: Some(n),
    };
    s.commit(Batch {
        audit: vec![row(1, Some(1)), row(2, None), row(3, Some(2))],
        ..Default::default()
    })
    .unwrap();
    // A row already there (same device sequence) is not linked twice.
    s.commit(Batch {
        audit: vec![row(4, Some(2)), row(5, Some(3))],
        ..Default::default()
    })
    .unwrap();
    let v = crate::admin::verify_audit(s.as_mut()).unwrap();
    assert_eq!((v.rows, v.unlinked, v.broken_at), (4, 0, None));
    let page = s.audit_page(0, 100).unwrap();
    assert_eq!(page.len(), 4);
    let mut prev = [0u8; 32];
    for (r, h) in &page {
        let h = h.clone().expect("every row linked");
        assert_eq!(h, audit_hash(&prev, r).to_vec());
        prev = h.try_into().unwrap();
    }
    assert_eq!(v.head.unwrap().1, hex::encode(prev));
    // Pages continue after a sequence.
    let rest = s.audit_page(page[1].0.seq, 100).unwrap();
    assert_eq!(rest.len(), 2);
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn read_audit_rows_are_deduplicated_per_device_sequence(mut s: Box<dyn Storage>) {
    let doc = DocumentId::random();
    let read = |seq| AuditRecord {
        seq: 0,
        at: 1,
        school: "s1".into(),
        device: Some("d1".into()),
        user: Some("m1".into()),
        action: AuditAction::Read,
        document: Some(doc),
        kind: Some("signal".into()),
        pupil: Some("p1".into()),
        device_seq: Some(seq),
        device_at: Some(1),
    };
    s.commit(Batch {
        audit: vec![read(1), read(2)],
        ..Default::default()
    })
    .unwrap();
    s.commit(Batch {
        audit: vec![read(2), read(3)],
        ..Default::default()
    })
    .unwrap();
    let rows = s.audit(&AuditFilter::Pupil("p1".into())).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.device_seq).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)]
    );
    assert_eq!(rows[0].document, Some(doc));
    assert!(
        s.audit(&AuditFilter::Pupil("p2".into()))
            .unwrap()
            .is_empty()
    );
    // Security events: by action, with no school, user or device.
    let failed = AuditRecord {
        seq: 0,
        at: 2,
        school: String::new(),
        device: None,
        user: None,
        action: AuditAction::EnrollFailed,
        document: None,
        kind: Some("bad_code".into()),
        pupil: None,
        device_seq: None,
        device_at: None,
    };
    s.commit(Batch {
        audit: vec![failed.clone(), failed],
        ..Default::default()
    })
    .unwrap();
    let rows = s
        .audit(&AuditFilter::Action(AuditAction::EnrollFailed))
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.action == AuditAction::EnrollFailed
        && r.kind.as_deref() == Some("bad_code")
        && r.school.is_empty()));
    assert_eq!(
        s.audit(&AuditFilter::Action(AuditAction::Read))
            .unwrap()
            .len(),
        3
    );
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn admin_events_are_sequenced(mut s: Box<dyn Storage>) {
    assert_eq!(s.last_admin_event().unwrap(), 0);
    let ev = |kind| AdminEvent {
        seq: 0,
        at: 1,
        kind,
        school: Some("s1".into()),
        device: None,
    };
    s.commit(Batch {
        events: vec![ev(AdminEventKind::Roster), ev(AdminEventKind::Revoke)],
        ..Default::default()
    })
    .unwrap();
    let last = s.last_admin_event().unwrap();
    let evs = s.admin_events_since(last - 1).unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].kind, AdminEventKind::Revoke);
    assert_eq!(s.admin_events_since(0).unwrap().len(), 2);
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn audit_rows_are_counted_per_action_and_day(mut s: Box<dyn Storage>) {
    const DAY: i64 = 86_400_000;
    let since = 1_795_000_000_000;
    let row = |at: i64, action: AuditAction| AuditRecord {
        device: Some("d1".into()),
        user: Some("m1".into()),
        ..AuditRecord::new(at, "s1", action)
    };
    s.commit(Batch {
        audit: vec![
            // Before the first day: not counted.
            row(since - 1, AuditAction::Deliver),
            row(since, AuditAction::Deliver),
            row(since + DAY - 1, AuditAction::Deliver),
            row(since + DAY - 1, AuditAction::Write),
            row(since + DAY, AuditAction::Deliver),
            row(since + 3 * DAY + 5, AuditAction::Refuse),
        ],
        ..Default::default()
    })
    .unwrap();
    let mut counts = s.audit_counts_by_day(since).unwrap();
    counts.sort_by_key(|(a, d, _)| (*d, a.as_str()));
    assert_eq!(
        counts,
        [
            (AuditAction::Deliver, 0, 2),
            (AuditAction::Write, 0, 1),
            (AuditAction::Deliver, 1, 1),
            (AuditAction::Refuse, 3, 1),
        ]
    );
    assert!(s.audit_counts_by_day(since + 4 * DAY).unwrap().is_empty());
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn the_legal_holds_are_read_alone_in_order(mut s: Box<dyn Storage>) {
    let row = |at: i64, action: AuditAction, pupil: &str| AuditRecord {
        user: Some("privacy".into()),
        pupil: Some(pupil.into()),
        ..AuditRecord::new(at, "s1", action)
    };
    s.commit(Batch {
        audit: vec![
            row(1, AuditAction::Deliver, "p1"),
            row(2, AuditAction::Hold, "p1"),
            row(3, AuditAction::Read, "p2"),
            row(4, AuditAction::Hold, "p2"),
            row(5, AuditAction::Release, "p1"),
            row(6, AuditAction::Erase, "p3"),
        ],
        ..Default::default()
    })
    .unwrap();
    let holds: Vec<(i64, AuditAction, Option<String>)> = s
        .hold_rows()
        .unwrap()
        .into_iter()
        .map(|r| (r.at, r.action, r.pupil))
        .collect();
    assert_eq!(
        holds,
        [
            (2, AuditAction::Hold, Some("p1".into())),
            (4, AuditAction::Hold, Some("p2".into())),
            (5, AuditAction::Release, Some("p1".into())),
        ]
    );
    // As retention and the privacy page read them: p2 is held, p1 no longer.
    let held: Vec<String> = crate::retention::holds(s.as_mut())
        .unwrap()
        .into_iter()
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(held, ["p2"]);
}
