//! Conformance checks on documents: commit sequences, appended chunks and snapshots, the
//! summary and access fields written with them, erasure, and loading many at once.

use super::*;

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn commit_assigns_increasing_sequences_in_order(mut s: Box<dyn Storage>) {
    assert_eq!(
        s.last_seq().unwrap(),
        0,
        "a fresh storage starts at sequence 0"
    );
    let (a, b) = (DocumentId::random(), DocumentId::random());
    let d = doc_with("x");
    let c = s
        .commit(Batch {
            docs: vec![
                write(a, "s1", &d, d.save(), WriteMode::Snapshot),
                write(b, "s1", &d, d.save(), WriteMode::Snapshot),
            ],
            ..Default::default()
        })
        .unwrap();
    assert_eq!((c.prev_seq, c.last_seq), (0, 2));
    let rows = s.catalog_get(&[a, b]).unwrap();
    let seq = |id| rows.iter().find(|r| r.id == id).unwrap().seq;
    assert_eq!((seq(a), seq(b)), (1, 2), "sequences follow batch order");
    let empty = s.commit(Batch::default()).unwrap();
    assert_eq!((empty.prev_seq, empty.last_seq), (2, 2));
    assert_eq!(s.last_seq().unwrap(), 2);
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn appended_chunks_load_back_as_one_document(mut s: Box<dyn Storage>) {
    let id = DocumentId::random();
    let mut d = doc_with("a");
    let snap = d.save();
    s.commit(Batch {
        docs: vec![write(id, "s1", &d, snap.clone(), WriteMode::Snapshot)],
        ..Default::default()
    })
    .unwrap();
    let before = d.get_heads();
    let mut tx = d.transaction();
    tx.put(ROOT, "b", 2).unwrap();
    tx.commit();
    let chunk = d.save_after(&before);
    s.commit(Batch {
        docs: vec![write(id, "s1", &d, chunk.clone(), WriteMode::Append)],
        ..Default::default()
    })
    .unwrap();
    let loaded = Automerge::load(&s.load_doc(id).unwrap().unwrap()).unwrap();
    assert_eq!(
        loaded.get_heads(),
        d.get_heads(),
        "snapshot + chunk load back"
    );
    let row = &s.catalog_get(&[id]).unwrap()[0];
    assert_eq!(row.chunks, 1);
    assert_eq!(row.size, (snap.len() + chunk.len()) as u64);
    assert_eq!(row.heads, d.get_heads());
    assert_eq!(row.content_seq, row.seq);
    assert!(s.load_doc(DocumentId::random()).unwrap().is_none());
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn snapshot_replaces_the_log(mut s: Box<dyn Storage>) {
    let id = DocumentId::random();
    let mut d = doc_with("a");
    s.commit(Batch {
        docs: vec![write(id, "s1", &d, d.save(), WriteMode::Snapshot)],
        ..Default::default()
    })
    .unwrap();
    for i in 0..3 {
        let before = d.get_heads();
        let mut tx = d.transaction();
        tx.put(ROOT, "n", i).unwrap();
        tx.commit();
        s.commit(Batch {
            docs: vec![write(
                id,
                "s1",
                &d,
                d.save_after(&before),
                WriteMode::Append,
            )],
            ..Default::default()
        })
        .unwrap();
    }
    assert_eq!(s.catalog_get(&[id]).unwrap()[0].chunks, 3);
    let snap = d.save();
    s.commit(Batch {
        docs: vec![write(id, "s1", &d, snap.clone(), WriteMode::Snapshot)],
        ..Default::default()
    })
    .unwrap();
    let row = &s.catalog_get(&[id]).unwrap()[0];
    assert_eq!((row.chunks, row.size), (0, snap.len() as u64));
    assert_eq!(
        s.load_doc(id).unwrap().unwrap(),
        snap,
        "only the snapshot is left"
    );
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn the_summary_follows_the_heads_it_was_written_with(mut s: Box<dyn Storage>) {
    let id = DocumentId::random();
    let mut d = doc_with("a");
    let with = |summary: &[u8], w: DocWrite| DocWrite {
        summary: Some(summary.to_vec()),
        ..w
    };
    s.commit(Batch {
        docs: vec![with(
            b"first",
            write(id, "s1", &d, d.save(), WriteMode::Snapshot),
        )],
        ..Default::default()
    })
    .unwrap();
    let stored = s.load_stored(id).unwrap().unwrap();
    assert_eq!(stored.summary.as_deref(), Some(&b"first"[..]));
    assert_eq!(stored.data, d.save(), "the bytes come with it");
    // An appended change brings its own summary; a write without one clears the old.
    let before = d.get_heads();
    let mut tx = d.transaction();
    tx.put(ROOT, "b", 2).unwrap();
    tx.commit();
    s.commit(Batch {
        docs: vec![with(
            b"second",
            write(id, "s1", &d, d.save_after(&before), WriteMode::Append),
        )],
        ..Default::default()
    })
    .unwrap();
    let stored = s.load_stored(id).unwrap().unwrap();
    assert_eq!(stored.summary.as_deref(), Some(&b"second"[..]));
    assert_eq!(
        Automerge::load(&stored.data).unwrap().get_heads(),
        d.get_heads()
    );
    s.commit(Batch {
        docs: vec![write(id, "s1", &d, d.save(), WriteMode::Snapshot)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.load_stored(id).unwrap().unwrap().summary, None);
    // Compacted (a whole-document fetch): one snapshot, same heads, summary and sequence;
    // not when the chunk count moved on meanwhile.
    let before = d.get_heads();
    let mut tx = d.transaction();
    tx.put(ROOT, "c", 3).unwrap();
    tx.commit();
    s.commit(Batch {
        docs: vec![with(
            b"fourth",
            write(id, "s1", &d, d.save_after(&before), WriteMode::Append),
        )],
        ..Default::default()
    })
    .unwrap();
    let row = s.catalog_get(&[id]).unwrap().remove(0);
    assert_eq!(row.chunks, 1);
    s.commit(Batch {
        compact: vec![(id, 2, b"stale".to_vec())],
        ..Default::default()
    })
    .unwrap();
    assert_ne!(s.load_doc(id).unwrap().unwrap(), b"stale".to_vec());
    s.commit(Batch {
        compact: vec![(id, 1, d.save())],
        ..Default::default()
    })
    .unwrap();
    let after = s.catalog_get(&[id]).unwrap().remove(0);
    let stored = s.load_stored(id).unwrap().unwrap();
    assert_eq!(stored.data, d.save());
    assert_eq!(stored.summary.as_deref(), Some(&b"fourth"[..]));
    assert_eq!((after.chunks, after.size), (0, d.save().len() as u64));
    assert_eq!(
        (after.seq, after.content_seq, &after.heads),
        (row.seq, row.content_seq, &row.heads)
    );
    assert_eq!(s.last_seq().unwrap(), row.seq, "no new sequence");
    // Erased: no bytes, no summary.
    s.commit(Batch {
        docs: vec![with(
            b"third",
            write(id, "s1", &d, d.save(), WriteMode::Snapshot),
        )],
        erase: vec![id],
        ..Default::default()
    })
    .unwrap();
    assert!(s.load_stored(id).unwrap().is_none());
    assert!(s.load_stored(DocumentId::random()).unwrap().is_none());
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn access_fields_round_trip(mut s: Box<dyn Storage>) {
    let d = doc_with("a");
    let id = DocumentId::random();
    let fields = AccessFields {
        visibility: None,
        urgency: Some(2),
        category: Some("medewerker".into()),
        readers: vec!["ib".into(), "m1".into()],
    };
    s.commit(Batch {
        docs: vec![DocWrite {
            fields: fields.clone(),
            ..write(id, "s1", &d, d.save(), WriteMode::Snapshot)
        }],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.catalog_get(&[id]).unwrap()[0].fields, fields);
    assert_eq!(s.catalog_changes(0, 10).unwrap()[0].fields, fields);
    s.commit(Batch {
        erase: vec![id],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.catalog_get(&[id]).unwrap()[0].fields,
        AccessFields::default()
    );
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn erase_drops_bytes_and_leaves_a_tombstone(mut s: Box<dyn Storage>) {
    let d = doc_with("a");
    let id = DocumentId::random();
    s.commit(Batch {
        docs: vec![write(id, "s1", &d, d.save(), WriteMode::Snapshot)],
        ..Default::default()
    })
    .unwrap();
    s.commit(Batch {
        erase: vec![id],
        ..Default::default()
    })
    .unwrap();
    assert!(s.load_doc(id).unwrap().is_none());
    let row = &s.catalog_get(&[id]).unwrap()[0];
    assert!(row.erased && row.heads.is_empty() && row.size == 0);
    assert_eq!(row.seq, 2);
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn many_documents_load_at_once_as_each_alone(mut s: Box<dyn Storage>) {
    // A snapshot only, a snapshot with chunks and a summary, a log of chunks only, an
    // erased one and an unknown one.
    let (snap, chunked, log, erased) = (
        DocumentId::random(),
        DocumentId::random(),
        DocumentId::random(),
        DocumentId::random(),
    );
    let mut d = doc_with("a");
    let mut docs = vec![
        write(snap, "s1", &d, d.save(), WriteMode::Snapshot),
        write(erased, "s1", &d, d.save(), WriteMode::Snapshot),
        DocWrite {
            summary: Some(b"sum".to_vec()),
            ..write(chunked, "s1", &d, d.save(), WriteMode::Snapshot)
        },
        write(log, "s2", &d, d.save(), WriteMode::Append),
    ];
    s.commit(Batch {
        docs: std::mem::take(&mut docs),
        ..Default::default()
    })
    .unwrap();
    for key in ["b", "c"] {
        let before = d.get_heads();
        let mut tx = d.transaction();
        tx.put(ROOT, key, 2).unwrap();
        tx.commit();
        for id in [chunked, log] {
            let w = write(id, "s1", &d, d.save_after(&before), WriteMode::Append);
            s.commit(Batch {
                docs: vec![DocWrite {
                    summary: (id == chunked).then(|| key.as_bytes().to_vec()),
                    ..w
                }],
                ..Default::default()
            })
            .unwrap();
        }
    }
    s.commit(Batch {
        erase: vec![erased],
        ..Default::default()
    })
    .unwrap();
    let unknown = DocumentId::random();
    let ids = [snap, chunked, log, erased, unknown];
    let many = s.load_stored_many(&ids).unwrap();
    let mut found: Vec<DocumentId> = many.keys().copied().collect();
    found.sort();
    let mut expected = vec![snap, chunked, log];
    expected.sort();
    assert_eq!(found, expected, "erased and unknown documents are left out");
    for id in ids {
        assert_eq!(
            many.get(&id),
            s.load_stored(id).unwrap().as_ref(),
            "a document loaded with others is the document loaded alone"
        );
    }
    assert_eq!(many[&chunked].summary.as_deref(), Some(&b"c"[..]));
    assert_eq!(
        Automerge::load(&many[&log].data).unwrap().get_heads(),
        d.get_heads(),
        "the chunks come in order"
    );
    assert!(s.load_stored_many(&[]).unwrap().is_empty());
}
