//! The PostgreSQL schema: one migration a version in one transaction, under an advisory lock
//! so that nodes starting together migrate once. Never edit a shipped migration: add one.

use super::PostgresStorage;
use crate::Result;
use crate::storage::migrations;

/// Schema version written by this build (table `schema_version`).
pub const SCHEMA_VERSION: u32 = 8;

/// Advisory lock key that serialises migrations of nodes starting at once ("omkijken").
const MIGRATION_LOCK: i64 = 0x6f6d_6b69_6a6b_656e;

/// Migration 1. Never edit once shipped: add a new arm instead.
const V1: &str = "
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('catalog_seq', 0), ('admin_event_seq', 0);
CREATE TABLE schools (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE catalog (
    id          BYTEA PRIMARY KEY,
    school      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    pupil       TEXT,
    author      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    schema      BIGINT NOT NULL,
    visibility  TEXT,
    urgency     SMALLINT,
    category    TEXT,
    readers     TEXT[],
    heads       BYTEA NOT NULL,
    seq         BIGINT NOT NULL,
    content_seq BIGINT NOT NULL,
    size        BIGINT NOT NULL,
    chunks      INTEGER NOT NULL,
    erased      BOOLEAN NOT NULL DEFAULT false,
    summary     BYTEA
);
CREATE UNIQUE INDEX catalog_seq ON catalog (seq);
CREATE INDEX catalog_school_seq ON catalog (school, seq);
CREATE INDEX catalog_pupil ON catalog (school, pupil);
CREATE TABLE snapshots (
    doc  BYTEA PRIMARY KEY,
    data BYTEA NOT NULL
);
CREATE TABLE changes (
    id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc  BYTEA NOT NULL,
    data BYTEA NOT NULL
);
CREATE INDEX changes_doc ON changes (doc, id);
CREATE TABLE held (
    device TEXT NOT NULL,
    doc    BYTEA NOT NULL,
    purged BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (device, doc)
);
CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    school     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    actor      BYTEA NOT NULL UNIQUE,
    label      TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT,
    revoked_at BIGINT
);
CREATE TABLE enrollment_codes (
    code_hash  BYTEA PRIMARY KEY,
    school     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE TABLE audit (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    school     TEXT NOT NULL,
    device     TEXT,
    user_id    TEXT,
    action     TEXT NOT NULL,
    doc        BYTEA,
    kind       TEXT,
    pupil      TEXT,
    device_seq BIGINT,
    device_at  BIGINT
);
CREATE UNIQUE INDEX audit_device_seq ON audit (device, device_seq) WHERE device_seq IS NOT NULL;
CREATE INDEX audit_pupil ON audit (pupil);
CREATE INDEX audit_user ON audit (user_id);
CREATE TABLE admin_events (
    seq    BIGINT PRIMARY KEY,
    at     BIGINT NOT NULL,
    kind   TEXT NOT NULL,
    school TEXT,
    device TEXT
);
";

// Migrations 2 to 6, as SQLite's 6 to 10.
migrations::shared_migrations!(int: "BIGINT", bytes: "BYTEA", flag: "BOOLEAN", off: "FALSE");

/// Migration 7: who holds what, keyed by document first (a live push records one "held"
/// row for each device it reaches; keyed by device, each went to a page of its own of the
/// key's index). The index by document (`held_doc`, made at every start before) is the key.
const V7: &str = "ALTER TABLE held DROP CONSTRAINT held_pkey;
ALTER TABLE held ADD PRIMARY KEY (doc, device);
DROP INDEX IF EXISTS held_doc;";

/// Migration 8: the audit log's legal holds by their own index (see
/// [`migrations::AUDIT_HOLDS`]).
const V8: &str = migrations::AUDIT_HOLDS;

/// The migrations in order: the one at index `i` brings version `i` to `i + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] =
    migrations::in_order([&[V1], &SHARED, &[V7, V8]]);

impl PostgresStorage {
    /// Create or upgrade the schema to [`SCHEMA_VERSION`].
    pub(super) fn migrate(&mut self) -> Result<()> {
        let mut tx = self.client()?.transaction()?;
        // Nodes starting together: one migrates, the others wait and find it done.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 one     BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
                 version INTEGER NOT NULL
             )",
        )?;
        let version = match tx.query_opt("SELECT version FROM schema_version", &[])? {
            Some(r) => r.try_get::<_, i32>(0)? as u32,
            None => {
                tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
                0
            }
        };
        for migration in migrations::pending(version, &MIGRATIONS)? {
            tx.batch_execute(migration)?;
        }
        tx.execute(
            "UPDATE schema_version SET version = $1",
            &[&(SCHEMA_VERSION as i32)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The schema version stored in the database.
    pub fn schema_version(&mut self) -> Result<u32> {
        let r = self
            .client()?
            .query_one("SELECT version FROM schema_version", &[])?;
        Ok(r.try_get::<_, i32>(0)? as u32)
    }
}
