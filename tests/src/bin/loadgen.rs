//! Load generator: K devices of one school (30 groups, 750 pupils, 210 staff) against the
//! real `omkijken-server` binary, started here on a fresh data directory (encrypted store).
//!
//!     cargo build --release -p omkijken-server -p omkijken-tests --bin omkijken-server --bin loadgen
//!     target/release/loadgen --devices 2000 --rate 100 --seconds 20
//!
//! Options (`loadgen --help`): `--devices K` (500), `--rate R` pushes per second (100),
//! `--seconds S` of steady pushes (20), `--seed-docs N` signals written before the devices
//! connect (200, so each catches up a few), `--server BIN` (default: `omkijken-server` next
//! to this binary, or `OMKIJKEN_SERVER_BIN`), `--keep DIR` (set the school up once in DIR and copy it for
//! each run: enrolling thousands of devices takes a while). Every staff member has K/210 devices (at least one); the five
//! care coordinators' devices are the "coordinator devices". With fewer devices in a school
//! than staff, the devices are spread over the whole staff list, so the coordinators have
//! some. `--fresh K`: halfway through
//! the steady pushes, K teachers' devices open a second session and catch up from nothing
//! (with many `--seed-docs`, a long read of the school's catalog): the time they take, and
//! what it does to the others' acks; with `--pull 1` they also fetch every document their
//! catalog lists (a fresh device's first pull: fetches of 500), and the time runs until the
//! last one arrived. `--schools S` (1): S schools on the node, each with
//! that roster, device i in school i mod S (10,000 devices in 20 schools: 2-3 devices per
//! staff member, as on a school board's server; in one school, 48 each, so every push goes
//! to 282 devices).
//!
//! `--postgres URL` sets the school up in that PostgreSQL database (an empty one) instead
//! of a SQLite store, and `--nodes N` (default 1, with PostgreSQL 2) starts N server nodes
//! on it. Device i connects to node i mod N, and after the reconnect to the next node: no
//! sticky sessions, so a coordinator's live fan-out often crosses nodes. Server CPU and RSS
//! are then the sum over the nodes, and the database's CPU (its processes on this machine)
//! is reported beside them.
//!
//! Phases: a connection storm (all K connect at once and catch up: time until every
//! catalog is complete), idle (server CPU and RSS), steady pushes (each a new signal by a
//! teacher's device about one of the pupils of her groups, urgency 1: its mentor and the
//! care coordinators read it; ack latency at the pusher, live fan-out latency at the
//! coordinator devices, from the push and after the ack), then a reconnect storm (all
//! close and connect again with the cursor they kept: time, and catalog entries sent).
//! Reports percentiles, and the server's CPU (from /proc/PID/stat) and RSS per phase.

use anyhow::{Context, Result, bail};
use automerge::ActorId;
use futures_util::{SinkExt, StreamExt};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::{Header, Kind, SCHEMA_VERSION, Signal, SignalContext, Source};
use omkijken_core::sync::{DocChanges, FetchRequest, Frame, PROTOCOL_VERSION};
use omkijken_server::secure::StoreKey;
use omkijken_server::storage::{PostgresStorage, SqliteStorage, Storage};
use omkijken_server::{Hub, HubConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http};

const SCHOOL: &str = "load-school";
const KEY: &str = "loadgen-store-passphrase";
const GROUPS: usize = 30;
const PUPILS_PER_GROUP: usize = 25;
const COORDINATORS: usize = 5;
const LEADERS: usize = 3;
const TEACHERS: usize = 210 - GROUPS - COORDINATORS - LEADERS;
const NOW: i64 = 1_795_338_000_000;

/// Load generator: K devices of one school (or S schools) against the real server binary.
#[derive(clap::Parser)]
#[command(name = "loadgen")]
struct Args {
    /// Devices to enroll and hold connected.
    #[arg(long, default_value_t = 500)]
    devices: usize,
    /// Steady pushes per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of steady pushes.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Signals written before the devices connect (each catches up a few).
    #[arg(long, default_value_t = 200)]
    seed_docs: usize,
    /// The server binary (default: `omkijken-server` next to this binary).
    #[arg(long, env = "OMKIJKEN_SERVER_BIN")]
    server: Option<PathBuf>,
    /// A set-up school kept between runs: made once in DIR, copied for each run.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// A PostgreSQL database (empty) instead of the SQLite store.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Server nodes on the one store (PostgreSQL only; default 1, with PostgreSQL 2).
    #[arg(long)]
    nodes: Option<usize>,
    /// Devices that catch up from nothing (a second session, cursor 0) halfway through the
    /// steady pushes: what a long catch-up does to the others' acks.
    #[arg(long, default_value_t = 0)]
    fresh: usize,
    /// 1: the fresh devices also fetch every document listed.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pull: u8,
    /// Schools on the node, each with the same roster; device i belongs to school i mod S.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    schools: u64,
}

/// The arguments, checked: what the run uses.
struct Run {
    devices: usize,
    rate: f64,
    seconds: f64,
    seed_docs: usize,
    server: PathBuf,
    keep: Option<PathBuf>,
    postgres: Option<String>,
    nodes: usize,
    fresh: usize,
    pull: bool,
    schools: usize,
}

fn args() -> Result<Run> {
    let a = <Args as clap::Parser>::parse();
    let nodes = match (&a.postgres, a.nodes) {
        (None, None | Some(0 | 1)) => 1,
        (None, Some(_)) => bail!("--nodes needs --postgres: nodes share a PostgreSQL database"),
        (Some(_), None | Some(0)) => 2,
        (Some(_), Some(n)) => n,
    };
    if a.postgres.is_some() && a.keep.is_some() {
        bail!("--keep copies a SQLite store; with --postgres the school is set up each run");
    }
    let server = a.server.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("omkijken-server")))
            .unwrap_or_else(|| "omkijken-server".into())
    });
    Ok(Run {
        devices: a.devices,
        rate: a.rate,
        seconds: a.seconds,
        seed_docs: a.seed_docs,
        server,
        keep: a.keep,
        postgres: a.postgres,
        nodes,
        fresh: a.fresh,
        pull: a.pull == 1,
        schools: a.schools as usize,
    })
}

/// One staff member: id and roles.
struct StaffMember {
    id: String,
    coordinator: bool,
    /// The groups she teaches (mentors and teachers).
    groups: Vec<usize>,
}

fn staff() -> Vec<StaffMember> {
    let mut s = vec![];
    for g in 0..GROUPS {
        s.push(StaffMember {
            id: format!("m{g:02}"),
            coordinator: false,
            groups: vec![g],
        });
    }
    for t in 0..TEACHERS {
        s.push(StaffMember {
            id: format!("t{t:03}"),
            coordinator: false,
            groups: vec![t % GROUPS, (t + 7) % GROUPS],
        });
    }
    for c in 0..COORDINATORS {
        s.push(StaffMember {
            id: format!("ib{c}"),
            coordinator: true,
            groups: vec![],
        });
    }
    for l in 0..LEADERS {
        s.push(StaffMember {
            id: format!("sl{l}"),
            coordinator: false,
            groups: vec![],
        });
    }
    s
}

/// The id of school `s` (the first keeps the name of the one-school runs).
fn school(s: usize) -> String {
    if s == 0 {
        SCHOOL.to_string()
    } else {
        format!("{SCHOOL}-{s}")
    }
}

fn pupil(g: usize, i: usize) -> String {
    format!("p{g:02}{i:02}")
}

fn roster_csv(staff: &[StaffMember]) -> String {
    let mut csv = String::from("type,id,name,group,age_band,in_care,roles,mentors,teaches\n");
    for g in 0..GROUPS {
        csv.push_str(&format!("group,g{g:02},Groep {g},,,,,,\n"));
    }
    for s in staff {
        let roles = if s.coordinator {
            "care_coordinator"
        } else if s.id.starts_with('m') {
            "mentor;teacher"
        } else if s.id.starts_with("sl") {
            "school_leader"
        } else {
            "teacher"
        };
        let teaches: Vec<String> = s.groups.iter().map(|g| format!("g{g:02}")).collect();
        csv.push_str(&format!(
            "staff,{},Staff {},,,,{roles},,{}\n",
            s.id,
            s.id,
            teaches.join(";")
        ));
    }
    for g in 0..GROUPS {
        for i in 0..PUPILS_PER_GROUP {
            let in_care = i % 10 == 0;
            csv.push_str(&format!(
                "pupil,{},Leerling,g{g:02},po_5_8,{in_care},,m{g:02},\n",
                pupil(g, i)
            ));
        }
    }
    csv
}

/// A signal by `author` about `pupil`: urgency 1, so its mentor and the care coordinators
/// read it.
fn signal_doc(actor: &ActorId, school: &str, author: &str, pupil: &str, n: u64) -> Result<Vec<u8>> {
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: school.into(),
        pupil: Some(pupil.into()),
        author: author.into(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    };
    let record = Signal {
        observed_at: NOW,
        recorded_at: NOW,
        context: SignalContext {
            place: "plein".into(),
            excursion: None,
        },
        category: "welbevinden".into(),
        urgency: 1,
        facts: format!("load {n}"),
        interpretation: None,
        source: Source::seen(),
        pupil_quote: None,
        flag: None,
        shared: true,
        follow_ups: vec![],
        added_readers: vec![],
    };
    Ok(doc::create(actor.clone(), NOW, &header, &record)?.save())
}

/// An enrolled device.
#[derive(Clone)]
struct Dev {
    token: String,
    actor: ActorId,
    user: usize,
    /// Its school ([`school`]).
    school: usize,
}

/// A private data directory (the server refuses one others may enter).
fn private_dir(data: &Path) -> Result<()> {
    std::fs::create_dir_all(data)?;
    std::fs::set_permissions(data, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

/// The store to set the school up in: the PostgreSQL database, or an encrypted SQLite
/// store in `data`.
fn open_store(data: &Path, postgres: Option<&str>) -> Result<Box<dyn Storage>> {
    private_dir(data)?;
    Ok(match postgres {
        Some(url) => Box::new(PostgresStorage::open(url, None)?),
        None => {
            let key = StoreKey::passphrase(KEY);
            Box::new(SqliteStorage::open(
                data.join("omkijken.db"),
                Some(key.pragma()),
            )?)
        }
    })
}

/// The staff member (index) of a school's `j`th device, of `per_school`: the staff in turn,
/// or with fewer devices than staff spread over the whole list (the care coordinators
/// stand at its end and must have devices: they are the ones the fan-out is measured at).
fn staff_of(j: usize, per_school: usize, staff: usize) -> usize {
    if per_school < staff {
        j * staff / per_school
    } else {
        j % staff
    }
}

/// Create the schools, import their rosters, enroll the devices (device i in school i mod
/// `schools`) and write `seed_docs` signals (spread over the schools), on the store
/// directly (the server is not running yet).
fn set_up(
    storage: Box<dyn Storage>,
    staff: &[StaffMember],
    k: usize,
    seed_docs: usize,
    schools: usize,
) -> Result<Vec<Dev>> {
    let mut hub = Hub::new(storage, HubConfig::default(), [7; 32])?;
    for s in 0..schools {
        hub.create_school(NOW, &school(s), "Load")?;
        hub.import_roster(NOW, &school(s), &roster_csv(staff))?;
    }
    let mut devs = vec![];
    for i in 0..k {
        let s = i % schools;
        let user = staff_of(i / schools, k.div_ceil(schools), staff.len());
        let code = hub.issue_code(NOW, &school(s), &staff[user].id)?;
        let actor = ActorId::random();
        let f = hub.enroll(
            NOW,
            Frame::Enroll {
                code,
                actor: actor.to_hex_string(),
                label: format!("load {i}"),
            },
        );
        let Frame::Enrolled { token, .. } = f else {
            bail!("enrollment refused: {f:?}");
        };
        devs.push(Dev {
            token,
            actor,
            user,
            school: s,
        });
    }
    // A few documents to catch up: signals by the first teacher's first device of each
    // school.
    let t = staff
        .iter()
        .position(|s| s.id.starts_with('t'))
        .unwrap_or(0);
    for s in 0..schools {
        let n_here = (0..seed_docs).filter(|n| n % schools == s).count();
        let Some(d) = devs.iter().find(|d| d.user == t && d.school == s) else {
            continue;
        };
        if n_here == 0 {
            continue;
        }
        let c = hub
            .connect(NOW, &d.token)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let hello = Frame::Hello {
            protocol: PROTOCOL_VERSION,
            cursor: 0,
            epoch: None,
            outbox: None,
        };
        hub.receive(NOW, c.conn, hello);
        for n in 0..n_here {
            let g = staff[t].groups[n % staff[t].groups.len()];
            let p = pupil(g, n % PUPILS_PER_GROUP);
            let data = signal_doc(&d.actor, &school(s), &staff[t].id, &p, n as u64)?;
            let push = Frame::Push {
                docs: vec![DocChanges::new(DocumentId::random(), data)],
            };
            hub.receive(NOW, c.conn, push);
        }
        hub.disconnect(c.conn);
    }
    Ok(devs)
}

/// The schools set up in `keep` for these options (made there first if need be), copied
/// to `data`.
fn kept(keep: &Path, data: &Path, staff: &[StaffMember], a: &Run) -> Result<Vec<Dev>> {
    let name = match a.schools {
        1 => format!("k{}-s{}", a.devices, a.seed_docs),
        n => format!("k{}-s{}-n{n}", a.devices, a.seed_docs),
    };
    let dir = keep.join(name);
    let list = dir.join("devices.txt");
    if !list.exists() {
        let store = open_store(&dir.join("data"), None)?;
        let devs = set_up(store, staff, a.devices, a.seed_docs, a.schools)?;
        let text: Vec<String> = devs
            .iter()
            .map(|d| {
                format!(
                    "{} {} {} {}",
                    d.token,
                    d.actor.to_hex_string(),
                    d.user,
                    d.school
                )
            })
            .collect();
        std::fs::write(&list, text.join("\n"))?;
    }
    private_dir(data)?;
    for e in std::fs::read_dir(dir.join("data"))? {
        let e = e?;
        std::fs::copy(e.path(), data.join(e.file_name()))?;
    }
    let mut devs = vec![];
    for l in std::fs::read_to_string(&list)?.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        // Lists kept before `--schools` have no school column: one school.
        let (token, actor, user, s) = match f[..] {
            [token, actor, user] => (token, actor, user, "0"),
            [token, actor, user, s] => (token, actor, user, s),
            _ => bail!("a bad line in {}", list.display()),
        };
        devs.push(Dev {
            token: token.into(),
            actor: ActorId::from(hex::decode(actor)?),
            user: user.parse()?,
            school: s.parse()?,
        });
    }
    Ok(devs)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(bin: &Path, data: &Path, postgres: Option<&str>, port: u16) -> Result<Server> {
    // `OMKIJKEN_SERVER_LOG=FILE`: the server's log (info) is appended to FILE.
    let log = match std::env::var_os("OMKIJKEN_SERVER_LOG") {
        Some(f) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)?,
        ),
        None => None,
    };
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--data"]).arg(data);
    if let Some(url) = postgres {
        cmd.args(["--database", url]);
    }
    let child = cmd
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("OMKIJKEN_DB_KEY", KEY)
        .env("OMKIJKEN_MAX_CONNECTIONS", "100000")
        .env("OMKIJKEN_MAX_CONNECTIONS_PER_ADDRESS", "100000")
        .env("OMKIJKEN_HELLO_TIMEOUT", "120s")
        .env("OMKIJKEN_SESSION_IDLE_TIMEOUT", "1h")
        .env("RUST_LOG", if log.is_some() { "info" } else { "warn" })
        .stdout(match &log {
            Some(f) => Stdio::from(f.try_clone()?),
            None => Stdio::null(),
        })
        .stderr(match &log {
            Some(f) => Stdio::from(f.try_clone()?),
            None => Stdio::inherit(),
        })
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let server = Server { child };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("the server did not start")
}

/// CPU seconds (user + system) and RSS (MiB), summed over processes.
fn procs_stats(pids: &[u32]) -> (f64, f64) {
    pids.iter()
        .map(|&p| proc_stats(p))
        .fold((0.0, 0.0), |(c, r), (c1, r1)| (c + c1, r + r1))
}

/// The processes of the PostgreSQL server on this machine (empty without one).
fn postgres_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}

/// CPU seconds (user + system) and RSS (MiB) of a process.
fn proc_stats(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    (cpu, rss)
}

/// Shared clocks of the pushes: when each document was pushed and acknowledged.
#[derive(Default)]
struct Clock {
    pushed: Mutex<HashMap<DocumentId, (Instant, Option<Instant>)>>,
    ack_ms: Mutex<Vec<f64>>,
    /// Fan-out to coordinator devices: from the push, and after the ack.
    fan_ms: Mutex<Vec<f64>>,
    fan_after_ack_ms: Mutex<Vec<f64>>,
    live_docs: AtomicU64,
    /// Acks slower than [`SLOW_ACK_MS`]: when they were pushed (s into the steady pushes).
    slow: Mutex<Vec<f64>>,
    /// When the steady pushes began.
    start: std::sync::OnceLock<Instant>,
}

/// An ack slower than this is counted by the second of its push (when the slow ones come).
const SLOW_ACK_MS: f64 = 50.0;

enum Cmd {
    Push(DocumentId, Vec<u8>),
    Close(oneshot::Sender<u64>),
}

/// Connect one device with `cursor`, catch up; returns the session's command channel and
/// a receiver that fires with (the catalog entries of the catch-up) once it is complete.
async fn session(
    url: String,
    dev: Dev,
    coordinator: bool,
    pull: bool,
    cursor: Arc<AtomicU64>,
    clock: Arc<Clock>,
) -> Result<(mpsc::UnboundedSender<Cmd>, oneshot::Receiver<usize>)> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert(
        http::header::AUTHORIZATION,
        http::HeaderValue::from_str(&format!("Bearer {}", dev.token))?,
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await?;
    let (mut tx, mut rx) = ws.split();
    let hello = Frame::Hello {
        protocol: PROTOCOL_VERSION,
        cursor: cursor.load(Ordering::Relaxed),
        epoch: None,
        outbox: None,
    };
    tx.send(Message::binary(hello.encode())).await?;
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Cmd>();
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut done = Some(done_tx);
        let mut entries = 0usize;
        let mut pending: HashMap<DocumentId, Instant> = HashMap::new();
        // With `pull`: the documents listed, then those asked for and not yet arrived.
        let mut listed: Vec<DocumentId> = vec![];
        let mut fetching: std::collections::HashSet<DocumentId> = Default::default();
        loop {
            tokio::select! {
                cmd = cmd_rx.recv() => match cmd {
                    Some(Cmd::Push(id, data)) => {
                        pending.insert(id, Instant::now());
                        clock.pushed.lock().unwrap().insert(id, (Instant::now(), None));
                        let f = Frame::Push { docs: vec![DocChanges::new(id, data)] };
                        if tx.send(Message::binary(f.encode())).await.is_err() {
                            break;
                        }
                    }
                    Some(Cmd::Close(reply)) => {
                        let _ = tx.send(Message::Close(None)).await;
                        let _ = reply.send(cursor.load(Ordering::Relaxed));
                        break;
                    }
                    None => break,
                },
                msg = rx.next() => {
                    let Some(Ok(msg)) = msg else { break };
                    let Message::Binary(b) = msg else { continue };
                    let Ok(frame) = Frame::decode(&b) else { break };
                    match frame {
                        Frame::Catalog { entries: e, cursor: c, complete, .. } => {
                            entries += e.len();
                            if pull {
                                listed.extend(e.iter().map(|e| e.document_id));
                            }
                            if complete {
                                // A device keeps the catalog's cursor once it fetched what
                                // it lacks; here nothing is fetched unless `pull` (the load
                                // is the server's catch-up, not the documents).
                                cursor.fetch_max(c, Ordering::Relaxed);
                                let mut sent = true;
                                for chunk in listed.chunks(500) {
                                    fetching.extend(chunk.iter().copied());
                                    let docs = chunk
                                        .iter()
                                        .map(|id| FetchRequest { document_id: *id, have: vec![] })
                                        .collect();
                                    let f = Frame::Fetch { docs };
                                    sent &= tx.send(Message::binary(f.encode())).await.is_ok();
                                }
                                if !sent {
                                    break;
                                }
                                if fetching.is_empty() && let Some(d) = done.take() {
                                    let _ = d.send(entries);
                                }
                            }
                        }
                        Frame::Docs { docs, cursor: c } => {
                            if !fetching.is_empty() {
                                for d in &docs {
                                    fetching.remove(&d.document_id);
                                }
                                if fetching.is_empty() && let Some(d) = done.take() {
                                    let _ = d.send(entries);
                                }
                            }
                            let now = Instant::now();
                            if c > 0 {
                                cursor.fetch_max(c, Ordering::Relaxed);
                            }
                            if coordinator && !docs.is_empty() {
                                let pushed = clock.pushed.lock().unwrap();
                                for d in &docs {
                                    if let Some((at, acked)) = pushed.get(&d.document_id) {
                                        clock.live_docs.fetch_add(1, Ordering::Relaxed);
                                        clock.fan_ms.lock().unwrap()
                                            .push(now.duration_since(*at).as_secs_f64() * 1e3);
                                        if let Some(a) = acked {
                                            let ms = now.saturating_duration_since(*a);
                                            clock.fan_after_ack_ms.lock().unwrap()
                                                .push(ms.as_secs_f64() * 1e3);
                                        }
                                    }
                                }
                            }
                        }
                        Frame::Ack { docs } => {
                            let now = Instant::now();
                            for a in docs {
                                if let Some(at) = pending.remove(&a.document_id) {
                                    let ms = now.duration_since(at).as_secs_f64() * 1e3;
                                    clock.ack_ms.lock().unwrap().push(ms);
                                    if ms > SLOW_ACK_MS && let Some(start) = clock.start.get() {
                                        clock.slow.lock().unwrap()
                                            .push(at.saturating_duration_since(*start).as_secs_f64());
                                    }
                                    if let Some(e) = clock.pushed.lock().unwrap().get_mut(&a.document_id) {
                                        e.1 = Some(now);
                                    }
                                }
                            }
                        }
                        Frame::Error { .. } | Frame::Revoked {} => break,
                        _ => {}
                    }
                }
            }
        }
    });
    Ok((cmd_tx, done_rx))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Connect every device at once, device i to node (i + shift) mod the nodes; the time
/// until every catch-up is complete, and the catalog entries sent.
async fn storm(
    urls: &[String],
    shift: usize,
    devs: &[Dev],
    staff: &[StaffMember],
    cursors: &[Arc<AtomicU64>],
    clock: &Arc<Clock>,
) -> Result<(f64, usize, Vec<mpsc::UnboundedSender<Cmd>>)> {
    let start = Instant::now();
    let mut tasks = vec![];
    for (i, d) in devs.iter().enumerate() {
        let (url, d, cur, clock) = (
            urls[(i + shift) % urls.len()].clone(),
            d.clone(),
            cursors[i].clone(),
            clock.clone(),
        );
        let coord = staff[d.user].coordinator;
        tasks.push(tokio::spawn(async move {
            let (cmd, done) = session(url, d, coord, false, cur, clock).await?;
            let entries = tokio::time::timeout(Duration::from_secs(300), done)
                .await
                .context("catch-up timed out")??;
            Ok::<_, anyhow::Error>((cmd, entries))
        }));
    }
    let mut cmds = vec![];
    let mut entries = 0;
    for t in tasks {
        let (c, e) = t.await??;
        cmds.push(c);
        entries += e;
    }
    Ok((start.elapsed().as_secs_f64(), entries, cmds))
}

fn main() -> Result<()> {
    let a = args()?;
    let staff = staff();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let t = Instant::now();
    let devs = match &a.keep {
        None => set_up(
            open_store(&data, a.postgres.as_deref())?,
            &staff,
            a.devices,
            a.seed_docs,
            a.schools,
        )?,
        Some(keep) => kept(keep, &data, &staff, &a)?,
    };
    eprintln!(
        "set up: {} devices of {} staff in {} school(s), {} seed documents, {:.1} s",
        devs.len(),
        staff.len() * a.schools,
        a.schools,
        a.seed_docs,
        t.elapsed().as_secs_f64()
    );
    let mut servers = vec![];
    let mut urls = vec![];
    for n in 0..a.nodes {
        let port = free_port()?;
        // Each node its own data directory (its key file, its lock); with PostgreSQL the
        // documents are in the database.
        let node_data = if n == 0 {
            data.clone()
        } else {
            let d = dir.path().join(format!("data-{n}"));
            private_dir(&d)?;
            d
        };
        servers.push(start_server(
            &a.server,
            &node_data,
            a.postgres.as_deref(),
            port,
        )?);
        urls.push(format!("ws://127.0.0.1:{port}/v1/sync"));
    }
    let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
    let db_pids = if a.postgres.is_some() {
        postgres_pids()
    } else {
        vec![]
    };
    // Server CPU s and RSS MiB (summed over the nodes), and the database's CPU s.
    let stats = || {
        let (c, r) = procs_stats(&pids);
        (c, r, procs_stats(&db_pids).0)
    };
    // What a phase adds to a line with PostgreSQL: the database's CPU.
    let db = |d0: f64, d1: f64, secs: Option<f64>| match (db_pids.is_empty(), secs) {
        (true, _) => String::new(),
        (false, None) => format!("; database CPU {:.1} s", d1 - d0),
        (false, Some(s)) => format!("; database CPU {:.0}% of a core", (d1 - d0) / s * 100.0),
    };
    // A node refreshes the staff's roster views on a thread of its own after it starts
    // (serving meanwhile); the phases are measured once the nodes are quiet.
    let started = Instant::now();
    let mut last = stats().0;
    loop {
        std::thread::sleep(Duration::from_millis(1000));
        let now = stats().0;
        if now - last < 0.02 || started.elapsed() > Duration::from_secs(300) {
            break;
        }
        last = now;
    }
    println!(
        "start-up: the nodes were quiet after {:.1} s, server CPU {:.1} s",
        started.elapsed().as_secs_f64(),
        stats().0
    );
    if a.nodes > 1 {
        println!(
            "{} server nodes on one PostgreSQL database; device i on node i mod {}, after the reconnect on the next",
            a.nodes, a.nodes
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let clock = Arc::new(Clock::default());
    let cursors: Vec<Arc<AtomicU64>> = devs.iter().map(|_| Arc::default()).collect();
    rt.block_on(async {
        // Connection storm.
        let (cpu0, _, d0) = stats();
        let (storm_s, storm_entries, cmds) =
            storm(&urls, 0, &devs, &staff, &cursors, &clock).await?;
        let (cpu1, rss_storm, d1) = stats();
        println!(
            "connection storm: {} devices caught up in {storm_s:.2} s ({storm_entries} catalog entries), server CPU {:.1} s, RSS {rss_storm:.0} MiB{}",
            devs.len(),
            cpu1 - cpu0,
            db(d0, d1, None)
        );
        // Idle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (c0, _, d0) = stats();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (c1, rss_idle, d1) = stats();
        println!(
            "idle, {} connected: server CPU {:.1}%, RSS {rss_idle:.0} MiB{}",
            devs.len(),
            (c1 - c0) / 10.0 * 100.0,
            db(d0, d1, Some(10.0))
        );
        // Steady pushes by teachers' devices, in turn.
        let pushers: Vec<usize> = (0..devs.len())
            .filter(|&i| staff[devs[i].user].id.starts_with('t'))
            .collect();
        if pushers.is_empty() {
            bail!("no teacher devices");
        }
        let n = (a.rate * a.seconds).round() as usize;
        let (c0, _, d0) = stats();
        // The generator's own CPU: on one machine with the server, a busy generator delays
        // what it measures.
        let (g0, _) = proc_stats(std::process::id());
        let start = Instant::now();
        let _ = clock.start.set(start);
        // Halfway, `--fresh` teachers' devices catch up from nothing on a second session.
        let fresh = {
            let (urls, clock) = (urls.clone(), clock.clone());
            let picked: Vec<Dev> = pushers.iter().take(a.fresh).map(|&i| devs[i].clone()).collect();
            let pull = a.pull;
            let half = Duration::from_secs_f64(a.seconds / 2.0);
            tokio::spawn(async move {
                tokio::time::sleep(half).await;
                let t = Instant::now();
                let mut sessions = vec![];
                for (k, d) in picked.into_iter().enumerate() {
                    let url = urls[k % urls.len()].clone();
                    let clock = clock.clone();
                    sessions.push(tokio::spawn(async move {
                        let (cmd, done) = session(url, d, false, pull, Arc::default(), clock).await?;
                        let entries = done.await?;
                        Ok::<_, anyhow::Error>((cmd, entries))
                    }));
                }
                let mut kept = vec![];
                for s in sessions {
                    kept.push(s.await??.0);
                }
                Ok::<_, anyhow::Error>((t.elapsed().as_secs_f64(), kept))
            })
        };
        for k in 0..n {
            let at = start + Duration::from_secs_f64(k as f64 / a.rate);
            tokio::time::sleep_until(at.into()).await;
            let i = pushers[k % pushers.len()];
            let s = &staff[devs[i].user];
            let g = s.groups[k % s.groups.len()];
            let p = pupil(g, (k / s.groups.len()) % PUPILS_PER_GROUP);
            let data = signal_doc(&devs[i].actor, &school(devs[i].school), &s.id, &p, k as u64)?;
            let _ = cmds[i].send(Cmd::Push(DocumentId::random(), data));
        }
        // Let the last acks and deliveries arrive.
        let wait = Instant::now();
        while clock.ack_ms.lock().unwrap().len() < n && wait.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let push_s = start.elapsed().as_secs_f64();
        let (c1, rss_push, d1) = stats();
        let (g1, _) = proc_stats(std::process::id());
        let mut ack = clock.ack_ms.lock().unwrap().clone();
        let mut fan = clock.fan_ms.lock().unwrap().clone();
        let mut fan_ack = clock.fan_after_ack_ms.lock().unwrap().clone();
        println!(
            "steady pushes: {n} at {} /s ({} acked): ack p50 {:.1} ms p99 {:.1} ms; fan-out to coordinators ({} deliveries) p50 {:.1} ms p99 {:.1} ms from the push, p50 {:.1} ms p99 {:.1} ms after the ack; server CPU {:.0}% of a core, RSS {rss_push:.0} MiB; the generator's CPU {:.0}% of a core{}",
            a.rate,
            ack.len(),
            pct(&mut ack, 0.5),
            pct(&mut ack, 0.99),
            fan.len(),
            pct(&mut fan, 0.5),
            pct(&mut fan, 0.99),
            pct(&mut fan_ack, 0.5),
            pct(&mut fan_ack, 0.99),
            (c1 - c0) / push_s * 100.0,
            (g1 - g0) / push_s * 100.0,
            db(d0, d1, Some(push_s))
        );
        let mut slow = clock.slow.lock().unwrap().clone();
        if !slow.is_empty() {
            slow.sort_by(|a, b| a.total_cmp(b));
            let mut by_second: Vec<(u64, usize)> = vec![];
            for t in slow {
                match by_second.last_mut() {
                    Some((s, n)) if *s == t as u64 => *n += 1,
                    _ => by_second.push((t as u64, 1)),
                }
            }
            let list: Vec<String> = by_second.iter().map(|(s, n)| format!("{s}s:{n}")).collect();
            println!("acks over {SLOW_ACK_MS} ms, by the second of their push: {}", list.join(" "));
        }
        if a.fresh > 0 {
            let (fresh_s, sessions) = fresh.await??;
            println!(
                "fresh catch-ups during the pushes: {} devices caught up from nothing in {fresh_s:.2} s",
                a.fresh
            );
            drop(sessions);
        } else {
            fresh.abort();
        }
        // Cursors that move reach idle sessions within seconds.
        tokio::time::sleep(Duration::from_secs(7)).await;
        let mut closing = vec![];
        for c in &cmds {
            let (tx, rx) = oneshot::channel();
            let _ = c.send(Cmd::Close(tx));
            closing.push(rx);
        }
        for r in closing {
            let _ = r.await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (c0, _, d0) = stats();
        // With several nodes each device comes back on another node than before.
        let (re_s, re_entries, cmds) =
            storm(&urls, 1, &devs, &staff, &cursors, &clock).await?;
        let (c1, rss_re, d1) = stats();
        println!(
            "reconnect storm: {} devices caught up in {re_s:.2} s ({re_entries} catalog entries), server CPU {:.1} s, RSS {rss_re:.0} MiB{}",
            devs.len(),
            c1 - c0,
            db(d0, d1, None)
        );
        drop(cmds);
        Ok::<_, anyhow::Error>(())
    })?;
    drop(servers);
    Ok(())
}
