//! Catalog rows, document writes and stored documents.

use automerge::ChangeHash;
use omkijken_core::{AccessFields, DocumentId, Header};

/// One catalog row: everything the server needs to decide access and catch-up without
/// opening the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    /// Document.
    pub id: DocumentId,
    /// Its immutable header.
    pub header: Header,
    /// Access-relevant fields of its current state.
    pub fields: AccessFields,
    /// Heads of the stored state, sorted.
    pub heads: Vec<ChangeHash>,
    /// Catalog sequence of its last change or access bump.
    pub seq: u64,
    /// Catalog sequence of its last content change (or erasure).
    pub content_seq: u64,
    /// Stored bytes (snapshot plus chunks).
    pub size: u64,
    /// Chunks stored since the last snapshot.
    pub chunks: u32,
    /// Erased: no bytes any more; the id is refused for good.
    pub erased: bool,
}

/// How a [`DocWrite`] stores its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Append `data` (change chunks) to the document's log.
    Append,
    /// `data` is a saved document holding everything stored so far: replace the log with it.
    Snapshot,
}

/// A content change of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWrite {
    /// Document.
    pub id: DocumentId,
    /// Header (must equal the stored one for an existing document).
    pub header: Header,
    /// Access fields after the change.
    pub fields: AccessFields,
    /// Heads after the change, sorted.
    pub heads: Vec<ChangeHash>,
    /// Bytes, see [`WriteMode`].
    pub data: Vec<u8>,
    /// Append or snapshot.
    pub mode: WriteMode,
    /// The document's summary at `heads` (core's `doc::Summary::to_wire`), sent with the
    /// whole document to devices that do not hold it; None if there is none (the roster).
    /// Stored with the heads: a write without one clears the old one.
    pub summary: Option<Vec<u8>>,
    /// The stored heads this write was made from (empty: the document is new). With
    /// `Some`, [`Storage::commit`] fails with [`crate::Error::Conflict`] and writes nothing
    /// when the document's stored heads are no longer these (another process or node wrote
    /// it meanwhile, or erased it): the writer reloads and merges again. `None` writes
    /// unconditionally.
    pub base: Option<Vec<ChangeHash>>,
}

impl DocWrite {
    /// Whether this write may go ahead on a document whose stored heads are `current`
    /// (`Some(vec![])` for a document not stored yet, None for an erased one): it has no
    /// base, or its base is exactly the stored heads. Both storages ask this inside the
    /// commit transaction.
    pub fn base_matches(&self, current: Option<&[ChangeHash]>) -> bool {
        let Some(base) = &self.base else {
            return true;
        };
        let Some(current) = current else {
            return false;
        };
        let mut a = base.clone();
        a.sort();
        let mut b = current.to_vec();
        b.sort();
        a == b
    }
}

/// A new random lineage number (positive, so it fits a signed 64-bit column).
pub fn new_epoch() -> u64 {
    rand::random::<u64>() >> 1 | 1
}

/// A document as stored: see [`Storage::load_stored`].
#[derive(Clone, PartialEq, Eq)]
pub struct StoredDoc {
    /// Snapshot then chunks, loadable with `Automerge::load`.
    pub data: Vec<u8>,
    /// The summary stored with the current heads ([`DocWrite::summary`]).
    pub summary: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoredDoc {
    // Never the bytes: they hold note text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredDoc")
            .field("bytes", &self.data.len())
            .field("summary", &self.summary.is_some())
            .finish()
    }
}
