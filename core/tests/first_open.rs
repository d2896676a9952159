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
//! And OpenSSL, which SQLCipher uses, is started without its own exit hook, which freed its
//! state while threads that had just closed their stores still freed theirs.

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

/// `rounds` child processes of `test`, each given a directory of its own in `var`: every
/// one exits cleanly.
fn all_exit_cleanly(test: &str, var: &str, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..rounds {
        let out = run_child(test, var, dir.path().join(round.to_string()));
        assert!(
            out.status.success(),
            "round {round}: the process did not exit cleanly\n{out:?}"
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

const EXIT_CHILD: &str = "OMKIJKEN_EXIT_CHILD";
const EXIT_ROUNDS: usize = 40;

#[test]
fn a_process_exits_cleanly_while_its_threads_still_close_stores() {
    if std::env::var_os(EXIT_CHILD).is_some() {
        return exit_while_closing();
    }
    all_exit_cleanly(
        "a_process_exits_cleanly_while_its_threads_still_close_stores",
        EXIT_CHILD,
        EXIT_ROUNDS,
    );
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

const LATE_CHILD: &str = "OMKIJKEN_LATE_CHILD";
const LATE_ROUNDS: usize = 50;

/// Threads whose last store closed just before the process exits still free their
/// OpenSSL state (a thread-exit destructor) after their `CipherUse` is gone, while the
/// exit hooks run: OpenSSL must not free its own state from a hook of its own then (it
/// crashed about one exit in a hundred: "double free or corruption", SIGSEGV).
#[test]
fn threads_that_end_as_the_process_exits_do_not_crash_it() {
    if std::env::var_os(LATE_CHILD).is_some() {
        return end_as_the_process_exits();
    }
    all_exit_cleanly(
        "threads_that_end_as_the_process_exits_do_not_crash_it",
        LATE_CHILD,
        LATE_ROUNDS,
    );
}

// OpenSSL (SQLCipher's provider here) and the C library's exit hook, for the checks below.
#[allow(unsafe_code)]
unsafe extern "C" {
    fn atexit(hook: extern "C" fn()) -> std::ffi::c_int;
    fn RAND_bytes(buf: *mut u8, num: std::ffi::c_int) -> std::ffi::c_int;
    fn _exit(status: std::ffi::c_int) -> !;
}

/// Registered before the first store opens, so it runs after every hook SQLCipher's
/// start-up adds: OpenSSL must still work then. Exits with 3 where it does not.
#[allow(unsafe_code)]
extern "C" fn openssl_still_whole() {
    let mut bytes = [0u8; 16];
    // SAFETY: a buffer of the length given.
    if unsafe { RAND_bytes(bytes.as_mut_ptr(), 16) } != 1 {
        // SAFETY: ends the process at once, as the check's verdict.
        unsafe { _exit(3) }
    }
}

/// A thread-local whose destructor runs after the guard is gone, as the thread ends:
/// each thread waits its own few microseconds, so that their OpenSSL destructors (which
/// run after it) spread over the moment the exit hooks run.
struct EndsLate(u64);
impl Drop for EndsLate {
    fn drop(&mut self) {
        let until = std::time::Instant::now() + std::time::Duration::from_micros(self.0);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
    }
}
thread_local! {
    static ENDS_LATE: std::cell::RefCell<Option<EndsLate>> = const { std::cell::RefCell::new(None) };
}

/// In the child: 32 threads each write an encrypted store (OpenSSL draws its IVs on
/// them) and end as `main` returns.
#[allow(unsafe_code)]
fn end_as_the_process_exits() {
    // SAFETY: registers a plain function with the C library.
    unsafe { atexit(openssl_still_whole) };
    let dir = std::path::PathBuf::from(std::env::var_os(LATE_CHILD).unwrap());
    std::fs::create_dir(&dir).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS * 2 + 1));
    for i in 0..THREADS as u64 * 2 {
        let barrier = barrier.clone();
        let path = dir.join(format!("{i}.db"));
        std::thread::spawn(move || {
            ENDS_LATE.with(|l| *l.borrow_mut() = Some(EndsLate(i)));
            let cipher = cipher_in_use().unwrap();
            let store = Store::open(&path, &[7u8; 32]).unwrap();
            barrier.wait();
            drop(store);
            drop(cipher);
        });
    }
    barrier.wait();
}
