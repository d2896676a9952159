//! Opening a store: the key (a raw SQLCipher key from the platform's random key), SQLCipher's
//! start-up, the connection settings, and the checks before a store is handed out.

use super::sql::CachedSql;
use super::{Inner, Store, StoreOptions, meta_get, meta_set, schema};
use crate::error::OpenError;
use automerge::ActorId;
use rand::{RngCore, SeedableRng};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

impl Store {
    /// Open (or create) the store at `path` with the encryption key from the platform
    /// keystore. A wrong key is an error; the file is never deleted or rewritten.
    pub fn open(path: impl AsRef<Path>, key: &[u8]) -> std::result::Result<Store, OpenError> {
        Self::open_with(path, key, StoreOptions::default())
    }

    /// Open with a clock and seed (tests, simulation).
    pub fn open_with(
        path: impl AsRef<Path>,
        key: &[u8],
        options: StoreOptions,
    ) -> std::result::Result<Store, OpenError> {
        let path = path.as_ref().to_path_buf();
        let raw_key = raw_key(key)?;
        let mut writer = open_connection(&path, &raw_key)?;
        let found = schema::version(&writer)?;
        if found > schema::VERSION {
            return Err(OpenError::TooNew {
                found,
                supported: schema::VERSION,
            });
        }
        schema::migrate_to(&mut writer, schema::VERSION)?;
        // A seeded store (simulation) must not repeat its ids after a reopen: mix in how
        // often this file was opened.
        let opens: u64 = meta_get(&writer, "opens")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            + 1;
        meta_set(&writer, "opens", &opens.to_string())?;
        let mut rng = match options.seed {
            Some(s) => {
                rand::rngs::StdRng::seed_from_u64(s ^ opens.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }
            None => rand::rngs::StdRng::from_os_rng(),
        };
        let actor = match meta_get(&writer, "actor")? {
            Some(hex_actor) => {
                ActorId::from(hex::decode(hex_actor).map_err(|_| OpenError::WrongKeyOrNotAStore)?)
            }
            None => {
                let mut b = [0u8; 16];
                rng.fill_bytes(&mut b);
                let actor = ActorId::from(b);
                meta_set(&writer, "actor", &hex::encode(actor.to_bytes()))?;
                actor
            }
        };
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                raw_key,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                clock: options.clock,
                rng: Mutex::new(rng),
                actor,
                roster_cache: RwLock::new(None),
                identity_cache: RwLock::new(None),
                listeners: Mutex::new(Vec::new()),
                next_listener: AtomicU64::new(1),
                wiped: AtomicBool::new(false),
                opens: opens as u32,
                epoch: std::sync::atomic::AtomicU32::new(0),
                #[cfg(feature = "transport")]
                sessions: Default::default(),
            }),
        })
    }
}

/// SQLCipher raw key from the caller's key bytes: the key from the platform keystore is
/// random already, so it is used through SHA-256 as a raw key, skipping SQLCipher's
/// passphrase KDF (which would cost ~100 ms on every connection).
pub(super) fn raw_key(key: &[u8]) -> std::result::Result<String, OpenError> {
    use sha2::Digest;
    if key.len() < 16 {
        return Err(OpenError::WeakKey);
    }
    let digest = sha2::Sha256::digest(key);
    Ok(format!("x'{}'", hex::encode(digest)))
}

// The one place the core calls C directly: SQLCipher's start-up hook, which rusqlite does
// not bind.
#[allow(unsafe_code)]
unsafe extern "C" {
    /// SQLCipher's start-up (crypto provider, random seed, its mutexes), from the bundled
    /// SQLCipher that rusqlite links. Idempotent; it runs under SQLite's main mutex.
    fn sqlcipher_extra_init(arg: *const std::ffi::c_char) -> std::ffi::c_int;
}

/// Wait until SQLCipher has started in this process. Call before opening any connection.
///
/// SQLite marks itself initialised before it runs SQLCipher's start-up, so a connection
/// opened on one thread while another thread is still in that start-up fails to take its
/// key ("An error occurred with PRAGMA key"). SQLCipher's start-up holds SQLite's main
/// mutex throughout and returns at once once done, so calling it here either does it or
/// waits for the thread that is doing it.
#[allow(unsafe_code)]
pub fn ensure_sqlcipher_started() -> rusqlite::Result<()> {
    keep_openssl_at_exit();
    // SAFETY: both are SQLite's documented thread-safe entry points for start-up; the
    // argument of SQLCipher's hook is unused and NULL is what SQLite itself passes.
    let rc = unsafe {
        match rusqlite::ffi::sqlite3_initialize() {
            rusqlite::ffi::SQLITE_OK => sqlcipher_extra_init(std::ptr::null()),
            rc => rc,
        }
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        // SAFETY: registers a plain function with the C library; after SQLCipher's own
        // hook (registered in its start-up above), so it runs before it.
        EXIT_HOOK.call_once(|| unsafe {
            atexit(wait_for_cipher_users);
        });
    }
    match rc {
        rusqlite::ffi::SQLITE_OK => Ok(()),
        rc => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rc),
            Some("SQLCipher did not start".into()),
        )),
    }
}

// OpenSSL, SQLCipher's crypto provider where the platform's is not used (Apple's).
#[cfg(not(target_vendor = "apple"))]
#[allow(unsafe_code)]
unsafe extern "C" {
    fn OPENSSL_init_crypto(opts: u64, settings: *const std::ffi::c_void) -> std::ffi::c_int;
}

/// `OPENSSL_INIT_NO_ATEXIT` (OpenSSL 1.1.1b and later).
#[cfg(not(target_vendor = "apple"))]
const OPENSSL_INIT_NO_ATEXIT: u64 = 0x0008_0000;

/// Start OpenSSL before SQLCipher does, telling it not to free its state from an exit hook.
///
/// OpenSSL frees its global state from an `atexit` hook of its own, and a thread that
/// used it (every thread that writes an encrypted page draws a random IV) frees its
/// per-thread state from a thread-exit destructor that runs after the thread's
/// [`CipherUse`] is gone: when the two meet, the exiting process crashes ("double free or
/// corruption", or a SIGSEGV; about one exit in forty with a few threads just done).
/// Without the hook the process's memory is simply returned when it ends. Where the
/// application started OpenSSL first, its own choice stands.
#[allow(unsafe_code)]
fn keep_openssl_at_exit() {
    #[cfg(not(target_vendor = "apple"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: OpenSSL's documented thread-safe initialisation; NULL settings are the
        // defaults. A failure here leaves OpenSSL to start as it would have (with its hook).
        ONCE.call_once(|| unsafe {
            OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, std::ptr::null());
        });
    }
}

// The C library's exit hook: SQLCipher registers one too (see [`cipher_in_use`]).
#[allow(unsafe_code)]
unsafe extern "C" {
    fn atexit(hook: extern "C" fn()) -> std::ffi::c_int;
}

/// Threads that hold SQLCipher connections and may still be closing them as the process
/// exits (a server's hub thread told to stop as `main` returns).
static CIPHER_USERS: Mutex<usize> = Mutex::new(0);
static CIPHER_USERS_DONE: std::sync::Condvar = std::sync::Condvar::new();
static EXIT_HOOK: std::sync::Once = std::sync::Once::new();

/// How long the process, as it exits, waits for threads that hold a [`CipherUse`].
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A thread that uses SQLCipher connections until this is dropped: as long as one is alive,
/// the process waits (at most five seconds) on exit before SQLCipher frees its state.
///
/// SQLCipher frees its private heap and crypto provider from an `atexit` hook, while other
/// threads of the process still run: a thread that closes or writes an encrypted database
/// at that moment crashes the exiting process (seen as a SIGSEGV in `sqlite3FreeCodecArg`
/// after a test binary's last test passed). Hooks run in reverse order of registration;
/// ours is registered after SQLCipher's, so it runs first and waits for these threads.
#[must_use = "the guard covers the thread only while it is alive"]
#[derive(Debug)]
pub struct CipherUse(());

/// Start a [`CipherUse`]: SQLCipher is started (see [`ensure_sqlcipher_started`]) and the
/// exit wait is in place.
pub fn cipher_in_use() -> rusqlite::Result<CipherUse> {
    ensure_sqlcipher_started()?;
    *CIPHER_USERS.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    Ok(CipherUse(()))
}

impl Drop for CipherUse {
    fn drop(&mut self) {
        let mut n = CIPHER_USERS.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        CIPHER_USERS_DONE.notify_all();
    }
}

extern "C" fn wait_for_cipher_users() {
    let n = CIPHER_USERS.lock().unwrap_or_else(|p| p.into_inner());
    let _ = CIPHER_USERS_DONE.wait_timeout_while(n, EXIT_WAIT, |n| *n > 0);
}

pub(super) fn open_connection(
    path: &Path,
    raw_key: &str,
) -> std::result::Result<Connection, OpenError> {
    ensure_sqlcipher_started()?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.set_prepared_statement_cache_capacity(super::sql::STATEMENT_CACHE);
    // The key must be set before the database is read. Quoting: raw_key is x'<hex>' made
    // by us. SQLCipher's own log (a failed HMAC on a wrong key) stays off: we report that
    // as `WrongKeyOrNotAStore`.
    conn.execute_batch(&format!(
        "PRAGMA cipher_log_level = NONE; PRAGMA key = \"{raw_key}\";"
    ))?;
    // Reading the schema is what tells a wrong key apart.
    match conn.query_row_cached("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(OpenError::WrongKeyOrNotAStore);
        }
        Err(e) => return Err(e.into()),
    }
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA secure_delete = ON;",
    )?;
    Ok(conn)
}
