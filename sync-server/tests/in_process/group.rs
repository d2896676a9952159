//! Group commit through the hub: what a group's frames answer goes out only once the group
//! is stored; a group that cannot be stored acknowledges nothing, ends every session and
//! loses nothing the devices still hold.

use crate::common::*;
use omkijken_core::sync::{ErrorCode, Frame};
use omkijken_server::storage::SqliteStorage;
use omkijken_server::{Hub, HubConfig};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// School s1 on a store whose next group commit can be made to fail.
fn faulty_school_hub(path: &Path) -> (Hub, Arc<AtomicBool>) {
    let st = SqliteStorage::open(path, None).unwrap();
    let fault = st.group_fault();
    let mut hub = Hub::new(Box::new(st), HubConfig::default(), [7; 32]).unwrap();
    hub.create_school(NOW, SCHOOL, "De Linde").unwrap();
    hub.import_roster(NOW, SCHOOL, ROSTER).unwrap();
    (hub, fault)
}

fn acked(frames: &[Frame], id: omkijken_core::DocumentId) -> bool {
    frames
        .iter()
        .any(|f| matches!(f, Frame::Ack { docs } if docs.iter().any(|a| a.document_id == id)))
}

fn delivered(frames: &[Frame], id: omkijken_core::DocumentId) -> bool {
    frames
        .iter()
        .any(|f| matches!(f, Frame::Docs { docs, .. } if docs.iter().any(|d| d.document_id == id)))
}

#[test]
fn a_group_that_cannot_be_stored_acknowledges_nothing_and_the_push_gets_in_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let (mut hub, fault) = faulty_school_hub(&path);
    let m1 = enroll(&mut hub, "m1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    let (mentor, _) = connect(&mut hub, &m1, 0);
    let (coordinator, _) = connect(&mut hub, &ib, 0);
    let (id, doc) = signal(&m1, "p1", 1, "welbevinden");

    fault.store(true, Ordering::Relaxed);
    hub.begin_group();
    let out = hub.receive(NOW, mentor, push_frame(&[(id, &doc)]));
    // Handled: the hub would acknowledge it and deliver it live...
    assert!(acked(&to(&out, mentor), id));
    assert!(delivered(&to(&out, coordinator), id));
    // ...but the group is not stored: none of that goes out; every session ends with a
    // server error instead.
    let sent = hub.end_group(out);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, f)| matches!(
        f,
        Frame::Error {
            code: ErrorCode::Internal,
            ..
        }
    )));
    assert!(!hub.is_open(mentor) && !hub.is_open(coordinator));
    assert!(hub.storage().catalog_get(&[id]).unwrap().is_empty());

    // The mentor's device still holds the signal (never acknowledged) and sends it again on
    // its next connection: stored, acknowledged, and delivered to the care coordinator.
    let (mentor, _) = connect(&mut hub, &m1, 0);
    let (coordinator, _) = connect(&mut hub, &ib, 0);
    hub.begin_group();
    let out = hub.receive(NOW, mentor, push_frame(&[(id, &doc)]));
    let sent = hub.end_group(out);
    assert!(acked(&to(&sent, mentor), id));
    assert!(delivered(&to(&sent, coordinator), id));
    drop(hub);
    let mut reopened = hub_at(&path);
    assert_eq!(reopened.storage().catalog_get(&[id]).unwrap().len(), 1);
}

#[test]
fn a_groups_frames_see_each_others_writes_and_are_stored_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut hub = school_hub(&path);
    let m1 = enroll(&mut hub, "m1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let (c1, _) = connect(&mut hub, &m1, 0);
    let (c2, _) = connect(&mut hub, &m2, 0);
    let (coordinator, _) = connect(&mut hub, &ib, 0);
    let (a, da) = signal(&m1, "p1", 1, "welbevinden");
    let (b, db) = signal(&m2, "p2", 1, "welbevinden");
    hub.begin_group();
    let mut out = hub.receive(NOW, c1, push_frame(&[(a, &da)]));
    out.extend(hub.receive(NOW, c2, push_frame(&[(b, &db)])));
    let sent = hub.end_group(out);
    assert!(acked(&to(&sent, c1), a));
    assert!(acked(&to(&sent, c2), b));
    let to_coordinator = to(&sent, coordinator);
    assert!(delivered(&to_coordinator, a) && delivered(&to_coordinator, b));
    // Need to know within a group too: each mentor gets only her own pupil's signal.
    assert!(!delivered(&to(&sent, c1), b) && !delivered(&to(&sent, c2), a));
    drop(hub);
    let mut reopened = hub_at(&path);
    assert_eq!(reopened.storage().catalog_get(&[a, b]).unwrap().len(), 2);
}
