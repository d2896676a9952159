//! The storage conformance suite against SQLite, in memory and on disk.

use omkijken_server::storage::{SqliteStorage, Storage, conformance};

#[test]
fn sqlite_in_memory_passes_the_storage_conformance_suite() {
    conformance::run_all(&mut || Box::new(SqliteStorage::in_memory().unwrap()) as Box<dyn Storage>);
}

#[test]
fn sqlite_on_disk_passes_the_storage_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    conformance::run_all(&mut || {
        n += 1;
        let st = SqliteStorage::open(dir.path().join(format!("{n}.db")), None).unwrap();
        Box::new(st) as Box<dyn Storage>
    });
}
