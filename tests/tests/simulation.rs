//! The deterministic simulation (see `omkijken_tests::sim`).
//!
//! - `OMKIJKEN_SIM_SEED=<n>` runs that one seed (replays a failure exactly);
//! - `OMKIJKEN_SIM_SEEDS=<count>` runs that many seeds starting at `OMKIJKEN_SIM_SEED` (or 1);
//! - by default CI runs the regression seeds plus `DEFAULT_SEEDS` seeds.

use omkijken_tests::sim::{self, Config, Report};
use std::time::Instant;

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
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

fn run_seeds(seeds: impl Iterator<Item = u64>) -> Vec<Report> {
    let config = Config::default();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for seed in seeds {
        match sim::run(seed, &config) {
            Ok(r) => reports.push(r),
            Err(f) => {
                eprintln!("{f}");
                failures.push(f);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} seed(s) failed: {:?}",
        failures.len(),
        failures.iter().map(|f| f.seed).collect::<Vec<_>>()
    );
    reports
}

#[test]
fn simulated_devices_and_server_converge_without_loss_or_leaks() {
    let start = Instant::now();
    let first = env_u64("OMKIJKEN_SIM_SEED");
    let count = env_u64("OMKIJKEN_SIM_SEEDS");
    let seeds: Vec<u64> = match (first, count) {
        (Some(s), None) => vec![s],
        (s, Some(n)) => (s.unwrap_or(1)..s.unwrap_or(1) + n).collect(),
        (None, None) => REGRESSION_SEEDS
            .iter()
            .map(|(s, _)| *s)
            .chain((1..=DEFAULT_SEEDS).filter(|s| !REGRESSION_SEEDS.iter().any(|(r, _)| r == s)))
            .collect(),
    };
    let reports = run_seeds(seeds.iter().copied());
    let secs = start.elapsed().as_secs_f64();
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    let frames = sum(|r| r.frames);
    println!(
        "simulation: {} seeds, {} frames ({:.0} frames/s), {} edits, {} device crashes, {} server crashes, {} broken connections, {} duplicated frames, {} roster changes, {} revocations, {} backups, {} restores, {} quiescent checks, {:.1} s",
        reports.len(),
        frames,
        frames as f64 / secs,
        sum(|r| r.edits),
        sum(|r| r.device_crashes),
        sum(|r| r.server_crashes),
        sum(|r| r.broken_connections),
        sum(|r| r.duplicates),
        sum(|r| r.roster_changes),
        sum(|r| r.revocations),
        sum(|r| r.backups),
        sum(|r| r.restores),
        sum(|r| r.quiescent_checks),
        secs
    );
    // The runs did real work.
    assert!(sum(|r| r.edits) > 0 && sum(|r| r.quiescent_checks) >= reports.len() as u64);
}
