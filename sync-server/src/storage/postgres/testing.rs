//! Test support: a throwaway schema in the database the tests are given.
//!
//! The tests read a libpq URL from `OMKIJKEN_TEST_POSTGRES` (`scripts/test.sh` starts a
//! throwaway cluster and sets it). Each [`TestSchema`] is a fresh schema with a random
//! name, dropped with everything in it when the value is dropped, so tests are independent
//! and can run in parallel. Usable from async code: its own connections run on a thread.

use super::PostgresStorage;
use crate::Error;
use std::io::Write;

/// The environment variable with the test database URL.
pub const ENV: &str = "OMKIJKEN_TEST_POSTGRES";

/// The test database URL; without one, a test is skipped (a line on stderr says so)
/// unless `CI` is set, where it fails: CI must run the PostgreSQL tests.
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| !v.is_empty()) {
                panic!(
                    "{test}: {ENV} is not set, but CI is: the PostgreSQL tests must run in \
                     CI (scripts/test.sh starts a throwaway cluster when PostgreSQL's \
                     binaries are installed)"
                );
            }
            // Straight to stderr: the test harness captures only the print macros.
            let _ = writeln!(
                std::io::stderr(),
                "{test}: skipped: the PostgreSQL tests need {ENV} (a postgres:// URL); \
                 scripts/test.sh starts a throwaway cluster and sets it"
            );
            None
        }
    }
}

/// A fresh schema, dropped on drop.
#[derive(Debug)]
pub struct TestSchema {
    base: String,
    name: String,
}

fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("test database thread")
}

impl TestSchema {
    /// Create a schema with a random name in the database at `url`.
    pub fn create(url: &str) -> TestSchema {
        let name = format!("omkijken_test_{:016x}", rand::random::<u64>());
        let (base, n) = (url.to_string(), name.clone());
        on_thread(move || {
            let mut c = postgres::Client::connect(&base, postgres::NoTls)
                .unwrap_or_else(|e| panic!("connecting to {ENV}: {}", Error::from(e)));
            c.batch_execute(&format!("CREATE SCHEMA {n}"))
                .unwrap_or_else(|e| panic!("creating a test schema: {}", Error::from(e)));
        });
        TestSchema {
            base: url.to_string(),
            name,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL with this schema as the search path.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }

    /// Open a storage on this schema (on a thread, so callable from async code; the
    /// storage itself must then be used and dropped off the runtime).
    pub fn open(&self) -> PostgresStorage {
        let url = self.url();
        on_thread(move || PostgresStorage::open(&url, None).expect("open the test schema"))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        on_thread(move || {
            if let Ok(mut c) = postgres::Client::connect(&base, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
            }
        });
    }
}
