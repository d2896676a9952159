//! The schema: its version and the migrations, never edited once shipped.

use super::SqliteStorage;
use crate::Result;
use crate::storage::migrations;
use omkijken_core::store::sql::CachedSql;
use rusqlite::TransactionBehavior;

/// Schema version written by this build (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = 12;

/// Migration 1. Never edit once shipped: add a new arm instead.
pub(super) const V1: &str = "
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

// Migrations 6 to 10, as PostgreSQL's 2 to 6.
migrations::shared_migrations!(int: "INTEGER", bytes: "BLOB", flag: "INTEGER", off: "0");

/// Migration 11: who holds what, keyed by document first. A live push records one "held"
/// row for each device it reaches (282 at 10,000 devices); keyed by device, each landed on a
/// leaf page of its own, and every page a commit dirties is encrypted and written again.
/// Keyed by document they sit together, and the index by document is the table itself.
const V11: &str = "CREATE TABLE held_by_doc (
    doc    BLOB NOT NULL,
    device TEXT NOT NULL,
    purged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (doc, device)
) WITHOUT ROWID;
INSERT INTO held_by_doc (doc, device, purged) SELECT doc, device, purged FROM held;
DROP TABLE held;
ALTER TABLE held_by_doc RENAME TO held;";

/// Migration 12: the audit log's legal holds by their own index (see
/// [`migrations::AUDIT_HOLDS`]).
const V12: &str = migrations::AUDIT_HOLDS;

/// The migrations in order: the one at index `i` brings version `i` to `i + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] =
    migrations::in_order([&[V1, V2, V3, V4, V5], &SHARED, &[V11, V12]]);

impl SqliteStorage {
    /// Bring the schema to this version; returns the version found (0: a new store).
    pub(super) fn migrate(&mut self) -> Result<u32> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: u32 = tx.query_row_cached("PRAGMA user_version", [], |r| r.get(0))?;
        for migration in migrations::pending(version, &MIGRATIONS)? {
            tx.execute_batch(migration)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        Ok(version)
    }
}
