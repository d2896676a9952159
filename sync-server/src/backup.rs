//! Backup and restore of the SQLite store of a data directory, and the lock that keeps one
//! server per data directory.
//!
//! - [`backup`] copies the store with SQLite's online backup while the server runs: one
//!   consistent snapshot (a read transaction; WAL lets the server go on writing), encrypted
//!   with the same key when the store is, written beside the target and renamed into place
//!   only when complete and readable.
//! - [`restore`] needs the server stopped (it takes the data-directory lock a running server
//!   holds): it checks the backup (key, schema not newer than this server, readable), keeps
//!   the current store beside it under a `.replaced-<time>` name, and puts the backup in its
//!   place. Devices then give the server back what it acknowledged after the backup: a
//!   device's catalog cursor above the restored store's makes it catch up from the start,
//!   and for each document whose heads it holds beyond the server's, it sends the rest
//!   (docs/protocol.md).
//!
//! The restored store gets a new lineage ([`Storage::renew_epoch`]): devices compare their
//! catalog cursor with it and, on another lineage, catch up from the start and send again
//! what the store lacks. PostgreSQL has its own backup tools (`pg_dump`, base backups);
//! after restoring one, run `omkijken-server admin after-restore` for the same effect.

pub use crate::secure::{LOCK_FILE, lock_data_dir};
use crate::settings::{DB_FILE, Settings};
use crate::storage::{SqliteStorage, Storage};
use crate::{Error, Result};
use automerge::ActorId;
use rusqlite::Connection;
use std::fs::File;
use std::path::{Path, PathBuf};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Documents in the backup (erased ones not counted).
    pub documents: u64,
    /// Size of the backup file.
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Documents in the restored store (erased ones not counted).
    pub documents: u64,
    /// Where the store that was replaced now is (None if there was none).
    pub replaced: Option<PathBuf>,
    /// What was carried over from the replaced store; None if there was none or it did
    /// not open (then devices enrolled or revoked since the backup must be redone).
    pub carried: Option<Carried>,
}

/// Rows a restore carries over from the store it replaces: who may connect, who holds what,
/// and the audit log are not given back by devices, so they are taken from the newer store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// Device rows (enrolled since the backup, or with a revocation or last contact since).
    pub devices: u64,
    /// Enrollment codes issued or spent since the backup.
    pub codes: u64,
    /// Which device may hold which document (so a purge still reaches it when access ends).
    pub holds: u64,
    /// Audit rows written since the backup.
    pub audit: u64,
    /// Erasures made since the backup, applied again to the restored store (its bytes of
    /// those documents overwritten; ids the backup never held recorded as erased, so a device
    /// that still holds one is refused `erased` and purges it).
    pub erasures: u64,
}

/// A backup recorded by [`backup`], as `admin backups` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupListing {
    /// Where it was written (absolute when it could be made so).
    pub path: String,
    /// When (unix ms).
    pub taken_at: i64,
    /// Whether the file is still there.
    pub present: bool,
    /// Documents erased after it was taken: it still holds them. Destroy such a backup
    /// (a restore from it re-applies those erasures all the same, as long as the current
    /// store is there to take them from).
    pub erased_since: u64,
}

/// The backups taken of the store of `settings`, oldest first.
pub fn list_backups(settings: &Settings) -> Result<Vec<BackupListing>> {
    no_postgres(settings)?;
    let (key, _) = settings.store_key(false)?;
    let key = key.as_ref().map(crate::secure::StoreKey::pragma);
    let st = SqliteStorage::open(settings.db_path(), key)?;
    Ok(st
        .backups()?
        .into_iter()
        .map(|(path, taken_at, erased_since)| BackupListing {
            present: Path::new(&path).exists(),
            path,
            taken_at,
            erased_since,
        })
        .collect())
}

fn no_postgres(settings: &Settings) -> Result<()> {
    if settings.database.is_some() {
        return Err(Error::Config(
            "backup and restore are for the embedded SQLite store; back up PostgreSQL with its \
             own tools (pg_dump, base backups)"
                .into(),
        ));
    }
    Ok(())
}

fn partial_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Config("the backup path has no file name".into()))?;
    let mut partial = name.to_os_string();
    partial.push(".partial");
    Ok(path.with_file_name(partial))
}

/// Open a store file for a backup or a check: with the key when there is one; an error if
/// the key does not open it.
fn open_file(path: &Path, key: Option<&str>) -> Result<Connection> {
    omkijken_core::store::ensure_sqlcipher_started()?;
    let conn = Connection::open(path)?;
    if let Some(key) = key {
        conn.pragma_update(None, "key", key)?;
    }
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

/// Documents in a store, after checking that SQLite finds it intact.
fn check_store(conn: &Connection) -> Result<u64> {
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(Error::Corrupt("the store fails SQLite's integrity check"));
    }
    let n: i64 = conn.query_row("SELECT count(*) FROM catalog WHERE erased = 0", [], |r| {
        r.get(0)
    })?;
    Ok(n as u64)
}

/// Make the store file at `path` (open as `conn`) self-contained (no write-ahead log), check
/// it, close it and flush it to disk. Returns its number of documents.
fn settle(conn: Connection, path: &Path) -> Result<u64> {
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    let documents = check_store(&conn)?;
    drop(conn);
    File::open(path)?.sync_all()?;
    Ok(documents)
}

/// Remove a store file that is not (or no longer) wanted, with its journal files.
fn remove_store_files(path: &Path) {
    for f in [
        path.to_path_buf(),
        with_suffix(path, "-wal"),
        with_suffix(path, "-shm"),
        with_suffix(path, "-journal"),
    ] {
        let _ = std::fs::remove_file(f);
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Back up the store of `settings` (its data directory, encrypted with the store's key) to
/// `to`, which must not exist yet and not be in the key file's directory. Works while the
/// server runs.
pub fn backup(settings: &Settings, to: &Path) -> Result<BackupReport> {
    // The console runs a backup on a worker thread: a process that exits meanwhile waits.
    let _cipher = omkijken_core::store::cipher_in_use()?;
    no_postgres(settings)?;
    let from = settings.db_path();
    if !from.exists() {
        return Err(Error::Config("the data directory holds no store".into()));
    }
    if to.exists() {
        return Err(Error::Config(
            "the backup file exists already; give a new name".into(),
        ));
    }
    let (key, source) = settings.store_key(false)?;
    if let crate::secure::KeySource::File(key_file) = &source {
        beside_key_check(to, key_file)?;
    }
    let key = key.as_ref().map(crate::secure::StoreKey::pragma);
    // Opening also migrates: the backup is always of this server's schema.
    let source = SqliteStorage::open(&from, key)?;
    let partial = partial_path(to)?;
    remove_store_files(&partial);
    let mut held_seq = 0i64;
    let written = (|| -> Result<u64> {
        // Private from the start, whatever the umask of the admin's shell.
        crate::secure::touch_private(&partial)?;
        let mut out = open_file(&partial, key)?;
        {
            use rusqlite::backup::{Backup, StepResult};
            let backup = Backup::new(source.connection(), &mut out)?;
            // All pages in one step: one read transaction, so one consistent snapshot. Busy
            // (a writer holds a lock for a moment): try again, for up to a minute.
            let mut waited = 0;
            loop {
                match backup.step(-1)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked if waited < 600 => {
                        waited += 1;
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    _ => {
                        return Err(Error::Config(
                            "the store stayed locked for a minute; try again".into(),
                        ));
                    }
                }
            }
        }
        held_seq = out.query_row(
            "SELECT value FROM meta WHERE key = 'catalog_seq'",
            [],
            |r| r.get(0),
        )?;
        settle(out, &partial)
    })();
    let documents = match written {
        Ok(n) => n,
        Err(e) => {
            remove_store_files(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, to)?;
    sync_dir(parent(to))?;
    let bytes = std::fs::metadata(to)?.len();
    let listed = std::path::absolute(to).unwrap_or_else(|_| to.to_path_buf());
    source.record_backup(
        &listed.to_string_lossy(),
        jiff::Timestamp::now().as_millisecond(),
        held_seq,
    )?;
    tracing::info!(documents, bytes, "backup written");
    Ok(BackupReport { documents, bytes })
}

/// Replace the store of `settings` with the backup `from` (made by [`backup`]). The server
/// must be stopped. The current store is kept beside it, renamed.
pub fn restore(settings: &Settings, from: &Path) -> Result<RestoreReport> {
    no_postgres(settings)?;
    if !from.is_file() {
        return Err(Error::Config("the backup file does not exist".into()));
    }
    let dir = &settings.data_dir;
    let _lock = lock_data_dir(dir)?;
    let (key, _) = settings.store_key(false)?;
    let key = key.as_ref().map(crate::secure::StoreKey::pragma);
    let store = settings.db_path();
    let staged = dir.join(format!("{DB_FILE}.restoring"));
    remove_store_files(&staged);
    crate::secure::touch_private(&staged)?;
    std::fs::copy(from, &staged)?;
    // `copy` gives the copy the backup's mode.
    crate::secure::make_private(&staged)?;
    // Check it as this server would open it: the key, a schema not newer than ours (an
    // older one is migrated), intact.
    let staged_ok = (|| -> Result<u64> {
        // A new lineage: devices' cursors of the replaced store say nothing about this one.
        SqliteStorage::open(&staged, key)?.renew_epoch()?;
        settle(open_file(&staged, key)?, &staged)
    })();
    let documents = match staged_ok {
        Ok(n) => n,
        Err(e) => {
            remove_store_files(&staged);
            return Err(e);
        }
    };
    // Devices, codes, holds and audit rows since the backup come from the current store.
    let carried = if store.exists() {
        match carry_over(&staged, &store, key) {
            Ok(c) => {
                // The pupils' counts of erasures, which her thermometer months' ids follow.
                let counts = (|| -> Result<usize> {
                    let mut from = SqliteStorage::open(&store, key)?;
                    let mut to = SqliteStorage::open(&staged, key)?;
                    let now = jiff::Timestamp::now().as_millisecond();
                    crate::admin::keep_erasure_counts(&mut from, &mut to, &ActorId::random(), now)
                })();
                if let Err(e) = counts {
                    remove_store_files(&staged);
                    return Err(e);
                }
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the replaced store did not open: nothing carried over");
                None
            }
        }
    } else {
        None
    };
    // Keep the current store, with its write-ahead log (committed data may still be in
    // it), under one new name.
    let replaced = if store.exists() {
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let kept = dir.join(format!("{DB_FILE}.replaced-{stamp}"));
        for suffix in ["-wal", "-shm"] {
            let f = with_suffix(&store, suffix);
            if f.exists() {
                std::fs::rename(&f, with_suffix(&kept, suffix))?;
            }
        }
        std::fs::rename(&store, &kept)?;
        Some(kept)
    } else {
        None
    };
    std::fs::rename(&staged, &store)?;
    sync_dir(dir)?;
    tracing::info!(documents, "store restored from a backup");
    Ok(RestoreReport {
        documents,
        replaced,
        carried,
    })
}

/// Copy into the staged backup what devices cannot give back, from the store it replaces:
/// device rows (the newer row wins: a revocation made after the backup stays), enrollment
/// codes, holds, and audit rows with a sequence beyond the backup's. One transaction.
fn carry_over(staged: &Path, current: &Path, key: Option<&str>) -> Result<Carried> {
    // Opened as the server would: the key checked, the schema brought to this version.
    drop(SqliteStorage::open(current, key)?);
    let mut conn = open_file(staged, key)?;
    let path = current
        .to_str()
        .ok_or_else(|| Error::Config("the data directory's path is not UTF-8".into()))?;
    conn.execute(
        "ATTACH DATABASE ?1 AS current KEY ?2",
        rusqlite::params![path, key.unwrap_or("")],
    )?;
    // What the re-applied erasures delete is overwritten, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let tx = conn.transaction()?;
    let devices = tx.execute(
        "INSERT OR REPLACE INTO main.devices SELECT * FROM current.devices",
        [],
    )? as u64;
    let codes = tx.execute(
        "INSERT OR REPLACE INTO main.enrollment_codes SELECT * FROM current.enrollment_codes",
        [],
    )? as u64;
    let holds = tx.execute(
        "INSERT OR REPLACE INTO main.held (device, doc, purged) \
         SELECT device, doc, purged FROM current.held",
        [],
    )? as u64;
    let audit = tx.execute(
        "INSERT OR IGNORE INTO main.audit SELECT * FROM current.audit \
         WHERE seq > (SELECT coalesce(max(seq), 0) FROM main.audit)",
        [],
    )? as u64;
    tx.execute(
        "INSERT INTO main.backups SELECT * FROM current.backups \
         WHERE (path, taken_at) NOT IN (SELECT path, taken_at FROM main.backups)",
        [],
    )?;
    let erasures = reapply_erasures(&tx)?;
    tx.commit()?;
    conn.execute("DETACH DATABASE current", [])?;
    Ok(Carried {
        devices,
        codes,
        holds,
        audit,
        erasures,
    })
}

/// Erase in the staged store (`main`) every document the replaced store (`current`) has
/// erased and it has not: an erasure outlives a restore. A document the backup never held
/// gets an erased catalog row (header only), so the id stays refused. Each gets a new
/// catalog sequence, so devices catching up list it as erased and purge it.
fn reapply_erasures(tx: &rusqlite::Transaction<'_>) -> Result<u64> {
    let ids: Vec<Vec<u8>> = tx
        .prepare(
            "SELECT c.id FROM current.catalog c WHERE c.erased = 1 AND NOT EXISTS \
             (SELECT 1 FROM main.catalog m WHERE m.id = c.id AND m.erased = 1)",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut seq: i64 = tx.query_row(
        "SELECT value FROM main.meta WHERE key = 'catalog_seq'",
        [],
        |r| r.get(0),
    )?;
    for id in &ids {
        seq += 1;
        tx.execute(
            "INSERT OR IGNORE INTO main.catalog (id, school, kind, pupil, author, created_at, \
             schema, heads, seq, content_seq, size, chunks, erased) \
             SELECT id, school, kind, pupil, author, created_at, schema, x'', ?2, ?2, 0, 0, 1 \
             FROM current.catalog WHERE id = ?1",
            rusqlite::params![id, seq],
        )?;
        crate::storage::sqlite::erase_row(tx, "main", id, seq)?;
    }
    tx.execute(
        "UPDATE main.meta SET value = ?1 WHERE key = 'catalog_seq'",
        [seq],
    )?;
    Ok(ids.len() as u64)
}

/// What a key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateReport {
    /// Documents in the store (erased ones not counted).
    pub documents: u64,
    /// The key file that now holds the new key.
    pub key_file: PathBuf,
    /// Where the old key came from.
    pub old: crate::secure::KeySource,
}

/// Encrypt the store of `settings` with a new random key, written to its key file (the
/// server must be stopped). The store is copied into a new file under the new key
/// (`sqlcipher_export`), checked, and put in place of the old one; then the key file is
/// replaced. A store opened with `--plain-store` is encrypted this way. Backups made
/// before still need the old key.
pub fn rotate_key(settings: &Settings) -> Result<RotateReport> {
    use crate::secure::{StoreKey, touch_private, write_key_file};
    no_postgres(settings)?;
    let dir = &settings.data_dir;
    let _lock = lock_data_dir(dir)?;
    let store = settings.db_path();
    if !crate::secure::has_content(&store) {
        return Err(Error::Config("the data directory holds no store".into()));
    }
    let (old_key, old) = settings.store_key(false)?;
    let old_key = old_key.as_ref().map(StoreKey::pragma);
    let new_key = StoreKey::random();
    let key_file = settings.key_file_path();
    let staged = dir.join(format!("{DB_FILE}.rotating"));
    remove_store_files(&staged);
    let exported = (|| -> Result<u64> {
        // Opened as the server would: the key checked, the schema brought to this version.
        drop(SqliteStorage::open(&store, old_key)?);
        let conn = open_file(&store, old_key)?;
        touch_private(&staged)?;
        let path = staged
            .to_str()
            .ok_or_else(|| Error::Config("the data directory's path is not UTF-8".into()))?;
        conn.execute(
            "ATTACH DATABASE ?1 AS rotated KEY ?2",
            rusqlite::params![path, new_key.pragma()],
        )?;
        let _: rusqlite::types::Value =
            conn.query_row("SELECT sqlcipher_export('rotated')", [], |r| r.get(0))?;
        let version: u32 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
        conn.pragma_update(Some("rotated"), "user_version", version)?;
        conn.execute("DETACH DATABASE rotated", [])?;
        drop(conn);
        settle(open_file(&staged, Some(new_key.pragma()))?, &staged)
    })();
    let documents = match exported {
        Ok(n) => n,
        Err(e) => {
            remove_store_files(&staged);
            return Err(e);
        }
    };
    // The new key first, beside the old one: a crash between the two renames below leaves
    // a store that the pending key opens (the next start finishes the swap, see
    // `Settings::open_storage`).
    let pending = with_suffix(&key_file, ".new");
    let _ = std::fs::remove_file(&pending);
    write_key_file(&pending, &new_key)?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&store, suffix));
    }
    std::fs::rename(&staged, &store)?;
    sync_dir(dir)?;
    std::fs::rename(&pending, &key_file)?;
    sync_dir(parent(&key_file))?;
    tracing::info!(documents, "store key rotated");
    Ok(RotateReport {
        documents,
        key_file,
        old,
    })
}

/// A backup written into the directory of the key file that opens it protects nothing
/// once that directory is copied or stolen: refused.
fn beside_key_check(to: &Path, key_file: &Path) -> Result<()> {
    let key_dir = parent(key_file).canonicalize()?;
    let to_dir = parent(to).canonicalize()?;
    if key_dir == to_dir {
        return Err(Error::Config(format!(
            "the backup would lie beside the store key ({}); write it to another directory \
             (or keep the key elsewhere with --key-file)",
            key_file.display()
        )));
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}
