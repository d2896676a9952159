//! The conformance suite every [`Storage`] implementation must pass.
//!
//! Each check is a function of a fresh, empty storage that panics with a message naming the
//! behaviour on failure. [`storage_conformance!`](crate::storage_conformance) expands to one
//! `#[test]` per check for one storage, so a failure names its check and hides no other.
//! Compiled for tests only (feature `testing`).

use super::*;
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use omkijken_core::{AccessFields, DocumentId, Header};

/// One `#[test]` per conformance check, each on a fresh storage from `$make`: a closure
/// taking the check's name and returning `Some((storage, keep))`, where `keep` is whatever
/// must outlive the storage (a temporary directory, a test schema), or `None` to skip (no
/// test database). Use it inside a module of its own per storage.
#[macro_export]
macro_rules! storage_conformance {
    ($make:expr) => {
        $crate::storage_conformance!(@checks $make; commit_assigns_increasing_sequences_in_order, appended_chunks_load_back_as_one_document, snapshot_replaces_the_log, the_summary_follows_the_heads_it_was_written_with, access_fields_round_trip, catalog_since_filters_by_school_and_cursor_and_tells_held, bump_moves_a_row_without_changing_content, erase_drops_bytes_and_leaves_a_tombstone, enrollment_codes_are_one_time_and_expire, revoked_devices_stay_known_as_revoked, read_audit_rows_are_deduplicated_per_device_sequence, admin_events_are_sequenced, a_write_from_a_stale_state_conflicts_and_writes_nothing, one_batch_may_name_a_document_or_a_row_twice, many_documents_load_at_once_as_each_alone, the_epoch_stays_until_renewed, the_audit_log_is_a_hash_chain, a_school_policy_is_replaced_whole, admin_accounts_are_kept_by_name_and_replaced, a_reported_outbox_is_kept_with_its_time);
    };
    (@checks $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Some((storage, _keep)) = ($make)(stringify!($check)) {
                    $crate::storage::conformance::$check(storage);
                }
            }
        )*
    };
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn admin_accounts_are_kept_by_name_and_replaced(mut s: Box<dyn Storage>) {
    assert_eq!(s.admin_account("anna").unwrap(), None);
    let mut anna = AdminAccount {
        name: "anna".into(),
        role: AdminRole::ItAdmin,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: 1_700_000_000_000,
        disabled: false,
    };
    let fg = AdminAccount {
        name: "fg".into(),
        role: AdminRole::PrivacyOfficer,
        ..anna.clone()
    };
    s.put_admin_account(&anna).unwrap();
    s.put_admin_account(&fg).unwrap();
    assert_eq!(s.admin_account("anna").unwrap().as_ref(), Some(&anna));
    anna.disabled = true;
    anna.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".into();
    s.put_admin_account(&anna).unwrap();
    assert_eq!(
        s.admin_accounts().unwrap(),
        vec![anna, fg],
        "an account is replaced whole, listed by name"
    );
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn a_school_policy_is_replaced_whole(mut s: Box<dyn Storage>) {
    assert_eq!(s.school_policy("s1").unwrap(), None);
    s.set_school_policy("s1", r#"{"a":1}"#).unwrap();
    s.set_school_policy("s2", r#"{"b":"één"}"#).unwrap();
    s.set_school_policy("s1", r#"{"a":2}"#).unwrap();
    assert_eq!(
        s.school_policy("s1").unwrap().as_deref(),
        Some(r#"{"a":2}"#)
    );
    assert_eq!(
        s.school_policy("s2").unwrap().as_deref(),
        Some(r#"{"b":"één"}"#)
    );
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn the_audit_log_is_a_hash_chain(mut s: Box<dyn Storage>) {
    let row = |n: i64, seq: Option<i64>| AuditRecord {
        seq: 0,
        at: n,
        school: "s1".into(),
        device: Some("d1".into()),
        user: Some("m1".into()),
        action: AuditAction::Read,
        document: Some(DocumentId::random()),
        kind: Some("signal".into()),
        pupil: Some("p1".into()),
        device_seq: seq,
        device_at: Some(n),
    };
    s.commit(Batch {
        audit: vec![row(1, Some(1)), row(2, None), row(3, Some(2))],
        ..Default::default()
    })
    .unwrap();
    // A row already there (same device sequence) is not linked twice.
    s.commit(Batch {
        audit: vec![row(4, Some(2)), row(5, Some(3))],
        ..Default::default()
    })
    .unwrap();
    let v = crate::admin::verify_audit(s.as_mut()).unwrap();
    assert_eq!((v.rows, v.unlinked, v.broken_at), (4, 0, None));
    let page = s.audit_page(0, 100).unwrap();
    assert_eq!(page.len(), 4);
    let mut prev = [0u8; 32];
    for (r, h) in &page {
        let h = h.clone().expect("every row linked");
        assert_eq!(h, audit_hash(&prev, r).to_vec());
        prev = h.try_into().unwrap();
    }
    assert_eq!(v.head.unwrap().1, hex::encode(prev));
    // Pages continue after a sequence.
    let rest = s.audit_page(page[1].0.seq, 100).unwrap();
    assert_eq!(rest.len(), 2);
}

fn header(school: &str, pupil: Option<&str>) -> Header {
    Header {
        kind: "excursion".into(),
        school: school.into(),
        pupil: pupil.map(Into::into),
        author: "t1".into(),
        created_at: 5,
        schema: 1,
    }
}

fn doc_with(key: &str) -> Automerge {
    let mut d = Automerge::new();
    let mut tx = d.transaction();
    tx.put(ROOT, key, 1).unwrap();
    tx.commit();
    d
}

fn write(
    id: DocumentId,
    school: &str,
    doc: &Automerge,
    data: Vec<u8>,
    mode: WriteMode,
) -> DocWrite {
    DocWrite {
        id,
        header: header(school, Some("p1")),
        fields: AccessFields::default(),
        heads: doc.get_heads(),
        data,
        mode,
        summary: None,
        base: None,
    }
}

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

fn code(hash: u8, expires_at: i64) -> EnrollmentCode {
    EnrollmentCode {
        code_hash: [hash; 32],
        school: "s1".into(),
        user: "m1".into(),
        created_at: 0,
        expires_at,
        scope: None,
    }
}

fn new_device(id: &str, actor: u8, token: u8) -> NewDevice {
    NewDevice {
        id: id.into(),
        actor: vec![actor; 16],
        label: "tablet".into(),
        token_hash: [token; 32],
    }
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn enrollment_codes_are_one_time_and_expire(mut s: Box<dyn Storage>) {
    s.commit(Batch {
        codes: vec![code(1, 100), code(2, 100), code(3, 100)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        s.enroll(&[9; 32], 10, &new_device("d0", 9, 9)).unwrap(),
        EnrollOutcome::BadCode,
        "unknown code"
    );
    let EnrollOutcome::Enrolled(d) = s.enroll(&[1; 32], 10, &new_device("d1", 1, 1)).unwrap()
    else {
        panic!("a fresh code enrolls");
    };
    assert_eq!((d.school.as_str(), d.user.as_str()), ("s1", "m1"));
    assert_eq!(
        s.enroll(&[1; 32], 11, &new_device("d2", 2, 2)).unwrap(),
        EnrollOutcome::BadCode,
        "spent code"
    );
    assert_eq!(
        s.enroll(&[2; 32], 100, &new_device("d3", 3, 3)).unwrap(),
        EnrollOutcome::BadCode,
        "expired code"
    );
    assert_eq!(
        s.enroll(&[3; 32], 10, &new_device("d4", 1, 4)).unwrap(),
        EnrollOutcome::ActorTaken,
        "actor of another device"
    );
    assert!(
        matches!(
            s.enroll(&[3; 32], 10, &new_device("d4", 4, 4)).unwrap(),
            EnrollOutcome::Enrolled(_)
        ),
        "a refused actor does not spend the code"
    );
    assert_eq!(s.device_by_token(&[1; 32]).unwrap().unwrap().id, "d1");
    assert_eq!(s.devices().unwrap().len(), 2);
    let enrolls = s.audit(&AuditFilter::Staff("m1".into())).unwrap();
    assert_eq!(enrolls.len(), 2);
    assert!(enrolls.iter().all(|a| a.action == AuditAction::Enroll));
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn revoked_devices_stay_known_as_revoked(mut s: Box<dyn Storage>) {
    s.commit(Batch {
        codes: vec![code(1, 100)],
        ..Default::default()
    })
    .unwrap();
    s.enroll(&[1; 32], 10, &new_device("d1", 1, 1)).unwrap();
    s.commit(Batch {
        revoke: vec![("d1".into(), 20)],
        touch: vec![("d1".into(), 15)],
        ..Default::default()
    })
    .unwrap();
    let d = s.device("d1").unwrap().unwrap();
    assert_eq!((d.revoked_at, d.last_seen), (Some(20), Some(15)));
    s.commit(Batch {
        revoke: vec![("d1".into(), 30)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.device("d1").unwrap().unwrap().revoked_at, Some(20));
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn a_reported_outbox_is_kept_with_its_time(mut s: Box<dyn Storage>) {
    s.commit(Batch {
        codes: vec![code(1, 100), code(2, 100)],
        ..Default::default()
    })
    .unwrap();
    s.enroll(&[1; 32], 10, &new_device("d1", 1, 1)).unwrap();
    s.enroll(&[2; 32], 10, &new_device("d2", 2, 2)).unwrap();
    assert_eq!(
        s.device("d1").unwrap().unwrap().outbox,
        None,
        "none reported yet"
    );
    let waiting = DeviceOutbox {
        pending: 3,
        not_accepted: 1,
        oldest_at: Some(1_000),
        reported_at: 5_000,
    };
    s.commit(Batch {
        outbox: vec![("d1".into(), waiting)],
        touch: vec![("d1".into(), 5_000)],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.device("d1").unwrap().unwrap().outbox, Some(waiting));
    assert_eq!(
        s.device_by_token(&[1; 32]).unwrap().unwrap().outbox,
        Some(waiting)
    );
    // The largest a report may hold reads back as it was written.
    let most = DeviceOutbox {
        pending: omkijken_core::sync::MAX_OUTBOX_COUNT,
        not_accepted: omkijken_core::sync::MAX_OUTBOX_COUNT,
        oldest_at: Some(-(omkijken_core::sync::MAX_OUTBOX_AGE_MS as i64)),
        reported_at: 6_000,
    };
    s.commit(Batch {
        outbox: vec![("d2".into(), most)],
        ..Default::default()
    })
    .unwrap();
    // A later report replaces the earlier one whole (no oldest once nothing waits).
    let drained = DeviceOutbox {
        pending: 0,
        not_accepted: 0,
        oldest_at: None,
        reported_at: 7_000,
    };
    s.commit(Batch {
        outbox: vec![("d1".into(), drained)],
        ..Default::default()
    })
    .unwrap();
    let listed: Vec<_> = s
        .devices()
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.outbox))
        .collect();
    assert!(listed.contains(&("d1".into(), Some(drained))), "{listed:?}");
    assert!(listed.contains(&("d2".into(), Some(most))), "{listed:?}");
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn read_audit_rows_are_deduplicated_per_device_sequence(mut s: Box<dyn Storage>) {
    let doc = DocumentId::random();
    let read = |seq| AuditRecord {
        seq: 0,
        at: 1,
        school: "s1".into(),
        device: Some("d1".into()),
        user: Some("m1".into()),
        action: AuditAction::Read,
        document: Some(doc),
        kind: Some("signal".into()),
        pupil: Some("p1".into()),
        device_seq: Some(seq),
        device_at: Some(1),
    };
    s.commit(Batch {
        audit: vec![read(1), read(2)],
        ..Default::default()
    })
    .unwrap();
    s.commit(Batch {
        audit: vec![read(2), read(3)],
        ..Default::default()
    })
    .unwrap();
    let rows = s.audit(&AuditFilter::Pupil("p1".into())).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.device_seq).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)]
    );
    assert_eq!(rows[0].document, Some(doc));
    assert!(
        s.audit(&AuditFilter::Pupil("p2".into()))
            .unwrap()
            .is_empty()
    );
    // Security events: by action, with no school, user or device.
    let failed = AuditRecord {
        seq: 0,
        at: 2,
        school: String::new(),
        device: None,
        user: None,
        action: AuditAction::EnrollFailed,
        document: None,
        kind: Some("bad_code".into()),
        pupil: None,
        device_seq: None,
        device_at: None,
    };
    s.commit(Batch {
        audit: vec![failed.clone(), failed],
        ..Default::default()
    })
    .unwrap();
    let rows = s
        .audit(&AuditFilter::Action(AuditAction::EnrollFailed))
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.action == AuditAction::EnrollFailed
        && r.kind.as_deref() == Some("bad_code")
        && r.school.is_empty()));
    assert_eq!(
        s.audit(&AuditFilter::Action(AuditAction::Read))
            .unwrap()
            .len(),
        3
    );
}

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn admin_events_are_sequenced(mut s: Box<dyn Storage>) {
    assert_eq!(s.last_admin_event().unwrap(), 0);
    let ev = |kind| AdminEvent {
        seq: 0,
        at: 1,
        kind,
        school: Some("s1".into()),
        device: None,
    };
    s.commit(Batch {
        events: vec![ev(AdminEventKind::Roster), ev(AdminEventKind::Revoke)],
        ..Default::default()
    })
    .unwrap();
    let last = s.last_admin_event().unwrap();
    let evs = s.admin_events_since(last - 1).unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].kind, AdminEventKind::Revoke);
    assert_eq!(s.admin_events_since(0).unwrap().len(), 2);
}

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

/// A conformance check (see [`storage_conformance!`](crate::storage_conformance)).
pub fn the_epoch_stays_until_renewed(mut s: Box<dyn Storage>) {
    let first = s.epoch().unwrap();
    assert_ne!(first, 0);
    assert_eq!(s.epoch().unwrap(), first, "made once");
    let renewed = s.renew_epoch().unwrap();
    assert_ne!(renewed, first, "a restore starts a new lineage");
    assert_eq!(s.epoch().unwrap(), renewed);
    assert!(i64::try_from(renewed).is_ok(), "fits a signed column");
}
