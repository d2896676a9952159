//! Catch-ups read beside the hub (`HubConfig::catch_up_beside`, as the server runs): the hub
//! goes on with other devices while a device's catalog is read, and what changed meanwhile
//! is judged again, never sent from the read.

use crate::common;

use common::*;
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::Signal;
use omkijken_core::sync::{DocChanges, FetchRequest, Frame, PROTOCOL_VERSION};
use omkijken_server::hub::{CaughtUp, ConnId, Hub, HubConfig};
use omkijken_server::storage::SqliteStorage;

/// A hub that reads every catch-up beside it, and every fetch of `fetch_beside` documents
/// or more.
fn hub_beside(path: &std::path::Path, fetch_beside: Option<usize>) -> Hub {
    let st = SqliteStorage::open(path, None).unwrap();
    let config = HubConfig {
        catch_up_beside: Some(0),
        fetch_beside,
        ..HubConfig::default()
    };
    let mut hub = Hub::new(Box::new(st), config, [7; 32]).unwrap();
    hub.create_school(NOW, SCHOOL, "De Linde").unwrap();
    hub.import_roster(NOW, SCHOOL, ROSTER).unwrap();
    hub
}

fn hello(cursor: u64) -> Frame {
    Frame::Hello {
        outbox: None,
        epoch: None,
        protocol: PROTOCOL_VERSION,
        cursor,
    }
}

/// Say hello; the catch-up is left to be read: returns the session and the read (taken on
/// the hub's own store, as a reader's connection would).
fn hello_read_later(hub: &mut Hub, dev: &Dev) -> (ConnId, CaughtUp) {
    let c = hub.connect(NOW, &dev.token).unwrap().conn;
    let out = hub.receive(NOW, c, hello(0));
    assert!(to(&out, c).is_empty(), "nothing is sent before the read");
    let mut jobs = hub.take_catch_ups();
    assert_eq!(jobs.len(), 1);
    let job = jobs.remove(0);
    assert_eq!(job.conn, c);
    let read = job.scan(hub.storage());
    (c, read)
}

/// Connect, and read the catch-up at once.
fn connect_now(hub: &mut Hub, dev: &Dev) -> (ConnId, Vec<Frame>) {
    let (c, read) = hello_read_later(hub, dev);
    let out = hub.caught_up(NOW, read);
    (c, to(&out, c))
}

fn acks(frames: &[Frame]) -> usize {
    frames
        .iter()
        .map(|f| match f {
            Frame::Ack { docs } => docs.len(),
            _ => 0,
        })
        .sum()
}

/// Push `data` (a whole document, or changes) of `id`; everything the hub sends, to anyone.
fn push_data(hub: &mut Hub, c: ConnId, id: DocumentId, data: Vec<u8>) -> omkijken_server::Outgoing {
    hub.receive(
        NOW,
        c,
        Frame::Push {
            docs: vec![DocChanges::new(id, data)],
        },
    )
}

/// Push a whole document; what `c` is sent.
fn push(hub: &mut Hub, c: ConnId, id: DocumentId, d: &automerge::Automerge) -> Vec<Frame> {
    to(&push_data(hub, c, id, d.save()), c)
}

#[test]
fn other_devices_are_served_while_a_catch_up_is_read_and_what_left_her_reach_meanwhile_is_not_in_it()
 {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = hub_beside(&dir.path().join("s.db"), None);
    let t1 = enroll(&mut hub, "t1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    let (ct, _) = connect_now(&mut hub, &t1);
    // Two drafts the care team reads (urgency 1, wellbeing).
    let (moved, d_moved) = draft(&t1, "p2", "Zoë huilde bij de kapstok");
    let (kept, d_kept) = draft(&t1, "p2", "Daniël zat alleen in de pauze");
    assert_eq!(acks(&push(&mut hub, ct, moved, &d_moved)), 1);
    assert_eq!(acks(&push(&mut hub, ct, kept, &d_kept)), 1);

    // The coordinator's tablet says hello: its catalog is read, and handed back later.
    let (c_ib, read) = hello_read_later(&mut hub, &ib);

    // Meanwhile the hub serves the teacher at once: one draft becomes staff misconduct
    // (the board's only), and a new signal comes in.
    let d2 = edited(&d_moved, moved, &t1, |s| s.category = "medewerker".into());
    let out = push_data(&mut hub, ct, moved, d2.save());
    assert_eq!(acks(&to(&out, ct)), 1, "acknowledged while the read is out");
    assert!(to(&out, c_ib).is_empty(), "not live yet: nothing sent");
    let (late, d_late) = signal(&t1, "p1", 2, "welbevinden");
    assert_eq!(acks(&push(&mut hub, ct, late, &d_late)), 1);
    // The tablet asks for a document before its catalog came: the request waits.
    let fetch = Frame::Fetch {
        docs: vec![FetchRequest {
            document_id: kept,
            have: vec![],
        }],
    };
    assert!(to(&hub.receive(NOW, c_ib, fetch), c_ib).is_empty());

    // The read comes back. The entry of the draft it read before the change is not sent:
    // the change moved it out of the coordinator's reach. The new signal is in.
    let out = to(&hub.caught_up(NOW, read), c_ib);
    let (entries, purge, cursor) = catalog(&out);
    let mut want = vec![doc::roster_view_id(SCHOOL, "ib"), kept, late];
    want.sort();
    let mut got = entries.clone();
    got.sort();
    assert_eq!(got, want);
    assert!(!entries.contains(&moved) && !purge.contains(&moved));
    assert!(cursor > 0);
    // Then the fetch that waited, in order: after the catalog.
    let last_catalog = out
        .iter()
        .rposition(|f| matches!(f, Frame::Catalog { complete: true, .. }))
        .unwrap();
    let docs_at = out
        .iter()
        .position(
            |f| matches!(f, Frame::Docs { docs, .. } if docs.iter().any(|d| d.document_id == kept)),
        )
        .expect("the fetch is answered");
    assert!(docs_at > last_catalog);

    // Live from here on: the next change reaches the tablet.
    let d3 = edited(&d_kept, kept, &t1, |s| {
        s.facts.push_str(" (navraag: ouders gebeld)")
    });
    let out = push_data(&mut hub, ct, kept, d3.save_after(&d_kept.get_heads()));
    assert!(to(&out, c_ib).iter().any(|f| matches!(
        f,
        Frame::Docs { docs, .. } if docs.iter().any(|d| d.document_id == kept)
    )));
}

#[test]
fn a_roster_change_while_a_catch_up_is_read_is_judged_by_the_new_roster() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = hub_beside(&dir.path().join("s.db"), None);
    let t1 = enroll(&mut hub, "t1", 1);
    let m2 = enroll(&mut hub, "m2", 2);
    let (ct, _) = connect_now(&mut hub, &t1);
    let (id, d) = signal(&t1, "p2", 0, "niet-pluis");
    assert_eq!(acks(&push(&mut hub, ct, id, &d)), 1);
    // m2 mentors p2 when her catalog is read; p2 moves to m1 before it comes back.
    let (c2, read) = hello_read_later(&mut hub, &m2);
    hub.import_roster(NOW, SCHOOL, ROSTER_MOVED).unwrap();
    let out = to(&hub.caught_up(NOW, read), c2);
    let (entries, _, _) = catalog(&out);
    assert!(!entries.contains(&id), "read again under the new roster");
    assert!(entries.contains(&doc::roster_view_id(SCHOOL, "m2")));
}

/// A draft about p2 that the care coordinator reads (urgency 1, wellbeing).

#[test]
fn a_catalog_read_in_chunks_goes_out_a_chunk_at_a_time_with_fetches_answered_between_and_nothing_out_of_reach()
 {
    let dir = tempfile::tempdir().unwrap();
    let st = SqliteStorage::open(dir.path().join("s.db"), None).unwrap();
    let config = HubConfig {
        catch_up_beside: Some(0),
        fetch_beside: Some(1),
        catch_up_chunk: Some(2),
        ..HubConfig::default()
    };
    let mut hub = Hub::new(Box::new(st), config, [7; 32]).unwrap();
    hub.create_school(NOW, SCHOOL, "De Linde").unwrap();
    hub.import_roster(NOW, SCHOOL, ROSTER).unwrap();
    let t1 = enroll(&mut hub, "t1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    // The teacher catches up first, a chunk at a time.
    let ct = hub.connect(NOW, &t1.token).unwrap().conn;
    let mut hers = to(&hub.receive(NOW, ct, hello(0)), ct);
    while catalog(&hers).2 == 0 {
        for job in hub.take_catch_ups() {
            let r = job.scan(hub.storage());
            hers.extend(to(&hub.caught_up(NOW, r), ct));
        }
    }
    let mut drafts = vec![];
    for i in 0..8 {
        let (id, d) = draft(&t1, "p2", &format!("Zoë huilde bij de kapstok ({i})"));
        assert_eq!(acks(&push(&mut hub, ct, id, &d)), 1);
        drafts.push((id, d));
    }
    let out_of_reach = |hub: &mut Hub, (id, d): &(DocumentId, automerge::Automerge)| {
        // Staff misconduct: the board's only.
        let d2 = edited(d, *id, &t1, |s| s.category = "medewerker".into());
        assert_eq!(acks(&to(&push_data(hub, ct, *id, d2.save()), ct)), 1);
    };

    // The coordinator's tablet says hello: its catalog is read two rows at a time.
    let (c, first) = hello_read_later(&mut hub, &ib);
    let mut reads = vec![first];
    let mut sent: Vec<Frame> = vec![];
    let mut moved_after_sent = None;
    let mut moved_while_read = None;
    let mut fetched = vec![];
    let complete = |sent: &[Frame]| {
        sent.iter()
            .any(|f| matches!(f, Frame::Catalog { complete: true, .. }))
    };
    let mut rounds = 0;
    while !complete(&sent) {
        rounds += 1;
        assert!(rounds < 100, "the catalog completes");
        // Back in the reverse order they were left: answered in order all the same.
        for r in reads.drain(..).rev() {
            sent.extend(to(&hub.caught_up(NOW, r), c));
        }
        let (listed, _, _) = catalog(&sent);
        let listed_drafts: Vec<DocumentId> = drafts
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| listed.contains(id))
            .collect();
        if moved_after_sent.is_none() && !listed_drafts.is_empty() {
            // The first draft listed leaves her reach after it was sent; the device asks
            // for the drafts listed so far: a fetch read beside the hub while the rest of
            // the catalog is.
            let first = drafts
                .iter()
                .position(|(id, _)| *id == listed_drafts[0])
                .unwrap();
            moved_after_sent = Some(listed_drafts[0]);
            out_of_reach(&mut hub, &drafts[first]);
            assert!(to(&hub.receive(NOW, c, fetch(&listed_drafts)), c).is_empty());
            fetched = listed_drafts.clone();
        }
        // The reads left now (the catalog's next chunk, the fetch) are made on the store
        // as it is now...
        for job in hub.take_catch_ups() {
            assert_eq!(job.conn, c);
            reads.push(job.scan(hub.storage()));
        }
        // ...and then the first draft not listed yet leaves her reach, before the reads
        // are back.
        if moved_while_read.is_none()
            && moved_after_sent.is_some()
            && let Some(i) = drafts.iter().position(|(id, _)| !listed.contains(id))
        {
            moved_while_read = Some(drafts[i].0);
            out_of_reach(&mut hub, &drafts[i]);
        }
    }
    assert!(rounds > 3, "more than one chunk: {rounds}");
    let (moved_after_sent, moved_while_read) =
        (moved_after_sent.unwrap(), moved_while_read.unwrap());
    let (listed, purge, cursor) = catalog(&sent);
    assert!(cursor > 0);
    // Every draft still in her reach is listed, the one taken out of reach after it was
    // listed is purged, and the one taken out of reach while its chunk was read is never
    // listed (nor purged: she never held it).
    for (id, _) in &drafts {
        if *id != moved_while_read {
            assert!(listed.contains(id));
        }
    }
    assert!(!listed.contains(&moved_while_read));
    assert!(!purge.contains(&moved_while_read));
    assert!(purge.contains(&moved_after_sent));
    // The fetch is answered before the catalog's end, without what left her reach.
    let kinds: Vec<String> = sent
        .iter()
        .map(|f| match f {
            Frame::Catalog {
                entries,
                purge,
                complete,
                ..
            } => {
                format!(
                    "C{}/{}{}",
                    entries.len(),
                    purge.len(),
                    if *complete { "!" } else { "" }
                )
            }
            Frame::Docs { docs, .. } => format!("D{}", docs.len()),
            other => format!("{other:?}").chars().take(20).collect(),
        })
        .collect();
    let docs_at = sent
        .iter()
        .position(|f| matches!(f, Frame::Docs { .. }))
        .unwrap_or_else(|| {
            panic!(
                "the fetch is answered: {kinds:?}, fetched {}",
                fetched.len()
            )
        });
    let complete_at = sent
        .iter()
        .position(|f| matches!(f, Frame::Catalog { complete: true, .. }))
        .unwrap();
    assert!(docs_at < complete_at, "answered between the chunks");
    let docs: Vec<DocumentId> = docs_sent(&sent).into_iter().map(|(id, _)| id).collect();
    assert!(!docs.contains(&moved_after_sent));
    assert!(!docs.contains(&moved_while_read));
    let mut want: Vec<DocumentId> = fetched
        .into_iter()
        .filter(|id| *id != moved_after_sent)
        .collect();
    want.sort();
    let mut got = docs;
    got.sort();
    assert_eq!(got, want);

    // Live from here on: the next change of a draft in her reach reaches the tablet.
    let (kept, d_kept) = &drafts[7];
    let d3 = edited(d_kept, *kept, &t1, |s| s.facts.push_str(" (ouders gebeld)"));
    let out = push_data(&mut hub, ct, *kept, d3.save_after(&d_kept.get_heads()));
    assert!(to(&out, c).iter().any(|f| matches!(
        f,
        Frame::Docs { docs, .. } if docs.iter().any(|d| d.document_id == *kept)
    )));
}

/// Sixteen frames wait for a read beside the hub; what `c` is sent for the seventeenth.
fn one_too_many(hub: &mut Hub, c: ConnId) -> Vec<Frame> {
    let outbox = || Frame::Outbox {
        pending: 1,
        not_accepted: 0,
        oldest_age: Some(5),
    };
    for _ in 0..16 {
        assert!(to(&hub.receive(NOW, c, outbox()), c).is_empty(), "waits");
    }
    to(&hub.receive(NOW, c, outbox()), c)
}

#[test]
fn a_session_that_sends_too_much_before_its_catalog_is_caught_up_on_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = hub_beside(&dir.path().join("s.db"), None);
    let ib = enroll(&mut hub, "ib", 1);
    let (c, read) = hello_read_later(&mut hub, &ib);
    // The seventeenth: the hub reads the catalog itself, sends it, then handles them all.
    let out = one_too_many(&mut hub, c);
    let (entries, _, cursor) = catalog(&out);
    assert!(entries.contains(&doc::roster_view_id(SCHOOL, "ib")));
    assert!(cursor > 0);
    assert!(hub.is_open(c));
    // The read that comes back after is passed over.
    assert!(hub.caught_up(NOW, read).is_empty());
    assert!(hub.is_open(c));
}

// ------------------------------------------------------------------ fetches beside the hub

/// A hub that makes every fetch beside it, with a teacher and the care coordinator
/// connected and caught up: the hub, their devices and their sessions.
fn teacher_and_coordinator(dir: &std::path::Path) -> (Hub, Dev, Dev, ConnId, ConnId) {
    let mut hub = hub_beside(&dir.join("s.db"), Some(1));
    let t1 = enroll(&mut hub, "t1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    let (ct, _) = connect_now(&mut hub, &t1);
    let (c_ib, _) = connect_now(&mut hub, &ib);
    (hub, t1, ib, ct, c_ib)
}

fn fetch(ids: &[DocumentId]) -> Frame {
    Frame::Fetch {
        docs: ids
            .iter()
            .map(|id| FetchRequest {
                document_id: *id,
                have: vec![],
            })
            .collect(),
    }
}

/// The one read the hub left: the session it is for, and what it read on the hub's store
/// now (as a reader's connection would).
fn take_read(hub: &mut Hub, c: ConnId) -> CaughtUp {
    let mut jobs = hub.take_catch_ups();
    assert_eq!(jobs.len(), 1, "one read beside the hub");
    let job = jobs.remove(0);
    assert_eq!(job.conn, c);
    job.scan(hub.storage())
}

/// The documents sent, in the order sent, loaded.
fn docs_sent(frames: &[Frame]) -> Vec<(DocumentId, automerge::Automerge)> {
    frames
        .iter()
        .flat_map(|f| match f {
            Frame::Docs { docs, .. } => docs.clone(),
            _ => vec![],
        })
        .map(|d| (d.document_id, automerge::Automerge::load(&d.data).unwrap()))
        .collect()
}

fn facts(d: &automerge::Automerge, id: DocumentId) -> String {
    doc::record::<Signal>(id, d).unwrap().facts
}

#[test]
fn a_fetch_made_beside_the_hub_is_sent_only_as_the_rows_are_now_and_before_what_came_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, t1, ib, ct, c_ib) = teacher_and_coordinator(dir.path());
    // Drafts the care team reads (urgency 1, wellbeing); a draft's facts may still change.
    let rec = |facts: &str| {
        let mut rec = signal_record(1, "welbevinden", facts);
        rec.shared = false;
        rec
    };
    let make = |facts: &str| {
        let d = doc::create(
            t1.actor.clone(),
            NOW,
            &signal_header("t1", "p2"),
            &rec(facts),
        );
        (DocumentId::random(), d.unwrap())
    };
    let (same, d_same) = make("Zoë huilde bij de kapstok");
    let (newer, d_newer) = make("Daniël zat alleen in de pauze");
    let (gone, d_gone) = make("Noë werd uitgelachen om zijn accent");
    for (id, d) in [(same, &d_same), (newer, &d_newer), (gone, &d_gone)] {
        assert_eq!(acks(&push(&mut hub, ct, id, d)), 1);
    }

    // The coordinator's tablet fetches all three: made beside the hub, nothing sent yet.
    assert!(to(&hub.receive(NOW, c_ib, fetch(&[same, newer, gone])), c_ib).is_empty());
    let read = take_read(&mut hub, c_ib);

    // Meanwhile the teacher adds to one signal, and makes another staff misconduct (the
    // board's only). What the tablet sends now waits behind the fetch.
    let d2 = edited(&d_newer, newer, &t1, |s| {
        s.facts.push_str(" (navraag: ouders gebeld)")
    });
    let o = to(&push_data(&mut hub, ct, newer, d2.save()), ct);
    assert_eq!(acks(&o), 1, "{o:?}");
    let d3 = edited(&d_gone, gone, &t1, |s| s.category = "medewerker".into());
    assert_eq!(acks(&to(&push_data(&mut hub, ct, gone, d3.save()), ct)), 1);
    let (own, d_own) = signal(&ib, "p1", 0, "pesten");
    assert!(
        push(&mut hub, c_ib, own, &d_own).is_empty(),
        "waits behind the fetch"
    );

    let out = to(&hub.caught_up(NOW, read), c_ib);
    let sent = docs_sent(&out);
    let ids: Vec<DocumentId> = sent.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        vec![same, newer],
        "what left her reach meanwhile is not sent"
    );
    assert_eq!(facts(&sent[0].1, same), "Zoë huilde bij de kapstok");
    // Made again on the hub: the version stored now, not the one read beside.
    assert_eq!(sent[1].1.get_heads(), d2.get_heads());
    assert_eq!(
        facts(&sent[1].1, newer),
        "Daniël zat alleen in de pauze (navraag: ouders gebeld)"
    );
    // Then the push that waited: acknowledged after the documents.
    let docs_at = out.iter().position(|f| matches!(f, Frame::Docs { .. }));
    let ack_at = out.iter().position(|f| matches!(f, Frame::Ack { .. }));
    assert!(docs_at.unwrap() < ack_at.expect("the push is acknowledged"));
}

#[test]
fn fetches_read_beside_the_hub_come_back_in_any_order_and_are_answered_in_the_order_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, t1, ib, ct, c_ib) = teacher_and_coordinator(dir.path());
    let (a, d_a) = signal(&t1, "p1", 1, "welbevinden");
    let (b, d_b) = signal(&t1, "p2", 1, "thuissituatie");
    assert_eq!(acks(&push(&mut hub, ct, a, &d_a)), 1);
    assert_eq!(acks(&push(&mut hub, ct, b, &d_b)), 1);

    // Two fetches out at once, each read beside the hub.
    assert!(to(&hub.receive(NOW, c_ib, fetch(&[a])), c_ib).is_empty());
    assert!(to(&hub.receive(NOW, c_ib, fetch(&[b])), c_ib).is_empty());
    let jobs = hub.take_catch_ups();
    assert_eq!(jobs.len(), 2);
    let reads: Vec<CaughtUp> = jobs.iter().map(|j| j.scan(hub.storage())).collect();
    let [first, second]: [CaughtUp; 2] = reads.try_into().unwrap();

    // The second comes back first: it waits for the first.
    assert!(to(&hub.caught_up(NOW, second), c_ib).is_empty());
    // The first comes back: both answered, in the order asked.
    let out = to(&hub.caught_up(NOW, first), c_ib);
    let ids: Vec<DocumentId> = docs_sent(&out).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec![a, b]);
    // Nothing waits any more: the next frame is answered at once.
    let (own, d_own) = signal(&ib, "p1", 0, "pesten");
    assert_eq!(acks(&push(&mut hub, c_ib, own, &d_own)), 1);
}

#[test]
fn a_fetch_read_beside_that_never_comes_back_is_made_on_the_hub_when_too_much_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, t1, _, ct, c_ib) = teacher_and_coordinator(dir.path());
    let (a, d_a) = signal(&t1, "p1", 1, "welbevinden");
    assert_eq!(acks(&push(&mut hub, ct, a, &d_a)), 1);
    assert!(to(&hub.receive(NOW, c_ib, fetch(&[a])), c_ib).is_empty());
    let read = take_read(&mut hub, c_ib);
    // The seventeenth: the hub makes the fetch itself and answers it.
    let out = one_too_many(&mut hub, c_ib);
    let ids: Vec<DocumentId> = docs_sent(&out).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec![a]);
    assert!(hub.caught_up(NOW, read).is_empty(), "passed over");
    assert!(hub.is_open(c_ib));
}

/// The tablet's fetch of two drafts is made beside the hub; meanwhile the teacher writes
/// `others` other signals and adds to one of the two. The hub reads the rows written since
/// the read to find what moved on (up to 1,000 of them; past that it reads the fetched rows
/// again one by one): either way the changed draft is sent as stored now, the other as made.
fn a_fetch_made_beside_while_others_write(others: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, t1, _ib, ct, c_ib) = teacher_and_coordinator(dir.path());
    let (same, d_same) = draft(&t1, "p2", "Zoë huilde bij de kapstok");
    let (newer, d_newer) = draft(&t1, "p2", "Daniël zat alleen in de pauze");
    for (id, d) in [(same, &d_same), (newer, &d_newer)] {
        assert_eq!(acks(&push(&mut hub, ct, id, d)), 1);
    }
    assert!(to(&hub.receive(NOW, c_ib, fetch(&[same, newer])), c_ib).is_empty());
    let read = take_read(&mut hub, c_ib);

    let rest: Vec<DocChanges> = (0..others)
        .map(|i| {
            let (id, d) = draft(
                &t1,
                "p2",
                &format!("Sanne {i} vertelde over het schoolreisje"),
            );
            DocChanges::new(id, d.save())
        })
        .collect();
    for chunk in rest.chunks(500) {
        let out = hub.receive(
            NOW,
            ct,
            Frame::Push {
                docs: chunk.to_vec(),
            },
        );
        assert_eq!(acks(&to(&out, ct)), chunk.len());
    }
    let d2 = edited(&d_newer, newer, &t1, |s| {
        s.facts.push_str(" (mentor ingelicht)")
    });
    assert_eq!(acks(&to(&push_data(&mut hub, ct, newer, d2.save()), ct)), 1);

    let out = to(&hub.caught_up(NOW, read), c_ib);
    let sent = docs_sent(&out);
    let ids: Vec<DocumentId> = sent.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![same, newer]);
    assert_eq!(sent[0].1.get_heads(), d_same.get_heads());
    assert_eq!(sent[1].1.get_heads(), d2.get_heads(), "as stored now");
    assert_eq!(
        facts(&sent[1].1, newer),
        "Daniël zat alleen in de pauze (mentor ingelicht)"
    );
}

#[test]
fn a_fetch_made_beside_sends_what_moved_on_as_stored_now_found_among_the_rows_written_since() {
    a_fetch_made_beside_while_others_write(20);
}

#[test]
fn a_fetch_made_beside_sends_what_moved_on_as_stored_now_when_very_many_rows_were_written() {
    a_fetch_made_beside_while_others_write(1_100);
}
