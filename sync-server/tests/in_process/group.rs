//! Group commit through the hub: what a group's frames answer goes out only once the group
//! is stored; a group that cannot be stored acknowledges nothing, ends every session and
//! loses nothing the devices still hold.

use crate::common::*;
use omkijken_core::sync::{ErrorCode, Frame};
use omkijken_server::hub::ConnId;
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

fn refused(frames: &[Frame], id: omkijken_core::DocumentId) -> bool {
    frames
        .iter()
        .any(|f| matches!(f, Frame::Refused { docs } if docs.iter().any(|r| r.document_id == id)))
}

/// The roster after p2 moved to group g6 (m1's): m2 neither mentors nor teaches her.
fn roster_p2_to_g6() -> String {
    let (before, after) = (
        "pupil,p2,Pupil Twee,g7,po_5_8,false,,m2,",
        "pupil,p2,Pupil Twee,g6,po_5_8,false,,m1,",
    );
    assert!(ROSTER.contains(before));
    ROSTER.replace(before, after)
}

/// Mentors m1 and m2 connected: the hub and their sessions.
fn two_mentors(dir: &Path) -> (Hub, Dev, Dev, ConnId, ConnId) {
    let mut hub = school_hub(&dir.join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let (c1, _) = connect(&mut hub, &m1, 0);
    let (c2, _) = connect(&mut hub, &m2, 0);
    (hub, m1, m2, c1, c2)
}

/// A group's new documents are checked before its frames are handled, on all cores
/// (`Hub::precheck`); a frame takes that verdict only if the roster is still the one it
/// was made under. Here p2 moves to m1's group in between: m2's thermometer month for p2,
/// fine when checked, is judged again and refused; m1's signal goes in.
#[test]
fn a_group_checked_before_its_frames_is_judged_again_when_the_roster_changed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, m1, m2, c1, c2) = two_mentors(dir.path());
    let (month, d_month) = thermometer(&m2, "p2", "2026-11");
    let (sig, d_sig) = signal(&m1, "p1", 1, "welbevinden");
    let f_month = push_frame(&[(month, &d_month)]);
    let f_sig = push_frame(&[(sig, &d_sig)]);

    // The same group with the roster unchanged: both go in.
    let (other_month, d_other) = thermometer(&m2, "p2", "2026-10");
    let (other_sig, d_other_sig) = signal(&m1, "p1", 2, "pesten");
    let f1 = push_frame(&[(other_month, &d_other)]);
    let f2 = push_frame(&[(other_sig, &d_other_sig)]);
    hub.precheck(&[(c2, &f1), (c1, &f2)]);
    hub.begin_group();
    let mut out = hub.receive(NOW, c2, f1);
    out.extend(hub.receive(NOW, c1, f2));
    let sent = hub.end_group(out);
    assert!(acked(&to(&sent, c2), other_month));
    assert!(acked(&to(&sent, c1), other_sig));

    hub.precheck(&[(c2, &f_month), (c1, &f_sig)]);
    hub.import_roster(NOW, SCHOOL, &roster_p2_to_g6()).unwrap();
    hub.begin_group();
    let mut out = hub.receive(NOW, c2, f_month);
    out.extend(hub.receive(NOW, c1, f_sig));
    let sent = hub.end_group(out);
    assert!(
        refused(&to(&sent, c2), month),
        "judged by the new roster: {:?}",
        to(&sent, c2)
    );
    assert!(!acked(&to(&sent, c2), month));
    assert!(acked(&to(&sent, c1), sig));
    assert!(hub.storage().catalog_get(&[month]).unwrap().is_empty());
    assert_eq!(hub.storage().catalog_get(&[sig]).unwrap().len(), 1);
}

/// Checking ahead holds at most 4 MiB of a group's documents: a frame past that (here a
/// 5 MiB push of garbage) is checked in place, and refused there.
#[test]
fn a_group_checks_ahead_only_its_first_megabytes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, m1, _, c1, c2) = two_mentors(dir.path());
    let (a, d_a) = signal(&m1, "p1", 1, "welbevinden");
    let (b, d_b) = signal(&m1, "p1", 2, "pesten");
    let big = omkijken_core::DocumentId::random();
    let f_a = push_frame(&[(a, &d_a)]);
    let f_big = Frame::Push {
        docs: vec![omkijken_core::sync::DocChanges::new(
            big,
            vec![0x85; 5 << 20],
        )],
    };
    let f_b = push_frame(&[(b, &d_b)]);
    let before = hub.prechecks_used();
    hub.precheck(&[(c1, &f_a), (c2, &f_big), (c1, &f_b)]);
    hub.begin_group();
    let mut out = hub.receive(NOW, c1, f_a);
    out.extend(hub.receive(NOW, c2, f_big));
    out.extend(hub.receive(NOW, c1, f_b));
    let sent = hub.end_group(out);
    assert!(acked(&to(&sent, c1), a) && acked(&to(&sent, c1), b));
    assert!(refused(&to(&sent, c2), big));
    assert_eq!(
        hub.prechecks_used() - before,
        2,
        "the two signals, not the 5 MiB"
    );
}
