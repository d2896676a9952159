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

use crate::by_content::ByContent;
use crate::ids::DocumentId;
use automerge::{Automerge, ReadDoc};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Documents kept.
const CAPACITY: usize = 64;
/// Larger documents (stored bytes) are not kept: on a phone the cache stays a few MB at
/// most (a signal or a month of readings is a few KB).
const MAX_SIZE: usize = 64 * 1024;

/// The process's cache: a document and its stored size, by id and heads (JSON).
static CACHE: Mutex<ByContent<String, (Automerge, usize)>> = Mutex::new(ByContent::new(CAPACITY));

fn cache() -> MutexGuard<'static, ByContent<String, (Automerge, usize)>> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A copy of document `id` as stored with `heads` (the row's heads, as JSON), and its
/// stored size, if cached.
pub(super) fn get(id: DocumentId, heads: &str) -> Option<(Automerge, usize)> {
    cache().get(id, heads).cloned()
}

/// Keep `doc`, stored as document `id` with `heads` (JSON, as its row holds them) in
/// `size` bytes. Documents waiting for a missing change, and large ones, are not kept.
pub(super) fn put(id: DocumentId, heads: String, size: usize, doc: Automerge) {
    if size > MAX_SIZE || !doc.get_missing_deps(&[]).is_empty() {
        return;
    }
    cache().put(id, heads, (doc, size));
}

/// Forget documents `ids` (purged, erased, or a store wiped).
pub(super) fn forget(ids: &[DocumentId]) {
    cache().forget(ids);
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn doc_with(text: &str) -> Automerge {
        let mut d = Automerge::new();
        let mut tx = d.transaction();
        tx.put(automerge::ROOT, "notes", text).unwrap();
        tx.commit();
        d
    }

    fn heads(d: &Automerge) -> String {
        super::super::heads_json(&d.get_heads())
    }

    #[test]
    fn a_document_is_found_only_at_the_heads_it_was_kept_under() {
        let id = DocumentId::from_rng(&mut rand::rng());
        let one = doc_with("één");
        let two = doc_with("ideeën");
        let mut c = ByContent::new(CAPACITY);
        c.put(id, heads(&one), (one.clone(), 10));
        c.put(id, heads(&two), (two.clone(), 10));
        // Two versions of one document (two stores in one process): each by its heads.
        let (got, _) = c.get(id, &heads(&one)).expect("kept");
        assert_eq!(got.get_heads(), one.get_heads());
        let (got, _) = c.get(id, &heads(&two)).expect("kept");
        assert_eq!(got.get_heads(), two.get_heads());
        assert!(c.get(id, "[]").is_none());
        // Full: the least recently used goes first.
        for _ in 0..CAPACITY - 1 {
            let other = DocumentId::from_rng(&mut rand::rng());
            c.put(other, heads(&one), (one.clone(), 10));
        }
        assert!(c.get(id, &heads(&one)).is_none());
        assert!(c.get(id, &heads(&two)).is_some());
    }

    #[test]
    fn large_documents_are_not_kept() {
        let id = DocumentId::from_rng(&mut rand::rng());
        let d = doc_with("zorgcoördinator");
        // The process cache: a document no test shares (nothing else puts under its id).
        put(id, heads(&d), MAX_SIZE + 1, d.clone());
        assert!(get(id, &heads(&d)).is_none());
        put(id, heads(&d), 10, d.clone());
        forget(&[id]);
        assert!(get(id, &heads(&d)).is_none());
    }
}
