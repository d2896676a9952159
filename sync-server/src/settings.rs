//! The server's settings ([`Settings`]): where the store is and how it is opened, what to
//! listen on, the hub's and the network's limits. In a module of their own so that the
//! driver (`server.rs`), backup and restore, and the CLI read them without depending on one
//! another.

use crate::hub::HubConfig;
use crate::storage::{PostgresStorage, Storage};
use crate::{Error, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// File name of the SQLite store inside the data directory.
pub const DB_FILE: &str = "omkijken.db";

/// Server settings.
#[derive(Clone)]
pub struct Settings {
    /// Data directory (created if missing); the store is `DB_FILE` inside it.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// SQLCipher passphrase of the store (`OMKIJKEN_DB_KEY`); it takes precedence over the
    /// key file. Never printed.
    pub db_key: Option<String>,
    /// The store key file (`--key-file`); none: `omkijken.key` in the data directory,
    /// created with a random key on the first start (see [`crate::secure`]).
    pub key_file: Option<PathBuf>,
    /// Keep the SQLite store unencrypted (`--plain-store`): an explicit opt-out.
    pub plain_store: bool,
    /// A PostgreSQL database (`postgres://...`) to use instead of the SQLite store in the
    /// data directory, shared with the other server nodes. Never printed (it may hold a
    /// password).
    pub database: Option<String>,
    /// Password for `database` when its URL has none. Never printed.
    pub database_password: Option<String>,
    /// A PEM file with the authority that signed the database's TLS certificate, trusted
    /// besides the public web roots (see `storage::postgres::DbTls` for the `sslmode`s).
    pub database_ca: Option<PathBuf>,
    /// Hub settings.
    pub hub: HubConfig,
    /// How often the hub looks for admin events written by another process.
    pub admin_poll: Duration,
    /// Outgoing frames queued per connection before it is dropped as too slow.
    pub outbox_frames: usize,
    /// Connection caps and timeouts (see [`crate::net`]).
    pub limits: crate::net::Limits,
    /// Enrollment attempts per address and in total (see [`crate::throttle`]).
    pub enroll_limits: crate::throttle::EnrollLimits,
    /// Serve HTTPS/WSS with this configuration (see [`crate::tls`]); none: plain HTTP
    /// (behind a TLS-terminating proxy, or on localhost).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The admin console (see [`crate::console`]); off unless `console.listen` is set.
    pub console: crate::console::ConsoleSettings,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("db_key", &self.db_key.as_ref().map(|_| "<hidden>"))
            .field("key_file", &self.key_file)
            .field("plain_store", &self.plain_store)
            .field("database", &self.storage_kind())
            .field("hub", &self.hub)
            .field("admin_poll", &self.admin_poll)
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .field("console", &self.console)
            .finish()
    }
}

impl Settings {
    /// Defaults for a data directory: listen on 127.0.0.1:8080, the store encrypted with the
    /// key file in the data directory (created on first start), poll admin events every
    /// 500 ms.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Settings {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db_key: None,
            key_file: None,
            plain_store: false,
            database: None,
            database_password: None,
            database_ca: None,
            hub: HubConfig::default(),
            admin_poll: Duration::from_millis(500),
            outbox_frames: 1024,
            limits: crate::net::Limits::default(),
            enroll_limits: crate::throttle::EnrollLimits::default(),
            tls: None,
            console: crate::console::ConsoleSettings::default(),
        }
    }

    /// For tests: a data directory, listening on 127.0.0.1 with a free port.
    pub fn for_test(data_dir: impl Into<PathBuf>) -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_poll: Duration::from_millis(100),
            ..Settings::new(data_dir)
        }
    }

    /// Settings for a data directory whose store is unencrypted (`--plain-store`): for
    /// simulations and tests that open the store themselves without a key.
    pub fn plain(data_dir: impl Into<PathBuf>) -> Self {
        Settings {
            plain_store: true,
            ..Settings::new(data_dir)
        }
    }

    /// Path of the SQLite store.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    /// The store key file: [`Settings::key_file`], else `omkijken.key` in the data directory.
    pub fn key_file_path(&self) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::secure::KEY_FILE))
    }

    /// The SQLite store's key (none for `--plain-store`), and where it came from. With
    /// `create`, a store that does not exist yet gets a new random key file.
    pub fn store_key(
        &self,
        create: bool,
    ) -> Result<(Option<crate::secure::StoreKey>, crate::secure::KeySource)> {
        let key_file = self.key_file_path();
        let store = self.db_path();
        crate::secure::store_key(
            &crate::secure::KeySettings {
                store: &store,
                env_key: self.db_key.as_deref(),
                key_file: &key_file,
                plain: self.plain_store,
            },
            create,
        )
    }

    /// `"postgres"` with a database URL, else `"sqlite"` (for logs; never the URL).
    pub fn storage_kind(&self) -> &'static str {
        if self.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Open the store: the PostgreSQL database of [`Settings::database`], or else (create)
    /// the data directory and the SQLite store in it. Call it on a plain thread, not inside
    /// an async task (the PostgreSQL client blocks on its own runtime).
    pub fn open_storage(&self) -> Result<Box<dyn Storage>> {
        if let Some(url) = &self.database {
            if !crate::storage::postgres::is_postgres_url(url) {
                return Err(Error::Config(
                    "the database must be a postgres:// or postgresql:// URL".into(),
                ));
            }
            let st = PostgresStorage::open_with_ca(
                url,
                self.database_password.as_deref(),
                self.database_ca.as_deref(),
            )?;
            return Ok(Box::new(st));
        }
        crate::secure::private_dir(&self.data_dir)?;
        crate::secure::tighten_files(&self.data_dir)?;
        let (key, source) = self.store_key(true)?;
        let path = self.db_path();
        crate::secure::touch_private(&path)?;
        match crate::secure::open_sqlite(&path, key.as_ref(), &source) {
            Ok(st) => Ok(Box::new(st)),
            // A key rotation stopped between putting the new store in place and its key
            // file: the pending key opens the store; finish the swap.
            Err(e) => match &source {
                crate::secure::KeySource::File(file) => {
                    let mut pending = file.clone().into_os_string();
                    pending.push(".new");
                    let pending = PathBuf::from(pending);
                    let Ok(new_key) = crate::secure::read_key_file(&pending) else {
                        return Err(e);
                    };
                    let st = crate::secure::open_sqlite(&path, Some(&new_key), &source)?;
                    std::fs::rename(&pending, file)?;
                    tracing::warn!("finished an interrupted store key rotation");
                    Ok(Box::new(st))
                }
                _ => Err(e),
            },
        }
    }
}
