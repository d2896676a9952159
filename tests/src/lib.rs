//! End-to-end scenarios for Omkijken: the real sync server on loopback and devices that use
//! the real client (`omkijken_core::transport`). Shared by the scenario tests in `tests/` and
//! the example in `examples/school_trip.rs`.
//!
//! All names and ids here are made up.

pub mod console_client;
pub mod process;
pub mod repo_peer;
pub mod sim;
pub mod wire;
pub mod workload;

use anyhow::{Context, Result};
use omkijken_core::model::SignalContext;
use omkijken_core::store::{NewSignal, StoreOptions};
use omkijken_core::transport::{self, SyncReport};
use omkijken_core::{DocumentId, Store};
use omkijken_server::server::{self, ServerHandle, Settings};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The school of the scenarios.
pub const SCHOOL: &str = "bs-de-linde";
/// Device store key (a platform keystore would hand one out).
pub const KEY: &[u8] = b"test-key-0123456789abcdef-test-key";

/// Staff ids.
pub const MENTOR: &str = "m-jansen";
/// The teacher who goes on the trip.
pub const TEACHER: &str = "t-bakker";
/// The care coordinator (intern begeleider).
pub const COORDINATOR: &str = "ib-devries";

/// Pupil in care (zorgtraject), mentor [`MENTOR`].
pub const PUPIL_IN_CARE: &str = "eck-0001";
/// Pupil not in care, mentor [`MENTOR`].
pub const PUPIL: &str = "eck-0002";
/// A pupil of another group and mentor.
pub const OTHER_PUPIL: &str = "eck-0003";

/// The roster CSV the admin imports (format: `omkijken_server::roster_csv`).
pub fn roster_csv() -> String {
    [
        "type,id,name,group,age_band,in_care,roles,mentors,teaches",
        "group,g6b,Groep 6b,,,,,,",
        "group,g7a,Groep 7a,,,,,,",
        "staff,m-jansen,Juf Jansen,,,,mentor;teacher,,g6b",
        "staff,t-bakker,Meester Bakker,,,,teacher,,g6b",
        "staff,m-smit,Meester Smit,,,,mentor;teacher,,g7a",
        "staff,ib-devries,Mevr. de Vries,,,,care_coordinator;meldcode_duty,,",
        "pupil,eck-0001,Sam,g6b,po_5_8,true,,m-jansen,",
        "pupil,eck-0002,Noor,g6b,po_5_8,false,,m-jansen,",
        "pupil,eck-0003,Daan,g7a,po_5_8,false,,m-smit,",
    ]
    .join("\n")
}

/// A running server and its data directory.
#[derive(Debug)]
pub struct TestServer {
    /// The server.
    pub handle: ServerHandle,
    /// Its data directory (kept across restarts).
    pub data_dir: PathBuf,
}

impl TestServer {
    /// Start a server on 127.0.0.1 with a free port (or `addr`, to restart on the same one).
    pub async fn start(data_dir: &Path, addr: Option<SocketAddr>) -> Result<TestServer> {
        let mut settings = Settings::for_test(data_dir);
        if let Some(addr) = addr {
            settings.listen = addr;
        }
        let handle = server::start(settings).await.context("start server")?;
        Ok(TestServer {
            handle,
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// Start a server with these settings (its data directory is `settings.data_dir`).
    pub async fn start_with(settings: Settings) -> Result<TestServer> {
        let data_dir = settings.data_dir.clone();
        let handle = server::start(settings).await.context("start server")?;
        Ok(TestServer { handle, data_dir })
    }

    /// [`TestServer::start_with`] on the address a server that was just shut down used,
    /// retried briefly in case the OS holds the port a moment.
    pub async fn start_again_with(settings: Settings) -> Result<TestServer> {
        let mut last = None;
        for _ in 0..50 {
            match TestServer::start_with(settings.clone()).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(last.unwrap())
    }

    /// Create the school and import [`roster_csv`].
    pub async fn set_up_school(&self) -> Result<()> {
        let admin = self.handle.admin();
        admin.create_school(SCHOOL, "Basisschool De Linde").await?;
        admin.import_roster(SCHOOL, &roster_csv()).await?;
        Ok(())
    }

    /// Revoke the one device enrolled for `user` (as the admin would, through this server).
    pub async fn revoke_device_of(&self, user: &str) -> Result<()> {
        let admin = self.handle.admin();
        let mut devices = admin.devices().await?;
        devices.retain(|d| d.user == user);
        anyhow::ensure!(devices.len() == 1, "expected one device of {user}");
        admin.revoke_device(&devices[0].id).await?;
        Ok(())
    }

    /// The base URL devices are given.
    pub fn url(&self) -> String {
        self.handle.http_url()
    }

    /// Shut down and start again on the same address and data directory.
    pub async fn restart(self) -> Result<TestServer> {
        let addr = self.handle.addr();
        let dir = self.data_dir.clone();
        self.handle.shutdown().await.context("shutdown")?;
        Self::start_again(&dir, addr).await
    }

    /// Start on `addr`, which a server that was just shut down used (devices know it).
    pub async fn start_again(dir: &Path, addr: SocketAddr) -> Result<TestServer> {
        // The port was just freed; retry briefly in case the OS holds it a moment.
        let mut last = None;
        for _ in 0..50 {
            match TestServer::start(dir, Some(addr)).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(last.unwrap())
    }
}

/// A device: an encrypted store in a directory, enrolled for one staff member.
#[derive(Debug, Clone)]
pub struct Device {
    /// A label for printing ("mentor phone").
    pub label: String,
    /// Its staff member.
    pub user: String,
    /// Its store.
    pub store: Store,
    /// Path of its database file.
    pub path: PathBuf,
}

impl Device {
    /// Open a new store in `dir` and enroll it with a code the admin issues for `user`.
    pub async fn enroll(
        server: &TestServer,
        dir: &Path,
        user: &str,
        label: &str,
    ) -> Result<Device> {
        let path = dir.join(format!("{}.db", label.replace(' ', "-")));
        let store = Store::open_with(&path, KEY, StoreOptions::default())?;
        let code = server.handle.admin().issue_code(SCHOOL, user).await?;
        let identity = transport::enroll(&server.url(), &code, label, &store).await?;
        anyhow::ensure!(identity.user == user && identity.school == SCHOOL);
        Ok(Device {
            label: label.into(),
            user: user.into(),
            store,
            path,
        })
    }

    /// Sync once (catch up, push, close).
    pub async fn sync(&self) -> Result<SyncReport> {
        transport::sync_once(&self.store)
            .await
            .with_context(|| format!("sync of the {}", self.label))
    }

    /// Record a shared signal about `pupil` on an excursion.
    pub fn record_trip_signal(&self, pupil: &str, urgency: u8, facts: &str) -> Result<DocumentId> {
        Ok(self.store.record_signal(NewSignal {
            context: SignalContext {
                place: "schoolkamp Ardennen".into(),
                excursion: Some("kamp-2026".into()),
            },
            ..omkijken_core::testing::signal(pupil, self.store.now(), "", urgency, facts)
        })?)
    }

    /// Ids of the documents this device holds, sorted.
    pub fn held(&self) -> Result<Vec<DocumentId>> {
        let mut v: Vec<DocumentId> = self.store.documents()?.into_iter().map(|i| i.id).collect();
        v.sort();
        Ok(v)
    }

    /// Documents held per kind, e.g. `roster: 1, signal: 2`.
    pub fn summary(&self) -> Result<String> {
        let mut kinds = std::collections::BTreeMap::<String, usize>::new();
        for i in self.store.documents()? {
            *kinds.entry(i.header.kind).or_default() += 1;
        }
        let outbox = self.store.outbox()?.len();
        Ok(format!(
            "{} ({}): {}; outbox {}",
            self.label,
            self.user,
            kinds
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            outbox
        ))
    }
}

impl TestServer {
    /// Start a server node on 127.0.0.1 with a free port whose store is the PostgreSQL
    /// database at `database` (a `postgres://` URL), shared with any other node started on
    /// it. `data_dir` is only remembered (nothing is written there).
    pub async fn start_on_database(data_dir: &Path, database: &str) -> Result<TestServer> {
        Self::start_on_database_polling(data_dir, database, Settings::for_test(data_dir).admin_poll)
            .await
    }

    /// A node on a PostgreSQL database that polls the shared catalog every `poll` (besides
    /// what the database's notifications tell it).
    pub async fn start_on_database_polling(
        data_dir: &Path,
        database: &str,
        poll: std::time::Duration,
    ) -> Result<TestServer> {
        let mut settings = Settings::for_test(data_dir);
        settings.database = Some(database.to_string());
        settings.admin_poll = poll;
        let handle = server::start(settings).await.context("start server node")?;
        Ok(TestServer {
            handle,
            data_dir: data_dir.to_path_buf(),
        })
    }
}
