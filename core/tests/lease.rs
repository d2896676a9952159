//! The offline lease through the store's public API: a device that has not completed a sync
//! for the school's lease shows and takes no care content until it syncs, and loses nothing.

mod common;

use common::*;
use omkijken_core::store::SignalFilter;
use omkijken_core::{Error, Store, doc};

fn is_locked<T: std::fmt::Debug>(r: omkijken_core::Result<T>) -> bool {
    matches!(r, Err(Error::Locked))
}

/// Every way the app reads or writes care content, locked or not.
fn all_locked(s: &Store, id: omkijken_core::DocumentId) -> bool {
    is_locked(s.list_signals(&SignalFilter::default()))
        && is_locked(s.attention_list())
        && is_locked(s.signal(id))
        && is_locked(s.list_conversations("p1"))
        && is_locked(s.thermometer_entries("p1", 0, i64::MAX))
        && is_locked(s.record_signal(signal("p1", 1, "nieuw")))
        && is_locked(s.start_conversation("p1", "ik-jij-wij", "2026-11-20"))
}

/// The roster with the school's own lease.
fn with_lease(s: &Store, days: Option<u32>) {
    let mut r = roster();
    r.offline_lease_days = days;
    // A later roster version, as the server would send it.
    let id = doc::roster_id(SCHOOL);
    let mut d = automerge::Automerge::load(&s.document_bytes(id).unwrap().unwrap()).unwrap();
    doc::update(id, &mut d, &automerge::ActorId::random(), T0, |x| {
        *x = r;
        Ok(())
    })
    .unwrap();
    s.merge_bytes(id, &d.save()).unwrap();
}

#[test]
fn a_store_locks_when_the_lease_runs_out_and_opens_with_everything_after_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = store_for(dir.path(), "m1");
    let id = s.record_signal(signal("p1", 1, "feiten")).unwrap();
    // Never synced: no lease runs yet.
    clock.advance(100 * DAY);
    assert!(!s.lease().unwrap().locked);
    assert_eq!(s.signal(id).unwrap().facts, "feiten");

    s.mark_synced().unwrap();
    let lease = s.lease().unwrap();
    assert_eq!(lease.days, 30, "the default lease");
    assert_eq!(lease.locks_at, Some(lease.synced_at.unwrap() + 30 * DAY));
    clock.advance(30 * DAY - 1);
    assert_eq!(s.list_signals(&SignalFilter::default()).unwrap().len(), 1);
    let second = s.record_signal(signal("p1", 1, "nog net")).unwrap();

    clock.advance(1);
    assert!(s.lease().unwrap().locked);
    assert!(all_locked(&s, id));
    // Nothing is lost, and what waits to be sent can still be sent.
    let unsent = s.outbox().unwrap().into_iter();
    assert_eq!(
        unsent
            .filter(|e| e.kind == omkijken_core::Kind::Signal)
            .count(),
        2
    );
    assert!(s.raw_bytes(second).unwrap().is_some());

    s.mark_synced().unwrap();
    assert!(!s.lease().unwrap().locked);
    assert_eq!(s.signal(id).unwrap().facts, "feiten");
    assert_eq!(s.signal(second).unwrap().facts, "nog net");
}

#[test]
fn turning_the_clock_back_locks_the_store_until_it_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = store_for(dir.path(), "m1");
    let id = s.record_signal(signal("p1", 1, "feiten")).unwrap();
    s.mark_synced().unwrap();
    clock.advance(31 * DAY);
    assert!(is_locked(s.signal(id)));
    // Back to a day inside the lease: still locked.
    clock.advance(-25 * DAY);
    assert!(all_locked(&s, id));
    s.mark_synced().unwrap();
    assert_eq!(s.signal(id).unwrap().facts, "feiten");

    // Inside the lease: the store remembers the latest time it saw; a clock that goes back
    // more than an hour from it locks the store, a small correction does not.
    clock.advance(20 * DAY);
    s.list_signals(&SignalFilter::default()).unwrap();
    clock.advance(-30 * 60 * 1000);
    assert!(
        !s.lease().unwrap().locked,
        "half an hour back: a correction"
    );
    clock.advance(-19 * DAY);
    assert!(all_locked(&s, id));
    s.mark_synced().unwrap();
    assert!(!s.lease().unwrap().locked);
}

#[test]
fn the_schools_lease_comes_with_the_roster() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = store_for(dir.path(), "m1");
    let id = s.record_signal(signal("p1", 1, "feiten")).unwrap();
    with_lease(&s, Some(2));
    s.mark_synced().unwrap();
    assert_eq!(s.lease().unwrap().days, 2);
    clock.advance(2 * DAY);
    assert!(all_locked(&s, id));
    // 0: the school has no lease.
    with_lease(&s, Some(0));
    let lease = s.lease().unwrap();
    assert_eq!((lease.days, lease.locks_at, lease.locked), (0, None, false));
    clock.advance(365 * DAY);
    assert_eq!(s.signal(id).unwrap().facts, "feiten");
}
