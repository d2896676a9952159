//! SQLite (SQLCipher) implementation of [`Storage`].
//!
//! One connection, WAL, `synchronous=FULL`: [`Storage::commit`] is one IMMEDIATE
//! transaction, durable when it returns. The catalog sequence is a counter in `meta`
//! incremented inside the write transaction; SQLite has one writer at a time, so sequences
//! are commit-ordered (PostgreSQL takes care of that differently, see `postgres`).
//! Another process (the admin CLI) may open the same file: writers wait on the busy timeout.

use super::rows::{self, Columns};
use super::{
    AdminAccount, AdminEvent, AdminEventKind, AdminRole, AuditFilter, AuditRecord, Batch,
    CatalogRow, Committed, Device, EnrollOutcome, Holding, NewDevice, School, Storage, StoredDoc,
    WriteMode,
};
use crate::{Error, Result};
use automerge::ChangeHash;
use omkijken_core::DocumentId;
use omkijken_core::store::sql::CachedSql;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Schema version written by this build (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = 10;

/// Migration 1. Never edit once shipped: add a new arm instead.
const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('catalog_seq', 0);
CREATE TABLE schools (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE catalog (
    id          BLOB PRIMARY KEY,
    school      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    pupil       TEXT,
    author      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    schema      INTEGER NOT NULL,
    visibility  TEXT,
    urgency     INTEGER,
    category    TEXT,
    heads       BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    content_seq INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    erased      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX catalog_school_seq ON catalog(school, seq);
CREATE UNIQUE INDEX catalog_seq ON catalog(seq);
CREATE INDEX catalog_pupil ON catalog(school, pupil);
CREATE TABLE snapshots (
    doc  BLOB PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE changes (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    doc  BLOB NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX changes_doc ON changes(doc, id);
CREATE TABLE held (
    device TEXT NOT NULL,
    doc    BLOB NOT NULL,
    PRIMARY KEY (device, doc)
) WITHOUT ROWID;
CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    school     TEXT NOT NULL,
    user       TEXT NOT NULL,
    actor      BLOB NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER,
    revoked_at INTEGER
);
CREATE TABLE enrollment_codes (
    code_hash  BLOB PRIMARY KEY,
    school     TEXT NOT NULL,
    user       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    school     TEXT NOT NULL,
    device     TEXT,
    user       TEXT,
    action     TEXT NOT NULL,
    doc        BLOB,
    kind       TEXT,
    pupil      TEXT,
    device_seq INTEGER,
    device_at  INTEGER
);
CREATE UNIQUE INDEX audit_device_seq ON audit(device, device_seq) WHERE device_seq IS NOT NULL;
CREATE INDEX audit_pupil ON audit(pupil);
CREATE INDEX audit_user ON audit(user);
CREATE TABLE admin_events (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    school TEXT,
    device TEXT
);
";

/// Migration 2: whether a device was told to purge a document it held. A purged row stays
/// ("may hold": the purge frame can be lost), so it is repeated, and the document is sent
/// whole again when access returns.
const V2: &str = "ALTER TABLE held ADD COLUMN purged INTEGER NOT NULL DEFAULT 0;";

/// Migration 3: the summary of a document at its current heads (core's
/// `doc::Summary::to_wire`), written with each content change and sent with whole documents.
/// Rows from before have none: their documents are sent without one until their next change.
const V3: &str = "ALTER TABLE catalog ADD COLUMN summary BLOB;";

/// Migration 4: readers a school leader added to a staff-misconduct signal (JSON array of
/// staff ids; NULL for none), an access field like category and urgency.
const V4: &str = "ALTER TABLE catalog ADD COLUMN readers TEXT;";

/// Migration 5: the backups taken of this store (`admin backup`), so that `admin backups`
/// can list those made before an erasure (they still hold what was erased). `seq` is the
/// catalog sequence the backup holds: an erasure with a higher sequence came after it.
const V5: &str = "CREATE TABLE backups (
    path     TEXT NOT NULL,
    taken_at INTEGER NOT NULL,
    seq      INTEGER NOT NULL
);";

/// Migration 6: per school, the server-side policy (JSON: retention terms, the dates pupils
/// left), never sent to devices.
const V6: &str = "CREATE TABLE school_policy (
    school TEXT PRIMARY KEY,
    policy TEXT NOT NULL
);";

/// Erase document `id` in the store attached as `db` ("main" for the store itself) at
/// catalog sequence `seq`: its bytes and history go (overwritten, as every connection runs
/// with `secure_delete`), its catalog row stays with the header and `erased = 1` (ids only),
/// so the id is refused for good. Used by [`Storage::commit`] and by a restore that
/// re-applies erasures made after a backup.
pub(crate) fn erase_row(
    tx: &rusqlite::Connection,
    db: &str,
    id: &[u8],
    seq: i64,
) -> rusqlite::Result<()> {
    tx.execute_cached(
        &format!("DELETE FROM {db}.changes WHERE doc = ?1"),
        params![id],
    )?;
    tx.execute_cached(
        &format!("DELETE FROM {db}.snapshots WHERE doc = ?1"),
        params![id],
    )?;
    tx.execute_cached(
        &format!(
            "UPDATE {db}.catalog SET erased = 1, heads = x'', size = 0, chunks = 0, \
             visibility = NULL, urgency = NULL, category = NULL, summary = NULL, readers = NULL, \
             seq = ?2, content_seq = ?2 WHERE id = ?1"
        ),
        params![id, seq],
    )?;
    Ok(())
}

/// Migration 7: every audit row's link to the one before it (`audit_hash`); rows from
/// before have none, and the chain starts after them.
const V7: &str = "ALTER TABLE audit ADD COLUMN hash BLOB;";

/// Migration 8: pupil sessions (pupil mode): the scope an enrollment code gives its device
/// and the scope of a device (core's `PupilScope` as JSON; NULL for staff devices).
const V8: &str = "ALTER TABLE enrollment_codes ADD COLUMN scope TEXT;
ALTER TABLE devices ADD COLUMN scope TEXT;";

/// Migration 9: the accounts of the admin console (name, role, argon2id password hash).
const V9: &str = "CREATE TABLE admin_accounts (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);";

/// Migration 10: the outbox a device last reported (counts only; docs/protocol.md, "Outbox
/// state") and when (server clock); NULL until it reports one.
const V10: &str = "ALTER TABLE devices ADD COLUMN outbox_pending INTEGER;
ALTER TABLE devices ADD COLUMN outbox_not_accepted INTEGER;
ALTER TABLE devices ADD COLUMN outbox_oldest_at INTEGER;
ALTER TABLE devices ADD COLUMN outbox_at INTEGER;";

/// In the order `rows::catalog_row` reads them.
const CATALOG_COLS: &str = "id, school, kind, pupil, author, created_at, schema, visibility, \
     urgency, category, readers, heads, seq, content_seq, size, chunks, erased";

/// The SQLite storage.
pub struct SqliteStorage {
    conn: Connection,
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
        // Deleted content (erasure, compaction, replaced snapshots) is overwritten with
        // zeros, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let mut s = SqliteStorage { conn };
        let from = s.migrate()?;
        // Who holds a document, for the live fan-out (`Storage::holders`); an index, not a
        // table, so it is made on open whatever the schema version.
        s.conn
            .execute_batch("CREATE INDEX IF NOT EXISTS held_doc ON held(doc)")?;
        if (1..5).contains(&from) {
            // A store from before secure_delete: rewrite it once so that content deleted
            // earlier (erasures among it) leaves no free page behind.
            s.conn.execute_batch("VACUUM")?;
            s.checkpoint_truncate();
        }
        Ok(s)
    }

    /// Copy the WAL into the database and truncate it to nothing (best effort: a reader
    /// holding an old snapshot makes it wait for the next one).
    fn checkpoint_truncate(&self) {
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
            tracing::warn!(error = %e, "WAL checkpoint after an erasure failed");
        }
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

    /// Bring the schema to this version; returns the version found (0: a new store).
    fn migrate(&mut self) -> Result<u32> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: u32 = tx.query_row_cached("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for v in version + 1..=SCHEMA_VERSION {
            match v {
                1 => tx.execute_batch(V1)?,
                2 => tx.execute_batch(V2)?,
                3 => tx.execute_batch(V3)?,
                4 => tx.execute_batch(V4)?,
                5 => tx.execute_batch(V5)?,
                6 => tx.execute_batch(V6)?,
                7 => tx.execute_batch(V7)?,
                8 => tx.execute_batch(V8)?,
                9 => tx.execute_batch(V9)?,
                10 => tx.execute_batch(V10)?,
                _ => unreachable!("a migration arm per version"),
            }
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(version)
    }
}

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn corrupt(what: &'static str) -> rusqlite::Error {
        corrupt(what)
    }

    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }

    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }

    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }

    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }

    fn bytes(&self, i: usize) -> rusqlite::Result<Vec<u8>> {
        self.get(i)
    }

    fn opt_bytes(&self, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
        self.get(i)
    }

    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        self.get(i)
    }

    /// Readers as JSON text (NULL: none).
    fn readers(&self, i: usize) -> rusqlite::Result<Vec<String>> {
        match self.get::<_, Option<String>>(i)? {
            None => Ok(vec![]),
            Some(s) => serde_json::from_str(&s).map_err(|_| corrupt("readers")),
        }
    }
}

fn heads_from_blob(b: &[u8]) -> rusqlite::Result<Vec<ChangeHash>> {
    rows::heads_from_bytes(b).ok_or_else(|| corrupt("heads"))
}

fn corrupt(what: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        Box::new(Error::Corrupt(what)),
    )
}

fn id_from(b: Vec<u8>) -> rusqlite::Result<DocumentId> {
    rows::id_from::<Row<'_>>(b)
}

fn catalog_row(r: &Row<'_>) -> rusqlite::Result<CatalogRow> {
    rows::catalog_row(r)
}

fn readers_to(readers: &[String]) -> Option<String> {
    (!readers.is_empty()).then(|| serde_json::to_string(readers).unwrap_or_default())
}

fn device_row(r: &Row<'_>) -> rusqlite::Result<Device> {
    rows::device_row(r)
}

const DEVICE_COLS: &str = "id, school, user, actor, label, token_hash, created_at, last_seen, \
     revoked_at, scope, outbox_pending, outbox_not_accepted, outbox_oldest_at, outbox_at";

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    rows::audit_row(r)
}

fn school_row(r: &Row<'_>) -> rusqlite::Result<School> {
    rows::school_row(r)
}

/// Insert an audit row (ignored if its device sequence is there already) and link it to the
/// row before it (see `audit_hash`). SQLite has one writer, so rows are linked in order.
fn insert_audit(tx: &rusqlite::Transaction<'_>, a: &AuditRecord) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO audit (at, school, device, user, action, doc, kind, pupil, \
         device_seq, device_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let inserted = st.execute(params![
        a.at,
        a.school,
        a.device,
        a.user,
        a.action.as_str(),
        a.document.map(|d| d.as_bytes().to_vec()),
        a.kind,
        a.pupil,
        a.device_seq,
        a.device_at,
    ])?;
    if inserted == 1 {
        let seq = tx.last_insert_rowid();
        let prev: Option<Vec<u8>> = tx
            .prepare_cached("SELECT hash FROM audit WHERE seq < ?1 ORDER BY seq DESC LIMIT 1")?
            .query_row(params![seq], |r| r.get(0))
            .optional()?
            .flatten();
        let linked = AuditRecord {
            seq: seq as u64,
            ..a.clone()
        };
        let hash = super::audit_hash(&super::chain_prev(prev), &linked);
        tx.prepare_cached("UPDATE audit SET hash = ?2 WHERE seq = ?1")?
            .execute(params![seq, hash.as_slice()])?;
    }
    Ok(())
}

impl Storage for SqliteStorage {
    fn commit(&mut self, batch: Batch) -> Result<Committed> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let prev_seq: i64 = tx.query_row_cached(
            "SELECT value FROM meta WHERE key = 'catalog_seq'",
            [],
            |r| r.get(0),
        )?;
        // Writes made from a state that is no longer the stored one: write nothing.
        for w in batch.docs.iter().filter(|w| w.base.is_some()) {
            let stored: Option<(Vec<u8>, bool)> = tx
                .prepare_cached("SELECT heads, erased FROM catalog WHERE id = ?1")?
                .query_row(params![w.id.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let current = match stored {
                None => Some(vec![]),
                Some((_, true)) => None,
                Some((heads, false)) => Some(heads_from_blob(&heads)?),
            };
            if !w.base_matches(current.as_deref()) {
                return Err(Error::Conflict);
            }
        }
        let mut seq = prev_seq;
        for s in &batch.schools {
            tx.execute_cached(
                "INSERT INTO schools (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![s.id, s.name, s.created_at],
            )?;
        }
        for w in &batch.docs {
            seq += 1;
            let id = w.id.as_bytes().as_slice();
            let size = w.data.len() as i64;
            match w.mode {
                WriteMode::Append => {
                    tx.prepare_cached("INSERT INTO changes (doc, data) VALUES (?1, ?2)")?
                        .execute(params![id, w.data])?;
                }
                WriteMode::Snapshot => {
                    tx.prepare_cached("DELETE FROM changes WHERE doc = ?1")?
                        .execute(params![id])?;
                    tx.prepare_cached(
                        "INSERT INTO snapshots (doc, data) VALUES (?1, ?2) \
                         ON CONFLICT (doc) DO UPDATE SET data = excluded.data",
                    )?
                    .execute(params![id, w.data])?;
                }
            }
            let snapshot = w.mode == WriteMode::Snapshot;
            tx.prepare_cached(
                "INSERT INTO catalog (id, school, kind, pupil, author, created_at, schema, \
                 visibility, urgency, category, heads, seq, content_seq, size, chunks, erased, \
                 summary, readers) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14, 0, ?16, ?17) \
                 ON CONFLICT (id) DO UPDATE SET visibility = excluded.visibility, \
                 urgency = excluded.urgency, category = excluded.category, \
                 readers = excluded.readers, \
                 heads = excluded.heads, seq = excluded.seq, content_seq = excluded.seq, \
                 summary = excluded.summary, \
                 size = CASE WHEN ?15 THEN excluded.size ELSE catalog.size + excluded.size END, \
                 chunks = CASE WHEN ?15 THEN 0 ELSE catalog.chunks + 1 END",
            )?
            .execute(params![
                id,
                w.header.school,
                w.header.kind,
                w.header.pupil,
                w.header.author,
                w.header.created_at,
                w.header.schema as i64,
                w.fields.visibility,
                w.fields.urgency.map(i64::from),
                w.fields.category,
                rows::heads_to_bytes(&w.heads),
                seq,
                size,
                if snapshot { 0 } else { 1 },
                snapshot,
                w.summary,
                readers_to(&w.fields.readers),
            ])?;
        }
        for id in &batch.bump {
            seq += 1;
            tx.prepare_cached("UPDATE catalog SET seq = ?2 WHERE id = ?1")?
                .execute(params![id.as_bytes().as_slice(), seq])?;
        }
        for id in &batch.erase {
            seq += 1;
            erase_row(&tx, "main", id.as_bytes().as_slice(), seq)?;
        }
        for (id, chunks, snapshot) in &batch.compact {
            let idb = id.as_bytes().as_slice();
            let n = tx
                .prepare_cached(
                    "UPDATE catalog SET size = ?2, chunks = 0 \
                     WHERE id = ?1 AND chunks = ?3 AND erased = 0",
                )?
                .execute(params![idb, snapshot.len() as i64, i64::from(*chunks)])?;
            if n == 1 {
                tx.prepare_cached("DELETE FROM changes WHERE doc = ?1")?
                    .execute(params![idb])?;
                tx.prepare_cached(
                    "INSERT INTO snapshots (doc, data) VALUES (?1, ?2) \
                     ON CONFLICT (doc) DO UPDATE SET data = excluded.data",
                )?
                .execute(params![idb, snapshot])?;
            }
        }
        for (device, doc) in &batch.hold {
            tx.prepare_cached(
                "INSERT INTO held (device, doc) VALUES (?1, ?2) \
                 ON CONFLICT (device, doc) DO UPDATE SET purged = 0 WHERE purged != 0",
            )?
            .execute(params![device, doc.as_bytes().as_slice()])?;
        }
        for (device, doc) in &batch.purged {
            tx.prepare_cached("UPDATE held SET purged = 1 WHERE device = ?1 AND doc = ?2")?
                .execute(params![device, doc.as_bytes().as_slice()])?;
        }
        for (device, doc) in &batch.unhold {
            tx.prepare_cached("DELETE FROM held WHERE device = ?1 AND doc = ?2")?
                .execute(params![device, doc.as_bytes().as_slice()])?;
        }
        for a in &batch.audit {
            insert_audit(&tx, a)?;
        }
        for e in &batch.events {
            tx.execute_cached(
                "INSERT INTO admin_events (at, kind, school, device) VALUES (?1, ?2, ?3, ?4)",
                params![e.at, e.kind.as_str(), e.school, e.device],
            )?;
        }
        for c in &batch.codes {
            tx.execute_cached(
                "INSERT INTO enrollment_codes (code_hash, school, user, created_at, expires_at, \
                 scope) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    c.code_hash.as_slice(),
                    c.school,
                    c.user,
                    c.created_at,
                    c.expires_at,
                    c.scope
                ],
            )?;
        }
        for (device, at) in &batch.revoke {
            tx.execute_cached(
                "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![device, at],
            )?;
        }
        for (device, at) in &batch.touch {
            tx.prepare_cached("UPDATE devices SET last_seen = ?2 WHERE id = ?1")?
                .execute(params![device, at])?;
        }
        for (device, o) in &batch.outbox {
            tx.prepare_cached(
                "UPDATE devices SET outbox_pending = ?2, outbox_not_accepted = ?3, \
                 outbox_oldest_at = ?4, outbox_at = ?5 WHERE id = ?1",
            )?
            .execute(params![
                device,
                o.pending as i64,
                o.not_accepted as i64,
                o.oldest_at,
                o.reported_at
            ])?;
        }
        if seq != prev_seq {
            tx.execute_cached(
                "UPDATE meta SET value = ?1 WHERE key = 'catalog_seq'",
                params![seq],
            )?;
        }
        tx.commit()?;
        if !batch.erase.is_empty() {
            // The erased pages were overwritten in the WAL; copy them into the database and
            // empty the WAL, so no older frame of the erased content stays in any file.
            self.checkpoint_truncate();
        }
        Ok(Committed {
            prev_seq: prev_seq as u64,
            last_seq: seq as u64,
        })
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

    fn catalog_since(
        &mut self,
        school: &str,
        after: u64,
        device: &str,
    ) -> Result<Vec<(CatalogRow, bool)>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {CATALOG_COLS}, EXISTS (SELECT 1 FROM held h WHERE h.device = ?3 AND h.doc = catalog.id) \
             FROM catalog WHERE school = ?1 AND seq > ?2 ORDER BY seq"
        ))?;
        let rows = st
            .query_map(params![school, after as i64, device], |r| {
                Ok((catalog_row(r)?, r.get::<_, bool>(17)?))
            })?
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
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM held WHERE device = ?1 AND doc = ?2")?;
        let mut out = HashSet::new();
        for id in ids {
            if st.exists(params![device, id.as_bytes().as_slice()])? {
                out.insert(*id);
            }
        }
        Ok(out)
    }

    fn purged_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM held WHERE device = ?1 AND doc = ?2 AND purged = 1")?;
        let mut out = HashSet::new();
        for id in ids {
            if st.exists(params![device, id.as_bytes().as_slice()])? {
                out.insert(*id);
            }
        }
        Ok(out)
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
                let marks = |n: usize, from: usize| {
                    (from..from + n)
                        .map(|i| format!("?{i}"))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let sql = format!(
                    "SELECT device, doc, purged FROM held WHERE device IN ({}) AND doc IN ({})",
                    marks(devs.len(), 1),
                    marks(docs.len(), devs.len() + 1)
                );
                let mut st = self.conn.prepare_cached(&sql)?;
                let mut args: Vec<&dyn rusqlite::ToSql> = vec![];
                for d in devs {
                    args.push(d);
                }
                let bytes: Vec<&[u8]> = docs.iter().map(|i| i.as_bytes().as_slice()).collect();
                for b in &bytes {
                    args.push(b);
                }
                let mut rows = st.query(args.as_slice())?;
                while let Some(r) = rows.next()? {
                    let device: String = r.get(0)?;
                    let doc = id_from(r.get(1)?)?;
                    let purged: bool = r.get(2)?;
                    let h = out.entry(device).or_default();
                    h.held.insert(doc);
                    if purged {
                        h.purged.insert(doc);
                    }
                }
            }
        }
        Ok(out)
    }

    fn holders(&mut self, ids: &[DocumentId]) -> Result<HashMap<String, Holding>> {
        let mut out: HashMap<String, Holding> = HashMap::new();
        for docs in ids.chunks(2_000) {
            let marks: Vec<String> = (1..=docs.len()).map(|i| format!("?{i}")).collect();
            let sql = format!(
                "SELECT device, doc, purged FROM held WHERE doc IN ({})",
                marks.join(",")
            );
            let mut st = self.conn.prepare_cached(&sql)?;
            let bytes: Vec<&[u8]> = docs.iter().map(|i| i.as_bytes().as_slice()).collect();
            let args: Vec<&dyn rusqlite::ToSql> =
                bytes.iter().map(|b| b as &dyn rusqlite::ToSql).collect();
            let mut rows = st.query(args.as_slice())?;
            while let Some(r) = rows.next()? {
                let device: String = r.get(0)?;
                let doc = id_from(r.get(1)?)?;
                let purged: bool = r.get(2)?;
                let h = out.entry(device).or_default();
                h.held.insert(doc);
                if purged {
                    h.purged.insert(doc);
                }
            }
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
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
        const COLS: &str =
            "seq, at, school, device, user, action, doc, kind, pupil, device_seq, device_at";
        let (sql, arg) = match filter {
            AuditFilter::Pupil(p) => (
                format!("SELECT {COLS} FROM audit WHERE pupil = ?1 ORDER BY seq"),
                Some(p.as_str()),
            ),
            AuditFilter::Staff(s) => (
                format!("SELECT {COLS} FROM audit WHERE user = ?1 ORDER BY seq"),
                Some(s.as_str()),
            ),
            AuditFilter::All => (format!("SELECT {COLS} FROM audit ORDER BY seq"), None),
            AuditFilter::Action(a) => (
                format!("SELECT {COLS} FROM audit WHERE action = ?1 ORDER BY seq"),
                Some(a.as_str()),
            ),
        };
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows: rusqlite::Result<Vec<AuditRecord>> = match arg {
            Some(a) => st.query_map(params![a], audit_row)?.collect(),
            None => st.query_map([], audit_row)?.collect(),
        };
        rows.map_err(Error::from)
    }

    fn audit_page(
        &mut self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(AuditRecord, Option<Vec<u8>>)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, at, school, device, user, action, doc, kind, pupil, device_seq, \
             device_at, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![after as i64, limit as i64], |r| {
                Ok((audit_row(r)?, r.get::<_, Option<Vec<u8>>>(11)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
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
                let kind: String = r.get(2)?;
                Ok(AdminEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    at: r.get(1)?,
                    kind: AdminEventKind::parse(&kind).ok_or_else(|| corrupt("event kind"))?,
                    school: r.get(3)?,
                    device: r.get(4)?,
                })
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

fn admin_account_row(r: &Row<'_>) -> rusqlite::Result<Result<AdminAccount>> {
    let role: String = r.get(1)?;
    Ok(match AdminRole::parse(&role) {
        Some(role) => Ok(AdminAccount {
            name: r.get(0)?,
            role,
            password_hash: r.get(2)?,
            created_at: r.get(3)?,
            disabled: r.get(4)?,
        }),
        None => Err(Error::Corrupt("an admin account's role")),
    })
}

#[cfg(test)]
mod tests;
