//! Shared fixtures for core's integration tests: a school roster and enrolled stores.
#![allow(dead_code)]

use automerge::ActorId;
use omkijken_core::Store;
use omkijken_core::doc;
use omkijken_core::model::SignalContext;
use omkijken_core::model::{Group, Pupil, Roster, Staff};
use omkijken_core::store::{Identity, NewSignal, StoreOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub const SCHOOL: &str = "school-1";
pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
/// 2026-11-22 09:00 UTC (a Sunday)
pub const T0: i64 = 1_795_338_000_000;
pub const DAY: i64 = 24 * 3600 * 1000;

fn staff(id: &str, roles: &[&str]) -> (String, Staff) {
    (
        id.into(),
        Staff {
            id: id.into(),
            display_name: format!("Staff {id}"),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            meldcode_duty: roles.contains(&"care_coordinator"),
            active: true,
        },
    )
}

fn pupil(id: &str, group: &str, band: &str, in_care: bool, mentors: &[&str]) -> (String, Pupil) {
    (
        id.into(),
        Pupil {
            id: id.into(),
            display_name: format!("Pupil {id}"),
            group: group.into(),
            age_band: band.into(),
            active: true,
            in_care,
            mentors: mentors.iter().map(|m| m.to_string()).collect(),
            erasures: 0,
        },
    )
}

/// Mentor `m1` (group 6a: p1 in care, p2), mentor `m2` (group 6b: p3), teacher `t1`
/// teaches 6a, teacher `t2` teaches nothing, care coordinator `cc`, admin `adm`.
pub fn roster() -> Roster {
    Roster {
        school: SCHOOL.into(),
        pupils: [
            pupil("p1", "6a", "po_5_8", true, &["m1"]),
            pupil("p2", "6a", "po_5_8", false, &["m1"]),
            pupil("p3", "6b", "po_1_4", false, &["m2"]),
        ]
        .into_iter()
        .collect(),
        groups: [
            (
                "6a".to_string(),
                Group {
                    id: "6a".into(),
                    name: "groep 6a".into(),
                    teachers: vec!["m1".into(), "t1".into()],
                },
            ),
            (
                "6b".to_string(),
                Group {
                    id: "6b".into(),
                    name: "groep 6b".into(),
                    teachers: vec!["m2".into()],
                },
            ),
        ]
        .into_iter()
        .collect(),
        staff: [
            staff("m1", &["mentor"]),
            staff("m2", &["mentor"]),
            staff("t1", &["teacher"]),
            staff("t2", &["teacher"]),
            staff("cc", &["care_coordinator"]),
            staff("adm", &["admin"]),
            staff("sl", &["school_leader"]),
        ]
        .into_iter()
        .collect(),
        offline_lease_days: None,
        viewer: None,
        parent_names: false,
    }
}

/// The roster document as the server would write it.
pub fn roster_bytes(r: &Roster) -> Vec<u8> {
    let (id, mut d) = doc::roster_genesis(SCHOOL).unwrap();
    let server = ActorId::from(b"server-actor-000".to_vec());
    let r = r.clone();
    doc::update::<Roster>(id, &mut d, &server, T0, move |x| {
        *x = r;
        Ok(())
    })
    .unwrap();
    d.save()
}

/// A settable clock.
#[derive(Clone)]
pub struct TestClock(pub Arc<AtomicI64>);

impl TestClock {
    pub fn new() -> Self {
        TestClock(Arc::new(AtomicI64::new(T0)))
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// An enrolled store for `user` holding the roster.
pub fn store_for(dir: &std::path::Path, user: &str) -> (Store, TestClock) {
    let clock = TestClock::new();
    let c = clock.0.clone();
    let store = Store::open_with(
        dir.join(format!("{user}.db")),
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
            user: user.into(),
        })
        .unwrap();
    store
        .merge_bytes(doc::roster_id(SCHOOL), &roster_bytes(&roster()))
        .unwrap();
    (store, clock)
}

/// Send every document of `from` to `to` (as sync would), both directions.
pub fn exchange(a: &Store, b: &Store) {
    for (from, to) in [(a, b), (b, a)] {
        for info in from.documents().unwrap() {
            let bytes = from.document_bytes(info.id).unwrap().unwrap();
            to.merge_bytes(info.id, &bytes).unwrap();
        }
    }
}

/// A shared signal on a trip about `pupil`.
pub fn signal(pupil: &str, urgency: u8, facts: &str) -> NewSignal {
    NewSignal {
        context: SignalContext {
            place: "schoolreis Ardennen".into(),
            excursion: Some("trip-1".into()),
        },
        interpretation: Some("seems withdrawn".into()),
        pupil_quote: Some("ik wil naar huis".into()),
        ..omkijken_core::testing::signal(pupil, T0 - 3_600_000, "", urgency, facts)
    }
}
