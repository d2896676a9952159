//! Secure defaults of the embedded store: a private data directory, private files, and the
//! store key.
//!
//! - The data directory is created `0700`; a server refuses a directory that its group or
//!   others may enter (as PostgreSQL does), naming the `chmod` that fixes it.
//! - Every file the server writes there (store, write-ahead log, lock, key, backups made by
//!   `admin backup`) is created `0600`, whatever the umask; the binary also sets the umask
//!   to `077` at start ([`harden_process`]) for anything SQLite creates on its own.
//! - The SQLite store is encrypted (SQLCipher) by default. The key comes from
//!   `OMKIJKEN_DB_KEY` (a passphrase), else a key file (`--key-file`, default
//!   `DATA/omkijken.key`). With neither, the first start creates a random 256-bit key file
//!   (`0600`) and says so once in the log. A plain store needs `--plain-store`.
//!
//! A key file holds 64 hex digits (a raw 256-bit key, used as it is: no key derivation on
//! each open), or else a passphrase (an `OMKIJKEN_DB_KEY` moved into a file).

use crate::{Error, Result};
use rand::RngCore;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Default name of the store key file, inside the data directory.
pub const KEY_FILE: &str = "omkijken.key";

/// Bits of a mode that let the group or others in.
const NOT_PRIVATE: u32 = 0o077;

/// What [`harden_process`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessLimits {
    /// The soft limit of open files, after raising it (None: unlimited or unknown).
    pub open_files: Option<u64>,
}

/// For the server binary, at start: umask `077` (files and directories anything in the
/// process creates are private), and the soft limit of open files raised to the hard
/// limit (the connection caps are set from it, see `net`).
pub fn harden_process() -> ProcessLimits {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
    ProcessLimits {
        open_files: raise_open_files_limit(),
    }
}

/// Raise the soft limit of open files to the hard limit; returns the soft limit now in
/// force (None: unlimited, or not known on this platform).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut lim = getrlimit(Resource::Nofile);
        if lim.current != lim.maximum {
            let raised = rustix::process::Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => lim = raised,
                Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
            }
        }
        lim.current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The soft limit of open files now in force (None: unlimited or unknown).
pub fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

/// Create `dir` (and missing parents) private (`0700`); an existing one must be private
/// already: else an error that says how to fix it.
pub fn private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            return Ok(());
        }
        let meta = std::fs::metadata(dir)?;
        if !meta.is_dir() {
            return Err(Error::Config(format!(
                "the data directory {} is not a directory",
                dir.display()
            )));
        }
        let mode = mode_of(&meta);
        if mode & NOT_PRIVATE != 0 {
            return Err(Error::Config(format!(
                "the data directory {} may be entered by its group or others (mode {mode:04o}); \
                 it holds care notes about children. Make it private with: chmod 700 {}",
                dir.display(),
                dir.display()
            )));
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)?;
        Ok(())
    }
}

/// Open options that create a file `0600` (whatever the umask).
pub fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Make an existing file `0600` if its group or others may read or write it (a file an
/// older version wrote, a copied backup).
pub fn make_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)?;
        if mode_of(&meta) & NOT_PRIVATE != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Create the empty file `path` with mode `0600` unless it exists (so that SQLite, which
/// gives its write-ahead log the mode of the store, opens a private file).
pub fn touch_private(path: &Path) -> Result<()> {
    match private_options().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Make the server's own files in `dir` (named `omkijken.*`) private: stores, logs, the
/// lock, replaced stores. Run at start; files written by an older version were `0644`.
/// Key files are left alone: one that others could read is refused (see
/// [`read_key_file`]), not quietly fixed.
pub fn tighten_files(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let key = name.starts_with(KEY_FILE);
        if entry.file_type()?.is_file() && name.starts_with("omkijken.") && !key {
            let path = entry.path();
            #[cfg(unix)]
            if mode_of(&entry.metadata()?) & NOT_PRIVATE != 0 {
                tracing::warn!(file = %path.display(), "made a file of the data directory private (0600)");
            }
            make_private(&path)?;
        }
    }
    Ok(())
}

/// Whether `path` is an unencrypted SQLite file (SQLCipher files start with random salt).
pub fn is_plain_sqlite(path: &Path) -> bool {
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head == b"SQLite format 3\0"
}

/// Whether `path` is a store with content (not missing, not an empty file left by a start
/// that stopped before writing).
pub fn has_content(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Where the store key came from (for messages; never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--plain-store`: no key, an unencrypted store.
    Plain,
    /// `OMKIJKEN_DB_KEY`.
    Environment,
    /// A key file.
    File(PathBuf),
}

/// A store key as SQLCipher takes it (`PRAGMA key`). Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey(String);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(<hidden>)")
    }
}

impl StoreKey {
    /// A passphrase (SQLCipher derives the key from it).
    pub fn passphrase(p: impl Into<String>) -> StoreKey {
        StoreKey(p.into())
    }

    /// A new random 256-bit raw key.
    pub fn random() -> StoreKey {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        StoreKey::raw_hex(&hex::encode(k))
    }

    fn raw_hex(hex: &str) -> StoreKey {
        StoreKey(format!("x'{hex}'"))
    }

    /// The value for `PRAGMA key` / `ATTACH ... KEY`.
    pub fn pragma(&self) -> &str {
        &self.0
    }

    /// What a key file holds for this key.
    fn file_text(&self) -> String {
        match self.0.strip_prefix("x'").and_then(|s| s.strip_suffix('\'')) {
            Some(hex) => format!("{hex}\n"),
            None => format!("{}\n", self.0),
        }
    }
}

/// Read a key file: it must be private (`0600` or stricter) and not empty.
pub fn read_key_file(path: &Path) -> Result<StoreKey> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        let mode = mode_of(&meta);
        if mode & NOT_PRIVATE != 0 {
            return Err(Error::Config(format!(
                "the store key file {} may be read by its group or others (mode {mode:04o}); \
                 make it private with: chmod 600 {}",
                path.display(),
                path.display()
            )));
        }
    }
    if meta.len() > 4096 {
        return Err(Error::Config(format!(
            "the store key file {} is too large to be a key",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|_| {
        Error::Config(format!(
            "the store key file {} is not readable text",
            path.display()
        ))
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Config(format!(
            "the store key file {} is empty",
            path.display()
        )));
    }
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(StoreKey::raw_hex(text))
    } else {
        Ok(StoreKey::passphrase(text))
    }
}

/// Write `key` to a new key file at `path` (`0600`, flushed to disk). An existing file is
/// never overwritten.
pub fn write_key_file(path: &Path, key: &StoreKey) -> Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !dir.exists()
    {
        private_dir(dir)?;
    }
    let mut f = private_options().write(true).create_new(true).open(path)?;
    f.write_all(key.file_text().as_bytes())?;
    f.sync_all()?;
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// What a store's settings say about its key.
#[derive(Debug, Clone)]
pub struct KeySettings<'a> {
    /// The store file.
    pub store: &'a Path,
    /// `OMKIJKEN_DB_KEY`.
    pub env_key: Option<&'a str>,
    /// The key file (the default one when none was given).
    pub key_file: &'a Path,
    /// `--plain-store`.
    pub plain: bool,
}

/// The key of the store: `--plain-store` gives none; else `OMKIJKEN_DB_KEY`; else the key
/// file. With none of them and no store yet, `create` makes a random key file (and logs
/// that once); an existing store without its key is an error that says what to do.
pub fn store_key(s: &KeySettings<'_>, create: bool) -> Result<(Option<StoreKey>, KeySource)> {
    if s.plain {
        if s.env_key.is_some() {
            return Err(Error::Config(
                "--plain-store and OMKIJKEN_DB_KEY exclude each other".into(),
            ));
        }
        if has_content(s.store) && !is_plain_sqlite(s.store) {
            return Err(Error::Config(format!(
                "--plain-store was given but the store {} is encrypted: start without it",
                s.store.display()
            )));
        }
        return Ok((None, KeySource::Plain));
    }
    if let Some(k) = s.env_key {
        return Ok((Some(StoreKey::passphrase(k)), KeySource::Environment));
    }
    let path = s.key_file;
    if path.exists() {
        let key = read_key_file(path)?;
        return Ok((Some(key), KeySource::File(path.to_path_buf())));
    }
    if has_content(s.store) {
        return Err(if is_plain_sqlite(s.store) {
            Error::Config(format!(
                "the store {} is not encrypted (written by an older version, or with \
                 --plain-store). Encrypt it, with the server stopped: omkijken-server admin \
                 --data DIR --plain-store rotate-key; or keep it plain: serve --plain-store",
                s.store.display()
            ))
        } else {
            Error::Config(format!(
                "the store {} is encrypted but its key file {} is missing: put the key file \
                 back (or set OMKIJKEN_DB_KEY, or --key-file)",
                s.store.display(),
                path.display()
            ))
        });
    }
    if !create {
        return Err(Error::Config(format!(
            "no store key: the key file {} is missing and OMKIJKEN_DB_KEY is not set",
            path.display()
        )));
    }
    let key = StoreKey::random();
    match write_key_file(path, &key) {
        Ok(()) => {
            tracing::warn!(
                key_file = %path.display(),
                "created a new random key for the store (encrypted at rest). Keep a copy of \
                 this file in a safe place apart from the backups: without it no backup can be \
                 read, and with it anyone holding a backup can read it"
            );
            Ok((Some(key), KeySource::File(path.to_path_buf())))
        }
        // Another process (the admin CLI, a second start) made it a moment ago.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((
            Some(read_key_file(path)?),
            KeySource::File(path.to_path_buf()),
        )),
        Err(e) => Err(e),
    }
}

/// Open the SQLite store at `path` with `key`; a key that does not open it is an error
/// that names where the key came from (never the key).
pub fn open_sqlite(
    path: &Path,
    key: Option<&StoreKey>,
    source: &KeySource,
) -> Result<crate::storage::SqliteStorage> {
    match crate::storage::SqliteStorage::open(path, key.map(StoreKey::pragma)) {
        Err(Error::Sqlite(e))
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) =>
        {
            let from = match source {
                KeySource::Plain => "--plain-store (no key)".to_string(),
                KeySource::Environment => "OMKIJKEN_DB_KEY".to_string(),
                KeySource::File(f) => format!("the key file {}", f.display()),
            };
            Err(Error::Config(format!(
                "{from} does not open the store {} (another key, or not a store)",
                path.display()
            )))
        }
        r => r,
    }
}

/// The lock file of a data directory, held by a running server.
pub const LOCK_FILE: &str = "omkijken.lock";

/// Take the data directory's lock for as long as the returned file is open. A second
/// server on the same directory (two processes writing one store, each with its own idea
/// of sequences and caches) is refused, and so is a restore while a server runs.
pub fn lock_data_dir(dir: &Path) -> Result<File> {
    private_dir(dir)?;
    let file = private_options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Config(
            "another omkijken-server is running on this data directory".into(),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_round_trips_and_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = StoreKey::random();
        write_key_file(&path, &key).unwrap();
        assert_eq!(read_key_file(&path).unwrap(), key);
        assert!(key.pragma().starts_with("x'") && key.pragma().len() == 67);
        assert!(write_key_file(&path, &key).is_err(), "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = read_key_file(&path).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
        assert!(!format!("{key:?}").contains(&key.pragma()[2..10]));
    }

    #[test]
    fn a_passphrase_in_a_key_file_is_a_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_key_file(&path, &StoreKey::passphrase("correct horse battery")).unwrap();
        assert_eq!(
            read_key_file(&path).unwrap(),
            StoreKey::passphrase("correct horse battery")
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_open_data_directory_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        private_dir(&data).unwrap();
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
        let e = private_dir(&data).unwrap_err().to_string();
        assert!(e.contains("chmod 700") && e.contains("0750"), "{e}");
    }
}
