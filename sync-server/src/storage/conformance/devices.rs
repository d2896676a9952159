//! Conformance checks on devices: one-time enrollment codes, revocation, reported outboxes
//! and the server's epoch.

use super::*;

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn enrollment_codes_are_one_time_and_expire(mut s: Box<dyn Storage>) {
    s.commit(Batch {
        codes: vec![code(1, 100), code(2, 100), code(3, 100)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.enroll(&[9; 32], 10, &new_device("d0", 9, 9)).unwrap(),
        EnrollOutcome::BadCode,
        "unknown code"
    );
    let EnrollOutcome::Enrolled(d) = s.enroll(&[1; 32], 10, &new_device("d1", 1, 1)).unwrap()
    else {
        panic!("a fresh code enrolls");
    };
    assert_eq!((d.school.as_str(), d.user.as_str()), ("s1", "m1"));
    assert_eq!(
        s.enroll(&[1; 32], 11, &new_device("d2", 2, 2)).unwrap(),
        EnrollOutcome::BadCode,
        "spent code"
    );
    assert_eq!(
        s.enroll(&[2; 32], 100, &new_device("d3", 3, 3)).unwrap(),
        EnrollOutcome::BadCode,
        "expired code"
    );
    assert_eq!(
        s.enroll(&[3; 32], 10, &new_device("d4", 1, 4)).unwrap(),
        EnrollOutcome::ActorTaken,
        "actor of another device"
    );
    assert!(
        matches!(
            s.enroll(&[3; 32], 10, &new_device("d4", 4, 4)).unwrap(),
            EnrollOutcome::Enrolled(_)
        ),
        "a refused actor does not spend the code"
    );
    assert_eq!(s.device_by_token(&[1; 32]).unwrap().unwrap().id, "d1");
    assert_eq!(s.devices().unwrap().len(), 2);
    let enrolls = s.audit(&AuditFilter::Staff("m1".into())).unwrap();
    assert_eq!(enrolls.len(), 2);
    assert!(enrolls.iter().all(|a| a.action == AuditAction::Enroll));
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn revoked_devices_stay_known_as_revoked(mut s: Box<dyn Storage>) {
    s.commit(Batch {
        codes: vec![code(1, 100)],
        ..Default::default()
    })
    .unwrap();
    s.enroll(&[1; 32], 10, &new_device("d1", 1, 1)).unwrap();
    s.commit(Batch {
        revoke: vec![("d1".into(), 20)],
        touch: vec![("d1".into(), 15)],
        ..Default::default()
    })
    .unwrap();
    let d = s.device("d1").unwrap().unwrap();
    assert_eq!((d.revoked_at, d.last_seen), (Some(20), Some(15)));
    s.commit(Batch {
        revoke: vec![("d1".into(), 30)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.device("d1").unwrap().unwrap().revoked_at, Some(20));
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn a_reported_outbox_is_kept_with_its_time(mut s: Box<dyn Storage>) {
    s.commit(Batch {
        codes: vec![code(1, 100), code(2, 100)],
        ..Default::default()
    })
    .unwrap();
    s.enroll(&[1; 32], 10, &new_device("d1", 1, 1)).unwrap();
    s.enroll(&[2; 32], 10, &new_device("d2", 2, 2)).unwrap();
    assert_eq!(
        s.device("d1").unwrap().unwrap().outbox,
        None,
        "none reported yet"
    );
    let waiting = DeviceOutbox {
        pending: 3,
        not_accepted: 1,
        oldest_at: Some(1_000),
        reported_at: 5_000,
    };
    s.commit(Batch {
        outbox: vec![("d1".into(), waiting)],
        touch: vec![("d1".into(), 5_000)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.device("d1").unwrap().unwrap().outbox, Some(waiting));
    assert_eq!(
        s.device_by_token(&[1; 32]).unwrap().unwrap().outbox,
        Some(waiting)
    );
    // The largest a report may hold reads back as it was written.
    let most = DeviceOutbox {
        pending: omkijken_core::sync::MAX_OUTBOX_COUNT,
        not_accepted: omkijken_core::sync::MAX_OUTBOX_COUNT,
        oldest_at: Some(-(omkijken_core::sync::MAX_OUTBOX_AGE_MS as i64)),
        reported_at: 6_000,
    };
    s.commit(Batch {
        outbox: vec![("d2".into(), most)],
        ..Default::default()
    })
    .unwrap();
    // A later report replaces the earlier one whole (no oldest once nothing waits).
    let drained = DeviceOutbox {
        pending: 0,
        not_accepted: 0,
        oldest_at: None,
        reported_at: 7_000,
    };
    s.commit(Batch {
        outbox: vec![("d1".into(), drained)],
        ..Default::default()
    })
    .unwrap();
    let listed: Vec<_> = s
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.outbox))
        .collect();
    assert!(listed.contains(&("d1".into(), Some(drained))), "{listed:?}");
    assert!(listed.contains(&("d2".into(), Some(most))), "{listed:?}");
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn the_epoch_stays_until_renewed(mut s: Box<dyn Storage>) {
    let first = s.epoch().unwrap();
    assert_ne!(first, 0);
    assert_eq!(s.epoch().unwrap(), first, "made once");
    let renewed = s.renew_epoch().unwrap();
    assert_ne!(renewed, first, "a restore starts a new lineage");
    assert_eq!(s.epoch().unwrap(), renewed);
    assert!(i64::try_from(renewed).is_ok(), "fits a signed column");
}
