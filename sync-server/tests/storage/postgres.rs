//! The PostgreSQL storage (its conformance suite is in conformance.rs): schema versioning, commit-ordered catalog
//! sequences with concurrent committers, several writers of one document, and two hubs
//! (server nodes) sharing one database.
//!
//! Runs against the database in `OMKIJKEN_TEST_POSTGRES` (`scripts/test.sh` starts a
//! throwaway cluster and sets it), each test in a fresh schema. Without it the tests are
//! skipped with a line on stderr, except under `CI`, where they fail.

use crate::common;

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use common::{NOW, ROSTER, SCHOOL, connect, enroll, thermometer, to};
use omkijken_core::DocumentId;
use omkijken_core::doc::{self, AccessFields};
use omkijken_core::model::{Header, ThermometerEntry, ThermometerMonth};
use omkijken_core::sync::{DocChanges, Frame};
use omkijken_server::Error;
use omkijken_server::hub::{Hub, HubConfig};
use omkijken_server::storage::postgres::SCHEMA_VERSION;
use omkijken_server::storage::postgres::testing::{TestSchema, database_url};
use omkijken_server::storage::{
    AdminEvent, AdminEventKind, Batch, DocWrite, PostgresStorage, Storage, WriteMode,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::time::{Duration, Instant};

fn open(schema: &TestSchema) -> PostgresStorage {
    PostgresStorage::open(&schema.url(), None).expect("open the PostgreSQL storage")
}

#[test]
fn postgres_schema_is_versioned_migrated_once_and_a_newer_one_is_refused() {
    let Some(url) = database_url("postgres_schema_is_versioned") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let mut st = open(&schema);
    assert_eq!(st.schema_version().unwrap(), SCHEMA_VERSION);
    st.commit(Batch {
        schools: vec![omkijken_server::storage::School {
            id: "s1".into(),
            name: "De Linde".into(),
            created_at: 1,
        }],
        ..Default::default()
    })
    .unwrap();
    drop(st);
    // Reopened (and opened by a second node at the same time): data kept, no second
    // migration (it would fail on the existing tables).
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| open(&schema));
        let b = s.spawn(|| open(&schema));
        (a.join().unwrap(), b.join().unwrap())
    });
    for mut st in [a, b] {
        assert_eq!(st.schools().unwrap().len(), 1);
        assert_eq!(st.schema_version().unwrap(), SCHEMA_VERSION);
    }
    // A schema written by a newer server is refused and left alone.
    let mut raw = postgres::Client::connect(&schema.url(), postgres::NoTls).unwrap();
    raw.execute(
        "UPDATE schema_version SET version = $1",
        &[&(SCHEMA_VERSION as i32 + 1)],
    )
    .unwrap();
    let r = PostgresStorage::open(&schema.url(), None);
    assert!(
        matches!(r, Err(Error::TooNew { .. })),
        "newer schema: {:?}",
        r.err()
    );
    let v: i32 = raw
        .query_one("SELECT version FROM schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, SCHEMA_VERSION as i32 + 1);
}

fn header() -> Header {
    Header {
        kind: "excursion".into(),
        school: "s1".into(),
        pupil: None,
        author: "t1".into(),
        created_at: 5,
        schema: 1,
    }
}

fn new_doc_write(id: DocumentId) -> DocWrite {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(ROOT, "x", 1).unwrap();
    tx.commit();
    DocWrite {
        id,
        header: header(),
        fields: AccessFields::default(),
        heads: d.get_heads(),
        data: d.save(),
        mode: WriteMode::Snapshot,
        summary: None,
        base: None,
    }
}

fn event() -> AdminEvent {
    AdminEvent {
        seq: 0,
        at: 1,
        kind: AdminEventKind::Roster,
        school: Some("s1".into()),
        device: None,
    }
}

/// Writer A takes its sequences and holds its transaction open; writer B commits
/// meanwhile; a reader polls `catalog_changes` and `admin_events_since` all along. With a
/// PostgreSQL SEQUENCE, B would commit the higher number first and the reader would see a
/// gap (and move its cursor past A's number, never to deliver it). Here B must wait for A,
/// and the reader must only ever see numbers that follow its cursor without a gap.
#[test]
fn catalog_and_admin_event_sequences_become_visible_in_commit_order() {
    let Some(url) = database_url("catalog_sequences_become_visible_in_commit_order") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let (paused_tx, paused) = mpsc::channel::<()>();
    let (resume, resume_rx) = mpsc::channel::<()>();
    let mut a = open(&schema);
    a.set_before_commit(Some(Box::new(move || {
        paused_tx.send(()).unwrap();
        resume_rx.recv().unwrap();
    })));
    let a = Arc::new(Mutex::new(a));
    let b = Arc::new(Mutex::new(open(&schema)));
    let stop = Arc::new(AtomicBool::new(false));
    // The reader: cursors over both logs, and every gap it ever saw.
    type Seen = (Vec<u64>, Vec<u64>, Vec<String>);
    let reader = {
        let mut r = open(&schema);
        let stop = stop.clone();
        std::thread::spawn(move || -> Seen {
            let (mut cat, mut ev, mut gaps) = (vec![], vec![], vec![]);
            let (mut cursor, mut ev_cursor) = (0u64, 0u64);
            loop {
                let done = stop.load(Ordering::SeqCst);
                for row in r.catalog_changes(cursor, 1000).unwrap() {
                    if row.seq != cursor + 1 {
                        gaps.push(format!("catalog: {} after {}", row.seq, cursor));
                    }
                    cursor = row.seq;
                    cat.push(row.seq);
                }
                for e in r.admin_events_since(ev_cursor).unwrap() {
                    if e.seq != ev_cursor + 1 {
                        gaps.push(format!("admin events: {} after {}", e.seq, ev_cursor));
                    }
                    ev_cursor = e.seq;
                    ev.push(e.seq);
                }
                if done {
                    return (cat, ev, gaps);
                }
            }
        })
    };
    let rounds = 3;
    for round in 0..rounds {
        let batch = || Batch {
            docs: vec![new_doc_write(DocumentId::random())],
            events: vec![event()],
            ..Default::default()
        };
        let (ba, bb) = (batch(), batch());
        let a2 = a.clone();
        let ta = std::thread::spawn(move || a2.lock().unwrap().commit(ba).unwrap());
        paused.recv().unwrap();
        // A holds its sequences in an open transaction. B commits now.
        let b_done = Arc::new(AtomicBool::new(false));
        let (b2, flag) = (b.clone(), b_done.clone());
        let tb = std::thread::spawn(move || {
            let c = b2.lock().unwrap().commit(bb).unwrap();
            flag.store(true, Ordering::SeqCst);
            c
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !b_done.load(Ordering::SeqCst),
            "round {round}: B committed while A held lower sequences open"
        );
        resume.send(()).unwrap();
        let (ca, cb) = (ta.join().unwrap(), tb.join().unwrap());
        assert!(
            ca.last_seq < cb.last_seq && cb.prev_seq == ca.last_seq,
            "round {round}: A {ca:?} then B {cb:?}"
        );
    }
    stop.store(true, Ordering::SeqCst);
    let (cat, ev, gaps) = reader.join().unwrap();
    assert!(gaps.is_empty(), "the reader saw gaps: {gaps:?}");
    let n = 2 * rounds as u64;
    assert_eq!(
        cat,
        (1..=n).collect::<Vec<_>>(),
        "every catalog row, in order"
    );
    assert_eq!(
        ev,
        (1..=n).collect::<Vec<_>>(),
        "every admin event, in order"
    );
}

/// Two nodes appending to one document at the same moment: both chunks land and load as
/// one document. Two writes made from the same stored state with `base`: one lands, the
/// other conflicts and writes nothing.
#[test]
fn concurrent_appends_to_one_document_all_land_and_stale_writes_conflict() {
    let Some(url) = database_url("concurrent_appends_to_one_document") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let id = DocumentId::random();
    let first = new_doc_write(id);
    let base = Automerge::load(&first.data).unwrap();
    open(&schema)
        .commit(Batch {
            docs: vec![first],
            ..Default::default()
        })
        .unwrap();
    let writers = 4;
    let append = |n: usize, with_base: bool| {
        let mut d = base.fork();
        let mut tx = d.transaction();
        tx.put(ROOT, format!("w{n}"), n as i64).unwrap();
        tx.commit();
        DocWrite {
            heads: d.get_heads(),
            data: d.save_after(&base.get_heads()),
            mode: WriteMode::Append,
            base: with_base.then(|| base.get_heads()),
            ..new_doc_write(id)
        }
    };
    let run = |writes: Vec<DocWrite>| {
        let barrier = Barrier::new(writes.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = writes
                .into_iter()
                .map(|w| {
                    let mut st = open(&schema);
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        st.commit(Batch {
                            docs: vec![w],
                            ..Default::default()
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        })
    };
    let results = run((0..writers).map(|n| append(n, false)).collect());
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let mut st = open(&schema);
    let loaded = Automerge::load(&st.load_doc(id).unwrap().unwrap()).unwrap();
    assert_eq!(
        loaded.get_heads().len(),
        writers,
        "every writer's change is stored"
    );
    let row = &st.catalog_get(&[id]).unwrap()[0];
    assert_eq!(row.chunks as usize, writers);

    // Now with the base they were made from: exactly one may land.
    let id2 = DocumentId::random();
    let first = DocWrite {
        base: Some(vec![]),
        ..new_doc_write(id2)
    };
    let base2 = Automerge::load(&first.data).unwrap();
    st.commit(Batch {
        docs: vec![first],
        ..Default::default()
    })
    .unwrap();
    let writes: Vec<DocWrite> = (0..writers)
        .map(|n| {
            let mut d = base2.fork();
            let mut tx = d.transaction();
            tx.put(ROOT, format!("w{n}"), n as i64).unwrap();
            tx.commit();
            DocWrite {
                heads: d.get_heads(),
                data: d.save_after(&base2.get_heads()),
                mode: WriteMode::Append,
                base: Some(base2.get_heads()),
                ..new_doc_write(id2)
            }
        })
        .collect();
    let results = run(writes);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Conflict)))
        .count();
    assert_eq!((ok, conflicts), (1, writers - 1), "{results:?}");
    let loaded = Automerge::load(&st.load_doc(id2).unwrap().unwrap()).unwrap();
    assert_eq!(loaded.get_heads(), st.catalog_get(&[id2]).unwrap()[0].heads);
}

fn hub(schema: &TestSchema, seed: u8) -> Hub {
    Hub::new(Box::new(open(schema)), HubConfig::default(), [seed; 32]).unwrap()
}

fn month(d: &Automerge, id: DocumentId) -> ThermometerMonth {
    doc::record(id, d).unwrap()
}

/// Two hubs (two server nodes) on one database, each with a device of the mentor (phone,
/// tablet) that keeps adding entries to the same pupil's thermometer month at the same
/// time. Pushes that lose the
/// race are merged again (and a push that loses too often in a row is refused with an
/// error and sent again), so every acknowledged entry is stored, and the catalog's heads
/// are those of the stored document (not of one node's view of it).
#[test]
fn two_hubs_writing_one_document_at_once_lose_nothing() {
    let Some(url) = database_url("two_hubs_writing_one_document_at_once") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let mut setup = hub(&schema, 1);
    setup.create_school(NOW, SCHOOL, "De Linde").unwrap();
    setup.import_roster(NOW, SCHOOL, ROSTER).unwrap();
    let devs = [enroll(&mut setup, "m1", 11), enroll(&mut setup, "m1", 12)];
    drop(setup);
    let rounds = 25;
    let mut id = None;
    let gave_up = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = devs
            .iter()
            .enumerate()
            .map(|(n, dev)| {
                let (schema, gave_up) = (&schema, &gave_up);
                s.spawn(move || {
                    let mut h = hub(schema, 2 + n as u8);
                    let (mut c, _) = connect(&mut h, dev, 0);
                    let (id, mut d) = thermometer(dev, "p1", "2025-11");
                    for round in 0..rounds {
                        if round > 0 {
                            doc::update(id, &mut d, &dev.actor, NOW, |t: &mut ThermometerMonth| {
                                t.entries.push(ThermometerEntry {
                                    id: format!("e-{}-{round}", dev.device),
                                    ..t.entries[0].clone()
                                });
                                Ok(())
                            })
                            .unwrap();
                        }
                        // A push that lost the race too often in a row ends with an error
                        // (nothing acknowledged, nothing stored): the device reconnects and
                        // pushes again, as the real client does.
                        let mut tries = 0;
                        loop {
                            let out = h.receive(
                                NOW,
                                c,
                                Frame::Push {
                                    docs: vec![DocChanges::new(id, d.save())],
                                },
                            );
                            let frames = to(&out, c);
                            if frames.iter().any(|f| {
                                matches!(f, Frame::Ack { docs } if docs.iter().any(|a| a.document_id == id))
                            }) {
                                break;
                            }
                            tries += 1;
                            assert!(
                                tries < 20 && frames.iter().any(|f| matches!(f, Frame::Error { .. })),
                                "device {n}, round {round}: {frames:?}"
                            );
                            gave_up.fetch_add(1, Ordering::SeqCst);
                            c = connect(&mut h, dev, 0).0;
                        }
                    }
                    id
                })
            })
            .collect();
        for h in handles {
            id = Some(h.join().unwrap());
        }
    });
    let id = id.unwrap();
    let mut st = open(&schema);
    let stored = Automerge::load(&st.load_doc(id).unwrap().unwrap()).unwrap();
    let row = st.catalog_get(&[id]).unwrap().remove(0);
    assert_eq!(
        row.heads,
        stored.get_heads(),
        "catalog heads are the stored document's"
    );
    let entries = month(&stored, id).entries;
    assert_eq!(
        entries.len(),
        2 * rounds,
        "every acknowledged entry is stored"
    );
    eprintln!(
        "two hubs, one document: {} pushes gave up after repeated conflicts and were sent again",
        gave_up.load(Ordering::SeqCst)
    );
}

#[test]
fn a_listener_is_told_of_commits_and_listens_again_after_losing_its_connection() {
    let Some(url) = database_url("a_listener_is_told_of_commits") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let mut writer = open(&schema);
    let app = format!("listen-{}", schema.name());
    let listening_url = format!("{}&application_name={app}", schema.url());
    let (tx, woken) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = PostgresStorage::listen_for_changes(
        &listening_url,
        None,
        None,
        None,
        stop.clone(),
        move || tx.send(()).is_ok(),
    )
    .unwrap();
    let wait = Duration::from_secs(10);
    woken.recv_timeout(wait).expect("woken once listening");
    let drain = || while woken.try_recv().is_ok() {};

    // 1. Another writer's commit wakes it.
    drain();
    writer
        .commit(Batch {
            docs: vec![new_doc_write(DocumentId::random())],
            ..Default::default()
        })
        .unwrap();
    woken.recv_timeout(wait).expect("woken by a commit");

    // 2. Its connection is cut (a database restart, a network hiccup): it connects again,
    //    wakes at once (it may have missed something) and hears later commits.
    let mut admin = postgres::Client::connect(&schema.url(), postgres::NoTls).unwrap();
    let backends = |admin: &mut postgres::Client| -> Vec<i32> {
        admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let before = backends(&mut admin);
    assert_eq!(before.len(), 1, "one listening connection");
    drain();
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&before[0]])
        .unwrap();
    woken
        .recv_timeout(wait)
        .expect("woken after connecting again");
    let after = backends(&mut admin);
    assert_eq!(after.len(), 1, "listening again, on one connection");
    assert_ne!(after, before, "a new connection");
    drain();
    writer
        .commit(Batch {
            events: vec![event()],
            ..Default::default()
        })
        .unwrap();
    woken
        .recv_timeout(wait)
        .expect("woken by an admin event after the reconnection");

    // 3. Told to stop, it ends and closes its connection.
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    // The backend ends a moment after the client closed (seen under load).
    let closed = Instant::now();
    while !backends(&mut admin).is_empty() {
        assert!(
            closed.elapsed() < Duration::from_secs(20),
            "the connection is closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The authority of the test cluster's certificate (`scripts/test.sh` sets it when the
/// cluster speaks TLS); skipped without it, except under `CI`.
fn test_ca(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var("OMKIJKEN_TEST_POSTGRES_CA") {
        Ok(p) if !p.is_empty() => Some(p.into()),
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v.is_empty()),
                "{test}: OMKIJKEN_TEST_POSTGRES_CA is not set, but CI is"
            );
            eprintln!("{test}: skipped: the test cluster has no TLS");
            None
        }
    }
}

/// Whether the connections of `app` to the test database use TLS.
fn over_tls(schema: &TestSchema, app: &str) -> Vec<bool> {
    let mut admin = postgres::Client::connect(&schema.url(), postgres::NoTls).unwrap();
    admin
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn the_database_connection_is_encrypted_and_verified_when_the_url_asks() {
    let Some(url) = database_url("the_database_connection_is_encrypted") else {
        return;
    };
    let Some(ca) = test_ca("the_database_connection_is_encrypted") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let app = format!("tls-{}", schema.name());
    let with = |params: &str| format!("{}&application_name={app}&{params}", schema.url());

    // sslmode=require with the authority: TLS, and the storage works over it.
    let mut st = PostgresStorage::open_with_ca(&with("sslmode=require"), None, Some(&ca)).unwrap();
    st.commit(Batch {
        docs: vec![new_doc_write(DocumentId::random())],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(over_tls(&schema, &app), vec![true], "encrypted");
    drop(st);
    // prefer (the default) with an authority: TLS too; without one: plain, as before.
    let st = PostgresStorage::open_with_ca(&with("sslmode=prefer"), None, Some(&ca)).unwrap();
    assert_eq!(over_tls(&schema, &app), vec![true]);
    drop(st);
    let st = PostgresStorage::open(&with("sslmode=prefer"), None).unwrap();
    assert_eq!(over_tls(&schema, &app), vec![false]);
    drop(st);

    // require without the authority: the certificate is not trusted, no connection. The
    // error says why and never holds the password.
    let err = PostgresStorage::open(&with("sslmode=require"), Some("pw-not-for-logs"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate"), "{err}");
    assert!(!err.contains("pw-not-for-logs"), "{err}");
    // A host name the certificate does not carry (the address is the cluster's own).
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    let wrong = format!(
        "postgres://postgres@db.elsewhere.example:{port}/postgres?hostaddr=127.0.0.1&sslmode=require"
    );
    let err = PostgresStorage::open_with_ca(&wrong, None, Some(&ca))
        .unwrap_err()
        .to_string();
    assert!(err.contains("certificate"), "{err}");
    // A host that is not this machine needs no sslmode for TLS with a verified certificate:
    // with none, the certificate is checked (and fails here on the name); plain only with
    // an explicit sslmode=disable.
    let elsewhere = with("hostaddr=127.0.0.1").replacen("@127.0.0.1:", "@db.elsewhere.example:", 1);
    assert!(elsewhere.contains("@db.elsewhere.example:"), "{elsewhere}");
    for url in [elsewhere.clone(), format!("{elsewhere}&sslmode=prefer")] {
        let err = PostgresStorage::open_with_ca(&url, None, Some(&ca))
            .unwrap_err()
            .to_string();
        assert!(err.contains("certificate"), "{err}");
    }
    let st = PostgresStorage::open(&format!("{elsewhere}&sslmode=disable"), None).unwrap();
    assert_eq!(over_tls(&schema, &app), vec![false]);
    drop(st);
    // An authority file that is not PEM: a clear error naming the file.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "not a certificate").unwrap();
    let err = PostgresStorage::open_with_ca(&with("sslmode=require"), None, Some(bad.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no certificate in"), "{err}");
    assert!(
        over_tls(&schema, &app).is_empty(),
        "no connection left over"
    );
}

#[test]
fn a_lost_database_connection_is_reopened_and_the_write_goes_through() {
    let Some(url) = database_url("a_lost_database_connection_is_reopened") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let app = format!("lost-{}", schema.name());
    let mut st =
        PostgresStorage::open(&format!("{}&application_name={app}", schema.url()), None).unwrap();
    let mut admin = postgres::Client::connect(&schema.url(), postgres::NoTls).unwrap();

    // 1. A commit right after the cut: reconnected, written once.
    cut(&mut admin, &app);
    let id = DocumentId::random();
    let c = st
        .commit(Batch {
            docs: vec![new_doc_write(id)],
            ..Default::default()
        })
        .expect("the commit goes through on a new connection");
    assert_eq!(c.last_seq, c.prev_seq + 1);
    assert_eq!(st.catalog_get(&[id]).unwrap().len(), 1);
    // 2. A read right after the cut.
    cut(&mut admin, &app);
    assert_eq!(st.last_seq().unwrap(), c.last_seq);
    assert!(st.load_stored(id).unwrap().is_some());
}

/// End the one connection of application `app` and wait until it is gone (a database
/// restart, a network hiccup, an administrator ending the session).
pub(crate) fn cut(admin: &mut postgres::Client, app: &str) {
    let n = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .len();
    assert_eq!(n, 1, "one connection cut");
    while !admin
        .query(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .is_empty()
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}
