//! The store file is encrypted, a wrong key never damages it, and old schemas upgrade.

mod common;

use common::*;
use omkijken_core::store::schema;
use omkijken_core::{OpenError, Store};

const CANARY: &str = "KANARIE-7f3a9c-vogeltje-in-de-mijn";

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn canary_in_a_note_is_not_in_the_database_file_or_its_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let id = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    m1.edit_notes(id, 0, 0, CANARY).unwrap();
    m1.set_answer(id, "over-jou", CANARY).unwrap();
    assert_eq!(m1.conversation(id).unwrap().notes.as_str(), CANARY);
    let db = dir.path().join("m1.db");
    let wal = dir.path().join("m1.db-wal");
    // While open, the WAL holds the recent pages.
    assert!(wal.exists());
    for path in [&db, &wal] {
        let bytes = file_bytes(path);
        assert!(
            !contains(&bytes, CANARY.as_bytes()),
            "canary found in {}",
            path.display()
        );
        assert!(
            !contains(&bytes, b"SQLite format 3"),
            "plain SQLite header in {}",
            path.display()
        );
    }
    drop(m1);
    let bytes = file_bytes(&db);
    assert!(!bytes.is_empty());
    assert!(!contains(&bytes, CANARY.as_bytes()));
}

#[test]
fn wrong_key_is_a_clear_error_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, _) = store_for(dir.path(), "m1");
    let id = m1
        .start_conversation("p1", "ik-jij-wij", "2026-11-16")
        .unwrap();
    drop(m1);
    let db = dir.path().join("m1.db");
    let before = file_bytes(&db);
    let err = Store::open(&db, b"another key of 32 bytes.........").unwrap_err();
    assert!(matches!(err, OpenError::WrongKeyOrNotAStore), "{err}");
    assert_eq!(
        file_bytes(&db),
        before,
        "a wrong key must not rewrite the file"
    );
    assert!(matches!(
        Store::open(&db, b"short"),
        Err(OpenError::WeakKey)
    ));
    // The right key still opens it with everything in place.
    let again = Store::open(&db, KEY).unwrap();
    assert!(again.conversation(id).is_ok());
}

#[test]
fn a_file_that_is_not_a_store_is_refused_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        b"hello, this is not a database at all, just some text",
    )
    .unwrap();
    assert!(matches!(
        Store::open(&path, KEY),
        Err(OpenError::WrongKeyOrNotAStore)
    ));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"hello, this is not a database at all, just some text"
    );
}

fn schema_of(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex_key()))
        .unwrap();
    let mut stmt = conn
        .prepare("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
        .unwrap();
    let mut v: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    v.push(format!("user_version {version}"));
    v
}

fn hex_key() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(KEY))
}

#[test]
fn an_upgraded_database_equals_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    // A database as version 1 shipped it.
    let old = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&old).unwrap();
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex_key()))
            .unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1);
    }
    drop(Store::open(&old, KEY).unwrap());
    let fresh = dir.path().join("fresh.db");
    drop(Store::open(&fresh, KEY).unwrap());
    assert_eq!(schema_of(&old), schema_of(&fresh));
    assert!(schema_of(&fresh).contains(&format!("user_version {}", schema::VERSION)));
}

#[test]
fn a_store_from_a_newer_app_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(Store::open(&path, KEY).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA key = \"x'{}'\"; PRAGMA user_version = 99;",
            hex_key()
        ))
        .unwrap();
    }
    assert!(matches!(
        Store::open(&path, KEY),
        Err(OpenError::TooNew { found: 99, .. })
    ));
}
