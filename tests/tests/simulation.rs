//! The deterministic simulation (see `omkijken_tests::sim`).
//!
//! - `OMKIJKEN_SIM_SEED=<n>` runs that one seed (replays a failure exactly);
//! - `OMKIJKEN_SIM_SEEDS=<count>` runs that many seeds starting at `OMKIJKEN_SIM_SEED` (or 1);
//! - `OMKIJKEN_SIM_REGRESSIONS=1` runs the regression seeds first as well;
//! - `OMKIJKEN_SIM_POSTGRES=<postgres:// URL>` keeps the server's data in that PostgreSQL
//!   database (a fresh schema a seed) instead of SQLite files;
//! - by default the regression seeds plus `DEFAULT_SEEDS` seeds run.
//!
//! Seeds run in parallel on all cores (each seed is one deterministic thread of its own, so a
//! seed replays the same alone or among others). `scripts/sim.sh [N] [START]` is the way to
//! run many in a release build.

use omkijken_tests::sim::{self, Config, Failure, Report};
use rayon::prelude::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

// Seeds allocate and free Automerge documents and SQLite rows all the time: mimalloc spends
// less of a seed's time on that than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_SEEDS: u64 = 200;

/// Seeds that once found a bug; they stay as regressions. Each line: seed, what it found.
/// (Seeds also inside the default range still run first, on their own.)
const REGRESSION_SEEDS: &[(u64, &str)] = &[
    (
        1,
        "a seeded store reopened after a crash repeated its document ids",
    ),
    (2, "same as 1"),
    (4, "same as 1"),
    (5, "same as 1"),
    (
        27,
        "a device rewrote a purged thermometer month from genesis and reused a sequence number",
    ),
    (
        33,
        "a purge lost with its connection was never repeated; sequence reuse as in 27",
    ),
    (
        3,
        "a write refused as forbidden left an unreadable document on the device",
    ),
    (
        8,
        "after a restore, a document two devices changed since the backup stayed off the server",
    ),
    (186, "same as 8"),
    (780, "same as 8"),
    (
        431_136_197,
        "a device held a trip it was taken off: a copy of the fetch answer overtook the purge",
    ),
    (
        431_137_537,
        "a mentor held a thermometer month after the pupil moved: as 431136197",
    ),
    (
        431_136_238,
        "a case change refused for good left the device diverging from the server for good",
    ),
    (
        431_137_075,
        "a live push that overtook a fetch answer recorded heads the device lacked: lost update",
    ),
    (
        788_754_574,
        "a push refused for its last change set aside earlier ones a restored server lacked",
    ),
    (
        122_320_374,
        "going one change at a time looped when the first change beyond the acknowledged heads was another's",
    ),
    (
        431_138_710,
        "after a second restore a document waiting as refused was never sent again",
    ),
    (
        128,
        "a reading written offline into a month erased meanwhile stayed as a not-accepted item",
    ),
    (
        421,
        "an erased pupil's month stayed on a pupil session (sessions get no purges)",
    ),
    (977, "same as 421"),
    (
        467_643_386,
        "a purge crossed a push; the document came back older, then the ack: the copy lacked the pushed change for good",
    ),
    (
        358255302,
        "a push sent after a server restore left out a change the device believed the server held; its answer did not cover the push, which then waited for an answer for good",
    ),
    (
        125,
        "a catch-up read beside the hub sent the entry of a document erased after the read",
    ),
    (
        11,
        "a catch-up read beside the hub sent the entry of a trip the user was taken off after the read",
    ),
    (133, "same as 11"),
    (
        1693211273,
        "a mentor's phone that did not hold its roster yet (after a server restore) took a push refused as forbidden for a sign that she may not read the trip, purged it, and was sent only changes of it afterwards",
    ),
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

/// Run `seeds` on all cores; failures are printed (with their replay command) as they happen.
fn run_seeds(seeds: &[u64], postgres: Option<String>) -> (Vec<Report>, Vec<Failure>) {
    let config = Config {
        postgres,
        ..Config::default()
    };
    let done = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    let total = seeds.len() as u64;
    let reports: Vec<Report> = seeds
        .par_iter()
        .with_max_len(1)
        .filter_map(|&seed| {
            let result = sim::run(seed, &config);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if total >= 1_000 && n.is_multiple_of(1_000) {
                eprintln!(
                    "simulation: {n} of {total} seeds done, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
            match result {
                Ok(r) => Some(r),
                Err(f) => {
                    eprintln!("{f}");
                    failures.lock().unwrap().push(f);
                    None
                }
            }
        })
        .collect();
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|f| f.seed);
    (reports, failures)
}

/// "15 regression seeds and 300 from 1708441209", for the summary line.
fn describe(seeds: &[u64]) -> String {
    let regression = |s: &u64| REGRESSION_SEEDS.iter().any(|(r, _)| r == s);
    let reg = seeds.iter().filter(|s| regression(s)).count();
    let rest: Vec<u64> = seeds.iter().copied().filter(|s| !regression(s)).collect();
    let range = match (rest.first(), rest.last()) {
        (Some(a), Some(b)) if a == b => format!("seed {a}"),
        (Some(a), Some(b)) => format!("{} from {a} to {b}", rest.len()),
        _ => "no others".into(),
    };
    if reg == 0 {
        range
    } else {
        format!("{reg} regression seeds, {range}")
    }
}

#[test]
fn simulated_devices_and_server_converge_without_loss_or_leaks() {
    let first = env_u64("OMKIJKEN_SIM_SEED");
    let count = env_u64("OMKIJKEN_SIM_SEEDS");
    let regressions = REGRESSION_SEEDS.iter().map(|(s, _)| *s);
    let mut seeds: Vec<u64> = match (first, count) {
        (Some(s), None) => vec![s],
        (s, Some(n)) => (s.unwrap_or(1)..s.unwrap_or(1) + n).collect(),
        (None, None) => regressions
            .clone()
            .chain((1..=DEFAULT_SEEDS).filter(|s| !REGRESSION_SEEDS.iter().any(|(r, _)| r == s)))
            .collect(),
    };
    if std::env::var("OMKIJKEN_SIM_REGRESSIONS").is_ok_and(|v| v == "1") {
        let rest: Vec<u64> = seeds
            .iter()
            .copied()
            .filter(|s| !REGRESSION_SEEDS.iter().any(|(r, _)| r == s))
            .collect();
        seeds = regressions.chain(rest).collect();
    }
    let postgres = std::env::var("OMKIJKEN_SIM_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty());
    run_and_check(&seeds, postgres);
}

/// The simulation with the server's data in PostgreSQL (a fresh schema a seed): the
/// regression seeds and the first 40, in every `cargo test` that has a database
/// (`OMKIJKEN_TEST_POSTGRES`, which scripts/test.sh sets). A run of chosen seeds
/// (`OMKIJKEN_SIM_SEED`, scripts/sim.sh) leaves it out: there `OMKIJKEN_SIM_POSTGRES`
/// chooses the storage of the test above.
#[test]
fn the_simulation_also_converges_on_postgresql() {
    if std::env::var_os("OMKIJKEN_SIM_SEED").is_some() {
        return;
    }
    let Some(url) = omkijken_server::storage::postgres::testing::database_url(
        "the_simulation_also_converges_on_postgresql",
    ) else {
        return;
    };
    let seeds: Vec<u64> = REGRESSION_SEEDS
        .iter()
        .map(|(s, _)| *s)
        .chain((1..=40).filter(|s| !REGRESSION_SEEDS.iter().any(|(r, _)| r == s)))
        .collect();
    run_and_check(&seeds, Some(url));
}

/// Run `seeds`, print the summary, and fail on any failed seed.
fn run_and_check(seeds: &[u64], postgres: Option<String>) {
    let start = Instant::now();
    let on_postgres = postgres.is_some();
    let (reports, failures) = run_seeds(seeds, postgres);
    let secs = start.elapsed().as_secs_f64();
    let mut t = Report::default();
    for r in &reports {
        t.add(r);
    }
    if on_postgres {
        println!(
            "simulation: the server stores in PostgreSQL; {} of the seeds ran two server nodes",
            t.two_nodes
        );
    }
    println!(
        "simulation: {} seeds ({}) on {} threads, {:.1} s: {} frames ({:.0} frames/s), {} edits, {} device crashes, {} server crashes, {} broken connections, {} duplicated frames, {} frames grouped into a commit with the one before, {} new documents checked before their group, {} catch-ups and fetches read beside the hub, {} roster changes, {} care tracks opened or closed, {} dossiers asked for, {} pupil sessions ({} readings by pupils), {} revocations, {} backups, {} restores, {} erased documents, {} clock jumps ({} days), {} leavers or returns, {} holds placed or lifted, {} retention runs ({} documents erased by retention), {} forbidden writes refused, {} forbidden reads, {} deliveries found audited, {} purges, {} out-of-date edits, {} refusals ({} kept as not accepted, {} of those read back and discarded), {} quiescent checks, {} failed",
        seeds.len(),
        describe(seeds),
        rayon::current_num_threads(),
        secs,
        t.frames,
        t.frames as f64 / secs,
        t.edits,
        t.device_crashes,
        t.server_crashes,
        t.broken_connections,
        t.duplicates,
        t.grouped_frames,
        t.prechecked,
        t.catch_ups_beside,
        t.roster_changes,
        t.care_tracks,
        t.dossiers,
        t.pupil_sessions,
        t.pupil_readings,
        t.revocations,
        t.backups,
        t.restores,
        t.erasures,
        t.clock_jumps,
        t.days_jumped,
        t.leavers,
        t.holds,
        t.retention_runs,
        t.retention_erased,
        t.forbidden_writes,
        t.forbidden_reads,
        t.deliveries_audited,
        t.purges,
        t.out_of_date_edits,
        t.refusals,
        t.not_accepted,
        t.discarded,
        t.quiescent_checks,
        failures.len(),
    );
    for f in &failures {
        println!("{f}");
    }
    assert!(
        failures.is_empty(),
        "{} seed(s) failed: {:?}",
        failures.len(),
        failures.iter().map(|f| f.seed).collect::<Vec<_>>()
    );
    // The runs did real work.
    assert!(t.edits > 0 && t.quiescent_checks >= reports.len() as u64);
}
