//! The sans-io hub driven frame by frame, on a real SQLite file.
// Edit closures return core's (large) error type.
#![allow(clippy::result_large_err)]

use crate::common;

use automerge::Automerge;
use automerge::sync::SyncDoc;
use common::*;
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::ids::heads_to_hex;
use omkijken_core::model::{FollowUp, Signal, ThermometerMonth};
use omkijken_core::sync::{
    DocChanges, ErrorCode, FetchRequest, Frame, MAX_DOCS_PER_FRAME, ReadLogEntry, RefusalReason,
};
use omkijken_server::admin;
use omkijken_server::hub::ConnectRefusal;
use omkijken_server::storage::{
    AuditAction, AuditFilter, Batch, DocWrite, SqliteStorage, Storage, WriteMode,
};

fn refused(frames: &[Frame]) -> Vec<(DocumentId, RefusalReason)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Refused { docs } => Some(docs.iter().map(|r| (r.document_id, r.reason))),
            _ => None,
        })
        .flatten()
        .collect()
}

fn acked(frames: &[Frame]) -> Vec<(DocumentId, Vec<String>)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Ack { docs } => Some(docs.iter().map(|a| (a.document_id, a.heads.clone()))),
            _ => None,
        })
        .flatten()
        .collect()
}

fn delivered(frames: &[Frame]) -> Vec<DocChanges> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Docs { docs, .. } => Some(docs.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn purged(frames: &[Frame]) -> Vec<DocumentId> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Purge { docs } => Some(docs.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn push(
    hub: &mut omkijken_server::Hub,
    c: omkijken_server::ConnId,
    docs: &[(DocumentId, &Automerge)],
) -> omkijken_server::Outgoing {
    hub.receive(NOW, c, push_frame(docs))
}

/// Push the changes of `new` made since `since` (as a device pushes an edit).
fn push_changes(
    hub: &mut omkijken_server::Hub,
    c: omkijken_server::ConnId,
    id: DocumentId,
    new: &Automerge,
    since: &[automerge::ChangeHash],
) -> omkijken_server::Outgoing {
    hub.receive(
        NOW,
        c,
        Frame::Push {
            docs: vec![DocChanges::new(id, new.save_after(since))],
        },
    )
}

#[test]
fn catch_up_returns_only_documents_the_user_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let t1 = enroll(&mut hub, "t1", 2);
    let m2 = enroll(&mut hub, "m2", 3);
    let ib = enroll(&mut hub, "ib", 4);
    let (c1, _) = connect(&mut hub, &m1, 0);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (s_m1, d_m1) = signal(&m1, "p1", 0, "niet-pluis");
    let (s_t1, d_t1) = signal(&t1, "p2", 0, "niet-pluis");
    let (s_t1b, d_t1b) = signal(&t1, "p2", 1, "welbevinden");
    assert_eq!(
        acked(&to(&push(&mut hub, c1, &[(s_m1, &d_m1)]), c1)).len(),
        1
    );
    let out = push(&mut hub, ct, &[(s_t1, &d_t1), (s_t1b, &d_t1b)]);
    assert_eq!(acked(&to(&out, ct)).len(), 2);

    let roster = doc::roster_view_id(SCHOOL, "m2");
    let (_, frames) = connect(&mut hub, &m2, 0);
    let (entries, purge, cursor) = catalog(&frames);
    let mut want = vec![roster, s_t1, s_t1b];
    want.sort();
    let mut got = entries.clone();
    got.sort();
    assert_eq!(
        got, want,
        "m2 mentors p2: her view of the roster and both signals about p2"
    );
    assert!(purge.is_empty());
    assert!(cursor > 0);

    let (_, frames) = connect(&mut hub, &ib, 0);
    let (mut entries, _, _) = catalog(&frames);
    entries.sort();
    let mut want = vec![doc::roster_view_id(SCHOOL, "ib"), s_t1b];
    want.sort();
    assert_eq!(entries, want, "care team: urgency 1 and up only");

    // Catching up again from the cursor: nothing new.
    let (_, frames) = connect(&mut hub, &m2, cursor);
    let (entries, purge, c2) = catalog(&frames);
    assert!(entries.is_empty() && purge.is_empty());
    assert_eq!(c2, cursor);

    // A cursor the server never gave out (its store was restored from a backup): a full
    // catch-up.
    let (_, frames) = connect(&mut hub, &m2, cursor + 1_000);
    let (entries, _, c3) = catalog(&frames);
    assert_eq!(entries.len(), 3);
    assert_eq!(c3, cursor);
}

#[test]
fn denied_looks_like_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let (c1, _) = connect(&mut hub, &m1, 0);
    let (c2, _) = connect(&mut hub, &m2, 0);
    let (secret, d) = signal(&m1, "p1", 0, "niet-pluis");
    push(&mut hub, c1, &[(secret, &d)]);

    let fetch = |ids: Vec<DocumentId>| Frame::Fetch {
        docs: ids
            .into_iter()
            .map(|id| FetchRequest {
                document_id: id,
                have: vec![],
            })
            .collect(),
    };
    let denied = to(&hub.receive(NOW, c2, fetch(vec![secret])), c2);
    let unknown = to(&hub.receive(NOW, c2, fetch(vec![DocumentId::random()])), c2);
    assert_eq!(denied, unknown, "same answer for denied and unknown");
    assert!(delivered(&denied).is_empty());

    // Writing into it is judged as writing a new document: the same answer as for an id
    // the server never had, whatever is sent (docs/protocol.md, "No existence oracle").
    let (_, mut forged) = signal(&m2, "p1", 0, "niet-pluis");
    let mut base = Automerge::load(&d.save()).unwrap();
    base.merge(&mut forged).ok();
    let unknown = DocumentId::random();
    for bytes in [base.save(), b"garbage".to_vec(), d.save()] {
        let answer = |hub: &mut omkijken_server::Hub, id: DocumentId| {
            let out = hub.receive(
                NOW,
                c2,
                Frame::Push {
                    docs: vec![DocChanges::new(id, bytes.clone())],
                },
            );
            let frames = to(&out, c2);
            // Ids aside, frame for frame the same.
            let mut reasons: Vec<String> =
                frames.iter().map(|f| f.type_name().to_string()).collect();
            reasons.extend(refused(&frames).into_iter().map(|(_, r)| format!("{r:?}")));
            reasons.extend(purged(&frames).into_iter().map(|p| (p == id).to_string()));
            reasons
        };
        let denied = answer(&mut hub, secret);
        assert_eq!(denied, answer(&mut hub, unknown));
        assert!(denied.iter().any(|r| r == "refused"), "{denied:?}");
    }
    // m2's own new signal under that id is the one push told apart: a new document would be
    // stored, this one is refused as forbidden (its id is taken). Only a device that knows
    // the id (it cannot be guessed) learns that much.
    let out = to(&push(&mut hub, c2, &[(secret, &forged)]), c2);
    assert_eq!(refused(&out), vec![(secret, RefusalReason::Forbidden)]);
    assert_eq!(
        Automerge::load(&hub.storage().load_doc(secret).unwrap().unwrap())
            .unwrap()
            .get_heads(),
        d.get_heads()
    );
}

#[test]
fn forged_actor_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c1, _) = connect(&mut hub, &m1, 0);
    // Written as m1 but with another device's actor.
    let mut other = m1.clone();
    other.actor = actor(99);
    let (id, d) = signal(&other, "p1", 1, "welbevinden");
    let out = to(&push(&mut hub, c1, &[(id, &d)]), c1);
    assert_eq!(refused(&out), vec![(id, RefusalReason::ForgedActor)]);
    assert!(hub.storage().catalog_get(&[id]).unwrap().is_empty());
    assert!(hub.storage().load_doc(id).unwrap().is_none());
}

#[test]
fn a_document_in_someone_elses_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c1, _) = connect(&mut hub, &m1, 0);
    let mut as_ib = m1.clone();
    as_ib.user = "ib".into();
    let (id, d) = signal(&as_ib, "p1", 1, "welbevinden");
    let out = to(&push(&mut hub, c1, &[(id, &d)]), c1);
    assert_eq!(refused(&out), vec![(id, RefusalReason::Forbidden)]);
}

#[test]
fn thermometer_genesis_made_on_two_devices_is_accepted_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let phone = enroll(&mut hub, "m1", 1);
    let tablet = enroll(&mut hub, "m1", 2);
    let (c1, _) = connect(&mut hub, &phone, 0);
    let (c2, _) = connect(&mut hub, &tablet, 0);
    let (id, a) = thermometer(&phone, "p1", "2025-11");
    let (id2, b) = thermometer(&tablet, "p1", "2025-11");
    assert_eq!(id, id2);
    assert_eq!(acked(&to(&push(&mut hub, c1, &[(id, &a)]), c1)).len(), 1);
    let out = push(&mut hub, c2, &[(id, &b)]);
    assert_eq!(acked(&to(&out, c2)).len(), 1, "{out:?}");
    let stored = Automerge::load(&hub.storage().load_doc(id).unwrap().unwrap()).unwrap();
    let month: ThermometerMonth = doc::record(id, &stored).unwrap();
    assert_eq!(month.entries.len(), 2, "both entries in one list");
    // The phone got the tablet's entry live.
    assert_eq!(delivered(&to(&out, c1)).len(), 1);

    // A thermometer of a made-up month id (genesis does not match the id) is refused.
    let (_, fake) = thermometer(&phone, "p1", "2025-12");
    let out = to(&push(&mut hub, c1, &[(DocumentId::random(), &fake)]), c1);
    assert_eq!(refused(&out).len(), 1);
    assert_eq!(refused(&out)[0].1, RefusalReason::InvalidRecord);
}

#[test]
fn ack_comes_only_after_commit_and_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut hub = school_hub(&path);
    let m1 = enroll(&mut hub, "m1", 1);
    let (c1, _) = connect(&mut hub, &m1, 0);
    let (id, d) = signal(&m1, "p1", 2, "welbevinden");
    let acks = acked(&to(&push(&mut hub, c1, &[(id, &d)]), c1));
    assert_eq!(acks, vec![(id, heads_to_hex(&d.get_heads()))]);
    drop(hub);
    let mut st = SqliteStorage::open(&path, None).unwrap();
    let stored = Automerge::load(&st.load_doc(id).unwrap().unwrap()).unwrap();
    assert_eq!(heads_to_hex(&stored.get_heads()), acks[0].1);
    let audit = st.audit(&AuditFilter::Pupil("p1".into())).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == AuditAction::Write && a.document == Some(id))
    );
}

#[test]
fn live_push_reaches_other_devices_that_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let m1 = enroll(&mut hub, "m1", 4);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (c_m2, _) = connect(&mut hub, &m2, 0);
    let (c_ib, _) = connect(&mut hub, &ib, 0);
    let (c_m1, _) = connect(&mut hub, &m1, 0);
    let (id, d) = signal(&t1, "p2", 1, "welbevinden");
    let out = push(&mut hub, ct, &[(id, &d)]);
    for c in [c_m2, c_ib] {
        let docs = delivered(&to(&out, c));
        assert_eq!(docs.len(), 1);
        let got = Automerge::load(&docs[0].data).unwrap();
        assert_eq!(got.get_heads(), d.get_heads());
    }
    assert!(to(&out, c_m1).is_empty(), "m1 is not p2's mentor");

    // An edit arrives as changes only.
    let d2 = with_follow_up(&t1, id, &d, "f1", "follow_up", "gesprek gehad");
    let out = push_changes(&mut hub, ct, id, &d2, &d.get_heads());
    let docs = delivered(&to(&out, c_m2));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].data, d2.save_after(&d.get_heads()));
}

#[test]
fn signal_whose_category_changes_is_purged_from_those_who_lose_access() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (c_ib, _) = connect(&mut hub, &ib, 0);
    let id = DocumentId::random();
    let mut rec = signal_record(1, "welbevinden", "draft");
    rec.shared = false;
    let d = doc::create(t1.actor.clone(), NOW, &signal_header("t1", "p2"), &rec).unwrap();
    let out = push(&mut hub, ct, &[(id, &d)]);
    assert_eq!(delivered(&to(&out, c_ib)).len(), 1);
    let mut d2 = d.clone();
    doc::update(id, &mut d2, &t1.actor, NOW, |s: &mut Signal| {
        s.category = "medewerker".into();
        Ok(())
    })
    .unwrap();
    let out = push(&mut hub, ct, &[(id, &d2)]);
    assert_eq!(acked(&to(&out, ct)).len(), 1);
    assert_eq!(
        purged(&to(&out, c_ib)),
        vec![id],
        "misconduct goes to the board only"
    );
}

#[test]
fn a_shared_signal_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let (id, d) = signal(&m1, "p1", 1, "welbevinden");
    push(&mut hub, c, &[(id, &d)]);
    let mut edited = d.clone();
    doc::update(id, &mut edited, &m1.actor, NOW, |s: &mut Signal| {
        s.facts = "iets anders".into();
        Ok(())
    })
    .unwrap();
    let out = to(&push(&mut hub, c, &[(id, &edited)]), c);
    assert_eq!(refused(&out), vec![(id, RefusalReason::InvalidRecord)]);
    let mut unshared = d.clone();
    doc::update(id, &mut unshared, &m1.actor, NOW, |s: &mut Signal| {
        s.shared = false;
        Ok(())
    })
    .unwrap();
    let out = to(&push(&mut hub, c, &[(id, &unshared)]), c);
    assert_eq!(refused(&out), vec![(id, RefusalReason::InvalidRecord)]);
    let appended = with_follow_up(&m1, id, &d, "c1", "correction", "het was dinsdag");
    let out = to(&push(&mut hub, c, &[(id, &appended)]), c);
    assert_eq!(acked(&out).len(), 1);
}

#[test]
fn the_roster_is_written_by_the_server_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let rid = doc::roster_id(SCHOOL);
    let mut r = Automerge::load(&hub.storage().load_doc(rid).unwrap().unwrap()).unwrap();
    doc::update(
        rid,
        &mut r,
        &m1.actor,
        NOW,
        |r: &mut omkijken_core::model::Roster| {
            r.pupils.get_mut("p2").unwrap().mentors = vec!["m1".into()];
            Ok(())
        },
    )
    .unwrap();
    let out = to(&push(&mut hub, c, &[(rid, &r)]), c);
    assert_eq!(refused(&out), vec![(rid, RefusalReason::Forbidden)]);
    // Her own view of it, which she reads, neither.
    let vid = doc::roster_view_id(SCHOOL, "m1");
    let stored = Automerge::load(&hub.storage().load_doc(vid).unwrap().unwrap()).unwrap();
    let mut v = stored.clone();
    doc::update(
        vid,
        &mut v,
        &m1.actor,
        NOW,
        |r: &mut omkijken_core::model::Roster| {
            r.pupils.get_mut("p2").unwrap().in_care = true;
            Ok(())
        },
    )
    .unwrap();
    let out = hub.receive(
        NOW,
        c,
        Frame::Push {
            docs: vec![DocChanges::new(vid, v.save_after(&stored.get_heads()))],
        },
    );
    assert_eq!(refused(&to(&out, c)), vec![(vid, RefusalReason::Forbidden)]);
    // A brand-new roster document too.
    let (_, fresh) = doc::roster_genesis("s-other").unwrap();
    let out = to(&push(&mut hub, c, &[(DocumentId::random(), &fresh)]), c);
    assert_eq!(refused(&out)[0].1, RefusalReason::Forbidden);
}

#[test]
fn changes_without_their_dependencies_are_refused_as_missing_deps() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let (id, d) = signal(&m1, "p1", 1, "welbevinden");
    let d2 = with_follow_up(&m1, id, &d, "x", "follow_up", "x");
    let out = to(
        &hub.receive(
            NOW,
            c,
            Frame::Push {
                docs: vec![
                    DocChanges::new(id, d2.save_after(&d.get_heads())),
                    DocChanges::new(DocumentId::random(), b"not automerge".to_vec()),
                ],
            },
        ),
        c,
    );
    let r = refused(&out);
    assert_eq!(r[0], (id, RefusalReason::MissingDeps));
    assert_eq!(r[1].1, RefusalReason::Malformed);
    assert!(hub.storage().catalog_get(&[id]).unwrap().is_empty());
}

#[test]
fn garbage_and_oversized_frames_get_an_error_and_the_server_serves_the_next_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let out = hub.receive_bytes(NOW, c, b"\xff\x00garbage");
    assert!(matches!(
        to(&out, c).as_slice(),
        [Frame::Error {
            code: ErrorCode::Malformed,
            ..
        }]
    ));
    assert!(!hub.is_open(c), "the session is closed");

    let (c, _) = connect(&mut hub, &m1, 0);
    let big = Frame::Push {
        docs: (0..MAX_DOCS_PER_FRAME + 1)
            .map(|_| DocChanges::new(DocumentId::random(), vec![]))
            .collect(),
    };
    let out = hub.receive_bytes(NOW, c, &big.encode());
    assert!(matches!(
        to(&out, c).as_slice(),
        [Frame::Error {
            code: ErrorCode::TooLarge,
            ..
        }]
    ));
    // The roster and the staff's views of it: nothing else.
    assert!(
        hub.storage()
            .catalog_school(SCHOOL)
            .unwrap()
            .iter()
            .all(|r| r.header.kind == "roster")
    );

    // Frames before hello, and server-to-client frames, are protocol errors too.
    let c = hub.connect(NOW, &m1.token).unwrap().conn;
    let out = hub.receive(NOW, c, Frame::Push { docs: vec![] });
    assert!(matches!(to(&out, c).as_slice(), [Frame::Error { .. }]));
    let c = hub.connect(NOW, &m1.token).unwrap().conn;
    let out = hub.receive(
        NOW,
        c,
        Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: 99,
            cursor: 0,
        },
    );
    assert!(matches!(
        to(&out, c).as_slice(),
        [Frame::Error {
            code: ErrorCode::UnsupportedVersion,
            ..
        }]
    ));

    // The next connection is served normally.
    let (c, frames) = connect(&mut hub, &m1, 0);
    assert_eq!(catalog(&frames).0.len(), 1);
    let (id, d) = signal(&m1, "p1", 0, "niet-pluis");
    assert_eq!(acked(&to(&push(&mut hub, c, &[(id, &d)]), c)).len(), 1);
}

#[test]
fn a_revoked_device_is_told_and_dropped_and_cannot_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let out = hub.revoke_device(NOW, &m1.device).unwrap();
    assert_eq!(to(&out, c), vec![Frame::Revoked {}]);
    assert!(!hub.is_open(c));
    assert_eq!(
        hub.connect(NOW, &m1.token).unwrap_err(),
        ConnectRefusal::Revoked
    );
    assert_eq!(
        ConnectRefusal::Revoked.frame(),
        Some(Frame::Revoked {}),
        "connect answers revoked"
    );
    assert_eq!(
        hub.connect(NOW, "not-a-token").unwrap_err(),
        ConnectRefusal::Unauthorized
    );
}

#[test]
fn a_revocation_written_by_another_process_is_picked_up_by_poll() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut hub = school_hub(&path);
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let mut cli = SqliteStorage::open(&path, None).unwrap();
    admin::revoke(&mut cli, NOW, &m1.device).unwrap();
    assert_eq!(to(&hub.poll(NOW), c), vec![Frame::Revoked {}]);
    assert!(!hub.is_open(c));
}

#[test]
fn roster_change_purges_and_grants_live_and_at_the_next_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut hub = school_hub(&path);
    let t1 = enroll(&mut hub, "t1", 1);
    let m1 = enroll(&mut hub, "m1", 2);
    let m2 = enroll(&mut hub, "m2", 3);
    let m2_tablet = enroll(&mut hub, "m2", 4);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (c_m1, _) = connect(&mut hub, &m1, 0);
    let (c_m2, _) = connect(&mut hub, &m2, 0);
    let (c_tab, frames) = connect(&mut hub, &m2_tablet, 0);
    let tablet_cursor = catalog(&frames).2;
    hub.disconnect(c_tab);
    let (id, d) = signal(&t1, "p2", 0, "niet-pluis");
    let out = push(&mut hub, ct, &[(id, &d)]);
    assert_eq!(delivered(&to(&out, c_m2)).len(), 1);
    assert!(delivered(&to(&out, c_m1)).is_empty());

    // The CLI, in another process, moves p2 to mentor m1 and removes t1.
    let mut cli = SqliteStorage::open(&path, None).unwrap();
    let r = admin::import_roster(&mut cli, &actor(200), NOW, SCHOOL, ROSTER_MOVED).unwrap();
    assert!(r.changed && r.bumped >= 1);
    let out = hub.poll(NOW);
    assert!(purged(&to(&out, c_m2)).contains(&id), "old mentor purges");
    let got: Vec<DocumentId> = delivered(&to(&out, c_m1))
        .iter()
        .map(|d| d.document_id)
        .collect();
    assert!(got.contains(&id), "new mentor receives it");
    let gone = purged(&to(&out, ct));
    assert!(
        gone.contains(&id) && gone.contains(&doc::roster_view_id(SCHOOL, "t1")),
        "t1 left: purge all"
    );

    // m2's tablet was offline: its next catch-up purges.
    let (_, frames) = connect(&mut hub, &m2_tablet, tablet_cursor);
    let (entries, purge, _) = catalog(&frames);
    assert!(!entries.contains(&id));
    assert!(!purge.contains(&id), "the tablet never held it");
    // ...but it held its view of the roster, which it still may read (and which changed):
    // it comes as an entry.
    assert!(entries.contains(&doc::roster_view_id(SCHOOL, "m2")));
}

#[test]
fn an_offline_device_is_told_to_purge_at_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (id, d) = signal(&t1, "p2", 0, "niet-pluis");
    push(&mut hub, ct, &[(id, &d)]);
    let (c2, frames) = connect(&mut hub, &m2, 0);
    let (entries, _, cursor) = catalog(&frames);
    assert!(entries.contains(&id));
    hub.disconnect(c2);
    hub.import_roster(NOW, SCHOOL, ROSTER_MOVED).unwrap();
    let (_, frames) = connect(&mut hub, &m2, cursor);
    let (entries, purge, _) = catalog(&frames);
    assert_eq!(purge, vec![id]);
    assert!(!entries.contains(&id));
    // Erasure reaches devices the same way.
    let m1 = enroll(&mut hub, "m1", 3);
    let (c1, frames) = connect(&mut hub, &m1, 0);
    let (entries, _, cursor) = catalog(&frames);
    assert!(entries.contains(&id));
    hub.disconnect(c1);
    let (n, _) = hub.erase_pupil(NOW, SCHOOL, "p2").unwrap();
    assert_eq!(n, 1);
    let (c1, frames) = connect(&mut hub, &m1, cursor);
    assert_eq!(catalog(&frames).1, vec![id]);
    // Pushed again, it is refused as a document the server never had would be (not as
    // "erased": that would tell which ids existed).
    let out = to(&push(&mut hub, c1, &[(id, &d)]), c1);
    assert_eq!(refused(&out), vec![(id, RefusalReason::Forbidden)]);
    let unknown = DocumentId::random();
    let out = to(&push(&mut hub, c1, &[(unknown, &d)]), c1);
    assert_eq!(refused(&out), vec![(unknown, RefusalReason::Forbidden)]);
}

#[test]
fn fetch_sends_only_the_changes_after_the_heads_the_device_has() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (id, d) = signal(&t1, "p2", 1, "welbevinden");
    push(&mut hub, ct, &[(id, &d)]);
    let d2 = with_follow_up(&t1, id, &d, "f", "follow_up", "nog een");
    push(&mut hub, ct, &[(id, &d2)]);
    let (c2, _) = connect(&mut hub, &m2, 0);
    let fetch = |have: Vec<String>| Frame::Fetch {
        docs: vec![FetchRequest {
            document_id: id,
            have,
        }],
    };
    let whole = delivered(&to(&hub.receive(NOW, c2, fetch(vec![])), c2));
    let loaded = Automerge::load(&whole[0].data).unwrap();
    assert_eq!(loaded.get_heads(), d2.get_heads());
    let part = delivered(&to(
        &hub.receive(NOW, c2, fetch(heads_to_hex(&d.get_heads()))),
        c2,
    ));
    assert_eq!(part[0].data, d2.save_after(&d.get_heads()));
    let none = delivered(&to(
        &hub.receive(NOW, c2, fetch(heads_to_hex(&d2.get_heads()))),
        c2,
    ));
    assert!(none.is_empty(), "up to date: nothing to send");
}

/// What a whole delivered document says of itself: heads (checked against the bytes) and the
/// server's summary, equal to what a device would read from the bytes.
fn check_whole(d: &DocChanges) {
    let loaded = Automerge::load(&d.data).unwrap();
    assert_eq!(d.heads, heads_to_hex(&loaded.get_heads()));
    assert_eq!(doc::saved_heads(&d.data), Some(loaded.get_heads()));
    let summary = doc::Summary::from_wire(d.summary.as_ref().unwrap()).unwrap();
    assert_eq!(summary, doc::summarize(d.document_id, &loaded).unwrap());
}

#[test]
fn whole_documents_carry_the_heads_and_summary_of_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m1 = enroll(&mut hub, "m1", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (cm, _) = connect(&mut hub, &m1, 0);
    let (c2, _) = connect(&mut hub, &ib, 0);
    let (id, d) = signal(&t1, "p2", 2, "welbevinden");
    let (tid, t) = thermometer(&m1, "p1", "2026-11");
    // Live: the coordinator does not hold them, so she gets them whole, with heads and
    // summary.
    let mut live = delivered(&to(&push(&mut hub, ct, &[(id, &d)]), c2));
    live.extend(delivered(&to(&push(&mut hub, cm, &[(tid, &t)]), c2)));
    assert_eq!(live.len(), 2);
    live.iter().for_each(check_whole);
    // Fetched whole by a device that does not hold them: the same.
    let fetch = |ids: &[DocumentId], have: Vec<String>| Frame::Fetch {
        docs: ids
            .iter()
            .map(|id| FetchRequest {
                document_id: *id,
                have: have.clone(),
            })
            .collect(),
    };
    let whole = delivered(&to(&hub.receive(NOW, c2, fetch(&[id, tid], vec![])), c2));
    assert_eq!(whole.len(), 2);
    whole.iter().for_each(check_whole);
    // Changes (a live push of an appended change, a fetch after `have`) never carry heads
    // and summary. A whole fetch of a document stored as snapshot plus changes compacts it
    // into one document (same catalog sequence) and sends it with them.
    let d2 = with_follow_up(&ib, id, &d, "f1", "picked_up", "");
    let out = push_changes(&mut hub, c2, id, &d2, &d.get_heads());
    let live = delivered(&to(&out, ct));
    assert!(live[0].heads.is_empty() && live[0].summary.is_none());
    let part = delivered(&to(
        &hub.receive(NOW, c2, fetch(&[id], heads_to_hex(&d.get_heads()))),
        c2,
    ));
    assert!(part[0].heads.is_empty() && part[0].summary.is_none());
    let row = hub.storage().catalog_get(&[id]).unwrap().remove(0);
    assert_eq!(row.chunks, 1);
    let whole = delivered(&to(&hub.receive(NOW, c2, fetch(&[id], vec![])), c2));
    check_whole(&whole[0]);
    assert_eq!(
        Automerge::load(&whole[0].data).unwrap().get_heads(),
        d2.get_heads()
    );
    let compacted = hub.storage().catalog_get(&[id]).unwrap().remove(0);
    assert_eq!(compacted.chunks, 0);
    assert_eq!((compacted.seq, &compacted.heads), (row.seq, &row.heads));
    assert_eq!(hub.storage().load_doc(id).unwrap().unwrap(), whole[0].data);
    // A new document pushed as a saved document plus changes made after (a device that
    // edited it before it could sync): stored as one document chunk, so sent the fast way.
    let (id3, mut d3) = signal(&t1, "p2", 1, "welbevinden");
    let saved = d3.save();
    let before = d3.get_heads();
    doc::update(id3, &mut d3, &t1.actor, NOW, |s: &mut Signal| {
        s.facts = "aangevuld".into();
        Ok(())
    })
    .unwrap();
    let pushed = [saved, d3.save_after(&before)].concat();
    assert_eq!(doc::saved_heads(&pushed), None);
    let out = hub.receive(
        NOW,
        ct,
        Frame::Push {
            docs: vec![DocChanges::new(id3, pushed)],
        },
    );
    assert_eq!(acked(&to(&out, ct)).len(), 1);
    let live = delivered(&to(&out, c2));
    check_whole(&live[0]);
    let whole3 = delivered(&to(&hub.receive(NOW, c2, fetch(&[id3], vec![])), c2));
    check_whole(&whole3[0]);
    assert_eq!(
        Automerge::load(&whole3[0].data).unwrap().get_heads(),
        d3.get_heads()
    );
    // The stored summary follows the new heads (for when the document is compacted).
    let stored = hub.storage().load_stored(id).unwrap().unwrap();
    let summary = doc::Summary::from_wire(stored.summary.as_ref().unwrap()).unwrap();
    assert_eq!(summary, doc::summarize(id, &d2).unwrap());
    assert!(matches!(
        summary.body,
        doc::SummaryBody::Signal {
            follow_ups: 1,
            picked_up: true,
            ..
        }
    ));
}

#[test]
fn only_the_school_leader_adds_readers_to_a_staff_misconduct_signal() {
    use omkijken_core::defaults::STAFF_MISCONDUCT;
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let sl = enroll(&mut hub, "sl", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (cs, _) = connect(&mut hub, &sl, 0);
    let (ci, _) = connect(&mut hub, &ib, 0);
    let (id, d) = signal(&t1, "p1", 2, STAFF_MISCONDUCT);
    let out = push(&mut hub, ct, &[(id, &d)]);
    assert_eq!(
        delivered(&to(&out, cs)).len(),
        1,
        "the school leader gets it"
    );
    assert!(to(&out, ci).is_empty(), "the care team does not");
    let add = |dev: &Dev, d: &Automerge, readers: &[&str]| {
        let mut d2 = d.clone();
        doc::update(id, &mut d2, &dev.actor, NOW, |s: &mut Signal| {
            s.added_readers = readers.iter().map(|r| r.to_string()).collect();
            Ok(())
        })
        .unwrap();
        d2
    };
    // The author may not add readers.
    let by_author = add(&t1, &d, &["ib"]);
    let out = to(&push(&mut hub, ct, &[(id, &by_author)]), ct);
    assert_eq!(refused(&out), vec![(id, RefusalReason::Forbidden)]);
    // The school leader adds the care coordinator: her tablet gets it, and the catalog
    // row carries the reader.
    let by_leader = add(&sl, &d, &["ib"]);
    let out = push(&mut hub, cs, &[(id, &by_leader)]);
    assert_eq!(acked(&to(&out, cs)).len(), 1);
    let got = delivered(&to(&out, ci));
    assert_eq!(got.len(), 1);
    check_whole(&got[0]);
    let row = hub.storage().catalog_get(&[id]).unwrap().remove(0);
    assert_eq!(row.fields.readers, vec!["ib".to_string()]);
    // Nobody removes a reader, not even the school leader.
    let removed = add(&sl, &by_leader, &[]);
    let out = to(&push(&mut hub, cs, &[(id, &removed)]), cs);
    assert_eq!(refused(&out), vec![(id, RefusalReason::InvalidRecord)]);
    // Readers on a signal of another route are refused.
    let (other, o) = signal(&sl, "p1", 2, "pesten");
    let mut o2 = o.clone();
    doc::update(other, &mut o2, &sl.actor, NOW, |s: &mut Signal| {
        s.added_readers = vec!["ib".into()];
        Ok(())
    })
    .unwrap();
    let out = to(&push(&mut hub, cs, &[(other, &o2)]), cs);
    assert_eq!(refused(&out), vec![(other, RefusalReason::InvalidRecord)]);
}

#[test]
fn catch_up_comes_in_frames_of_at_most_2000_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let tablet = enroll(&mut hub, "m1", 2);
    let (c, _) = connect(&mut hub, &m1, 0);
    let docs: Vec<(DocumentId, Automerge)> = (0..4100)
        .map(|_| signal(&m1, "p1", 0, "niet-pluis"))
        .collect();
    for chunk in docs.chunks(1500) {
        let refs: Vec<(DocumentId, &Automerge)> = chunk.iter().map(|(i, d)| (*i, d)).collect();
        assert_eq!(acked(&to(&push(&mut hub, c, &refs), c)).len(), chunk.len());
    }
    let (c2, frames) = connect(&mut hub, &tablet, 0);
    assert_eq!(frames.len(), 3);
    for f in &frames {
        let Frame::Catalog { entries, .. } = f else {
            panic!()
        };
        assert!(entries.len() <= MAX_DOCS_PER_FRAME);
    }
    let (entries, _, _) = catalog(&frames);
    assert_eq!(entries.len(), 4101);
    // Fresh pull: whole documents, in frames within the limits.
    let out = hub.receive(
        NOW,
        c2,
        Frame::Fetch {
            docs: entries[..2000]
                .iter()
                .map(|id| FetchRequest {
                    document_id: *id,
                    have: vec![],
                })
                .collect(),
        },
    );
    assert_eq!(delivered(&to(&out, c2)).len(), 2000);
}

#[test]
fn read_log_goes_into_the_audit_log_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let (id, d) = signal(&m1, "p1", 0, "niet-pluis");
    push(&mut hub, c, &[(id, &d)]);
    let entries = |seqs: &[i64]| Frame::ReadLog {
        entries: seqs
            .iter()
            .map(|s| ReadLogEntry {
                seq: *s,
                document_id: id,
                kind: "signal".into(),
                at: NOW + s,
            })
            .collect(),
    };
    assert_eq!(
        to(&hub.receive(NOW, c, entries(&[1, 2])), c),
        vec![Frame::LogAck { seq: 2 }]
    );
    assert_eq!(
        to(&hub.receive(NOW, c, entries(&[2, 3])), c),
        vec![Frame::LogAck { seq: 3 }]
    );
    let reads: Vec<_> = hub
        .audit(&AuditFilter::Pupil("p1".into()))
        .unwrap()
        .into_iter()
        .filter(|a| a.action == AuditAction::Read)
        .collect();
    assert_eq!(reads.len(), 3);
    assert!(reads.iter().all(|r| r.user.as_deref() == Some("m1")));
    let csv = admin::audit_csv(&reads).unwrap();
    assert!(csv.contains(&id.to_string()) && !csv.contains("stil"));
}

#[test]
fn sync_frames_converge_with_the_same_checks_as_push() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let (id, d) = signal(&m1, "p1", 1, "welbevinden");
    let mut state = automerge::sync::State::new();
    let mut local = d.clone();
    for _ in 0..10 {
        let Some(msg) = local.generate_sync_message(&mut state) else {
            break;
        };
        let out = to(
            &hub.receive(
                NOW,
                c,
                Frame::Sync {
                    document_id: id,
                    data: msg.encode(),
                },
            ),
            c,
        );
        assert!(refused(&out).is_empty(), "{out:?}");
        for f in out {
            if let Frame::Sync { data, .. } = f {
                let m = automerge::sync::Message::decode(&data).unwrap();
                local.receive_sync_message(&mut state, m).unwrap();
            }
        }
    }
    let stored = Automerge::load(&hub.storage().load_doc(id).unwrap().unwrap()).unwrap();
    assert_eq!(stored.get_heads(), d.get_heads());

    // A forged change over sync is refused like a push.
    let mut other = m1.clone();
    other.actor = actor(77);
    let (fid, fd) = signal(&other, "p1", 1, "welbevinden");
    let mut st = automerge::sync::State::new();
    let mut refusals = vec![];
    for _ in 0..4 {
        let Some(msg) = fd.generate_sync_message(&mut st) else {
            break;
        };
        let out = to(
            &hub.receive(
                NOW,
                c,
                Frame::Sync {
                    document_id: fid,
                    data: msg.encode(),
                },
            ),
            c,
        );
        refusals.extend(refused(&out));
        for f in out {
            if let Frame::Sync { data, .. } = f {
                let m = automerge::sync::Message::decode(&data).unwrap();
                let mut tmp = fd.clone();
                tmp.receive_sync_message(&mut st, m).unwrap();
            }
        }
    }
    assert_eq!(refusals.first(), Some(&(fid, RefusalReason::ForgedActor)));
    assert!(hub.storage().load_doc(fid).unwrap().is_none());
}

#[test]
fn enrollment_codes_are_one_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let code = hub.issue_code(NOW, SCHOOL, "m1").unwrap();
    let enroll = |hub: &mut omkijken_server::Hub, n: u8| {
        hub.enroll(
            NOW,
            Frame::Enroll {
                code: code.clone(),
                actor: actor(n).to_hex_string(),
                label: "x".into(),
            },
        )
    };
    assert!(matches!(enroll(&mut hub, 1), Frame::Enrolled { .. }));
    assert!(matches!(
        enroll(&mut hub, 2),
        Frame::Error {
            code: ErrorCode::BadEnrollmentCode,
            ..
        }
    ));
    assert!(hub.issue_code(NOW, SCHOOL, "nobody").is_err());
}

#[test]
fn a_document_with_many_changes_is_compacted_and_loads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let (id, mut d) = signal(&m1, "p1", 1, "welbevinden");
    push(&mut hub, c, &[(id, &d)]);
    let mut max_chunks = 0;
    for i in 0..40 {
        let before = d.get_heads();
        doc::update(id, &mut d, &m1.actor, NOW, |s: &mut Signal| {
            s.follow_ups.push(FollowUp {
                id: format!("f{i}"),
                author: "m1".into(),
                at: NOW,
                kind: "follow_up".into(),
                text: format!("stap {i}"),
            });
            Ok(())
        })
        .unwrap();
        let out = push_changes(&mut hub, c, id, &d, &before);
        assert_eq!(acked(&to(&out, c)).len(), 1);
        let row = hub.storage().catalog_get(&[id]).unwrap().remove(0);
        max_chunks = max_chunks.max(row.chunks);
    }
    let row = hub.storage().catalog_get(&[id]).unwrap().remove(0);
    assert!(
        max_chunks < 32 && row.chunks < 32,
        "compacted: {max_chunks}"
    );
    let stored = Automerge::load(&hub.storage().load_doc(id).unwrap().unwrap()).unwrap();
    assert_eq!(stored.get_heads(), d.get_heads());
    let s: Signal = doc::record(id, &stored).unwrap();
    assert_eq!(s.follow_ups.len(), 40);
    assert_eq!(
        row.size as usize,
        hub.storage().load_doc(id).unwrap().unwrap().len()
    );
}

#[test]
fn a_roster_change_by_another_process_applies_to_the_next_frame_without_waiting_for_poll() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut hub = school_hub(&path);
    let t1 = enroll(&mut hub, "t1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (c2, _) = connect(&mut hub, &m2, 0);
    let (id, d) = signal(&t1, "p2", 1, "welbevinden");
    push(&mut hub, ct, &[(id, &d)]);
    // The CLI moves p2 to m1; no poll has run when m2's next frame arrives.
    let mut cli = SqliteStorage::open(&path, None).unwrap();
    admin::import_roster(&mut cli, &actor(200), NOW, SCHOOL, ROSTER_MOVED).unwrap();
    let d2 = with_follow_up(&m2, id, &d, "late", "follow_up", "nog gezien");
    let out = to(&push(&mut hub, c2, &[(id, &d2)]), c2);
    assert!(purged(&out).contains(&id), "{out:?}");
    assert_eq!(refused(&out), vec![(id, RefusalReason::Forbidden)]);
    // ...and a revocation by the CLI ends the session at its next frame.
    admin::revoke(&mut cli, NOW, &m2.device).unwrap();
    let out = hub.receive(NOW, c2, Frame::Fetch { docs: vec![] });
    assert_eq!(to(&out, c2), vec![Frame::Revoked {}]);
}

#[test]
fn access_that_returns_after_a_purge_sends_the_document_again_and_unchanged_readers_get_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (c_m2, _) = connect(&mut hub, &m2, 0);
    let (c_ib, _) = connect(&mut hub, &ib, 0);
    let (id, d) = signal(&t1, "p2", 1, "welbevinden");
    push(&mut hub, ct, &[(id, &d)]);
    let ids = |frames: &[Frame]| -> Vec<DocumentId> {
        delivered(frames).iter().map(|d| d.document_id).collect()
    };

    // p2 moves to m1: m2 purges; the care team keeps reading it and gets only its view of
    // the roster (which names p2's mentors).
    let (_, out) = hub.import_roster(NOW, SCHOOL, ROSTER_MOVED).unwrap();
    assert_eq!(purged(&to(&out, c_m2)), vec![id]);
    assert_eq!(
        ids(&to(&out, c_ib)),
        vec![doc::roster_view_id(SCHOOL, "ib")]
    );

    // p2 comes back to m2: the document is sent whole again, to m2 only.
    let (_, out) = hub.import_roster(NOW, SCHOOL, ROSTER).unwrap();
    let back = delivered(&to(&out, c_m2));
    let got = back
        .iter()
        .find(|x| x.document_id == id)
        .expect("sent again");
    assert_eq!(
        Automerge::load(&got.data).unwrap().get_heads(),
        d.get_heads()
    );
    assert_eq!(
        ids(&to(&out, c_ib)),
        vec![doc::roster_view_id(SCHOOL, "ib")]
    );
}

#[test]
fn deliveries_and_refusals_are_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let phone = enroll(&mut hub, "m1", 1);
    let tablet = enroll(&mut hub, "m1", 2);
    let (c1, _) = connect(&mut hub, &phone, 0);
    let (c2, _) = connect(&mut hub, &tablet, 0);
    // Accepted from the phone, delivered live to the tablet.
    let (id, d) = signal(&phone, "p1", 1, "welbevinden");
    let out = push(&mut hub, c1, &[(id, &d)]);
    assert_eq!(delivered(&to(&out, c2)).len(), 1);
    // A forged document is refused.
    let mut other = phone.clone();
    other.actor = actor(99);
    let (forged, f) = signal(&other, "p1", 1, "welbevinden");
    let out = to(&push(&mut hub, c1, &[(forged, &f)]), c1);
    assert_eq!(refused(&out), vec![(forged, RefusalReason::ForgedActor)]);
    let rows = hub.audit(&AuditFilter::Staff("m1".into())).unwrap();
    let has = |action: AuditAction, doc: DocumentId, device: &str| {
        rows.iter().any(|a| {
            a.action == action && a.document == Some(doc) && a.device.as_deref() == Some(device)
        })
    };
    assert!(has(AuditAction::Write, id, &phone.device));
    assert!(has(AuditAction::Deliver, id, &tablet.device));
    assert!(has(AuditAction::Refuse, forged, &phone.device));
}

/// A meldcode case document about `pupil` opened by `dev`, with one step-1 entry.
fn case_doc(dev: &Dev, pupil: &str) -> (DocumentId, Automerge) {
    use omkijken_core::model::{Case, CaseStep, Header, Kind, SCHEMA_VERSION};
    let id = DocumentId::random();
    let mut case = Case::new(NOW, vec!["signal-1".into()]);
    case.steps.push(CaseStep {
        id: "s1".into(),
        step: 1,
        on: "2026-11-16".into(),
        participants: vec![dev.user.clone()],
        outcome: "signalen in kaart".into(),
        skipped_because: None,
        parents: None,
        by: dev.user.clone(),
        at: NOW,
    });
    let header = Header {
        kind: Kind::Case.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some(pupil.into()),
        author: dev.user.clone(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    };
    (
        id,
        doc::create(dev.actor.clone(), NOW, &header, &case).unwrap(),
    )
}

fn edit_case(
    dev: &Dev,
    id: DocumentId,
    d: &Automerge,
    f: impl FnOnce(&mut omkijken_core::model::Case),
) -> Automerge {
    let mut out = d.clone();
    doc::update(id, &mut out, &dev.actor, NOW, |c| {
        f(c);
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn a_meldcode_case_is_the_care_teams_and_keeps_what_was_recorded() {
    use omkijken_core::model::MonitoringAgreement;
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let ib = enroll(&mut hub, "ib", 1);
    let m1 = enroll(&mut hub, "m1", 2);
    let t1 = enroll(&mut hub, "t1", 3);
    let ib2 = enroll(&mut hub, "ib", 4);
    let (ci, _) = connect(&mut hub, &ib, 0);
    let (cm, _) = connect(&mut hub, &m1, 0);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (ci2, _) = connect(&mut hub, &ib2, 0);

    // A mentor may not open a case, not even about his own pupil.
    let (mine, m) = case_doc(&m1, "p1");
    let out = to(&push(&mut hub, cm, &[(mine, &m)]), cm);
    assert_eq!(refused(&out), vec![(mine, RefusalReason::Forbidden)]);

    // The care coordinator opens one: her other device gets it whole, with a summary;
    // the mentor and the teacher get nothing, not even a catalog entry.
    let (id, d) = case_doc(&ib, "p1");
    let out = push(&mut hub, ci, &[(id, &d)]);
    assert_eq!(acked(&to(&out, ci)).len(), 1);
    let got = delivered(&to(&out, ci2));
    assert_eq!(got.len(), 1);
    check_whole(&got[0]);
    assert!(to(&out, cm).is_empty());
    assert!(to(&out, ct).is_empty());
    let (m_ids, _, _) = catalog(&connect(&mut hub, &m1, 0).1);
    assert!(!m_ids.contains(&id));

    // Recorded entries are never changed or taken away; a case closes only with
    // monitoring agreements; a bad step number is refused.
    for bad in [
        edit_case(&ib, id, &d, |c| c.steps[0].outcome = "anders".into()),
        edit_case(&ib, id, &d, |c| c.steps.clear()),
        edit_case(&ib, id, &d, |c| c.signals.clear()),
        edit_case(&ib, id, &d, |c| c.steps[0].step = 7),
        edit_case(&ib, id, &d, |c| {
            c.status = "closed".into();
            c.closed_at = Some(NOW);
        }),
    ] {
        let out = to(&push(&mut hub, ci, &[(id, &bad)]), ci);
        assert_eq!(refused(&out), vec![(id, RefusalReason::InvalidRecord)]);
    }
    let closed = edit_case(&ib, id, &d, |c| {
        c.monitoring.push(MonitoringAgreement {
            id: "m".into(),
            text: "wekelijks gesprek met mentor".into(),
            owner: "m1".into(),
            due: None,
        });
        c.status = "closed".into();
        c.closed_at = Some(NOW);
    });
    let out = push(&mut hub, ci, &[(id, &closed)]);
    assert_eq!(acked(&to(&out, ci)).len(), 1);
    assert_eq!(delivered(&to(&out, ci2)).len(), 1);
    // A closed case stays closed.
    let reopened = edit_case(&ib, id, &closed, |c| c.status = "open".into());
    let out = to(&push(&mut hub, ci, &[(id, &reopened)]), ci);
    assert_eq!(refused(&out), vec![(id, RefusalReason::InvalidRecord)]);
}

#[test]
fn an_excursion_reaches_the_staff_on_the_trip_and_only_its_organiser_changes_it() {
    use omkijken_core::model::{Excursion, Header, Kind, SCHEMA_VERSION};
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let t1 = enroll(&mut hub, "t1", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let (cm, _) = connect(&mut hub, &m1, 0);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (ci, _) = connect(&mut hub, &ib, 0);
    let id = DocumentId::random();
    let header = Header {
        kind: Kind::Excursion.as_str().into(),
        school: SCHOOL.into(),
        pupil: None,
        author: "m1".into(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    };
    let trip = Excursion {
        name: "Schoolkamp".into(),
        place: "Ardennen".into(),
        starts_on: "2027-05-10".into(),
        ends_on: "2027-05-12".into(),
        participants: vec!["p1".into()],
        staff: vec!["t1".into()],
        contacts: vec![],
    };
    let d = doc::create(m1.actor.clone(), NOW, &header, &trip).unwrap();
    let out = push(&mut hub, cm, &[(id, &d)]);
    assert_eq!(acked(&to(&out, cm)).len(), 1);
    let got = delivered(&to(&out, ct));
    assert_eq!(got.len(), 1, "the teacher on the trip gets it");
    check_whole(&got[0]);
    assert!(to(&out, ci).is_empty(), "the care team does not");
    let row = hub.storage().catalog_get(&[id]).unwrap().remove(0);
    assert_eq!(row.fields.readers, vec!["t1".to_string()]);

    // The teacher reads but does not write; a trip without a valid date is refused.
    let mut by_teacher = d.clone();
    doc::update(id, &mut by_teacher, &t1.actor, NOW, |e: &mut Excursion| {
        e.place = "elders".into();
        Ok(())
    })
    .unwrap();
    let out = to(&push(&mut hub, ct, &[(id, &by_teacher)]), ct);
    assert_eq!(refused(&out), vec![(id, RefusalReason::Forbidden)]);
    let mut bad = d.clone();
    doc::update(id, &mut bad, &m1.actor, NOW, |e: &mut Excursion| {
        e.ends_on = "eind mei".into();
        Ok(())
    })
    .unwrap();
    let out = to(&push(&mut hub, cm, &[(id, &bad)]), cm);
    assert_eq!(refused(&out), vec![(id, RefusalReason::InvalidRecord)]);

    // Taken off the trip, the teacher's device is told to purge it.
    let mut off = d.clone();
    doc::update(id, &mut off, &m1.actor, NOW, |e: &mut Excursion| {
        e.staff.clear();
        Ok(())
    })
    .unwrap();
    let out = push(&mut hub, cm, &[(id, &off)]);
    assert_eq!(acked(&to(&out, cm)).len(), 1);
    assert_eq!(purged(&to(&out, ct)), vec![id]);
}

/// Need-to-know: each device holds its user's view of the roster, never the school's whole
/// roster; a teacher's view has no care-track flags and no one else's mentorships, and
/// views follow roster changes.
#[test]
fn each_device_gets_its_users_view_of_the_roster_not_the_roster() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m1 = enroll(&mut hub, "m1", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let view_of = |hub: &mut omkijken_server::Hub, user: &str| {
        let id = doc::roster_view_id(SCHOOL, user);
        let d = Automerge::load(&hub.storage().load_doc(id).unwrap().unwrap()).unwrap();
        doc::record::<omkijken_core::model::Roster>(id, &d).unwrap()
    };
    for dev in [&t1, &m1, &ib] {
        let (c, frames) = connect(&mut hub, dev, 0);
        let (entries, _, _) = catalog(&frames);
        let mine = doc::roster_view_id(SCHOOL, &dev.user);
        assert_eq!(entries, vec![mine], "{}", dev.user);
        let fetch = Frame::Fetch {
            docs: vec![
                FetchRequest {
                    document_id: doc::roster_id(SCHOOL),
                    have: vec![],
                },
                FetchRequest {
                    document_id: doc::roster_view_id(SCHOOL, "ib"),
                    have: vec![],
                },
            ],
        };
        let got: Vec<DocumentId> = delivered(&to(&hub.receive(NOW, c, fetch), c))
            .iter()
            .map(|d| d.document_id)
            .collect();
        let want = if dev.user == "ib" { vec![mine] } else { vec![] };
        assert_eq!(
            got, want,
            "{}: the whole roster and others' views stay",
            dev.user
        );
    }
    let (t, m, c) = (
        view_of(&mut hub, "t1"),
        view_of(&mut hub, "m1"),
        view_of(&mut hub, "ib"),
    );
    assert!(
        t.pupils
            .values()
            .all(|p| !p.in_care && p.mentors.is_empty())
    );
    assert!(m.pupils["p1"].in_care && m.pupils["p1"].mentors == vec!["m1".to_string()]);
    assert!(m.pupils["p2"].mentors.is_empty());
    assert!(c.pupils["p1"].in_care && c.pupils["p2"].mentors == vec!["m2".to_string()]);
    // p2 moves to m1 and t1 leaves: m1's view now names her as p2's mentor, t1's is emptied.
    hub.import_roster(NOW, SCHOOL, ROSTER_MOVED).unwrap();
    assert_eq!(
        view_of(&mut hub, "m1").pupils["p2"].mentors,
        vec!["m1".to_string()]
    );
    assert!(view_of(&mut hub, "t1").pupils.is_empty());
    // The same import again writes nothing.
    let seq = hub.storage().last_seq().unwrap();
    hub.import_roster(NOW, SCHOOL, ROSTER_MOVED).unwrap();
    assert_eq!(hub.storage().last_seq().unwrap(), seq);
}

/// A store written before views (only the school's roster) gets them when a hub opens it.
#[test]
fn a_hub_writes_the_views_a_store_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let mut st = SqliteStorage::open(&path, None).unwrap();
        admin::create_school(&mut st, NOW, SCHOOL, "De Linde").unwrap();
        admin::import_roster(&mut st, &actor(200), NOW, SCHOOL, ROSTER).unwrap();
        // As an older server left it: no views.
        let views: Vec<DocumentId> = ["m1", "m2", "t1", "ib", "adm", "sl"]
            .iter()
            .map(|u| doc::roster_view_id(SCHOOL, u))
            .collect();
        assert_eq!(
            st.catalog_get(&views).unwrap().len(),
            6,
            "import writes them"
        );
    }
    let mut hub = hub_at(&path);
    let m1 = enroll(&mut hub, "m1", 1);
    let (_, frames) = connect(&mut hub, &m1, 0);
    assert_eq!(catalog(&frames).0, vec![doc::roster_view_id(SCHOOL, "m1")]);
    // Written again only when they differ: a second hub on the same store writes nothing.
    let before = hub.storage().last_seq().unwrap();
    drop(hub);
    let mut again = hub_at(&path);
    assert_eq!(again.storage().last_seq().unwrap(), before);
}

#[test]
fn a_push_goes_to_the_sessions_of_its_readers_and_holders_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m1 = enroll(&mut hub, "m1", 2);
    let m2 = enroll(&mut hub, "m2", 3);
    let ib = enroll(&mut hub, "ib", 4);
    let ib_tablet = enroll(&mut hub, "ib", 5);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (c_m1, _) = connect(&mut hub, &m1, 0);
    let (c_m2, _) = connect(&mut hub, &m2, 0);
    let (c_ib, _) = connect(&mut hub, &ib, 0);
    let (c_tab, _) = connect(&mut hub, &ib_tablet, 0);
    // A second session of the same device is indexed too.
    let (c_ib2, _) = connect(&mut hub, &ib, 0);
    assert_eq!(hub.live_indexed(), 6);

    // Urgency 1 about p2 (a draft, so its author may still change it): m2 (mentor) and the
    // care coordinator's sessions; not m1.
    let id = DocumentId::random();
    let mut rec = signal_record(1, "welbevinden", "draft");
    rec.shared = false;
    let d = doc::create(t1.actor.clone(), NOW, &signal_header("t1", "p2"), &rec).unwrap();
    let out = push(&mut hub, ct, &[(id, &d)]);
    let mut got: Vec<_> = out
        .iter()
        .filter(|(c, f)| *c != ct && matches!(f, Frame::Docs { docs, .. } if !docs.is_empty()))
        .map(|(c, _)| *c)
        .collect();
    got.sort();
    assert_eq!(got, vec![c_m2, c_ib, c_tab, c_ib2]);
    assert!(to(&out, c_m1).is_empty(), "m1 may not read it: nothing");

    // Staff misconduct now: the board's only. Those who held it and may no longer read it
    // purge (found by who holds it, not by looking at every session); m1 gets nothing.
    let mut d2 = d.clone();
    doc::update(id, &mut d2, &t1.actor, NOW, |s: &mut Signal| {
        s.category = "medewerker".into();
        Ok(())
    })
    .unwrap();
    let out = push(&mut hub, ct, &[(id, &d2)]);
    assert_eq!(acked(&to(&out, ct)).len(), 1);
    for c in [c_m2, c_ib, c_tab, c_ib2] {
        assert_eq!(purged(&to(&out, c)), vec![id], "those who held it purge");
    }
    assert!(to(&out, c_m1).is_empty());

    // Closed sessions leave the index; a reader who is not connected gets nothing.
    hub.disconnect(c_ib);
    hub.disconnect(c_ib2);
    hub.disconnect(c_m2);
    assert_eq!(hub.live_indexed(), 3);
    let (id3, d3) = signal(&t1, "p2", 2, "welbevinden");
    let out = push(&mut hub, ct, &[(id3, &d3)]);
    let got: Vec<_> = out
        .iter()
        .filter(|(c, f)| *c != ct && matches!(f, Frame::Docs { docs, .. } if !docs.is_empty()))
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(got, vec![c_tab]);
}

/// The cursor live frames give `conn` in `out`, if any.
fn live_cursor(out: &omkijken_server::Outgoing, conn: omkijken_server::ConnId) -> Option<u64> {
    to(out, conn).iter().find_map(|f| match f {
        Frame::Docs { docs, cursor } if docs.is_empty() && *cursor > 0 => Some(*cursor),
        _ => None,
    })
}

#[test]
fn an_idle_device_s_cursor_moves_past_what_it_may_not_read_and_a_grant_still_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut hub = school_hub(&path);
    let t1 = enroll(&mut hub, "t1", 1);
    let m1 = enroll(&mut hub, "m1", 2);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (c_m1, frames) = connect(&mut hub, &m1, 0);
    let before = catalog(&frames).2;
    // Signals about p2, whom m1 does not mentor: nothing for m1, live.
    let mut ids = vec![];
    for i in 0..3 {
        let (id, d) = signal(&t1, "p2", 0, "niet-pluis");
        let out = push(&mut hub, ct, &[(id, &d)]);
        assert!(to(&out, c_m1).is_empty());
        ids.push((id, i));
    }
    // Within seconds the idle session is given a cursor past them.
    let out = hub.poll(NOW + 10_000);
    let moved = live_cursor(&out, c_m1).expect("a cursor for the idle session");
    assert!(moved > before);
    assert!(delivered(&to(&out, c_m1)).is_empty());
    // Only once: nothing new, no new cursor.
    assert_eq!(live_cursor(&hub.poll(NOW + 20_000), c_m1), None);
    // The pusher holds what it pushed: its cursor came with its acks already.
    assert_eq!(live_cursor(&hub.poll(NOW + 30_000), ct), None);

    // Reconnecting from the moved cursor costs nothing: an empty catalog.
    hub.disconnect(c_m1);
    let (c_m1, frames) = connect(&mut hub, &m1, moved);
    let (entries, purge, cursor) = catalog(&frames);
    assert!(entries.is_empty() && purge.is_empty());
    assert_eq!(cursor, moved);
    hub.disconnect(c_m1);

    // p2 moves to m1 (another process): m1's next catch-up from the moved cursor still
    // brings every signal about p2, bumped past it.
    let mut cli = SqliteStorage::open(&path, None).unwrap();
    admin::import_roster(&mut cli, &actor(200), NOW, SCHOOL, ROSTER_MOVED).unwrap();
    hub.poll(NOW + 40_000);
    let (_, frames) = connect(&mut hub, &m1, moved);
    let (entries, _, _) = catalog(&frames);
    for (id, _) in &ids {
        assert!(entries.contains(id), "granted: comes back above the cursor");
    }
}

/// What a server start does for the staff's roster views ([`admin::refresh_roster_views`]).
fn refresh_views(hub: &mut omkijken_server::Hub) -> usize {
    admin::refresh_roster_views(hub.storage(), &actor(9), NOW + 1, SCHOOL).unwrap()
}

/// A staff member's roster view as stored.
fn stored_view(hub: &mut omkijken_server::Hub, user: &str) -> omkijken_core::model::Roster {
    let vid = doc::roster_view_id(SCHOOL, user);
    let d = Automerge::load(&hub.storage().load_doc(vid).unwrap().unwrap()).unwrap();
    doc::record(vid, &d).unwrap()
}

#[test]
fn a_restart_rewrites_the_roster_views_only_when_the_roster_changed_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    // The import wrote the views and marked the roster with them: nothing to do.
    assert_eq!(refresh_views(&mut hub), 0);
    let rid = doc::roster_id(SCHOOL);
    let marked =
        doc::views_mark(&Automerge::load(&hub.storage().load_doc(rid).unwrap().unwrap()).unwrap());
    assert!(marked.is_some());

    // A server of before the mark moves p2 to mentor m1 in the roster document and writes
    // no view: m1's view does not show her as m1's pupil, m2's still shows her as m2's.
    let row = hub.storage().catalog_get(&[rid]).unwrap().pop().unwrap();
    let mut r = Automerge::load(&hub.storage().load_doc(rid).unwrap().unwrap()).unwrap();
    let before = r.get_heads();
    let old: omkijken_core::model::Roster = doc::record(rid, &r).unwrap();
    let mut new = old.clone();
    new.pupils.get_mut("p2").unwrap().mentors = vec!["m1".into()];
    assert!(doc::update_roster(rid, &mut r, &actor(8), NOW, &old, &new).unwrap());
    hub.storage()
        .commit(Batch {
            docs: vec![DocWrite {
                id: rid,
                header: row.header.clone(),
                fields: Default::default(),
                heads: r.get_heads(),
                data: r.save_after(&before),
                mode: WriteMode::Append,
                summary: None,
                base: Some(before),
            }],
            ..Default::default()
        })
        .unwrap();
    let p2_mentors = |hub: &mut omkijken_server::Hub, user: &str| {
        stored_view(hub, user).pupils["p2"].mentors.clone()
    };
    assert!(p2_mentors(&mut hub, "m1").is_empty());

    // The mark no longer fits the roster: the start reads the views and writes the three
    // that show p2's mentors (m1's, m2's and the care coordinator's).
    assert_eq!(refresh_views(&mut hub), 3);
    assert_eq!(p2_mentors(&mut hub, "m1"), vec!["m1".to_string()]);
    assert!(p2_mentors(&mut hub, "m2").is_empty());
    // And marks the roster again: the next start reads none.
    assert_eq!(refresh_views(&mut hub), 0);
}

/// A roster change (here the school's offline lease) made while another writer of the same
/// store changed the roster (the admin CLI beside the server, a second node: here it turns
/// on parents' names) conflicts at its commit, and is made again on top of the stored
/// roster: both changes are kept, neither is lost.
#[test]
fn a_roster_change_that_meets_another_writers_change_is_made_again_on_top_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(school_hub(&path));
    let mut st = SqliteStorage::open(&path, None).unwrap();
    assert_eq!(
        admin::roster(&mut st, SCHOOL).unwrap().offline_lease_days,
        None
    );
    assert!(!admin::roster(&mut st, SCHOOL).unwrap().parent_names);
    let other = path.clone();
    let hooked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let calls = hooked.clone();
    st.set_before_commit(Some(Box::new(move || {
        // The first commit only: the other writer gets in between the read and the write.
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let mut cli = SqliteStorage::open(&other, None).unwrap();
            assert!(admin::set_parent_names(&mut cli, &actor(9), NOW + 1, SCHOOL, true).unwrap());
        }
    })));
    assert!(admin::set_offline_lease(&mut st, &actor(8), NOW + 2, SCHOOL, 9).unwrap());
    // Committed twice: the conflict, then the change made again.
    assert_eq!(hooked.load(std::sync::atomic::Ordering::SeqCst), 2);
    st.set_before_commit(None);
    let r = admin::roster(&mut st, SCHOOL).unwrap();
    assert_eq!(r.offline_lease_days, Some(9));
    assert!(r.parent_names);
    // A fresh reader of the file sees both as well.
    let mut fresh = SqliteStorage::open(&path, None).unwrap();
    let r = admin::roster(&mut fresh, SCHOOL).unwrap();
    assert_eq!((r.offline_lease_days, r.parent_names), (Some(9), true));
}
