//! Writing: one commit transaction per batch (documents, holdings, audit rows, devices,
//! codes, admin events), each kind of row with one statement over arrays, the audit rows
//! linked into their hash chain, and enrollment as its own transaction.

use super::PostgresStorage;
use super::connect::Fail;
use super::queries::*;
use super::rows::*;
use crate::Result;
use crate::storage::{AuditRecord, Batch, Committed, EnrollOutcome, NewDevice, WriteMode};
use automerge::ChangeHash;
use omkijken_core::DocumentId;
use postgres::{Client, GenericClient, Row};
use std::collections::{HashMap, HashSet};

impl PostgresStorage {
    pub(super) fn commit_once(&mut self, batch: &Batch) -> std::result::Result<Committed, Fail> {
        let tag = self.tag.clone();
        // A commit that takes the writers' locks; in a group they are taken before it runs
        // (see `in_group`), so its audit rows need not lock the chain again.
        let locks = !batch.docs.is_empty()
            || !batch.bump.is_empty()
            || !batch.erase.is_empty()
            || !batch.compact.is_empty()
            || !batch.audit.is_empty();
        let chain_locked = self.group.open && locks;
        self.in_transaction(locks, |tx, st| {
            write_batch(tx, st, batch, &tag, chain_locked)
        })
    }

    /// `f` in a transaction of its own, committed when it returns Ok; inside a group
    /// ([`Storage::begin_group`]) in a savepoint of the group's transaction instead, so a
    /// failed commit undoes itself alone and the group goes on.
    fn in_transaction<T>(
        &mut self,
        locks: bool,
        f: impl FnOnce(&mut Client, &mut Statements) -> std::result::Result<T, Fail>,
    ) -> std::result::Result<T, Fail> {
        if self.group.lost {
            return Err(Fail::Other(crate::Error::GroupLost));
        }
        self.client()?;
        if self.group.open {
            return self.in_group(locks, f);
        }
        self.client.batch_execute("BEGIN")?;
        match f(&mut self.client, &mut self.statements) {
            Ok(t) => {
                if let Some(hook) = self.before_commit.as_mut() {
                    hook();
                }
                self.reached_commit = true;
                self.client.batch_execute("COMMIT")?;
                Ok(t)
            }
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

impl PostgresStorage {
    /// `f` inside the open group. Its transaction begins at its first commit (a group of
    /// reads needs none). The first commit that takes the writers' locks (`locks`: it
    /// writes the catalog, documents or audit rows) takes both, in the order a single commit
    /// takes them (the catalog counter, then the audit chain), and the group holds them to
    /// its end: taking one alone, or in the other order, could deadlock with a single
    /// commit. Commits that take neither (a device's last-seen time, held marks) leave the
    /// other nodes' writers free. Every commit after the first runs in a savepoint, so a
    /// failed one (a stale base, a deadlock victim) undoes itself alone; any other failure
    /// loses the group ([`Group::lost`]).
    fn in_group<T>(
        &mut self,
        locks: bool,
        f: impl FnOnce(&mut Client, &mut Statements) -> std::result::Result<T, Fail>,
    ) -> std::result::Result<T, Fail> {
        let lock = locks && !self.group.locked;
        let take_locks = |c: &mut Client, st: &mut Statements| -> std::result::Result<(), Fail> {
            if lock {
                let q = st.get(c, SQL_LOCK_WRITERS)?;
                c.execute(&q, &[&CATALOG_SEQ, &AUDIT_CHAIN_LOCK])?;
            }
            Ok(())
        };
        if !self.group.begun {
            if let Err(e) = self.client.batch_execute("BEGIN") {
                self.group.lost = true;
                return Err(e.into());
            }
            self.group.begun = true;
            // The first commit needs no savepoint: failing, it takes nothing else with it.
            let r = take_locks(&mut self.client, &mut self.statements)
                .and_then(|()| f(&mut self.client, &mut self.statements));
            return match r {
                Ok(t) => {
                    self.group.locked |= lock;
                    Ok(t)
                }
                Err(e) => {
                    self.group.begun = false;
                    if self.client.batch_execute("ROLLBACK").is_err() {
                        self.group.lost = true;
                    }
                    Err(e)
                }
            };
        }
        if let Err(e) = self.client.batch_execute("SAVEPOINT omkijken_commit") {
            self.group.lost = true;
            return Err(e.into());
        }
        let r = take_locks(&mut self.client, &mut self.statements)
            .and_then(|()| f(&mut self.client, &mut self.statements));
        match r {
            Ok(t) => match self
                .client
                .batch_execute("RELEASE SAVEPOINT omkijken_commit")
            {
                Ok(()) => {
                    self.group.locked |= lock;
                    Ok(t)
                }
                Err(e) => {
                    self.group.lost = true;
                    Err(e.into())
                }
            },
            Err(e) => {
                // Undoes what it wrote and the locks it took.
                if self
                    .client
                    .batch_execute("ROLLBACK TO SAVEPOINT omkijken_commit")
                    .is_err()
                {
                    self.group.lost = true;
                }
                Err(e)
            }
        }
    }
}

/// Write `batch` in the transaction open on `tx` (see the module docs of `postgres`).
fn write_batch(
    tx: &mut Client,
    st: &mut Statements,
    batch: &Batch,
    tag: &str,
    chain_locked: bool,
) -> std::result::Result<Committed, Fail> {
    let n = (batch.docs.len() + batch.bump.len() + batch.erase.len()) as i64;
    // The catalog counter first (see the module docs): its row lock orders committers.
    let (prev, last) = if n > 0 {
        let s = st.get(tx, SQL_ADVANCE_NOTIFY)?;
        let last: i64 = tx.query_one(&s, &[&CATALOG_SEQ, &n, &tag])?.try_get(0)?;
        (last - n, last)
    } else if !batch.compact.is_empty() {
        let s = st.get(tx, SQL_LOCK_COUNTER)?;
        let v: i64 = tx.query_one(&s, &[&CATALOG_SEQ])?.try_get(0)?;
        (v, v)
    } else {
        let s = st.get(tx, SQL_COUNTER)?;
        let v: i64 = tx.query_one(&s, &[&CATALOG_SEQ])?.try_get(0)?;
        (v, v)
    };
    for s in &batch.schools {
        let q = st.get(tx, SQL_SCHOOL)?;
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
        let q = st.get(tx, SQL_BASES)?;
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
        write_docs_bulk(tx, st, &batch.docs, seq)?;
        seq += batch.docs.len() as i64;
    }
    // The same document twice in one batch: row by row, in order.
    for w in batch.docs.iter().filter(|_| distinct != batch.docs.len()) {
        seq += 1;
        let id = w.id.as_bytes().as_slice();
        match w.mode {
            WriteMode::Append => {
                let q = st.get(tx, SQL_INSERT_CHANGE)?;
                tx.execute(&q, &[&id, &w.data])?;
            }
            WriteMode::Snapshot => {
                let q = st.get(tx, SQL_DELETE_CHANGES)?;
                tx.execute(&q, &[&id])?;
                let q = st.get(tx, SQL_UPSERT_SNAPSHOT)?;
                tx.execute(&q, &[&id, &w.data])?;
            }
        }
        let snapshot = w.mode == WriteMode::Snapshot;
        let q = st.get(tx, SQL_UPSERT_CATALOG)?;
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
        let q = st.get(tx, SQL_BULK_BUMP)?;
        tx.execute(&q, &[&ids, &seqs])?;
    }
    for id in &batch.erase {
        seq += 1;
        let id = id.as_bytes().as_slice();
        let q = st.get(tx, SQL_DELETE_CHANGES)?;
        tx.execute(&q, &[&id])?;
        let q = st.get(tx, SQL_DELETE_SNAPSHOT)?;
        tx.execute(&q, &[&id])?;
        let q = st.get(tx, SQL_ERASE)?;
        tx.execute(&q, &[&id, &seq])?;
    }
    debug_assert_eq!(seq, last);
    for (id, chunks, snapshot) in &batch.compact {
        let idb = id.as_bytes().as_slice();
        let q = st.get(tx, SQL_COMPACT)?;
        let n = tx.execute(
            &q,
            &[
                &idb,
                &(snapshot.len() as i64),
                &i32::try_from(*chunks).unwrap_or(i32::MAX),
            ],
        )?;
        if n == 1 {
            let q = st.get(tx, SQL_DELETE_CHANGES)?;
            tx.execute(&q, &[&idb])?;
            let q = st.get(tx, SQL_UPSERT_SNAPSHOT)?;
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
        let q = st.get(tx, sql)?;
        tx.execute(&q, &[&devices, &docs])?;
    }
    if !batch.audit.is_empty() {
        if !chain_locked {
            lock_audit_chain(tx, st)?;
        }
        insert_audit_bulk(tx, st, &batch.audit)?;
    }
    if !batch.events.is_empty() {
        // The admin-event sequence is a cursor too: the same counter scheme.
        let k = batch.events.len() as i64;
        let q = st.get(tx, SQL_ADVANCE)?;
        let last_event: i64 = tx.query_one(&q, &[&ADMIN_EVENT_SEQ, &k])?.try_get(0)?;
        for (i, e) in batch.events.iter().enumerate() {
            let q = st.get(tx, SQL_EVENT)?;
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
        let q = st.get(tx, SQL_CODE)?;
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
        let q = st.get(tx, SQL_REVOKE)?;
        tx.execute(&q, &[device, at])?;
    }
    for (device, at) in &batch.touch {
        let q = st.get(tx, SQL_TOUCH)?;
        tx.execute(&q, &[device, at])?;
    }
    for (device, o) in &batch.outbox {
        let q = st.get(tx, SQL_OUTBOX)?;
        let (pending, not_accepted) = (o.pending as i64, o.not_accepted as i64);
        tx.execute(
            &q,
            &[
                device,
                &pending,
                &not_accepted,
                &o.oldest_at,
                &o.reported_at,
            ],
        )?;
    }
    // Other nodes listen (see `listen_for_changes`); PostgreSQL delivers the
    // notification when, and only if, this transaction commits. One that advanced the
    // catalog sent it with the advance.
    if n == 0 && (!batch.events.is_empty() || !batch.schools.is_empty()) {
        let q = st.get(tx, SQL_NOTIFY)?;
        tx.execute(&q, &[&tag])?;
    }
    Ok(Committed {
        prev_seq: prev as u64,
        last_seq: last as u64,
    })
}

impl PostgresStorage {
    pub(super) fn enroll_once(
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
}

/// Link audit rows just inserted (as the database returned them) to the chain, in
/// sequence order. The caller holds [`AUDIT_CHAIN_LOCK`] since before it inserted them.
fn link_audit(tx: &mut impl GenericClient, st: &mut Statements, inserted: Vec<Row>) -> Result<()> {
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
    let mut prev = crate::storage::chain_prev(prev);
    let mut seqs = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    for r in &rows {
        prev = crate::storage::audit_hash(&prev, r);
        seqs.push(r.seq as i64);
        hashes.push(prev.to_vec());
    }
    let q = st.get(tx, SQL_AUDIT_LINK)?;
    tx.execute(&q, &[&seqs, &hashes])?;
    Ok(())
}

fn lock_audit_chain(tx: &mut impl GenericClient, st: &mut Statements) -> Result<()> {
    let q = st.get(tx, SQL_AUDIT_CHAIN_LOCK)?;
    tx.execute(&q, &[&AUDIT_CHAIN_LOCK])?;
    Ok(())
}

fn insert_audit(tx: &mut impl GenericClient, st: &mut Statements, a: &AuditRecord) -> Result<()> {
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
    tx: &mut impl GenericClient,
    st: &mut Statements,
    docs: &[crate::storage::DocWrite],
    first: i64,
) -> Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let id = |w: &crate::storage::DocWrite| w.id.as_bytes().to_vec();
    // The ids and bytes of the writes of one mode, as two array parameters.
    let of_mode = |mode: WriteMode| -> (Vec<Vec<u8>>, Vec<&[u8]>) {
        docs.iter()
            .filter(|w| w.mode == mode)
            .map(|w| (id(w), w.data.as_slice()))
            .unzip()
    };
    let (ids, data) = of_mode(WriteMode::Snapshot);
    // A document made from nothing (its base checked: not stored, or erased) has no change
    // rows to delete.
    let replaced: Vec<Vec<u8>> = docs
        .iter()
        .filter(|w| w.mode == WriteMode::Snapshot && w.base.as_ref().is_none_or(|b| !b.is_empty()))
        .map(id)
        .collect();
    if !replaced.is_empty() {
        let q = st.get(tx, SQL_BULK_DELETE_CHANGES)?;
        tx.execute(&q, &[&replaced])?;
    }
    if !ids.is_empty() {
        let q = st.get(tx, SQL_BULK_UPSERT_SNAPSHOTS)?;
        tx.execute(&q, &[&ids, &data])?;
    }
    let (ids, data) = of_mode(WriteMode::Append);
    if !ids.is_empty() {
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

/// Insert audit rows and link them into the chain; the caller holds [`AUDIT_CHAIN_LOCK`].
fn insert_audit_bulk(
    tx: &mut impl GenericClient,
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
