//! A mutation fuzzer for the frame decoder and a hub session, on stable Rust with no extra
//! tools (no coverage-guided fuzzer builds here without a second instrumented build of the
//! whole dependency tree; see the README). From a seed, it takes real frames of every kind
//! a device sends (hello, push with a real signal, fetch, read log, sync with a real sync
//! message, enroll) and mutates them as AFL's havoc stage does: bit flips, interesting
//! bytes, CBOR lengths set huge, inserted, deleted, duplicated and spliced ranges,
//! truncation. Each input goes through the server's decoder (`flow::decode`: the structure
//! walk, then CBOR) and, when it decodes, into a live hub session on a real SQLite store.
//!
//! - Invariants: no panic; an input that does not decode ends the session with an error
//!   frame; afterwards the hub still serves an honest device, and every stored document
//!   loads.
//! - Inputs that panicked are written to `target/fuzz-crashes/` and the test fails; keep
//!   them in `tests/fuzz-regressions/` (replayed on every run) once fixed.
//! - `OMKIJKEN_FUZZ_EXECS` (default 3,000: the CI run) and `OMKIJKEN_FUZZ_SEED` (default:
//!   random, printed) for a long run.

use crate::common;

use automerge::sync::SyncDoc;
use common::*;
use omkijken_core::sync::{DocChanges, FetchRequest, Frame, PROTOCOL_VERSION, ReadLogEntry};
use omkijken_server::flow;
use omkijken_server::hub::{ConnId, Hub};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// Real frames of every kind a device sends.
fn corpus(dev: &Dev) -> Vec<Vec<u8>> {
    let (id, d) = signal(dev, "p1", 2, "welbevinden");
    let (tid, t) = thermometer(dev, "p1", "2026-11");
    let mut st = automerge::sync::State::new();
    let sync = d.generate_sync_message(&mut st).unwrap().encode();
    let frames = [
        Frame::Hello {
            protocol: PROTOCOL_VERSION,
            cursor: 3,
            epoch: Some("00000000000000ab".into()),
            outbox: None,
        },
        push_frame(&[(id, &d), (tid, &t)]),
        Frame::Push {
            docs: vec![DocChanges::new(id, d.save_after(&[]))],
        },
        Frame::Fetch {
            docs: vec![
                FetchRequest {
                    document_id: id,
                    have: vec![],
                },
                FetchRequest {
                    document_id: tid,
                    have: omkijken_core::ids::heads_to_hex(&t.get_heads()),
                },
            ],
        },
        Frame::ReadLog {
            entries: vec![ReadLogEntry {
                seq: 1,
                document_id: id,
                kind: "signal".into(),
                at: NOW,
            }],
        },
        Frame::Sync {
            document_id: id,
            data: sync,
        },
        Frame::Enroll {
            code: "ABCD-EFGH-IJKL".into(),
            actor: "11".repeat(16),
            label: "telefoon".into(),
        },
    ];
    frames.iter().map(Frame::encode).collect()
}

/// Bytes AFL finds interesting, and CBOR heads that claim a lot.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x3f, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xa0,
    0xbf, 0xc0, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfb, 0xff,
];

/// One havoc mutation of `input` (with `other` to splice from).
fn mutate(rng: &mut StdRng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        if v.is_empty() {
            v.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..v.len());
        match rng.random_range(0..9) {
            0 => v[at] ^= 1 << rng.random_range(0..8),
            1 => v[at] = INTERESTING[rng.random_range(0..INTERESTING.len())],
            2 => v[at] = rng.random(),
            // A CBOR length made huge: a head with an 8-byte argument.
            3 => {
                let major = v[at] & 0xe0;
                v[at] = major | 0x1b;
                let huge: u64 = if rng.random() {
                    u64::MAX
                } else {
                    1 << rng.random_range(16..40)
                };
                for (i, b) in huge.to_be_bytes().into_iter().enumerate() {
                    if at + 1 + i < v.len() {
                        v[at + 1 + i] = b;
                    }
                }
            }
            4 => {
                let n = rng.random_range(1..=16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                v.splice(at..at, bytes);
            }
            5 => {
                let end = (at + rng.random_range(1..=32)).min(v.len());
                v.drain(at..end);
            }
            6 => {
                let end = (at + rng.random_range(1..=64)).min(v.len());
                let copy = v[at..end].to_vec();
                let to = rng.random_range(0..=v.len());
                v.splice(to..to, copy);
            }
            7 => v.truncate(at),
            _ => {
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let end = (from + rng.random_range(1..=64)).min(other.len());
                    let to = rng.random_range(0..=v.len());
                    v.splice(to..to, other[from..end].iter().copied());
                }
            }
        }
    }
    v
}

/// A session past its hello.
fn open(hub: &mut Hub, dev: &Dev) -> ConnId {
    connect(hub, dev, 0).0
}

/// Feed one input to the session; Err if it panicked.
fn feed(hub: &mut Hub, conn: ConnId, input: &[u8]) -> Result<(), String> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match flow::decode(input) {
        Ok(frame) => {
            hub.receive(NOW, conn, frame);
        }
        Err(error) => {
            assert!(matches!(error, Frame::Error { .. }), "{error:?}");
            // The hub's own path for raw bytes must agree that it is an error.
            let out = hub.receive_bytes(NOW, conn, input);
            assert!(
                to(&out, conn)
                    .iter()
                    .all(|f| matches!(f, Frame::Error { .. })),
                "bytes the server's decoder refused were taken by the hub's"
            );
            hub.disconnect(conn);
        }
    }));
    r.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn regressions() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    let mut v: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn mutated_frames_never_panic_the_decoder_or_a_hub_session() {
    let execs: usize = std::env::var("OMKIJKEN_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let seed: u64 = std::env::var("OMKIJKEN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("fuzz: seed {seed}, {execs} executions (OMKIJKEN_FUZZ_SEED={seed} to replay)");
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let ib = enroll(&mut hub, "ib", 2);
    let corpus = corpus(&m1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut crashes: Vec<(Vec<u8>, String)> = vec![];
    let mut decoded = 0usize;

    // 1. Past crashes first, then mutations of the corpus (and of earlier mutants).
    let mut conn = open(&mut hub, &m1);
    for (path, input) in regressions() {
        if let Err(e) = feed(&mut hub, conn, &input) {
            crashes.push((input, format!("{}: {e}", path.display())));
        }
        if !hub.is_open(conn) {
            conn = open(&mut hub, &m1);
        }
    }
    let mut pool = corpus.clone();
    for i in 0..execs {
        let base = &pool[rng.random_range(0..pool.len())];
        let other = &corpus[rng.random_range(0..corpus.len())];
        let input = mutate(&mut rng, base, other);
        if flow::decode(&input).is_ok() {
            decoded += 1;
            // Inputs that still decode are worth mutating further.
            if pool.len() < 256 {
                pool.push(input.clone());
            }
        }
        // Now and then a session of another user, so access paths differ.
        let dev = if i % 7 == 0 { &ib } else { &m1 };
        if let Err(e) = feed(&mut hub, conn, &input) {
            crashes.push((input, e));
        }
        if !hub.is_open(conn) {
            conn = open(&mut hub, dev);
        }
    }
    println!(
        "fuzz: {} executions, {decoded} decoded into frames, {} crashes",
        execs + regressions().len(),
        crashes.len()
    );

    // 2. Crashes are kept for a regression file.
    if !crashes.is_empty() {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-crashes");
        std::fs::create_dir_all(&out).unwrap();
        for (n, (input, msg)) in crashes.iter().enumerate() {
            let file = out.join(format!("seed-{seed}-{n}.bin"));
            std::fs::write(&file, input).unwrap();
            println!("crash {}: {msg}", file.display());
        }
        panic!("{} inputs panicked (seed {seed})", crashes.len());
    }

    // 3. The hub still serves an honest device, and every stored document loads.
    let (c, _) = connect(&mut hub, &m1, 0);
    let (id, d) = signal(&m1, "p1", 1, "welbevinden");
    let out = hub.receive(NOW, c, push_frame(&[(id, &d)]));
    assert!(
        to(&out, c)
            .iter()
            .any(|f| matches!(f, Frame::Ack { docs } if docs.iter().any(|a| a.document_id == id))),
        "an honest push after the fuzzing: {:?}",
        to(&out, c)
    );
    let rows = hub.storage().catalog_school(SCHOOL).unwrap();
    for row in rows.iter().filter(|r| !r.erased) {
        let bytes = hub.storage().load_doc(row.id).unwrap().unwrap();
        let loaded = automerge::Automerge::load(&bytes).unwrap();
        assert!(omkijken_core::doc::parse(row.id, &loaded).is_ok());
    }
}
