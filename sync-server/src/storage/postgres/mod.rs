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

mod commit;
mod connect;
mod listen;
mod queries;
mod rows;
mod schema;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use connect::{DbTls, is_loopback, secure_default};
pub use schema::SCHEMA_VERSION;

use super::{
    AdminAccount, AdminEvent, AuditAction, AuditFilter, AuditRecord, Batch, CatalogHeld,
    CatalogRow, Committed, Device, EnrollOutcome, Holding, NewDevice, School, Storage, StoredDoc,
};
use crate::{Error, Result};
use connect::{Fail, RETRIES, retryable};
use omkijken_core::DocumentId;
use postgres::types::ToSql;
use postgres::{Client, Row};
use queries::*;
use rows::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

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
    /// The group commit in progress, if any.
    group: Group,
    /// The payload of this storage's change notifications (random, per storage): its own
    /// node's listener passes over them.
    tag: String,
}

/// A group commit ([`Storage::begin_group`]): one transaction over the commits of many
/// frames, each commit in a savepoint of it.
#[derive(Default)]
struct Group {
    /// A group is open (begun by [`Storage::begin_group`]).
    open: bool,
    /// Its transaction began (at its first commit: a group of reads needs none).
    begun: bool,
    /// It holds the writers' locks (from its first commit that writes the catalog,
    /// documents or audit rows).
    locked: bool,
    /// A statement of its transaction failed outside a savepoint, or its connection broke:
    /// nothing of it can be stored; every commit until its end fails.
    lost: bool,
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
            group: Group::default(),
            tag: format!("{:016x}", rand::random::<u64>()),
        };
        s.migrate()?;
        Ok(s)
    }

    /// For tests: call `hook` inside every commit transaction after its sequences were
    /// taken, just before it commits (to hold a transaction open while another commits).
    #[doc(hidden)]
    pub fn set_before_commit(&mut self, hook: Option<Box<dyn FnMut() + Send>>) {
        self.before_commit = hook;
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
            // A failed statement aborts a group's transaction: none of it can be stored.
            Err(e) => {
                self.group.lost |= self.group.open;
                Err(e)
            }
            r => r,
        }
    }

    /// Every row of a query, each read by `read`, collected (into a Vec, a set).
    fn read_all<T, C: FromIterator<T>>(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        read: impl Fn(&Row) -> Result<T>,
    ) -> Result<C> {
        self.query(sql, params)?.iter().map(read).collect()
    }

    /// The row of a query that finds one at the most, read by `read`.
    fn read_one<T>(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        read: impl Fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        self.query_opt(sql, params)?.as_ref().map(read).transpose()
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

    fn catalog_rows(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<CatalogRow>> {
        self.read_all(sql, params, catalog_row)
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
        self.read_all(sql, &[&device, &ids], |r| id_from(r.try_get(0)?))
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

/// What each device holds, from held rows (device, doc, purged).
fn held_rows(rows: Vec<Row>) -> Result<HashMap<String, Holding>> {
    let mut out = HashMap::new();
    for r in &rows {
        crate::storage::rows::add_held(&mut out, r)?;
    }
    Ok(out)
}

impl Storage for PostgresStorage {
    fn commit(&mut self, batch: Batch) -> Result<Committed> {
        self.retry(|s| s.commit_once(&batch))
    }

    fn begin_group(&mut self) -> Result<()> {
        if self.group.open {
            return Ok(());
        }
        self.client()?;
        self.group = Group {
            open: true,
            ..Group::default()
        };
        Ok(())
    }

    fn end_group(&mut self) -> Result<()> {
        let group = std::mem::take(&mut self.group);
        if !group.open {
            return Ok(());
        }
        if group.lost {
            // What the group wrote is gone: its transaction was aborted (PostgreSQL would
            // answer COMMIT with a rollback, not an error) or its connection lost.
            let _ = self.client.batch_execute("ROLLBACK");
            return Err(Error::GroupLost);
        }
        if !group.begun {
            return Ok(());
        }
        if let Some(hook) = self.before_commit.as_mut() {
            hook();
        }
        // On an error PostgreSQL rolls the transaction back (or the connection is gone with
        // it): none of the group is stored.
        self.client.batch_execute("COMMIT")?;
        Ok(())
    }

    fn catalog_get(&mut self, ids: &[DocumentId]) -> Result<Vec<CatalogRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        self.catalog_rows(SQL_CATALOG_GET, &[&ids])
    }

    fn catalog_since(&mut self, school: &str, after: u64, device: &str) -> Result<CatalogHeld> {
        self.read_all(
            SQL_CATALOG_SINCE,
            &[
                &school,
                &(after as i64),
                &device,
                &(super::CATALOG_PAGE as i64),
            ],
            |r| Ok((catalog_row(r)?, r.try_get::<_, bool>(17)?)),
        )
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
        if devices.is_empty() || ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        held_rows(self.query(SQL_HOLDINGS, &[&devices, &ids])?)
    }

    fn holders(&mut self, ids: &[DocumentId]) -> Result<HashMap<String, Holding>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<&[u8]> = ids.iter().map(|i| i.as_bytes().as_slice()).collect();
        held_rows(self.query(SQL_HOLDERS, &[&ids])?)
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
        self.read_one(SQL_SCHOOL_GET, &[&id], school_row)
    }

    fn schools(&mut self) -> Result<Vec<School>> {
        self.read_all(SQL_SCHOOLS, &[], school_row)
    }

    fn enroll(&mut self, code_hash: &[u8; 32], now: i64, new: &NewDevice) -> Result<EnrollOutcome> {
        self.retry(|s| s.enroll_once(code_hash, now, new))
    }

    fn device_by_token(&mut self, token_hash: &[u8; 32]) -> Result<Option<Device>> {
        self.read_one(SQL_DEVICE_BY_TOKEN, &[&token_hash.as_slice()], device_row)
    }

    fn device(&mut self, id: &str) -> Result<Option<Device>> {
        self.read_one(SQL_DEVICE, &[&id], device_row)
    }

    fn devices(&mut self) -> Result<Vec<Device>> {
        self.read_all(SQL_DEVICES, &[], device_row)
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

    fn hold_rows(&mut self) -> Result<Vec<AuditRecord>> {
        let rows = self.query(SQL_HOLD_ROWS, &[])?;
        rows.iter().map(audit_row).collect()
    }

    fn audit_counts_by_day(&mut self, since: i64) -> Result<Vec<(AuditAction, i64, u64)>> {
        self.read_all(
            SQL_AUDIT_COUNTS_BY_DAY,
            &[&since],
            crate::storage::rows::audit_count_row,
        )
    }

    fn audit_page(
        &mut self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(AuditRecord, Option<Vec<u8>>)>> {
        self.read_all(SQL_AUDIT_PAGE, &[&(after as i64), &(limit as i64)], |r| {
            Ok((audit_row(r)?, r.try_get::<_, Option<Vec<u8>>>(11)?))
        })
    }

    fn admin_events_since(&mut self, after: u64) -> Result<Vec<AdminEvent>> {
        self.read_all(
            SQL_EVENTS_SINCE,
            &[&(after as i64)],
            crate::storage::rows::admin_event_row,
        )
    }

    fn last_admin_event(&mut self) -> Result<u64> {
        self.counter(ADMIN_EVENT_SEQ)
    }

    fn last_seqs(&mut self) -> Result<(u64, u64)> {
        let (mut catalog, mut events) = (None, None);
        for r in self.query(SQL_COUNTERS, &[&[CATALOG_SEQ, ADMIN_EVENT_SEQ].as_slice()])? {
            let value = r.try_get::<_, i64>(1)? as u64;
            match r.try_get::<_, &str>(0)? {
                CATALOG_SEQ => catalog = Some(value),
                _ => events = Some(value),
            }
        }
        Ok((
            catalog.ok_or(Error::Corrupt("counter"))?,
            events.ok_or(Error::Corrupt("counter"))?,
        ))
    }

    fn notification_tag(&self) -> Option<&str> {
        Some(&self.tag)
    }

    fn admin_account(&mut self, name: &str) -> Result<Option<AdminAccount>> {
        self.read_one(
            "SELECT name, role, password_hash, created_at, disabled FROM admin_accounts \
             WHERE name = $1",
            &[&name],
            admin_account_row,
        )
    }

    fn admin_accounts(&mut self) -> Result<Vec<AdminAccount>> {
        self.read_all(
            "SELECT name, role, password_hash, created_at, disabled FROM admin_accounts \
             ORDER BY name",
            &[],
            admin_account_row,
        )
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
