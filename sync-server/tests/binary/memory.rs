//! Bounded memory against the real binary: sync frames for many documents, a frame of
//! millions of one-byte items, a device that never reads. The bounds are asserted on what
//! the server holds (sync states, its peak resident memory), not on timing.

use crate::common;
use crate::net;

use automerge::sync::{self, BloomFilter, Have, SyncDoc};
use automerge::{ChangeHash, transaction::Transactable};
use common::{NOW, signal_header, signal_record};
use net::{Served, Ws, admin, enroll, push_acked, recv, send, session};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::sync::{DocChanges, ErrorCode, Frame};
use std::path::Path;
use std::time::{Duration, Instant};

const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6
pupil,p1,Pupil Een,g6,po_5_8,true,,m1,
";

/// Peak resident memory of a process (VmHWM), MiB.
fn peak_mib(pid: u32) -> f64 {
    kib(pid, "VmHWM:") / 1024.0
}

/// Resident memory of a process now (VmRSS), MiB.
fn rss_mib(pid: u32) -> f64 {
    kib(pid, "VmRSS:") / 1024.0
}

fn kib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn set_up(data: &Path, users: usize) -> Vec<String> {
    admin(data, &["create-school", "--id", "s1", "--name", "De Linde"]);
    let csv = data.with_extension("csv");
    std::fs::write(&csv, ROSTER).unwrap();
    admin(
        data,
        &["import-roster", "--school", "s1", csv.to_str().unwrap()],
    );
    (0..users)
        .map(|_| {
            admin(data, &["enroll", "--school", "s1", "--user", "m1"])
                .trim()
                .to_string()
        })
        .collect()
}

fn signal_doc(dev: &net::Device, facts: &str) -> automerge::Automerge {
    doc::create(
        dev.actor.clone(),
        NOW,
        &signal_header("m1", "p1"),
        &signal_record(1, "welbevinden", facts),
    )
    .unwrap()
}

/// A sync message that says "I have these" with a Bloom filter of a million changes
/// (1.2 MB): what a state keeps of the peer.
fn heavy_sync_message() -> Vec<u8> {
    let mut d = automerge::Automerge::new();
    d.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(automerge::ROOT, "x", 1)?;
        Ok(())
    })
    .unwrap();
    let mut st = sync::State::new();
    let mut msg = d.generate_sync_message(&mut st).unwrap();
    let hashes: Vec<ChangeHash> = (0u32..1_000_000)
        .map(|i| {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_le_bytes());
            h[4..8].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
            ChangeHash(h)
        })
        .collect();
    msg.have = vec![Have {
        last_sync: vec![],
        bloom: BloomFilter::from_hashes(hashes.iter()),
    }];
    msg.encode()
}

/// Wait for `n` answers to sync frames (sync or refused).
async fn answers(ws: &mut Ws, n: usize) {
    let mut got = 0;
    while got < n {
        match recv(ws).await {
            Some(Frame::Sync { .. }) | Some(Frame::Refused { .. }) => got += 1,
            Some(_) => {}
            None => panic!("closed after {got} answers"),
        }
    }
}

/// The sync-state gauge once the hub's next tick has set it.
fn sync_states(s: &Served) -> f64 {
    std::thread::sleep(Duration::from_millis(700));
    s.metric("omkijken_sync_states")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_frames_for_many_documents_keep_the_server_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let codes = set_up(&data, 1);
    let s = Served::start(&data, &tmp.path().join("serve.log"), &[]);
    let dev = enroll(&s.enroll_url(), &codes[0], "m1", 1).await;
    let mut ws = session(&s.sync_url(), &dev).await;
    let heavy = heavy_sync_message();
    let before = rss_mib(s.pid());

    // 1. 200 sync frames for random ids, each with a 1.2 MB Bloom filter: the server
    //    answers each and keeps no state for documents it does not have.
    for _ in 0..200 {
        let f = Frame::Sync {
            document_id: DocumentId::random(),
            data: heavy.clone(),
        };
        send(&mut ws, &f).await;
    }
    answers(&mut ws, 200).await;
    assert_eq!(sync_states(&s), 0.0);

    // 2. 100 documents the device may read, then a heavy sync frame for each: states
    //    are kept for them, at most 64 per session and 8 MiB of messages behind them.
    let mut ids = vec![];
    let docs: Vec<DocChanges> = (0..100)
        .map(|i| {
            let id = DocumentId::random();
            ids.push(id);
            DocChanges::new(id, signal_doc(&dev, &format!("signaal {i}")).save())
        })
        .collect();
    send(&mut ws, &Frame::Push { docs }).await;
    loop {
        match recv(&mut ws).await {
            Some(Frame::Ack { docs }) if docs.len() == 100 => break,
            Some(Frame::Refused { docs }) => panic!("refused {docs:?}"),
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    for id in &ids {
        let f = Frame::Sync {
            document_id: *id,
            data: heavy.clone(),
        };
        send(&mut ws, &f).await;
    }
    answers(&mut ws, 100).await;
    let held = sync_states(&s);
    assert!((1.0..=64.0).contains(&held), "states held: {held}");
    // Bloom filters of 1.2 MB: the byte bound (8 MiB) keeps only a few.
    assert!(held <= 8.0, "states held: {held}");

    // 3. A light sync frame for each of the 100: the count bound.
    for id in &ids {
        let mut st = sync::State::new();
        let msg = automerge::Automerge::new()
            .generate_sync_message(&mut st)
            .unwrap()
            .encode();
        send(
            &mut ws,
            &Frame::Sync {
                document_id: *id,
                data: msg,
            },
        )
        .await;
    }
    answers(&mut ws, 100).await;
    assert_eq!(sync_states(&s), 64.0);

    let peak = peak_mib(s.pid());
    let after = rss_mib(s.pid());
    println!(
        "server memory: {before:.1} MiB before, {after:.1} MiB after 400 sync frames (240 MB of \
         Bloom filters), peak {peak:.1} MiB"
    );
    assert!(peak < 200.0, "peak {peak:.1} MiB");
    drop(ws);
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_of_millions_of_items_is_refused_before_it_is_decoded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let codes = set_up(&data, 1);
    let s = Served::start(&data, &tmp.path().join("serve.log"), &[]);
    let dev = enroll(&s.enroll_url(), &codes[0], "m1", 1).await;

    // 1. {"type": "push", "docs": [0, 0, 0, ...]}: 16 million one-byte items, 16 MB.
    let mut f = vec![0xa2, 0x64];
    f.extend_from_slice(b"type");
    f.push(0x64);
    f.extend_from_slice(b"push");
    f.push(0x64);
    f.extend_from_slice(b"docs");
    f.push(0x9a);
    f.extend_from_slice(&16_000_000u32.to_be_bytes());
    f.resize(f.len() + 16_000_000, 0);
    for _ in 0..3 {
        let mut ws = session(&s.sync_url(), &dev).await;
        use futures_util::SinkExt;
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            f.clone().into(),
        ))
        .await
        .unwrap();
        match recv(&mut ws).await {
            Some(Frame::Error { code, .. }) => assert_eq!(code, ErrorCode::TooLarge),
            other => panic!("expected too_large, got {other:?}"),
        }
        assert!(recv(&mut ws).await.is_none(), "the session ends");
    }
    // A message past the WebSocket layer's own limit (16 MiB and a little) is refused there,
    // and counted like the others.
    let mut ws = session(&s.sync_url(), &dev).await;
    {
        use futures_util::SinkExt;
        let _ = ws
            .send(tokio_tungstenite::tungstenite::Message::Binary(
                vec![0u8; 17 * 1024 * 1024].into(),
            ))
            .await;
    }
    match recv(&mut ws).await {
        Some(Frame::Error { code, .. }) => assert_eq!(code, ErrorCode::TooLarge),
        None => {}
        other => panic!("expected too_large, got {other:?}"),
    }
    let counted = s.metric("omkijken_protocol_errors_total{code=\"too_large\"}");
    assert!(counted >= 4.0, "too_large counted {counted} times");

    let peak = peak_mib(s.pid());
    println!("peak server memory after three 16 MB frames of one-byte items: {peak:.1} MiB");
    // Before: 560 MiB for one such frame.
    assert!(peak < 200.0, "peak {peak:.1} MiB");

    // 2. The device goes on as before.
    let mut ws = session(&s.sync_url(), &dev).await;
    push_acked(
        &mut ws,
        DocumentId::random(),
        signal_doc(&dev, "gaat goed").save(),
    )
    .await;
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_does_not_read_is_disconnected_not_buffered_for() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let codes = set_up(&data, 2);
    let s = Served::start(
        &data,
        &tmp.path().join("serve.log"),
        &["--max-queued-bytes", "4MiB"],
    );
    let writer = enroll(&s.enroll_url(), &codes[0], "m1", 1).await;
    let reader = enroll(&s.enroll_url(), &codes[1], "m1", 2).await;
    // 1. The reader catches up, then stops reading (its socket stays open).
    let stuck = session(&s.sync_url(), &reader).await;
    assert_eq!(s.metric("omkijken_connected_devices"), 1.0);

    // 2. The writer pushes 300 signals with 50 KB of text each (under the record rules'
    //    64 KiB a text); the server delivers each to the reader live.
    let mut ws = session(&s.sync_url(), &writer).await;
    let noise: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..50_000)
            .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
            .collect()
    };
    for i in 0..300 {
        let d = signal_doc(&writer, &format!("{i} {noise}"));
        push_acked(&mut ws, DocumentId::random(), d.save()).await;
    }

    // 3. The reader was dropped once 4 MiB waited for it; the writer was served throughout.
    let t = Instant::now();
    while s.metric("omkijken_connected_devices") > 1.0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the stuck reader is still connected"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let slow = s.metric("omkijken_connections_closed_total{reason=\"slow_reader\"}");
    assert!(slow >= 1.0, "slow readers closed: {slow}");
    let peak = peak_mib(s.pid());
    println!("peak server memory with a stuck reader and 300 signals pushed: {peak:.1} MiB");
    assert!(peak < 200.0, "peak {peak:.1} MiB");
    drop(stuck);
    s.stop();
}
