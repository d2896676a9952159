//! Checks of group commit ([`Storage::begin_group`]): a group's commits are read inside it
//! at once and stored at its end; one commit of a group that fails undoes itself alone.

use super::*;
use crate::Error;
use automerge::ReadDoc;

fn new_doc(id: DocumentId, key: &str) -> Batch {
    let d = doc_with(key);
    Batch {
        docs: vec![DocWrite {
            base: Some(vec![]),
            ..write(id, "s1", &d, d.save(), WriteMode::Snapshot)
        }],
        ..Default::default()
    }
}

pub fn a_groups_commits_are_read_in_it_and_stored_at_its_end(mut s: Box<dyn Storage>) {
    let (a, b) = (DocumentId::random(), DocumentId::random());
    let before = s.last_seq().unwrap();
    s.begin_group().unwrap();
    let first = s.commit(new_doc(a, "a")).unwrap();
    let second = s.commit(new_doc(b, "b")).unwrap();
    assert_eq!(
        first.last_seq + 1,
        second.last_seq,
        "a group's commits are sequenced in order"
    );
    // The group reads its own writes.
    assert_eq!(
        s.catalog_get(&[a, b]).unwrap().len(),
        2,
        "read inside the group"
    );
    assert!(s.load_doc(b).unwrap().is_some());
    s.end_group().unwrap();
    assert_eq!(s.last_seq().unwrap(), before + 2);
    assert_eq!(
        s.catalog_get(&[a, b]).unwrap().len(),
        2,
        "stored at its end"
    );
    // A group of reads alone, and commits on their own after a group.
    s.begin_group().unwrap();
    assert_eq!(s.last_seq().unwrap(), before + 2);
    s.end_group().unwrap();
    let c = DocumentId::random();
    s.commit(new_doc(c, "c")).unwrap();
    assert_eq!(s.last_seq().unwrap(), before + 3);
}

pub fn a_failed_commit_in_a_group_undoes_itself_alone(mut s: Box<dyn Storage>) {
    let (a, b, c) = (
        DocumentId::random(),
        DocumentId::random(),
        DocumentId::random(),
    );
    s.commit(new_doc(b, "b")).unwrap();
    s.begin_group().unwrap();
    s.commit(new_doc(a, "a")).unwrap();
    // Made from nothing, while `b` exists: a stale base, refused, nothing of it written.
    assert!(matches!(s.commit(new_doc(b, "b2")), Err(Error::Conflict)));
    s.commit(new_doc(c, "c")).unwrap();
    s.end_group().unwrap();
    assert_eq!(s.catalog_get(&[a, b, c]).unwrap().len(), 3);
    let b_doc = Automerge::load(&s.load_doc(b).unwrap().unwrap()).unwrap();
    assert!(
        b_doc.get(ROOT, "b").unwrap().is_some() && b_doc.get(ROOT, "b2").unwrap().is_none(),
        "the refused write left the document as it was"
    );
}
