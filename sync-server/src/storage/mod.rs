//! Server storage behind the [`Storage`] trait.
//!
//! What is stored:
//! - per document an append-only log of change chunks, compacted now and then into one
//!   snapshot (a write either appends a chunk or replaces everything by a snapshot);
//! - the catalog: per document its header, access fields, heads, size and the catalog
//!   sequence of its last change or access bump (the catch-up cursor counts in these);
//! - schools, devices (token hash, actor, user, revoked), one-time enrollment codes
//!   (hashed), the device -> held documents table (for purges), the append-only audit log
//!   and the admin-events log another process (the admin CLI) uses to tell a running server
//!   that something changed.
//!
//! Every write goes through [`Storage::commit`] with a [`Batch`]: one transaction, durable
//! when it returns. The trait is object safe (`Box<dyn Storage>`); [`conformance`] is the
//! test suite every implementation must pass. [`sqlite::SqliteStorage`] is the embedded
//! default; [`postgres::PostgresStorage`] lets several server nodes share one database.

mod accounts;
mod admin_events;
mod audit;
mod batch;
mod catalog;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod devices;
mod migrations;
pub mod postgres;
pub(crate) mod rows;
pub mod sqlite;

use crate::Result;
pub use accounts::{AdminAccount, AdminRole};
pub use admin_events::{AdminEvent, AdminEventKind};
pub use audit::{AuditAction, AuditFilter, AuditRecord, audit_hash, chain_prev};
pub use batch::{Batch, Committed, Holding};
pub use catalog::{CatalogRow, DocWrite, StoredDoc, WriteMode, new_epoch};
pub use devices::{Device, DeviceOutbox, EnrollOutcome, EnrollmentCode, NewDevice, School};
use omkijken_core::DocumentId;
pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;
use std::collections::{HashMap, HashSet};

/// Catalog rows, each with whether the device that asked holds it
/// ([`Storage::catalog_since`]).
pub type CatalogHeld = Vec<(CatalogRow, bool)>;

/// Catalog rows read at a time where a whole school's are gone through (catch-up, the
/// roster views, retention): what is in memory at once, whatever the school's size.
pub const CATALOG_PAGE: usize = 4_096;

/// The server's storage. Object safe: the hub holds a `Box<dyn Storage>`.
///
/// Methods take `&mut self` so an implementation can keep one connection and cached
/// statements. A storage must be durable when [`Storage::commit`] returns, and catalog
/// sequences must be commit-ordered: a reader who saw sequence `n` never later sees a new
/// row with a sequence `<= n`. Several processes may write one storage at once (the admin
/// CLI beside a server; server nodes sharing PostgreSQL): [`DocWrite::base`] keeps a write
/// from overwriting what it did not see.
pub trait Storage: Send {
    /// Write a batch in one transaction.
    fn commit(&mut self, batch: Batch) -> Result<Committed>;

    /// Open a group commit: the commits until [`Storage::end_group`] are visible to this
    /// storage's reads at once, but stored durably only together, at its end (one sync to
    /// disk for the pushes of many devices). Nothing written in a group may be acknowledged
    /// before `end_group` returned. A storage without groups stores each commit at once
    /// (the default: both calls do nothing).
    fn begin_group(&mut self) -> Result<()> {
        Ok(())
    }

    /// Store the open group's commits durably; on an error none of them is stored.
    fn end_group(&mut self) -> Result<()> {
        Ok(())
    }

    /// Catalog rows of these documents (unknown ones are left out; order not specified).
    fn catalog_get(&mut self, ids: &[DocumentId]) -> Result<Vec<CatalogRow>>;
    /// Catalog rows of a school with a sequence above `after`, in sequence order, at most
    /// [`CATALOG_PAGE`], each with whether `device` holds it (no device, `""`: never held,
    /// and nothing is looked up).
    fn catalog_since(&mut self, school: &str, after: u64, device: &str) -> Result<CatalogHeld>;
    /// Every catalog row of a school, in sequence order, to `f`: read [`CATALOG_PAGE`] rows
    /// at a time, so the memory it takes does not grow with the school.
    fn for_each_in_school(
        &mut self,
        school: &str,
        f: &mut dyn FnMut(CatalogRow) -> Result<()>,
    ) -> Result<()> {
        self.for_each_since(school, 0, "", &mut |row, _| f(row))
    }
    /// [`Storage::for_each_in_school`] from sequence `after` on, each row with whether
    /// `device` holds it.
    fn for_each_since(
        &mut self,
        school: &str,
        mut after: u64,
        device: &str,
        f: &mut dyn FnMut(CatalogRow, bool) -> Result<()>,
    ) -> Result<()> {
        loop {
            let page = self.catalog_since(school, after, device)?;
            let full = page.len() == CATALOG_PAGE;
            for (row, held) in page {
                after = row.seq;
                f(row, held)?;
            }
            if !full {
                return Ok(());
            }
        }
    }
    /// Catalog rows of all schools with a sequence above `after`, in sequence order, at most
    /// `limit`.
    fn catalog_changes(&mut self, after: u64, limit: usize) -> Result<Vec<CatalogRow>>;
    /// All catalog rows of a school.
    fn catalog_school(&mut self, school: &str) -> Result<Vec<CatalogRow>>;
    /// The last catalog sequence.
    fn last_seq(&mut self) -> Result<u64>;
    /// The store's lineage: a random number made with the store and made anew by
    /// [`Storage::renew_epoch`] when it is restored from a backup. Catalog sequences (device
    /// cursors) compare only within one lineage.
    fn epoch(&mut self) -> Result<u64>;
    /// Start a new lineage (after a restore from a backup): devices then catch up from the
    /// start and send again what this store lacks.
    fn renew_epoch(&mut self) -> Result<u64>;

    /// The stored bytes of a document (snapshot then chunks, loadable with
    /// `Automerge::load`) and the summary stored with its heads, or None if unknown or
    /// erased.
    fn load_stored(&mut self, id: DocumentId) -> Result<Option<StoredDoc>>;
    /// [`Storage::load_stored`] of several documents (one round trip where the store is a
    /// database server); unknown and erased ones are left out.
    fn load_stored_many(&mut self, ids: &[DocumentId]) -> Result<HashMap<DocumentId, StoredDoc>> {
        let mut found = HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(stored) = self.load_stored(id)? {
                found.insert(id, stored);
            }
        }
        Ok(found)
    }
    /// The stored bytes of [`Storage::load_stored`].
    fn load_doc(&mut self, id: DocumentId) -> Result<Option<Vec<u8>>> {
        Ok(self.load_stored(id)?.map(|s| s.data))
    }
    /// Which of `ids` the device may hold (held, or told to purge).
    fn held_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>>;
    /// Which of `ids` the device was told to purge (and has not been given back since).
    fn purged_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>>;
    /// What each of `devices` may hold of `ids` ([`Storage::held_among`]) and was told to
    /// purge ([`Storage::purged_among`]), in one query: what the hub's delivery planner asks
    /// once for every live device. Devices holding none of `ids` may be left out.
    fn holdings(
        &mut self,
        devices: &[String],
        ids: &[DocumentId],
    ) -> Result<HashMap<String, Holding>>;
    /// What every device that may hold any of `ids` holds of them ([`Storage::holdings`]
    /// for the devices not known in advance): one query by document, whatever the number
    /// of devices, for the live fan-out (`held_doc` index).
    fn holders(&mut self, ids: &[DocumentId]) -> Result<HashMap<String, Holding>>;

    /// A school.
    fn school(&mut self, id: &str) -> Result<Option<School>>;
    /// All schools.
    fn schools(&mut self) -> Result<Vec<School>>;

    /// Spend an enrollment code and create the device, in one transaction (also writes the
    /// `enroll` audit row).
    fn enroll(
        &mut self,
        code_hash: &[u8; 32],
        now: i64,
        device: &NewDevice,
    ) -> Result<EnrollOutcome>;
    /// The device with this token hash (revoked ones too).
    fn device_by_token(&mut self, token_hash: &[u8; 32]) -> Result<Option<Device>>;
    /// A device by id.
    fn device(&mut self, id: &str) -> Result<Option<Device>>;
    /// All devices.
    fn devices(&mut self) -> Result<Vec<Device>>;

    /// Audit rows, in sequence order.
    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
    /// The `hold` and `release` rows of the audit log, in sequence order, read through their
    /// own index (`migrations::AUDIT_HOLDS`).
    fn hold_rows(&mut self) -> Result<Vec<AuditRecord>>;
    /// How many audit rows of each action there are per day from `since` (unix ms): (action,
    /// day, count), day 0 the 24 hours from `since`; counted in the database, no row read
    /// into memory (the console's daily figures).
    fn audit_counts_by_day(&mut self, since: i64) -> Result<Vec<(AuditAction, i64, u64)>>;
    /// Up to `limit` audit rows after sequence `after`, in sequence order, each with its
    /// stored link hash (none for rows written before the chain); for `admin audit verify`.
    fn audit_page(
        &mut self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(AuditRecord, Option<Vec<u8>>)>>;
    /// Admin events with a sequence above `after`.
    fn admin_events_since(&mut self, after: u64) -> Result<Vec<AdminEvent>>;

    /// A school's server-side policy (JSON, see `retention::SchoolPolicy`): retention terms
    /// and the dates pupils left. Never sent to devices.
    fn school_policy(&mut self, school: &str) -> Result<Option<String>>;

    /// Replace a school's server-side policy.
    fn set_school_policy(&mut self, school: &str, policy: &str) -> Result<()>;
    /// The last admin-event sequence.
    fn last_admin_event(&mut self) -> Result<u64>;
    /// The last catalog and admin-event sequences, read together (one round trip to a
    /// database): what a hub's poll compares with what it has seen.
    fn last_seqs(&mut self) -> Result<(u64, u64)> {
        Ok((self.last_seq()?, self.last_admin_event()?))
    }
    /// Keep at most `kib` KiB of pages in this connection's own cache (a connection that
    /// only reads beside the hub: its cache starts cold after every write of the hub's
    /// anyway). A storage without a page cache of its own ignores it.
    fn limit_page_cache(&mut self, kib: usize) -> Result<()> {
        let _ = kib;
        Ok(())
    }
    /// Copy what the write-ahead log holds into the database file without waiting for or
    /// blocking a writer (SQLite's passive checkpoint), on a connection beside the hub's, so
    /// that the hub's commits never stop for one. A storage without such a log does nothing.
    fn checkpoint(&mut self) -> Result<()> {
        Ok(())
    }
    /// Leave this connection's checkpoints to another ([`Storage::checkpoint`]), but for a
    /// log grown past `pages` pages (should that one stop). A storage without such a log
    /// ignores it.
    fn checkpoint_beside(&mut self, pages: u32) -> Result<()> {
        let _ = pages;
        Ok(())
    }
    /// The tag this storage's commits give their change notifications (PostgreSQL), so that
    /// the listener of the same node can pass over its own writes: the hub that made them
    /// has delivered them already. None: notifications are not tagged.
    fn notification_tag(&self) -> Option<&str> {
        None
    }

    /// An admin console account by name.
    fn admin_account(&mut self, name: &str) -> Result<Option<AdminAccount>>;

    /// Every admin console account, by name.
    fn admin_accounts(&mut self) -> Result<Vec<AdminAccount>>;

    /// Create an admin console account, or replace the one of that name.
    fn put_admin_account(&mut self, account: &AdminAccount) -> Result<()>;
}
