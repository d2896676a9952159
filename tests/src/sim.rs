//! Deterministic simulation of a sync server and several devices.
//!
//! One thread, one seeded RNG, a simulated clock and network. The real sans-io engines run:
//! the server's [`Hub`] over its real SQLite storage (or PostgreSQL, [`Config::postgres`]),
//! and each device's [`ClientEngine`] over
//! its real encrypted [`Store`]. The network delays frames, breaks connections (losing what
//! is in flight), partitions devices for long stretches, duplicates idempotent frames and
//! delivers frames of an old connection after a new one has opened. (Within one connection
//! frames stay in order: the transport is a WebSocket over TCP.) Devices crash (all memory
//! lost, the store reopened from disk), the server crashes and restarts from its storage,
//! users make random edits of every record kind concurrently, the roster moves pupils
//! between mentors and opens or closes care tracks, and devices are revoked. The calendar
//! jumps days to years ahead, pupils leave and come back, legal holds are placed and lifted,
//! and the server's retention run erases what expired, among backups, restores and the
//! privacy officer's erasures. A hostile device (an enrolled device of a real user, its app
//! replaced by a script) sends forged changes and reads it may not make.
//!
//! Invariants are checked on every frame the server sends (no device receives a document,
//! catalog entry or change it may not read, or one ever erased), after every server restart
//! (every acknowledged change is still there), after every retention run (nothing of a held
//! pupil erased, nothing due left unheld), after every hostile write (refused, not stored)
//! and at every quiescent point (the network healed and all devices caught up): every
//! delivery has its audit row, devices that may read a document hold the same heads as the
//! server, devices hold nothing they may not read and nothing erased, every change a device
//! had acknowledged is on the server, revoked devices are wiped.

use automerge::{Automerge, ChangeHash, ReadDoc};
use omkijken_core::access::{Access, access};
use omkijken_core::doc;
use omkijken_core::model::{FollowUpKind, Kind, Roster, SignalContext, Source, Unsafety};
use omkijken_core::store::{
    Identity, NewCaseStep, NewExcursion, NewSignal, NewThermometerEntry, SignalFilter, StoreOptions,
};
use omkijken_core::sync::Frame;
use omkijken_core::sync::engine::{ClientEngine, ClientInput, ClientOutput};
use omkijken_core::{DocumentId, Store};
use omkijken_server::hub::{ConnId, Hub, HubConfig};
use omkijken_server::storage::postgres::testing::TestSchema;
use omkijken_server::storage::{PostgresStorage, SqliteStorage, Storage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const SCHOOL: &str = "sim-school";
const KEY: &[u8] = b"simulation-device-key-0123456789";
const T0: i64 = 1_795_338_000_000;

/// What one simulated run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Frames delivered (both directions).
    pub frames: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// User edits made.
    pub edits: u64,
    /// Device crashes.
    pub device_crashes: u64,
    /// Server crashes.
    pub server_crashes: u64,
    /// Connections broken with frames in flight.
    pub broken_connections: u64,
    /// Frames duplicated.
    pub duplicates: u64,
    /// Frames the server handled in a group commit with the frame before them.
    pub grouped_frames: u64,
    /// New documents of a group checked before its frames and taken by them
    /// (`Hub::precheck`).
    pub prechecked: u64,
    /// Catch-ups and fetches read beside the hub (odd seeds: as the server reads them, on a
    /// snapshot taken at the `hello` or `fetch` and handed back later, while other frames
    /// go on).
    pub catch_ups_beside: u64,
    /// Runs with two server nodes (on PostgreSQL, see `Sim::nodes`).
    pub two_nodes: u64,
    /// Roster changes.
    pub roster_changes: u64,
    /// Care tracks opened or closed by a care coordinator's request (`setCareTrack`).
    pub care_tracks: u64,
    /// Inzage dossiers a care coordinator asked for (`exportDossier`).
    pub dossiers: u64,
    /// Devices revoked.
    pub revocations: u64,
    /// Backups of the server store taken while it ran.
    pub backups: u64,
    /// Restores of the server store from the last backup.
    pub restores: u64,
    /// Quiescent points checked.
    pub quiescent_checks: u64,
    /// Documents on the server at the end.
    pub documents: u64,
    /// Documents devices purged (access ended, erased, refused as forbidden).
    pub purges: u64,
    /// Refusals the server's answers reported to devices.
    pub refusals: u64,
    /// Refusals for good kept as not-accepted items (the device took the server's version).
    pub not_accepted: u64,
    /// Not-accepted items their users read back and discarded.
    pub discarded: u64,
    /// Edits the store's own checks would not allow, made as an out-of-date app would.
    pub out_of_date_edits: u64,
    /// Documents the privacy officer erased (a pupil's whole file).
    pub erasures: u64,
    /// Times the calendar jumped ahead (days to years).
    pub clock_jumps: u64,
    /// Days the calendar jumped in all.
    pub days_jumped: u64,
    /// Pupils who left (a leaving date in the roster, or missing from it), and came back.
    pub leavers: u64,
    /// Legal holds placed or lifted.
    pub holds: u64,
    /// Retention runs (the server's daily job).
    pub retention_runs: u64,
    /// Documents retention erased.
    pub retention_erased: u64,
    /// Forbidden writes a hostile device sent (every one refused).
    pub forbidden_writes: u64,
    /// Forbidden reads a hostile device tried (nothing delivered).
    pub forbidden_reads: u64,
    /// Deliveries (documents or changes sent to a device) found in the server's audit.
    pub deliveries_audited: u64,
    /// Pupil sessions started (`startPupilSession`, a store of their own).
    pub pupil_sessions: u64,
    /// Readings pupils entered in a pupil session.
    pub pupil_readings: u64,
}

impl Report {
    /// Add another run's counts to these.
    pub fn add(&mut self, o: &Report) {
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.edits += o.edits;
        self.device_crashes += o.device_crashes;
        self.server_crashes += o.server_crashes;
        self.broken_connections += o.broken_connections;
        self.duplicates += o.duplicates;
        self.grouped_frames += o.grouped_frames;
        self.catch_ups_beside += o.catch_ups_beside;
        self.two_nodes += o.two_nodes;
        self.prechecked += o.prechecked;
        self.roster_changes += o.roster_changes;
        self.care_tracks += o.care_tracks;
        self.dossiers += o.dossiers;
        self.revocations += o.revocations;
        self.backups += o.backups;
        self.restores += o.restores;
        self.erasures += o.erasures;
        self.quiescent_checks += o.quiescent_checks;
        self.documents += o.documents;
        self.purges += o.purges;
        self.refusals += o.refusals;
        self.not_accepted += o.not_accepted;
        self.discarded += o.discarded;
        self.out_of_date_edits += o.out_of_date_edits;
        self.clock_jumps += o.clock_jumps;
        self.days_jumped += o.days_jumped;
        self.leavers += o.leavers;
        self.holds += o.holds;
        self.retention_runs += o.retention_runs;
        self.retention_erased += o.retention_erased;
        self.forbidden_writes += o.forbidden_writes;
        self.forbidden_reads += o.forbidden_reads;
        self.deliveries_audited += o.deliveries_audited;
        self.pupil_sessions += o.pupil_sessions;
        self.pupil_readings += o.pupil_readings;
    }
}

/// A failed invariant, with the seed that replays it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Seed.
    pub seed: u64,
    /// What broke.
    pub message: String,
    /// The server stored in PostgreSQL ([`Config::postgres`]).
    pub postgres: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let replay = format!(
            "scripts/sim.sh {}1 {}",
            if self.postgres { "--postgres " } else { "" },
            self.seed
        );
        write!(
            f,
            "simulation seed {} failed: {}\n  replay: {replay}   (trace one document: OMKIJKEN_SIM_TRACE=<first letters of its id> {replay})",
            self.seed, self.message
        )
    }
}

type SimResult<T> = std::result::Result<T, String>;

/// The hubs' connection ids in one space for the simulation: a hub's id times two, plus
/// its node (0 or 1).
fn sim_conn(node: usize, conn: ConnId) -> ConnId {
    ConnId(conn.0 * 2 + node as u64)
}

/// The node and the hub's own connection id of a simulation connection id.
fn node_of(conn: ConnId) -> (usize, ConnId) {
    ((conn.0 % 2) as usize, ConnId(conn.0 / 2))
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Steps of simulated activity.
    pub steps: usize,
    /// Steps between quiescent checks.
    pub quiesce_every: usize,
    /// The server stores in this PostgreSQL database (a `postgres://` URL; a fresh schema
    /// a seed) instead of SQLite files. Backups and restores are then not simulated (the
    /// server's backup commands are for its SQLite store; PostgreSQL is backed up with its
    /// own tools).
    pub postgres: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            steps: 300,
            quiesce_every: 100,
            postgres: None,
        }
    }
}

#[derive(Clone)]
struct Packet {
    at: i64,
    conn: ConnId,
    to_server: bool,
    device: usize,
    bytes: Vec<u8>,
}

struct Device {
    user: String,
    path: PathBuf,
    seed: u64,
    store: Option<Store>,
    engine: Option<ClientEngine>,
    token: String,
    device_id: String,
    conn: Option<ConnId>,
    offline_until: i64,
    revoked: bool,
    /// Documents the server refused (they stay on the device, unsent, never lost).
    refused: HashSet<DocumentId>,
    /// A pupil session (write-only: it reads nothing, it adds its pupils' readings).
    session: bool,
}

/// An enrolled device of a real user whose app was replaced by a script: it builds
/// Automerge changes itself and sends raw frames, bypassing the store and its checks. Its
/// frames go to the hub at once and the answers are read at once (no network: what is
/// tested is the server's judgement, not delivery).
struct Hostile {
    user: String,
    token: String,
    device_id: String,
    /// The actor registered at enrollment: its changes carry it, so the server judges
    /// their content, not a stranger's actor.
    actor: automerge::ActorId,
    conn: Option<ConnId>,
}

/// A forbidden edit of a signal, as a hostile device makes it.
type Attack = Box<dyn FnOnce(&mut omkijken_core::model::Signal)>;

/// A forbidden edit of a thermometer month.
type MonthAttack = Box<dyn FnOnce(&mut omkijken_core::model::ThermometerMonth)>;

/// What a hostile device sends as a forbidden write.
enum Forged {
    /// A push of these bytes.
    Push(Vec<u8>),
    /// A sync message carrying these bytes as its changes.
    Sync(Vec<u8>),
}

struct Sim {
    rng: StdRng,
    /// Catch-ups and fetches are read beside the hub (odd seeds), with their own generator
    /// of delays (so the main generator's sequence is that of a run without).
    beside: Option<StdRng>,
    /// Catch-ups and fetches read, due back at the hub at the time given.
    catching: Vec<(i64, usize, omkijken_server::hub::CaughtUp)>,
    /// The hostile device, if this run has one.
    hostile: Option<Hostile>,
    /// Every document (or changes of it) the server sent a device: (device id, document,
    /// time); each must have its `deliver` audit row (checked at quiescent points).
    deliveries: Vec<(String, DocumentId, i64)>,
    now: Arc<AtomicI64>,
    dir: PathBuf,
    /// The server's PostgreSQL schema, when it stores there (see [`Config::postgres`]);
    /// dropped with the run.
    postgres: Option<TestSchema>,
    hub: Option<Hub>,
    /// A second server node on the same PostgreSQL database (see [`Sim::nodes`]).
    second: Option<Hub>,
    /// Server nodes: 1, or 2 on PostgreSQL for half the seeds (`seed % 4 >= 2`). Each
    /// connection goes to one at random, with no sticky sessions; a node learns of the
    /// other's writes when it polls (as on a change notification or its timer).
    nodes: usize,
    devices: Vec<Device>,
    net: Vec<Packet>,
    /// Last delivery time per (conn, direction), to keep each connection FIFO.
    channel_at: HashMap<(ConnId, bool), i64>,
    conn_owner: HashMap<ConnId, usize>,
    /// Heads the server acknowledged, per document.
    acked: HashMap<DocumentId, HashSet<ChangeHash>>,
    mentors: BTreeMap<String, String>,
    in_care: BTreeMap<String, bool>,
    /// Pupils who left, and how the roster says so.
    left: BTreeMap<String, Leaving>,
    /// Pupils under a legal hold (the model: retention erases nothing of theirs).
    holds: BTreeSet<String>,
    /// Every document erased (by the privacy officer or by retention), as the server
    /// reported it before any restore: none of them is ever delivered again, restores
    /// included, and at quiescence no device holds one.
    /// (When first seen erased.)
    erased: HashMap<DocumentId, i64>,
    /// Not-accepted items (device, item) of readings written after their month was erased.
    /// The server's roster as last imported (the check of every delivery reads it).
    roster_cache: Option<Roster>,
    /// A backup of the server store was taken (it is in `dir`/backup.db).
    backed_up: bool,
    /// A device was revoked or the roster changed since that backup: a restore would
    /// bring the device back to life, or leave changes whose author's device no longer
    /// holds them (access moved) with devices that may not send them, so no restore then
    /// (README, "Not done yet").
    revoked_since_backup: bool,
    /// The store was restored and devices have not been checked to give everything back
    /// yet: "every acknowledged change is on the server" holds again at the next quiescent
    /// point, not before.
    restored_pending: bool,
    /// `OMKIJKEN_SIM_TRACE`: the first letters of a document id whose story is printed
    /// (frames, what each device then holds of it, faults), read once.
    trace: Option<String>,
    /// What each device held of the traced document when last printed.
    traced_state: HashMap<usize, String>,
    report: Report,
}

const PUPILS: [&str; 6] = ["p1", "p2", "p3", "p4", "p5", "p6"];
const USERS: [&str; 8] = ["m1", "t1", "cc", "m2", "t2", "m1", "cc", "sl"];
const DAY: i64 = 24 * 3600 * 1000;

/// How the roster says a pupil left.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leaving {
    /// A row with `left_on` (YYYY-MM-DD).
    On(String),
    /// No row: the server records the day of the import.
    Missing,
}

/// A frame's type and, per document, how many bytes it carries (for failure messages).
fn frame_detail(f: &Frame) -> String {
    match f {
        Frame::Docs { docs, .. } | Frame::Push { docs } => format!(
            "{} {:?}",
            f.type_name(),
            docs.iter()
                .map(|d| (d.document_id.to_string(), d.data.len()))
                .collect::<Vec<_>>()
        ),
        Frame::Sync { document_id, data } => format!(
            "sync {document_id} {:?}",
            automerge::sync::Message::decode(data).map(|m| (m.heads.len(), m.changes.len()))
        ),
        other => other.type_name().to_string(),
    }
}

/// Whether a sync message carries nothing of a document's content: no changes, or no
/// heads (its sender has nothing; a V2 message always has a chunk, empty or not).
fn sync_says_nothing(data: &[u8]) -> bool {
    automerge::sync::Message::decode(data).is_ok_and(|m| m.changes.is_empty() || m.heads.is_empty())
}

fn sig_author(row: &omkijken_server::storage::CatalogRow) -> &str {
    &row.header.author
}

/// The calendar day (UTC) of `ms`.
fn date_of(ms: i64) -> jiff::civil::Date {
    jiff::Timestamp::from_millisecond(ms)
        .expect("simulated time is a valid timestamp")
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

fn roster_csv(
    mentors: &BTreeMap<String, String>,
    in_care: &BTreeMap<String, bool>,
    left: &BTreeMap<String, Leaving>,
) -> String {
    let mut csv =
        String::from("type,id,name,group,age_band,in_care,roles,mentors,teaches,left_on\n");
    csv.push_str("group,g1,Groep 1,,,,,,\ngroup,g2,Groep 2,,,,,,\n");
    csv.push_str("staff,m1,Mentor Een,,,,mentor,,g1\n");
    csv.push_str("staff,m2,Mentor Twee,,,,mentor,,g2\n");
    csv.push_str("staff,t1,Docent Een,,,,teacher,,g1\n");
    csv.push_str("staff,t2,Docent Twee,,,,teacher,,\n");
    csv.push_str("staff,cc,Zorg,,,,care_coordinator;meldcode_duty,,\n");
    csv.push_str("staff,sl,Leiding,,,,school_leader,,\n");
    for p in PUPILS {
        let m = &mentors[p];
        let g = if m == "m1" { "g1" } else { "g2" };
        let left_on = match left.get(p) {
            None => "",
            Some(Leaving::On(d)) => d.as_str(),
            Some(Leaving::Missing) => continue,
        };
        csv.push_str(&format!(
            "pupil,{p},Leerling {p},{g},po_5_8,{},,{m},,{left_on}\n",
            in_care[p]
        ));
    }
    csv
}

/// What the server holds of some acknowledged heads.
enum Held {
    All,
    Erased,
    NoDocument,
    Missing(ChangeHash),
}

/// The server's documents for one check: catalog heads, and each document loaded at most
/// once (only when the heads asked about are not simply its current heads).
struct ServerDocs {
    rows: HashMap<DocumentId, (bool, Vec<ChangeHash>)>,
    loaded: HashMap<DocumentId, Option<Automerge>>,
}

impl ServerDocs {
    fn from_rows(rows: &[omkijken_server::storage::CatalogRow]) -> ServerDocs {
        ServerDocs {
            rows: rows
                .iter()
                .map(|r| (r.id, (r.erased, r.heads.clone())))
                .collect(),
            loaded: HashMap::new(),
        }
    }

    fn read(hub: &mut Hub) -> SimResult<ServerDocs> {
        let rows = hub
            .storage()
            .catalog_school(SCHOOL)
            .map_err(|e| e.to_string())?;
        Ok(ServerDocs::from_rows(&rows))
    }

    fn missing(&mut self, hub: &mut Hub, id: DocumentId, heads: &[ChangeHash]) -> SimResult<Held> {
        match self.rows.get(&id) {
            Some((true, _)) => return Ok(Held::Erased),
            Some((false, current)) if heads.iter().all(|h| current.contains(h)) => {
                return Ok(Held::All);
            }
            _ => {}
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.loaded.entry(id) {
            let doc = match hub.storage().load_doc(id).map_err(|e| e.to_string())? {
                Some(bytes) => Some(
                    Automerge::load(&bytes)
                        .map_err(|e| format!("stored document {id} does not load: {e}"))?,
                ),
                None => None,
            };
            e.insert(doc);
        }
        Ok(match &self.loaded[&id] {
            None => Held::NoDocument,
            Some(d) => match heads.iter().find(|h| d.get_change_by_hash(h).is_none()) {
                Some(h) => Held::Missing(*h),
                None => Held::All,
            },
        })
    }
}

impl Sim {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn hub(&mut self) -> &mut Hub {
        self.hub.as_mut().expect("hub is running")
    }

    /// Server node `n`, if it is running.
    fn node(&mut self, n: usize) -> Option<&mut Hub> {
        if n == 0 {
            self.hub.as_mut()
        } else {
            self.second.as_mut()
        }
    }

    /// A node at random, with two (with one, the first): where an admin operation, a
    /// device's request or the hostile device's connection goes.
    fn any_node(&mut self) -> usize {
        if self.nodes == 2 {
            self.rng.random_range(0..2)
        } else {
            0
        }
    }

    /// Close connection `conn` at its node.
    fn hub_disconnect(&mut self, conn: ConnId) {
        let (n, c) = node_of(conn);
        if let Some(hub) = self.node(n) {
            hub.disconnect(c);
        }
    }

    fn open_hub(
        dir: &Path,
        postgres: Option<&TestSchema>,
        seed: u64,
        beside: bool,
    ) -> SimResult<Hub> {
        let storage: Box<dyn Storage> = match postgres {
            Some(schema) => Box::new(
                PostgresStorage::open(&schema.url(), None)
                    .map_err(|e| format!("server storage: {e}"))?,
            ),
            None => Box::new(
                SqliteStorage::open(dir.join(omkijken_server::server::DB_FILE), None)
                    .map_err(|e| format!("server storage: {e}"))?,
            ),
        };
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        Hub::new(
            storage,
            HubConfig {
                cache_docs: 16,
                catch_up_beside: beside.then_some(0),
                fetch_beside: beside.then_some(1),
                // Catalogs here are small: a few rows a chunk reads most of them in chunks.
                catch_up_chunk: beside.then_some(1 + (seed % 5) as usize),
                ..HubConfig::default()
            },
            s,
        )
        .map_err(|e| format!("hub: {e}"))
    }

    fn open_store(&self, path: &Path, seed: u64) -> SimResult<Store> {
        let now = self.now.clone();
        Store::open_with(
            path,
            KEY,
            StoreOptions {
                clock: Arc::new(move || now.load(Ordering::SeqCst)),
                seed: Some(seed),
            },
        )
        .map_err(|e| format!("store open: {e}"))
    }

    /// The first roster: pupils' mentors and whether each is in care.
    fn first_roster() -> (BTreeMap<String, String>, BTreeMap<String, bool>) {
        let mentors = PUPILS
            .iter()
            .enumerate()
            .map(|(i, p)| (p.to_string(), if i < 3 { "m1" } else { "m2" }.to_string()))
            .collect();
        let in_care = PUPILS
            .iter()
            .enumerate()
            .map(|(i, p)| (p.to_string(), i % 3 == 0))
            .collect();
        (mentors, in_care)
    }

    /// The server's files once the school exists with its first roster (and a view of it
    /// for each staff member): the same for every seed, so built once per process, and
    /// each seed's server starts from a copy (this was a tenth of a seed's time). Roster
    /// imports themselves stay in every seed: the roster changes as it runs.
    fn first_school() -> SimResult<&'static [(String, Vec<u8>)]> {
        /// The server's files by name.
        type Files = Vec<(String, Vec<u8>)>;
        static FILES: std::sync::OnceLock<SimResult<Files>> = std::sync::OnceLock::new();
        let built = FILES.get_or_init(|| {
            let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
            let mut hub = Self::open_hub(dir.path(), None, 0, false)?;
            Self::set_up_school(&mut hub)?;
            drop(hub);
            let mut files = vec![];
            for entry in std::fs::read_dir(dir.path()).map_err(|e| e.to_string())? {
                let entry = entry.map_err(|e| e.to_string())?;
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push((
                    name,
                    std::fs::read(entry.path()).map_err(|e| e.to_string())?,
                ));
            }
            Ok(files)
        });
        built.as_deref().map_err(Clone::clone)
    }

    /// The school with its first roster (and a view of it for each staff member).
    fn set_up_school(hub: &mut Hub) -> SimResult<()> {
        hub.create_school(T0, SCHOOL, "Simulatieschool")
            .map_err(|e| e.to_string())?;
        let (mentors, in_care) = Self::first_roster();
        hub.import_roster(
            T0,
            SCHOOL,
            &roster_csv(&mentors, &in_care, &BTreeMap::new()),
        )
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn new(seed: u64, dir: &Path, postgres: Option<&str>) -> SimResult<Sim> {
        let mut rng = StdRng::seed_from_u64(seed);
        let now = Arc::new(AtomicI64::new(T0));
        let postgres = postgres.map(TestSchema::create);
        let mut hub = match &postgres {
            Some(schema) => {
                let mut hub = Self::open_hub(dir, Some(schema), seed, seed % 2 == 1)?;
                Self::set_up_school(&mut hub)?;
                hub
            }
            None => {
                for (name, bytes) in Self::first_school()? {
                    std::fs::write(dir.join(name), bytes)
                        .map_err(|e| format!("server files: {e}"))?;
                }
                Self::open_hub(dir, None, seed, seed % 2 == 1)?
            }
        };
        let (mentors, in_care) = Self::first_roster();
        // Retention terms of this school: short ones too (0 years: erased the day after the
        // pupil left), and meldcode cases sometimes never erased by retention.
        let retention = omkijken_server::retention::Retention {
            pupil_file_years: rng.random_range(0..=2),
            incident_years: rng.random_bool(0.5).then(|| rng.random_range(0..=2)),
            meldcode_case_years: rng.random_bool(0.6).then(|| rng.random_range(0..=1)),
            school_year_ends: ["07-31", "08-15", "12-31"][rng.random_range(0..3)].into(),
        };
        let mut policy =
            omkijken_server::retention::policy(hub.storage(), SCHOOL).map_err(|e| e.to_string())?;
        policy.retention = retention;
        omkijken_server::retention::set_policy(hub.storage(), SCHOOL, &policy)
            .map_err(|e| e.to_string())?;
        let nodes = if postgres.is_some() && seed % 4 >= 2 {
            2
        } else {
            1
        };
        let second = if nodes == 2 {
            Some(Self::open_hub(
                dir,
                postgres.as_ref(),
                seed.wrapping_add(1),
                seed % 2 == 1,
            )?)
        } else {
            None
        };
        let n = rng.random_range(3..=8);
        let mut sim = Sim {
            rng,
            beside: (seed % 2 == 1).then(|| StdRng::seed_from_u64(seed ^ 0x5eed_be51de)),
            catching: vec![],
            hostile: None,
            deliveries: vec![],
            now,
            dir: dir.to_path_buf(),
            postgres,
            hub: Some(hub),
            second,
            nodes,
            devices: vec![],
            net: vec![],
            channel_at: HashMap::new(),
            conn_owner: HashMap::new(),
            acked: HashMap::new(),
            mentors,
            in_care,
            left: BTreeMap::new(),
            holds: BTreeSet::new(),
            erased: HashMap::new(),
            roster_cache: None,
            backed_up: false,
            revoked_since_backup: false,
            restored_pending: false,
            trace: std::env::var("OMKIJKEN_SIM_TRACE")
                .ok()
                .filter(|t| !t.is_empty()),
            traced_state: HashMap::new(),
            report: Report::default(),
        };
        sim.report.two_nodes = u64::from(nodes == 2);
        for (i, user) in USERS.iter().take(n).enumerate() {
            sim.enroll_device(i, user)?;
        }
        if sim.rng.random_bool(0.7) {
            let user = USERS[sim.rng.random_range(0..USERS.len())];
            sim.enroll_hostile(user)?;
        }
        Ok(sim)
    }

    /// A new store at a fresh path in the run's directory (`file`), enrolled with the code
    /// `code` gives (asked after the store exists, as an app does), with its identity set:
    /// the device, not yet connected.
    fn enroll_store(
        &mut self,
        file: &str,
        label: String,
        code: impl FnOnce(&mut Sim) -> SimResult<String>,
    ) -> SimResult<Device> {
        let now = self.now();
        let path = self
            .dir
            .join(format!("{file}-{}.db", self.rng.random::<u32>()));
        let seed = self.rng.random();
        let store = self.open_store(&path, seed)?;
        let code = code(self)?;
        let actor = hex::encode(store.actor().to_bytes());
        let reply = self.hub().enroll(now, Frame::Enroll { code, actor, label });
        let Frame::Enrolled {
            token,
            school,
            user,
            device,
        } = reply
        else {
            return Err(format!("enrollment refused: {reply:?}"));
        };
        store
            .set_identity(&Identity {
                school,
                user: user.clone(),
            })
            .map_err(|e| e.to_string())?;
        Ok(Device {
            user,
            path,
            seed,
            engine: Some(ClientEngine::new(store.clone())),
            store: Some(store),
            token,
            device_id: device,
            conn: None,
            offline_until: 0,
            revoked: false,
            refused: HashSet::new(),
            session: false,
        })
    }

    fn enroll_device(&mut self, slot: usize, user: &str) -> SimResult<()> {
        let now = self.now();
        let d = self.enroll_store(&format!("device-{slot}"), format!("sim {slot}"), |sim| {
            sim.hub()
                .issue_code(now, SCHOOL, user)
                .map_err(|e| e.to_string())
        })?;
        if slot < self.devices.len() {
            self.devices[slot] = d;
        } else {
            self.devices.push(d);
        }
        Ok(())
    }

    /// Enroll the hostile device of `user` (a second device of a real user).
    fn enroll_hostile(&mut self, user: &str) -> SimResult<()> {
        let now = self.now();
        let actor = automerge::ActorId::from(self.rng.random::<[u8; 16]>().to_vec());
        let code = self
            .hub()
            .issue_code(now, SCHOOL, user)
            .map_err(|e| e.to_string())?;
        let reply = self.hub().enroll(
            now,
            Frame::Enroll {
                code,
                actor: hex::encode(actor.to_bytes()),
                label: "sim hostile".into(),
            },
        );
        let Frame::Enrolled { token, device, .. } = reply else {
            return Err(format!("enrollment refused: {reply:?}"));
        };
        self.hostile = Some(Hostile {
            user: user.to_string(),
            token,
            device_id: device,
            actor,
            conn: None,
        });
        Ok(())
    }

    // ---- network --------------------------------------------------------------------

    fn send(&mut self, conn: ConnId, to_server: bool, device: usize, frame: &Frame) {
        let latency = self.rng.random_range(1..80);
        let key = (conn, to_server);
        let at = (self.now() + latency).max(*self.channel_at.get(&key).unwrap_or(&0));
        self.channel_at.insert(key, at);
        self.net.push(Packet {
            at,
            conn,
            to_server,
            device,
            bytes: frame.encode(),
        });
    }

    fn connect(&mut self, i: usize) -> SimResult<()> {
        if self.hub.is_none() || self.devices[i].conn.is_some() || self.devices[i].store.is_none() {
            return Ok(());
        }
        let now = self.now();
        let token = self.devices[i].token.clone();
        let node = if self.nodes == 2 {
            self.rng.random_range(0..2)
        } else {
            0
        };
        let Some(connected) = self.node(node).map(|hub| hub.connect(now, &token)) else {
            return Ok(());
        };
        match connected {
            Ok(c) => {
                let conn = sim_conn(node, c.conn);
                self.note(&format!("dev{i} connects ({conn:?}, node {node})"));
                self.devices[i].conn = Some(conn);
                self.conn_owner.insert(conn, i);
                self.engine_input(i, ClientInput::Connected)?;
            }
            Err(refusal) => {
                self.note(&format!("dev{i} refused at connect: {refusal:?}"));
                // Revoked: the upgrade happens only to say so.
                if let Some(frame) = refusal.frame() {
                    self.engine_input(i, ClientInput::Connected)?;
                    self.engine_input(i, ClientInput::Received(frame))?;
                    self.disconnect_device(i)?;
                } else {
                    return Err(format!("device {i} could not connect: {refusal:?}"));
                }
            }
        }
        Ok(())
    }

    fn disconnect_device(&mut self, i: usize) -> SimResult<()> {
        if let Some(conn) = self.devices[i].conn.take() {
            self.note(&format!("dev{i} loses its connection ({conn:?})"));
            self.hub_disconnect(conn);
            let before = self.net.len();
            self.net.retain(|p| p.conn != conn);
            if self.net.len() != before {
                self.report.broken_connections += 1;
            }
        }
        if self.devices[i]
            .engine
            .as_ref()
            .is_some_and(|e| e.is_connected() && !e.is_revoked())
        {
            self.engine_input(i, ClientInput::Disconnected)?;
        }
        Ok(())
    }

    fn engine_input(&mut self, i: usize, input: ClientInput) -> SimResult<()> {
        let now = self.now();
        let Some(engine) = self.devices[i].engine.as_mut() else {
            return Ok(());
        };
        if engine.is_revoked() {
            return Ok(());
        }
        let outputs = match engine.handle(now, input) {
            Ok(o) => o,
            Err(omkijken_core::Error::Revoked) => vec![ClientOutput::Revoked],
            Err(e) => return Err(format!("device {i} engine failed: {e}")),
        };
        for o in outputs {
            match o {
                ClientOutput::Send(frame) => {
                    if let Some(conn) = self.devices[i].conn {
                        self.trace("->server", i, &frame);
                        self.send(conn, true, i, &frame);
                    }
                }
                ClientOutput::Close => {
                    if let Some(conn) = self.devices[i].conn.take() {
                        self.hub_disconnect(conn);
                        self.net.retain(|p| p.conn != conn);
                    }
                }
                ClientOutput::Revoked => {
                    self.devices[i].revoked = true;
                }
                ClientOutput::Refused {
                    document_id,
                    reason,
                } => {
                    self.note(&format!("dev{i} told: {document_id} refused ({reason:?})"));
                    self.devices[i].refused.insert(document_id);
                }
                _ => {}
            }
        }
        self.trace_holding(i);
        Ok(())
    }

    /// An event in the trace (a fault, an admin action).
    fn note(&self, what: &str) {
        if self.trace.is_some() {
            eprintln!("t={} {what}", self.now() - T0);
        }
    }

    /// In the trace: what device `i` holds of the traced document (heads, acknowledged
    /// heads), whenever that changed.
    fn trace_holding(&mut self, i: usize) {
        let Some(t) = &self.trace else { return };
        let Some(store) = self.devices[i].store.as_ref() else {
            return;
        };
        let short = |h: &[ChangeHash]| {
            h.iter()
                .map(|h| h.to_string()[..6].to_string())
                .collect::<Vec<_>>()
        };
        let state = match store.documents() {
            Ok(docs) => docs
                .into_iter()
                .find(|d| d.id.to_string().starts_with(t.as_str()))
                .map_or("nothing".to_string(), |d| {
                    format!(
                        "heads {:?} acked {:?}",
                        short(&d.heads),
                        d.acked_heads.as_deref().map(short)
                    )
                }),
            Err(_) => "nothing (store closed)".into(),
        };
        if self.traced_state.get(&i) != Some(&state) {
            eprintln!(
                "t={}   dev{i}({}) now holds: {state}",
                self.now() - T0,
                self.devices[i].user
            );
            self.traced_state.insert(i, state);
        }
    }

    fn trace(&self, what: &str, device: usize, frame: &Frame) {
        let Some(t) = &self.trace else {
            return;
        };
        let hit = |id: &DocumentId| id.to_string().starts_with(t.as_str());
        let ids: Vec<DocumentId> = match frame {
            Frame::Catalog { entries, purge, .. } => entries
                .iter()
                .map(|e| e.document_id)
                .chain(purge.iter().copied())
                .collect(),
            Frame::Docs { docs, .. } | Frame::Push { docs } => {
                docs.iter().map(|d| d.document_id).collect()
            }
            Frame::Purge { docs } => docs.clone(),
            Frame::Ack { docs } => docs.iter().map(|d| d.document_id).collect(),
            Frame::Refused { docs } => docs.iter().map(|d| d.document_id).collect(),
            Frame::Fetch { docs } => docs.iter().map(|d| d.document_id).collect(),
            _ => vec![],
        };
        if ids.iter().any(hit) || matches!(frame, Frame::Hello { .. }) {
            let purge = match frame {
                Frame::Catalog { purge, .. } | Frame::Purge { docs: purge } => {
                    purge.iter().any(hit)
                }
                _ => false,
            };
            let detail: Vec<String> = match frame {
                Frame::Docs { docs, .. } | Frame::Push { docs } => docs
                    .iter()
                    .filter(|d| hit(&d.document_id))
                    .map(|d| {
                        let change = automerge::Change::from_bytes(d.data.clone())
                            .map(|c| {
                                format!(
                                    " change={} deps={:?}",
                                    &c.hash().to_string()[..6],
                                    c.deps()
                                        .iter()
                                        .map(|h| h.to_string()[..6].to_string())
                                        .collect::<Vec<_>>()
                                )
                            })
                            .unwrap_or_default();
                        format!(
                            "len={} heads={:?}{change}",
                            d.data.len(),
                            d.heads.iter().map(|h| &h[..6]).collect::<Vec<_>>()
                        )
                    })
                    .collect(),
                Frame::Ack { docs } => docs
                    .iter()
                    .filter(|d| hit(&d.document_id))
                    .map(|d| {
                        format!(
                            "heads={:?}",
                            d.heads.iter().map(|h| &h[..6]).collect::<Vec<_>>()
                        )
                    })
                    .collect(),
                Frame::Refused { docs } => docs
                    .iter()
                    .filter(|d| hit(&d.document_id))
                    .map(|d| format!("{:?}", d.reason))
                    .collect(),
                Frame::Fetch { docs } => docs
                    .iter()
                    .filter(|d| hit(&d.document_id))
                    .map(|d| {
                        format!(
                            "have={:?}",
                            d.have.iter().map(|h| &h[..6]).collect::<Vec<_>>()
                        )
                    })
                    .collect(),
                Frame::Catalog { entries, .. } => entries
                    .iter()
                    .filter(|d| hit(&d.document_id))
                    .map(|d| {
                        format!(
                            "cat heads={:?}",
                            d.heads.iter().map(|h| &h[..6]).collect::<Vec<_>>()
                        )
                    })
                    .collect(),
                _ => vec![],
            };
            eprintln!(
                "t={} {what} dev{device}({}) {} purge={purge} {detail:?}",
                self.now() - T0,
                self.devices[device].user,
                frame.type_name()
            );
        }
    }

    /// What the first node returned goes out.
    fn hub_output(&mut self, out: Vec<(ConnId, Frame)>) -> SimResult<()> {
        self.hub_output_of(0, out)
    }

    /// What node `node` returned goes out (its reads beside the hub are taken first).
    fn hub_output_of(&mut self, node: usize, out: Vec<(ConnId, Frame)>) -> SimResult<()> {
        self.read_catch_ups();
        for (conn, frame) in out {
            let conn = sim_conn(node, conn);
            if let Some(h) = &self.hostile
                && h.conn == Some(conn)
            {
                let (user, id) = (h.user.clone(), h.device_id.clone());
                self.check_delivery_to(&user, "the hostile device", &frame)?;
                self.note_deliveries(&id, &frame);
                continue;
            }
            let Some(&device) = self.conn_owner.get(&conn) else {
                continue;
            };
            if self.devices[device].conn != Some(conn) {
                continue;
            }
            self.check_delivery(device, &frame)?;
            let id = self.devices[device].device_id.clone();
            self.note_deliveries(&id, &frame);
            self.trace("server->", device, &frame);
            if let Frame::Ack { docs } = &frame {
                if self.devices[device].session && !docs.is_empty() {
                    // The session drops what the server acknowledged (it keeps nothing the
                    // server has): a restore from an older backup would lose it, as with a
                    // wiped device (the documented limit of a restore).
                    self.revoked_since_backup = true;
                }
                for a in docs {
                    let set = self.acked.entry(a.document_id).or_default();
                    for h in &a.heads {
                        if let Ok(h) = h.parse() {
                            set.insert(h);
                        }
                    }
                }
            }
            self.send(conn, false, device, &frame);
        }
        Ok(())
    }

    /// Invariant: the server never sends a device a document, catalog entry or change its
    /// user may not read (decided with the roster and fields at the moment it sends).
    fn check_delivery(&mut self, device: usize, frame: &Frame) -> SimResult<()> {
        let user = self.devices[device].user.clone();
        self.check_delivery_to(&user, &format!("device {device}"), frame)
    }

    /// Record what `frame` delivers to device `device_id` (content: documents, or sync
    /// messages with changes), for the check that every delivery is audited.
    fn note_deliveries(&mut self, device_id: &str, frame: &Frame) {
        let now = self.now();
        match frame {
            Frame::Docs { docs, .. } | Frame::Push { docs } => {
                for d in docs.iter().filter(|d| !d.data.is_empty()) {
                    self.deliveries
                        .push((device_id.to_string(), d.document_id, now));
                }
            }
            Frame::Sync { document_id, data } if !sync_says_nothing(data) => {
                self.deliveries
                    .push((device_id.to_string(), *document_id, now));
            }
            _ => {}
        }
    }

    /// Invariant: every delivery has its `deliver` row in the server's audit log (same
    /// device, document and time).
    fn check_deliveries_audited(&mut self) -> SimResult<()> {
        if self.deliveries.is_empty() {
            return Ok(());
        }
        let rows = self
            .hub()
            .audit(&omkijken_server::storage::AuditFilter::Action(
                omkijken_server::storage::AuditAction::Deliver,
            ))
            .map_err(|e| e.to_string())?;
        let audited: HashSet<(String, DocumentId, i64)> = rows
            .into_iter()
            .filter_map(|r| Some((r.device?, r.document?, r.at)))
            .collect();
        for d in std::mem::take(&mut self.deliveries) {
            // An erased document's audit rows stay: the erasure leaves them.
            if !audited.contains(&d) {
                return Err(format!(
                    "UNAUDITED: the server sent {} to device {} at t={} and its audit log has no delivery row",
                    d.1,
                    d.0,
                    d.2 - T0
                ));
            }
            self.report.deliveries_audited += 1;
        }
        Ok(())
    }

    /// [`Sim::check_delivery`] for any device of `user` (`who` names it in a failure).
    fn check_delivery_to(&mut self, user: &str, who: &str, frame: &Frame) -> SimResult<()> {
        let device = who;
        let user = user.to_string();
        let ids: Vec<DocumentId> = match frame {
            Frame::Catalog { entries, .. } => entries.iter().map(|e| e.document_id).collect(),
            Frame::Docs { docs, .. } => docs.iter().map(|d| d.document_id).collect(),
            Frame::Sync { document_id, .. } => vec![*document_id],
            _ => return Ok(()),
        };
        if ids.is_empty() {
            return Ok(());
        }
        // A sync message that carries no changes says nothing of the content.
        let empty_sync = matches!(frame, Frame::Sync { data, .. } if sync_says_nothing(data));
        // One with no heads either is what a server that has nothing of the document says.
        let nothing = matches!(frame, Frame::Sync { data, .. }
            if automerge::sync::Message::decode(data).is_ok_and(|m| m.heads.is_empty()));
        // The model's erasures, whatever the server's store says (a restore may bring back
        // a store from before them).
        if !empty_sync && let Some(id) = ids.iter().find(|id| self.erased.contains_key(id)) {
            return Err(format!(
                "LEAK: server sent {} {id} to {device} ({user}) after it was erased",
                frame.type_name(),
            ));
        }
        let roster = self.server_roster()?;
        let rows = self
            .hub()
            .storage()
            .catalog_get(&ids)
            .map_err(|e| e.to_string())?;
        for row in rows {
            if row.erased && !empty_sync {
                return Err(format!(
                    "LEAK: server sent {} {} ({}) to {device} ({user}) after it was erased",
                    frame.type_name(),
                    row.id,
                    row.header.kind
                ));
            }
            if !nothing && access(&roster, &user, &row.header, &row.fields) < Access::Read {
                return Err(format!(
                    "LEAK: server sent {} {} ({}) to {device} ({user}) who may not read it: {}",
                    frame.type_name(),
                    row.id,
                    row.header.kind,
                    frame_detail(frame)
                ));
            }
        }
        Ok(())
    }

    fn server_roster(&mut self) -> SimResult<Roster> {
        if let Some(r) = &self.roster_cache {
            return Ok(r.clone());
        }
        let r = self.load_server_roster()?;
        self.roster_cache = Some(r.clone());
        Ok(r)
    }

    fn load_server_roster(&mut self) -> SimResult<Roster> {
        let storage = self.hub().storage();
        omkijken_server::admin::roster(storage, SCHOOL)
            .map(|r| (*r).clone())
            .map_err(|e| e.to_string())
    }

    /// The packet to deliver next by `now`: the earliest due, ties in queue order.
    fn next_due(&self, now: i64) -> Option<usize> {
        self.net
            .iter()
            .enumerate()
            .filter(|(_, p)| p.at <= now)
            .min_by_key(|(i, p)| (p.at, *i))
            .map(|(i, _)| i)
    }

    /// The catch-ups and fetches the hub left are read now, on the hub's store (a reader's
    /// snapshot at the `hello` or `fetch`), and handed back after a delay of up to 300 ms, while other frames go
    /// on; one in ten is handed back unread (a reader without storage), which the hub
    /// reads itself.
    fn read_catch_ups(&mut self) {
        let now = self.now();
        for node in 0..self.nodes {
            let Some(jobs) = self.node(node).map(Hub::take_catch_ups) else {
                continue;
            };
            for job in jobs {
                let Some(rng) = self.beside.as_mut() else {
                    return;
                };
                let (unread, delay) = (rng.random_bool(0.1), rng.random_range(0..=300));
                let hub = self.node(node).expect("running");
                let done = if unread {
                    job.unread(omkijken_server::Error::Stopped)
                } else {
                    job.scan(hub.storage())
                };
                self.catching.push((now + delay, node, done));
                self.report.catch_ups_beside += 1;
            }
        }
    }

    /// Hand the catch-ups due by `now` back to the hub.
    fn catch_ups_due(&mut self, now: i64) -> SimResult<()> {
        while let Some(i) = self.catching.iter().position(|(at, _, _)| *at <= now) {
            let (_, node, done) = self.catching.remove(i);
            let Some(hub) = self.node(node) else {
                continue;
            };
            let out = hub.caught_up(now, done);
            self.hub_output_of(node, out)?;
        }
        Ok(())
    }

    fn deliver_due(&mut self) -> SimResult<()> {
        let now = self.now();
        self.catch_ups_due(now)?;
        while let Some(idx) = self.next_due(now) {
            let p = self.net.remove(idx);
            self.report.frames += 1;
            self.report.bytes += p.bytes.len() as u64;
            if p.to_server {
                let (node, conn) = node_of(p.conn);
                if self.node(node).is_none() {
                    continue;
                }
                // Frames due at a node one after another are one group commit, as the
                // server's hub thread handles the frames waiting for it.
                let to_node = |p: &Packet| p.to_server && node_of(p.conn).0 == node;
                let grouped = self.next_due(now).is_some_and(|i| to_node(&self.net[i]));
                if !grouped {
                    let hub = self.node(node).expect("running");
                    let out = hub.receive_bytes(now, conn, &p.bytes);
                    self.hub_output_of(node, out)?;
                    continue;
                }
                let mut group = vec![p];
                while let Some(i) = self.next_due(now)
                    && to_node(&self.net[i])
                {
                    let p = self.net.remove(i);
                    self.report.frames += 1;
                    self.report.bytes += p.bytes.len() as u64;
                    self.report.grouped_frames += 1;
                    group.push(p);
                }
                let hub = self.node(node).expect("running");
                hub.begin_group();
                // As the server's hub thread does: the group's new documents checked first.
                let decoded: Vec<(ConnId, Frame)> = group
                    .iter()
                    .filter_map(|p| Some((node_of(p.conn).1, Frame::decode(&p.bytes).ok()?)))
                    .collect();
                let frames: Vec<(ConnId, &Frame)> = decoded.iter().map(|(c, f)| (*c, f)).collect();
                hub.precheck(&frames);
                let used = hub.prechecks_used();
                let mut out = vec![];
                for p in group {
                    out.extend(hub.receive_bytes(now, node_of(p.conn).1, &p.bytes));
                }
                let prechecked = hub.prechecks_used() - used;
                out = hub.end_group(out);
                self.report.prechecked += prechecked;
                self.hub_output_of(node, out)?;
            } else {
                let frame = Frame::decode(&p.bytes)
                    .map_err(|e| format!("server sent an undecodable frame: {e}"))?;
                if self.devices[p.device].conn != Some(p.conn) {
                    self.trace("dropped (old connection) ->", p.device, &frame);
                    continue;
                }
                self.trace("arrives ->", p.device, &frame);
                self.engine_input(p.device, ClientInput::Received(frame))?;
            }
        }
        Ok(())
    }

    // ---- faults -----------------------------------------------------------------------

    /// Deliver packet `idx` twice. A device's frame may reach the server again at any later
    /// point of its connection (the server must take any replay a device sends). A frame of
    /// the server reaches the device again right after the original, never after a later
    /// frame: the protocol relies on the server's frames arriving in order (a purge sent
    /// after a document removes it), and a WebSocket over TCP never reorders them.
    fn duplicate(&mut self, idx: usize) {
        let p = self.net[idx].clone();
        if p.to_server {
            let key = (p.conn, p.to_server);
            let at = (*self.channel_at.get(&key).unwrap_or(&0)).max(self.now()) + 1;
            self.channel_at.insert(key, at);
            self.net.push(Packet { at, ..p });
        } else {
            // Same time, next in line: delivery takes the earliest, ties in queue order.
            self.net.insert(idx + 1, p);
        }
        self.report.duplicates += 1;
    }

    fn crash_device(&mut self, i: usize) -> SimResult<()> {
        if self.devices[i].revoked {
            return Ok(());
        }
        if let Some(conn) = self.devices[i].conn.take() {
            self.hub_disconnect(conn);
            self.net.retain(|p| p.conn != conn);
        }
        self.note(&format!("dev{i} crashes and reopens its store"));
        self.count_engine_stats(i);
        self.devices[i].engine = None;
        self.devices[i].store = None;
        let store = self.open_store(&self.devices[i].path.clone(), self.devices[i].seed)?;
        self.devices[i].engine = Some(ClientEngine::new(store.clone()));
        self.devices[i].store = Some(store);
        self.report.device_crashes += 1;
        Ok(())
    }

    /// Add the counts of device `i`'s engine to the report (before it is dropped).
    fn count_engine_stats(&mut self, i: usize) {
        if let Some(e) = &self.devices[i].engine {
            let st = e.stats();
            self.report.purges += st.purged;
            self.report.refusals += st.refused;
            self.report.not_accepted += st.not_accepted;
        }
    }

    /// The server goes away: frames in flight are lost, every connection drops.
    fn stop_server(&mut self) -> SimResult<()> {
        self.stop_node(0)?;
        self.stop_node(1)
    }

    /// Server node `n` goes away: frames in flight to and from it are lost, its
    /// connections drop.
    fn stop_node(&mut self, n: usize) -> SimResult<()> {
        if n == 0 {
            self.hub = None;
        } else {
            self.second = None;
        }
        let on_n = |c: ConnId| node_of(c).0 == n;
        self.net.retain(|p| !on_n(p.conn));
        self.catching.retain(|(_, node, _)| *node != n);
        if let Some(h) = self.hostile.as_mut()
            && h.conn.is_some_and(on_n)
        {
            h.conn = None;
        }
        for i in 0..self.devices.len() {
            if !self.devices[i].conn.is_none_or(on_n) {
                continue;
            }
            self.devices[i].conn = None;
            if self.devices[i]
                .engine
                .as_ref()
                .is_some_and(|e| e.is_connected() && !e.is_revoked())
            {
                self.engine_input(i, ClientInput::Disconnected)?;
            }
        }
        Ok(())
    }

    /// A server node crashes (with two, one of them) and restarts from the storage.
    fn crash_server(&mut self) -> SimResult<()> {
        let n = if self.nodes == 2 {
            self.rng.random_range(0..2)
        } else {
            0
        };
        self.note(&format!("server node {n} crashes and restarts"));
        self.stop_node(n)?;
        let hub = Self::open_hub(
            &self.dir,
            self.postgres.as_ref(),
            self.rng.random(),
            self.beside.is_some(),
        )?;
        if n == 0 {
            self.hub = Some(hub);
        } else {
            self.second = Some(hub);
        }
        self.report.server_crashes += 1;
        if self.restored_pending {
            return Ok(());
        }
        self.check_acked_durable()
    }

    /// Settings for the admin commands on the simulated server's store: plain, as the sim
    /// opens it (encryption at rest is tested apart; here it would only cost time).
    fn store_settings(dir: &std::path::Path) -> omkijken_server::server::Settings {
        let mut s = omkijken_server::server::Settings::new(dir);
        s.plain_store = true;
        s
    }

    /// The admin backs the server store up while it runs.
    fn take_backup(&mut self) -> SimResult<()> {
        let file = self.dir.join("backup.db");
        let _ = std::fs::remove_file(&file);
        omkijken_server::backup::backup(&Self::store_settings(&self.dir), &file)
            .map_err(|e| format!("backup: {e}"))?;
        self.backed_up = true;
        self.revoked_since_backup = false;
        self.report.backups += 1;
        self.note("backup");
        Ok(())
    }

    /// The server stops, its store is restored from the last backup, and it starts again:
    /// it lacks what it acknowledged since, which the devices must give back.
    fn restore_server(&mut self) -> SimResult<()> {
        self.stop_server()?;
        let settings = Self::store_settings(&self.dir);
        omkijken_server::backup::restore(&settings, &self.dir.join("backup.db"))
            .map_err(|e| format!("restore: {e}"))?;
        self.hub = Some(Self::open_hub(
            &self.dir,
            None,
            self.rng.random(),
            self.beside.is_some(),
        )?);
        self.roster_cache = None;
        self.restored_pending = true;
        self.report.restores += 1;
        self.note("restore from the last backup");
        Ok(())
    }

    /// Invariant: every change the server acknowledged is still there.
    fn check_acked_durable(&mut self) -> SimResult<()> {
        let mut acked: Vec<(DocumentId, Vec<ChangeHash>)> = self
            .acked
            .iter()
            .map(|(k, v)| (*k, v.iter().copied().collect()))
            .collect();
        acked.sort();
        let mut server = ServerDocs::read(self.hub())?;
        for (id, heads) in acked {
            match server.missing(self.hub(), id, &heads)? {
                Held::All => {}
                // Erased documents are gone on purpose; nothing else may be.
                Held::Erased => {}
                Held::NoDocument => {
                    return Err(format!(
                        "acknowledged document {id} is missing on the server"
                    ));
                }
                Held::Missing(h) => {
                    return Err(format!(
                        "acknowledged change {h} of {id} is missing on the server"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The privacy officer erases a pupil's whole file: every device purges it, and it is
    /// never delivered again (`check_delivery`), not after a restore from a backup taken
    /// before either (the restore applies the erasure again).
    fn erase_pupil(&mut self) -> SimResult<()> {
        let p = PUPILS[self.rng.random_range(0..PUPILS.len())].to_string();
        let now = self.now();
        let node = self.any_node();
        let (n, out) = self
            .node(node)
            .expect("running")
            .erase_pupil(now, SCHOOL, &p)
            .map_err(|e| format!("erase: {e}"))?;
        self.report.erasures += n as u64;
        self.note_erased()?;
        if std::env::var("OMKIJKEN_SIM_TRACE").is_ok() {
            eprintln!("t={} erase pupil {p}: {n} documents", now - T0);
        }
        self.hub_output_of(node, out)
    }

    /// Add what the server's catalog lists as erased to the model's erasures.
    fn note_erased(&mut self) -> SimResult<()> {
        let rows = self
            .hub()
            .storage()
            .catalog_school(SCHOOL)
            .map_err(|e| e.to_string())?;
        let now = self.now();
        for r in rows.iter().filter(|r| r.erased) {
            self.erased.entry(r.id).or_insert(now);
        }
        Ok(())
    }

    /// The calendar jumps ahead: mostly days or weeks, sometimes months or years (the
    /// holidays, a device in a drawer, the years a pupil file is kept). Everything that
    /// waits on time (retries, timers) sees it.
    fn jump_clock(&mut self) {
        let days = match self.rng.random_range(0..20) {
            0..=9 => self.rng.random_range(1..=30),
            10..=16 => self.rng.random_range(31..=365),
            _ => self.rng.random_range(366..=3 * 365),
        };
        self.now.fetch_add(days * DAY, Ordering::SeqCst);
        self.report.clock_jumps += 1;
        self.report.days_jumped += days as u64;
        self.note(&format!(
            "the calendar jumps {days} days to {}",
            date_of(self.now())
        ));
    }

    /// A pupil leaves (a leaving date in the roster, today or up to a year back, or no
    /// row at all), or one who left comes back.
    fn pupil_leaves_or_returns(&mut self) -> SimResult<()> {
        let p = PUPILS[self.rng.random_range(0..PUPILS.len())].to_string();
        if self.left.remove(&p).is_none() {
            let leaving = if self.rng.random_bool(0.5) {
                let back = self.rng.random_range(0..=365) * DAY;
                Leaving::On(date_of(self.now() - back).to_string())
            } else {
                Leaving::Missing
            };
            self.left.insert(p.clone(), leaving);
        }
        self.report.leavers += 1;
        self.import_roster()?;
        self.note(&format!("pupil {p} now: {:?}", self.left.get(&p)));
        Ok(())
    }

    /// The privacy officer places a legal hold on a pupil's file, or lifts one.
    fn toggle_hold(&mut self) -> SimResult<()> {
        let p = PUPILS[self.rng.random_range(0..PUPILS.len())].to_string();
        let hold = !self.holds.contains(&p);
        let now = self.now();
        omkijken_server::retention::set_hold(self.hub().storage(), now, SCHOOL, &p, hold)
            .map_err(|e| format!("hold: {e}"))?;
        if hold {
            self.holds.insert(p.clone());
        } else {
            self.holds.remove(&p);
        }
        self.report.holds += 1;
        self.note(&format!("legal hold on {p}: {hold}"));
        Ok(())
    }

    /// The server's daily retention run (the same call the server makes). Invariants: it
    /// erases nothing of a pupil under a legal hold, and leaves nothing due that no hold
    /// keeps; what it erased is never delivered again (the model's erasures).
    fn run_retention(&mut self) -> SimResult<()> {
        let now = self.now();
        let node = self.any_node();
        let (gone, out) = self
            .node(node)
            .expect("running")
            .apply_retention(now, now)
            .map_err(|e| format!("retention: {e}"))?;
        self.report.retention_runs += 1;
        self.report.retention_erased += gone.len() as u64;
        self.note(&format!("retention run: {} documents erased", gone.len()));
        if let Some(e) = gone.iter().find(|e| self.holds.contains(&e.pupil)) {
            return Err(format!(
                "retention erased {} ({}) of pupil {} under a legal hold",
                e.id, e.kind, e.pupil
            ));
        }
        let left = omkijken_server::retention::plan(self.hub().storage(), SCHOOL, date_of(now))
            .map_err(|e| format!("retention plan: {e}"))?;
        if let Some(e) = left.iter().find(|e| e.held.is_none()) {
            return Err(format!(
                "retention left {} ({}) of pupil {} due since {} and not held",
                e.id, e.kind, e.pupil, e.due
            ));
        }
        if let Some(e) = left
            .iter()
            .find(|e| e.held == Some("legal hold on the pupil") && !self.holds.contains(&e.pupil))
        {
            return Err(format!(
                "retention kept {} of pupil {} for a legal hold that was lifted",
                e.id, e.pupil
            ));
        }
        // What the store now lists as erased is what was erased before and what the run
        // says it erased: nothing else went (a held pupil's file, another school's).
        let gone_ids: HashSet<DocumentId> = gone.iter().map(|e| e.id).collect();
        let rows = self
            .hub()
            .storage()
            .catalog_school(SCHOOL)
            .map_err(|e| e.to_string())?;
        for r in rows.iter().filter(|r| r.erased) {
            if !self.erased.contains_key(&r.id) && !gone_ids.contains(&r.id) {
                return Err(format!("{} was erased but retention did not say so", r.id));
            }
        }
        if let Some(id) = gone_ids.iter().find(|id| self.erased.contains_key(id)) {
            return Err(format!("retention erased {id}, which was erased already"));
        }
        self.erased.extend(gone_ids.into_iter().map(|id| (id, now)));
        self.hub_output_of(node, out)
    }

    /// A care coordinator's device opens or closes a pupil's care track (`setCareTrack`),
    /// the roster change that does not come from an import: the pupil's documents move to or
    /// from the care team and her mentors' views change.
    /// A teacher or mentor starts a pupil session for a group (online, as the product
    /// requires): the server's answer gives a one-time code and the scope, and a new store
    /// enrolled with that code becomes the session, which then takes readings like any
    /// device takes edits. At most two run at once.
    fn start_pupil_session(&mut self) -> SimResult<()> {
        if self
            .devices
            .iter()
            .filter(|d| d.session && !d.revoked)
            .count()
            >= 2
        {
            return Ok(());
        }
        let candidates: Vec<usize> = (0..self.devices.len())
            .filter(|&t| {
                let d = &self.devices[t];
                !d.session && !d.revoked && d.store.as_ref().is_some_and(|s| !s.is_wiped())
            })
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let t = candidates[self.rng.random_range(0..candidates.len())];
        let group = ["g1", "g2"][self.rng.random_range(0..2)];
        let teacher = self.devices[t].store.clone().expect("store");
        let draft = match omkijken_core::store::PupilSession::prepare(&teacher, group) {
            Ok(d) => d,
            // Locked until it syncs (a clock jump past the lease): it asks for nothing.
            Err(omkijken_core::Error::Locked) => return Ok(()),
            Err(e) => return Err(format!("dev{t}: pupil session not prepared: {e}")),
        };
        let now = self.now();
        let token = self.devices[t].token.clone();
        let node = self.any_node();
        let (answer, out) = self.node(node).expect("running").request(
            now,
            &token,
            Frame::StartPupilSession {
                group: group.into(),
                hours: 72,
            },
        );
        self.hub_output_of(node, out)?;
        let (code, scope) = match answer {
            Frame::PupilSession { code, scope } => (code, scope),
            // Not a teacher or mentor of that group (a care coordinator, a school leader,
            // a teacher of the other group): refused, and nothing else happens.
            Frame::Error {
                code: omkijken_core::sync::ErrorCode::Forbidden,
                ..
            } => return Ok(()),
            other => {
                return Err(format!(
                    "pupil session request of dev{t} ({}) answered {}",
                    self.devices[t].user,
                    other.type_name()
                ));
            }
        };
        let mut d = self.enroll_store("session", format!("pupil session {group}"), |_| Ok(code))?;
        let store = d.store.clone().expect("store");
        omkijken_core::store::PupilSession::start(store, draft, scope)
            .map_err(|e| format!("pupil session of {group} did not start: {e}"))?;
        self.note(&format!(
            "dev{t} ({}) starts a pupil session for {group} as dev{}",
            d.user,
            self.devices.len()
        ));
        d.session = true;
        self.devices.push(d);
        self.report.pupil_sessions += 1;
        Ok(())
    }

    /// A pupil enters a reading in pupil session `i`: a pupil of its group, a score and
    /// emotion words her scale offers (now and then one it does not, which the session
    /// refuses), now and then "ik wil even praten".
    fn pupil_reading(&mut self, i: usize, store: &Store) -> SimResult<()> {
        let session = omkijken_core::store::PupilSession::from_store(store.clone())
            .map_err(|e| format!("dev{i}: not a pupil session: {e}"))?;
        let pupils = session.pupils().to_vec();
        if pupils.is_empty() {
            return Ok(());
        }
        let p = &pupils[self.rng.random_range(0..pupils.len())];
        let scale = session
            .scale(&p.id)
            .map_err(|e| format!("dev{i}: scale: {e}"))?;
        let offered: Vec<String> = scale
            .emotion_words
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let score = self
            .rng
            .random_range(scale.scale.min.saturating_sub(1)..=scale.scale.max + 1);
        let mut emotions = Vec::new();
        if !offered.is_empty() && self.rng.random_bool(0.5) {
            emotions.push(offered[self.rng.random_range(0..offered.len())].clone());
        }
        let reading = omkijken_core::store::PupilReading {
            pupil: p.id.clone(),
            score,
            emotions,
            wants_to_talk: self.rng.random_bool(0.2),
        };
        match session.record(reading) {
            Ok(()) => {
                self.report.pupil_readings += 1;
                self.report.edits += 1;
                if self.devices[i].conn.is_some() {
                    self.engine_input(i, ClientInput::LocalChange)?;
                }
            }
            // A score off the scale, a lease run out: refused by the session itself.
            Err(
                omkijken_core::Error::Invalid(_)
                | omkijken_core::Error::Locked
                | omkijken_core::Error::Forbidden(_),
            ) => {}
            Err(e) => return Err(format!("dev{i}: pupil reading failed: {e}")),
        }
        Ok(())
    }

    /// The lessons end: each pupil session, with nothing left to send, wipes its store.
    fn end_pupil_sessions(&mut self) -> SimResult<()> {
        for i in 0..self.devices.len() {
            if !self.devices[i].session || self.devices[i].revoked {
                continue;
            }
            self.disconnect_device(i)?;
            if let Some(store) = self.devices[i].store.take() {
                let session = omkijken_core::store::PupilSession::from_store(store)
                    .map_err(|e| format!("dev{i}: not a pupil session: {e}"))?;
                let waiting = session.pending().map_err(|e| e.to_string())?;
                if waiting > 0 {
                    return Err(format!(
                        "pupil session dev{i} ends with {waiting} readings not sent"
                    ));
                }
                session.wipe().map_err(|e| e.to_string())?;
            }
            self.count_engine_stats(i);
            self.devices[i].engine = None;
            self.devices[i].revoked = true;
            // Like a revoked device: a restore from an older backup would lose what only
            // this wiped store could give back (the documented limit of a restore).
            self.revoked_since_backup = true;
            self.note(&format!("pupil session dev{i} ends"));
        }
        Ok(())
    }

    /// The care coordinator asks for a pupil's inzage dossier: whatever happened to the
    /// pupil's file (erasures, retention, restores, care tracks, hostile writes), the server
    /// answers a dossier of that pupil with what she may read, or `not_found` for a pupil the
    /// roster no longer has; never a server error.
    ///
    /// It draws nothing from the seed's generator (the pupil and node follow from the clock),
    /// so the seeds keep the courses they took before this operation was added (the regression
    /// seeds among them); it adds only its `export` audit rows.
    fn dossier_request(&mut self) -> SimResult<()> {
        let now = self.now();
        let p = PUPILS[(now / 1000) as usize % PUPILS.len()].to_string();
        let Some(token) = self.coordinator_token() else {
            return Ok(());
        };
        let node = (now as usize / 7) % self.nodes;
        let Some(hub) = self.node(node) else {
            return Ok(());
        };
        let (answer, out) = hub.request(
            now,
            &token,
            Frame::ExportDossier {
                pupil: p.clone(),
                requested_on: date_of(now).to_string(),
            },
        );
        let roster =
            omkijken_server::admin::roster(hub.storage(), SCHOOL).map_err(|e| e.to_string())?;
        let known = roster.pupils.contains_key(&p);
        match answer {
            Frame::Dossier { json, pdf } => {
                let d: serde_json::Value = serde_json::from_str(&json)
                    .map_err(|e| format!("dossier of {p}: not JSON: {e}"))?;
                if d["pupil"] != p.as_str() || !pdf.starts_with(b"%PDF") {
                    return Err(format!("dossier of {p}: another pupil's, or no PDF"));
                }
                // Every record in it is one she may read now, and none is erased.
                let ids: Vec<DocumentId> = d["sections"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| s["items"].as_array().into_iter().flatten())
                    .filter_map(|i| i["document"].as_str()?.parse().ok())
                    .collect();
                let rows = hub.storage().catalog_get(&ids).map_err(|e| e.to_string())?;
                for id in &ids {
                    let ok = rows.iter().find(|r| r.id == *id).is_some_and(|r| {
                        !r.erased
                            && omkijken_core::access(&roster, "cc", &r.header, &r.fields)
                                >= omkijken_core::Access::Read
                    });
                    if !ok {
                        return Err(format!(
                            "dossier of {p} holds {id}, erased or not hers to read"
                        ));
                    }
                }
                self.report.dossiers += 1;
            }
            Frame::Error {
                code: omkijken_core::sync::ErrorCode::NotFound,
                ..
            } if !known => {}
            other => {
                return Err(format!(
                    "dossier request for {p} answered {}",
                    other.type_name()
                ));
            }
        }
        self.hub_output_of(node, out)
    }

    /// The token of a care coordinator's device that is not revoked, if any.
    fn coordinator_token(&self) -> Option<String> {
        self.devices
            .iter()
            .find(|d| d.user == "cc" && !d.revoked)
            .map(|d| d.token.clone())
    }

    fn care_track_request(&mut self) -> SimResult<()> {
        let p = PUPILS[self.rng.random_range(0..PUPILS.len())].to_string();
        let Some(token) = self.coordinator_token() else {
            return Ok(());
        };
        let in_care = !self.in_care[&p];
        let reason = omkijken_server::admin::CARE_TRACK_REASONS[self
            .rng
            .random_range(0..omkijken_server::admin::CARE_TRACK_REASONS.len())];
        let now = self.now();
        let node = self.any_node();
        let (answer, out) = self.node(node).expect("running").request(
            now,
            &token,
            Frame::SetCareTrack {
                pupil: p.clone(),
                in_care,
                reason: reason.into(),
            },
        );
        match answer {
            Frame::CareTrack {
                pupil,
                in_care: now_in_care,
            } if pupil == p => {
                self.in_care.insert(p.clone(), now_in_care);
                self.note(&format!(
                    "care track of {p}: in care {now_in_care} (request)"
                ));
                self.report.care_tracks += 1;
                self.revoked_since_backup = true;
                self.roster_cache = None;
            }
            // A pupil who left has no care track to open or close.
            Frame::Error {
                code: omkijken_core::sync::ErrorCode::NotFound,
                ..
            } if self.left.contains_key(&p) => {}
            other => {
                return Err(format!(
                    "care track request for {p} answered {}",
                    other.type_name()
                ));
            }
        }
        self.hub_output_of(node, out)
    }

    fn change_roster(&mut self) -> SimResult<()> {
        let p = PUPILS[self.rng.random_range(0..PUPILS.len())].to_string();
        if self.rng.random_bool(0.5) {
            let m = self.mentors.get_mut(&p).expect("pupil");
            *m = if m == "m1" { "m2".into() } else { "m1".into() };
        } else {
            let c = self.in_care.get_mut(&p).expect("pupil");
            *c = !*c;
        }
        self.import_roster()
    }

    /// Import the model's roster.
    fn import_roster(&mut self) -> SimResult<()> {
        let csv = roster_csv(&self.mentors, &self.in_care, &self.left);
        let now = self.now();
        let node = self.any_node();
        let (_, out) = self
            .node(node)
            .expect("running")
            .import_roster(now, SCHOOL, &csv)
            .map_err(|e| format!("roster import: {e}"))?;
        if self.trace.is_some() {
            self.note(&format!(
                "roster change: mentors {:?} in care {:?} left {:?}",
                self.mentors, self.in_care, self.left
            ));
        }
        self.report.roster_changes += 1;
        self.revoked_since_backup = true;
        self.roster_cache = None;
        self.hub_output_of(node, out)
    }

    fn revoke(&mut self, i: usize) -> SimResult<()> {
        self.note(&format!("dev{i} is revoked"));
        let now = self.now();
        let dev = self.devices[i].device_id.clone();
        let node = self.any_node();
        let out = self
            .node(node)
            .expect("running")
            .revoke_device(now, &dev)
            .map_err(|e| e.to_string())?;
        self.report.revocations += 1;
        self.revoked_since_backup = true;
        self.hub_output_of(node, out)
    }

    // ---- the hostile device -------------------------------------------------------

    /// Send `frame` from the hostile device straight to the hub; its own answers are
    /// returned (after the delivery checks), everyone else's go out as usual.
    fn hostile_send(&mut self, frame: Frame) -> SimResult<Vec<Frame>> {
        let Some(conn) = self.hostile.as_ref().and_then(|h| h.conn) else {
            return Ok(vec![]);
        };
        let now = self.now();
        let (node, conn) = node_of(conn);
        let Some(hub) = self.node(node) else {
            return Ok(vec![]);
        };
        let mut out = hub.receive_bytes(now, conn, &frame.encode());
        let mut answers = vec![];
        loop {
            let (mine, others): (Vec<_>, Vec<_>) = out.into_iter().partition(|(c, _)| *c == conn);
            self.hub_output_of(node, mine.clone())?;
            self.hub_output_of(node, others)?;
            answers.extend(mine.into_iter().map(|(_, f)| f));
            // Its reads beside the hub (a catch-up, a fetch) come back at once: what it sends
            // next is answered at once, not parked behind them.
            let Some(i) = self
                .catching
                .iter()
                .position(|(_, n, d)| *n == node && d.conn() == conn)
            else {
                break;
            };
            let (_, _, done) = self.catching.remove(i);
            out = self.node(node).expect("running").caught_up(now, done);
        }
        if !self.node(node).expect("running").is_open(conn)
            && let Some(h) = self.hostile.as_mut()
        {
            h.conn = None;
        }
        Ok(answers)
    }

    /// The hostile device connects (if it is not) and catches up from nothing.
    fn hostile_connect(&mut self) -> SimResult<bool> {
        let Some(h) = self.hostile.as_ref() else {
            return Ok(false);
        };
        if h.conn.is_some() {
            return Ok(true);
        }
        let token = h.token.clone();
        let now = self.now();
        let node = self.any_node();
        let Some(Ok(c)) = self.node(node).map(|hub| hub.connect(now, &token)) else {
            return Ok(false);
        };
        self.hostile.as_mut().expect("hostile").conn = Some(sim_conn(node, c.conn));
        self.hostile_send(Frame::Hello {
            protocol: omkijken_core::sync::PROTOCOL_VERSION,
            cursor: 0,
            epoch: None,
            outbox: None,
        })?;
        Ok(self.hostile.as_ref().is_some_and(|h| h.conn.is_some()))
    }

    /// The hostile device tries a forbidden write or read, chosen at random among those
    /// the current documents and roster allow it to try. Invariants: no forbidden write is
    /// acknowledged (a push is answered `refused`; a sync message's changes are not taken),
    /// the server's stored document never contains the forbidden change, and a forbidden
    /// read delivers nothing (every frame passes `check_delivery` too).
    fn hostile_act(&mut self) -> SimResult<()> {
        if self.hub.is_none() || !self.hostile_connect()? {
            return Ok(());
        }
        let h = self.hostile.as_ref().expect("hostile");
        let (user, actor) = (h.user.clone(), h.actor.clone());
        let roster = self.server_roster()?;
        let rows: Vec<_> = self
            .hub()
            .storage()
            .catalog_school(SCHOOL)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|r| !r.erased)
            .collect();
        let readable = |r: &omkijken_server::storage::CatalogRow| {
            access(&roster, &user, &r.header, &r.fields) >= Access::Read
        };
        let signals: Vec<_> = rows
            .iter()
            .filter(|r| r.header.kind == Kind::Signal.as_str())
            .collect();
        // Reads: a document it may not read, or one that does not exist.
        if signals.is_empty() || self.rng.random_bool(0.25) {
            let hidden: Vec<DocumentId> =
                rows.iter().filter(|r| !readable(r)).map(|r| r.id).collect();
            let id = if hidden.is_empty() || self.rng.random_bool(0.3) {
                DocumentId::random()
            } else {
                hidden[self.rng.random_range(0..hidden.len())]
            };
            let answers = if self.rng.random_bool(0.5) {
                self.hostile_send(Frame::Fetch {
                    docs: vec![omkijken_core::sync::FetchRequest {
                        document_id: id,
                        have: vec![],
                    }],
                })?
            } else {
                let m = automerge::sync::SyncDoc::generate_sync_message(
                    &Automerge::new(),
                    &mut automerge::sync::State::new(),
                );
                let Some(m) = m else { return Ok(()) };
                self.hostile_send(Frame::Sync {
                    document_id: id,
                    data: m.encode(),
                })?
            };
            // `check_delivery` judged every frame by access; say it for this id too.
            for f in &answers {
                let content = match f {
                    Frame::Docs { docs, .. } => docs.iter().any(|d| d.document_id == id),
                    Frame::Sync { document_id, data } => {
                        *document_id == id && !sync_says_nothing(data)
                    }
                    _ => false,
                };
                if content {
                    return Err(format!(
                        "LEAK: the hostile device of {user} read {id}, which it may not read: {}",
                        frame_detail(f)
                    ));
                }
            }
            self.report.forbidden_reads += 1;
            return Ok(());
        }
        let months: Vec<_> = rows
            .iter()
            .filter(|r| r.header.kind == Kind::Thermometer.as_str())
            .collect();
        if !months.is_empty() && self.rng.random_bool(0.3) {
            let row = months[self.rng.random_range(0..months.len())];
            let can_read = readable(row);
            return self.hostile_month(&user, &actor, row.id, can_read);
        }
        let row = signals[self.rng.random_range(0..signals.len())];
        let id = row.id;
        let Some(bytes) = self
            .hub()
            .storage()
            .load_doc(id)
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let base = Automerge::load(&bytes).map_err(|e| e.to_string())?;
        let sig: omkijken_core::model::Signal =
            doc::record(id, &base).map_err(|e| e.to_string())?;
        let can_read = readable(row);
        let staff = roster.active_staff(&user).cloned();
        let others: Vec<&str> = ["m1", "m2", "t1", "t2", "cc", "sl"]
            .into_iter()
            .filter(|u| *u != user)
            .collect();
        let other = others[self.rng.random_range(0..others.len())].to_string();
        let at = self.now();
        let fid = format!("f-hostile-{}", self.rng.random::<u32>());
        let entry = |author: &str, kind: &str| omkijken_core::model::FollowUp {
            id: fid.clone(),
            author: author.into(),
            at,
            kind: kind.into(),
            text: "ingevuld door een script".into(),
        };
        // The attacks this signal allows, each forbidden by the rules as they stand now.
        let mut attacks: Vec<(&str, Attack)> = vec![];
        if !can_read {
            // Anything at all: a document it may not read answers as if it did not exist.
            let e = entry(&user, "follow_up");
            attacks.push((
                "a follow-up on a signal it may not read",
                Box::new(move |s| s.follow_ups.push(e)),
            ));
        } else if !sig.shared {
            if sig_author(row) != user {
                attacks.push((
                    "an edit of someone else's draft",
                    Box::new(|s| s.facts.push_str(" (door een ander)")),
                ));
            }
        } else {
            if let Some(k) = sig.follow_ups.iter().position(|f| f.author != user) {
                if self.rng.random_bool(0.5) {
                    attacks.push((
                        "removing another's follow-up",
                        Box::new(move |s| {
                            s.follow_ups.remove(k);
                        }),
                    ));
                } else {
                    attacks.push((
                        "changing another's follow-up",
                        Box::new(move |s| s.follow_ups[k].text = "niets aan de hand".into()),
                    ));
                }
            }
            let e = entry(&other, "follow_up");
            attacks.push((
                "a follow-up in another's name",
                Box::new(move |s| s.follow_ups.push(e)),
            ));
            if staff
                .as_ref()
                .is_some_and(|st| !omkijken_core::model::rules::signal::handles(st, &sig.category))
            {
                let kind = if self.rng.random_bool(0.5) {
                    "picked_up"
                } else {
                    "closed"
                };
                let e = entry(&user, kind);
                attacks.push((
                    "a status entry from outside the care team",
                    Box::new(move |s| s.follow_ups.push(e)),
                ));
            }
        }
        if attacks.is_empty() {
            return Ok(());
        }
        let k = self.rng.random_range(0..attacks.len());
        let (what, edit) = attacks.swap_remove(k);
        // Sometimes behind an allowed change in the same push (a follow-up in its own
        // name): the push is judged whole, so it is refused all the same.
        let mut mid = base.clone();
        let may_write = access(&roster, &user, &row.header, &row.fields) >= Access::Write;
        if may_write && sig.shared && self.rng.random_bool(0.25) {
            let fair = omkijken_core::model::FollowUp {
                id: format!("f-fair-{}", self.rng.random::<u32>()),
                author: user.clone(),
                at,
                kind: "follow_up".into(),
                text: "gewoon een aantekening".into(),
            };
            doc::update(
                id,
                &mut mid,
                &actor,
                at,
                |s: &mut omkijken_core::model::Signal| {
                    s.follow_ups.push(fair);
                    Ok(())
                },
            )
            .map_err(|e| format!("an allowed follow-up: {e}"))?;
        }
        // Sometimes under an actor that is not the device's (another device's changes
        // passed off as its own).
        let writer = if self.rng.random_bool(0.15) {
            automerge::ActorId::from(self.rng.random::<[u8; 16]>().to_vec())
        } else {
            actor.clone()
        };
        let mut after = mid.clone();
        doc::update(
            id,
            &mut after,
            &writer,
            at,
            |s: &mut omkijken_core::model::Signal| {
                edit(s);
                Ok(())
            },
        )
        .map_err(|e| format!("forging {what}: {e}"))?;
        let forged: Vec<ChangeHash> = after
            .get_changes(&mid.get_heads())
            .iter()
            .map(|c| c.hash())
            .collect();
        if forged.is_empty() {
            return Ok(());
        }
        self.hostile_write(&user, what, id, can_read, &base, &after, forged)
    }

    /// A forged write to a thermometer month: an entry in another's name, or an entry
    /// removed or changed (entries are only appended, each in its writer's own name); on a
    /// month it may not read, an entry in its own name.
    fn hostile_month(
        &mut self,
        user: &str,
        actor: &automerge::ActorId,
        id: DocumentId,
        can_read: bool,
    ) -> SimResult<()> {
        use omkijken_core::model::{ThermometerEntry, ThermometerMonth};
        let Some(bytes) = self
            .hub()
            .storage()
            .load_doc(id)
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let base = Automerge::load(&bytes).map_err(|e| e.to_string())?;
        let month: ThermometerMonth = doc::record(id, &base).map_err(|e| e.to_string())?;
        let others: Vec<&str> = ["m1", "m2", "t1", "t2", "cc", "sl"]
            .into_iter()
            .filter(|u| *u != user)
            .collect();
        let other = others[self.rng.random_range(0..others.len())].to_string();
        let at = self.now();
        // The sim's pupils are all in po_5_8.
        let po_5_8_scale = omkijken_core::model::AgeBand::parse("po_5_8")
            .map(|b| omkijken_core::defaults::scale_for(b).id)
            .unwrap_or_default();
        let entry = |by: &str, n: u32| ThermometerEntry {
            id: format!("e-hostile-{n}"),
            at,
            scale: month
                .entries
                .first()
                .map_or_else(|| po_5_8_scale.to_string(), |e| e.scale.clone()),
            score: 1,
            emotions: vec![],
            wants_to_talk: true,
            note: None,
            recorded_by: by.into(),
            source: None,
            session: None,
        };
        let n = self.rng.random::<u32>();
        let (what, edit): (&str, MonthAttack) = if !can_read {
            let e = entry(user, n);
            (
                "a reading in a month it may not read",
                Box::new(move |m| m.entries.push(e)),
            )
        } else if let Some(k) = month
            .entries
            .iter()
            .position(|e| e.recorded_by != user)
            .filter(|_| self.rng.random_bool(0.5))
        {
            if self.rng.random_bool(0.5) {
                (
                    "removing another's reading",
                    Box::new(move |m| {
                        m.entries.remove(k);
                    }),
                )
            } else {
                (
                    "changing another's reading",
                    Box::new(move |m| m.entries[k].score = 5),
                )
            }
        } else {
            let e = entry(&other, n);
            (
                "a reading in another's name",
                Box::new(move |m| m.entries.push(e)),
            )
        };
        let mut after = base.clone();
        doc::update(id, &mut after, actor, at, |m: &mut ThermometerMonth| {
            edit(m);
            Ok(())
        })
        .map_err(|e| format!("forging {what}: {e}"))?;
        let forged: Vec<ChangeHash> = after
            .get_changes(&base.get_heads())
            .iter()
            .map(|c| c.hash())
            .collect();
        if forged.is_empty() {
            return Ok(());
        }
        self.hostile_write(user, what, id, can_read, &base, &after, forged)
    }

    /// Send a forged write (the changes `forged` of `after`, built on the server's `base`
    /// of `id`) by push or sync, sometimes under another id, and check that the server
    /// refuses it and stores none of it.
    #[allow(clippy::too_many_arguments)]
    fn hostile_write(
        &mut self,
        user: &str,
        what: &str,
        id: DocumentId,
        can_read: bool,
        base: &Automerge,
        after: &Automerge,
        forged: Vec<ChangeHash>,
    ) -> SimResult<()> {
        // Under another id: a document that does not exist.
        let (target, what) = if self.rng.random_bool(0.15) {
            (DocumentId::random(), "a document that does not exist")
        } else {
            (id, what)
        };
        // A device that may not read the document has nothing to build on: it sends all.
        let data = if can_read && target == id {
            after.save_after(&base.get_heads())
        } else {
            after.save()
        };
        let sent = if self.rng.random_bool(0.3) {
            Forged::Sync(data)
        } else {
            Forged::Push(data)
        };
        self.note(&format!(
            "the hostile device of {user} tries {what} on {target}"
        ));
        let (answers, by_push) = match sent {
            Forged::Push(data) => (
                self.hostile_send(Frame::Push {
                    docs: vec![omkijken_core::sync::DocChanges::new(target, data)],
                })?,
                true,
            ),
            Forged::Sync(data) => {
                let m = automerge::sync::Message {
                    heads: after.get_heads(),
                    need: vec![],
                    have: vec![],
                    changes: vec![data].into(),
                    flags: None,
                    version: automerge::sync::MessageVersion::V1,
                };
                (
                    self.hostile_send(Frame::Sync {
                        document_id: target,
                        data: m.encode(),
                    })?,
                    false,
                )
            }
        };
        let forged_hex: Vec<String> = forged.iter().map(|h| h.to_string()).collect();
        let mut refused = false;
        for f in &answers {
            match f {
                Frame::Ack { docs } if docs.iter().any(|a| a.document_id == target) => {
                    return Err(format!(
                        "FORBIDDEN WRITE ACKNOWLEDGED: {what} by the hostile device of {user} on {target}"
                    ));
                }
                Frame::Sync { document_id, data } if *document_id == target => {
                    let m = automerge::sync::Message::decode(data).map_err(|e| e.to_string())?;
                    if m.heads.iter().any(|h| forged.contains(h)) {
                        return Err(format!(
                            "FORBIDDEN WRITE ACKNOWLEDGED: {what} by the hostile device of {user} on {target} (sync heads)"
                        ));
                    }
                }
                Frame::Refused { docs } => {
                    for r in docs.iter().filter(|r| r.document_id == target) {
                        // A forged write must be judged by the rules, not dropped unread.
                        if r.reason == omkijken_core::sync::RefusalReason::Malformed {
                            return Err(format!(
                                "{what} by the hostile device was refused as malformed: the sim built it wrong"
                            ));
                        }
                        refused = true;
                        self.note(&format!("  refused: {:?}", r.reason));
                    }
                }
                _ => {}
            }
        }
        if by_push && !refused && self.hostile.as_ref().is_some_and(|h| h.conn.is_some()) {
            return Err(format!(
                "the server did not answer {what} by the hostile device of {user} on {target} with a refusal: {:?}",
                answers.iter().map(|f| f.type_name()).collect::<Vec<_>>()
            ));
        }
        // Nothing of it is stored, under either id.
        for d in [id, target] {
            if let Some(bytes) = self
                .hub()
                .storage()
                .load_doc(d)
                .map_err(|e| e.to_string())?
            {
                let stored = Automerge::load(&bytes).map_err(|e| e.to_string())?;
                if forged
                    .iter()
                    .any(|h| stored.get_change_by_hash(h).is_some())
                {
                    return Err(format!(
                        "FORBIDDEN WRITE STORED: {what} by the hostile device of {user} on {d} ({forged_hex:?})"
                    ));
                }
            }
        }
        self.report.forbidden_writes += 1;
        Ok(())
    }

    // ---- users ------------------------------------------------------------------------

    /// An app of an older version (or with a bug) edits the original facts of a shared
    /// signal of its user, which the store's own checks would not allow: the server refuses
    /// it for good (invalid_record), and the device must keep the edit as a not-accepted
    /// item and take the server's version.
    fn out_of_date_edit(&mut self, i: usize) -> SimResult<()> {
        let Some(store) = self.devices[i].store.clone() else {
            return Ok(());
        };
        if store.is_wiped() {
            return Ok(());
        }
        let user = self.devices[i].user.clone();
        let Ok(signals) = store.list_signals(&SignalFilter::default()) else {
            return Ok(());
        };
        let mine: Vec<DocumentId> = signals
            .iter()
            .filter(|s| s.shared && s.author == user)
            .map(|s| s.id)
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        let id = mine[self.rng.random_range(0..mine.len())];
        let (actor, now) = (store.writer_actor(), self.now());
        let edited = store.transact(id, |d| {
            doc::update::<omkijken_core::model::Signal>(id, d, &actor, now, |s| {
                s.facts.push_str(" (aangepast)");
                Ok(())
            })
        });
        match edited {
            Ok(_) => self.report.out_of_date_edits += 1,
            Err(omkijken_core::Error::Sqlite(e)) => {
                return Err(format!("device {i} storage failed: {e}"));
            }
            Err(_) => {}
        }
        if self.devices[i].conn.is_some() {
            self.engine_input(i, ClientInput::LocalChange)?;
        }
        Ok(())
    }

    /// The user looks at her oldest not-accepted item (its record must read back, as she
    /// had it), and discards it if `discard` (else it stays for another time).
    fn review_not_accepted(&mut self, i: usize, store: &Store, discard: bool) -> SimResult<()> {
        let items = store
            .not_accepted()
            .map_err(|e| format!("device {i}: not-accepted list: {e}"))?;
        let Some(item) = items.first() else {
            return Ok(());
        };
        match store.not_accepted_content(item.id) {
            Ok(record) => {
                let kind_matches = record.document_id == item.document_id
                    && matches!(
                        (&record.body, item.kind),
                        (doc::Body::Conversation(_), Kind::Conversation)
                            | (doc::Body::Signal(_), Kind::Signal)
                            | (doc::Body::Thermometer(_), Kind::Thermometer)
                            | (doc::Body::Case(_), Kind::Case)
                            | (doc::Body::Excursion(_), Kind::Excursion)
                            | (doc::Body::ParentContact(_), Kind::ParentContact)
                            | (doc::Body::SignalNotes(_), Kind::SignalNotes)
                            | (doc::Body::SociogramRound(_), Kind::SociogramRound)
                            | (doc::Body::SociogramAnswers(_), Kind::SociogramAnswers)
                    );
                if !kind_matches {
                    return Err(format!(
                        "device {i}: not-accepted item of a {} reads back as another kind",
                        item.kind.as_str()
                    ));
                }
            }
            // The offline lease may have locked the store: the item waits.
            Err(omkijken_core::Error::Locked) => return Ok(()),
            Err(e) => return Err(format!("device {i}: not-accepted item does not read: {e}")),
        }
        if discard {
            store
                .discard_not_accepted(item.id)
                .map_err(|e| format!("device {i}: discard: {e}"))?;
            self.report.discarded += 1;
        }
        Ok(())
    }

    fn random_edit(&mut self, i: usize) -> SimResult<()> {
        let Some(store) = self.devices[i].store.clone() else {
            return Ok(());
        };
        if store.is_wiped() {
            return Ok(());
        }
        if self.devices[i].session {
            return self.pupil_reading(i, &store);
        }
        let user = self.devices[i].user.clone();
        let pupil = PUPILS[self.rng.random_range(0..PUPILS.len())].to_string();
        let now = self.now();
        let choice = self.rng.random_range(0..10);
        let tag = self.rng.random::<u16>();
        self.review_not_accepted(i, &store, tag % 2 == 0)?;
        // Permission errors are expected (a teacher may not start a kindgesprek); only
        // storage failures end the run.
        let result: omkijken_core::Result<()> = (|| {
            match choice {
                0 | 1 => {
                    let urgency = self.rng.random_range(0..=3);
                    let category = [
                        "welbevinden",
                        "pesten",
                        "thuissituatie",
                        "niet-pluis",
                        "medewerker",
                    ][self.rng.random_range(0..5)];
                    store.record_signal(NewSignal {
                        pupil: pupil.clone(),
                        observed_at: now - 60_000,
                        context: SignalContext {
                            place: "sim".into(),
                            excursion: None,
                        },
                        category: category.into(),
                        urgency,
                        facts: format!("facts {tag}"),
                        interpretation: None,
                        source: Source::seen(),
                        pupil_quote: None,
                        flag: None,
                        // Now and then a draft (only its author changes it; the hostile
                        // device tries to).
                        share: self.rng.random_bool(0.85),
                    })?;
                }
                2 if self.rng.random_bool(0.3) => {
                    // A mentor or teacher answers a request to talk (two devices may answer
                    // the same one concurrently: Automerge keeps one answer).
                    let open = store.open_talk_requests()?;
                    if let Some(r) = open.get(
                        self.rng
                            .random_range(0..open.len().max(1))
                            .min(open.len().saturating_sub(1)),
                    ) {
                        store.answer_talk_request(&r.pupil, &r.entry, "2026-11-24", None)?;
                    }
                }
                2 => {
                    let score = self.rng.random_range(1..=5);
                    store.record_thermometer(NewThermometerEntry {
                        pupil: pupil.clone(),
                        at: now,
                        score,
                        emotions: vec![],
                        wants_to_talk: self.rng.random_bool(0.2),
                        note: None,
                    })?;
                }
                3 => {
                    let id = store.start_conversation(&pupil, "ik-jij-wij", "2026-11-16")?;
                    store.edit_notes(id, 0, 0, &format!("gesprek één {tag} 😀. "))?;
                    if self.rng.random_bool(0.7) {
                        store.share_conversation(id)?;
                    }
                }
                4 | 5 => {
                    // Edit a conversation this user may write, concurrently with others.
                    let convs = store.list_conversations(&pupil)?;
                    if let Some(c) = convs.get(
                        self.rng
                            .random_range(0..convs.len().max(1))
                            .min(convs.len().saturating_sub(1)),
                    ) {
                        // Users type Unicode: positions are UTF-16 units on a char
                        // boundary, as an app's editor hands them over.
                        let notes = store.conversation(c.id)?.notes.as_str().to_string();
                        let chars = self.rng.random_range(0..=notes.chars().count());
                        let prefix: String = notes.chars().take(chars).collect();
                        let pos = omkijken_core::text::utf16_len(&prefix);
                        let words = ["zorgcoördinator", "ideeën", "privé", "👍🏽", "שלום"];
                        let w = words[self.rng.random_range(0..words.len())];
                        store.edit_notes(c.id, pos, 0, &format!("[{user} {w} {tag}]"))?;
                    }
                }
                6 => {
                    // The sociogram of the pupil's group: its mentor opens a round (two
                    // devices of hers may each open one), enters the pupil's answers
                    // (concurrently with her other device, appending to the pupil's one
                    // document), and now and then closes it. Others are refused.
                    let roster = store.roster()?;
                    let Some(group) = roster.pupils.get(&pupil).map(|p| p.group.clone()) else {
                        return Ok(());
                    };
                    let open: Vec<_> = store
                        .list_sociogram_rounds(Some(&group))?
                        .into_iter()
                        .filter(|r| r.status == omkijken_core::model::RoundStatus::Open)
                        .collect();
                    if open.is_empty() || self.rng.random_bool(0.1) {
                        let questions = store
                            .sociogram_questions()?
                            .into_iter()
                            .take(2)
                            .map(|q| omkijken_core::model::SociogramQuestion {
                                id: q.id,
                                text: q.text.nl,
                                polarity: q.polarity,
                            })
                            .collect();
                        store.open_sociogram_round(&group, "2026-11-16", questions)?;
                    } else if self.rng.random_bool(0.1) {
                        store.close_sociogram_round(open[0].id, "2026-11-20")?;
                    } else {
                        let r = &open[self.rng.random_range(0..open.len())];
                        let classmates: Vec<String> = roster
                            .group_pupils(&group)
                            .filter(|p| p.id != pupil && self.rng.random_bool(0.5))
                            .map(|p| p.id.clone())
                            .take(3)
                            .collect();
                        let question = ["spelen_graag", "spelen_niet"][usize::from(tag % 2 == 1)];
                        store.add_sociogram_answers(
                            r.id,
                            &pupil,
                            vec![omkijken_core::store::NewSociogramAnswer {
                                question: question.into(),
                                pupils: classmates,
                            }],
                            omkijken_core::store::AnswerSource::Staff,
                        )?;
                        store.sociogram(r.id, "nl")?;
                    }
                }
                7 => {
                    // The care team opens a meldcode case on a signal it reads.
                    let signals = store.list_signals(&SignalFilter {
                        pupil: Some(pupil.clone()),
                        min_urgency: Some(1),
                        ..Default::default()
                    })?;
                    if let Some(s) = signals.first() {
                        store.open_case(&pupil, &[s.id])?;
                    }
                }
                8 => {
                    // Work on a case, concurrently with the coordinator's other device.
                    let cases = store.list_cases(None)?;
                    if !cases.is_empty() {
                        let c = cases[self.rng.random_range(0..cases.len())].id;
                        match self.rng.random_range(0..5) {
                            0 | 1 => {
                                store.record_case_step(
                                    c,
                                    NewCaseStep {
                                        step: self.rng.random_range(1..=5),
                                        on: "2026-11-17".into(),
                                        participants: vec![user.clone()],
                                        outcome: format!("stap {tag}"),
                                        skipped_because: None,
                                        parents: None,
                                    },
                                )?;
                            }
                            2 => {
                                let unsafety = [Unsafety::None, Unsafety::Acute, Unsafety::Doubt]
                                    [self.rng.random_range(0..3)];
                                store.weigh_case(c, "2026-11-18", true, unsafety)?;
                            }
                            3 => {
                                store.add_monitoring_agreement(
                                    c,
                                    &format!("afspraak {tag}"),
                                    "m1",
                                    None,
                                )?;
                                if self.rng.random_bool(0.5) {
                                    store.report_case(c, "2026-11-19", &format!("VT-{tag}"))?;
                                }
                            }
                            _ => store.close_case(c)?,
                        }
                    }
                }
                9 => {
                    // Plan a trip with some colleagues, or change who goes on one this user
                    // organises (colleagues taken off it are told to purge it).
                    let staff: Vec<String> = ["m1", "m2", "t1", "t2", "cc", "sl"]
                        .into_iter()
                        .filter(|_| self.rng.random_bool(0.4))
                        .map(String::from)
                        .collect();
                    let mine: Vec<_> = store
                        .list_excursions()?
                        .into_iter()
                        .filter(|e| e.organiser == user)
                        .collect();
                    if mine.is_empty() || self.rng.random_bool(0.3) {
                        store.plan_excursion(NewExcursion {
                            name: format!("uitje {tag}"),
                            place: "sim".into(),
                            starts_on: "2027-05-10".into(),
                            ends_on: "2027-05-11".into(),
                            participants: vec![pupil.clone()],
                            staff,
                            contacts: vec![],
                        })?;
                    } else {
                        let e = mine[self.rng.random_range(0..mine.len())].id;
                        store.update_excursion(e, |x| {
                            x.staff = staff;
                            Ok(())
                        })?;
                    }
                }
                _ => {
                    let signals = store.list_signals(&Default::default())?;
                    if !signals.is_empty() {
                        let s = &signals[self.rng.random_range(0..signals.len())];
                        store.append_follow_up(
                            s.id,
                            FollowUpKind::FollowUp,
                            &format!("follow-up {tag}"),
                        )?;
                    }
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => self.report.edits += 1,
            Err(omkijken_core::Error::Sqlite(e)) => {
                return Err(format!("device {i} storage failed: {e}"));
            }
            Err(_) => {}
        }
        if self.devices[i].conn.is_some() {
            self.engine_input(i, ClientInput::LocalChange)?;
        } else {
            self.trace_holding(i);
        }
        Ok(())
    }

    // ---- the run ----------------------------------------------------------------------

    fn step(&mut self) -> SimResult<()> {
        let dt = self.rng.random_range(1..60);
        self.now.fetch_add(dt, Ordering::SeqCst);
        let now = self.now();
        let n = self.devices.len();
        let i = self.rng.random_range(0..n);
        let roll = self.rng.random_range(0..1000);
        match roll {
            0..=399 => self.random_edit(i)?,
            400..=549 if self.devices[i].conn.is_none() && self.devices[i].offline_until <= now => {
                self.connect(i)?
            }
            550..=609 => self.disconnect_device(i)?,
            610..=629 => {
                // A long partition: offline for minutes of simulated time.
                self.disconnect_device(i)?;
                self.devices[i].offline_until = now + self.rng.random_range(10_000..300_000);
            }
            630..=649 => self.crash_device(i)?,
            650..=657 => self.crash_server()?,
            658..=672 if !self.restored_pending => self.change_roster()?,
            // Not while a restore is pending: a device revoked before it gave back what the
            // restored server lost takes that with it (documented), which this run would
            // report as a lost acknowledged change.
            673..=675
                if !self.restored_pending
                    && !self.devices[i].revoked
                    && self.devices.iter().filter(|d| !d.revoked).count() > 2 =>
            {
                self.revoke(i)?;
                self.devices[i].revoked = true;
            }
            676..=720 => {
                // Duplicate an idempotent frame in flight (a retransmission).
                let candidates: Vec<usize> = self
                    .net
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        matches!(
                            Frame::decode(&p.bytes),
                            Ok(Frame::Push { .. } | Frame::Fetch { .. } | Frame::Docs { .. })
                        )
                    })
                    .map(|(i, _)| i)
                    .collect();
                if !candidates.is_empty() {
                    let idx = candidates[self.rng.random_range(0..candidates.len())];
                    self.duplicate(idx);
                }
            }
            721..=726 if self.postgres.is_none() => self.take_backup()?,
            727..=729 if self.backed_up && !self.revoked_since_backup => self.restore_server()?,
            730..=731 => self.erase_pupil()?,
            732..=741 => self.out_of_date_edit(i)?,
            // A pupil session is a lesson: the calendar does not jump days while one runs.
            742..=751 if !self.devices.iter().any(|d| d.session && !d.revoked) => {
                self.jump_clock();
                // The server's daily run, now and then right after the jump.
                if self.rng.random_bool(0.5) {
                    self.run_retention()?;
                }
            }
            752..=759 if !self.restored_pending => self.pupil_leaves_or_returns()?,
            760..=763 => self.toggle_hold()?,
            764..=777 => self.run_retention()?,
            778..=807 => self.hostile_act()?,
            808..=815 if !self.restored_pending => self.care_track_request()?,
            816..=823 if !self.restored_pending => self.start_pupil_session()?,
            824..=827 => self.dossier_request()?,
            _ => {}
        }
        // The clock may have jumped in this step.
        let now = self.now();
        if self.rng.random_bool(0.1)
            && let Some(hub) = self.hub.as_mut()
        {
            let out = hub.poll(now);
            self.hub_output(out)?;
        }
        if self.nodes == 2 {
            // Each node hears of the other's writes soon (a notification, its timer).
            for n in 0..2 {
                if self.rng.random_bool(0.3)
                    && let Some(hub) = self.node(n)
                {
                    let out = hub.poll(now);
                    self.hub_output_of(n, out)?;
                }
            }
        }
        self.deliver_due()
    }

    /// Heal the network, connect every device, and run until nothing moves.
    fn quiesce(&mut self) -> SimResult<()> {
        for i in 0..self.devices.len() {
            self.devices[i].offline_until = 0;
            self.connect(i)?;
        }
        for round in 0..20_000 {
            self.now.fetch_add(50, Ordering::SeqCst);
            let now = self.now();
            for n in 0..self.nodes {
                if let Some(hub) = self.node(n) {
                    let out = hub.poll(now);
                    self.hub_output_of(n, out)?;
                }
            }
            self.deliver_due()?;
            // A device whose connection was closed (for example after a refusal) reconnects.
            for i in 0..self.devices.len() {
                if self.devices[i].conn.is_none()
                    && !self.devices[i]
                        .engine
                        .as_ref()
                        .is_none_or(|e| e.is_revoked())
                {
                    self.connect(i)?;
                }
            }
            if self.net.is_empty() && self.catching.is_empty() {
                let idle = self.devices.iter().all(|d| {
                    d.engine
                        .as_ref()
                        .is_none_or(|e| e.is_revoked() || e.is_idle())
                });
                if idle {
                    // Tick once so read logs and retries go out, then see if it stays quiet.
                    for i in 0..self.devices.len() {
                        if self.devices[i].conn.is_some() {
                            self.engine_input(i, ClientInput::Tick)?;
                        }
                    }
                    self.read_catch_ups();
                    if self.net.is_empty() && self.catching.is_empty() {
                        self.report.quiescent_checks += 1;
                        self.check_converged()?;
                        // Everything is sent: the lessons end (each session wipes itself).
                        return self.end_pupil_sessions();
                    }
                }
            }
            if round == 19_999 {
                let busy: Vec<String> = self
                    .devices
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| {
                        let e = d.engine.as_ref()?;
                        (!e.is_revoked() && !e.is_idle()).then(|| format!("dev{i}: {e:?}"))
                    })
                    .collect();
                let in_flight: Vec<String> = self
                    .net
                    .iter()
                    .map(|p| {
                        let t = Frame::decode(&p.bytes).map_or("?", |f| f.type_name());
                        format!(
                            "{t} {} dev{}",
                            if p.to_server { "->" } else { "<-" },
                            p.device
                        )
                    })
                    .collect();
                return Err(format!(
                    "the system did not quiesce: busy {busy:?}, in flight {in_flight:?}"
                ));
            }
        }
        Ok(())
    }

    /// Invariants at a quiescent point.
    fn check_converged(&mut self) -> SimResult<()> {
        self.check_acked_durable()?;
        self.check_deliveries_audited()?;
        self.restored_pending = false;
        let roster = self.server_roster()?;
        let rows = self
            .hub()
            .storage()
            .catalog_school(SCHOOL)
            .map_err(|e| e.to_string())?;
        let server: HashMap<DocumentId, _> = rows
            .iter()
            .filter(|r| !r.erased)
            .map(|r| (r.id, r))
            .collect();
        let mut docs = ServerDocs::from_rows(&rows);
        for (i, d) in self.devices.iter().enumerate() {
            let Some(store) = &d.store else { continue };
            if d.revoked {
                if !store.is_wiped() {
                    return Err(format!("revoked device {i} ({}) was not wiped", d.user));
                }
                continue;
            }
            if d.session {
                // A pupil session reads nothing and keeps nothing the server has: at a
                // quiescent point every reading was sent, so it holds no document at all
                // (what it wrote is on the server: `check_acked_durable` saw the acks).
                let held = store.documents().map_err(|e| format!("device {i}: {e}"))?;
                if let Some(info) = held.first() {
                    return Err(format!(
                        "pupil session dev{i} still holds {} ({}), acked {}",
                        info.id,
                        info.header.kind,
                        info.acked_heads.as_ref().is_some_and(|a| {
                            let mut a = a.clone();
                            a.sort();
                            let mut h = info.heads.clone();
                            h.sort();
                            a == h
                        })
                    ));
                }
                let items = store.not_accepted().map_err(|e| e.to_string())?;
                if !items.is_empty() {
                    return Err(format!(
                        "pupil session dev{i} keeps {} readings the server refused",
                        items.len()
                    ));
                }
                continue;
            }
            let held: HashMap<DocumentId, Vec<ChangeHash>> = store
                .documents()
                .map_err(|e| format!("device {i}: {e}"))?
                .into_iter()
                .map(|info| (info.id, info.heads))
                .collect();
            for (id, row) in &server {
                let may = access(&roster, &d.user, &row.header, &row.fields) >= Access::Read;
                match (may, held.get(id)) {
                    (true, None) => {
                        return Err(format!(
                            "device {i} ({}) may read {id} ({}) but does not hold it",
                            d.user, row.header.kind
                        ));
                    }
                    (true, Some(heads)) => {
                        let mut a = heads.clone();
                        a.sort();
                        let mut b = row.heads.clone();
                        b.sort();
                        if a != b {
                            let info = store.info(*id).map_err(|e| e.to_string())?;
                            return Err(format!(
                                "device {i} ({}) holds {id} ({}) with other heads than the server: local {:?} acked {:?} server {:?} refused {}",
                                d.user,
                                row.header.kind,
                                info.as_ref().map(|i| i
                                    .heads
                                    .iter()
                                    .map(|h| h.to_string()[..6].to_string())
                                    .collect::<Vec<_>>()),
                                info.as_ref().map(|i| i.acked_heads.clone().map(|h| h
                                    .iter()
                                    .map(|h| h.to_string()[..6].to_string())
                                    .collect::<Vec<_>>())),
                                b.iter()
                                    .map(|h| h.to_string()[..6].to_string())
                                    .collect::<Vec<_>>(),
                                d.refused.contains(id)
                            ));
                        }
                    }
                    (false, Some(_)) => {
                        let pupil = row.header.pupil.clone().unwrap_or_default();
                        let p = roster.pupils.get(&pupil);
                        return Err(format!(
                            "device {i} ({}) still holds {id} ({}) it may not read: author {}, pupil {pupil} (mentors {:?}, in care {:?}), fields {:?}, refused by server {}",
                            d.user,
                            row.header.kind,
                            row.header.author,
                            p.map(|p| p.mentors.clone()),
                            p.map(|p| p.in_care),
                            row.fields,
                            d.refused.contains(id)
                        ));
                    }
                    (false, None) => {}
                }
            }
            for id in held.keys() {
                if self.erased.contains_key(id) {
                    return Err(format!(
                        "device {i} ({}) still holds {id}, which was erased",
                        d.user
                    ));
                }
                if !server.contains_key(id) {
                    // A write the server refused for good is a not-accepted item now, not a
                    // document the server lacks.
                    let info = store.info(*id).map_err(|e| e.to_string())?;
                    let what = info
                        .map(|i| {
                            format!(
                                "{} by {} about {:?}, acked {:?}",
                                i.header.kind,
                                i.header.author,
                                i.header.pupil,
                                i.acked_heads.map(|a| a.len())
                            )
                        })
                        .unwrap_or_default();
                    return Err(format!(
                        "device {i} ({}) holds {id} that the server does not have: {what}, refused by server {}",
                        d.user,
                        d.refused.contains(id)
                    ));
                }
            }
            // Not-accepted items: only of documents the user may read (by the server's
            // roster). (Users read them back in `random_edit`.)
            for item in store.not_accepted().map_err(|e| e.to_string())? {
                if self.erased.contains_key(&item.document_id) {
                    // An erased document leaves nothing on a device, not even a change of
                    // it the server refused: a refusal under a taken id (an erased
                    // thermometer month, whose id is derived) is followed by a purge.
                    return Err(format!(
                        "device {i} ({}) keeps a not-accepted item of {} ({}), which was erased",
                        d.user,
                        item.document_id,
                        item.kind.as_str()
                    ));
                }
                let header = store
                    .not_accepted_header(item.id)
                    .map_err(|e| e.to_string())?;
                if let Some((h, f)) = header
                    && access(&roster, &d.user, &h, &f) < Access::Read
                {
                    return Err(format!(
                        "device {i} ({}) keeps a not-accepted item of {} ({}) it may not read",
                        d.user, item.document_id, h.kind
                    ));
                }
            }
            // Every change this device saw acknowledged is on the server.
            for info in store.documents().map_err(|e| e.to_string())? {
                let Some(acked) = info.acked_heads else {
                    continue;
                };
                match docs.missing(self.hub.as_mut().expect("hub"), info.id, &acked)? {
                    Held::All => {}
                    Held::Erased | Held::NoDocument => {
                        return Err(format!(
                            "device {i}: acknowledged document {} is not on the server",
                            info.id
                        ));
                    }
                    Held::Missing(_) => {
                        return Err(format!(
                            "device {i}: change acknowledged for {} is not on the server",
                            info.id
                        ));
                    }
                }
            }
        }
        self.report.documents = server.len() as u64;
        Ok(())
    }
}

/// Run one seed.
pub fn run(seed: u64, config: &Config) -> Result<Report, Failure> {
    let base = if Path::new("/dev/shm").is_dir() {
        Some(Path::new("/dev/shm"))
    } else {
        None
    };
    let postgres = config.postgres.is_some();
    let fail = |message: String| Failure {
        seed,
        message,
        postgres,
    };
    let dir = match base {
        Some(b) => tempfile::tempdir_in(b),
        None => tempfile::tempdir(),
    }
    .map_err(|e| fail(format!("tempdir: {e}")))?;
    // The server refuses a data directory others may enter.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(format!("tempdir: {e}")))?;
    }
    let mut sim = Sim::new(seed, dir.path(), config.postgres.as_deref()).map_err(fail)?;
    for step in 0..config.steps {
        sim.step().map_err(|m| fail(format!("step {step}: {m}")))?;
        if step > 0 && step % config.quiesce_every == 0 {
            sim.quiesce()
                .map_err(|m| fail(format!("quiescent point at step {step}: {m}")))?;
        }
    }
    sim.quiesce()
        .map_err(|m| fail(format!("final quiescent point: {m}")))?;
    for i in 0..sim.devices.len() {
        sim.count_engine_stats(i);
    }
    Ok(sim.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 431136197 found a device holding a trip it was taken off: the network had
    /// delivered a copy of the server's answer to its fetch after the purge the server sent
    /// next. Over one WebSocket the server's frames never change order; a copy of one
    /// arrives right after the original.
    #[test]
    fn a_duplicated_server_frame_never_overtakes_a_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut sim = Sim::new(7, dir.path(), None).unwrap();
        let conn = ConnId(99);
        let docs = Frame::Docs {
            docs: vec![],
            cursor: 1,
        };
        let purge = Frame::Purge { docs: vec![] };
        sim.send(conn, false, 0, &docs);
        sim.send(conn, false, 0, &purge);
        sim.duplicate(0);
        let mut order = vec![];
        let far = sim.now() + 1_000_000;
        while let Some(i) = sim.next_due(far) {
            let p = sim.net.remove(i);
            order.push(Frame::decode(&p.bytes).unwrap().type_name());
        }
        assert_eq!(order, vec!["docs", "docs", "purge"]);
    }
}
