//! Round trips on PostgreSQL. Group commit: another node sees a group's writes only once it
//! ended, and a group whose connection breaks stores nothing (and says so at every later
//! commit and at its end), after which the storage goes on. Notifications: a node's listener
//! passes over its own commits (its hub delivered them) and hears the other nodes'.

use crate::postgres::cut;
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use omkijken_core::DocumentId;
use omkijken_core::doc::AccessFields;
use omkijken_core::model::Header;
use omkijken_server::Error;
use omkijken_server::storage::postgres::testing::{TestSchema, database_url};
use omkijken_server::storage::{Batch, DocWrite, PostgresStorage, Storage, WriteMode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn new_doc(id: DocumentId) -> Batch {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(ROOT, "x", 1).unwrap();
    tx.commit();
    Batch {
        docs: vec![DocWrite {
            id,
            header: Header {
                kind: "excursion".into(),
                school: "s1".into(),
                pupil: None,
                author: "t1".into(),
                created_at: 5,
                schema: 1,
            },
            fields: AccessFields::default(),
            heads: d.get_heads(),
            data: d.save(),
            mode: WriteMode::Snapshot,
            summary: None,
            base: Some(vec![]),
        }],
        ..Default::default()
    }
}

#[test]
fn another_node_sees_a_group_at_its_end_and_a_cut_group_stores_nothing() {
    let Some(url) = database_url("another_node_sees_a_group_at_its_end") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let app = format!("group-{}", schema.name());
    let mut node =
        PostgresStorage::open(&format!("{}&application_name={app}", schema.url()), None).unwrap();
    let mut other = PostgresStorage::open(&schema.url(), None).unwrap();
    let mut admin = postgres::Client::connect(&schema.url(), postgres::NoTls).unwrap();

    // 1. Stored at the end, not before.
    let (x, y) = (DocumentId::random(), DocumentId::random());
    node.begin_group().unwrap();
    node.commit(new_doc(x)).unwrap();
    node.commit(new_doc(y)).unwrap();
    assert_eq!(node.catalog_get(&[x, y]).unwrap().len(), 2);
    assert!(
        other.catalog_get(&[x, y]).unwrap().is_empty(),
        "another node sees nothing of an open group"
    );
    node.end_group().unwrap();
    assert_eq!(other.catalog_get(&[x, y]).unwrap().len(), 2);
    let seq = other.last_seq().unwrap();

    // 2. The connection breaks in the middle of a group: nothing of it is stored.
    let (lost1, lost2) = (DocumentId::random(), DocumentId::random());
    node.begin_group().unwrap();
    node.commit(new_doc(lost1)).unwrap();
    cut(&mut admin, &app);
    assert!(
        matches!(node.commit(new_doc(lost2)), Err(Error::GroupLost)),
        "a commit after the break is refused, not written on a new connection"
    );
    assert!(matches!(node.end_group(), Err(Error::GroupLost)));
    assert!(other.catalog_get(&[lost1, lost2]).unwrap().is_empty());
    assert_eq!(other.last_seq().unwrap(), seq);

    // 3. The storage goes on: a commit alone, and a group.
    let (after, grouped) = (DocumentId::random(), DocumentId::random());
    node.commit(new_doc(after)).unwrap();
    node.begin_group().unwrap();
    node.commit(new_doc(grouped)).unwrap();
    node.end_group().unwrap();
    assert_eq!(other.catalog_get(&[after, grouped]).unwrap().len(), 2);
    assert_eq!(other.last_seq().unwrap(), seq + 2);
}

#[test]
fn a_nodes_listener_passes_over_its_own_commits_and_hears_the_others() {
    let Some(url) = database_url("a_nodes_listener_passes_over_its_own") else {
        return;
    };
    // A database of its own: notifications are per database, and other tests commit
    // in other schemas of the shared one meanwhile.
    let db = format!("omkijken_listen_{:016x}", rand::random::<u64>());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .unwrap();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let (server, _) = path
        .rsplit_once('/')
        .expect("a database URL names its database");
    let db_url = match query {
        "" => format!("{server}/{db}"),
        q => format!("{server}/{db}?{q}"),
    };
    let mut own = PostgresStorage::open(&db_url, None).unwrap();
    let mut other = PostgresStorage::open(&db_url, None).unwrap();
    assert_ne!(own.notification_tag(), other.notification_tag());
    let (tx, woken) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = PostgresStorage::listen_for_changes(
        &db_url,
        None,
        None,
        own.notification_tag().map(str::to_owned),
        stop.clone(),
        move || tx.send(()).is_ok(),
    )
    .unwrap();
    let wait = Duration::from_secs(10);
    woken.recv_timeout(wait).expect("woken once listening");
    // Its own node's commits, alone and in a group: no wake-up.
    own.commit(new_doc(DocumentId::random())).unwrap();
    own.begin_group().unwrap();
    own.commit(new_doc(DocumentId::random())).unwrap();
    own.end_group().unwrap();
    assert!(
        woken.recv_timeout(Duration::from_millis(1500)).is_err(),
        "its own commits wake nothing"
    );
    // Another node's commit wakes it.
    other.commit(new_doc(DocumentId::random())).unwrap();
    woken
        .recv_timeout(wait)
        .expect("woken by another node's commit");
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
}
