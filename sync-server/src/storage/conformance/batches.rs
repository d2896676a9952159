//! Conformance checks on batches: a write from a stale state conflicts, and one batch may
//! name a document or a row twice.

use super::*;

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn a_write_from_a_stale_state_conflicts_and_writes_nothing(mut s: Box<dyn Storage>) {
    let id = DocumentId::random();
    let mut d = doc_with("a");
    let based = |base: Vec<automerge::ChangeHash>, w: DocWrite| DocWrite {
        base: Some(base),
        ..w
    };
    s.commit(Batch {
        docs: vec![based(
            vec![],
            write(id, "s1", &d, d.save(), WriteMode::Snapshot),
        )],
        ..Default::default()
    })
    .expect("a new document made from nothing");
    let first = d.get_heads();
    let mut other = d.fork();
    let mut tx = d.transaction();
    tx.put(ROOT, "b", 2).unwrap();
    tx.commit();
    s.commit(Batch {
        docs: vec![based(
            first.clone(),
            write(id, "s1", &d, d.save_after(&first), WriteMode::Append),
        )],
        ..Default::default()
    })
    .expect("a write made from the stored heads");
    let stored = s.load_doc(id).unwrap().unwrap();
    let last = s.last_seq().unwrap();
    // Another writer made its change from the first state: it must not be stored as if it
    // had seen the second (its heads would hide that change; its snapshot would drop it).
    let mut tx = other.transaction();
    tx.put(ROOT, "c", 3).unwrap();
    tx.commit();
    for mode in [WriteMode::Append, WriteMode::Snapshot] {
        let data = match mode {
            WriteMode::Append => other.save_after(&first),
            WriteMode::Snapshot => other.save(),
        };
        let r = s.commit(Batch {
            docs: vec![based(first.clone(), write(id, "s1", &other, data, mode))],
            audit: vec![AuditRecord {
                seq: 0,
                at: 1,
                school: "s1".into(),
                device: None,
                user: Some("m1".into()),
                action: AuditAction::Write,
                document: Some(id),
                kind: None,
                pupil: None,
                device_seq: None,
                device_at: None,
            }],
            ..Default::default()
        });
        assert!(
            matches!(r, Err(crate::Error::Conflict)),
            "a stale {mode:?} conflicts: {r:?}"
        );
    }
    assert_eq!(s.last_seq().unwrap(), last, "no sequence taken");
    assert_eq!(s.load_doc(id).unwrap().unwrap(), stored, "no bytes written");
    assert_eq!(s.catalog_get(&[id]).unwrap()[0].heads, d.get_heads());
    assert!(
        s.audit(&AuditFilter::All).unwrap().is_empty(),
        "nothing else of the batch written"
    );
    // "New" when it exists, and any base once it is erased, conflict too.
    let r = s.commit(Batch {
        docs: vec![based(
            vec![],
            write(id, "s1", &d, d.save(), WriteMode::Snapshot),
        )],
        ..Default::default()
    });
    assert!(matches!(r, Err(crate::Error::Conflict)), "{r:?}");
    s.commit(Batch {
        erase: vec![id],
        ..Default::default()
    })
    .unwrap();
    for base in [vec![], d.get_heads()] {
        let r = s.commit(Batch {
            docs: vec![based(
                base,
                write(id, "s1", &d, d.save(), WriteMode::Snapshot),
            )],
            ..Default::default()
        });
        assert!(matches!(r, Err(crate::Error::Conflict)), "{r:?}");
    }
    // Heads are a set: the order they are given in does not matter.
    let id2 = DocumentId::random();
    let mut x = doc_with("x");
    let mut y = x.fork();
    let mut tx = y.transaction();
    tx.put(ROOT, "y", 1).unwrap();
    tx.commit();
    let mut tx = x.transaction();
    tx.put(ROOT, "z", 1).unwrap();
    tx.commit();
    x.merge(&mut y).unwrap();
    let heads = x.get_heads();
    assert_eq!(heads.len(), 2);
    s.commit(Batch {
        docs: vec![based(
            vec![],
            write(id2, "s1", &x, x.save(), WriteMode::Snapshot),
        )],
        ..Default::default()
    })
    .unwrap();
    let before = x.get_heads();
    let mut tx = x.transaction();
    tx.put(ROOT, "w", 1).unwrap();
    tx.commit();
    let reversed: Vec<_> = heads.iter().rev().copied().collect();
    s.commit(Batch {
        docs: vec![based(
            reversed,
            write(id2, "s1", &x, x.save_after(&before), WriteMode::Append),
        )],
        ..Default::default()
    })
    .expect("the same heads in another order");
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn one_batch_may_name_a_document_or_a_row_twice(mut s: Box<dyn Storage>) {
    let id = DocumentId::random();
    let mut d = doc_with("a");
    let snap = d.save();
    let before = d.get_heads();
    let mut tx = d.transaction();
    tx.put(ROOT, "b", 2).unwrap();
    tx.commit();
    let chunk = d.save_after(&before);
    let other = DocumentId::random();
    let c = s
        .commit(Batch {
            docs: vec![
                write(id, "s1", &doc_with("a"), snap.clone(), WriteMode::Snapshot),
                write(other, "s1", &d, d.save(), WriteMode::Snapshot),
                write(id, "s1", &d, chunk.clone(), WriteMode::Append),
            ],
            bump: vec![other, other],
            hold: vec![("dev1".into(), id), ("dev1".into(), id)],
            purged: vec![("dev1".into(), id), ("dev1".into(), id)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!((c.prev_seq, c.last_seq), (0, 5));
    let rows = s.catalog_get(&[id, other]).unwrap();
    let row = |x| rows.iter().find(|r| r.id == x).unwrap();
    assert_eq!(
        (row(id).seq, row(id).chunks, row(id).size),
        (3, 1, (snap.len() + chunk.len()) as u64),
        "both writes of the document, in order"
    );
    assert_eq!(row(id).heads, d.get_heads());
    assert_eq!(row(other).seq, 5, "bumped twice: the later sequence");
    let loaded = Automerge::load(&s.load_doc(id).unwrap().unwrap()).unwrap();
    assert_eq!(loaded.get_heads(), d.get_heads());
    assert_eq!(s.purged_among("dev1", &[id]).unwrap().len(), 1);
    // The same read reported twice in one batch is stored once.
    let read = AuditRecord {
        seq: 0,
        at: 1,
        school: "s1".into(),
        device: Some("d1".into()),
        user: Some("m1".into()),
        action: AuditAction::Read,
        document: Some(id),
        kind: None,
        pupil: Some("p9".into()),
        device_seq: Some(7),
        device_at: Some(1),
    };
    s.commit(Batch {
        audit: vec![read.clone(), read],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.audit(&AuditFilter::Pupil("p9".into())).unwrap().len(), 1);
}
