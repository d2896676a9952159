//! What one transaction writes ([`Batch`]), what it gives back, and what devices hold.

use super::admin_events::{AdminEvent, AdminEventKind};
use super::audit::AuditRecord;
use super::catalog::DocWrite;
use super::devices::DeviceOutbox;
use super::devices::{EnrollmentCode, School};
use omkijken_core::DocumentId;
use std::collections::HashSet;

/// Everything one transaction writes. Empty parts cost nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Schools to create (must not exist yet).
    pub schools: Vec<School>,
    /// Content changes; each gets a new catalog sequence, in this order.
    pub docs: Vec<DocWrite>,
    /// Documents whose access may have changed: a new catalog sequence, content unchanged.
    pub bump: Vec<DocumentId>,
    /// Documents to erase: bytes dropped, tombstone with a new sequence.
    pub erase: Vec<DocumentId>,
    /// (device, document): the device now holds the document.
    pub hold: Vec<(String, DocumentId)>,
    /// (device, document): the device no longer holds the document (row removed).
    pub unhold: Vec<(String, DocumentId)>,
    /// (device, document): the device was told to purge the document. The row stays (the
    /// purge may be lost) and is marked; a later `hold` clears the mark.
    pub purged: Vec<(String, DocumentId)>,
    /// (document, chunks, snapshot): replace the document's stored bytes by `snapshot` (a
    /// saved document with exactly its current heads) if it still has `chunks` chunks
    /// stored, without a new catalog sequence (the content is the same). Done when a whole
    /// document is fetched, so the next device gets it as one document chunk.
    pub compact: Vec<(DocumentId, u32, Vec<u8>)>,
    /// Audit rows to append (reads with a device sequence already stored are skipped).
    pub audit: Vec<AuditRecord>,
    /// Admin events to append.
    pub events: Vec<AdminEvent>,
    /// Enrollment codes to store.
    pub codes: Vec<EnrollmentCode>,
    /// (device, unix ms): revoke these devices.
    pub revoke: Vec<(String, i64)>,
    /// (device, unix ms): last seen.
    pub touch: Vec<(String, i64)>,
    /// (device, its outbox): the outbox a device reported.
    pub outbox: Vec<(String, DeviceOutbox)>,
}

impl Batch {
    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Batch::default()
    }
}

impl Batch {
    /// Erase documents `ids` of `school`, with their audit rows, and tell running servers
    /// (an `erase` admin event at `now`).
    pub fn erasure(now: i64, school: &str, ids: Vec<DocumentId>, audit: Vec<AuditRecord>) -> Batch {
        Batch {
            erase: ids,
            audit,
            events: vec![AdminEvent::new(
                now,
                AdminEventKind::Erase,
                Some(school),
                None,
            )],
            ..Default::default()
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Committed {
    /// The last catalog sequence before this commit.
    pub prev_seq: u64,
    /// The last catalog sequence after it (equal to `prev_seq` if it wrote no catalog row).
    pub last_seq: u64,
}

/// What one device may hold of some documents ([`Storage::holdings`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holding {
    /// Held, or told to purge.
    pub held: HashSet<DocumentId>,
    /// Told to purge (and not given back since).
    pub purged: HashSet<DocumentId>,
}

impl Holding {
    /// Whether the device holds `id` now (held and not told to purge).
    pub fn has(&self, id: &DocumentId) -> bool {
        self.held.contains(id) && !self.purged.contains(id)
    }
}
