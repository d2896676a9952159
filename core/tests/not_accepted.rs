//! Changes the server refused for good, kept as "not accepted" items for their author
//! (core/src/store/not_accepted.rs): what the item holds, what the document goes back to,
//! and when items go (discard, purge, erasure, roster change; not with the trip cache).

mod common;

use common::*;
use omkijken_core::doc::{self, Body};
use omkijken_core::model::Kind;
use omkijken_core::sync::frames::RefusalReason;
use omkijken_core::{Error, Store};

/// A signal of `store`'s user, acknowledged by the server as it is now.
fn acked_signal(store: &Store, facts: &str) -> omkijken_core::DocumentId {
    let id = store.record_signal(signal("p1", 2, facts)).unwrap();
    let heads = store.info(id).unwrap().unwrap().heads;
    store.set_acked_heads(id, &heads).unwrap();
    id
}

#[test]
fn a_refused_change_is_kept_whole_and_the_document_returns_to_the_acknowledged_heads() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let id = acked_signal(&m1, "op het plein");
    let acked = m1.info(id).unwrap().unwrap().heads;
    m1.append_follow_up(
        id,
        omkijken_core::model::FollowUpKind::FollowUp,
        "gesprek met ouders",
    )
    .unwrap();
    assert!(m1.outbox().unwrap().iter().any(|e| e.id == id));

    let set = m1
        .set_aside_refused(id, RefusalReason::InvalidRecord)
        .unwrap()
        .expect("held");
    assert_eq!(set.heads, acked);
    // The document is the server's version again: no follow-up, nothing to send, and the
    // list (projection) agrees.
    assert_eq!(m1.info(id).unwrap().unwrap().heads, acked);
    assert!(m1.signal(id).unwrap().follow_ups.is_empty());
    assert!(m1.outbox().unwrap().iter().all(|e| e.id != id));
    let listed = m1.list_signals(&Default::default()).unwrap();
    assert_eq!(listed.iter().find(|s| s.id == id).unwrap().follow_ups, 0);
    // The item holds the signal as the device had it, with the reason.
    let items = m1.not_accepted().unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.id, set.item);
    assert_eq!(
        (
            item.document_id,
            item.kind,
            item.reason,
            item.pupil.as_deref()
        ),
        (id, Kind::Signal, RefusalReason::InvalidRecord, Some("p1"))
    );
    assert_eq!(item.refused_at, T0);
    match m1.not_accepted_content(item.id).unwrap().body {
        Body::Signal(s) => {
            assert_eq!(s.facts, "op het plein");
            assert_eq!(s.follow_ups.len(), 1);
            assert_eq!(s.follow_ups[0].text, "gesprek met ouders");
        }
        other => panic!("a signal, not {other:?}"),
    }
    // Reading it is a read of care content: logged.
    assert!(
        m1.pending_access_log(100)
            .unwrap()
            .iter()
            .any(|e| e.doc == id)
    );
    // The item survives a reopen.
    drop(m1);
    let (m1, _) = store_for(dir.path(), "m1");
    assert_eq!(m1.not_accepted().unwrap().len(), 1);
}

#[test]
fn a_refused_document_the_server_never_held_is_removed_and_kept_as_an_item() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let id = m1.record_signal(signal("p1", 2, "nieuw")).unwrap();
    let set = m1
        .set_aside_refused(id, RefusalReason::Forbidden)
        .unwrap()
        .unwrap();
    assert!(set.heads.is_empty());
    assert!(m1.info(id).unwrap().is_none());
    assert!(m1.list_signals(&Default::default()).unwrap().is_empty());
    assert!(matches!(m1.signal(id), Err(Error::NotFound)));
    assert!(matches!(
        m1.not_accepted_content(set.item).unwrap().body,
        Body::Signal(s) if s.facts == "nieuw"
    ));
    // Nothing held: nothing to set aside.
    assert_eq!(
        m1.set_aside_refused(id, RefusalReason::Forbidden).unwrap(),
        None
    );
}

#[test]
fn items_go_when_discarded_purged_or_no_longer_readable_but_not_with_the_trip_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let a = acked_signal(&m1, "a");
    let b = acked_signal(&m1, "b");
    let c = acked_signal(&m1, "c");
    for id in [a, b, c] {
        m1.append_follow_up(id, omkijken_core::model::FollowUpKind::FollowUp, "x")
            .unwrap();
        m1.set_aside_refused(id, RefusalReason::InvalidRecord)
            .unwrap();
    }
    let item_of = |store: &Store, id| {
        store
            .not_accepted()
            .unwrap()
            .into_iter()
            .find(|i| i.document_id == id)
            .map(|i| i.id)
    };
    // Discarded by its author.
    m1.discard_not_accepted(item_of(&m1, a).unwrap()).unwrap();
    assert_eq!(item_of(&m1, a), None);
    // The trip cache wipe (these signals were recorded on trip-1, all acknowledged) takes
    // the signals but leaves the items: they are their author's to copy or discard.
    assert_eq!(m1.wipe_excursion_cache("trip-1").unwrap(), 3);
    assert!(item_of(&m1, b).is_some() && item_of(&m1, c).is_some());
    // Purged (access ended, or erased): the item goes with the document.
    m1.purge(b).unwrap();
    assert_eq!(item_of(&m1, b), None);
    // An item of a thermometer month of p1 (no author: read by p1's mentors)...
    let entry = || omkijken_core::store::NewThermometerEntry {
        pupil: "p1".into(),
        at: T0,
        score: 3,
        emotions: vec![],
        wants_to_talk: false,
        note: None,
    };
    let month = m1.record_thermometer(entry()).unwrap();
    let heads = m1.info(month).unwrap().unwrap().heads;
    m1.set_acked_heads(month, &heads).unwrap();
    m1.record_thermometer(entry()).unwrap();
    m1.set_aside_refused(month, RefusalReason::Forbidden)
        .unwrap();
    assert!(item_of(&m1, month).is_some());
    // ...and the roster moves p1 to another mentor: the user may no longer read the month,
    // so its item goes (her own signal's stays: an author reads back her signals).
    let mut r = roster();
    r.pupils.get_mut("p1").unwrap().mentors = vec!["m2".into()];
    r.groups
        .get_mut("6a")
        .unwrap()
        .teachers
        .retain(|t| t != "m1");
    let rid = doc::roster_id(SCHOOL);
    let mut d = m1.load(rid).unwrap().unwrap();
    let server = automerge::ActorId::from(b"server-actor-000".to_vec());
    doc::update::<omkijken_core::model::Roster>(rid, &mut d, &server, T0, |x| {
        *x = r;
        Ok(())
    })
    .unwrap();
    m1.merge_bytes(rid, &d.save()).unwrap();
    assert_eq!(m1.drop_unreadable_not_accepted().unwrap(), 1);
    assert_eq!(item_of(&m1, month), None);
    assert!(item_of(&m1, c).is_some());
}

#[test]
fn reading_an_item_obeys_the_offline_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, clock) = store_for(dir.path(), "m1");
    m1.mark_synced().unwrap();
    let id = m1.record_signal(signal("p1", 2, "nieuw")).unwrap();
    let set = m1
        .set_aside_refused(id, RefusalReason::Forbidden)
        .unwrap()
        .unwrap();
    clock.advance(31 * DAY);
    assert!(matches!(
        m1.not_accepted_content(set.item),
        Err(Error::Locked)
    ));
    // The list (kind, pupil id, reason: no content) still shows what waits.
    assert_eq!(m1.not_accepted().unwrap().len(), 1);
}
