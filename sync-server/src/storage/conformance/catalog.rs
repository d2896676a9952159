//! Conformance checks on the catalog: what it lists since a cursor, and moving a row.

use super::*;

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn catalog_since_filters_by_school_and_cursor_and_tells_held(mut s: Box<dyn Storage>) {
    let d = doc_with("a");
    let ids: Vec<DocumentId> = (0..4).map(|_| DocumentId::random()).collect();
    s.commit(Batch {
        docs: vec![
            write(ids[0], "s1", &d, d.save(), WriteMode::Snapshot),
            write(ids[1], "s2", &d, d.save(), WriteMode::Snapshot),
            write(ids[2], "s1", &d, d.save(), WriteMode::Snapshot),
            write(ids[3], "s1", &d, d.save(), WriteMode::Snapshot),
        ],
        hold: vec![("dev1".into(), ids[2])],
        ..Default::default()
    })
    .unwrap();
    let rows = s.catalog_since("s1", 1, "dev1").unwrap();
    let got: Vec<(DocumentId, bool)> = rows.iter().map(|(r, h)| (r.id, *h)).collect();
    assert_eq!(got, vec![(ids[2], true), (ids[3], false)]);
    assert_eq!(s.catalog_since("s1", 0, "dev2").unwrap().len(), 3);
    assert_eq!(s.catalog_school("s2").unwrap().len(), 1);
    assert_eq!(s.catalog_changes(1, 2).unwrap().len(), 2);
    let held = s.held_among("dev1", &ids).unwrap();
    assert_eq!(held.len(), 1);
    assert!(s.purged_among("dev1", &ids).unwrap().is_empty());
    s.commit(Batch {
        purged: vec![("dev1".into(), ids[2]), ("dev1".into(), ids[3])],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.purged_among("dev1", &ids)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![ids[2]],
        "only a held document can be marked purged"
    );
    assert_eq!(
        s.held_among("dev1", &ids).unwrap().len(),
        1,
        "a purged row stays"
    );
    // All devices at once: the same as asking each.
    let devices = vec!["dev1".to_string(), "dev2".to_string(), "nobody".to_string()];
    let all = s.holdings(&devices, &ids).unwrap();
    for d in &devices {
        let h = all.get(d).cloned().unwrap_or_default();
        assert_eq!(h.held, s.held_among(d, &ids).unwrap(), "{d}");
        assert_eq!(h.purged, s.purged_among(d, &ids).unwrap(), "{d}");
    }
    assert_eq!(all["dev1"].purged.len(), 1);
    assert!(!all["dev1"].has(&ids[2]), "held but told to purge");
    assert!(s.holdings(&devices, &[]).unwrap().is_empty());
    // By document, whoever holds them: the same as asking for those devices.
    s.commit(Batch {
        hold: vec![("dev3".into(), ids[3]), ("dev3".into(), ids[0])],
        ..Default::default()
    })
    .unwrap();
    let holders = s.holders(&ids[2..]).unwrap();
    let mut who: Vec<&String> = holders.keys().collect();
    who.sort();
    assert_eq!(
        who,
        vec!["dev1", "dev3"],
        "every device holding one of them"
    );
    for (d, h) in &holders {
        assert_eq!(
            h,
            &s.holdings(std::slice::from_ref(d), &ids[2..]).unwrap()[d]
        );
    }
    assert!(s.holders(&[]).unwrap().is_empty());
    s.commit(Batch {
        hold: vec![("dev1".into(), ids[2])],
        ..Default::default()
    })
    .unwrap();
    assert!(
        s.purged_among("dev1", &ids).unwrap().is_empty(),
        "holding again clears the mark"
    );
    s.commit(Batch {
        unhold: vec![("dev1".into(), ids[2])],
        ..Default::default()
    })
    .unwrap();
    assert!(s.held_among("dev1", &ids).unwrap().is_empty());
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn bump_moves_a_row_without_changing_content(mut s: Box<dyn Storage>) {
    let d = doc_with("a");
    let id = DocumentId::random();
    s.commit(Batch {
        docs: vec![write(id, "s1", &d, d.save(), WriteMode::Snapshot)],
        ..Default::default()
    })
    .unwrap();
    let c = s
        .commit(Batch {
            bump: vec![id],
            ..Default::default()
        })
        .unwrap();
    let row = &s.catalog_get(&[id]).unwrap()[0];
    assert_eq!((row.seq, row.content_seq), (c.last_seq, 1));
    assert_eq!(row.heads, d.get_heads());
}

/// A conformance check: a school's rows page by page, all of them once, in sequence order,
/// across more than one page.
pub fn every_row_of_a_school_is_visited_once_in_order(mut s: Box<dyn Storage>) {
    use crate::storage::CATALOG_PAGE;
    let d = doc_with("a");
    let bytes = d.save();
    let n = CATALOG_PAGE + 100;
    let ids: Vec<DocumentId> = (0..n).map(|_| DocumentId::random()).collect();
    for chunk in ids.chunks(1_000) {
        s.commit(Batch {
            docs: chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let school = if i % 500 == 7 { "other" } else { "s1" };
                    write(*id, school, &d, bytes.clone(), WriteMode::Snapshot)
                })
                .collect(),
            ..Default::default()
        })
        .unwrap();
    }
    let mut seen = vec![];
    s.for_each_in_school("s1", &mut |row| {
        seen.push((row.seq, row.id));
        Ok(())
    })
    .unwrap();
    let want: Vec<DocumentId> = s
        .catalog_school("s1")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(want.len() > CATALOG_PAGE, "more than one page");
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "in sequence order"
    );
    assert_eq!(seen.into_iter().map(|(_, id)| id).collect::<Vec<_>>(), want);
}
