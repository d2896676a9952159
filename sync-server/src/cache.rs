//! A small bounded LRU cache of loaded Automerge documents.

use automerge::Automerge;
use omkijken_core::DocumentId;
use std::collections::{BTreeMap, HashMap};

/// Least-recently-used cache of documents, bounded by count.
#[derive(Debug)]
pub struct DocCache {
    cap: usize,
    tick: u64,
    docs: HashMap<DocumentId, (Automerge, u64)>,
    order: BTreeMap<u64, DocumentId>,
}

impl DocCache {
    /// A cache holding at most `cap` documents (0 disables caching).
    pub fn new(cap: usize) -> Self {
        DocCache {
            cap,
            tick: 0,
            docs: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// The cached document, marking it recently used.
    pub fn get(&mut self, id: &DocumentId) -> Option<&Automerge> {
        self.tick += 1;
        let (doc, t) = self.docs.get_mut(id)?;
        self.order.remove(t);
        *t = self.tick;
        self.order.insert(self.tick, *id);
        Some(doc)
    }

    /// Insert or replace, evicting the least recently used beyond the bound.
    pub fn put(&mut self, id: DocumentId, doc: Automerge) {
        if self.cap == 0 {
            return;
        }
        self.tick += 1;
        if let Some((_, t)) = self.docs.insert(id, (doc, self.tick)) {
            self.order.remove(&t);
        }
        self.order.insert(self.tick, id);
        while self.docs.len() > self.cap {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.docs.remove(&old);
        }
    }

    /// Forget a document.
    pub fn remove(&mut self, id: &DocumentId) {
        if let Some((_, t)) = self.docs.remove(id) {
            self.order.remove(&t);
        }
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
        let mut c = DocCache::new(2);
        let (a, b, d) = (
            DocumentId::random(),
            DocumentId::random(),
            DocumentId::random(),
        );
        c.put(a, Automerge::new());
        c.put(b, Automerge::new());
        assert!(c.get(&a).is_some());
        c.put(d, Automerge::new());
        assert_eq!(c.len(), 2);
        assert!(c.get(&b).is_none(), "b was least recently used");
        assert!(c.get(&a).is_some() && c.get(&d).is_some());
        c.remove(&a);
        assert_eq!(c.len(), 1);
    }
}
