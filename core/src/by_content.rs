//! A small cache of values kept by content: keyed by a document's id and heads, which name
//! its content exactly, so an entry never goes stale (a changed document has other heads
//! and simply misses). Entries go least recently used first, only to bound memory. The one
//! structure behind the process's decoded rosters ([`crate::rosters`]) and the store's
//! loaded documents; each keeps its own, under its own lock.

use crate::DocumentId;
use std::borrow::Borrow;

/// At most `capacity` values under `(id, heads)`. A linear scan: capacities are tens.
pub(crate) struct ByContent<H, V> {
    capacity: usize,
    tick: u64,
    entries: Vec<Entry<H, V>>,
}

struct Entry<H, V> {
    id: DocumentId,
    heads: H,
    used: u64,
    value: V,
}

impl<H: PartialEq, V> ByContent<H, V> {
    /// An empty cache of at most `capacity` entries.
    pub(crate) const fn new(capacity: usize) -> Self {
        ByContent {
            capacity,
            tick: 0,
            entries: Vec::new(),
        }
    }

    /// The value kept under `(id, heads)`, now the most recently used, if any.
    pub(crate) fn get<Q>(&mut self, id: DocumentId, heads: &Q) -> Option<&V>
    where
        H: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.tick += 1;
        let e = self
            .entries
            .iter_mut()
            .find(|e| e.id == id && e.heads.borrow() == heads)?;
        e.used = self.tick;
        Some(&e.value)
    }

    /// Keep `value` under `(id, heads)`, dropping the least recently used entry when full.
    /// An entry already there stays (the same content) and becomes the most recently used.
    pub(crate) fn put(&mut self, id: DocumentId, heads: H, value: V) {
        if self.get(id, &heads).is_some() {
            return;
        }
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
        {
            self.entries.swap_remove(oldest);
        }
        self.entries.push(Entry {
            id,
            heads,
            used: self.tick,
            value,
        });
    }

    /// Forget every entry of the documents `ids`.
    pub(crate) fn forget(&mut self, ids: &[DocumentId]) {
        self.entries.retain(|e| !ids.contains(&e.id));
    }
}
