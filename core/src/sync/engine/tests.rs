//! Unit tests of the sans-io device sync engine: one engine on a real (temporary) store,
//! fed frames by hand, its outputs checked.

use super::*;
use crate::doc;
use crate::ids;
use crate::model::Kind;
use crate::model::{FollowUpKind, Group, Pupil, Roster, Staff};
use crate::store::{Identity, StoreOptions};
use crate::sync::frames::{Acked, CatalogEntry, DocChanges, FetchRequest, OutboxState, Refusal};
use automerge::Automerge;
use std::sync::Arc;

const SCHOOL: &str = "school-1";
const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const T0: i64 = 1_795_338_000_000;

fn roster() -> Roster {
    let staff = |id: &str, role: &str| {
        (
            id.to_string(),
            Staff {
                id: id.into(),
                display_name: format!("Staff {id}"),
                roles: vec![role.into()],
                meldcode_duty: false,
                active: true,
            },
        )
    };
    let pupil = |id: &str, in_care: bool| {
        (
            id.to_string(),
            Pupil {
                id: id.into(),
                display_name: format!("Pupil {id}"),
                group: "6a".into(),
                age_band: "po_5_8".into(),
                active: true,
                in_care,
                mentors: vec!["m1".into()],
                erasures: 0,
            },
        )
    };
    Roster {
        school: SCHOOL.into(),
        pupils: [pupil("p1", true), pupil("p2", false)]
            .into_iter()
            .collect(),
        groups: [(
            "6a".to_string(),
            Group {
                id: "6a".into(),
                name: "groep 6a".into(),
                teachers: vec!["m1".into(), "t1".into()],
            },
        )]
        .into_iter()
        .collect(),
        staff: [
            staff("m1", "mentor"),
            staff("t1", "teacher"),
            staff("cc", "care_coordinator"),
        ]
        .into_iter()
        .collect(),
        offline_lease_days: None,
        viewer: None,
        parent_names: false,
    }
}

fn roster_bytes() -> Vec<u8> {
    let (id, mut d) = doc::roster_genesis(SCHOOL).unwrap();
    let server = automerge::ActorId::from(b"server-actor-000".to_vec());
    doc::update::<Roster>(id, &mut d, &server, T0, |r| {
        *r = roster();
        Ok(())
    })
    .unwrap();
    d.save()
}

/// An enrolled store for `user` holding the roster (acknowledged, as after a sync).
fn store_for(dir: &std::path::Path, user: &str) -> Store {
    let store = Store::open_with(
        dir.join(format!("{user}.db")),
        KEY,
        StoreOptions {
            clock: Arc::new(|| T0),
            seed: None,
        },
    )
    .unwrap();
    store
        .set_identity(&Identity {
            school: SCHOOL.into(),
            user: user.into(),
        })
        .unwrap();
    let rid = doc::roster_id(SCHOOL);
    let heads = store.merge_bytes(rid, &roster_bytes()).unwrap();
    store.set_acked_heads(rid, &heads).unwrap();
    store
}

fn signal(store: &Store, pupil: &str, urgency: u8) -> DocumentId {
    store
        .record_signal(crate::testing::signal(
            pupil,
            T0,
            "schoolplein",
            urgency,
            "facts",
        ))
        .unwrap()
}

/// The offline lease restarts when a catch-up completes, and then hourly while the
/// connection stays up, not on every frame.
#[test]
fn a_completed_catch_up_restarts_the_lease_and_a_live_connection_keeps_it_running() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T0));
    let c = clock.clone();
    let store = Store::open_with(
        dir.path().join("m1.db"),
        KEY,
        StoreOptions {
            clock: Arc::new(move || c.load(Ordering::SeqCst)),
            seed: None,
        },
    )
    .unwrap();
    store
        .set_identity(&Identity {
            school: SCHOOL.into(),
            user: "m1".into(),
        })
        .unwrap();
    let rid = doc::roster_id(SCHOOL);
    let heads = store.merge_bytes(rid, &roster_bytes()).unwrap();
    store.set_acked_heads(rid, &heads).unwrap();
    let mut engine = ClientEngine::new(store.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    assert_eq!(
        store.lease().unwrap().synced_at,
        None,
        "not before the catch-up"
    );
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![entry(&store, rid, 1)],
                purge: vec![],
                cursor: 1,
                complete: true,
            }),
        )
        .unwrap();
    assert!(out.contains(&ClientOutput::CaughtUp { cursor: 1 }));
    assert_eq!(store.lease().unwrap().synced_at, Some(T0));
    let minute = 60_000;
    clock.store(T0 + 59 * minute, Ordering::SeqCst);
    engine.handle(T0 + 59 * minute, ClientInput::Tick).unwrap();
    assert_eq!(store.lease().unwrap().synced_at, Some(T0));
    clock.store(T0 + 61 * minute, Ordering::SeqCst);
    engine.handle(T0 + 61 * minute, ClientInput::Tick).unwrap();
    assert_eq!(store.lease().unwrap().synced_at, Some(T0 + 61 * minute));
    // A new connection starts over: nothing until its catch-up completes.
    engine
        .handle(T0 + 62 * minute, ClientInput::Disconnected)
        .unwrap();
    clock.store(T0 + 200 * minute, Ordering::SeqCst);
    engine
        .handle(T0 + 200 * minute, ClientInput::Connected)
        .unwrap();
    engine.handle(T0 + 200 * minute, ClientInput::Tick).unwrap();
    assert_eq!(store.lease().unwrap().synced_at, Some(T0 + 61 * minute));
}

fn entry(store: &Store, id: DocumentId, seq: u64) -> CatalogEntry {
    let info = store.info(id).unwrap().unwrap();
    CatalogEntry {
        document_id: id,
        header: info.header,
        fields: info.fields,
        heads: ids::heads_to_hex(&info.heads),
        seq,
    }
}

fn sent(out: &[ClientOutput]) -> Vec<&Frame> {
    out.iter()
        .filter_map(|o| match o {
            ClientOutput::Send(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn pushes(out: &[ClientOutput]) -> Vec<Vec<DocChanges>> {
    sent(out)
        .into_iter()
        .filter_map(|f| match f {
            Frame::Push { docs } => Some(docs.clone()),
            _ => None,
        })
        .collect()
}

fn empty_catalog(cursor: u64) -> ClientInput {
    ClientInput::Received(Frame::Catalog {
        epoch: None,
        entries: vec![],
        purge: vec![],
        cursor,
        complete: true,
    })
}

/// Connected and caught up with an empty catalog; returns the outputs of the catalog.
fn connect(engine: &mut ClientEngine) -> Vec<ClientOutput> {
    engine.handle(T0, ClientInput::Connected).unwrap();
    engine.handle(T0, empty_catalog(1)).unwrap()
}

fn acked(store: &Store, id: DocumentId) -> Option<Vec<ChangeHash>> {
    store.info(id).unwrap().unwrap().acked_heads
}

#[test]
fn hello_carries_the_stored_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_for(dir.path(), "t1");
    store.set_setting(SETTING_CURSOR, Some("42")).unwrap();
    let mut engine = ClientEngine::new(store);
    let out = engine.handle(T0, ClientInput::Connected).unwrap();
    assert_eq!(
        sent(&out),
        vec![&Frame::Hello {
            outbox: Some(OutboxState::default()),
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 42
        }]
    );
    assert!(!engine.is_caught_up());
}

/// The outbox goes to the server in numbers: in `hello`, and once when a sync round ends
/// with it changed (not per `ack`, not again while nothing changes).
#[test]
fn the_outbox_is_reported_in_hello_and_once_when_a_round_ends_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_for(dir.path(), "t1");
    let (a, b) = (signal(&store, "p1", 1), signal(&store, "p2", 1));
    let mut engine = ClientEngine::new(store.clone());
    let out = engine
        .handle(T0 + 7_200_000, ClientInput::Connected)
        .unwrap();
    let Frame::Hello { outbox, .. } = sent(&out)[0] else {
        panic!("hello first");
    };
    assert_eq!(
        *outbox,
        Some(OutboxState {
            pending: 2,
            not_accepted: 0,
            oldest_age: Some(7_200_000),
        }),
        "two signals written two hours ago"
    );
    let out = engine.handle(T0 + 7_200_000, empty_catalog(1)).unwrap();
    let pushed = pushes(&out);
    assert_eq!(pushed.len(), 1);
    assert!(
        !sent(&out).iter().any(|f| matches!(f, Frame::Outbox { .. })),
        "nothing answered yet: no report"
    );
    let heads = |id| ids::heads_to_hex(&store.info(id).unwrap().unwrap().heads);
    // One ack at a time: the round ends with the second.
    let ack = |id| {
        ClientInput::Received(Frame::Ack {
            docs: vec![Acked {
                document_id: id,
                heads: heads(id),
            }],
        })
    };
    let out = engine.handle(T0 + 7_200_000, ack(a)).unwrap();
    assert!(!sent(&out).iter().any(|f| matches!(f, Frame::Outbox { .. })));
    let out = engine.handle(T0 + 7_200_000, ack(b)).unwrap();
    let reports: Vec<_> = sent(&out)
        .into_iter()
        .filter(|f| matches!(f, Frame::Outbox { .. }))
        .collect();
    assert_eq!(
        reports,
        vec![&Frame::Outbox {
            pending: 0,
            not_accepted: 0,
            oldest_age: None,
        }]
    );
    let at = |o: &ClientOutput| out.iter().position(|x| x == o);
    assert!(
        at(&ClientOutput::Send(reports[0].clone())) < at(&ClientOutput::Idle),
        "the report goes before Idle, so a driver that closes on Idle sends it"
    );
    // Nothing changed: no more reports.
    let out = engine.handle(T0 + 7_300_000, ClientInput::Tick).unwrap();
    assert!(!sent(&out).iter().any(|f| matches!(f, Frame::Outbox { .. })));
}

#[test]
fn a_catalog_of_another_lineage_sends_back_what_the_restored_server_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_for(dir.path(), "t1");
    let rid = doc::roster_id(SCHOOL);
    // Three signals, all acknowledged by the server of lineage "a".
    let (older, same, lost) = (
        signal(&store, "p1", 1),
        signal(&store, "p1", 2),
        signal(&store, "p2", 3),
    );
    let mut old_heads = HashMap::new();
    for id in [older, same, lost] {
        let heads = store.info(id).unwrap().unwrap().heads;
        store.set_acked_heads(id, &heads).unwrap();
        old_heads.insert(id, entry(&store, id, 1));
    }
    store
        .append_follow_up(older, FollowUpKind::Correction, "later")
        .unwrap();
    let now = store.info(older).unwrap().unwrap().heads;
    store.set_acked_heads(older, &now).unwrap();
    store.set_setting(SETTING_EPOCH, Some("a")).unwrap();
    store.set_setting(SETTING_CURSOR, Some("90")).unwrap();
    assert!(store.outbox().unwrap().is_empty(), "all acknowledged");

    // The server was restored from a backup taken before the correction and before
    // `lost`: lineage "b", two pages. The first lists the roster and `same` as they are
    // here, the second `older` without the correction; `lost` is not listed.
    let mut engine = ClientEngine::new(store.clone());
    let out = engine.handle(T0, ClientInput::Connected).unwrap();
    assert!(matches!(
        sent(&out)[0],
        Frame::Hello { cursor: 90, epoch: Some(e), .. } if e == "a"
    ));
    let page = |entries, cursor, complete| {
        ClientInput::Received(Frame::Catalog {
            entries,
            purge: vec![],
            cursor,
            complete,
            epoch: Some("b".into()),
        })
    };
    let first = engine
        .handle(
            T0,
            page(
                vec![entry(&store, rid, 1), entry(&store, same, 2)],
                2,
                false,
            ),
        )
        .unwrap();
    assert!(pushes(&first).is_empty(), "nothing to send yet");
    let second = engine
        .handle(T0, page(vec![old_heads[&older].clone()], 3, true))
        .unwrap();
    let mut pushed: Vec<(DocumentId, usize)> = pushes(&second)
        .concat()
        .into_iter()
        .map(|d| (d.document_id, d.data.len()))
        .collect();
    pushed.sort();
    let mut ids: Vec<DocumentId> = pushed.iter().map(|p| p.0).collect();
    ids.sort();
    let mut expected = vec![older, lost];
    expected.sort();
    assert_eq!(
        ids, expected,
        "the correction and the lost signal, not `same`"
    );
    // The correction goes as changes after the server's heads; the lost signal whole.
    let whole = store.load(lost).unwrap().unwrap().save().len();
    let sizes: HashMap<_, _> = pushed.into_iter().collect();
    assert!(sizes[&older] < whole);
    assert!(sizes[&lost] > 0);
    assert_eq!(acked(&store, lost), None, "forgotten: pushed whole");

    // Once all is acknowledged the new lineage is kept with the cursor.
    let acks = [older, lost]
        .into_iter()
        .map(|id| Acked {
            document_id: id,
            heads: ids::heads_to_hex(&store.info(id).unwrap().unwrap().heads),
        })
        .collect();
    let out = engine
        .handle(T0, ClientInput::Received(Frame::Ack { docs: acks }))
        .unwrap();
    assert!(out.contains(&ClientOutput::CaughtUp { cursor: 3 }) || engine.is_caught_up());
    assert_eq!(store.setting(SETTING_EPOCH).unwrap().as_deref(), Some("b"));
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn catch_up_fetches_only_changed_documents_and_stores_the_cursor_after_merging() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    let rid = doc::roster_id(SCHOOL);
    let mut engine = ClientEngine::new(cc.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();

    // The roster is unchanged (same heads): no fetch. The signal is new: fetch all of it.
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![entry(&mentor, rid, 1), entry(&mentor, s1, 7)],
                purge: vec![],
                cursor: 7,
                complete: true,
            }),
        )
        .unwrap();
    assert_eq!(
        sent(&out),
        vec![
            &Frame::Fetch {
                docs: vec![FetchRequest {
                    document_id: s1,
                    have: vec![]
                }]
            },
            // The barrier after the last fetch.
            &Frame::ReadLog { entries: vec![] }
        ]
    );
    assert!(
        !out.iter()
            .any(|o| matches!(o, ClientOutput::CaughtUp { .. }))
    );
    assert_eq!(
        cc.setting(SETTING_CURSOR).unwrap(),
        None,
        "not before the merge"
    );
    assert!(out.contains(&ClientOutput::Progress { done: 0, total: 1 }));

    let out = engine
        .handle(
            T0 + 5,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(
                    s1,
                    mentor.document_bytes(s1).unwrap().unwrap(),
                )],
                cursor: 0,
            }),
        )
        .unwrap();
    assert!(out.contains(&ClientOutput::CaughtUp { cursor: 7 }));
    assert!(out.contains(&ClientOutput::Progress { done: 1, total: 1 }));
    assert!(
        !out.contains(&ClientOutput::Idle),
        "the barrier is unanswered"
    );
    let out = engine
        .handle(T0 + 5, ClientInput::Received(Frame::LogAck { seq: 0 }))
        .unwrap();
    assert!(out.contains(&ClientOutput::Idle));
    assert_eq!(cc.setting(SETTING_CURSOR).unwrap().as_deref(), Some("7"));
    assert_eq!(
        cc.setting(SETTING_LAST_SYNC).unwrap().as_deref(),
        Some("1795338000005")
    );
    // Merged, and not in the outbox: the server holds it.
    assert_eq!(cc.signal(s1).unwrap().urgency, 2);
    assert!(cc.outbox().unwrap().is_empty());
    assert_eq!(cc.attention_list().unwrap().len(), 1);
    assert_eq!(engine.stats().fetched, 1);
}

#[test]
fn documents_left_out_of_a_fetch_answer_do_not_hold_up_the_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    let s2 = signal(&mentor, "p1", 3);
    let mut engine = ClientEngine::new(cc.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![entry(&mentor, s1, 8), entry(&mentor, s2, 9)],
                purge: vec![],
                cursor: 9,
                complete: true,
            }),
        )
        .unwrap();
    // The server sends s1 only (s2 became unreadable meanwhile), then answers the barrier.
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(
                    s1,
                    mentor.document_bytes(s1).unwrap().unwrap(),
                )],
                cursor: 0,
            }),
        )
        .unwrap();
    assert!(
        !out.iter()
            .any(|o| matches!(o, ClientOutput::CaughtUp { .. }))
    );
    let out = engine
        .handle(T0, ClientInput::Received(Frame::LogAck { seq: 0 }))
        .unwrap();
    assert!(out.contains(&ClientOutput::CaughtUp { cursor: 9 }));
    assert!(out.contains(&ClientOutput::Progress { done: 2, total: 2 }));
    assert!(out.contains(&ClientOutput::Idle));
    assert_eq!(cc.setting(SETTING_CURSOR).unwrap().as_deref(), Some("9"));
    // A live frame later moves the cursor on.
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![],
                cursor: 12,
            }),
        )
        .unwrap();
    assert_eq!(cc.setting(SETTING_CURSOR).unwrap().as_deref(), Some("12"));
}

#[test]
fn interrupted_catch_up_keeps_the_old_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    cc.set_setting(SETTING_CURSOR, Some("3")).unwrap();
    let mut engine = ClientEngine::new(cc.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![entry(&mentor, s1, 9)],
                purge: vec![],
                cursor: 9,
                complete: true,
            }),
        )
        .unwrap();
    engine.handle(T0, ClientInput::Disconnected).unwrap();
    assert_eq!(cc.setting(SETTING_CURSOR).unwrap().as_deref(), Some("3"));
    let out = engine.handle(T0, ClientInput::Connected).unwrap();
    assert_eq!(
        sent(&out)[0],
        &Frame::Hello {
            outbox: Some(OutboxState::default()),
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 3
        }
    );
}

#[test]
fn fetch_asks_for_changes_after_the_acknowledged_heads() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    let v1 = mentor.info(s1).unwrap().unwrap().heads;
    cc.merge_bytes(s1, &mentor.document_bytes(s1).unwrap().unwrap())
        .unwrap();
    cc.set_acked_heads(s1, &v1).unwrap();
    mentor
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "gesprek gepland")
        .unwrap();
    let mut engine = ClientEngine::new(cc.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![entry(&mentor, s1, 4)],
                purge: vec![],
                cursor: 4,
                complete: true,
            }),
        )
        .unwrap();
    assert_eq!(
        sent(&out)[0],
        &Frame::Fetch {
            docs: vec![FetchRequest {
                document_id: s1,
                have: ids::heads_to_hex(&v1)
            }]
        }
    );
    let data = mentor.load(s1).unwrap().unwrap().save_after(&v1);
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(s1, data)],
                cursor: 0,
            }),
        )
        .unwrap();
    assert_eq!(cc.signal(s1).unwrap().follow_ups.len(), 1);
    assert_eq!(
        cc.info(s1).unwrap().unwrap().heads,
        mentor.info(s1).unwrap().unwrap().heads
    );
    assert!(cc.outbox().unwrap().is_empty());
}

#[test]
fn catalog_purge_removes_documents() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    cc.merge_bytes(s1, &mentor.document_bytes(s1).unwrap().unwrap())
        .unwrap();
    let mut engine = ClientEngine::new(cc.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![],
                purge: vec![s1],
                cursor: 5,
                complete: true,
            }),
        )
        .unwrap();
    assert!(cc.info(s1).unwrap().is_none());
    assert!(cc.attention_list().unwrap().is_empty());
    assert!(pushes(&out).is_empty(), "a purged document is not pushed");
    assert!(out.contains(&ClientOutput::CaughtUp { cursor: 5 }));
    // A live purge too.
    let s2 = signal(&mentor, "p2", 1);
    cc.merge_bytes(s2, &mentor.document_bytes(s2).unwrap().unwrap())
        .unwrap();
    engine
        .handle(T0, ClientInput::Received(Frame::Purge { docs: vec![s2] }))
        .unwrap();
    assert!(cc.info(s2).unwrap().is_none());
    assert_eq!(engine.stats().purged, 2);
}

#[test]
fn outbox_is_pushed_whole_then_incrementally_and_the_pushed_heads_are_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    let s1 = signal(&teacher, "p1", 1);
    let mut engine = ClientEngine::new(teacher.clone());
    let out = connect(&mut engine);
    let p = pushes(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].len(), 1, "the roster is never pushed");
    assert_eq!(p[0][0].document_id, s1);
    // Never acknowledged: the whole document.
    // The whole document (its stored bytes), loadable on its own.
    assert_eq!(
        Automerge::load(&p[0][0].data).unwrap().get_heads(),
        teacher.load(s1).unwrap().unwrap().get_heads()
    );
    let pushed = sorted(teacher.info(s1).unwrap().unwrap().heads);
    assert!(!out.contains(&ClientOutput::Idle));

    // While the push is in flight the teacher edits again; the server answers with heads
    // that include a change this device does not have. The device records what it pushed.
    teacher
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "ouders gebeld")
        .unwrap();
    let out = engine.handle(T0, ClientInput::LocalChange).unwrap();
    assert!(pushes(&out).is_empty(), "in flight: not pushed twice");
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Ack {
                docs: vec![Acked {
                    document_id: s1,
                    heads: vec!["ff".repeat(32)],
                }],
            }),
        )
        .unwrap();
    assert_eq!(acked(&teacher, s1), Some(pushed.clone()));
    // The second change is still in the outbox and goes out now, as changes after the
    // acknowledged heads.
    let p = pushes(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0][0].data,
        teacher.load(s1).unwrap().unwrap().save_after(&pushed)
    );
    // An answer to the first push arriving again (a push that reached the server twice)
    // does not acknowledge the second: the second change is sent once more (an answer that
    // does not cover the push in flight may be the only one it gets: see on_ack).
    let now_heads = sorted(teacher.info(s1).unwrap().unwrap().heads);
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Ack {
                docs: vec![Acked {
                    document_id: s1,
                    heads: ids::heads_to_hex(&pushed),
                }],
            }),
        )
        .unwrap();
    let p = pushes(&out);
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0][0].data,
        teacher.load(s1).unwrap().unwrap().save_after(&pushed)
    );
    assert_eq!(acked(&teacher, s1), Some(pushed.clone()));
    assert_eq!(
        teacher.outbox().unwrap().len(),
        1,
        "still to be acknowledged"
    );
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Ack {
                docs: vec![Acked {
                    document_id: s1,
                    heads: ids::heads_to_hex(&now_heads),
                }],
            }),
        )
        .unwrap();
    assert!(teacher.outbox().unwrap().is_empty());
    assert!(out.contains(&ClientOutput::Idle));
    assert_eq!(engine.stats().pushed, 2);
}

#[test]
fn missing_deps_pushes_the_whole_document_once() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    let s1 = signal(&teacher, "p1", 1);
    let v1 = teacher.info(s1).unwrap().unwrap().heads;
    teacher.set_acked_heads(s1, &v1).unwrap();
    teacher
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "x")
        .unwrap();
    let mut engine = ClientEngine::new(teacher.clone());
    let p = pushes(&connect(&mut engine));
    assert_eq!(
        p[0][0].data,
        teacher.load(s1).unwrap().unwrap().save_after(&v1)
    );
    let missing = ClientInput::Received(Frame::Refused {
        docs: vec![Refusal {
            document_id: s1,
            reason: RefusalReason::MissingDeps,
        }],
    });
    let out = engine.handle(T0, missing.clone()).unwrap();
    let p = pushes(&out);
    // The whole document (its stored bytes), loadable on its own.
    assert_eq!(
        Automerge::load(&p[0][0].data).unwrap().get_heads(),
        teacher.load(s1).unwrap().unwrap().get_heads()
    );
    assert!(
        !out.iter()
            .any(|o| matches!(o, ClientOutput::Refused { .. }))
    );
    // Missing deps on the whole document: reported, not pushed again.
    let out = engine.handle(T0, missing).unwrap();
    assert!(pushes(&out).is_empty());
    assert!(out.contains(&ClientOutput::Refused {
        document_id: s1,
        reason: RefusalReason::MissingDeps
    }));
}

fn refused(id: DocumentId, reason: RefusalReason) -> ClientInput {
    ClientInput::Received(Frame::Refused {
        docs: vec![Refusal {
            document_id: id,
            reason,
        }],
    })
}

fn fetches(out: &[ClientOutput]) -> Vec<FetchRequest> {
    sent(out)
        .into_iter()
        .filter_map(|f| match f {
            Frame::Fetch { docs } => Some(docs.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A new signal the server refuses for good (forbidden, though its author may read
/// it): not left on the device as a copy the server will never hold, and not dropped
/// either: a not-accepted item with the reason and the signal as she wrote it.
#[test]
fn a_new_document_refused_for_good_becomes_a_not_accepted_item() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    let s1 = signal(&teacher, "p1", 1);
    let mut engine = ClientEngine::new(teacher.clone());
    assert_eq!(pushes(&connect(&mut engine)).len(), 1);
    let out = engine
        .handle(T0, refused(s1, RefusalReason::Forbidden))
        .unwrap();
    assert!(out.contains(&ClientOutput::Refused {
        document_id: s1,
        reason: RefusalReason::Forbidden
    }));
    assert!(pushes(&out).is_empty());
    // The server never held it: the device holds nothing of it either, and asks the
    // server for whatever it holds (nothing: the answer leaves it out).
    assert!(teacher.info(s1).unwrap().is_none());
    assert!(teacher.outbox().unwrap().is_empty());
    let asked = fetches(&out);
    assert_eq!(asked.len(), 1);
    assert_eq!((asked[0].document_id, asked[0].have.len()), (s1, 0));
    let items = teacher.not_accepted().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].document_id, items[0].kind, items[0].reason),
        (s1, Kind::Signal, RefusalReason::Forbidden)
    );
    assert_eq!(items[0].pupil.as_deref(), Some("p1"));
    match teacher.not_accepted_content(items[0].id).unwrap().body {
        doc::Body::Signal(s) => assert_eq!(s.facts, "facts"),
        other => panic!("a signal, not {other:?}"),
    }
    assert_eq!(engine.stats().not_accepted, 1);
    // The barrier after the fetch is answered: idle, and nothing is sent again.
    let out = engine
        .handle(T0, ClientInput::Received(Frame::LogAck { seq: 0 }))
        .unwrap();
    assert!(out.contains(&ClientOutput::Idle));
    for _ in 0..3 {
        assert!(pushes(&engine.handle(T0, ClientInput::Tick).unwrap()).is_empty());
    }
    // Discarded by its author: gone.
    teacher.discard_not_accepted(items[0].id).unwrap();
    assert!(teacher.not_accepted().unwrap().is_empty());
    assert!(matches!(
        teacher.discard_not_accepted(items[0].id),
        Err(Error::NotFound)
    ));
}

/// Seed 431136238 of the simulation: a change to a document the server holds, refused
/// for good (invalid_record), left the device with other heads than the server for
/// good. Now the document goes back to what the server acknowledged, the change is a
/// not-accepted item, and the device fetches what the server holds beyond.
#[test]
fn a_change_refused_for_good_returns_the_document_to_the_servers_version() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let c = mentor
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    mentor.edit_notes(c, 0, 0, "eerste versie").unwrap();
    let v1 = sorted(mentor.info(c).unwrap().unwrap().heads);
    mentor.set_acked_heads(c, &v1).unwrap();
    let actor_before = mentor.writer_actor();
    mentor.edit_notes(c, 0, 0, "niet geaccepteerd ").unwrap();
    let mut engine = ClientEngine::new(mentor.clone());
    let out = connect(&mut engine);
    assert_eq!(pushes(&out).len(), 1, "the change goes out");
    let out = engine
        .handle(T0, refused(c, RefusalReason::InvalidRecord))
        .unwrap();
    // Back at the server's version, nothing waiting to be sent.
    assert_eq!(sorted(mentor.info(c).unwrap().unwrap().heads), v1);
    assert_eq!(acked(&mentor, c), Some(v1.clone()));
    assert_eq!(
        mentor.conversation(c).unwrap().notes.as_str(),
        "eerste versie"
    );
    assert!(mentor.outbox().unwrap().is_empty());
    // The refused text is kept for her, with the reason.
    let items = mentor.not_accepted().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].reason, RefusalReason::InvalidRecord);
    match mentor.not_accepted_content(items[0].id).unwrap().body {
        doc::Body::Conversation(k) => {
            assert_eq!(k.notes.as_str(), "niet geaccepteerd eerste versie")
        }
        other => panic!("a conversation, not {other:?}"),
    }
    // What the server holds beyond its acknowledgement is fetched.
    let asked = fetches(&out);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].have, ids::heads_to_hex(&v1));
    // Later writes use a fresh actor: no sequence number of the dropped change is
    // used again.
    assert_ne!(mentor.writer_actor(), actor_before);
    mentor.edit_notes(c, 0, 0, "opnieuw ").unwrap();
    let out = engine.handle(T0, ClientInput::LocalChange).unwrap();
    assert_eq!(pushes(&out).len(), 1, "a new entry goes out as usual");
}

/// Seed 788754574 of the simulation: a push of several changes of this device was
/// refused for good because of its last one (an edit an out-of-date app made); setting
/// the whole push aside dropped the earlier changes, which a restored server had lost
/// and only this device could give back. Now the changes go again one at a time, and
/// only the refused one (and what follows it) is set aside.
#[test]
fn a_refused_push_of_several_changes_goes_again_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let c = mentor
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    let v0 = sorted(mentor.info(c).unwrap().unwrap().heads);
    mentor.set_acked_heads(c, &v0).unwrap();
    let mut after = vec![];
    for text in ["een ", "twee ", "drie "] {
        mentor.edit_notes(c, 0, 0, text).unwrap();
        after.push(sorted(mentor.info(c).unwrap().unwrap().heads));
    }
    let single = |out: &[ClientOutput]| -> ChangeHash {
        let pushed = pushes(out).concat();
        assert_eq!(pushed.len(), 1);
        automerge::Change::from_bytes(pushed[0].data.clone())
            .expect("one change")
            .hash()
    };
    let ack = |heads: &[ChangeHash]| {
        ClientInput::Received(Frame::Ack {
            docs: vec![Acked {
                document_id: c,
                heads: ids::heads_to_hex(heads),
            }],
        })
    };
    let mut engine = ClientEngine::new(mentor.clone());
    assert_eq!(pushes(&connect(&mut engine)).concat().len(), 1);
    // All three refused: no verdict yet, the first change goes alone.
    let out = engine
        .handle(T0, refused(c, RefusalReason::InvalidRecord))
        .unwrap();
    assert!(
        !out.iter()
            .any(|o| matches!(o, ClientOutput::Refused { .. }))
    );
    assert_eq!(vec![single(&out)], after[0]);
    let out = engine.handle(T0, ack(&after[0])).unwrap();
    assert_eq!(vec![single(&out)], after[1]);
    let out = engine.handle(T0, ack(&after[1])).unwrap();
    assert_eq!(vec![single(&out)], after[2]);
    // The third is the one.
    let out = engine
        .handle(T0, refused(c, RefusalReason::InvalidRecord))
        .unwrap();
    assert!(out.contains(&ClientOutput::Refused {
        document_id: c,
        reason: RefusalReason::InvalidRecord
    }));
    assert_eq!(sorted(mentor.info(c).unwrap().unwrap().heads), after[1]);
    assert_eq!(acked(&mentor, c), Some(after[1].clone()));
    assert_eq!(mentor.conversation(c).unwrap().notes.as_str(), "twee een ");
    let [item] = &mentor.not_accepted().unwrap()[..] else {
        panic!("one item")
    };
    match mentor.not_accepted_content(item.id).unwrap().body {
        doc::Body::Conversation(k) => assert_eq!(k.notes.as_str(), "drie twee een "),
        other => panic!("a conversation, not {other:?}"),
    }
    assert!(pushes(&engine.handle(T0, ClientInput::Tick).unwrap()).is_empty());
}

/// Going one change at a time ends: once all got in, a later edit goes as usual; and a
/// single change the server cannot place (missing_deps) is set aside for the reason
/// that started it, not sent whole again and again.
#[test]
fn one_change_at_a_time_ends_when_all_got_in_or_one_cannot_be_placed() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let c = mentor
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    let v0 = sorted(mentor.info(c).unwrap().unwrap().heads);
    mentor.set_acked_heads(c, &v0).unwrap();
    mentor.edit_notes(c, 0, 0, "een ").unwrap();
    mentor.edit_notes(c, 0, 0, "twee ").unwrap();
    let v2 = sorted(mentor.info(c).unwrap().unwrap().heads);
    let mut engine = ClientEngine::new(mentor.clone());
    connect(&mut engine);
    engine
        .handle(T0, refused(c, RefusalReason::InvalidRecord))
        .unwrap();
    // (The server had only refused them together, say after a roster change that it
    // undid since: both get in, one at a time.)
    let mid = sorted(mentor.info(c).unwrap().unwrap().heads);
    let ack = |heads: Vec<ChangeHash>| {
        ClientInput::Received(Frame::Ack {
            docs: vec![Acked {
                document_id: c,
                heads: ids::heads_to_hex(&heads),
            }],
        })
    };
    let first = mentor.load(c).unwrap().unwrap().get_changes(&v0)[0].hash();
    let out = engine.handle(T0, ack(vec![first])).unwrap();
    assert_eq!(pushes(&out).concat().len(), 1);
    let out = engine.handle(T0, ack(mid.clone())).unwrap();
    assert!(pushes(&out).is_empty());
    assert_eq!(acked(&mentor, c), Some(v2.clone()));
    // A later edit goes as usual (its push holds what changed, in one frame).
    mentor.edit_notes(c, 0, 0, "drie ").unwrap();
    mentor.edit_notes(c, 0, 0, "vier ").unwrap();
    let out = engine.handle(T0, ClientInput::LocalChange).unwrap();
    let pushed = pushes(&out).concat();
    assert_eq!(pushed.len(), 1);
    assert!(automerge::Change::from_bytes(pushed[0].data.clone()).is_err());
    // Refused again: one at a time; the first cannot be placed: set aside as refused.
    let out = engine
        .handle(T0, refused(c, RefusalReason::Forbidden))
        .unwrap();
    assert_eq!(pushes(&out).concat().len(), 1);
    let out = engine
        .handle(T0, refused(c, RefusalReason::MissingDeps))
        .unwrap();
    assert!(out.contains(&ClientOutput::Refused {
        document_id: c,
        reason: RefusalReason::Forbidden
    }));
    assert!(pushes(&out).is_empty());
    assert_eq!(sorted(mentor.info(c).unwrap().unwrap().heads), v2);
    assert_eq!(mentor.not_accepted().unwrap().len(), 1);
}

/// After a restore from a backup, a device sends back documents of others the server
/// lost; the server takes them only from their authors (forbidden for anyone else).
/// That is not this user's entry refused: the document waits, unsent, and goes again
/// once the server has it.
#[test]
fn a_document_of_another_author_a_restored_server_lacks_waits_for_its_author() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&teacher, "p1", 2);
    // The coordinator holds it with a follow-up of her own; the server lost both.
    cc.merge_bytes(s1, &teacher.document_bytes(s1).unwrap().unwrap())
        .unwrap();
    cc.append_follow_up(s1, FollowUpKind::ToSignaller, "opgepakt")
        .unwrap();
    let mut engine = ClientEngine::new(cc.clone());
    assert_eq!(pushes(&connect(&mut engine)).len(), 1);
    let out = engine
        .handle(T0, refused(s1, RefusalReason::Forbidden))
        .unwrap();
    assert!(cc.not_accepted().unwrap().is_empty());
    assert_eq!(cc.signal(s1).unwrap().follow_ups.len(), 1, "kept as it was");
    assert!(fetches(&out).is_empty());
    assert!(pushes(&engine.handle(T0, ClientInput::Tick).unwrap()).is_empty());
    // The teacher's device gave it back: the server sends it, and it goes again.
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(
                    s1,
                    teacher.document_bytes(s1).unwrap().unwrap(),
                )],
                cursor: 0,
            }),
        )
        .unwrap();
    assert_eq!(pushes(&out).len(), 1);
}

/// Seed 431138710 of the simulation: a document waiting for others' changes (refused as
/// forged_actor after a restore) was never sent again after the server store was
/// restored a second time: the refusal was remembered across lineages.
#[test]
fn a_second_restore_sends_again_what_waited_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&cc, "p1", 2);
    let heads = cc.info(s1).unwrap().unwrap().heads;
    cc.set_acked_heads(s1, &heads).unwrap();
    cc.set_setting(SETTING_EPOCH, Some("a")).unwrap();
    let mut engine = ClientEngine::new(cc.clone());
    let restored = |epoch: &str| {
        ClientInput::Received(Frame::Catalog {
            entries: vec![],
            purge: vec![],
            cursor: 1,
            complete: true,
            epoch: Some(epoch.into()),
        })
    };
    // Restored once: not listed, so sent whole; refused (it held others' changes, say)
    // and nothing of its own to send alone: it waits.
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine.handle(T0, restored("b")).unwrap();
    assert_eq!(pushes(&out).len(), 1);
    let out = engine
        .handle(T0, refused(s1, RefusalReason::MissingDeps))
        .unwrap();
    assert!(pushes(&out).is_empty());
    assert!(pushes(&engine.handle(T0, ClientInput::Tick).unwrap()).is_empty());
    // Restored again: a new lineage, and it goes again.
    engine.handle(T0, ClientInput::Disconnected).unwrap();
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine.handle(T0, restored("c")).unwrap();
    assert_eq!(pushes(&out).len(), 1);
}

#[test]
fn forbidden_document_the_user_may_no_longer_read_is_purged() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    // A thermometer month of a pupil of her group, written offline...
    let id = teacher
        .record_thermometer(crate::store::NewThermometerEntry {
            pupil: "p2".into(),
            at: T0,
            score: 3,
            emotions: vec![],
            wants_to_talk: false,
            note: None,
        })
        .unwrap();
    let mut engine = ClientEngine::new(teacher.clone());
    connect(&mut engine);
    // ...while the roster moved her off the group: the server refuses it and so would
    // her own device.
    let mut r = roster();
    r.groups
        .get_mut("6a")
        .unwrap()
        .teachers
        .retain(|t| t != "t1");
    let rid = doc::roster_id(SCHOOL);
    let mut d = teacher.load(rid).unwrap().unwrap();
    let server = automerge::ActorId::from(b"server-actor-000".to_vec());
    doc::update::<Roster>(rid, &mut d, &server, T0, |x| {
        *x = r;
        Ok(())
    })
    .unwrap();
    teacher.merge_bytes(rid, &d.save()).unwrap();
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Refused {
                docs: vec![Refusal {
                    document_id: id,
                    reason: RefusalReason::Forbidden,
                }],
            }),
        )
        .unwrap();
    assert!(out.contains(&ClientOutput::Refused {
        document_id: id,
        reason: RefusalReason::Forbidden
    }));
    assert!(teacher.info(id).unwrap().is_none());
}

#[test]
fn pushes_are_batched() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    for _ in 0..PUSH_BATCH_DOCS + 3 {
        signal(&teacher, "p2", 1);
    }
    let mut engine = ClientEngine::new(teacher.clone());
    let p = pushes(&connect(&mut engine));
    assert_eq!(
        p.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![PUSH_BATCH_DOCS, 3]
    );
}

#[test]
fn revoked_wipes_the_store_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    signal(&teacher, "p1", 1);
    let mut engine = ClientEngine::new(teacher.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine
        .handle(T0, ClientInput::Received(Frame::Revoked {}))
        .unwrap();
    assert_eq!(out, vec![ClientOutput::Revoked, ClientOutput::Close]);
    assert!(teacher.is_wiped());
    assert!(matches!(teacher.documents(), Err(Error::Revoked)));
    assert!(!dir.path().join("t1.db").exists());
    assert!(engine.is_revoked());
    assert!(matches!(
        engine.handle(T0, ClientInput::Connected),
        Err(Error::Revoked)
    ));
}

#[test]
fn server_error_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = ClientEngine::new(store_for(dir.path(), "t1"));
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Error {
                code: ErrorCode::UnsupportedVersion,
                message: "nope".into(),
            }),
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            ClientOutput::ServerError {
                code: ErrorCode::UnsupportedVersion,
                message: "nope".into()
            },
            ClientOutput::Close
        ]
    );
    assert!(!engine.is_connected());
}

#[test]
fn read_log_is_uploaded_and_marked_on_log_ack() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    let s1 = signal(&teacher, "p1", 1);
    teacher.signal(s1).unwrap();
    teacher.signal(s1).unwrap();
    let mut engine = ClientEngine::new(teacher.clone());
    let out = engine.handle(T0, ClientInput::Connected).unwrap();
    let log = sent(&out)
        .into_iter()
        .find_map(|f| match f {
            Frame::ReadLog { entries } => Some(entries.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .all(|e| e.document_id == s1 && e.kind == "signal")
    );
    engine
        .handle(T0, ClientInput::Received(Frame::LogAck { seq: log[1].seq }))
        .unwrap();
    assert!(teacher.pending_access_log(10).unwrap().is_empty());
    assert_eq!(engine.stats().log_uploaded, 2);
}

#[test]
fn live_docs_merge_and_stay_out_of_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let mut engine = ClientEngine::new(cc.clone());
    connect(&mut engine);
    // A new document, whole.
    let s1 = signal(&mentor, "p1", 2);
    let v1 = mentor.info(s1).unwrap().unwrap().heads;
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(
                    s1,
                    mentor.document_bytes(s1).unwrap().unwrap(),
                )],
                cursor: 11,
            }),
        )
        .unwrap();
    assert!(cc.outbox().unwrap().iter().all(|e| e.id != s1));
    // Then a change on top of it, while the coordinator has a change of her own pending.
    cc.append_follow_up(s1, crate::model::FollowUpKind::ToSignaller, "opgepakt")
        .unwrap();
    mentor
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "ouders gebeld")
        .unwrap();
    let data = mentor.load(s1).unwrap().unwrap().save_after(&v1);
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(s1, data)],
                cursor: 12,
            }),
        )
        .unwrap();
    assert_eq!(cc.signal(s1).unwrap().follow_ups.len(), 2);
    // The server is known to hold the mentor's heads; the coordinator's change is pending.
    assert_eq!(
        acked(&cc, s1),
        Some(sorted(mentor.info(s1).unwrap().unwrap().heads))
    );
    assert_eq!(
        cc.outbox().unwrap().iter().filter(|e| e.id == s1).count(),
        1
    );
    assert_eq!(engine.stats().received_live, 2);
}

/// Seed 431137075 of the simulation: a device held v1 of a signal; the server had v2
/// and v3 (v3 on top of v2). The catalog listed v2, and while the device's fetch was in
/// flight the live push of v3 arrived first. v3 cannot apply without v2, so Automerge
/// held it back, yet the push was taken for the fetch answer and v2 recorded as
/// acknowledged: the device then believed it had what it never got and, once the real
/// answer was lost with the connection, stayed at v1 for good.
#[test]
fn a_live_push_that_overtakes_a_fetch_answer_never_marks_missing_changes_as_held() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    let v1 = sorted(mentor.info(s1).unwrap().unwrap().heads);
    cc.merge_bytes(s1, &mentor.document_bytes(s1).unwrap().unwrap())
        .unwrap();
    cc.set_acked_heads(s1, &v1).unwrap();
    mentor
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "v2")
        .unwrap();
    let v2 = sorted(mentor.info(s1).unwrap().unwrap().heads);
    let catalog_v2 = entry(&mentor, s1, 5);
    mentor
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "v3")
        .unwrap();
    let v3 = sorted(mentor.info(s1).unwrap().unwrap().heads);
    let v3_alone = mentor.load(s1).unwrap().unwrap().save_after(&v2);

    let mut engine = ClientEngine::new(cc.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![catalog_v2],
                purge: vec![],
                cursor: 5,
                complete: true,
            }),
        )
        .unwrap();
    assert!(sent(&out).iter().any(|f| matches!(f, Frame::Fetch { .. })));
    // The live push of v3 arrives before the fetch answer.
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(s1, v3_alone)],
                cursor: 6,
            }),
        )
        .unwrap();
    // Nothing it lacks is recorded as held: still v1, acknowledged v1.
    assert_eq!(sorted(cc.info(s1).unwrap().unwrap().heads), v1);
    assert_eq!(acked(&cc, s1), Some(v1.clone()));
    // It fetches the gap: everything after what the server acknowledged to it.
    let gap: Vec<&FetchRequest> = sent(&out)
        .into_iter()
        .filter_map(|f| match f {
            Frame::Fetch { docs } => Some(docs),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(gap.len(), 1);
    assert_eq!(gap[0].document_id, s1);
    assert_eq!(gap[0].have, ids::heads_to_hex(&v1));
    assert!(!engine.is_caught_up());
    // The connection breaks before any answer: the cursor was not stored, so the next
    // catch-up lists the signal again.
    engine.handle(T0, ClientInput::Disconnected).unwrap();
    assert_eq!(cc.setting(SETTING_CURSOR).unwrap(), None);
    // The next connection: the catalog lists v3; the fetch answer brings v2 and v3.
    engine.handle(T0, ClientInput::Connected).unwrap();
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![entry(&mentor, s1, 6)],
                purge: vec![],
                cursor: 6,
                complete: true,
            }),
        )
        .unwrap();
    let answer = mentor.load(s1).unwrap().unwrap().save_after(&v1);
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(s1, answer)],
                cursor: 0,
            }),
        )
        .unwrap();
    assert!(out.contains(&ClientOutput::CaughtUp { cursor: 6 }));
    assert_eq!(sorted(cc.info(s1).unwrap().unwrap().heads), v3);
    assert_eq!(acked(&cc, s1), Some(v3));
    assert_eq!(cc.signal(s1).unwrap().follow_ups.len(), 2);
}

/// The answer to a gap fetch that the server leaves out (the user may no longer read
/// the document) does not hold up the session: the barrier after it clears it.
#[test]
fn a_gap_fetch_left_out_by_the_server_does_not_hold_up_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    let v1 = sorted(mentor.info(s1).unwrap().unwrap().heads);
    cc.merge_bytes(s1, &mentor.document_bytes(s1).unwrap().unwrap())
        .unwrap();
    cc.set_acked_heads(s1, &v1).unwrap();
    mentor
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "v2")
        .unwrap();
    let v2 = sorted(mentor.info(s1).unwrap().unwrap().heads);
    mentor
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "v3")
        .unwrap();
    let v3_alone = mentor.load(s1).unwrap().unwrap().save_after(&v2);
    let mut engine = ClientEngine::new(cc.clone());
    connect(&mut engine);
    assert!(engine.is_idle());
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(s1, v3_alone)],
                cursor: 7,
            }),
        )
        .unwrap();
    // The gap is fetched; the live frame's cursor is not kept while it is open, and the
    // one kept before is dropped: it may cover the document already (seed 2124905624: a
    // change set aside took it back to older heads, the answer was lost with the
    // connection, and the next catch-up from the kept cursor did not list it again).
    assert!(sent(&out).iter().any(|f| matches!(f, Frame::Fetch { .. })));
    assert_eq!(cc.setting(SETTING_CURSOR).unwrap().as_deref(), Some("0"));
    assert!(!engine.is_idle());
    // The server leaves the fetch out and answers the barrier.
    engine
        .handle(T0, ClientInput::Received(Frame::LogAck { seq: 0 }))
        .unwrap();
    assert!(engine.is_idle());
    assert_eq!(acked(&cc, s1), Some(v1));
}

#[test]
fn catalog_heads_already_held_acknowledge_without_fetching() {
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    let s1 = signal(&teacher, "p1", 1);
    let v1 = teacher.info(s1).unwrap().unwrap().heads;
    let e1 = entry(&teacher, s1, 3);
    teacher
        .append_follow_up(s1, crate::model::FollowUpKind::FollowUp, "x")
        .unwrap();
    // The server holds v1 (an ack was lost); this device is ahead.
    let mut engine = ClientEngine::new(teacher.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                epoch: None,
                entries: vec![e1],
                purge: vec![],
                cursor: 3,
                complete: true,
            }),
        )
        .unwrap();
    assert!(!sent(&out).iter().any(|f| matches!(f, Frame::Fetch { .. })));
    let p = pushes(&out);
    assert_eq!(
        p[0][0].data,
        teacher.load(s1).unwrap().unwrap().save_after(&v1)
    );
}

#[test]
fn malformed_document_from_the_server_does_not_block_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let mentor = store_for(dir.path(), "m1");
    let cc = store_for(dir.path(), "cc");
    let s1 = signal(&mentor, "p1", 2);
    let bad = DocumentId::random();
    let mut engine = ClientEngine::new(cc.clone());
    connect(&mut engine);
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![
                    DocChanges::new(bad, vec![1, 2, 3]),
                    DocChanges::new(s1, mentor.document_bytes(s1).unwrap().unwrap()),
                ],
                cursor: 2,
            }),
        )
        .unwrap();
    assert!(cc.info(bad).unwrap().is_none());
    assert_eq!(cc.signal(s1).unwrap().urgency, 2);
}

#[test]
fn an_ack_that_crossed_a_purge_and_a_regrant_fetches_what_the_copy_lacks() {
    // Seed 467643386: a care coordinator's push was on its way when a care-track change
    // purged the conversation on her device; the next change gave it back at the server's
    // older version, and only then came the ack of her push. The copy lacked her own change
    // and the device believed it was in sync.
    let dir = tempfile::tempdir().unwrap();
    let teacher = store_for(dir.path(), "t1");
    let s1 = signal(&teacher, "p1", 1);
    let mut engine = ClientEngine::new(teacher.clone());
    let out = connect(&mut engine);
    assert_eq!(pushes(&out).len(), 1);
    let first = sorted(teacher.info(s1).unwrap().unwrap().heads);
    let old_bytes = teacher.load(s1).unwrap().unwrap().save();
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Ack {
                docs: vec![Acked {
                    document_id: s1,
                    heads: ids::heads_to_hex(&first),
                }],
            }),
        )
        .unwrap();
    // Her change (in Dutch, with accents) goes out...
    teacher
        .append_follow_up(
            s1,
            crate::model::FollowUpKind::FollowUp,
            "één gesprek met zorgcoördinator",
        )
        .unwrap();
    let out = engine.handle(T0, ClientInput::LocalChange).unwrap();
    assert_eq!(pushes(&out).len(), 1);
    let mine = sorted(teacher.info(s1).unwrap().unwrap().heads);
    // ...a purge crosses it, the document comes back at the older version...
    engine
        .handle(T0, ClientInput::Received(Frame::Purge { docs: vec![s1] }))
        .unwrap();
    assert!(teacher.info(s1).unwrap().is_none());
    engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges {
                    document_id: s1,
                    data: old_bytes,
                    heads: ids::heads_to_hex(&first),
                    summary: None,
                }],
                cursor: 0,
            }),
        )
        .unwrap();
    assert_eq!(acked(&teacher, s1), Some(first.clone()));
    // ...and the server's ack of her push arrives: the copy lacks it, so it is fetched.
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Ack {
                docs: vec![Acked {
                    document_id: s1,
                    heads: ids::heads_to_hex(&mine),
                }],
            }),
        )
        .unwrap();
    let f = fetches(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].document_id, s1);
    assert_eq!(f[0].have, ids::heads_to_hex(&first));
    // An ack the copy already holds (a push answered twice) fetches nothing.
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Ack {
                docs: vec![Acked {
                    document_id: s1,
                    heads: ids::heads_to_hex(&first),
                }],
            }),
        )
        .unwrap();
    assert!(fetches(&out).is_empty());
}

/// After a restore the server's roster replaces the device's (what the old lineage added is
/// dropped, not merged), and the device holds a roster all the while: it is replaced when
/// the answer comes, not purged before the fetch (which left the device judging every
/// access as none until then).
#[test]
fn a_restored_servers_roster_replaces_the_held_one_when_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_for(dir.path(), "t1");
    let rid = doc::roster_id(SCHOOL);
    let restored_heads = store.info(rid).unwrap().unwrap().heads;
    // The server of lineage "a" added a pupil after the backup was taken.
    let mut d = store.load(rid).unwrap().unwrap();
    let server = automerge::ActorId::from(b"server-actor-000".to_vec());
    doc::update::<Roster>(rid, &mut d, &server, T0 + 1, |r| {
        let mut p3 = r.pupils["p2"].clone();
        p3.id = "p3".into();
        p3.display_name = "Pupil p3".into();
        r.pupils.insert("p3".into(), p3);
        Ok(())
    })
    .unwrap();
    let later = store.merge_bytes(rid, &d.save()).unwrap();
    store.set_acked_heads(rid, &later).unwrap();
    let s1 = signal(&store, "p1", 2);
    let heads = store.info(s1).unwrap().unwrap().heads;
    store.set_acked_heads(s1, &heads).unwrap();
    store.set_setting(SETTING_EPOCH, Some("a")).unwrap();
    assert!(store.roster().unwrap().pupils.contains_key("p3"));

    let mut engine = ClientEngine::new(store.clone());
    engine.handle(T0, ClientInput::Connected).unwrap();
    let restored_entry = CatalogEntry {
        heads: ids::heads_to_hex(&restored_heads),
        ..entry(&store, rid, 1)
    };
    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Catalog {
                entries: vec![restored_entry, entry(&store, s1, 2)],
                purge: vec![],
                cursor: 2,
                complete: true,
                epoch: Some("b".into()),
            }),
        )
        .unwrap();
    let asked = fetches(&out);
    assert_eq!(asked.len(), 1, "the roster, whole");
    assert_eq!(asked[0].document_id, rid);
    assert!(asked[0].have.is_empty());
    // Until the answer comes the device still holds a roster, and her signal stays hers.
    assert!(store.holds_roster().unwrap());
    assert_eq!(store.roster().unwrap().pupils.len(), 3);
    assert!(engine.knows_access().unwrap());
    assert!(engine.may_read(s1).unwrap());

    let out = engine
        .handle(
            T0,
            ClientInput::Received(Frame::Docs {
                docs: vec![DocChanges::new(rid, roster_bytes())],
                cursor: 0,
            }),
        )
        .unwrap();
    assert!(out.contains(&ClientOutput::Progress { done: 1, total: 1 }));
    // Replaced, not merged: the pupil the old lineage added is gone.
    let info = store.info(rid).unwrap().unwrap();
    assert_eq!(sorted(info.heads), sorted(restored_heads.clone()));
    assert_eq!(info.acked_heads.map(sorted), Some(sorted(restored_heads)));
    let roster = store.roster().unwrap();
    assert_eq!(roster.pupils.len(), 2);
    assert!(!roster.pupils.contains_key("p3"));
    assert!(store.signal(s1).is_ok(), "her signal is untouched");
}
