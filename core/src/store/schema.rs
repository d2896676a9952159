//! The device store's schema: one place, versioned in `PRAGMA user_version`, each upgrade
//! one arm run inside one IMMEDIATE transaction. Never edit a shipped migration.

use super::sql::CachedSql;
use rusqlite::{Connection, TransactionBehavior};

/// The schema version this build writes.
pub const VERSION: u32 = 6;

/// Migration 1: documents, change chunks, projections, access log.
const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE documents (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    school      TEXT NOT NULL,
    pupil       TEXT,
    author      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    fields      TEXT NOT NULL,
    snapshot    BLOB NOT NULL,
    chunks      INTEGER NOT NULL DEFAULT 0,
    heads       TEXT NOT NULL,
    acked_heads TEXT,
    updated_at  INTEGER NOT NULL,
    valid       INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX documents_kind ON documents(kind);
CREATE TABLE doc_chunks (
    doc_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    pupil       TEXT NOT NULL,
    author      TEXT NOT NULL,
    held_on     TEXT NOT NULL,
    status      TEXT NOT NULL,
    visibility  TEXT NOT NULL,
    template_id TEXT NOT NULL,
    open_agreements INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX conversations_pupil ON conversations(pupil, held_on);
CREATE TABLE signals (
    id          TEXT PRIMARY KEY,
    pupil       TEXT NOT NULL,
    author      TEXT NOT NULL,
    category    TEXT NOT NULL,
    urgency     INTEGER NOT NULL,
    observed_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    shared      INTEGER NOT NULL,
    open        INTEGER NOT NULL,
    picked_up   INTEGER NOT NULL,
    follow_ups  INTEGER NOT NULL
);
CREATE INDEX signals_pupil ON signals(pupil, observed_at);
CREATE INDEX signals_open ON signals(open, urgency);
CREATE TABLE thermometer_entries (
    doc_id      TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    pupil       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    scale       TEXT NOT NULL,
    score       INTEGER NOT NULL,
    level       REAL NOT NULL,
    wants_to_talk INTEGER NOT NULL,
    recorded_by TEXT NOT NULL,
    PRIMARY KEY (doc_id, entry_id)
);
CREATE INDEX thermometer_pupil ON thermometer_entries(pupil, at);
CREATE TABLE access_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user     TEXT NOT NULL,
    doc_id   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0
);
";

/// Migration 2: signals remember their excursion (trip cache wipe); the access log and the
/// outbox find their pending rows by index.
const V2: &str = "
ALTER TABLE signals ADD COLUMN excursion TEXT;
CREATE INDEX signals_excursion ON signals(excursion) WHERE excursion IS NOT NULL;
CREATE INDEX access_log_pending ON access_log(uploaded, id);
CREATE INDEX signals_author ON signals(author);
CREATE INDEX documents_outbox ON documents(updated_at) WHERE acked_heads IS NULL OR acked_heads != heads;
";

/// Migration 3: meldcode cases and excursions.
const V3: &str = "
CREATE TABLE cases (
    id            TEXT PRIMARY KEY,
    pupil         TEXT NOT NULL,
    author        TEXT NOT NULL,
    status        TEXT NOT NULL,
    opened_at     INTEGER NOT NULL,
    step          INTEGER NOT NULL,
    signals       INTEGER NOT NULL,
    feedback_due  TEXT,
    evaluation_on TEXT
);
CREATE INDEX cases_pupil ON cases(pupil, opened_at);
CREATE TABLE excursions (
    id           TEXT PRIMARY KEY,
    author       TEXT NOT NULL,
    name         TEXT NOT NULL,
    starts_on    TEXT NOT NULL,
    ends_on      TEXT NOT NULL,
    participants INTEGER NOT NULL
);
";

/// Migration 4: changes the server refused for good, kept for their author as "not
/// accepted" items (store/not_accepted.rs): the document as the device had it, with the
/// header and access fields to check who may still read it.
const V4: &str = "
CREATE TABLE not_accepted (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    pupil      TEXT,
    header     TEXT NOT NULL,
    fields     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    refused_at INTEGER NOT NULL,
    content    BLOB NOT NULL
);
CREATE INDEX not_accepted_doc ON not_accepted(doc_id);
";

/// Migration 5: oudercontacten (contacts with a pupil's parents).
const V5: &str = "
CREATE TABLE parent_contacts (
    id          TEXT PRIMARY KEY,
    pupil       TEXT NOT NULL,
    author      TEXT NOT NULL,
    held_on     TEXT NOT NULL,
    status      TEXT NOT NULL,
    channel     TEXT NOT NULL,
    open_agreements INTEGER NOT NULL
);
CREATE INDEX parent_contacts_pupil ON parent_contacts(pupil, held_on);
";

/// Migration 6: pupil mode and answered requests to talk: whether the pupil entered a
/// reading herself, and when its request to talk was answered; and the agreements of
/// kindgesprekken not done yet that have a follow-up date (the mentor's agenda). Rows of
/// conversations stored before are written when the conversation next changes or the
/// projections are rebuilt.
const V6: &str = "
ALTER TABLE thermometer_entries ADD COLUMN by_pupil INTEGER NOT NULL DEFAULT 0;
ALTER TABLE thermometer_entries ADD COLUMN answered_on TEXT;
CREATE TABLE agreements_due (
    doc_id       TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    pupil        TEXT NOT NULL,
    owner        TEXT NOT NULL,
    due          TEXT NOT NULL,
    PRIMARY KEY (doc_id, agreement_id)
);
CREATE INDEX agreements_due_on ON agreements_due(due);
";

const MIGRATIONS: [&str; VERSION as usize] = [V1, V2, V3, V4, V5, V6];

/// Read the schema version.
pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row_cached("PRAGMA user_version", [], |r| r.get(0))
}

/// Upgrade `conn` to `target` (at most [`VERSION`]), one transaction for all steps.
pub fn migrate_to(conn: &mut Connection, target: u32) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = version(&tx)?;
    for v in current..target {
        tx.execute_batch(MIGRATIONS[v as usize])?;
    }
    if current < target {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()
}
