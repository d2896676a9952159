//! The SQL the PostgreSQL storage runs, and the cache of its prepared statements (one per
//! connection, by SQL text).

use crate::Result;
use postgres::{GenericClient, Statement};
use std::collections::HashMap;

macro_rules! catalog_cols {
    () => {
        "id, school, kind, pupil, author, created_at, schema, visibility, urgency, category, \
         readers, heads, seq, content_seq, size, chunks, erased"
    };
}

macro_rules! device_cols {
    () => {
        "id, school, user_id, actor, label, token_hash, created_at, last_seen, revoked_at, scope, \
         outbox_pending, outbox_not_accepted, outbox_oldest_at, outbox_at"
    };
}

macro_rules! audit_cols {
    () => {
        "seq, at, school, device, user_id, action, doc, kind, pupil, device_seq, device_at"
    };
}

/// `SELECT` of the columns a `*_cols` macro names, then `$rest` (` FROM ...`).
macro_rules! select {
    ($cols:ident, $rest:literal) => {
        concat!("SELECT ", $cols!(), $rest)
    };
}

/// Advisory lock held by a transaction from its first audit row to its commit: audit rows
/// of all nodes get their sequences, and their links (`audit_hash`), one transaction at a
/// time, so the chain follows the sequence.
pub(super) const AUDIT_CHAIN_LOCK: i64 = 0x6f6d_6b69_6175_6474;

pub(super) const SQL_INSERT_CHANGE: &str = "INSERT INTO changes (doc, data) VALUES ($1, $2)";

pub(super) const SQL_DELETE_CHANGES: &str = "DELETE FROM changes WHERE doc = $1";

pub(super) const SQL_UPSERT_SNAPSHOT: &str = "INSERT INTO snapshots (doc, data) VALUES ($1, $2) \
     ON CONFLICT (doc) DO UPDATE SET data = excluded.data";

pub(super) const SQL_UPSERT_CATALOG: &str = "INSERT INTO catalog (id, school, kind, pupil, author, \
     created_at, schema, visibility, urgency, category, readers, heads, seq, content_seq, size, \
     chunks, erased, summary) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, false, $17) \
     ON CONFLICT (id) DO UPDATE SET visibility = excluded.visibility, \
     urgency = excluded.urgency, category = excluded.category, readers = excluded.readers, \
     heads = excluded.heads, seq = excluded.seq, content_seq = excluded.seq, \
     summary = excluded.summary, \
     size = CASE WHEN $16 THEN excluded.size ELSE catalog.size + excluded.size END, \
     chunks = CASE WHEN $16 THEN 0 ELSE catalog.chunks + 1 END";

pub(super) const SQL_BASES: &str = "SELECT id, heads, erased FROM catalog WHERE id = ANY($1)";

// Bulk forms: one statement (one round trip) for all rows of a kind in a batch.
pub(super) const SQL_BULK_DELETE_CHANGES: &str = "DELETE FROM changes WHERE doc = ANY($1)";

pub(super) const SQL_BULK_UPSERT_SNAPSHOTS: &str = "INSERT INTO snapshots (doc, data) \
     SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
     ON CONFLICT (doc) DO UPDATE SET data = excluded.data";

pub(super) const SQL_BULK_INSERT_CHANGES: &str = "INSERT INTO changes (doc, data) \
     SELECT d, x FROM UNNEST($1::bytea[], $2::bytea[]) WITH ORDINALITY AS u(d, x, i) ORDER BY i";

// `chunks` is inserted as 0 for a snapshot and 1 for an appended chunk, which the update
// reads back as `excluded.chunks`. Readers travel as JSON text (arrays of arrays cannot be
// unnested).
pub(super) const SQL_BULK_UPSERT_CATALOG: &str = "INSERT INTO catalog (id, school, kind, pupil, author, \
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

pub(super) const SQL_BULK_BUMP: &str = "UPDATE catalog c SET seq = u.seq \
     FROM UNNEST($1::bytea[], $2::int8[]) AS u(id, seq) WHERE c.id = u.id";

pub(super) const SQL_BULK_HOLD: &str = "INSERT INTO held (device, doc) \
     SELECT * FROM UNNEST($1::text[], $2::bytea[]) \
     ON CONFLICT (device, doc) DO UPDATE SET purged = false WHERE held.purged";

pub(super) const SQL_BULK_PURGED: &str = "UPDATE held h SET purged = true \
     FROM UNNEST($1::text[], $2::bytea[]) AS u(device, doc) \
     WHERE h.device = u.device AND h.doc = u.doc";

pub(super) const SQL_BULK_UNHOLD: &str = "DELETE FROM held h USING UNNEST($1::text[], $2::bytea[]) \
     AS u(device, doc) WHERE h.device = u.device AND h.doc = u.doc";

pub(super) const SQL_BULK_AUDIT: &str = "INSERT INTO audit (at, school, device, user_id, action, doc, \
     kind, pupil, device_seq, device_at) \
     SELECT at, school, device, user_id, action, doc, kind, pupil, device_seq, device_at \
     FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], \
     $7::text[], $8::text[], $9::int8[], $10::int8[]) WITH ORDINALITY \
     AS u(at, school, device, user_id, action, doc, kind, pupil, device_seq, device_at, i) \
     ORDER BY i ON CONFLICT DO NOTHING RETURNING seq, at, school, device, user_id, action, doc, \
     kind, pupil, device_seq, device_at";

pub(super) const SQL_ERASE: &str = "UPDATE catalog SET erased = true, heads = ''::bytea, size = 0, \
     chunks = 0, visibility = NULL, urgency = NULL, category = NULL, summary = NULL, \
     readers = NULL, seq = $2, content_seq = $2 WHERE id = $1";

pub(super) const SQL_DELETE_SNAPSHOT: &str = "DELETE FROM snapshots WHERE doc = $1";

pub(super) const SQL_COMPACT: &str = "UPDATE catalog SET size = $2, chunks = 0 \
     WHERE id = $1 AND chunks = $3 AND NOT erased";

pub(super) const SQL_AUDIT: &str = "INSERT INTO audit (at, school, device, user_id, action, doc, kind, \
     pupil, device_seq, device_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT DO NOTHING RETURNING seq, at, school, device, user_id, action, doc, kind, \
     pupil, device_seq, device_at";

pub(super) const SQL_AUDIT_CHAIN_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";

pub(super) const SQL_AUDIT_PREV: &str =
    "SELECT hash FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT 1";

pub(super) const SQL_AUDIT_LINK: &str = "UPDATE audit a SET hash = u.hash \
     FROM UNNEST($1::int8[], $2::bytea[]) AS u(seq, hash) WHERE a.seq = u.seq";

pub(super) const SQL_AUDIT_PAGE: &str = select!(
    audit_cols,
    ", hash FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
);

pub(super) const SQL_EVENT: &str =
    "INSERT INTO admin_events (seq, at, kind, school, device) VALUES ($1, $2, $3, $4, $5)";

pub(super) const SQL_CODE: &str = "INSERT INTO enrollment_codes (code_hash, school, user_id, created_at, \
     expires_at, scope) VALUES ($1, $2, $3, $4, $5, $6)";

pub(super) const SQL_REVOKE: &str =
    "UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

pub(super) const SQL_TOUCH: &str = "UPDATE devices SET last_seen = $2 WHERE id = $1";

pub(super) const SQL_OUTBOX: &str = "UPDATE devices SET outbox_pending = $2, \
     outbox_not_accepted = $3, outbox_oldest_at = $4, outbox_at = $5 WHERE id = $1";

pub(super) const SQL_SCHOOL: &str =
    "INSERT INTO schools (id, name, created_at) VALUES ($1, $2, $3)";

pub(super) const SQL_ADVANCE: &str =
    "UPDATE counters SET value = value + $2 WHERE name = $1 RETURNING value";
/// [`SQL_ADVANCE`] and the change notification (payload `$3`, see [`SQL_NOTIFY`]) in one
/// round trip: a commit that writes the catalog always notifies.
pub(super) const SQL_ADVANCE_NOTIFY: &str = "WITH n AS (SELECT pg_notify('omkijken_changes', $3)) \
     UPDATE counters SET value = value + $2 FROM n WHERE name = $1 RETURNING value";

pub(super) const SQL_LOCK_COUNTER: &str = "SELECT value FROM counters WHERE name = $1 FOR UPDATE";
/// A group's locks in one round trip, in the order every writer takes them: the catalog
/// counter's row (`$1`), then the audit chain (`$2`).
pub(super) const SQL_LOCK_WRITERS: &str = "WITH c AS (SELECT value FROM counters WHERE name = $1 FOR UPDATE) \
     SELECT pg_advisory_xact_lock($2) FROM c";

pub(super) const SQL_COUNTER: &str = "SELECT value FROM counters WHERE name = $1";
pub(super) const SQL_COUNTERS: &str = "SELECT name, value FROM counters WHERE name = ANY($1)";

pub(super) const SQL_CATALOG_GET: &str = select!(catalog_cols, " FROM catalog WHERE id = ANY($1)");

pub(super) const SQL_CATALOG_SINCE: &str = select!(
    catalog_cols,
    ", CASE WHEN $3 = '' THEN false ELSE EXISTS (SELECT 1 FROM held h WHERE h.device = $3 AND h.doc = catalog.id) END \
     FROM catalog WHERE school = $1 AND seq > $2 ORDER BY seq LIMIT $4"
);

pub(super) const SQL_CATALOG_CHANGES: &str = select!(
    catalog_cols,
    " FROM catalog WHERE seq > $1 ORDER BY seq LIMIT $2"
);

pub(super) const SQL_CATALOG_SCHOOL: &str =
    select!(catalog_cols, " FROM catalog WHERE school = $1 ORDER BY seq");

// One statement, so one snapshot: the snapshot and the chunks always belong together.
pub(super) const SQL_LOAD: &str = "SELECT c.summary, s.data, \
     (SELECT array_agg(ch.data ORDER BY ch.id) FROM changes ch WHERE ch.doc = c.id) \
     FROM catalog c LEFT JOIN snapshots s ON s.doc = c.id WHERE c.id = $1 AND NOT c.erased";

pub(super) const SQL_LOAD_MANY: &str = "SELECT c.id, c.summary, s.data, \
     (SELECT array_agg(ch.data ORDER BY ch.id) FROM changes ch WHERE ch.doc = c.id) \
     FROM catalog c LEFT JOIN snapshots s ON s.doc = c.id WHERE c.id = ANY($1) AND NOT c.erased";

/// The channel nodes listen on: a commit that changed the catalog or wrote admin events
/// notifies it (no payload: a listener polls the storage as it would on its timer).
pub(super) const CHANGES_CHANNEL: &str = "omkijken_changes";

/// The payload is the committing storage's tag (see `PostgresStorage::notification_tag`).
pub(super) const SQL_NOTIFY: &str = "SELECT pg_notify('omkijken_changes', $1)";

pub(super) const SQL_HELD_AMONG: &str = "SELECT doc FROM held WHERE device = $1 AND doc = ANY($2)";

pub(super) const SQL_PURGED_AMONG: &str =
    "SELECT doc FROM held WHERE device = $1 AND doc = ANY($2) AND purged";

pub(super) const SQL_HOLDINGS: &str =
    "SELECT device, doc, purged FROM held WHERE device = ANY($1) AND doc = ANY($2)";

pub(super) const SQL_HOLDERS: &str = "SELECT device, doc, purged FROM held WHERE doc = ANY($1)";

pub(super) const SQL_SCHOOL_GET: &str = "SELECT id, name, created_at FROM schools WHERE id = $1";

pub(super) const SQL_SCHOOLS: &str = "SELECT id, name, created_at FROM schools ORDER BY id";

pub(super) const SQL_DEVICE_BY_TOKEN: &str =
    select!(device_cols, " FROM devices WHERE token_hash = $1");

pub(super) const SQL_DEVICE: &str = select!(device_cols, " FROM devices WHERE id = $1");

pub(super) const SQL_DEVICES: &str = select!(
    device_cols,
    " FROM devices ORDER BY school, user_id, created_at"
);

pub(super) const SQL_AUDIT_PUPIL: &str =
    select!(audit_cols, " FROM audit WHERE pupil = $1 ORDER BY seq");

pub(super) const SQL_AUDIT_STAFF: &str =
    select!(audit_cols, " FROM audit WHERE user_id = $1 ORDER BY seq");

pub(super) const SQL_AUDIT_ALL: &str = select!(audit_cols, " FROM audit ORDER BY seq");

pub(super) const SQL_AUDIT_ACTION: &str =
    select!(audit_cols, " FROM audit WHERE action = $1 ORDER BY seq");

pub(super) const SQL_HOLD_ROWS: &str = select!(
    audit_cols,
    " FROM audit WHERE action IN ('hold', 'release') ORDER BY seq"
);

pub(super) const SQL_AUDIT_COUNTS_BY_DAY: &str = "SELECT action, (at - $1) / 86400000, count(*) \
     FROM audit WHERE at >= $1 GROUP BY 1, 2";

pub(super) const SQL_EVENTS_SINCE: &str =
    "SELECT seq, at, kind, school, device FROM admin_events WHERE seq > $1 ORDER BY seq";

pub(super) const CATALOG_SEQ: &str = "catalog_seq";

pub(super) const ADMIN_EVENT_SEQ: &str = "admin_event_seq";

/// Prepared statements of one connection, by SQL text.
#[derive(Default)]
pub(super) struct Statements(HashMap<&'static str, Statement>);

impl Statements {
    pub(super) fn get(
        &mut self,
        c: &mut impl GenericClient,
        sql: &'static str,
    ) -> Result<Statement> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = c.prepare(sql)?;
        self.0.insert(sql, s.clone());
        Ok(s)
    }
}
