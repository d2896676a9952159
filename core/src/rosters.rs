//! Rosters already decoded, by content: a small process-wide cache keyed by a roster
//! document's id and heads.
//!
//! A roster (and each staff member's view of it) is read far more often than it changes:
//! every request that checks a role, every roster import that compares old with new, every
//! store that opens. Loading the document and hydrating the [`Roster`] is the costly part.
//! Heads name a document's content exactly, so an entry found under `(id, heads)` is that
//! document whatever storage it came from, and an entry never goes stale: a changed roster
//! has other heads. Nothing is ever removed for correctness, only to bound memory (least
//! recently used first). Server and device share the code; each process has one cache.

use crate::DocumentId;
use crate::by_content::ByContent;
use crate::model::{Roster, SchoolSettings};
use automerge::{Automerge, ChangeHash};
use std::sync::{Arc, Mutex, PoisonError};

/// Entries kept: a school's roster and the views of its staff that change together.
const CAPACITY: usize = 96;

/// A decoded roster document: the document itself (to change it), its roster and the school
/// settings it carries.
#[derive(Clone)]
pub struct Decoded {
    /// The document, as loaded.
    pub doc: Automerge,
    /// Its roster record.
    pub roster: Arc<Roster>,
    /// The school settings it carries (defaults if none).
    pub settings: Arc<SchoolSettings>,
}

impl std::fmt::Debug for Decoded {
    // Never the roster: it holds pupils' names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded").finish_non_exhaustive()
    }
}

/// The cache (see the module documentation); [`rosters`] is the process's one.
pub struct Rosters {
    inner: Mutex<ByContent<Vec<ChangeHash>, Decoded>>,
}

impl std::fmt::Debug for Rosters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rosters").finish_non_exhaustive()
    }
}

/// The process's cache of decoded rosters.
pub fn rosters() -> &'static Rosters {
    static CACHE: Rosters = Rosters::new();
    &CACHE
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort_unstable();
    h
}

impl Rosters {
    const fn new() -> Self {
        Rosters {
            inner: Mutex::new(ByContent::new(CAPACITY)),
        }
    }

    fn with_entry<T>(
        &self,
        id: DocumentId,
        heads: &[ChangeHash],
        f: impl FnOnce(&Decoded) -> T,
    ) -> Option<T> {
        let heads = sorted(heads);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.get(id, &heads).map(f)
    }

    /// The decoded document `id` at `heads`, a copy to change, if cached.
    pub fn get(&self, id: DocumentId, heads: &[ChangeHash]) -> Option<Decoded> {
        self.with_entry(id, heads, Decoded::clone)
    }

    /// Only the roster and settings of `id` at `heads` (no copy of the document), if cached.
    pub fn record(
        &self,
        id: DocumentId,
        heads: &[ChangeHash],
    ) -> Option<(Arc<Roster>, Arc<SchoolSettings>)> {
        self.with_entry(id, heads, |d| (d.roster.clone(), d.settings.clone()))
    }

    /// Keep `decoded` under `id` and its document's heads. The caller vouches that the
    /// roster and settings are what the document holds.
    pub fn put(&self, id: DocumentId, decoded: Decoded) {
        let heads = sorted(&decoded.doc.get_heads());
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.put(id, heads, decoded);
    }

    /// Decode `doc` (the roster or a staff member's view, document `id`) and keep it.
    pub fn decode(&self, id: DocumentId, doc: Automerge) -> crate::Result<Decoded> {
        let roster: Roster = crate::doc::record(id, &doc)?;
        let settings = crate::doc::school_settings(&doc);
        let decoded = Decoded {
            doc,
            roster: Arc::new(roster),
            settings: Arc::new(settings),
        };
        self.put(id, decoded.clone());
        Ok(decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc;

    fn roster_doc(school: &str, group: &str) -> (DocumentId, Automerge, Roster) {
        let (id, mut d) = doc::roster_genesis(school).unwrap();
        let empty: Roster = doc::record(id, &d).unwrap();
        let mut r = empty.clone();
        r.groups.insert(
            group.into(),
            crate::model::Group {
                id: group.into(),
                name: group.into(),
                teachers: vec![],
            },
        );
        doc::update_roster(id, &mut d, &automerge::ActorId::random(), 0, &empty, &r).unwrap();
        (id, d, r)
    }

    #[test]
    fn an_entry_is_found_by_id_and_heads_only() {
        let cache = Rosters::new();
        let (id, d, r) = roster_doc("school-cache-a", "6b");
        let heads = d.get_heads();
        assert!(cache.get(id, &heads).is_none());
        let decoded = cache.decode(id, d.clone()).unwrap();
        assert_eq!(*decoded.roster, r);
        let (hit, _) = cache.record(id, &heads).unwrap();
        assert_eq!(*hit, r);
        // Other heads of the same document: not found (a changed roster never reads stale).
        let mut changed = d.clone();
        let mut r2 = r.clone();
        r2.groups.get_mut("6b").unwrap().name = "groep 6b".into();
        doc::update_roster(id, &mut changed, &automerge::ActorId::random(), 1, &r, &r2).unwrap();
        assert!(cache.record(id, &changed.get_heads()).is_none());
        // Another document: not found.
        let (other, _, _) = roster_doc("school-cache-b", "7a");
        assert!(cache.record(other, &heads).is_none());
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = Rosters::new();
        let docs: Vec<_> = (0..=CAPACITY)
            .map(|i| roster_doc(&format!("school-lru-{i}"), "1a"))
            .collect();
        for (id, d, _) in &docs[..CAPACITY] {
            cache.decode(*id, d.clone()).unwrap();
        }
        // Use the first, then add one more: the second is dropped, the first kept.
        assert!(cache.record(docs[0].0, &docs[0].1.get_heads()).is_some());
        let (id, d, _) = &docs[CAPACITY];
        cache.decode(*id, d.clone()).unwrap();
        assert!(cache.record(docs[0].0, &docs[0].1.get_heads()).is_some());
        assert!(cache.record(docs[1].0, &docs[1].1.get_heads()).is_none());
        assert!(cache.record(*id, &d.get_heads()).is_some());
    }
}
