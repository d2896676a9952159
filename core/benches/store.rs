//! Store benchmark (a bench binary, not a timed test): `cargo bench -p omkijken-core --bench store`.
//!
//! Measures, on this machine: recording a signal (document + projection commit, fsync) p50/p99;
//! listing 1,000 signals for a care coordinator; opening a store that holds 50,000 documents;
//! bytes on disk per record. Set OMKIJKEN_BENCH_DOCS to change the 50,000.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use omkijken_core::model::{Signal, SignalContext, Source};
use omkijken_core::store::{NewSignal, SignalFilter};
use omkijken_core::{DocumentId, Header, Store, doc};
use std::time::Instant;

fn new_signal(pupil: &str, i: usize) -> NewSignal {
    NewSignal {
        pupil: pupil.into(),
        observed_at: T0 - i as i64 * 60_000,
        context: SignalContext {
            place: "speelplein".into(),
            excursion: None,
        },
        category: "welbevinden".into(),
        urgency: 1 + (i % 3) as u8,
        facts: format!(
            "Observation number {i}: sat alone during the break, did not want to join the game."
        ),
        interpretation: Some("might be lonely".into()),
        source: Source::seen(),
        pupil_quote: None,
        flag: None,
        share: true,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn dir_size(dir: &std::path::Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn main() {
    let n_docs: usize = std::env::var("OMKIJKEN_BENCH_DOCS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().unwrap();

    // 1. Record a signal: one document + projections, one fsync'd commit each.
    let (t1, _) = store_for(dir.path(), "t1");
    let mut lat = Vec::new();
    for i in 0..2_000 {
        let s = new_signal(if i % 2 == 0 { "p1" } else { "p2" }, i);
        let t = Instant::now();
        t1.record_signal(s).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "record signal (document + projection, fsync): p50 {:.2} ms, p99 {:.2} ms over {} records",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.len()
    );
    drop(t1);
    let bytes = dir_size(dir.path(), "t1.db");
    println!(
        "bytes on disk per signal: {} (2,000 signals, store {} KiB incl. WAL)",
        bytes / 2_000,
        bytes / 1024
    );

    // 2. List 1,000 signals for the care coordinator.
    let (cc, _) = store_for(dir.path(), "cc");
    let actor = automerge::ActorId::from(b"bench-writer-000".to_vec());
    let batch: Vec<(DocumentId, Vec<u8>)> = (0..1_000)
        .map(|i| signal_doc(&actor, if i % 2 == 0 { "p1" } else { "p2" }, i))
        .collect();
    cc.merge_many(&batch).unwrap();
    let mut lat = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let list = cc.list_signals(&SignalFilter::default()).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(list.len(), 1_000);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "list 1,000 signals (coordinator, access-filtered): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    drop(cc);

    // 3. Open a store holding many documents.
    let big_dir = dir.path().join("big");
    std::fs::create_dir_all(&big_dir).unwrap();
    let (big, _) = store_for(&big_dir, "cc");
    // Only the merges are timed, not making the documents.
    let mut fill = std::time::Duration::ZERO;
    for chunk in (0..n_docs).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<(DocumentId, Vec<u8>)> = chunk
            .iter()
            .map(|i| signal_doc(&actor, if i % 2 == 0 { "p1" } else { "p2" }, *i))
            .collect();
        let t = Instant::now();
        big.merge_many(&batch).unwrap();
        fill += t.elapsed();
    }
    drop(big);
    let bytes = dir_size(&big_dir, "cc.db");
    let (mut open, mut first_list, mut outbox) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let t = Instant::now();
        let s = Store::open(big_dir.join("cc.db"), KEY).unwrap();
        open.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let n = s
            .list_signals(&SignalFilter {
                pupil: Some("p1".into()),
                min_urgency: Some(3),
                ..Default::default()
            })
            .unwrap()
            .len();
        first_list.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(n > 0);
        let t = Instant::now();
        assert!(s.outbox().unwrap().len() >= n_docs);
        outbox.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    for v in [&mut open, &mut first_list, &mut outbox] {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    println!(
        "open a store with {n_docs} documents: p50 {:.1} ms, max {:.1} ms; then first filtered list p50 {:.1} ms; outbox of all {n_docs} p50 {:.1} ms",
        percentile(&open, 0.5),
        open[open.len() - 1],
        percentile(&first_list, 0.5),
        percentile(&outbox, 0.5),
    );
    println!(
        "filled by merge_many (batches of 1,000) at {:.0} docs/s; {} bytes on disk per document",
        n_docs as f64 / fill.as_secs_f64(),
        bytes / n_docs as u64
    );
}

fn signal_doc(actor: &automerge::ActorId, pupil: &str, i: usize) -> (DocumentId, Vec<u8>) {
    let s = new_signal(pupil, i);
    let header = Header {
        kind: "signal".into(),
        school: SCHOOL.into(),
        pupil: Some(pupil.into()),
        author: "t1".into(),
        created_at: T0,
        schema: 1,
    };
    let record = Signal {
        observed_at: s.observed_at,
        recorded_at: T0,
        context: s.context,
        category: s.category,
        urgency: s.urgency,
        facts: s.facts,
        interpretation: None,
        source: s.source,
        pupil_quote: None,
        flag: None,
        shared: true,
        follow_ups: vec![],
        added_readers: vec![],
    };
    let d = doc::create(actor.clone(), T0, &header, &record).unwrap();
    (DocumentId::random(), d.save())
}
