//! Sync benchmark on the workload of the automerge-repo peer benchmark (../shared/peers):
//! N small documents; push N, fresh pull N, reconnect holding N with 1 changed; server
//! memory. The real `omkijken-server` binary runs as its own process on 127.0.0.1 (as the
//! peer's server does) and the devices use the real client and encrypted stores.
//!
//!     cargo bench -p omkijken-tests --bench sync                  # N = 1,000 and 10,000
//!     cargo bench -p omkijken-tests --bench sync -- 1000          # one N
//!     OMKIJKEN_BENCH_RUNS=5 cargo bench ...                       # runs per N (3)
//!     OMKIJKEN_BENCH_PULLS=5 cargo bench ...                      # fresh pulls per run (1)
//!
//!     OMKIJKEN_BENCH_CATALOG=1000000 cargo bench ...              # M documents in the catalog first
//!
//! With `OMKIJKEN_BENCH_CATALOG=M`, the server's catalog holds M documents before each run:
//! signals of another teacher (`t2`) about a pupil of another group, which the measured
//! devices (`t1`) may not read. They are pushed once through the real server by a device of
//! `t2` a school (20,000 a push), into a data directory that each run copies: push, fetch and
//! catch-up are then measured beside M documents the user never sees. By default they are
//! other schools' (50,000 a school, as on a school board's server);
//! `OMKIJKEN_BENCH_CATALOG_IN=school` puts them all in the measured school.
//! `OMKIJKEN_BENCH_CATALOG_DIR=DIR` fills DIR once and starts from it in later invocations.
//!
//! Each document mirrors the peer's `{title, n, done, owner, tags: [10 strings]}`
//! (`omkijken_tests::workload`), created in one change.
//! If node and npm are available, the automerge-repo peer (../shared/peers/bench/bench.mjs,
//! copied to target/peers and installed with npm) runs on the same N in the same run
//! (N <= 3,000: it does not get past creating 10,000 documents), and the ratios are printed.

use omkijken_core::doc;
use omkijken_core::model::FollowUpKind;
use omkijken_core::store::StoreOptions;
use omkijken_core::transport;
use omkijken_core::{DocumentId, Store};
use omkijken_tests::process::{ServerProcess, admin, free_port, set_up_school};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &[u8] = b"bench-device-key-0123456789abcdef";
const SCHOOL: &str = "bench-school";
const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g1,Groep 1,,,,,,
staff,t1,Docent,,,,teacher,,g1
pupil,p1,Een,g1,po_5_8,true,,,
group,g2,Groep 2,,,,,,
staff,t2,Docent,,,,teacher,,g2
pupil,p2,Twee,g2,po_5_8,true,,,
";

fn workspace_target() -> PathBuf {
    // target/release/deps/sync-xxxx -> target
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rss(pid: u32) -> (f64, f64) {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| {
        st.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_s(pid: u32) -> f64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
    let rest = st.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds this process has used so far.
fn own_cpu_s() -> f64 {
    cpu_s(std::process::id())
}

fn du(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn make_doc(store: &Store, i: usize) -> (DocumentId, Vec<u8>) {
    let (header, record) = omkijken_tests::workload::signal(SCHOOL, i);
    let d = doc::create(store.writer_actor(), 1_795_338_000_000, &header, &record).unwrap();
    (store.new_id(), d.save())
}

/// The `i`-th filler signal of `school`: by `t2`, about `p2` (group 2), not shared: `t1`
/// may not read it.
fn filler_doc(store: &Store, school: &str, i: usize) -> (DocumentId, Vec<u8>) {
    let (mut header, mut record) = omkijken_tests::workload::signal(school, i);
    header.pupil = Some("p2".into());
    header.author = "t2".into();
    record.shared = false;
    for f in &mut record.follow_ups {
        f.author = "t2".into();
    }
    let d = doc::create(store.writer_actor(), 1_795_338_000_000, &header, &record).unwrap();
    (store.new_id(), d.save())
}

/// Enroll a new store at `dir/name.db` for `user` of `school` on the server at `url`
/// (data in `data`).
#[allow(clippy::too_many_arguments)]
fn enroll(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    data: &Path,
    url: &str,
    school: &str,
    user: &str,
    name: &str,
) -> Store {
    let s = Store::open_with(dir.join(format!("{name}.db")), KEY, StoreOptions::default()).unwrap();
    let code = admin(data, &["enroll", "--school", school, "--user", user])
        .trim()
        .to_string();
    rt.block_on(transport::enroll(url, &code, name, &s))
        .unwrap();
    s
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A server data directory (in `dir`) whose catalog holds `m` documents `t1` may not read,
/// pushed through the server by a device of `t2` a school: in other schools (50,000 each)
/// or, with `same_school`, in the measured one.
fn filled_catalog(dir: &Path, m: usize, same_school: bool) -> PathBuf {
    const PER_DEVICE: usize = 20_000;
    const PER_SCHOOL: usize = 50_000;
    let data = dir.join("server");
    set_up_school(&data, SCHOOL, "Bench", ROSTER);
    let school = |i: usize| match same_school {
        true => SCHOOL.to_string(),
        false => format!("school-{}", i / PER_SCHOOL),
    };
    if !same_school {
        for k in 0..m.div_ceil(PER_SCHOOL) {
            let s = school(k * PER_SCHOOL);
            set_up_school(&data, &s, &s, ROSTER);
        }
    }
    let port = free_port();
    let server = ServerProcess::start(&data, port);
    let url = format!("http://127.0.0.1:{port}");
    let rt = runtime();
    let t = Instant::now();
    // One device a school, pushing 20,000 at a time: a new device of `t2` would first
    // fetch everything `t2` wrote there (which is how a device cut off while catching up
    // on 120,000 and pushing 20,000 was found; see README.md).
    let mut done = 0;
    let mut device: Option<(String, Store)> = None;
    while done < m {
        let s = school(done);
        let filler = match device.take() {
            Some((school, store)) if school == s => store,
            previous => {
                if let Some((school, store)) = previous {
                    drop(store);
                    let _ = std::fs::remove_file(dir.join(format!("filler-{school}.db")));
                }
                let name = format!("filler-{s}");
                enroll(&rt, dir, &data, &url, &s, "t2", &name)
            }
        };
        // A push's documents are of one school.
        let end = (done + PER_DEVICE).min(m).min(if same_school {
            m
        } else {
            (done / PER_SCHOOL + 1) * PER_SCHOOL
        });
        let docs: Vec<_> = (done..end).map(|i| filler_doc(&filler, &s, i)).collect();
        for chunk in docs.chunks(1000) {
            filler.merge_many(chunk).unwrap();
        }
        rt.block_on(transport::sync_once(&filler)).unwrap();
        assert!(filler.outbox().unwrap().is_empty(), "filler acknowledged");
        done += docs.len();
        device = Some((s, filler));
    }
    drop(device);
    println!(
        " catalog filled with {m} documents t1 may not read ({}) in {:.0} s; server RSS {:.1} MiB (peak {:.1})",
        if same_school {
            "in t1's school"
        } else {
            "other schools, 50,000 each"
        },
        t.elapsed().as_secs_f64(),
        rss(server.pid()).0,
        rss(server.pid()).1
    );
    drop(server);
    data
}

/// Wait (up to a minute) until the server at `pid` has used no CPU for 300 ms: its
/// start-up work (the roster views, a retention run, beside the hub) is not measured as
/// push or pull. Returns the seconds waited.
fn wait_quiet(pid: u32) -> f64 {
    let t = Instant::now();
    let mut last = cpu_s(pid);
    while t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(300));
        let now = cpu_s(pid);
        if now - last < 0.005 {
            break;
        }
        last = now;
    }
    t.elapsed().as_secs_f64()
}

/// Copy directory `from` to `to`, with its permissions (the server refuses a data
/// directory others may read).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::metadata(from).unwrap().permissions()).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
            // On disk before the run: the kernel writing the copy back meanwhile would
            // slow the server's commits.
            std::fs::File::open(&target).unwrap().sync_all().unwrap();
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Numbers {
    push_docs_s: f64,
    pull_docs_s: f64,
    reconnect_msgs: u64,
    reconnect_bytes: u64,
    reconnect_ms: f64,
    mem_idle: f64,
    mem_push: f64,
    mem_pull: f64,
    disk_per_doc: u64,
}

/// One run at `n` documents; `catalog`: a filled data directory to start from (a copy).
fn run_omkijken(n: usize, catalog: Option<&Path>) -> Numbers {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    match catalog {
        Some(filled) => copy_dir(filled, &data),
        None => set_up_school(&data, SCHOOL, "Bench", ROSTER),
    }
    // The filled catalog's bytes are not the run's.
    let disk_before = du(&data);
    let port = free_port();
    let server = ServerProcess::start(&data, port);
    let pid = server.pid();
    let quiet = wait_quiet(pid);
    if catalog.is_some() {
        println!("  server start: quiet after {quiet:.1} s (roster views, a retention run)");
    }
    let url = format!("http://127.0.0.1:{port}");
    let rt = runtime();
    // A new store, enrolled for t1.
    let enrolled = |name: &str| enroll(&rt, dir.path(), &data, &url, SCHOOL, "t1", name);
    let a = enrolled("a");
    rt.block_on(transport::sync_once(&a)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mem_idle = rss(pid).0;
    let mut out = Numbers {
        mem_idle,
        ..Default::default()
    };

    // 1. push: device A created N documents offline; sync until the server acknowledged all.
    let docs: Vec<(DocumentId, Vec<u8>)> = (0..n).map(|i| make_doc(&a, i)).collect();
    for chunk in docs.chunks(1000) {
        a.merge_many(chunk).unwrap();
    }
    assert_eq!(a.outbox().unwrap().len(), n);
    let (t, c_srv, c_dev) = (Instant::now(), cpu_s(pid), own_cpu_s());
    let r = rt.block_on(transport::sync_once(&a)).unwrap();
    let push = t.elapsed();
    let (srv_us, dev_us) = (
        (cpu_s(pid) - c_srv) * 1e6 / n as f64,
        (own_cpu_s() - c_dev) * 1e6 / n as f64,
    );
    assert!(a.outbox().unwrap().is_empty(), "all acknowledged");
    out.push_docs_s = n as f64 / push.as_secs_f64();
    out.mem_push = rss(pid).1;
    println!(
        "  push:      {n} docs acknowledged in {:.0} ms ({:.0} docs/s; CPU per doc: server {srv_us:.0} us, device {dev_us:.0} us) | sent {} frames/{} B, received {} frames/{} B",
        push.as_secs_f64() * 1000.0,
        out.push_docs_s,
        r.frames_sent,
        r.bytes_sent,
        r.frames_received,
        r.bytes_received
    );

    // 2. fresh pull: a new device of the same user fetches all N (`OMKIJKEN_BENCH_PULLS`
    // new devices one after another, 1 by default; the run reports their median).
    let pulls: usize = std::env::var("OMKIJKEN_BENCH_PULLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut rates = Vec::with_capacity(pulls);
    for k in 0..pulls {
        let b = enrolled(&format!("b{k}"));
        let (t, c_srv, c_dev) = (Instant::now(), cpu_s(pid), own_cpu_s());
        let r = rt.block_on(transport::sync_once(&b)).unwrap();
        let pull = t.elapsed();
        let (srv_us, dev_us) = (
            (cpu_s(pid) - c_srv) * 1e6 / n as f64,
            (own_cpu_s() - c_dev) * 1e6 / n as f64,
        );
        let held = b
            .documents()
            .unwrap()
            .iter()
            .filter(|d| d.header.kind == "signal")
            .count();
        assert_eq!(held, n, "fresh device holds every document");
        let sample = b.signal(docs[n / 2].0).unwrap();
        assert_eq!(sample.follow_ups.len(), 10);
        rates.push(n as f64 / pull.as_secs_f64());
        println!(
            "  pull:      fresh fetch of {n} docs in {:.0} ms ({:.0} docs/s; CPU per doc: server {srv_us:.0} us, device {dev_us:.0} us), contents checked | sent {} frames/{} B, received {} frames/{} B",
            pull.as_secs_f64() * 1000.0,
            n as f64 / pull.as_secs_f64(),
            r.frames_sent,
            r.bytes_sent,
            r.frames_received,
            r.bytes_received
        );
    }
    rates.sort_by(f64::total_cmp);
    out.pull_docs_s = rates[rates.len() / 2];
    out.mem_pull = rss(pid).1;

    // 3. reconnect: A holds all N, changes one offline, reconnects.
    drop(a);
    let a = Store::open_with(dir.path().join("a.db"), KEY, StoreOptions::default()).unwrap();
    a.append_follow_up(docs[0].0, FollowUpKind::FollowUp, "changed")
        .unwrap();
    let t = Instant::now();
    let r = rt.block_on(transport::sync_once(&a)).unwrap();
    out.reconnect_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(a.outbox().unwrap().is_empty());
    out.reconnect_msgs = r.frames_sent + r.frames_received;
    out.reconnect_bytes = r.bytes_sent + r.bytes_received;
    println!(
        "  reconnect (all {n} held, 1 changed): acked in {:.1} ms | sent {} frames/{} B, received {} frames/{} B",
        out.reconnect_ms, r.frames_sent, r.bytes_sent, r.frames_received, r.bytes_received
    );
    out.disk_per_doc = du(&data).saturating_sub(disk_before) / n as u64;
    println!(
        "  server memory: idle {:.1} MiB, peak after push {:.1} MiB, peak after pull {:.1} MiB; server disk {} B per document",
        out.mem_idle, out.mem_push, out.mem_pull, out.disk_per_doc
    );
    out
}

fn run_peer(n: usize) -> Option<Numbers> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers");
    if !src.join("bench/bench.mjs").exists()
        || Command::new("node").arg("--version").output().is_err()
    {
        println!("  automerge-repo peer: skipped (no ../shared/peers or no node)");
        return None;
    }
    let dst = workspace_target().join("peers");
    if !dst.join("node_modules/@automerge/automerge-repo").exists() {
        let _ = std::fs::create_dir_all(dst.join("bench"));
        for f in [
            "package.json",
            "bench/bench.mjs",
            "bench/server.mjs",
            "bench/interop.mjs",
        ] {
            let _ = std::fs::copy(src.join(f), dst.join(f));
        }
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dst)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            println!("  automerge-repo peer: skipped (npm install failed)");
            return None;
        }
    }
    let port = free_port();
    // stderr goes to null: the peer's server process inherits it and may outlive the
    // benchmark script; it is killed below.
    let out = Command::new("node")
        .args(["bench/bench.mjs", &n.to_string(), &port.to_string()])
        .current_dir(&dst)
        .stderr(Stdio::null())
        .output()
        .ok();
    let _ = Command::new("pkill")
        .args(["-f", &format!("bench/server.mjs {port}")])
        .status();
    let out = out?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for line in text.lines() {
        println!("  peer | {line}");
    }
    let num_before = |line: &str, marker: &str| -> Option<f64> {
        let i = line.find(marker)?;
        line[..i]
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .rfind(|s| !s.is_empty())?
            .parse()
            .ok()
    };
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or("")
            .to_string()
    };
    let push = line("push:");
    let pull = line("pull:");
    let rec = line("reconnect(all");
    let msgs = |l: &str| -> u64 {
        // "sent X msgs/Y B ...; recv Z msgs/W B"
        let mut total = 0;
        for part in l.split(" msgs/").take(2) {
            if let Some(v) = part
                .split_whitespace()
                .last()
                .and_then(|v| v.parse::<u64>().ok())
            {
                total += v;
            }
        }
        total
    };
    let bytes = |l: &str| -> u64 {
        l.split(" msgs/")
            .skip(1)
            .filter_map(|p| p.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    };
    Some(Numbers {
        push_docs_s: num_before(&push, " docs/s")?,
        pull_docs_s: num_before(&pull, " docs/s")?,
        reconnect_msgs: msgs(&rec),
        reconnect_bytes: bytes(&rec),
        ..Default::default()
    })
}

fn main() {
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ns = if ns.is_empty() {
        vec![1_000, 10_000]
    } else {
        ns
    };
    let catalog: usize = std::env::var("OMKIJKEN_BENCH_CATALOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // `OMKIJKEN_BENCH_CATALOG_DIR`: fill there once and use it again in later invocations.
    let filled_dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("OMKIJKEN_BENCH_CATALOG_DIR").map(PathBuf::from);
    let same_school = std::env::var("OMKIJKEN_BENCH_CATALOG_IN").as_deref() == Ok("school");
    let filled = (catalog > 0).then(|| match &keep {
        Some(k) if k.join("server").exists() => k.join("server"),
        Some(k) => filled_catalog(k, catalog, same_school),
        None => filled_catalog(filled_dir.path(), catalog, same_school),
    });
    for n in ns {
        println!("N = {n}");
        println!(" omkijken (real server process + real client, encrypted stores):");
        // Shared machines are noisy (the same code varies by a fifth from run to run):
        // several runs, each on a fresh server, and their median.
        let runs: usize = std::env::var("OMKIJKEN_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3)
            .max(1);
        let all: Vec<Numbers> = (0..runs)
            .map(|i| {
                println!(" run {}/{runs}:", i + 1);
                run_omkijken(n, filled.as_deref())
            })
            .collect();
        let median = |f: fn(&Numbers) -> f64| {
            let mut v: Vec<f64> = all.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        let (push, push_lo, push_hi) = median(|x| x.push_docs_s);
        let (pull, pull_lo, pull_hi) = median(|x| x.pull_docs_s);
        println!(
            " median of {runs}: push {push:.0} docs/s (range {push_lo:.0}-{push_hi:.0}), fresh pull {pull:.0} docs/s (range {pull_lo:.0}-{pull_hi:.0})"
        );
        let ours = Numbers {
            push_docs_s: push,
            pull_docs_s: pull,
            ..all[0].clone()
        };
        if n <= 3_000 && std::env::var_os("OMKIJKEN_BENCH_NO_PEER").is_none() {
            println!(" automerge-repo 2.5.6 peer, same workload:");
            if let Some(peer) = run_peer(n) {
                println!(
                    " ratio omkijken / automerge-repo: push {:.1}x, fresh pull {:.1}x; reconnect messages {} vs {}, bytes {} vs {}",
                    ours.push_docs_s / peer.push_docs_s,
                    ours.pull_docs_s / peer.pull_docs_s,
                    ours.reconnect_msgs,
                    peer.reconnect_msgs,
                    ours.reconnect_bytes,
                    peer.reconnect_bytes
                );
            }
        } else {
            println!(
                " automerge-repo peer: not run at this N (it does not get past creating the documents)"
            );
        }
    }
}
