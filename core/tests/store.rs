//! The local store through core's public API: records round-trip, concurrent edits merge,
//! projections follow documents, access rules hold, the file is encrypted.

mod common;

use common::*;
use omkijken_core::model::FollowUpKind;
use omkijken_core::store::{AttentionReason, NewThermometerEntry, Received, SignalFilter, Whole};
use omkijken_core::{DocumentId, Error, Store, doc};

fn entry(pupil: &str, at: i64, score: u8, talk: bool) -> NewThermometerEntry {
    NewThermometerEntry {
        pupil: pupil.into(),
        at,
        score,
        emotions: vec!["moe".into()],
        wants_to_talk: talk,
        note: None,
    }
}

#[test]
fn signal_round_trips_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let id = t1
        .record_signal(signal("p1", 1, "sat alone at lunch"))
        .unwrap();
    let s = t1.signal(id).unwrap();
    assert_eq!(s.facts, "sat alone at lunch");
    assert_eq!(s.urgency, 1);
    assert_eq!(s.context.excursion.as_deref(), Some("trip-1"));
    assert_eq!(s.interpretation.as_ref().unwrap().by, "t1");
    assert_eq!(s.pupil_quote.as_deref(), Some("ik wil naar huis"));
    assert!(s.shared);
    // Reopen: the record is on disk.
    drop(t1);
    let reopened = Store::open(dir.path().join("t1.db"), KEY).unwrap();
    assert_eq!(reopened.signal(id).unwrap().facts, "sat alone at lunch");
}

#[test]
fn shared_signal_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let id = t1.record_signal(signal("p1", 1, "original facts")).unwrap();
    let err = t1
        .edit_signal_draft(id, |s| s.facts = "rewritten".into())
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)));
    t1.append_follow_up(id, FollowUpKind::Correction, "it was Tuesday, not Monday")
        .unwrap();
    let s = t1.signal(id).unwrap();
    assert_eq!(s.facts, "original facts");
    assert_eq!(s.follow_ups.len(), 1);
    assert_eq!(s.follow_ups[0].kind, "correction");
}

#[test]
fn draft_signal_can_be_edited_then_shared() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let mut s = signal("p2", 0, "draft facts");
    s.share = false;
    let id = t1.record_signal(s).unwrap();
    t1.edit_signal_draft(id, |s| s.facts = "better facts".into())
        .unwrap();
    t1.share_signal(id).unwrap();
    let s = t1.signal(id).unwrap();
    assert_eq!((s.facts.as_str(), s.shared), ("better facts", true));
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let mut s = signal("p1", 4, "x");
    assert!(matches!(
        t1.record_signal(s.clone()),
        Err(Error::Invalid(_))
    ));
    s.urgency = 1;
    s.category = "no-such-category".into();
    assert!(matches!(
        t1.record_signal(s.clone()),
        Err(Error::Invalid(_))
    ));
    s.category = "welbevinden".into();
    s.pupil = "unknown-pupil".into();
    assert!(matches!(t1.record_signal(s), Err(Error::NotFound)));
    assert!(
        t1.documents()
            .unwrap()
            .iter()
            .all(|d| d.header.kind == "roster")
    );
    // The error text never carries what the user typed.
    let mut s = signal("p1", 9, "SECRET-FACTS");
    s.pupil_quote = Some("SECRET-QUOTE".into());
    let msg = t1.record_signal(s).unwrap_err().to_string();
    assert!(!msg.contains("SECRET"), "{msg}");
}

#[test]
fn conversation_round_trips_and_concurrent_notes_merge_character_by_character() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let (cc, _) = store_for(dir.path(), "cc");
    let id = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    m1.edit_notes(id, 0, 0, "Gesprek ging goed.").unwrap();
    m1.set_answer(id, "goed-in", "tekenen").unwrap();
    let agreement = m1
        .add_agreement(id, "elke week even bijpraten", "m1", Some("2026-11-30"))
        .unwrap();
    m1.share_conversation(id).unwrap();
    // The coordinator (pupil p1 is in care) gets the shared note.
    exchange(&m1, &cc);
    assert_eq!(
        cc.conversation(id).unwrap().notes.as_str(),
        "Gesprek ging goed."
    );

    // Both edit offline, at different places in the same text.
    m1.edit_notes(id, 0, 0, "Mentor: ").unwrap();
    let end = cc.conversation(id).unwrap().notes.as_str().chars().count();
    cc.edit_notes(id, end, 0, " IB: contact ouders.").unwrap();
    m1.set_answer(id, "energie", "buiten spelen").unwrap();
    exchange(&m1, &cc);

    for s in [&m1, &cc] {
        let c = s.conversation(id).unwrap();
        assert_eq!(
            c.notes.as_str(),
            "Mentor: Gesprek ging goed. IB: contact ouders."
        );
        assert_eq!(c.answers["goed-in"].as_str(), "tekenen");
        assert_eq!(c.answers["energie"].as_str(), "buiten spelen");
        assert_eq!(c.agreements.len(), 1);
        assert_eq!(c.agreements[0].id, agreement);
        assert_eq!(c.visibility, "shared");
    }
    assert_eq!(
        m1.info(id).unwrap().unwrap().heads,
        cc.info(id).unwrap().unwrap().heads
    );
    m1.finalize_conversation(id).unwrap();
    let list = m1.list_conversations("p1").unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].status.as_str(), list[0].open_agreements),
        ("final", 1)
    );
}

#[test]
fn thermometer_month_created_offline_on_two_devices_keeps_both_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let (t1, _) = store_for(dir.path(), "t1");
    // Both create November for p2 without having seen each other.
    let a = m1.record_thermometer(entry("p2", T0, 4, false)).unwrap();
    let b = t1
        .record_thermometer(entry("p2", T0 + 60_000, 2, true))
        .unwrap();
    assert_eq!(a, b, "the month has one deterministic id");
    exchange(&m1, &t1);
    for s in [&m1, &t1] {
        let month = s.thermometer_month("p2", "2026-11").unwrap().unwrap();
        let mut scores: Vec<u8> = month.entries.iter().map(|e| e.score).collect();
        scores.sort();
        assert_eq!(scores, vec![2, 4], "both entries survive");
        let points = s.thermometer_entries("p2", T0 - DAY, T0 + DAY).unwrap();
        assert_eq!(points.len(), 2);
        assert!(points[1].wants_to_talk);
    }
    // One root list, not two hidden as a conflict.
    let d = m1.load(a).unwrap().unwrap();
    use automerge::ReadDoc;
    let (_, record) = d.get(automerge::ROOT, "record").unwrap().unwrap();
    let entries = d.get_all(&record, "entries").unwrap();
    assert_eq!(entries.len(), 1);
}

#[test]
fn thermometer_scale_is_checked_for_the_pupils_age_band() {
    let dir = tempfile::tempdir().unwrap();
    let (m2, _) = store_for(dir.path(), "m2");
    // p3 is groep 1-4: 4 emotions x 3 intensities, scores 1..=12, no extra words.
    let mut e = entry("p3", T0, 13, false);
    e.emotions.clear();
    assert!(matches!(
        m2.record_thermometer(e.clone()),
        Err(Error::Invalid(_))
    ));
    e.score = 12;
    m2.record_thermometer(e).unwrap();
}

#[test]
fn access_rules_apply_to_local_reads_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let (t1, _) = store_for(dir.path(), "t1");
    let (t2, _) = store_for(dir.path(), "t2");
    let (adm, _) = store_for(dir.path(), "adm");
    let conv = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    m1.share_conversation(conv).unwrap();
    let own = t1.record_signal(signal("p2", 1, "t1's signal")).unwrap();
    let other = t2.record_signal(signal("p2", 1, "t2's signal")).unwrap();
    // A teacher may not start a kindgesprek.
    assert!(matches!(
        t1.start_conversation("p1", "ik-jij-wij", "2026-11-16"),
        Err(Error::Forbidden(_))
    ));
    for (a, b) in [(&m1, &t1), (&m1, &t2), (&m1, &adm), (&t1, &t2)] {
        exchange(a, b);
    }
    // The teacher reads back her own signal, not a colleague's, and no conversation.
    assert!(t1.signal(own).is_ok());
    assert!(matches!(t1.signal(other), Err(Error::NotFound)));
    assert!(matches!(t1.conversation(conv), Err(Error::NotFound)));
    let listed: Vec<DocumentId> = t1
        .list_signals(&SignalFilter::default())
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![own]);
    assert!(t1.list_conversations("p1").unwrap().is_empty());
    // The mentor sees both signals about her pupil.
    assert_eq!(
        m1.list_signals(&SignalFilter {
            pupil: Some("p2".into()),
            ..Default::default()
        })
        .unwrap()
        .len(),
        2
    );
    // The admin reads no care content.
    assert!(matches!(adm.conversation(conv), Err(Error::NotFound)));
    assert!(
        adm.list_signals(&SignalFilter::default())
            .unwrap()
            .is_empty()
    );
    // Read-only users cannot write: the teacher may not follow up on her colleague's signal.
    assert!(
        t1.append_follow_up(other, FollowUpKind::FollowUp, "x")
            .is_err()
    );
}

#[test]
fn private_working_note_stays_with_its_author() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let (cc, _) = store_for(dir.path(), "cc");
    let conv = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    m1.edit_notes(conv, 0, 0, "persoonlijke werkaantekening")
        .unwrap();
    exchange(&m1, &cc);
    assert!(matches!(cc.conversation(conv), Err(Error::NotFound)));
    assert!(cc.list_conversations("p1").unwrap().is_empty());
    // Only the author shares it.
    assert!(cc.share_conversation(conv).is_err());
}

#[test]
fn attention_list_shows_open_signals_talk_flags_and_falling_trends() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (m1, clock) = store_for(dir.path(), "m1");
    let (cc, cc_clock) = store_for(dir.path(), "cc");
    let urgent = t1.record_signal(signal("p1", 2, "urgent")).unwrap();
    let note = t1.record_signal(signal("p2", 0, "just a note")).unwrap();
    // p1: good scores three weeks ago, low scores this week, and a talk flag.
    for (days_ago, score, talk) in [
        (20, 5, false),
        (18, 5, false),
        (15, 4, false),
        (3, 1, false),
        (1, 2, true),
    ] {
        m1.record_thermometer(entry("p1", T0 - days_ago * DAY, score, talk))
            .unwrap();
    }
    clock.advance(0);
    cc_clock.advance(0);
    exchange(&t1, &cc);
    exchange(&m1, &cc);
    let list = cc.attention_list().unwrap();
    assert!(list.iter().any(
        |i| matches!(i.reason, AttentionReason::OpenSignal { signal, .. } if signal == urgent)
    ));
    assert!(
        !list.iter().any(
            |i| matches!(i.reason, AttentionReason::OpenSignal { signal, .. } if signal == note)
        )
    );
    let talks = |s: &Store| {
        s.attention_list()
            .unwrap()
            .into_iter()
            .filter(|i| {
                i.pupil == "p1"
                    && matches!(
                        i.reason,
                        AttentionReason::WantsToTalk { .. }
                            | AttentionReason::TalkNotAnswered { .. }
                    )
            })
            .map(|i| i.reason)
            .collect::<Vec<_>>()
    };
    // The mentor sees the request to talk at once; the care coordinator not yet.
    assert!(matches!(
        talks(&m1)[..],
        [AttentionReason::WantsToTalk { .. }]
    ));
    assert!(talks(&cc).is_empty());
    assert!(
        list.iter()
            .any(|i| i.pupil == "p1" && matches!(i.reason, AttentionReason::FallingTrend { .. }))
    );
    // A week later it is still open (no longer a 14-day window), and after three school
    // days unanswered it is on the care coordinator's list too.
    clock.advance(7 * DAY);
    cc_clock.advance(7 * DAY);
    assert_eq!(talks(&m1).len(), 1);
    assert!(matches!(
        talks(&cc)[..],
        [AttentionReason::TalkNotAnswered { school_days, .. }] if school_days >= 3
    ));
    // The mentor answers: it leaves both lists.
    let open = m1.open_talk_requests().unwrap();
    assert_eq!(open.len(), 1);
    assert!(!open[0].by_pupil);
    m1.answer_talk_request("p1", &open[0].entry, "2026-11-24", None)
        .unwrap();
    assert!(talks(&m1).is_empty());
    assert!(matches!(
        m1.answer_talk_request("p1", &open[0].entry, "2026-11-24", None),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        m1.answer_talk_request("p1", &open[0].entry, "24-11-2026", None),
        Err(Error::Invalid(_))
    ));
    exchange(&m1, &cc);
    assert!(talks(&cc).is_empty());
    // Picked up: the signal leaves the list, and the signaller sees it was picked up.
    cc.append_follow_up(urgent, FollowUpKind::PickedUp, "")
        .unwrap();
    assert!(
        !cc.attention_list()
            .unwrap()
            .iter()
            .any(|i| matches!(i.reason, AttentionReason::OpenSignal { .. }))
    );
    exchange(&cc, &t1);
    assert!(
        t1.list_signals(&SignalFilter::default())
            .unwrap()
            .iter()
            .any(|s| s.id == urgent && s.picked_up)
    );
}

#[test]
fn projections_can_be_rebuilt_from_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    for i in 0..5 {
        m1.record_signal(signal(
            if i % 2 == 0 { "p1" } else { "p2" },
            (i % 4) as u8,
            "f",
        ))
        .unwrap();
        m1.record_thermometer(entry("p2", T0 + i * 1000, 3, false))
            .unwrap();
    }
    let c = m1
        .start_conversation("p2", "ik-jij-wij", "2026-11-10")
        .unwrap();
    m1.add_agreement(c, "a", "m1", None).unwrap();
    let snapshot = |s: &Store| {
        (
            s.list_signals(&SignalFilter::default()).unwrap(),
            s.list_conversations("p2").unwrap(),
            s.thermometer_entries("p2", 0, i64::MAX).unwrap(),
        )
    };
    let before = snapshot(&m1);
    assert_eq!(before.0.len(), 5);
    assert_eq!(before.2.len(), 5);
    m1.rebuild_projections().unwrap();
    assert_eq!(snapshot(&m1), before);
}

#[test]
fn merging_a_foreign_document_updates_projections() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (m1, _) = store_for(dir.path(), "m1");
    let id = t1.record_signal(signal("p2", 1, "f")).unwrap();
    assert!(
        m1.list_signals(&SignalFilter::default())
            .unwrap()
            .is_empty()
    );
    m1.merge_bytes(id, &t1.document_bytes(id).unwrap().unwrap())
        .unwrap();
    assert_eq!(m1.list_signals(&SignalFilter::default()).unwrap()[0].id, id);
}

#[test]
fn a_document_that_is_not_a_valid_record_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    // A document whose header says "signal" but whose record is garbage.
    let mut d = automerge::AutoCommit::new();
    use automerge::transaction::Transactable;
    let h = d
        .put_object(automerge::ROOT, "header", automerge::ObjType::Map)
        .unwrap();
    for (k, v) in [
        ("kind", "signal"),
        ("school", SCHOOL),
        ("pupil", "p1"),
        ("author", "m1"),
    ] {
        d.put(&h, k, v).unwrap();
    }
    d.put(&h, "created_at", 0i64).unwrap();
    d.put(&h, "schema", 1u64).unwrap();
    d.put(automerge::ROOT, "record", "not a map").unwrap();
    let id = DocumentId::random();
    m1.merge_bytes(id, &d.save()).unwrap();
    assert!(matches!(
        m1.signal(id),
        Err(Error::InvalidDocument { .. } | Error::NotFound)
    ));
    // The bytes are kept (no word lost), and lists skip it.
    assert!(m1.document_bytes(id).unwrap().is_some());
    assert!(
        m1.list_signals(&SignalFilter::default())
            .unwrap()
            .is_empty()
    );
    // Garbage bytes are an error, not a panic, and store nothing.
    assert!(m1.merge_bytes(DocumentId::random(), b"garbage").is_err());
}

#[test]
fn outbox_lists_unacknowledged_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let a = t1.record_signal(signal("p1", 1, "a")).unwrap();
    let b = t1.record_signal(signal("p2", 1, "b")).unwrap();
    let outbox: Vec<_> = t1
        .outbox()
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .filter(|i| *i != doc::roster_id(SCHOOL))
        .collect();
    assert_eq!(outbox, vec![a, b]);
    let heads = t1.info(a).unwrap().unwrap().heads;
    t1.set_acked_heads(a, &heads).unwrap();
    assert!(!t1.outbox().unwrap().iter().any(|e| e.id == a));
    // A new change puts it back in the outbox.
    t1.append_follow_up(a, FollowUpKind::Correction, "c")
        .unwrap();
    assert!(t1.outbox().unwrap().iter().any(|e| e.id == a));
}

#[test]
fn reads_of_care_content_are_logged_locally() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let a = t1.record_signal(signal("p1", 1, "a")).unwrap();
    t1.signal(a).unwrap();
    t1.signal(a).unwrap();
    let log = t1.pending_access_log(100).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].user.as_str(), log[0].doc, log[0].kind.as_str()),
        ("t1", a, "signal")
    );
    t1.mark_access_log_uploaded(log[1].seq).unwrap();
    assert!(t1.pending_access_log(100).unwrap().is_empty());
}

#[test]
fn listeners_hear_of_changes_until_unsubscribed() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let sub = t1.subscribe(move |ids| s2.lock().unwrap().extend_from_slice(ids));
    let a = t1.record_signal(signal("p1", 1, "a")).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![a]);
    drop(sub);
    t1.record_signal(signal("p1", 1, "b")).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn wipe_removes_the_files_and_refuses_further_use() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    t1.record_signal(signal("p1", 1, "a")).unwrap();
    t1.wipe().unwrap();
    assert!(!dir.path().join("t1.db").exists());
    assert!(matches!(
        t1.list_signals(&SignalFilter::default()),
        Err(Error::Revoked)
    ));
}

#[test]
fn store_is_shared_between_threads_and_readers_see_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = t1.clone();
            std::thread::spawn(move || {
                for j in 0..10 {
                    s.record_signal(signal(if (i + j) % 2 == 0 { "p1" } else { "p2" }, 1, "f"))
                        .unwrap();
                    s.list_signals(&SignalFilter::default()).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(t1.list_signals(&SignalFilter::default()).unwrap().len(), 40);
}

#[test]
fn readers_tolerate_unknown_fields_and_missing_optional_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let id = t1.record_signal(signal("p1", 1, "facts")).unwrap();
    // A newer app version added a field, and an older one never wrote `pupil_quote`.
    let mut d = automerge::AutoCommit::load(&t1.document_bytes(id).unwrap().unwrap()).unwrap();
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let (_, record) = d.get(automerge::ROOT, "record").unwrap().unwrap();
    d.put(&record, "added_in_a_later_version", "x").unwrap();
    d.delete(&record, "pupil_quote").unwrap();
    t1.merge_bytes(id, &d.save()).unwrap();
    let s = t1.signal(id).unwrap();
    assert_eq!(s.facts, "facts");
    assert_eq!(s.pupil_quote, None);
    assert_eq!(t1.list_signals(&SignalFilter::default()).unwrap().len(), 1);
    // Editing keeps the unknown field: nothing a newer version wrote is lost.
    t1.append_follow_up(id, FollowUpKind::Correction, "c")
        .unwrap();
    let d = t1.load(id).unwrap().unwrap();
    let (_, record) = d.get(automerge::ROOT, "record").unwrap().unwrap();
    assert!(
        d.get(&record, "added_in_a_later_version")
            .unwrap()
            .is_some()
    );
}

#[test]
fn fast_record_reads_equal_the_typed_records() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (m1, _) = store_for(dir.path(), "m1");
    let id = t1.record_signal(signal("p1", 2, "facts")).unwrap();
    t1.append_follow_up(id, FollowUpKind::Correction, "c")
        .unwrap();
    let d = t1.load(id).unwrap().unwrap();
    let typed: omkijken_core::model::Signal = doc::record(id, &d).unwrap();
    assert_eq!(
        doc::record_fast::<omkijken_core::model::Signal>(id, &d).unwrap(),
        typed
    );
    let month = m1.record_thermometer(entry("p2", T0, 3, true)).unwrap();
    let d = m1.load(month).unwrap().unwrap();
    let typed: omkijken_core::model::ThermometerMonth = doc::record(month, &d).unwrap();
    assert_eq!(
        doc::record_fast::<omkijken_core::model::ThermometerMonth>(month, &d).unwrap(),
        typed
    );
    // The wrong kind is an error, not a panic.
    assert!(doc::record_fast::<omkijken_core::model::Signal>(month, &d).is_err());
}

#[test]
fn fast_record_reads_text_and_conflicts_like_the_typed_record() {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ReadDoc};
    use omkijken_core::model::Signal;
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let id = t1.record_signal(signal("p1", 2, "facts")).unwrap();
    let base = t1.load(id).unwrap().unwrap();
    let (_, rec) = base.get(automerge::ROOT, "record").unwrap().unwrap();
    // Two devices set urgency concurrently: both reads pick the same winner.
    let mut a = base.fork();
    let mut b = base.fork();
    let mut tx = a.transaction();
    tx.put(&rec, "urgency", 1u64).unwrap();
    tx.commit();
    let mut tx = b.transaction();
    tx.put(&rec, "urgency", 3u64).unwrap();
    tx.commit();
    a.merge(&mut b).unwrap();
    let typed: Signal = doc::record(id, &a).unwrap();
    assert_eq!(doc::record_fast::<Signal>(id, &a).unwrap(), typed);
    assert_eq!(
        doc::summarize(id, &a).unwrap().fields.urgency,
        Some(typed.urgency)
    );
    // Automerge text where the record has a string: the typed read refuses it, and so
    // does the fast one (the server must not accept what devices cannot read).
    let mut tx = a.transaction();
    let text = tx.put_object(&rec, "facts", ObjType::Text).unwrap();
    tx.splice_text(&text, 0, 0, "gezien op het plein").unwrap();
    tx.commit();
    assert!(doc::record::<Signal>(id, &a).is_err());
    assert!(doc::record_fast::<Signal>(id, &a).is_err());
}

/// Documents as a server sends changes: without heads or summary.
fn received(docs: &[(DocumentId, Vec<u8>)]) -> Vec<Received> {
    docs.iter()
        .map(|(id, data)| Received {
            id: *id,
            data: data.clone(),
            whole: None,
            replaces: false,
        })
        .collect()
}

/// `n` signals recorded on `store` ("facts 0", "facts 1", ...), with their saved bytes as a
/// server would send them.
fn signals_written_by(store: &Store, n: usize) -> (Vec<DocumentId>, Vec<(DocumentId, Vec<u8>)>) {
    let ids: Vec<DocumentId> = (0..n)
        .map(|i| {
            store
                .record_signal(signal("p1", 2, &format!("facts {i}")))
                .unwrap()
        })
        .collect();
    let docs = ids
        .iter()
        .map(|id| (*id, store.document_bytes(*id).unwrap().unwrap()))
        .collect();
    (ids, docs)
}

#[test]
fn a_batch_merge_keeps_every_document_and_records_acknowledged_heads() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    // 20 signals written elsewhere arrive in one frame (decoded on all cores); the server
    // acknowledged 15 of them.
    let (ids, docs) = signals_written_by(&t1, 20);
    let acks: Vec<_> = ids[..15]
        .iter()
        .map(|id| (*id, t1.info(*id).unwrap().unwrap().heads))
        .collect();
    cc.merge_many_acked(&received(&docs), &acks).unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(cc.signal(*id).unwrap().facts, format!("facts {i}"));
    }
    let signals_out = |s: &Store| -> Vec<DocumentId> {
        s.outbox()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == omkijken_core::model::Kind::Signal)
            .map(|e| e.id)
            .collect()
    };
    let outbox = signals_out(&cc);
    assert_eq!(outbox.len(), 5);
    assert!(ids[15..].iter().all(|id| outbox.contains(id)));
    // A second frame: changes to held documents, and acknowledgements of held ones.
    for id in &ids[..10] {
        t1.append_follow_up(*id, FollowUpKind::Correction, "later")
            .unwrap();
    }
    let docs: Vec<(DocumentId, Vec<u8>)> = ids[..10]
        .iter()
        .map(|id| (*id, t1.document_bytes(*id).unwrap().unwrap()))
        .collect();
    let acks: Vec<_> = ids
        .iter()
        .map(|id| (*id, t1.info(*id).unwrap().unwrap().heads))
        .collect();
    cc.merge_many_acked(&received(&docs), &acks).unwrap();
    assert!(signals_out(&cc).is_empty());
    assert_eq!(cc.signal(ids[3]).unwrap().follow_ups.len(), 1);
    // The same new document twice in one batch, two versions apart: both merge.
    let other = tempfile::tempdir().unwrap();
    let (fresh2, _) = store_for(other.path(), "cc");
    let before = t1.document_bytes(ids[19]).unwrap().unwrap();
    t1.append_follow_up(ids[19], FollowUpKind::Correction, "twice")
        .unwrap();
    let after = t1.document_bytes(ids[19]).unwrap().unwrap();
    fresh2
        .merge_many(&[(ids[19], before), (ids[19], after)])
        .unwrap();
    let merged = fresh2.load(ids[19]).unwrap().unwrap();
    let merged: omkijken_core::model::Signal = doc::record(ids[19], &merged).unwrap();
    assert_eq!(merged.facts, "facts 19");
    assert_eq!(merged.follow_ups[0].text, "twice");
    // Bytes that do not load: an error, and nothing of the frame is written.
    let (fresh, _) = store_for(dir.path(), "cc2");
    let mut bad = docs.clone();
    bad[4].1 = b"not automerge".to_vec();
    let before = fresh.documents().unwrap().len();
    assert!(fresh.merge_many_acked(&received(&bad), &[]).is_err());
    assert_eq!(fresh.documents().unwrap().len(), before);
}

#[test]
fn summaries_read_only_what_they_need_and_equal_the_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let conversation = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    m1.edit_notes(conversation, 0, 0, "Gesprek ging goed.")
        .unwrap();
    m1.add_agreement(conversation, "elke week bijpraten", "m1", None)
        .unwrap();
    let signal = m1.record_signal(signal("p1", 3, "facts")).unwrap();
    // The status is the care team's.
    let (cc, _) = store_for(dir.path(), "cc");
    exchange(&m1, &cc);
    cc.append_follow_up(signal, FollowUpKind::PickedUp, "")
        .unwrap();
    cc.append_follow_up(signal, FollowUpKind::Closed, "")
        .unwrap();
    exchange(&cc, &m1);
    let month = m1.record_thermometer(entry("p1", T0, 2, true)).unwrap();
    for id in [conversation, signal, month] {
        let d = m1.load(id).unwrap().unwrap();
        let full = doc::Hydrated::new(id, &d).unwrap().summary().unwrap();
        assert_eq!(doc::summarize(id, &d).unwrap(), full);
    }
}

proptest::proptest! {
    /// The header read from one walk over the document (what the server validates and the store
    /// projects) equals autosurgeon's typed read, for any header; a header missing a
    /// field is an error for both.
    #[test]
    fn one_pass_header_equals_the_typed_header(
        kind in "[a-z]{1,12}",
        school in ".{0,20}",
        pupil in proptest::option::of(".{0,20}"),
        author in ".{0,20}",
        created_at in proptest::num::i64::ANY,
        schema in proptest::num::u64::ANY,
        drop_field in 0usize..8,
    ) {
        use omkijken_core::model::{Header, Signal};
        let header = Header { kind, school, pupil, author, created_at, schema };
        use automerge::ReadDoc;
        use automerge::transaction::Transactable;
        let id = DocumentId::random();
        let mut d = automerge::Automerge::new();
        let mut tx = d.transaction();
        autosurgeon::reconcile_prop(&mut tx, automerge::ROOT, doc::HEADER_KEY, &header).unwrap();
        let fields = ["kind", "school", "author", "created_at", "schema"];
        if let Some(f) = fields.get(drop_field) {
            let (_, h) = tx.get(automerge::ROOT, doc::HEADER_KEY).unwrap().unwrap();
            tx.delete(&h, *f).unwrap();
        }
        tx.commit();
        let typed = doc::header(id, &d);
        let one_pass = doc::Hydrated::new(id, &d).map(|h| h.header);
        proptest::prop_assert_eq!(typed.is_ok(), one_pass.is_ok());
        if let (Ok(a), Ok(b)) = (typed, one_pass) {
            proptest::prop_assert_eq!(&a, &b);
            proptest::prop_assert_eq!(&a, &header);
        }
        // Not a signal record: reading one is an error, never a panic.
        proptest::prop_assert!(doc::record_fast::<Signal>(id, &d).is_err());
    }
}

/// One concurrent edit to a signal's record, at the Automerge level.
#[derive(Debug, Clone)]
enum Edit {
    Urgency(u64),
    Facts(String),
    Insert(usize, String, String),
    Delete(usize),
    Context(Option<String>),
}

fn edit() -> impl proptest::strategy::Strategy<Value = Edit> {
    use proptest::prelude::*;
    prop_oneof![
        (0u64..5).prop_map(Edit::Urgency),
        ".{0,12}".prop_map(Edit::Facts),
        (0usize..4, "(follow_up|picked_up|closed)", ".{0,8}")
            .prop_map(|(i, k, t)| Edit::Insert(i, k, t)),
        (0usize..4).prop_map(Edit::Delete),
        proptest::option::of("[a-z]{0,6}").prop_map(Edit::Context),
    ]
}

fn apply(d: &mut automerge::Automerge, edits: &[Edit]) {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ReadDoc, ScalarValue};
    let (_, rec) = d.get(automerge::ROOT, "record").unwrap().unwrap();
    let (_, list) = d.get(&rec, "follow_ups").unwrap().unwrap();
    let (_, ctx) = d.get(&rec, "context").unwrap().unwrap();
    let mut tx = d.transaction();
    for e in edits {
        match e {
            Edit::Urgency(u) => tx.put(&rec, "urgency", ScalarValue::Uint(*u)).unwrap(),
            Edit::Facts(f) => tx.put(&rec, "facts", f.as_str()).unwrap(),
            Edit::Insert(i, kind, text) => {
                let at = (*i).min(tx.length(&list));
                let m = tx.insert_object(&list, at, ObjType::Map).unwrap();
                tx.put(&m, "id", format!("f{at}")).unwrap();
                tx.put(&m, "author", "t1").unwrap();
                tx.put(&m, "at", 5i64).unwrap();
                tx.put(&m, "kind", kind.as_str()).unwrap();
                tx.put(&m, "text", text.as_str()).unwrap();
            }
            Edit::Delete(i) => {
                if *i < tx.length(&list) {
                    tx.delete(&list, *i).unwrap();
                }
            }
            Edit::Context(Some(x)) => tx.put(&ctx, "excursion", x.as_str()).unwrap(),
            Edit::Context(None) => {
                let _ = tx.delete(&ctx, "excursion");
            }
        }
    }
    tx.commit();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// The one-pass reads (record, summary) of a signal that two devices edited concurrently
    /// equal the typed read and the full read: the same winners of conflicts, the same list
    /// order, the same refusals.
    #[test]
    fn one_pass_reads_equal_typed_reads_after_concurrent_edits(
        a_edits in proptest::collection::vec(edit(), 0..6),
        b_edits in proptest::collection::vec(edit(), 0..6),
    ) {
        use omkijken_core::model::Signal;
        let dir = tempfile::tempdir().unwrap();
        let (t1, _) = store_for(dir.path(), "t1");
        let id = t1.record_signal(signal("p1", 2, "facts")).unwrap();
        t1.append_follow_up(id, FollowUpKind::FollowUp, "first").unwrap();
        let base = t1.load(id).unwrap().unwrap();
        let mut a = base.fork();
        let mut b = base.fork();
        apply(&mut a, &a_edits);
        apply(&mut b, &b_edits);
        a.merge(&mut b).unwrap();
        let typed = doc::record::<Signal>(id, &a);
        let fast = doc::record_fast::<Signal>(id, &a);
        proptest::prop_assert_eq!(typed.is_ok(), fast.is_ok());
        if let (Ok(t), Ok(f)) = (typed, fast) {
            proptest::prop_assert_eq!(t, f);
        }
        let full = doc::Hydrated::new(id, &a).unwrap().summary();
        let pruned = doc::summarize(id, &a);
        proptest::prop_assert_eq!(full.is_ok(), pruned.is_ok());
        if let (Ok(full), Ok(pruned)) = (full, pruned) {
            proptest::prop_assert_eq!(full, pruned);
        }
    }
}

#[test]
fn received_bytes_with_garbage_after_the_document_are_stored_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (cc, _) = store_for(dir.path(), "cc");
    let (ids, mut docs) = signals_written_by(&t1, 10);
    // Bytes that load leniently (their valid part) but not strictly: stored as they came,
    // the document would never open again.
    for (_, b) in &mut docs {
        b.extend_from_slice(b"\x85\x6f\x4a\x83 trailing");
    }
    cc.merge_many_acked(&received(&docs), &[]).unwrap();
    cc.merge_bytes(ids[0], &docs[0].1).unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(cc.signal(*id).unwrap().facts, format!("facts {i}"));
        let stored = cc.document_bytes(*id).unwrap().unwrap();
        assert!(automerge::Automerge::load(&stored).is_ok());
    }
}

/// Whole documents as a server sends them to a device that does not hold them: saved bytes,
/// heads, and the summary the server made when it accepted those heads.
fn whole_from(store: &Store, ids: &[DocumentId]) -> Vec<Received> {
    ids.iter()
        .map(|id| {
            let d = store.load(*id).unwrap().unwrap();
            Received {
                id: *id,
                data: d.save(),
                whole: Some(Whole {
                    heads: d.get_heads(),
                    summary: doc::summarize(*id, &d).unwrap().to_wire(),
                }),
                replaces: false,
            }
        })
        .collect()
}

/// What the list screens show, and every document's header, fields and heads.
type Shown = (
    Vec<omkijken_core::store::SignalSummary>,
    Vec<omkijken_core::store::ConversationSummary>,
    Vec<omkijken_core::store::ThermometerPoint>,
    Vec<omkijken_core::store::AttentionItem>,
    Vec<omkijken_core::store::DocumentInfo>,
);

fn lists_and_infos(s: &Store) -> Shown {
    let mut infos = s.documents().unwrap();
    infos.sort_by_key(|i| i.id);
    (
        s.list_signals(&SignalFilter::default()).unwrap(),
        s.list_conversations("p1").unwrap(),
        s.thermometer_entries("p1", 0, i64::MAX).unwrap(),
        s.attention_list().unwrap(),
        infos,
    )
}

#[test]
fn whole_documents_with_the_servers_summary_are_stored_as_if_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let mut ids = vec![];
    for i in 0..12u8 {
        let id = m1
            .record_signal(signal("p1", i % 4, &format!("facts {i}")))
            .unwrap();
        if i % 3 == 0 {
            m1.append_follow_up(id, FollowUpKind::FollowUp, "gesproken")
                .unwrap();
        }
        ids.push(id);
    }
    let c = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    m1.edit_notes(c, 0, 0, "Gesprek ging goed.").unwrap();
    m1.add_agreement(c, "elke week bijpraten", "m1", None)
        .unwrap();
    ids.push(c);
    ids.push(m1.record_thermometer(entry("p1", T0, 1, true)).unwrap());

    // One device stores the whole documents with the server's summaries, another loads
    // and summarises them itself: lists, headers, fields and heads are the same.
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = store_for(a_dir.path(), "m1");
    let (b, _) = store_for(b_dir.path(), "m1");
    let whole = whole_from(&m1, &ids);
    a.merge_many_acked(&whole, &[]).unwrap();
    let plain: Vec<_> = whole.iter().map(|r| (r.id, r.data.clone())).collect();
    b.merge_many(&plain).unwrap();
    let shown = lists_and_infos(&a);
    assert_eq!(shown.0.len(), 12);
    assert_eq!(shown.1.len(), 1);
    assert_eq!(shown.2.len(), 1);
    assert!(!shown.3.is_empty());
    assert_eq!(shown, lists_and_infos(&b));
    // The bytes are stored as they came and open like any document.
    for (i, id) in ids[..12].iter().enumerate() {
        assert_eq!(a.signal(*id).unwrap().facts, format!("facts {i}"));
        assert_eq!(
            a.load(*id).unwrap().unwrap().get_heads(),
            m1.info(*id).unwrap().unwrap().heads
        );
    }
    assert_eq!(
        a.conversation(c).unwrap().notes.as_str(),
        "Gesprek ging goed."
    );
    // And they change like any document: a follow-up on the device.
    a.append_follow_up(ids[1], FollowUpKind::Correction, "beter")
        .unwrap();
    assert_eq!(a.signal(ids[1]).unwrap().follow_ups.len(), 1);
    assert_eq!(
        a.list_signals(&SignalFilter::default())
            .unwrap()
            .iter()
            .find(|s| s.id == ids[1])
            .unwrap()
            .follow_ups,
        1
    );
}

#[test]
fn the_servers_summary_is_used_only_for_bytes_that_declare_its_heads() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (ids, _) = signals_written_by(&t1, 6);
    let urgent = t1.record_signal(signal("p1", 3, "urgent")).unwrap();
    let urgent_summary = whole_from(&t1, &[urgent])[0].whole.clone().unwrap().summary;
    let (cc, _) = store_for(dir.path(), "cc");
    let mut sent = whole_from(&t1, &ids);
    // 0: the summary of another document with this one's heads. The server is the
    // authority on content (bytes and summary alike): it is what the lists show.
    sent[0].whole.as_mut().unwrap().summary = urgent_summary.clone();
    // 1: the same summary, but heads the bytes do not declare: loaded and summarised here.
    sent[1].whole.as_mut().unwrap().summary = urgent_summary.clone();
    sent[1].whole.as_mut().unwrap().heads = t1.info(urgent).unwrap().unwrap().heads;
    // 2: a summary of an unknown version (or not a summary): loaded here.
    sent[2].whole.as_mut().unwrap().summary = b"\x82\x18\x63\xa0".to_vec();
    // 3: bytes with anything after the document chunk: loaded here, and stored clean.
    sent[3].data.extend_from_slice(b"\x85\x6f\x4a\x83 trailing");
    sent[3].whole.as_mut().unwrap().summary = urgent_summary.clone();
    // 4: a change chunk, not a saved document: loaded here.
    let d = t1.load(ids[4]).unwrap().unwrap();
    sent[4].data = d.save_after(&[]);
    sent[4].whole.as_mut().unwrap().summary = urgent_summary;
    cc.merge_many_acked(&sent, &[]).unwrap();
    let urgency = |id: DocumentId| {
        cc.list_signals(&SignalFilter::default())
            .unwrap()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap()
            .urgency
    };
    assert_eq!(urgency(ids[0]), 3, "taken from the server");
    for id in &ids[1..] {
        assert_eq!(urgency(*id), 2, "summarised here");
        assert_eq!(
            cc.info(*id).unwrap().unwrap().heads,
            t1.info(*id).unwrap().unwrap().heads
        );
        let stored = cc.document_bytes(*id).unwrap().unwrap();
        assert!(automerge::Automerge::load(&stored).is_ok());
    }
    // A document already held is merged, whatever the server says of the whole one.
    let local = cc
        .append_follow_up(ids[5], FollowUpKind::FollowUp, "lokaal")
        .map(|_| ());
    assert!(local.is_ok());
    t1.append_follow_up(ids[5], FollowUpKind::Correction, "op de server")
        .unwrap();
    cc.merge_many_acked(&whole_from(&t1, &ids[5..]), &[])
        .unwrap();
    let texts: Vec<String> = cc
        .signal(ids[5])
        .unwrap()
        .follow_ups
        .into_iter()
        .map(|f| f.text)
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.contains(&"lokaal".to_string()));
    assert!(texts.contains(&"op de server".to_string()));
}

#[test]
fn saved_heads_reads_exactly_one_intact_document_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let id = t1.record_signal(signal("p1", 1, "facts")).unwrap();
    t1.append_follow_up(id, FollowUpKind::Correction, "x")
        .unwrap();
    let d = t1.load(id).unwrap().unwrap();
    let saved = d.save();
    assert_eq!(doc::saved_heads(&saved), Some(d.get_heads()));
    assert_eq!(doc::saved_heads(&d.save_nocompress()), Some(d.get_heads()));
    // Not exactly one document chunk: changes, a document followed by changes, trailing
    // or missing bytes, nothing.
    let changes = d.save_after(&[]);
    assert_eq!(doc::saved_heads(&changes), None);
    assert_eq!(doc::saved_heads(&[saved.clone(), changes].concat()), None);
    assert_eq!(doc::saved_heads(&[saved.as_slice(), b"x"].concat()), None);
    assert_eq!(doc::saved_heads(&saved[..saved.len() - 1]), None);
    assert_eq!(doc::saved_heads(&[]), None);
    // Any one byte changed anywhere: caught (by the magic bytes, type, length or checksum).
    for i in 0..saved.len() {
        let mut bad = saved.clone();
        bad[i] ^= 0x40;
        assert_eq!(doc::saved_heads(&bad), None, "byte {i}");
    }
}

#[test]
fn summaries_survive_their_wire_form_and_refuse_other_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let s = m1.record_signal(signal("p1", 2, "facts")).unwrap();
    let c = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    let t = m1.record_thermometer(entry("p1", T0, 4, false)).unwrap();
    for id in [s, c, t] {
        let summary = doc::summarize(id, &m1.load(id).unwrap().unwrap()).unwrap();
        assert_eq!(
            doc::Summary::from_wire(&summary.to_wire()),
            Some(summary.clone())
        );
        let mut other = Vec::new();
        ciborium::into_writer(&(doc::SUMMARY_VERSION + 1, &summary), &mut other).unwrap();
        assert_eq!(doc::Summary::from_wire(&other), None);
        assert_eq!(doc::Summary::from_wire(b"garbage"), None);
    }
}

#[test]
fn the_school_leader_adds_the_care_coordinator_to_a_staff_misconduct_signal() {
    use omkijken_core::defaults::STAFF_MISCONDUCT;
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (sl, _) = store_for(dir.path(), "sl");
    let (cc, _) = store_for(dir.path(), "cc");
    let (m1, _) = store_for(dir.path(), "m1");
    let mut s = signal("p1", 2, "een collega schreeuwde");
    s.category = STAFF_MISCONDUCT.into();
    let id = t1.record_signal(s).unwrap();
    let other = t1.record_signal(signal("p1", 2, "gepest")).unwrap();
    for to in [&sl, &cc, &m1] {
        exchange(&t1, to);
    }
    let sees = |s: &Store| s.signal(id).is_ok();
    assert!(sees(&sl) && !sees(&cc) && !sees(&m1), "the board route");
    assert!(matches!(
        cc.add_signal_reader(id, "cc"),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        t1.add_signal_reader(id, "cc"),
        Err(Error::Forbidden(_))
    ));
    // A signal of another route: the leader does not even see it.
    assert!(matches!(
        sl.add_signal_reader(other, "cc"),
        Err(Error::NotFound)
    ));
    assert!(matches!(
        sl.add_signal_reader(id, "nobody"),
        Err(Error::Invalid(_))
    ));
    sl.add_signal_reader(id, "cc").unwrap();
    sl.add_signal_reader(id, "cc").unwrap();
    assert_eq!(sl.signal(id).unwrap().added_readers, vec!["cc".to_string()]);
    exchange(&sl, &cc);
    exchange(&sl, &m1);
    assert!(
        sees(&cc) && !sees(&m1),
        "the care coordinator now, the mentor still not"
    );
    assert!(
        cc.list_signals(&SignalFilter::default())
            .unwrap()
            .iter()
            .any(|s| s.id == id)
    );
    cc.append_follow_up(id, FollowUpKind::FollowUp, "gesproken")
        .unwrap();
    // Its status is the school leader's (the board route), not the added reader's.
    assert!(matches!(
        cc.append_follow_up(id, FollowUpKind::PickedUp, ""),
        Err(Error::Forbidden(_))
    ));
    sl.append_follow_up(id, FollowUpKind::PickedUp, "").unwrap();
}

proptest::proptest! {
    /// `saved_heads` never panics, and whatever it accepts loads strictly with exactly the
    /// heads it read: for arbitrary bytes, and for saved documents with bytes changed,
    /// cut off or appended.
    #[test]
    fn saved_heads_accepts_only_bytes_that_load_with_those_heads(
        noise in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        at in proptest::num::usize::ANY,
        flip in 1u8..=255,
        cut in 0usize..3,
        facts in "[a-z ]{0,40}",
    ) {
        let _ = doc::saved_heads(&noise);
        let header = omkijken_core::model::Header {
            kind: "signal".into(),
            school: SCHOOL.into(),
            pupil: Some("p1".into()),
            author: "t1".into(),
            created_at: T0,
            schema: omkijken_core::model::SCHEMA_VERSION,
        };
        let mut record = sample_signal();
        record.facts = facts;
        let d = doc::create(automerge::ActorId::random(), T0, &header, &record).unwrap();
        let saved = d.save();
        let variants = [
            {
                let mut b = saved.clone();
                let i = at % b.len();
                b[i] ^= flip;
                b
            },
            saved[..saved.len().saturating_sub(cut + 1)].to_vec(),
            [saved.as_slice(), &noise].concat(),
            [noise.as_slice(), saved.as_slice()].concat(),
        ];
        for b in variants {
            if let Some(heads) = doc::saved_heads(&b) {
                let loaded = automerge::Automerge::load(&b);
                proptest::prop_assert!(loaded.is_ok());
                proptest::prop_assert_eq!(loaded.unwrap().get_heads(), heads);
            }
        }
        proptest::prop_assert_eq!(doc::saved_heads(&saved), Some(d.get_heads()));
    }
}

/// A signal record to start documents from (recorded once through a store).
fn sample_signal() -> omkijken_core::model::Signal {
    static SAMPLE: std::sync::OnceLock<omkijken_core::model::Signal> = std::sync::OnceLock::new();
    SAMPLE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let (t1, _) = store_for(dir.path(), "t1");
            let id = t1.record_signal(signal("p1", 1, "facts")).unwrap();
            t1.signal(id).unwrap()
        })
        .clone()
}

/// The store runs the same record rules as the server before it commits an edit
/// (`model::rules::admit`), so the app says no first and nothing is left to be refused.
#[test]
fn the_store_refuses_what_the_server_would_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (t1, _) = store_for(dir.path(), "t1");
    let (m1, _) = store_for(dir.path(), "m1");
    let (cc, _) = store_for(dir.path(), "cc");
    let id = t1.record_signal(signal("p1", 1, "facts")).unwrap();
    exchange(&t1, &m1);
    exchange(&t1, &cc);
    let heads = m1.info(id).unwrap().unwrap().heads;
    // The mentor follows up; "picked up" and "closed" are the care team's.
    for kind in [FollowUpKind::PickedUp, FollowUpKind::Closed] {
        assert!(matches!(
            m1.append_follow_up(id, kind, ""),
            Err(Error::Forbidden("status entries are the care team's"))
        ));
    }
    assert_eq!(m1.info(id).unwrap().unwrap().heads, heads);
    m1.append_follow_up(id, FollowUpKind::FollowUp, "gesproken")
        .unwrap();
    cc.append_follow_up(id, FollowUpKind::PickedUp, "").unwrap();
    // The signaller's own status is not hers either.
    assert!(matches!(
        t1.append_follow_up(id, FollowUpKind::Closed, ""),
        Err(Error::Forbidden(_))
    ));
}

#[test]
fn agreements_come_back_on_the_agenda_and_the_attention_list_and_rounds_show_who_had_none() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    // T0 is Sunday 2026-11-22.
    let today = omkijken_core::model::date_of(T0);
    assert_eq!(today, "2026-11-22");
    let c = m1
        .start_conversation("p2", "ik-jij-wij", "2026-11-16")
        .unwrap();
    let late = m1
        .add_agreement(
            c,
            "Noor zegt het als ze gepest wordt",
            "pupil",
            Some("2026-11-20"),
        )
        .unwrap();
    let this_week = m1
        .add_agreement(
            c,
            "Juf belt met de ouders over het zwemmen",
            "m1",
            Some("2026-11-22"),
        )
        .unwrap();
    m1.add_agreement(
        c,
        "Samen terugkijken na de kerstvakantie",
        "m1",
        Some("2026-12-10"),
    )
    .unwrap();
    m1.add_agreement(c, "Een vaste plek naast Zoë", "m1", None)
        .unwrap();
    let agenda = |s: &Store| -> Vec<(String, bool)> {
        s.agreement_agenda(&today)
            .unwrap()
            .into_iter()
            .map(|a| (a.agreement, a.overdue))
            .collect()
    };
    assert_eq!(
        agenda(&m1),
        [(late.clone(), true), (this_week.clone(), false)]
    );
    let overdue = |s: &Store| -> Vec<String> {
        s.attention_list()
            .unwrap()
            .into_iter()
            .filter_map(|i| match i.reason {
                AttentionReason::AgreementOverdue { agreement, .. } => Some(agreement),
                _ => None,
            })
            .collect()
    };
    assert_eq!(overdue(&m1), std::slice::from_ref(&late));
    // Edited to a later date: off the list and out of this week; the other one completed.
    m1.edit_agreement(
        c,
        &late,
        "Noor zegt het tegen juf als ze gepest wordt",
        "pupil",
        Some("2026-11-25"),
        false,
    )
    .unwrap();
    assert!(overdue(&m1).is_empty());
    assert_eq!(agenda(&m1), [(this_week.clone(), false)]);
    m1.set_agreement_done(c, &this_week, true).unwrap();
    assert!(agenda(&m1).is_empty());
    assert!(matches!(
        m1.agreement_agenda("22-11-2026"),
        Err(Error::Invalid(_))
    ));
    // Rebuilt projections give the same agenda on the following Monday.
    m1.rebuild_projections().unwrap();
    let monday: Vec<String> = m1
        .agreement_agenda("2026-11-23")
        .unwrap()
        .into_iter()
        .map(|a| a.agreement)
        .collect();
    assert_eq!(monday, [late]);

    // The rounds: by default three a year (August-November, December-March, April-July).
    let round = m1.conversation_round(&today).unwrap().unwrap();
    assert_eq!(
        (round.number, round.from.as_str(), round.to.as_str()),
        (1, "2026-08-01", "2026-11-30")
    );
    assert_eq!(round.without, ["p1"], "p2 had her kindgesprek this round");
    let next = m1.conversation_round("2027-01-10").unwrap().unwrap();
    assert_eq!(
        (next.number, next.from.as_str(), next.to.as_str()),
        (2, "2026-12-01", "2027-03-31")
    );
    assert_eq!(next.without, ["p1", "p2"]);
}
