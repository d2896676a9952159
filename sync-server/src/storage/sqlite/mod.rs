//! SQLite (SQLCipher) implementation of [`Storage`].
//!
//! One connection, WAL, `synchronous=FULL`: [`Storage::commit`] is one IMMEDIATE
//! transaction, durable when it returns. The catalog sequence is a counter in `meta`
//! incremented inside the write transaction; SQLite has one writer at a time, so sequences
//! are commit-ordered (PostgreSQL takes care of that differently, see `postgres`).
//! Another process (the admin CLI) may open the same file: writers wait on the busy timeout.

mod audit;
mod checkpoint;
mod commit;
#[cfg(test)]
mod group_tests;
mod rows;
mod schema;
#[cfg(test)]
mod tests;

use crate::Result;
use crate::storage::{
    AdminAccount, AdminEvent, AuditAction, AuditFilter, AuditRecord, Batch, CatalogHeld,
    CatalogRow, Committed, Device, EnrollOutcome, Holding, NewDevice, School, Storage, StoredDoc,
};
pub(crate) use commit::erase_row;
use commit::insert_audit;
use omkijken_core::DocumentId;
use omkijken_core::store::sql::CachedSql;
use rows::*;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
pub use schema::SCHEMA_VERSION;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The page cache of the server's connection, KiB.
const PAGE_CACHE_KIB: usize = 64 * 1024;

/// The SQLite storage.
pub struct SqliteStorage {
    conn: Connection,
    /// A group is open ([`Storage::begin_group`]): commits are savepoints of its
    /// transaction.
    group: bool,
    /// An erasure was committed in the open group: empty the WAL once the group is.
    checkpoint_pending: bool,
    /// Tests: the next group's commit fails ([`SqliteStorage::group_fault`]).
    #[cfg(feature = "testing")]
    group_fault: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Tests: run at the start of every commit ([`SqliteStorage::set_before_commit`]).
    #[cfg(feature = "testing")]
    before_commit: Option<Box<dyn FnMut() + Send>>,
}

/// The transaction of one write: its own IMMEDIATE transaction, or a savepoint of the open
/// group. Dropped without [`Tx::commit`], it writes nothing.
pub(super) enum Tx<'c> {
    Own(rusqlite::Transaction<'c>),
    Group(rusqlite::Savepoint<'c>),
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Tx::Own(t) => t,
            Tx::Group(s) => s,
        }
    }
}

impl Tx<'_> {
    pub(super) fn commit(self) -> rusqlite::Result<()> {
        match self {
            Tx::Own(t) => t.commit(),
            Tx::Group(s) => s.commit(),
        }
    }
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Open (creating and migrating) the store at `path`. With `key`, the file is encrypted
    /// with SQLCipher; a wrong key is an error, the file is never recreated.
    pub fn open(path: impl AsRef<Path>, key: Option<&str>) -> Result<Self> {
        omkijken_core::store::ensure_sqlcipher_started()?;
        let conn = Connection::open(path)?;
        Self::setup(conn, key)
    }

    /// The connection (for a backup).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// An in-memory store (tests).
    pub fn in_memory() -> Result<Self> {
        omkijken_core::store::ensure_sqlcipher_started()?;
        Self::setup(Connection::open_in_memory()?, None)
    }

    fn setup(conn: Connection, key: Option<&str>) -> Result<Self> {
        conn.set_prepared_statement_cache_capacity(omkijken_core::store::sql::STATEMENT_CACHE);
        if let Some(key) = key {
            conn.pragma_update(None, "key", key)?;
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // The first read fails here if the key is wrong.
        let _: i64 =
            conn.query_row_cached("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A page cache of 64 MiB (SQLite's default is 2 MiB): a group commit's dirty pages
        // stay in memory until its end instead of spilling into the WAL half-way, and pages
        // read again are not decrypted again. Bounded whatever the store's size.
        conn.pragma_update(None, "cache_size", -(PAGE_CACHE_KIB as i64))?;
        // Deleted content (erasure, compaction, replaced snapshots) is overwritten with
        // zeros, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let mut s = SqliteStorage {
            conn,
            group: false,
            checkpoint_pending: false,
            #[cfg(feature = "testing")]
            group_fault: Default::default(),
            #[cfg(feature = "testing")]
            before_commit: None,
        };
        let from = s.migrate()?;
        if (1..5).contains(&from) {
            // A store from before secure_delete: rewrite it once so that content deleted
            // earlier (erasures among it) leaves no free page behind.
            s.conn.execute_batch("VACUUM")?;
            s.checkpoint_truncate();
        }
        Ok(s)
    }

    /// Tests: set the flag this returns and the next group's commit fails (nothing of the
    /// group is stored), whoever holds the storage by then.
    #[cfg(feature = "testing")]
    pub fn group_fault(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.group_fault.clone()
    }

    /// Tests: `hook` runs at the start of every commit, before its transaction begins:
    /// another writer of the same file can commit in between what this one read and what
    /// it writes.
    #[cfg(feature = "testing")]
    pub fn set_before_commit(&mut self, hook: Option<Box<dyn FnMut() + Send>>) {
        self.before_commit = hook;
    }

    /// Begin one write: see [`Tx`].
    pub(super) fn begin(&mut self) -> Result<Tx<'_>> {
        Ok(if self.group {
            Tx::Group(self.conn.savepoint()?)
        } else {
            Tx::Own(
                self.conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?,
            )
        })
    }

    /// Record a backup taken of this store: where, when (unix ms) and the catalog sequence
    /// it holds.
    pub(crate) fn record_backup(&self, path: &str, taken_at: i64, seq: i64) -> Result<()> {
        self.conn.execute_cached(
            "INSERT INTO backups (path, taken_at, seq) VALUES (?1, ?2, ?3)",
            params![path, taken_at, seq],
        )?;
        Ok(())
    }

    /// The backups recorded, oldest first, each with the number of documents erased after
    /// it was taken (which it still holds).
    pub(crate) fn backups(&self) -> Result<Vec<(String, i64, u64)>> {
        let mut st = self.conn.prepare(
            "SELECT b.path, b.taken_at, \
               (SELECT count(*) FROM catalog c WHERE c.erased = 1 AND c.seq > b.seq) \
             FROM backups b ORDER BY b.taken_at, b.rowid",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Those of `ids` for which query `sql` (parameters: the device, one id) finds a row.
    fn doc_set(
        &mut self,
        sql: &str,
        device: &str,
        ids: &[DocumentId],
    ) -> Result<HashSet<DocumentId>> {
        let mut st = self.conn.prepare_cached(sql)?;
        let mut out = HashSet::new();
        for id in ids {
            if st.exists(params![device, id.as_bytes().as_slice()])? {
                out.insert(*id);
            }
        }
        Ok(out)
    }
    /// Held rows (device, doc, purged) of query `sql`, whose parameters are `devices` then
    /// `docs`, added to what each device holds.
    fn held_rows(
        &mut self,
        sql: &str,
        devices: &[String],
        docs: &[DocumentId],
        out: &mut HashMap<String, Holding>,
    ) -> Result<()> {
        let mut st = self.conn.prepare_cached(sql)?;
        let bytes: Vec<&[u8]> = docs.iter().map(|i| i.as_bytes().as_slice()).collect();
        let args: Vec<&dyn rusqlite::ToSql> = devices
            .iter()
            .map(|d| d as &dyn rusqlite::ToSql)
            .chain(bytes.iter().map(|b| b as &dyn rusqlite::ToSql))
            .collect();
        let mut rows = st.query(args.as_slice())?;
        while let Some(r) = rows.next()? {
            crate::storage::rows::add_held(out, r)?;
        }
        Ok(())
    }
}

/// `n` numbered SQL parameters from `?from`, comma-separated.
fn marks(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Storage for SqliteStorage {
    fn commit(&mut self, batch: Batch) -> Result<Committed> {
        #[cfg(feature = "testing")]
        if let Some(hook) = self.before_commit.as_mut() {
            hook();
        }
        self.commit_batch(batch)
    }

    fn begin_group(&mut self) -> Result<()> {
        if !self.group {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.group = true;
        }
        Ok(())
    }

    fn end_group(&mut self) -> Result<()> {
        if !self.group {
            return Ok(());
        }
        self.group = false;
        #[cfg(feature = "testing")]
        if self
            .group_fault
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            // The group's COMMIT fails, as it would on a full disk: a deferred foreign key
            // is still broken at its end.
            self.conn.execute_batch(
                "CREATE TEMP TABLE fault_parent (id INTEGER PRIMARY KEY); \
                 CREATE TEMP TABLE fault_child \
                   (p INTEGER REFERENCES fault_parent (id) DEFERRABLE INITIALLY DEFERRED); \
                 INSERT INTO fault_child VALUES (1);",
            )?;
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            // Nothing of the group is stored; the connection is left with no transaction.
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            self.checkpoint_pending = false;
            return Err(e.into());
        }
        if std::mem::take(&mut self.checkpoint_pending) {
            self.checkpoint_truncate();
        }
        Ok(())
    }

    fn catalog_get(&mut self, ids: &[DocumentId]) -> Result<Vec<CatalogRow>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {CATALOG_COLS} FROM catalog WHERE id = ?1"))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = st
                .query_row(params![id.as_bytes().as_slice()], catalog_row)
                .optional()?
            {
                out.push(row);
            }
        }
        Ok(out)
    }

    fn catalog_since(&mut self, school: &str, after: u64, device: &str) -> Result<CatalogHeld> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {CATALOG_COLS}, CASE WHEN ?3 = '' THEN 0 ELSE EXISTS (SELECT 1 FROM held h WHERE h.device = ?3 AND h.doc = catalog.id) END \
             FROM catalog WHERE school = ?1 AND seq > ?2 ORDER BY seq LIMIT ?4"
        ))?;
        let rows = st
            .query_map(
                params![school, after as i64, device, super::CATALOG_PAGE as i64],
                |r| Ok((catalog_row(r)?, r.get::<_, bool>(17)?)),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn catalog_changes(&mut self, after: u64, limit: usize) -> Result<Vec<CatalogRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {CATALOG_COLS} FROM catalog WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))?;
        let rows = st
            .query_map(params![after as i64, limit as i64], catalog_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn catalog_school(&mut self, school: &str) -> Result<Vec<CatalogRow>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {CATALOG_COLS} FROM catalog WHERE school = ?1 ORDER BY seq"
        ))?;
        let rows = st
            .query_map(params![school], catalog_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn last_seq(&mut self) -> Result<u64> {
        let v: i64 = self.conn.query_row_cached(
            "SELECT value FROM meta WHERE key = 'catalog_seq'",
            [],
            |r| r.get(0),
        )?;
        Ok(v as u64)
    }

    fn limit_page_cache(&mut self, kib: usize) -> Result<()> {
        self.conn
            .pragma_update(None, "cache_size", -(kib.min(PAGE_CACHE_KIB) as i64))?;
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<()> {
        self.checkpoint_passive()
    }

    fn checkpoint_beside(&mut self, pages: u32) -> Result<()> {
        self.leave_checkpoints(pages)
    }

    fn epoch(&mut self) -> Result<u64> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match v {
            Some(v) => Ok(v as u64),
            None => self.renew_epoch(),
        }
    }

    fn renew_epoch(&mut self) -> Result<u64> {
        let epoch = super::new_epoch();
        self.conn.execute_cached(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('epoch', ?1)",
            params![epoch as i64],
        )?;
        Ok(epoch)
    }

    fn load_stored(&mut self, id: DocumentId) -> Result<Option<StoredDoc>> {
        let idb = id.as_bytes().as_slice();
        // One query for "known and not erased", the summary and the snapshot (if any).
        type SnapshotAndSummary = (Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<SnapshotAndSummary> = self
            .conn
            .prepare_cached(
                "SELECT s.data, c.summary FROM catalog c LEFT JOIN snapshots s ON s.doc = c.id \
                 WHERE c.id = ?1 AND c.erased = 0",
            )?
            .query_row(params![idb], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((snapshot, summary)) = row else {
            return Ok(None);
        };
        let mut data = snapshot.unwrap_or_default();
        let mut st = self
            .conn
            .prepare_cached("SELECT data FROM changes WHERE doc = ?1 ORDER BY id")?;
        let mut rows = st.query(params![idb])?;
        while let Some(r) = rows.next()? {
            data.extend_from_slice(r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
        }
        Ok(Some(StoredDoc { data, summary }))
    }

    fn held_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>> {
        self.doc_set(
            "SELECT 1 FROM held WHERE device = ?1 AND doc = ?2",
            device,
            ids,
        )
    }

    fn purged_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>> {
        self.doc_set(
            "SELECT 1 FROM held WHERE device = ?1 AND doc = ?2 AND purged = 1",
            device,
            ids,
        )
    }

    fn holdings(
        &mut self,
        devices: &[String],
        ids: &[DocumentId],
    ) -> Result<HashMap<String, Holding>> {
        let mut out: HashMap<String, Holding> = HashMap::new();
        if devices.is_empty() || ids.is_empty() {
            return Ok(out);
        }
        // One statement for all of them: IN lists (within SQLite's 32,766 variables).
        for devs in devices.chunks(500) {
            for docs in ids.chunks(2_000) {
                let sql = format!(
                    "SELECT device, doc, purged FROM held WHERE device IN ({}) AND doc IN ({})",
                    marks(devs.len(), 1),
                    marks(docs.len(), devs.len() + 1)
                );
                self.held_rows(&sql, devs, docs, &mut out)?;
            }
        }
        Ok(out)
    }

    fn holders(&mut self, ids: &[DocumentId]) -> Result<HashMap<String, Holding>> {
        let mut out: HashMap<String, Holding> = HashMap::new();
        for docs in ids.chunks(2_000) {
            let sql = format!(
                "SELECT device, doc, purged FROM held WHERE doc IN ({})",
                marks(docs.len(), 1)
            );
            self.held_rows(&sql, &[], docs, &mut out)?;
        }
        Ok(out)
    }

    fn school(&mut self, id: &str) -> Result<Option<School>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, created_at FROM schools WHERE id = ?1")?
            .query_row(params![id], school_row)
            .optional()?)
    }

    fn schools(&mut self) -> Result<Vec<School>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, name, created_at FROM schools ORDER BY id")?;
        let rows = st
            .query_map([], school_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn enroll(
        &mut self,
        code_hash: &[u8; 32],
        now: i64,
        device: &NewDevice,
    ) -> Result<EnrollOutcome> {
        let tx = self.begin()?;
        let code: Option<(String, String, Option<String>)> = tx
            .query_row(
                "SELECT school, user, scope FROM enrollment_codes \
                 WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![code_hash.as_slice(), now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((school, user, scope)) = code else {
            return Ok(EnrollOutcome::BadCode);
        };
        let taken: bool = tx.query_row_cached(
            "SELECT EXISTS (SELECT 1 FROM devices WHERE actor = ?1)",
            params![device.actor],
            |r| r.get(0),
        )?;
        if taken {
            return Ok(EnrollOutcome::ActorTaken);
        }
        tx.execute_cached(
            "UPDATE enrollment_codes SET used_at = ?2 WHERE code_hash = ?1",
            params![code_hash.as_slice(), now],
        )?;
        tx.execute_cached(
            "INSERT INTO devices (id, school, user, actor, label, token_hash, created_at, scope) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                device.id,
                school,
                user,
                device.actor,
                device.label,
                device.token_hash.as_slice(),
                now,
                scope
            ],
        )?;
        insert_audit(&tx, &device.enroll_audit(&school, &user, now))?;
        tx.commit()?;
        Ok(EnrollOutcome::Enrolled(Box::new(
            device.enrolled(school, user, scope, now),
        )))
    }

    fn device_by_token(&mut self, token_hash: &[u8; 32]) -> Result<Option<Device>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLS} FROM devices WHERE token_hash = ?1"
            ))?
            .query_row(params![token_hash.as_slice()], device_row)
            .optional()?)
    }

    fn device(&mut self, id: &str) -> Result<Option<Device>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?1"))?
            .query_row(params![id], device_row)
            .optional()?)
    }

    fn devices(&mut self) -> Result<Vec<Device>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {DEVICE_COLS} FROM devices ORDER BY school, user, created_at"
        ))?;
        let rows = st
            .query_map([], device_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        audit::rows(&self.conn, filter)
    }

    fn hold_rows(&mut self) -> Result<Vec<AuditRecord>> {
        audit::hold_rows(&self.conn)
    }

    fn audit_counts_by_day(&mut self, since: i64) -> Result<Vec<(AuditAction, i64, u64)>> {
        audit::counts_by_day(&self.conn, since)
    }

    fn audit_page(
        &mut self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(AuditRecord, Option<Vec<u8>>)>> {
        audit::page(&self.conn, after, limit)
    }

    fn school_policy(&mut self, school: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT policy FROM school_policy WHERE school = ?1")?
            .query_row(params![school], |r| r.get(0))
            .optional()?)
    }

    fn set_school_policy(&mut self, school: &str, policy: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO school_policy (school, policy) VALUES (?1, ?2) \
                 ON CONFLICT (school) DO UPDATE SET policy = excluded.policy",
            )?
            .execute(params![school, policy])?;
        Ok(())
    }

    fn admin_events_since(&mut self, after: u64) -> Result<Vec<AdminEvent>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, at, kind, school, device FROM admin_events WHERE seq > ?1 ORDER BY seq",
        )?;
        let rows = st
            .query_map(params![after as i64], |r| {
                crate::storage::rows::admin_event_row(r)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn last_admin_event(&mut self) -> Result<u64> {
        let v: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM admin_events", [], |r| {
                    r.get(0)
                })?;
        Ok(v as u64)
    }

    fn admin_account(&mut self, name: &str) -> Result<Option<AdminAccount>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT name, role, password_hash, created_at, disabled FROM admin_accounts \
                 WHERE name = ?1",
            )?
            .query_row(params![name], admin_account_row)
            .optional()?;
        row.transpose()
    }

    fn admin_accounts(&mut self) -> Result<Vec<AdminAccount>> {
        let mut st = self.conn.prepare_cached(
            "SELECT name, role, password_hash, created_at, disabled FROM admin_accounts \
             ORDER BY name",
        )?;
        let rows = st
            .query_map([], admin_account_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().collect()
    }

    fn put_admin_account(&mut self, a: &AdminAccount) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO admin_accounts (name, role, password_hash, created_at, disabled) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name) DO UPDATE SET \
                 role = excluded.role, password_hash = excluded.password_hash, \
                 disabled = excluded.disabled",
            )?
            .execute(params![
                a.name,
                a.role.as_str(),
                a.password_hash,
                a.created_at,
                a.disabled
            ])?;
        Ok(())
    }
}
