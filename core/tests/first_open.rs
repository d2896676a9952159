//! The first SQLite use of a process: stores opened on several threads at once all open.
//!
//! SQLite marks itself initialised before SQLCipher's own start-up (crypto provider,
//! random seed) has run; a key set on another thread in that window failed with
//! "An error occurred with PRAGMA key". That happens once per process, so this test runs
//! itself again as child processes, each of which opens its stores at the same moment.

use omkijken_core::store::Store;
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
    let exe = std::env::current_exe().unwrap();
    for round in 0..ROUNDS {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "stores_opened_at_once_by_a_fresh_process_all_open",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: a store failed to open\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
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
