//! The first SQLite use of a process: stores opened on several threads at once all open.
//!
//! SQLite marks itself initialised before SQLCipher's own start-up (crypto provider,
//! random seed) has run; a key set on another thread in that window failed with
//! "An error occurred with PRAGMA key". That happens once per process, so this test runs
//! itself again as child processes, each of which opens its stores at the same moment.
//!
//! And the last SQLite use of a process: SQLCipher frees its state from an exit hook while
//! other threads still run, so a thread closing an encrypted store as `main` returns
//! crashed the exiting process. Threads that hold a `cipher_in_use` guard are waited for.

use omkijken_core::store::{Store, cipher_in_use};
use std::process::Command;
use std::sync::{Arc, Barrier};

const CHILD: &str = "OMKIJKEN_FIRST_OPEN_CHILD";
const THREADS: usize = 16;
const ROUNDS: usize = 150;

#[test]
fn stores_opened_at_once_by_a_fresh_process_all_open() {
    if std::env::var_os(CHILD).is_some() {
        return open_at_once();
    }
    for round in 0..ROUNDS {
        let out = run_child(
            "stores_opened_at_once_by_a_fresh_process_all_open",
            CHILD,
            "1",
        );
        assert!(
            out.status.success(),
            "round {round}: a store failed to open\n{out:?}"
        );
    }
}

/// This test binary again, running only `test` with `var` set to `value`.
fn run_child(test: &str, var: &str, value: impl AsRef<std::ffi::OsStr>) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(var, value)
        .output()
        .unwrap()
}

/// In the child: `THREADS` stores opened together as the process's first SQLite use.
fn open_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let opens: Vec<_> = (0..THREADS)
        .map(|i| {
            let barrier = barrier.clone();
            let path = dir.path().join(format!("{i}.db"));
            std::thread::spawn(move || {
                barrier.wait();
                Store::open(path, &[7u8; 32]).map(|_| ())
            })
        })
        .collect();
    for (i, open) in opens.into_iter().enumerate() {
        if let Err(e) = open.join().unwrap() {
            panic!("store {i} did not open: {e:?}");
        }
    }
}

const EXIT_CHILD: &str = "OMKIJKEN_EXIT_CHILD";
const EXIT_ROUNDS: usize = 40;

#[test]
fn a_process_exits_cleanly_while_its_threads_still_close_stores() {
    if std::env::var_os(EXIT_CHILD).is_some() {
        return exit_while_closing();
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..EXIT_ROUNDS {
        let out = run_child(
            "a_process_exits_cleanly_while_its_threads_still_close_stores",
            EXIT_CHILD,
            dir.path().join(round.to_string()),
        );
        assert!(
            out.status.success(),
            "round {round}: the process did not exit cleanly\n{out:?}"
        );
    }
}

/// In the child: threads that open and close stores in a loop for a moment after the test
/// (and so `main`) has returned.
fn exit_while_closing() {
    let dir = std::path::PathBuf::from(std::env::var_os(EXIT_CHILD).unwrap());
    std::fs::create_dir(&dir).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS / 4 + 1));
    for i in 0..THREADS / 4 {
        let barrier = barrier.clone();
        let path = dir.join(format!("{i}.db"));
        std::thread::spawn(move || {
            let _cipher = cipher_in_use().unwrap();
            let until = std::time::Instant::now() + std::time::Duration::from_millis(150);
            let mut first = true;
            while std::time::Instant::now() < until {
                drop(Store::open(&path, &[7u8; 32]).unwrap());
                if first {
                    barrier.wait();
                    first = false;
                }
            }
        });
    }
    barrier.wait();
}
