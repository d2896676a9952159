//! The storage conformance suite, one test per check, against every storage: SQLite in
//! memory and on disk, and PostgreSQL (in a fresh schema per check of the database in
//! `OMKIJKEN_TEST_POSTGRES`; skipped without one, except under `CI`).

use omkijken_server::storage::postgres::testing::{TestSchema, database_url};
use omkijken_server::storage::{PostgresStorage, SqliteStorage, Storage};
use std::any::Any;

/// A fresh storage, and what must outlive it.
type Fresh = Option<(Box<dyn Storage>, Box<dyn Any>)>;

mod sqlite_in_memory {
    use super::*;

    omkijken_server::storage_conformance!(|_check: &str| -> Fresh {
        Some((Box::new(SqliteStorage::in_memory().unwrap()), Box::new(())))
    });
}

mod sqlite_on_disk {
    use super::*;

    omkijken_server::storage_conformance!(|_check: &str| -> Fresh {
        let dir = tempfile::tempdir().unwrap();
        let st = SqliteStorage::open(dir.path().join("store.db"), None).unwrap();
        Some((Box::new(st), Box::new(dir)))
    });
}

mod postgres {
    use super::*;

    omkijken_server::storage_conformance!(|check: &str| -> Fresh {
        let url = database_url(check)?;
        let schema = TestSchema::create(&url);
        let st = PostgresStorage::open(&schema.url(), None).expect("open the PostgreSQL storage");
        Some((Box::new(st), Box::new(schema)))
    });
}
