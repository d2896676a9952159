//! A small bounded LRU cache of loaded Automerge documents.

use automerge::Automerge;
use omkijken_core::DocumentId;
use std::collections::{BTreeMap, HashMap};

/// Least-recently-used cache of documents, bounded by count and by their stored size.
#[derive(Debug)]
pub struct DocCache {
    cap: usize,
    cap_bytes: usize,
    bytes: usize,
    tick: u64,
    docs: HashMap<DocumentId, (Automerge, u64, usize)>,
    order: BTreeMap<u64, DocumentId>,
}

impl DocCache {
    /// A cache holding at most `cap` documents whose stored sizes add up to at most
    /// `cap_bytes` (0 disables caching).
    pub fn new(cap: usize, cap_bytes: usize) -> Self {
        DocCache {
            cap,
            cap_bytes,
            bytes: 0,
            tick: 0,
            docs: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// The cached document, marking it recently used.
    pub fn get(&mut self, id: &DocumentId) -> Option<&Automerge> {
        self.tick += 1;
        let (doc, t, _) = self.docs.get_mut(id)?;
        self.order.remove(t);
        *t = self.tick;
        self.order.insert(self.tick, *id);
        Some(doc)
    }

    /// Insert or replace a document of `size` stored bytes, evicting the least recently
    /// used beyond the bounds. A document larger than the byte bound is not cached.
    pub fn put(&mut self, id: DocumentId, doc: Automerge, size: usize) {
        self.remove(&id);
        if self.cap == 0 || size > self.cap_bytes {
            return;
        }
        self.tick += 1;
        self.docs.insert(id, (doc, self.tick, size));
        self.bytes += size;
        self.order.insert(self.tick, id);
        while self.docs.len() > self.cap || self.bytes > self.cap_bytes {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((_, _, sz)) = self.docs.remove(&old) {
                self.bytes -= sz;
            }
        }
    }

    /// Forget a document.
    pub fn remove(&mut self, id: &DocumentId) {
        if let Some((_, t, sz)) = self.docs.remove(id) {
            self.order.remove(&t);
            self.bytes -= sz;
        }
    }

    /// Stored bytes of the cached documents.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of cached documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_is_evicted_first() {
        let mut c = DocCache::new(2, 1000);
        let (a, b, d) = (
            DocumentId::random(),
            DocumentId::random(),
            DocumentId::random(),
        );
        c.put(a, Automerge::new(), 10);
        c.put(b, Automerge::new(), 10);
        assert!(c.get(&a).is_some());
        c.put(d, Automerge::new(), 10);
        assert_eq!(c.len(), 2);
        assert!(c.get(&b).is_none(), "b was least recently used");
        assert!(c.get(&a).is_some() && c.get(&d).is_some());
        c.remove(&a);
        assert_eq!((c.len(), c.bytes()), (1, 10));
    }

    #[test]
    fn the_byte_bound_evicts_too() {
        let mut c = DocCache::new(10, 100);
        let ids: Vec<DocumentId> = (0..3).map(|_| DocumentId::random()).collect();
        c.put(ids[0], Automerge::new(), 60);
        c.put(ids[1], Automerge::new(), 30);
        c.put(ids[2], Automerge::new(), 30);
        assert!(c.get(&ids[0]).is_none());
        assert_eq!((c.len(), c.bytes()), (2, 60));
        c.put(ids[1], Automerge::new(), 40);
        assert_eq!(c.bytes(), 70, "replacing updates the size");
        c.put(DocumentId::random(), Automerge::new(), 101);
        assert_eq!(c.len(), 2, "too large to cache");
    }
}
