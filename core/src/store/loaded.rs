//! Documents already loaded, by content: a small process-wide cache of Automerge documents
//! keyed by id and heads, in front of the store's decoding.
//!
//! Loading a stored document (Automerge's decoding of the snapshot and the chunks after it)
//! is the largest single cost of a device's sync and edits, and the same document is often
//! loaded again before it changes: a live push is checked against the acknowledged heads
//! and then merged, a list opens what an edit just wrote. A document's heads name its
//! content exactly, so an entry found under `(id, heads)` is what the store holds when its
//! row says those heads; a changed document has other heads and simply misses. Entries go
//! least recently used first, and a purge or wipe forgets the document (it is a cache in
//! memory only: nothing here outlives the process or reaches the disk).
//!
//! Only documents that wait for nothing are kept (no change held back for a missing
//! dependency), so a copy from here is exactly what decoding the stored bytes gives.

use crate::ids::DocumentId;
use automerge::{Automerge, ReadDoc};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Documents kept.
const CAPACITY: usize = 64;
/// Larger documents (stored bytes) are not kept: the cache stays a few MB at most.
const MAX_SIZE: usize = 256 * 1024;

struct Entry {
    id: DocumentId,
    heads: String,
    size: usize,
    used: u64,
    doc: Automerge,
}

struct Cache {
    tick: u64,
    entries: Vec<Entry>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        Mutex::new(Cache {
            tick: 0,
            entries: Vec::new(),
        })
    })
}

/// A copy of document `id` as stored with `heads` (the row's heads, as JSON), and its
/// stored size, if cached.
pub(super) fn get(id: DocumentId, heads: &str) -> Option<(Automerge, usize)> {
    let mut c = cache().lock().unwrap_or_else(PoisonError::into_inner);
    c.tick += 1;
    let tick = c.tick;
    let e = c
        .entries
        .iter_mut()
        .find(|e| e.id == id && e.heads == heads)?;
    e.used = tick;
    Some((e.doc.clone(), e.size))
}

/// Keep `doc`, stored as document `id` with `heads` (JSON, as its row holds them) in
/// `size` bytes. Documents waiting for a missing change, and large ones, are not kept.
pub(super) fn put(id: DocumentId, heads: String, size: usize, doc: Automerge) {
    if size > MAX_SIZE || !doc.get_missing_deps(&[]).is_empty() {
        return;
    }
    let mut c = cache().lock().unwrap_or_else(PoisonError::into_inner);
    c.tick += 1;
    let tick = c.tick;
    if let Some(e) = c
        .entries
        .iter_mut()
        .find(|e| e.id == id && e.heads == heads)
    {
        e.used = tick;
        return;
    }
    if c.entries.len() >= CAPACITY
        && let Some(oldest) = c
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.used)
            .map(|(i, _)| i)
    {
        c.entries.swap_remove(oldest);
    }
    c.entries.push(Entry {
        id,
        heads,
        size,
        used: tick,
        doc,
    });
}

/// Forget document `id` (purged or erased).
pub(super) fn forget(id: DocumentId) {
    let mut c = cache().lock().unwrap_or_else(PoisonError::into_inner);
    c.entries.retain(|e| e.id != id);
}

/// Forget every document (a store wiped).
pub(super) fn forget_all() {
    let mut c = cache().lock().unwrap_or_else(PoisonError::into_inner);
    c.entries.clear();
}
