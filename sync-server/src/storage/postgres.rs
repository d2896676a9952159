//! PostgreSQL implementation of [`Storage`], for scale-out: several stateless server nodes
//! behind a load balancer share one database.
//!
//! # Connection
//!
//! The synchronous [`postgres`] client: it runs its own small tokio runtime per connection,
//! so a [`PostgresStorage`] must be opened, used and dropped on a plain thread, never inside
//! an async task (the server opens it on its hub thread). TLS follows the URL's `sslmode`
//! (see [`DbTls`]: rustls with a verified certificate and host name). A broken connection
//! is reopened at the next call.
//!
//! # Commit order of the catalog sequence
//!
//! PostgreSQL sequences (`SERIAL`, `IDENTITY`) hand out numbers when asked, not when the
//! transaction commits: a transaction that took 5 may commit after one that took 6. A node
//! polling [`Storage::catalog_changes`] could then see 6, move its cursor past it, and never
//! see 5. So the catalog sequence (and the admin-event sequence, also a cursor) is not a
//! PostgreSQL sequence but a row of the `counters` table, advanced inside the commit
//! transaction with `UPDATE counters SET value = value + n ... RETURNING value`. The row
//! lock that update takes is held until the transaction ends, so a second committer waits
//! until the first has committed (and is visible) before it gets its numbers: sequences
//! become visible in order, as the [`Storage`] contract requires.
//!
//! Every transaction that writes the catalog or document bytes (`docs`, `bump`, `erase`,
//! `compact`) takes that lock first, so those writers are serialised, like SQLite's single
//! writer. The expensive work (merging and checking Automerge documents) happens before, in
//! parallel on every node; only the short write transactions queue.
//!
//! # Nodes hear of each other
//!
//! A commit that changes the catalog or writes admin events runs `pg_notify` on the channel
//! `omkijken_changes`; PostgreSQL delivers it only if the transaction commits.
//! [`PostgresStorage::listen_for_changes`] keeps a connection of its own listening and wakes
//! the node's hub, which then reads the catalog and admin-event log past its cursors, exactly
//! as its poll timer does. Notifications carry nothing: they only say "look now". One lost
//! while the listening connection was down is made up by the wake-up after reconnecting, and
//! by the timer.
//!
//! # Several writers of one document
//!
//! Change chunks are keyed by an identity column, so two nodes appending to one document
//! never collide. What could go wrong is a write based on a stale read: a node that merged
//! pushed changes into the state it loaded would store heads, access fields and summary
//! that miss a change another node committed meanwhile, and a snapshot would drop that
//! change. [`DocWrite::base`] carries the heads the write was made from; the commit checks
//! them against the catalog under the lock and fails with [`Error::Conflict`], writing
//! nothing, when they differ. The hub then reloads and merges again.
//!
//! Transactions that fail on a deadlock or serialization error (possible between the
//! lock-free writers of `held` and `devices` rows) are retried a few times.
//!
//! # Round trips
//!
//! A commit writes each kind of row of its batch with one statement over arrays
//! (`UNNEST`): a push frame of 1,000 documents is about ten round trips, not thousands.

use super::{
    AdminAccount, AdminEvent, AdminEventKind, AdminRole, AuditAction, AuditFilter, AuditRecord,
    Batch, CatalogRow, Committed, Device, EnrollOutcome, Holding, NewDevice, School, Storage,
    StoredDoc, WriteMode,
};
use crate::{Error, Result};
use automerge::ChangeHash;
use omkijken_core::{AccessFields, DocumentId, Header};
use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Schema version written by this build (table `schema_version`).
pub const SCHEMA_VERSION: u32 = 5;

/// Advisory lock key that serialises migrations of nodes starting at once ("omkijken").
const MIGRATION_LOCK: i64 = 0x6f6d_6b69_6a6b_656e;
/// Advisory lock held by a transaction from its first audit row to its commit: audit rows
/// of all nodes get their sequences, and their links (`audit_hash`), one transaction at a
/// time, so the chain follows the sequence.
const AUDIT_CHAIN_LOCK: i64 = 0x6f6d_6b69_6175_6474;

/// Migration 3: every audit row's link to the one before it; rows from before have none.
const V3: &str = "ALTER TABLE audit ADD COLUMN hash BYTEA;";

/// Migration 4: pupil sessions (pupil mode): the scope an enrollment code gives its device
/// and the scope of a device (core's `PupilScope` as JSON; NULL for staff devices).
const V4: &str = "ALTER TABLE enrollment_codes ADD COLUMN scope TEXT;
ALTER TABLE devices ADD COLUMN scope TEXT;";

/// Migration 5: the accounts of the admin console (name, role, argon2id password hash).
const V5: &str = "CREATE TABLE admin_accounts (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE
);";

/// How often a transaction that failed on a deadlock or serialization error is retried.
const RETRIES: usize = 5;

/// Migration 1. Never edit once shipped: add a new arm instead.
/// Migration 2: per school, the server-side policy (JSON: retention terms, the dates pupils
/// left), never sent to devices.
const V2: &str = "CREATE TABLE school_policy (
    school TEXT PRIMARY KEY,
    policy TEXT NOT NULL
);";

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

macro_rules! catalog_cols {
    () => {
        "id, school, kind, pupil, author, created_at, schema, visibility, urgency, category, \
         readers, heads, seq, content_seq, size, chunks, erased"
    };
}

macro_rules! device_cols {
    () => {
        "id, school, user_id, actor, label, token_hash, created_at, last_seen, revoked_at, scope"
    };
}

macro_rules! audit_cols {
    () => {
        "seq, at, school, device, user_id, action, doc, kind, pupil, device_seq, device_at"
    };
}

const SQL_INSERT_CHANGE: &str = "INSERT INTO changes (doc, data) VALUES ($1, $2)";
const SQL_DELETE_CHANGES: &str = "DELETE FROM changes WHERE doc = $1";
const SQL_UPSERT_SNAPSHOT: &str = "INSERT INTO snapshots (doc, data) VALUES ($1, $2) \
     ON CONFLICT (doc) DO UPDATE SET data = excluded.data";
const SQL_UPSERT_CATALOG: &str = "INSERT INTO catalog (id, school, kind, pupil, author, \
     created_at, schema, visibility, urgency, category, readers, heads, seq, content_seq, size, \
     chunks, erased, summary) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, false, $17) \
     ON CONFLICT (id) DO UPDATE SET visibility = excluded.visibility, \
     urgency = excluded.urgency, category = excluded.category, readers = excluded.readers, \
     heads = excluded.heads, seq = excluded.seq, content_seq = excluded.seq, \
     summary = excluded.summary, \
     size = CASE WHEN $16 THEN excluded.size ELSE catalog.size + excluded.size END, \
     chunks = CASE WHEN $16 THEN 0 ELSE catalog.chunks + 1 END";
const SQL_BASES: &str = "SELECT id, heads, erased FROM catalog WHERE id = ANY($1)";
// Bulk forms: one statement (one round trip) for all rows of a kind in a batch.
const SQL_BULK_DELETE_CHANGES: &str = "DELETE FROM changes WHERE doc = ANY($1)";
const SQL_BULK_UPSERT_SNAPSHOTS: &str = "INSERT INTO snapshots (doc, data) \
     SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
     ON CONFLICT (doc) DO UPDATE SET data = excluded.data";
const SQL_BULK_INSERT_CHANGES: &str = "INSERT INTO changes (doc, data) \
     SELECT d, x FROM UNNEST($1::bytea[], $2::bytea[]) WITH ORDINALITY AS u(d, x, i) ORDER BY i";
// `chunks` is inserted as 0 for a snapshot and 1 for an appended chunk, which the update
// reads back as `excluded.chunks`. Readers travel as JSON text (arrays of arrays cannot be
// unnested).
const SQL_BULK_UPSERT_CATALOG: &str = "INSERT INTO catalog (id, school, kind, pupil, author, \
     created_at, schema, visibility, urgency, category, readers, heads, seq, content_seq, size, \
     chunks, erased, summary) \
     SELECT u.id, u.school, u.kind, u.pupil, u.author, u.created_at, u.schema, u.visibility, \
     u.urgency, u.category, \
     CASE WHEN u.readers IS NULL THEN NULL ELSE ARRAY(SELECT e FROM \
     json_array_elements_text(u.readers::json) WITH ORDINALITY AS r(e, i) ORDER BY i) END, \
     u.heads, u.seq, u.seq, u.size, CASE WHEN u.snap THEN 0 ELSE 1 END, false, u.summary \
     FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], \
     $7::int8[], $8::text[], $9::int2[], $10::text[], $11::text[], $12::bytea[], $13::int8[], \
     $14::int8[], $15::bool[], $16::bytea[]) \
     AS u(id, school, kind, pupil, author, created_at, schema, visibility, urgency, category, \
     readers, heads, seq, size, snap, summary) \
     ON CONFLICT (id) DO UPDATE SET visibility = excluded.visibility, \
     urgency = excluded.urgency, category = excluded.category, readers = excluded.readers, \
     heads = excluded.heads, seq = excluded.seq, content_seq = excluded.seq, \
     summary = excluded.summary, \
     size = CASE WHEN excluded.chunks = 0 THEN excluded.size ELSE catalog.size + excluded.size END, \
     chunks = CASE WHEN excluded.chunks = 0 THEN 0 ELSE catalog.chunks + 1 END";
const SQL_BULK_BUMP: &str = "UPDATE catalog c SET seq = u.seq \
     FROM UNNEST($1::bytea[], $2::int8[]) AS u(id, seq) WHERE c.id = u.id";
const SQL_BULK_HOLD: &str = "INSERT INTO held (device, doc) \
     SELECT * FROM UNNEST($1::text[], $2::bytea[]) \
     ON CONFLICT (device, doc) DO UPDATE SET purged = false WHERE held.purged";
const SQL_BULK_PURGED: &str = "UPDATE held h SET purged = true \
     FROM UNNEST($1::text[], $2::bytea[]) AS u(device, doc) \
     WHERE h.device = u.device AND h.doc = u.doc";
const SQL_BULK_UNHOLD: &str = "DELETE FROM held h USING UNNEST($1::text[], $2::bytea[]) \
     AS u(device, doc) WHERE h.device = u.device AND h.doc = u.doc";
const SQL_BULK_AUDIT: &str = "INSERT INTO audit (at, school, device, user_id, action, doc, \
     kind, pupil, device_seq, device_at) \
     SELECT at, school, device, user_id, action, doc, kind, pupil, device_seq, device_at \
     FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], \
     $7::text[], $8::text[], $9::int8[], $10::int8[]) WITH ORDINALITY \
     AS u(at, school, device, user_id, action, doc, kind, pupil, device_seq, device_at, i) \
     ORDER BY i ON CONFLICT DO NOTHING RETURNING seq, at, school, device, user_id, action, doc, \
     kind, pupil, device_seq, device_at";
const SQL_ERASE: &str = "UPDATE catalog SET erased = true, heads = ''::bytea, size = 0, \
     chunks = 0, visibility = NULL, urgency = NULL, category = NULL, summary = NULL, \
     readers = NULL, seq = $2, content_seq = $2 WHERE id = $1";
const SQL_DELETE_SNAPSHOT: &str = "DELETE FROM snapshots WHERE doc = $1";
const SQL_COMPACT: &str = "UPDATE catalog SET size = $2, chunks = 0 \
     WHERE id = $1 AND chunks = $3 AND NOT erased";
const SQL_AUDIT: &str = "INSERT INTO audit (at, school, device, user_id, action, doc, kind, \
     pupil, device_seq, device_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT DO NOTHING RETURNING seq, at, school, device, user_id, action, doc, kind, \
     pupil, device_seq, device_at";
const SQL_AUDIT_CHAIN_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
const SQL_AUDIT_PREV: &str = "SELECT hash FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT 1";
const SQL_AUDIT_LINK: &str = "UPDATE audit a SET hash = u.hash \
     FROM UNNEST($1::int8[], $2::bytea[]) AS u(seq, hash) WHERE a.seq = u.seq";
const SQL_AUDIT_PAGE: &str = concat!(
    "SELECT ",
    audit_cols!(),
    ", hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
);
const SQL_EVENT: &str =
    "INSERT INTO admin_events (seq, at, kind, school, device) VALUES ($1, $2, $3, $4, $5)";
const SQL_CODE: &str = "INSERT INTO enrollment_codes (code_hash, school, user_id, created_at, \
     expires_at, scope) VALUES ($1, $2, $3, $4, $5, $6)";
const SQL_REVOKE: &str = "UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
const SQL_TOUCH: &str = "UPDATE devices SET last_seen = $2 WHERE id = $1";
const SQL_SCHOOL: &str = "INSERT INTO schools (id, name, created_at) VALUES ($1, $2, $3)";
const SQL_ADVANCE: &str = "UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value";
const SQL_LOCK_COUNTER: &str = "SELECT value FROM counters WHERE name = $1 FOR UPDATE";
const SQL_COUNTER: &str = "SELECT value FROM counters WHERE name = $1";

const SQL_CATALOG_GET: &str = concat!(
    "SELECT ",
    catalog_cols!(),
    " FROM catalog WHERE id = ANY($1)"
);
const SQL_CATALOG_SINCE: &str = concat!(
    "SELECT ",
    catalog_cols!(),
    ", EXISTS (SELECT 1 FROM held h WHERE h.device = $3 AND h.doc = catalog.id) \
     FROM catalog WHERE school = $1 AND seq > $2 ORDER BY seq"
);
const SQL_CATALOG_CHANGES: &str = concat!(
    "SELECT ",
    catalog_cols!(),
    " FROM catalog WHERE seq > $1 ORDER BY seq LIMIT $2"
);
const SQL_CATALOG_SCHOOL: &str = concat!(
    "SELECT ",
    catalog_cols!(),
    " FROM catalog WHERE school = $1 ORDER BY seq"
);
// One statement, so one snapshot: the snapshot and the chunks always belong together.
const SQL_LOAD: &str = "SELECT c.summary, s.data, \
     (SELECT array_agg(ch.data ORDER BY ch.id) FROM changes ch WHERE ch.doc = c.id) \
     FROM catalog c LEFT JOIN snapshots s ON s.doc = c.id WHERE c.id = $1 AND NOT c.erased";
const SQL_LOAD_MANY: &str = "SELECT c.id, c.summary, s.data, \
     (SELECT array_agg(ch.data ORDER BY ch.id) FROM changes ch WHERE ch.doc = c.id) \
     FROM catalog c LEFT JOIN snapshots s ON s.doc = c.id WHERE c.id = ANY($1) AND NOT c.erased";
/// The channel nodes listen on: a commit that changed the catalog or wrote admin events
/// notifies it (no payload: a listener polls the storage as it would on its timer).
const CHANGES_CHANNEL: &str = "omkijken_changes";
const SQL_NOTIFY: &str = "SELECT pg_notify('omkijken_changes', '')";
const SQL_HELD_AMONG: &str = "SELECT doc FROM held WHERE device = $1 AND doc = ANY($2)";
const SQL_PURGED_AMONG: &str =
    "SELECT doc FROM held WHERE device = $1 AND doc = ANY($2) AND purged";
const SQL_HOLDINGS: &str =
    "SELECT device, doc, purged FROM held WHERE device = ANY($1) AND doc = ANY($2)";
const SQL_SCHOOL_GET: &str = "SELECT id, name, created_at FROM schools WHERE id = $1";
const SQL_SCHOOLS: &str = "SELECT id, name, created_at FROM schools ORDER BY id";
const SQL_DEVICE_BY_TOKEN: &str = concat!(
    "SELECT ",
    device_cols!(),
    " FROM devices WHERE token_hash = $1"
);
const SQL_DEVICE: &str = concat!("SELECT ", device_cols!(), " FROM devices WHERE id = $1");
const SQL_DEVICES: &str = concat!(
    "SELECT ",
    device_cols!(),
    " FROM devices ORDER BY school, user_id, created_at"
);
const SQL_AUDIT_PUPIL: &str = concat!(
    "SELECT ",
    audit_cols!(),
    " FROM audit WHERE pupil = $1 ORDER BY seq"
);
const SQL_AUDIT_STAFF: &str = concat!(
    "SELECT ",
    audit_cols!(),
    " FROM audit WHERE user_id = $1 ORDER BY seq"
);
const SQL_AUDIT_ALL: &str = concat!("SELECT ", audit_cols!(), " FROM audit ORDER BY seq");
const SQL_AUDIT_ACTION: &str = concat!(
    "SELECT ",
    audit_cols!(),
    " FROM audit WHERE action = $1 ORDER BY seq"
);
const SQL_EVENTS_SINCE: &str =
    "SELECT seq, at, kind, school, device FROM admin_events WHERE seq > $1 ORDER BY seq";

const CATALOG_SEQ: &str = "catalog_seq";
const ADMIN_EVENT_SEQ: &str = "admin_event_seq";

/// A PostgreSQL error as text without the parts that may quote stored values (a
/// constraint violation's DETAIL names the key): severity, SQLSTATE and message only.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "postgres {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        ),
        // Connection and TLS errors: the cause says what went wrong ("invalid peer
        // certificate: UnknownIssuer"); it holds no stored values.
        None => match std::error::Error::source(e) {
            Some(cause) => format!("postgres: {e}: {cause}"),
            None => format!("postgres: {e}"),
        },
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Postgres(describe(&e))
    }
}

/// How the server's connections to PostgreSQL are protected, from the URL's `sslmode` and
/// host:
///
/// - A host that is not loopback (any host name but `localhost`, any address outside
///   127.0.0.0/8 and `::1`): TLS with a verified certificate, as under `require`, unless
///   the URL says `sslmode=disable` (then plain TCP, with a warning in the log). With no
///   `sslmode`, or `prefer`, it is `require` ([`secure_default`]).
/// - Loopback or a Unix socket: `disable` and `prefer` (the default) are plain TCP, except
///   that `prefer` with a database authority configured (`--database-ca`) uses TLS verified
///   as under `require`; `require` is TLS.
/// - `require`: TLS, or no connection. The certificate must chain to the public web roots or
///   to the configured authority, and name the host of the URL (the `host`, also when
///   `hostaddr` gives the address): libpq's `verify-full`.
#[derive(Clone)]
pub enum DbTls {
    /// Plain TCP.
    Plain,
    /// TLS with a verified certificate.
    Verified(MakeRustlsConnect),
}

impl std::fmt::Debug for DbTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbTls::Plain => "Plain",
            DbTls::Verified(_) => "Verified",
        })
    }
}

impl DbTls {
    /// The protection `config`'s `sslmode` asks for, trusting `ca` besides the web roots.
    pub fn for_config(config: &postgres::Config, ca: Option<&Path>) -> Result<DbTls> {
        let verified = || -> Result<DbTls> {
            Ok(DbTls::Verified(MakeRustlsConnect::new(
                crate::tls::client_config(ca)?,
            )))
        };
        match config.get_ssl_mode() {
            SslMode::Disable => Ok(DbTls::Plain),
            SslMode::Prefer if ca.is_none() => Ok(DbTls::Plain),
            _ => verified(),
        }
    }
}

/// Whether every host of `config` is this machine: a Unix socket, `localhost`, or a
/// loopback address. The host names decide (they are what a certificate names), not a
/// `hostaddr`.
pub fn is_loopback(config: &postgres::Config) -> bool {
    use postgres::config::Host;
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && hosts.iter().all(|h| match h {
            Host::Tcp(name) => {
                let name = name.trim_start_matches('[').trim_end_matches(']');
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            Host::Unix(_) => true,
        })
}

/// TLS with a verified certificate for a database that is not on this machine, unless the
/// URL says `sslmode=disable` (see [`DbTls`]).
pub fn secure_default(config: &mut postgres::Config) {
    if is_loopback(config) {
        return;
    }
    match config.get_ssl_mode() {
        SslMode::Disable => {
            tracing::warn!(
                "sslmode=disable: the connection to the database is not encrypted (its host \
                 is not this machine)"
            );
        }
        SslMode::Prefer => {
            config.ssl_mode(SslMode::Require);
        }
        _ => {}
    }
}

/// Why a commit attempt failed.
enum Fail {
    Pg(postgres::Error),
    Conflict,
    Other(Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Other(e)
    }
}

fn retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// Prepared statements of one connection, by SQL text.
#[derive(Default)]
struct Statements(HashMap<&'static str, Statement>);

impl Statements {
    fn get(&mut self, c: &mut impl GenericClient, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = c.prepare(sql)?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }
}

/// The PostgreSQL storage. See the module docs.
pub struct PostgresStorage {
    config: postgres::Config,
    tls: DbTls,
    client: Client,
    statements: Statements,
    before_commit: Option<Box<dyn FnMut() + Send>>,
    /// The attempt in progress sent COMMIT: if it fails now, whether it committed is
    /// unknown, so it is not run again on a new connection.
    reached_commit: bool,
}

impl std::fmt::Debug for PostgresStorage {
    // Never the configuration: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PostgresStorage {
    /// Connect to the database at `url` (`postgres://user@host:port/dbname`, libpq style;
    /// `?options=-c%20search_path%3DNAME` selects a schema), creating or migrating the
    /// schema in one transaction. `password`, if given, is used when the URL has none (so
    /// it need not appear on a command line). Must not be called inside an async task.
    pub fn open(url: &str, password: Option<&str>) -> Result<Self> {
        Self::open_with_ca(url, password, None)
    }

    /// [`PostgresStorage::open`], trusting the authority in the PEM file `ca` besides the
    /// public web roots for the database's certificate (see [`DbTls`]).
    pub fn open_with_ca(url: &str, password: Option<&str>, ca: Option<&Path>) -> Result<Self> {
        let config = Self::config(url, password)?;
        let tls = DbTls::for_config(&config, ca)?;
        let client = Self::connect(&config, &tls)?;
        let mut s = PostgresStorage {
            config,
            tls,
            client,
            statements: Statements::default(),
            before_commit: None,
            reached_commit: false,
        };
        s.migrate()?;
        Ok(s)
    }

    /// The connection settings of `url` (see [`PostgresStorage::open`]).
    fn config(url: &str, password: Option<&str>) -> Result<postgres::Config> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|_| Error::Config("the database URL is not a valid PostgreSQL URL".into()))?;
        secure_default(&mut config);
        if config.get_password().is_none()
            && let Some(p) = password
        {
            config.password(p);
        }
        if config.get_application_name().is_none() {
            config.application_name("omkijken-server");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        // Notices ("relation exists, skipping") are of no use in our logs.
        config.notice_callback(|_| {});
        Ok(config)
    }

    /// Listen for other nodes' (and admin commands') writes to the database at `url`, on a
    /// thread of its own with its own connection: after each commit that changed the
    /// catalog or wrote admin events, `wake` is called (several commits close together wake
    /// once). `wake` is also called after each (re)connection, as notifications may have
    /// been missed while the connection was down. The thread ends when `wake` returns false
    /// or `stop` is set (checked every second). A lost connection is retried with backoff
    /// and logged; polling the storage on a timer stays the caller's fallback.
    pub fn listen_for_changes(
        url: &str,
        password: Option<&str>,
        ca: Option<&Path>,
        stop: Arc<AtomicBool>,
        mut wake: impl FnMut() -> bool + Send + 'static,
    ) -> Result<std::thread::JoinHandle<()>> {
        let config = Self::config(url, password)?;
        let tls = DbTls::for_config(&config, ca)?;
        let thread = std::thread::Builder::new()
            .name("omkijken-listen".into())
            .spawn(move || {
                let mut backoff = Duration::from_millis(250);
                while !stop.load(Ordering::Relaxed) {
                    match Self::listen(&config, &tls, &stop, &mut wake) {
                        Ok(()) => return,
                        Err(e) => tracing::warn!(
                            error = %e,
                            "listening for other nodes' writes failed; retrying"
                        ),
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            })?;
        Ok(thread)
    }

    /// One listening connection: Ok when told to stop, Err when the connection failed.
    fn listen(
        config: &postgres::Config,
        tls: &DbTls,
        stop: &AtomicBool,
        wake: &mut impl FnMut() -> bool,
    ) -> Result<()> {
        let mut client = Self::connect(config, tls)?;
        client.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))?;
        // What was committed before LISTEN took effect is found by this first wake-up.
        if !wake() {
            return Ok(());
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let got = {
                let mut notifications = client.notifications();
                let got = notifications
                    .timeout_iter(Duration::from_secs(1))
                    .next()?
                    .is_some();
                // Those that came meanwhile are covered by the same wake-up.
                while got && notifications.iter().next()?.is_some() {}
                got
            };
            if !got {
                if client.is_closed() {
                    return Err(Error::Postgres("the listening connection closed".into()));
                }
                continue;
            }
            if !wake() {
                return Ok(());
            }
        }
    }

    fn connect(config: &postgres::Config, tls: &DbTls) -> Result<Client> {
        let mut client = match tls {
            DbTls::Plain => config.connect(NoTls)?,
            DbTls::Verified(make) => config.connect(make.clone())?,
        };
        // Durable when commit returns: never run with synchronous_commit off, whatever the
        // database's default (stronger settings, like remote_apply, are kept).
        let sc = client.query_one("SHOW synchronous_commit", &[])?;
        if sc.try_get::<_, String>(0)? == "off" {
            client.batch_execute("SET synchronous_commit = on")?;
        }
        // A node cut off in the middle of a commit must not hold the sequence lock (and so
        // every other node's writes) until TCP gives up: our transactions never wait on
        // anything but the database, so one idle for a minute is ended by the server.
        client.batch_execute("SET idle_in_transaction_session_timeout = '60s'")?;
        Ok(client)
    }

    /// The connection, reopened if it broke (the database restarted, a network hiccup).
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.is_closed() {
            tracing::warn!("the database connection was closed; reconnecting");
            self.client = Self::connect(&self.config, &self.tls)?;
            self.statements = Statements::default();
        }
        Ok(&mut self.client)
    }

    fn migrate(&mut self) -> Result<()> {
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
        if version > SCHEMA_VERSION {
            return Err(Error::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for v in version + 1..=SCHEMA_VERSION {
            match v {
                1 => tx.batch_execute(V1)?,
                2 => tx.batch_execute(V2)?,
                3 => tx.batch_execute(V3)?,
                4 => tx.batch_execute(V4)?,
                5 => tx.batch_execute(V5)?,
                _ => unreachable!("a migration arm per version"),
            }
        }
        tx.execute(
            "UPDATE schema_version SET version = $1",
            &[&(SCHEMA_VERSION as i32)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// For tests: call `hook` inside every commit transaction after its sequences were
    /// taken, just before it commits (to hold a transaction open while another commits).
    #[doc(hidden)]
    pub fn set_before_commit(&mut self, hook: Option<Box<dyn FnMut() + Send>>) {
        self.before_commit = hook;
    }

    /// The schema version stored in the database.
    pub fn schema_version(&mut self) -> Result<u32> {
        let r = self
            .client()?
            .query_one("SELECT version FROM schema_version", &[])?;
        Ok(r.try_get::<_, i32>(0)? as u32)
    }

    /// After a failed statement: whether the connection is gone (the database restarted,
    /// the network dropped it, an administrator ended the session) rather than the
    /// statement refused. Asks the database only on this error path.
    fn connection_lost(&mut self) -> bool {
        self.client.is_closed() || self.client.is_valid(Duration::from_secs(2)).is_err()
    }

    /// Open a new connection in place of a lost one.
    fn reconnect(&mut self) -> Result<()> {
        tracing::warn!("the database connection was lost; reconnecting");
        self.client = Self::connect(&self.config, &self.tls)?;
        self.statements = Statements::default();
        Ok(())
    }

    /// Run a read (or an idempotent write) with a cached statement; once more on a new
    /// connection if the connection was lost.
    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let run = |s: &mut Self| -> Result<Vec<Row>> {
            s.client()?;
            let st = s.statements.get(&mut s.client, sql)?;
            Ok(s.client.query(&st, params)?)
        };
        match run(self) {
            Err(_) if self.connection_lost() => {
                self.reconnect()?;
                run(self)
            }
            r => r,
        }
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn counter(&mut self, name: &str) -> Result<u64> {
        let r = self.query(SQL_COUNTER, &[&name])?;
        let r = r.first().ok_or(Error::Corrupt("counter"))?;
        Ok(r.try_get::<_, i64>(0)? as u64)
    }

    fn commit_once(&mut self, batch: &Batch) -> std::result::Result<Committed, Fail> {
        self.client()?;
        let st = &mut self.statements;
        let mut tx = self.client.transaction()?;
        let n = (batch.docs.len() + batch.bump.len() + batch.erase.len()) as i64;
        // The catalog counter first (see the module docs): its row lock orders committers.
        let (prev, last) = if n > 0 {
            let s = st.get(&mut tx, SQL_ADVANCE)?;
            let last: i64 = tx.query_one(&s, &[&CATALOG_SEQ, &n])?.try_get(0)?;
            (last - n, last)
        } else if !batch.compact.is_empty() {
            let s = st.get(&mut tx, SQL_LOCK_COUNTER)?;
            let v: i64 = tx.query_one(&s, &[&CATALOG_SEQ])?.try_get(0)?;
            (v, v)
        } else {
            let s = st.get(&mut tx, SQL_COUNTER)?;
            let v: i64 = tx.query_one(&s, &[&CATALOG_SEQ])?.try_get(0)?;
            (v, v)
        };
        for s in &batch.schools {
            let q = st.get(&mut tx, SQL_SCHOOL)?;
            tx.execute(&q, &[&s.id, &s.name, &s.created_at])?;
        }
        // Writes made from a state that is no longer the stored one: write nothing.
        let based: Vec<&[u8]> = batch
            .docs
            .iter()
            .filter(|w| w.base.is_some())
            .map(|w| w.id.as_bytes().as_slice())
            .collect();
        let mut stored: HashMap<DocumentId, Option<Vec<ChangeHash>>> = HashMap::new();
        if !based.is_empty() {
            let q = st.get(&mut tx, SQL_BASES)?;
            for r in tx.query(&q, &[&based])? {
                let id = id_from(r.try_get(0)?)?;
                let heads = if r.try_get::<_, bool>(2)? {
                    None
                } else {
                    Some(heads_from_bytes(&r.try_get::<_, Vec<u8>>(1)?)?)
                };
                stored.insert(id, heads);
            }
        }
        for w in &batch.docs {
            let current = stored.get(&w.id).cloned().unwrap_or(Some(vec![]));
            if !w.base_matches(current.as_deref()) {
                return Err(Fail::Conflict);
            }
        }
        let mut seq = prev;
        let distinct = batch
            .docs
            .iter()
            .map(|w| w.id)
            .collect::<HashSet<_>>()
            .len();
        if distinct == batch.docs.len() {
            write_docs_bulk(&mut tx, st, &batch.docs, seq)?;
            seq += batch.docs.len() as i64;
        }
        // The same document twice in one batch: row by row, in order.
        for w in batch.docs.iter().filter(|_| distinct != batch.docs.len()) {
            seq += 1;
            let id = w.id.as_bytes().as_slice();
            match w.mode {
                WriteMode::Append => {
                    let q = st.get(&mut tx, SQL_INSERT_CHANGE)?;
                    tx.execute(&q, &[&id, &w.data])?;
                }
                WriteMode::Snapshot => {
                    let q = st.get(&mut tx, SQL_DELETE_CHANGES)?;
                    tx.execute(&q, &[&id])?;
                    let q = st.get(&mut tx, SQL_UPSERT_SNAPSHOT)?;
                    tx.execute(&q, &[&id, &w.data])?;
                }
            }
            let snapshot = w.mode == WriteMode::Snapshot;
            let q = st.get(&mut tx, SQL_UPSERT_CATALOG)?;
            tx.execute(
                &q,
                &[
                    &id,
                    &w.header.school,
                    &w.header.kind,
                    &w.header.pupil,
                    &w.header.author,
                    &w.header.created_at,
                    &(w.header.schema as i64),
                    &w.fields.visibility,
                    &w.fields.urgency.map(i16::from),
                    &w.fields.category,
                    &readers_to(&w.fields.readers),
                    &heads_to_bytes(&w.heads),
                    &seq,
                    &(w.data.len() as i64),
                    &if snapshot { 0i32 } else { 1i32 },
                    &snapshot,
                    &w.summary,
                ],
            )?;
        }
        if !batch.bump.is_empty() {
            // A document bumped twice ends with the later sequence.
            let mut last_of: HashMap<DocumentId, i64> = HashMap::new();
            for id in &batch.bump {
                seq += 1;
                last_of.insert(*id, seq);
            }
            let (ids, seqs): (Vec<&[u8]>, Vec<i64>) = last_of
                .iter()
                .map(|(id, s)| (id.as_bytes().as_slice(), *s))
                .unzip();
            let q = st.get(&mut tx, SQL_BULK_BUMP)?;
            tx.execute(&q, &[&ids, &seqs])?;
        }
        for id in &batch.erase {
            seq += 1;
            let id = id.as_bytes().as_slice();
            let q = st.get(&mut tx, SQL_DELETE_CHANGES)?;
            tx.execute(&q, &[&id])?;
            let q = st.get(&mut tx, SQL_DELETE_SNAPSHOT)?;
            tx.execute(&q, &[&id])?;
            let q = st.get(&mut tx, SQL_ERASE)?;
            tx.execute(&q, &[&id, &seq])?;
        }
        debug_assert_eq!(seq, last);
        for (id, chunks, snapshot) in &batch.compact {
            let idb = id.as_bytes().as_slice();
            let q = st.get(&mut tx, SQL_COMPACT)?;
            let n = tx.execute(
                &q,
                &[
                    &idb,
                    &(snapshot.len() as i64),
                    &i32::try_from(*chunks).unwrap_or(i32::MAX),
                ],
            )?;
            if n == 1 {
                let q = st.get(&mut tx, SQL_DELETE_CHANGES)?;
                tx.execute(&q, &[&idb])?;
                let q = st.get(&mut tx, SQL_UPSERT_SNAPSHOT)?;
                tx.execute(&q, &[&idb, snapshot])?;
            }
        }
        for (sql, pairs) in [
            (SQL_BULK_HOLD, &batch.hold),
            (SQL_BULK_PURGED, &batch.purged),
            (SQL_BULK_UNHOLD, &batch.unhold),
        ] {
            if pairs.is_empty() {
                continue;
            }
            // Each pair once (an upsert may not touch a row twice in one statement).
            let mut seen = HashSet::new();
            let (devices, docs): (Vec<&str>, Vec<&[u8]>) = pairs
                .iter()
                .filter(|p| seen.insert(*p))
                .map(|(d, id)| (d.as_str(), id.as_bytes().as_slice()))
                .unzip();
            let q = st.get(&mut tx, sql)?;
            tx.execute(&q, &[&devices, &docs])?;
        }
        if !batch.audit.is_empty() {
            insert_audit_bulk(&mut tx, st, &batch.audit)?;
        }
        if !batch.events.is_empty() {
            // The admin-event sequence is a cursor too: the same counter scheme.
            let k = batch.events.len() as i64;
            let q = st.get(&mut tx, SQL_ADVANCE)?;
            let last_event: i64 = tx.query_one(&q, &[&ADMIN_EVENT_SEQ, &k])?.try_get(0)?;
            for (i, e) in batch.events.iter().enumerate() {
                let q = st.get(&mut tx, SQL_EVENT)?;
                tx.execute(
                    &q,
                    &[
                        &(last_event - k + 1 + i as i64),
                        &e.at,
                        &e.kind.as_str(),
                        &e.school,
                        &e.device,
                    ],
                )?;
            }
        }
        for c in &batch.codes {
            let q = st.get(&mut tx, SQL_CODE)?;
            tx.execute(
                &q,
                &[
                    &c.code_hash.as_slice(),
                    &c.school,
                    &c.user,
                    &c.created_at,
                    &c.expires_at,
                    &c.scope,
                ],
            )?;
        }
        for (device, at) in &batch.revoke {
            let q = st.get(&mut tx, SQL_REVOKE)?;
            tx.execute(&q, &[device, at])?;
        }
        for (device, at) in &batch.touch {
            let q = st.get(&mut tx, SQL_TOUCH)?;
            tx.execute(&q, &[device, at])?;
        }
        // Other nodes listen (see `listen_for_changes`); PostgreSQL delivers the
        // notification when, and only if, this transaction commits.
        if n > 0 || !batch.events.is_empty() || !batch.schools.is_empty() {
            let q = st.get(&mut tx, SQL_NOTIFY)?;
            tx.execute(&q, &[])?;
        }
        if let Some(hook) = self.before_commit.as_mut() {
            hook();
        }
        self.reached_commit = true;
        tx.commit()?;
        Ok(Committed {
            prev_seq: prev as u64,
            last_seq: last as u64,
        })
    }

    fn enroll_once(
        &mut self,
        code_hash: &[u8; 32],
        now: i64,
        device: &NewDevice,
    ) -> std::result::Result<EnrollOutcome, Fail> {
        self.client()?;
        let mut tx = self.client.transaction()?;
        // Spend the code in one statement: of two nodes spending it at once, the second
        // waits for the first and then finds it used.
        let spent = tx.query_opt(
            "UPDATE enrollment_codes SET used_at = $2 \
             WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING school, user_id, scope",
            &[&code_hash.as_slice(), &now],
        )?;
        let Some(row) = spent else {
            return Ok(EnrollOutcome::BadCode);
        };
        let (school, user): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let scope: Option<String> = row.try_get(2)?;
        let taken = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE actor = $1)",
                &[&device.actor],
            )?
            .try_get::<_, bool>(0)?;
        if taken {
            // Dropping the transaction rolls it back: the code stays unspent.
            return Ok(EnrollOutcome::ActorTaken);
        }
        let inserted = tx.execute(
            "INSERT INTO devices (id, school, user_id, actor, label, token_hash, created_at, \
             scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (actor) DO NOTHING",
            &[
                &device.id,
                &school,
                &user,
                &device.actor,
                &device.label,
                &device.token_hash.as_slice(),
                &now,
                &scope,
            ],
        )?;
        if inserted == 0 {
            // Another node enrolled this actor since the check above.
            return Ok(EnrollOutcome::ActorTaken);
        }
        insert_audit(
            &mut tx,
            &mut self.statements,
            &device.enroll_audit(&school, &user, now),
        )?;
        self.reached_commit = true;
        tx.commit()?;
        Ok(EnrollOutcome::Enrolled(Box::new(
            device.enrolled(school, user, scope, now),
        )))
    }

    fn catalog_rows(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<CatalogRow>> {
        self.query(sql, params)?.iter().map(catalog_row).collect()
    }

    fn doc_set(
        &mut self,
        sql: &'static str,
        device: &str,
        ids: &[DocumentId],
    ) -> Result<HashSet<DocumentId>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let ids: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        self.query(sql, &[&device, &ids])?
            .iter()
            .map(|r| id_from(r.try_get(0)?))
            .collect()
    }

    /// Run a transaction, retrying it on a deadlock or serialization failure.
    fn retry<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> std::result::Result<T, Fail>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            self.reached_commit = false;
            match f(self) {
                Ok(t) => return Ok(t),
                // The connection broke before COMMIT was sent: nothing was written, so the
                // transaction runs again on a new connection.
                Err(Fail::Pg(_) | Fail::Other(_))
                    if attempt < RETRIES && !self.reached_commit && self.connection_lost() =>
                {
                    attempt += 1;
                    self.reconnect()?;
                }
                Err(Fail::Pg(e)) if retryable(&e) && attempt < RETRIES => {
                    attempt += 1;
                    tracing::debug!(attempt, "database transaction retried");
                    std::thread::sleep(Duration::from_millis(5 * attempt as u64));
                }
                Err(Fail::Pg(e)) => return Err(e.into()),
                Err(Fail::Conflict) => return Err(Error::Conflict),
                Err(Fail::Other(e)) => return Err(e),
            }
        }
    }
}

/// Link audit rows just inserted (as the database returned them) to the chain, in
/// sequence order. The caller holds [`AUDIT_CHAIN_LOCK`] since before it inserted them.
fn link_audit(
    tx: &mut postgres::Transaction<'_>,
    st: &mut Statements,
    inserted: Vec<Row>,
) -> Result<()> {
    let mut rows = inserted
        .iter()
        .map(audit_row)
        .collect::<Result<Vec<AuditRecord>>>()?;
    let Some(first) = rows.iter().map(|r| r.seq).min() else {
        return Ok(());
    };
    rows.sort_by_key(|r| r.seq);
    let q = st.get(tx, SQL_AUDIT_PREV)?;
    let prev: Option<Vec<u8>> = tx
        .query_opt(&q, &[&(first as i64)])?
        .and_then(|r| r.get::<_, Option<Vec<u8>>>(0));
    let mut prev = super::chain_prev(prev);
    let mut seqs = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for r in &rows {
        prev = super::audit_hash(&prev, r);
        seqs.push(r.seq as i64);
        hashes.push(prev.to_vec());
    }
    let q = st.get(tx, SQL_AUDIT_LINK)?;
    tx.execute(&q, &[&seqs, &hashes])?;
    Ok(())
}

fn lock_audit_chain(tx: &mut postgres::Transaction<'_>, st: &mut Statements) -> Result<()> {
    let q = st.get(tx, SQL_AUDIT_CHAIN_LOCK)?;
    tx.execute(&q, &[&AUDIT_CHAIN_LOCK])?;
    Ok(())
}

fn insert_audit(
    tx: &mut postgres::Transaction<'_>,
    st: &mut Statements,
    a: &AuditRecord,
) -> Result<()> {
    lock_audit_chain(tx, st)?;
    let q = st.get(tx, SQL_AUDIT)?;
    let inserted = tx.query(
        &q,
        &[
            &a.at,
            &a.school,
            &a.device,
            &a.user,
            &a.action.as_str(),
            &a.document.as_ref().map(|d| d.as_bytes().as_slice()),
            &a.kind,
            &a.pupil,
            &a.device_seq,
            &a.device_at,
        ],
    )?;
    link_audit(tx, st, inserted)
}

/// Content changes of distinct documents, sequences `first + 1 ..`, in a few statements.
fn write_docs_bulk(
    tx: &mut postgres::Transaction<'_>,
    st: &mut Statements,
    docs: &[super::DocWrite],
    first: i64,
) -> Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let id = |w: &super::DocWrite| w.id.as_bytes().to_vec();
    let snapshots: Vec<&super::DocWrite> = docs
        .iter()
        .filter(|w| w.mode == WriteMode::Snapshot)
        .collect();
    if !snapshots.is_empty() {
        let ids: Vec<Vec<u8>> = snapshots.iter().map(|w| id(w)).collect();
        let data: Vec<&[u8]> = snapshots.iter().map(|w| w.data.as_slice()).collect();
        let q = st.get(tx, SQL_BULK_DELETE_CHANGES)?;
        tx.execute(&q, &[&ids])?;
        let q = st.get(tx, SQL_BULK_UPSERT_SNAPSHOTS)?;
        tx.execute(&q, &[&ids, &data])?;
    }
    let appends: Vec<&super::DocWrite> = docs
        .iter()
        .filter(|w| w.mode == WriteMode::Append)
        .collect();
    if !appends.is_empty() {
        let ids: Vec<Vec<u8>> = appends.iter().map(|w| id(w)).collect();
        let data: Vec<&[u8]> = appends.iter().map(|w| w.data.as_slice()).collect();
        let q = st.get(tx, SQL_BULK_INSERT_CHANGES)?;
        tx.execute(&q, &[&ids, &data])?;
    }
    let ids: Vec<Vec<u8>> = docs.iter().map(id).collect();
    let school: Vec<&str> = docs.iter().map(|w| w.header.school.as_str()).collect();
    let kind: Vec<&str> = docs.iter().map(|w| w.header.kind.as_str()).collect();
    let pupil: Vec<Option<&str>> = docs.iter().map(|w| w.header.pupil.as_deref()).collect();
    let author: Vec<&str> = docs.iter().map(|w| w.header.author.as_str()).collect();
    let created_at: Vec<i64> = docs.iter().map(|w| w.header.created_at).collect();
    let schema: Vec<i64> = docs.iter().map(|w| w.header.schema as i64).collect();
    let visibility: Vec<Option<&str>> = docs
        .iter()
        .map(|w| w.fields.visibility.as_deref())
        .collect();
    let urgency: Vec<Option<i16>> = docs
        .iter()
        .map(|w| w.fields.urgency.map(i16::from))
        .collect();
    let category: Vec<Option<&str>> = docs.iter().map(|w| w.fields.category.as_deref()).collect();
    let readers: Vec<Option<String>> = docs
        .iter()
        .map(|w| {
            (!w.fields.readers.is_empty())
                .then(|| serde_json::to_string(&w.fields.readers).unwrap_or_default())
        })
        .collect();
    let heads: Vec<Vec<u8>> = docs.iter().map(|w| heads_to_bytes(&w.heads)).collect();
    let seqs: Vec<i64> = (1..=docs.len() as i64).map(|i| first + i).collect();
    let size: Vec<i64> = docs.iter().map(|w| w.data.len() as i64).collect();
    let snap: Vec<bool> = docs.iter().map(|w| w.mode == WriteMode::Snapshot).collect();
    let summary: Vec<Option<&[u8]>> = docs.iter().map(|w| w.summary.as_deref()).collect();
    let q = st.get(tx, SQL_BULK_UPSERT_CATALOG)?;
    tx.execute(
        &q,
        &[
            &ids,
            &school,
            &kind,
            &pupil,
            &author,
            &created_at,
            &schema,
            &visibility,
            &urgency,
            &category,
            &readers,
            &heads,
            &seqs,
            &size,
            &snap,
            &summary,
        ],
    )?;
    Ok(())
}

fn insert_audit_bulk(
    tx: &mut postgres::Transaction<'_>,
    st: &mut Statements,
    rows: &[AuditRecord],
) -> Result<()> {
    let at: Vec<i64> = rows.iter().map(|a| a.at).collect();
    let school: Vec<&str> = rows.iter().map(|a| a.school.as_str()).collect();
    let device: Vec<Option<&str>> = rows.iter().map(|a| a.device.as_deref()).collect();
    let user: Vec<Option<&str>> = rows.iter().map(|a| a.user.as_deref()).collect();
    let action: Vec<&str> = rows.iter().map(|a| a.action.as_str()).collect();
    let doc: Vec<Option<&[u8]>> = rows
        .iter()
        .map(|a| a.document.as_ref().map(|d| d.as_bytes().as_slice()))
        .collect();
    let kind: Vec<Option<&str>> = rows.iter().map(|a| a.kind.as_deref()).collect();
    let pupil: Vec<Option<&str>> = rows.iter().map(|a| a.pupil.as_deref()).collect();
    let device_seq: Vec<Option<i64>> = rows.iter().map(|a| a.device_seq).collect();
    let device_at: Vec<Option<i64>> = rows.iter().map(|a| a.device_at).collect();
    lock_audit_chain(tx, st)?;
    let q = st.get(tx, SQL_BULK_AUDIT)?;
    let inserted = tx.query(
        &q,
        &[
            &at,
            &school,
            &device,
            &user,
            &action,
            &doc,
            &kind,
            &pupil,
            &device_seq,
            &device_at,
        ],
    )?;
    link_audit(tx, st, inserted)
}

fn heads_to_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    let mut v = Vec::with_capacity(heads.len() * 32);
    for h in heads {
        v.extend_from_slice(&h.0);
    }
    v
}

fn heads_from_bytes(b: &[u8]) -> Result<Vec<ChangeHash>> {
    if !b.len().is_multiple_of(32) {
        return Err(Error::Corrupt("heads"));
    }
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut a = [0u8; 32];
            a.copy_from_slice(c);
            ChangeHash(a)
        })
        .collect())
}

fn id_from(b: Vec<u8>) -> Result<DocumentId> {
    let a: [u8; 16] = b.try_into().map_err(|_| Error::Corrupt("document id"))?;
    Ok(DocumentId::from_bytes(a))
}

fn hash_from(b: Vec<u8>) -> Result<[u8; 32]> {
    b.try_into().map_err(|_| Error::Corrupt("hash"))
}

fn readers_to(readers: &[String]) -> Option<Vec<String>> {
    (!readers.is_empty()).then(|| readers.to_vec())
}

/// A stored document from the columns summary, snapshot, chunks starting at `at`.
fn stored_doc(r: &Row, at: usize) -> Result<StoredDoc> {
    let summary: Option<Vec<u8>> = r.try_get(at)?;
    let mut data: Vec<u8> = r.try_get::<_, Option<Vec<u8>>>(at + 1)?.unwrap_or_default();
    let chunks: Option<Vec<Vec<u8>>> = r.try_get(at + 2)?;
    for c in chunks.unwrap_or_default() {
        data.extend_from_slice(&c);
    }
    Ok(StoredDoc { data, summary })
}

fn catalog_row(r: &Row) -> Result<CatalogRow> {
    Ok(CatalogRow {
        id: id_from(r.try_get(0)?)?,
        header: Header {
            school: r.try_get(1)?,
            kind: r.try_get(2)?,
            pupil: r.try_get(3)?,
            author: r.try_get(4)?,
            created_at: r.try_get(5)?,
            schema: r.try_get::<_, i64>(6)? as u64,
        },
        fields: AccessFields {
            visibility: r.try_get(7)?,
            urgency: r
                .try_get::<_, Option<i16>>(8)?
                .map(|u| u8::try_from(u).map_err(|_| Error::Corrupt("urgency")))
                .transpose()?,
            category: r.try_get(9)?,
            readers: r.try_get::<_, Option<Vec<String>>>(10)?.unwrap_or_default(),
        },
        heads: heads_from_bytes(&r.try_get::<_, Vec<u8>>(11)?)?,
        seq: r.try_get::<_, i64>(12)? as u64,
        content_seq: r.try_get::<_, i64>(13)? as u64,
        size: r.try_get::<_, i64>(14)? as u64,
        chunks: r.try_get::<_, i32>(15)? as u32,
        erased: r.try_get(16)?,
    })
}

fn device_row(r: &Row) -> Result<Device> {
    Ok(Device {
        id: r.try_get(0)?,
        school: r.try_get(1)?,
        user: r.try_get(2)?,
        actor: r.try_get(3)?,
        label: r.try_get(4)?,
        token_hash: hash_from(r.try_get(5)?)?,
        created_at: r.try_get(6)?,
        last_seen: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
        scope: r.try_get(9)?,
    })
}

fn audit_row(r: &Row) -> Result<AuditRecord> {
    let action: String = r.try_get(5)?;
    Ok(AuditRecord {
        seq: r.try_get::<_, i64>(0)? as u64,
        at: r.try_get(1)?,
        school: r.try_get(2)?,
        device: r.try_get(3)?,
        user: r.try_get(4)?,
        action: AuditAction::parse(&action).ok_or(Error::Corrupt("audit action"))?,
        document: r
            .try_get::<_, Option<Vec<u8>>>(6)?
            .map(id_from)
            .transpose()?,
        kind: r.try_get(7)?,
        pupil: r.try_get(8)?,
        device_seq: r.try_get(9)?,
        device_at: r.try_get(10)?,
    })
}

fn school_row(r: &Row) -> Result<School> {
    Ok(School {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}

impl Storage for PostgresStorage {
    fn commit(&mut self, batch: Batch) -> Result<Committed> {
        self.retry(|s| s.commit_once(&batch))
    }

    fn catalog_get(&mut self, ids: &[DocumentId]) -> Result<Vec<CatalogRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        self.catalog_rows(SQL_CATALOG_GET, &[&ids])
    }

    fn catalog_since(
        &mut self,
        school: &str,
        after: u64,
        device: &str,
    ) -> Result<Vec<(CatalogRow, bool)>> {
        self.query(SQL_CATALOG_SINCE, &[&school, &(after as i64), &device])?
            .iter()
            .map(|r| Ok((catalog_row(r)?, r.try_get::<_, bool>(17)?)))
            .collect()
    }

    fn catalog_changes(&mut self, after: u64, limit: usize) -> Result<Vec<CatalogRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.catalog_rows(SQL_CATALOG_CHANGES, &[&(after as i64), &limit])
    }

    fn catalog_school(&mut self, school: &str) -> Result<Vec<CatalogRow>> {
        self.catalog_rows(SQL_CATALOG_SCHOOL, &[&school])
    }

    fn last_seq(&mut self) -> Result<u64> {
        self.counter(CATALOG_SEQ)
    }

    fn epoch(&mut self) -> Result<u64> {
        // Made once; of nodes starting together, the first insert wins and all read it.
        let fresh = super::new_epoch() as i64;
        self.query(
            "INSERT INTO counters (name, value) VALUES ('epoch', $1) ON CONFLICT (name) DO NOTHING",
            &[&fresh],
        )?;
        self.counter("epoch")
    }

    fn renew_epoch(&mut self) -> Result<u64> {
        let epoch = super::new_epoch();
        self.query(
            "INSERT INTO counters (name, value) VALUES ('epoch', $1) \
             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[&(epoch as i64)],
        )?;
        Ok(epoch)
    }

    fn load_stored(&mut self, id: DocumentId) -> Result<Option<StoredDoc>> {
        let Some(r) = self.query_opt(SQL_LOAD, &[&id.as_bytes().as_slice()])? else {
            return Ok(None);
        };
        stored_doc(&r, 0).map(Some)
    }

    fn load_stored_many(&mut self, ids: &[DocumentId]) -> Result<HashMap<DocumentId, StoredDoc>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        self.query(SQL_LOAD_MANY, &[&keys])?
            .iter()
            .map(|r| Ok((id_from(r.try_get(0)?)?, stored_doc(r, 1)?)))
            .collect()
    }

    fn held_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>> {
        self.doc_set(SQL_HELD_AMONG, device, ids)
    }

    fn purged_among(&mut self, device: &str, ids: &[DocumentId]) -> Result<HashSet<DocumentId>> {
        self.doc_set(SQL_PURGED_AMONG, device, ids)
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
        let ids: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        for r in self.query(SQL_HOLDINGS, &[&devices, &ids])? {
            let device: String = r.try_get(0)?;
            let doc = id_from(r.try_get(1)?)?;
            let h = out.entry(device).or_default();
            h.held.insert(doc);
            if r.try_get::<_, bool>(2)? {
                h.purged.insert(doc);
            }
        }
        Ok(out)
    }

    fn school_policy(&mut self, school: &str) -> Result<Option<String>> {
        self.query_opt(
            "SELECT policy FROM school_policy WHERE school = $1",
            &[&school],
        )?
        .map(|r| r.try_get::<_, String>(0).map_err(Error::from))
        .transpose()
    }

    fn set_school_policy(&mut self, school: &str, policy: &str) -> Result<()> {
        self.query(
            "INSERT INTO school_policy (school, policy) VALUES ($1, $2) \
             ON CONFLICT (school) DO UPDATE SET policy = EXCLUDED.policy",
            &[&school, &policy],
        )?;
        Ok(())
    }

    fn school(&mut self, id: &str) -> Result<Option<School>> {
        self.query_opt(SQL_SCHOOL_GET, &[&id])?
            .as_ref()
            .map(school_row)
            .transpose()
    }

    fn schools(&mut self) -> Result<Vec<School>> {
        self.query(SQL_SCHOOLS, &[])?
            .iter()
            .map(school_row)
            .collect()
    }

    fn enroll(
        &mut self,
        code_hash: &[u8; 32],
        now: i64,
        device: &NewDevice,
    ) -> Result<EnrollOutcome> {
        self.retry(|s| s.enroll_once(code_hash, now, device))
    }

    fn device_by_token(&mut self, token_hash: &[u8; 32]) -> Result<Option<Device>> {
        self.query_opt(SQL_DEVICE_BY_TOKEN, &[&token_hash.as_slice()])?
            .as_ref()
            .map(device_row)
            .transpose()
    }

    fn device(&mut self, id: &str) -> Result<Option<Device>> {
        self.query_opt(SQL_DEVICE, &[&id])?
            .as_ref()
            .map(device_row)
            .transpose()
    }

    fn devices(&mut self) -> Result<Vec<Device>> {
        self.query(SQL_DEVICES, &[])?
            .iter()
            .map(device_row)
            .collect()
    }

    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let rows = match filter {
            AuditFilter::Pupil(p) => self.query(SQL_AUDIT_PUPIL, &[p])?,
            AuditFilter::Staff(s) => self.query(SQL_AUDIT_STAFF, &[s])?,
            AuditFilter::All => self.query(SQL_AUDIT_ALL, &[])?,
            AuditFilter::Action(a) => self.query(SQL_AUDIT_ACTION, &[&a.as_str()])?,
        };
        rows.iter().map(audit_row).collect()
    }

    fn audit_page(
        &mut self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(AuditRecord, Option<Vec<u8>>)>> {
        self.query(SQL_AUDIT_PAGE, &[&(after as i64), &(limit as i64)])?
            .iter()
            .map(|r| Ok((audit_row(r)?, r.try_get::<_, Option<Vec<u8>>>(11)?)))
            .collect()
    }

    fn admin_events_since(&mut self, after: u64) -> Result<Vec<AdminEvent>> {
        self.query(SQL_EVENTS_SINCE, &[&(after as i64)])?
            .iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                Ok(AdminEvent {
                    seq: r.try_get::<_, i64>(0)? as u64,
                    at: r.try_get(1)?,
                    kind: AdminEventKind::parse(&kind).ok_or(Error::Corrupt("event kind"))?,
                    school: r.try_get(3)?,
                    device: r.try_get(4)?,
                })
            })
            .collect()
    }

    fn last_admin_event(&mut self) -> Result<u64> {
        self.counter(ADMIN_EVENT_SEQ)
    }

    fn admin_account(&mut self, name: &str) -> Result<Option<AdminAccount>> {
        self.query_opt(
            "SELECT name, role, password_hash, created_at, disabled FROM admin_accounts \
             WHERE name = $1",
            &[&name],
        )?
        .as_ref()
        .map(admin_account_row)
        .transpose()
    }

    fn admin_accounts(&mut self) -> Result<Vec<AdminAccount>> {
        self.query(
            "SELECT name, role, password_hash, created_at, disabled FROM admin_accounts \
             ORDER BY name",
            &[],
        )?
        .iter()
        .map(admin_account_row)
        .collect()
    }

    fn put_admin_account(&mut self, a: &AdminAccount) -> Result<()> {
        self.query(
            "INSERT INTO admin_accounts (name, role, password_hash, created_at, disabled) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
             role = EXCLUDED.role, password_hash = EXCLUDED.password_hash, \
             disabled = EXCLUDED.disabled",
            &[
                &a.name,
                &a.role.as_str(),
                &a.password_hash,
                &a.created_at,
                &a.disabled,
            ],
        )?;
        Ok(())
    }
}

fn admin_account_row(r: &Row) -> Result<AdminAccount> {
    let role: String = r.try_get(1)?;
    Ok(AdminAccount {
        name: r.try_get(0)?,
        role: AdminRole::parse(&role).ok_or(Error::Corrupt("an admin account's role"))?,
        password_hash: r.try_get(2)?,
        created_at: r.try_get(3)?,
        disabled: r.try_get(4)?,
    })
}

/// Test support: a throwaway schema in the database the tests are given.
///
/// The tests read a libpq URL from `OMKIJKEN_TEST_POSTGRES` (`scripts/test.sh` starts a
/// throwaway cluster and sets it). Each [`TestSchema`] is a fresh schema with a random
/// name, dropped with everything in it when the value is dropped, so tests are independent
/// and can run in parallel. Usable from async code: its own connections run on a thread.
pub mod testing {
    use super::describe;
    use std::io::Write;

    /// The environment variable with the test database URL.
    pub const ENV: &str = "OMKIJKEN_TEST_POSTGRES";

    /// The test database URL; without one, a test is skipped (a line on stderr says so)
    /// unless `CI` is set, where it fails: CI must run the PostgreSQL tests.
    pub fn database_url(test: &str) -> Option<String> {
        match std::env::var(ENV) {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                if std::env::var("CI").is_ok_and(|v| !v.is_empty()) {
                    panic!(
                        "{test}: {ENV} is not set, but CI is: the PostgreSQL tests must run in \
                         CI (scripts/test.sh starts a throwaway cluster when PostgreSQL's \
                         binaries are installed)"
                    );
                }
                // Straight to stderr: the test harness captures only the print macros.
                let _ = writeln!(
                    std::io::stderr(),
                    "{test}: skipped: the PostgreSQL tests need {ENV} (a postgres:// URL); \
                     scripts/test.sh starts a throwaway cluster and sets it"
                );
                None
            }
        }
    }

    /// A fresh schema, dropped on drop.
    #[derive(Debug)]
    pub struct TestSchema {
        base: String,
        name: String,
    }

    fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().expect("test database thread")
    }

    impl TestSchema {
        /// Create a schema with a random name in the database at `url`.
        pub fn create(url: &str) -> TestSchema {
            let name = format!("omkijken_test_{:016x}", rand::random::<u64>());
            let (base, n) = (url.to_string(), name.clone());
            on_thread(move || {
                let mut c = postgres::Client::connect(&base, postgres::NoTls)
                    .unwrap_or_else(|e| panic!("connecting to {ENV}: {}", describe(&e)));
                c.batch_execute(&format!("CREATE SCHEMA {n}"))
                    .unwrap_or_else(|e| panic!("creating a test schema: {}", describe(&e)));
            });
            TestSchema {
                base: url.to_string(),
                name,
            }
        }

        /// Its name.
        pub fn name(&self) -> &str {
            &self.name
        }

        /// The database URL with this schema as the search path.
        pub fn url(&self) -> String {
            let sep = if self.base.contains('?') { '&' } else { '?' };
            format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
        }

        /// Open a storage on this schema (on a thread, so callable from async code; the
        /// storage itself must then be used and dropped off the runtime).
        pub fn open(&self) -> super::PostgresStorage {
            let url = self.url();
            on_thread(move || {
                super::PostgresStorage::open(&url, None).expect("open the test schema")
            })
        }
    }

    impl Drop for TestSchema {
        fn drop(&mut self) {
            let (base, name) = (self.base.clone(), self.name.clone());
            on_thread(move || {
                if let Ok(mut c) = postgres::Client::connect(&base, postgres::NoTls) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
                }
            });
        }
    }
}

#[cfg(test)]
mod tls_default_tests {
    use super::*;

    fn mode(url: &str) -> SslMode {
        PostgresStorage::config(url, None).unwrap().get_ssl_mode()
    }

    #[test]
    fn a_database_elsewhere_gets_verified_tls_unless_disabled() {
        for url in [
            "postgres://u@db.example.org/x",
            "postgres://u@10.0.0.5:5432/x",
            "postgres://u@db.example.org/x?sslmode=prefer",
            "postgres://u@db.example.org/x?hostaddr=127.0.0.1",
            "postgres://u@localhost,db.example.org/x",
        ] {
            assert_eq!(mode(url), SslMode::Require, "{url}");
            let tls = DbTls::for_config(&PostgresStorage::config(url, None).unwrap(), None);
            assert!(matches!(tls, Ok(DbTls::Verified(_))), "{url}");
        }
        let off = "postgres://u@db.example.org/x?sslmode=disable";
        assert_eq!(mode(off), SslMode::Disable);
        assert!(matches!(
            DbTls::for_config(&PostgresStorage::config(off, None).unwrap(), None),
            Ok(DbTls::Plain)
        ));
    }

    #[test]
    fn a_database_on_this_machine_keeps_prefer() {
        for url in [
            "postgres://u@localhost/x",
            "postgres://u@127.0.0.1:5432/x",
            "postgres://u@127.1.2.3/x",
            "postgres://u@[::1]/x",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/x",
        ] {
            assert_eq!(mode(url), SslMode::Prefer, "{url}");
            assert!(matches!(
                DbTls::for_config(&PostgresStorage::config(url, None).unwrap(), None),
                Ok(DbTls::Plain)
            ));
        }
    }
}
