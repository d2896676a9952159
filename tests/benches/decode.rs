//! Where a synced document's CPU goes: Automerge load, the one-pass read behind projections
//! and record checks, and the CBOR frames. Per operation, on the sync benchmark's signal
//! (facts plus 10 follow-up entries, one change).
//!
//!     cargo bench -p omkijken-tests --bench decode

use automerge::{ActorId, Automerge};
use omkijken_core::model::Signal;
use omkijken_core::sync::{CatalogEntry, DocChanges, Frame};
use omkijken_core::{AccessFields, DocumentId, doc};
use std::time::Instant;

fn signal(i: usize) -> Automerge {
    let (header, record) = omkijken_tests::workload::signal("s", i);
    doc::create(ActorId::random(), 1_795_338_000_000, &header, &record).unwrap()
}

/// Mean time of `f` over `n` calls, printed in microseconds.
fn time<R>(name: &str, n: usize, mut f: impl FnMut(usize) -> R) {
    let start = Instant::now();
    for i in 0..n {
        std::hint::black_box(f(i));
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("  {name:<44} {us:>9.1} us");
}

fn main() {
    let n = 2_000;
    let docs: Vec<Automerge> = (0..n).map(signal).collect();
    let saved: Vec<Vec<u8>> = docs.iter().map(|d| d.save()).collect();
    let plain: Vec<Vec<u8>> = docs.iter().map(|d| d.save_nocompress()).collect();
    let id = DocumentId::random();
    println!(
        "one signal: {} B saved ({} B without compression)",
        saved[0].len(),
        plain[0].len()
    );
    time("Automerge::load", n, |i| {
        Automerge::load(&saved[i]).unwrap()
    });
    time("Automerge::load (uncompressed bytes)", n, |i| {
        Automerge::load(&plain[i]).unwrap()
    });
    time("doc::summarize (projection row)", n, |i| {
        doc::summarize(id, &docs[i]).unwrap()
    });
    time("doc::Hydrated::new (whole record, one pass)", n, |i| {
        doc::Hydrated::new(id, &docs[i]).unwrap()
    });
    time("doc::record_fast::<Signal>", n, |i| {
        doc::record_fast::<Signal>(id, &docs[i]).unwrap()
    });
    time("doc::record::<Signal> (autosurgeon)", n, |i| {
        doc::record::<Signal>(id, &docs[i]).unwrap()
    });
    time("Automerge::hydrate (for comparison)", n, |i| {
        docs[i].hydrate(None)
    });
    time("Automerge::save", n, |i| docs[i].save());
    // What a device does instead of load + read for a whole document the server sends
    // with heads and summary.
    time("doc::saved_heads (checksum + heads)", n, |i| {
        doc::saved_heads(&saved[i]).unwrap()
    });
    let wire: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| doc::summarize(id, d).unwrap().to_wire())
        .collect();
    println!("one summary: {} B", wire[0].len());
    time("doc::Summary::from_wire", n, |i| {
        doc::Summary::from_wire(&wire[i]).unwrap()
    });

    let entries: Vec<CatalogEntry> = (0..2_000)
        .map(|i| CatalogEntry {
            document_id: DocumentId::random(),
            header: doc::header(id, &docs[i % n]).unwrap(),
            fields: AccessFields {
                visibility: None,
                urgency: Some(1),
                category: Some("welbevinden".into()),
                readers: vec![],
            },
            heads: vec![hex::encode([7u8; 32])],
            seq: i as u64,
        })
        .collect();
    let catalog = Frame::Catalog {
        epoch: None,
        entries,
        purge: vec![],
        cursor: 5,
        complete: false,
    };
    let bytes = catalog.encode();
    println!("catalog frame of 2,000 entries: {} B", bytes.len());
    time("encode", 20, |_| catalog.encode());
    time("decode", 20, |_| Frame::decode(&bytes).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store =
        omkijken_core::Store::open(dir.path().join("d.db"), b"bench-key-0123456789").unwrap();
    let ids: Vec<DocumentId> = match &catalog {
        Frame::Catalog { entries, .. } => entries.iter().map(|e| e.document_id).collect(),
        _ => unreachable!(),
    };
    time("Store::infos of its 2,000 ids (fresh device)", 20, |_| {
        store.infos(&ids).unwrap()
    });
    let frame = Frame::Docs {
        docs: saved[..500]
            .iter()
            .zip(&wire)
            .zip(&docs)
            .map(|((b, w), d)| DocChanges {
                heads: omkijken_core::ids::heads_to_hex(&d.get_heads()),
                summary: Some(w.clone()),
                ..DocChanges::new(DocumentId::random(), b.clone())
            })
            .collect(),
        cursor: 0,
    };
    let bytes = frame.encode();
    println!(
        "docs frame of 500 whole signals with heads and summaries: {} B",
        bytes.len()
    );
    time("encode", 20, |_| frame.encode());
    time("decode", 20, |_| Frame::decode(&bytes).unwrap());
}
