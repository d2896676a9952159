//! The server as the trust boundary, frame by frame: every path that sends document content
//! writes its delivery row, a document the user may not read answers like one that does not
//! exist on every path, and a document past its limits is refused before it is loaded.
// Edit closures return core's (large) error type.
#![allow(clippy::result_large_err)]

use crate::common;

use automerge::Automerge;
use automerge::sync::SyncDoc;
use automerge::transaction::Transactable;
use common::*;
use omkijken_core::DocumentId;
use omkijken_core::sync::{DocChanges, FetchRequest, Frame, RefusalReason};
use omkijken_server::storage::{AuditAction, AuditFilter};
use omkijken_server::{ConnId, Hub};

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

fn delivered(frames: &[Frame]) -> Vec<DocumentId> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Docs { docs, .. } => Some(docs.iter().map(|d| d.document_id)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Delivery rows of `doc` to `device`.
fn deliveries(hub: &mut Hub, doc: DocumentId, device: &str) -> usize {
    hub.audit(&AuditFilter::All)
        .unwrap()
        .iter()
        .filter(|a| {
            a.action == AuditAction::Deliver
                && a.document == Some(doc)
                && a.device.as_deref() == Some(device)
        })
        .count()
}

/// Sync `local` with the hub over `sync` frames until neither side has anything to send;
/// returns every frame the hub sent.
fn sync_frames(
    hub: &mut Hub,
    c: ConnId,
    id: DocumentId,
    local: &mut Automerge,
    state: &mut automerge::sync::State,
) -> Vec<Frame> {
    let mut all = vec![];
    for _ in 0..10 {
        let Some(msg) = local.generate_sync_message(state) else {
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
        for f in &out {
            if let Frame::Sync { data, .. } = f {
                let m = automerge::sync::Message::decode(data).unwrap();
                local.receive_sync_message(state, m).unwrap();
            }
        }
        all.extend(out);
    }
    all
}

#[test]
fn every_path_that_sends_a_document_writes_a_delivery_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let t1 = enroll(&mut hub, "t1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let ib = enroll(&mut hub, "ib", 3);
    let m1 = enroll(&mut hub, "m1", 4);
    let ib_laptop = enroll(&mut hub, "ib", 5);
    let (ct, _) = connect(&mut hub, &t1, 0);
    let (cm2, _) = connect(&mut hub, &m2, 0);
    let (cm1, _) = connect(&mut hub, &m1, 0);
    // 1. Live push: the mentor of p2 is connected when the teacher's signal arrives.
    let (id, d) = signal(&t1, "p2", 1, "welbevinden");
    let out = hub.receive(NOW, ct, push_frame(&[(id, &d)]));
    assert_eq!(delivered(&to(&out, cm2)), vec![id]);
    assert_eq!(deliveries(&mut hub, id, &m2.device), 1);
    // 2. Fetch: the coordinator catches up later and fetches it.
    let (cib, _) = connect(&mut hub, &ib, 0);
    let fetch = Frame::Fetch {
        docs: vec![FetchRequest {
            document_id: id,
            have: vec![],
        }],
    };
    assert_eq!(delivered(&to(&hub.receive(NOW, cib, fetch), cib)), vec![id]);
    assert_eq!(deliveries(&mut hub, id, &ib.device), 1);
    // 3. Others' writes picked up by a poll (here a roster change that makes m1 the mentor
    //    of p2): the newly entitled live device gets the document.
    assert_eq!(deliveries(&mut hub, id, &m1.device), 0);
    let (_, out) = hub.import_roster(NOW, SCHOOL, ROSTER_MOVED).unwrap();
    assert!(delivered(&to(&out, cm1)).contains(&id));
    assert_eq!(deliveries(&mut hub, id, &m1.device), 1);
    // 4. Sync frames: the coordinator's laptop syncs it per document, from nothing.
    let (cl, _) = connect(&mut hub, &ib_laptop, 0);
    let mut local = Automerge::new();
    let mut state = automerge::sync::State::new();
    let frames = sync_frames(&mut hub, cl, id, &mut local, &mut state);
    assert!(refused(&frames).is_empty(), "{frames:?}");
    assert_eq!(local.get_heads(), d.get_heads(), "the content went out");
    assert_eq!(deliveries(&mut hub, id, &ib_laptop.device), 1);
    // Syncing again sends no content, and writes no row.
    let mut again = automerge::sync::State::new();
    sync_frames(&mut hub, cl, id, &mut local, &mut again);
    assert_eq!(deliveries(&mut hub, id, &ib_laptop.device), 1);
    // Rows name ids only: the kind and pupil, never content.
    let rows = hub.audit(&AuditFilter::Pupil("p2".into())).unwrap();
    assert!(rows.iter().all(|r| r.kind.as_deref() == Some("signal")));
}

#[test]
fn sync_frames_answer_a_document_one_may_not_read_like_one_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let (c1, _) = connect(&mut hub, &m1, 0);
    // An urgency-0 note about p1: m1's and nobody else's.
    let (secret, d) = signal(&m1, "p1", 0, "niet-pluis");
    hub.receive(NOW, c1, push_frame(&[(secret, &d)]));
    // And one about p2 that gets erased.
    let (gone, g) = signal(&m1, "p2", 1, "welbevinden");
    hub.receive(NOW, c1, push_frame(&[(gone, &g)]));
    hub.erase_pupil(NOW, SCHOOL, "p2").unwrap();
    // What m2 sends: a first message from a peer that has nothing, one from a peer that
    // holds m1's note, and garbage.
    let tries: Vec<Vec<u8>> = vec![
        Automerge::new()
            .generate_sync_message(&mut automerge::sync::State::new())
            .map(|m| m.encode())
            .unwrap_or_default(),
        d.clone()
            .generate_sync_message(&mut automerge::sync::State::new())
            .unwrap()
            .encode(),
        b"garbage".to_vec(),
    ];
    for data in tries {
        let mut answers = vec![];
        for id in [secret, gone, DocumentId::random()] {
            // A fresh session each time: no sync state carried over.
            let (c, _) = connect(&mut hub, &m2, 0);
            let out = to(
                &hub.receive(
                    NOW,
                    c,
                    Frame::Sync {
                        document_id: id,
                        data: data.clone(),
                    },
                ),
                c,
            );
            let shown: Vec<String> = out
                .iter()
                .map(|f| match f {
                    Frame::Sync { data, .. } => format!("sync {data:?}"),
                    Frame::Refused { docs } => format!("refused {:?}", docs[0].reason),
                    other => other.type_name().to_string(),
                })
                .collect();
            answers.push(shown);
            hub.disconnect(c);
        }
        assert_eq!(answers[0], answers[2], "unreadable vs unknown");
        assert_eq!(answers[1], answers[2], "erased vs unknown");
    }
    // Nothing of m1's note went out, and it is unchanged.
    assert_eq!(
        Automerge::load(&hub.storage().load_doc(secret).unwrap().unwrap())
            .unwrap()
            .get_heads(),
        d.get_heads()
    );
    assert_eq!(deliveries(&mut hub, secret, &m2.device), 0);
}

/// A signal of `dev` with an extra list of `n` items the record does not know: a few
/// kilobytes on the wire, `n` operations once loaded.
fn bloated_signal(dev: &Dev, n: usize) -> (DocumentId, Automerge) {
    let (id, mut d) = signal(dev, "p1", 1, "welbevinden");
    let mut tx = d.transaction();
    let rec = automerge::ReadDoc::get(&tx, automerge::ROOT, "record")
        .unwrap()
        .unwrap()
        .1;
    let list = tx
        .put_object(&rec, "extra", automerge::ObjType::List)
        .unwrap();
    tx.splice(
        &list,
        0,
        0,
        std::iter::repeat_n(automerge::ScalarValue::Int(1), n),
    )
    .unwrap();
    tx.commit();
    (id, d)
}

#[test]
fn a_document_past_its_limits_is_refused_before_it_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    let (c1, _) = connect(&mut hub, &m1, 0);
    let (cib, _) = connect(&mut hub, &ib, 0);
    let (id, d) = bloated_signal(&m1, 400_000);
    let bytes = d.save();
    assert!(bytes.len() < 32 * 1024, "{} bytes", bytes.len());
    let started = std::time::Instant::now();
    Automerge::load(&bytes).unwrap();
    let load = started.elapsed();
    // 1. As a new document.
    let started = std::time::Instant::now();
    let out = hub.receive(
        NOW,
        c1,
        Frame::Push {
            docs: vec![DocChanges::new(id, bytes.clone())],
        },
    );
    let judged = started.elapsed();
    assert_eq!(refused(&to(&out, c1)), vec![(id, RefusalReason::TooLarge)]);
    assert!(
        judged * 4 < load,
        "judged in {judged:?}, loading takes {load:?}"
    );
    assert!(delivered(&to(&out, cib)).is_empty(), "nothing forwarded");
    assert!(hub.storage().catalog_get(&[id]).unwrap().is_empty());
    // 2. As changes to a stored signal.
    let (id2, small) = signal(&m1, "p1", 1, "welbevinden");
    hub.receive(NOW, c1, push_frame(&[(id2, &small)]));
    let mut big = small.clone();
    let mut tx = big.transaction();
    let rec = automerge::ReadDoc::get(&tx, automerge::ROOT, "record")
        .unwrap()
        .unwrap()
        .1;
    let list = tx
        .put_object(&rec, "extra", automerge::ObjType::List)
        .unwrap();
    tx.splice(
        &list,
        0,
        0,
        std::iter::repeat_n(automerge::ScalarValue::Int(1), 400_000),
    )
    .unwrap();
    tx.commit();
    let out = hub.receive(
        NOW,
        c1,
        Frame::Push {
            docs: vec![DocChanges::new(id2, big.save_after(&small.get_heads()))],
        },
    );
    assert_eq!(refused(&to(&out, c1)), vec![(id2, RefusalReason::TooLarge)]);
    // 3. Over sync frames.
    let mut state = automerge::sync::State::new();
    let mut local = d.clone();
    let frames = sync_frames(&mut hub, c1, id, &mut local, &mut state);
    assert!(refused(&frames).contains(&(id, RefusalReason::TooLarge)));
    assert!(hub.storage().catalog_get(&[id]).unwrap().is_empty());
    // Each refusal is in the audit log; the stored signal is unchanged.
    let rows = hub.audit(&AuditFilter::Staff("m1".into())).unwrap();
    let refusals = |doc| {
        rows.iter()
            .filter(|r| r.action == AuditAction::Refuse && r.document == Some(doc))
            .count()
    };
    assert!(refusals(id) >= 2 && refusals(id2) == 1);
    let stored = hub.storage().catalog_get(&[id2]).unwrap().remove(0);
    assert_eq!(stored.heads, small.get_heads());
    // Within its limits, the same push goes through.
    let (id3, fine) = bloated_signal(&m1, 100);
    let out = hub.receive(NOW, c1, push_frame(&[(id3, &fine)]));
    assert!(refused(&to(&out, c1)).is_empty());
}
