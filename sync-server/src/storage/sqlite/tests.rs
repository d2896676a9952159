//! Tests of `sqlite`.

use super::schema::V1;
use super::*;
use crate::Error;

#[test]
fn fresh_store_is_at_current_schema_version() {
    let s = SqliteStorage::in_memory().unwrap();
    let v: u32 = s
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

fn schema(conn: &Connection) -> Vec<String> {
    let mut st = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    st.query_map([], |r| {
        Ok(format!(
            "{} {} {}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?.unwrap_or_default()
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

#[test]
fn a_version_1_store_upgrades_to_the_same_schema_as_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO held (device, doc) VALUES ('d1', x'00112233445566778899aabbccddeeff')",
            [],
        )
        .unwrap();
    }
    let mut upgraded = SqliteStorage::open(&path, None).unwrap();
    let fresh = SqliteStorage::in_memory().unwrap();
    assert_eq!(schema(&upgraded.conn), schema(&fresh.conn));
    let id = DocumentId::from_bytes([
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ]);
    assert_eq!(upgraded.held_among("d1", &[id]).unwrap().len(), 1);
    assert!(upgraded.purged_among("d1", &[id]).unwrap().is_empty());
}

#[test]
fn a_store_of_a_newer_version_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    assert!(matches!(
        SqliteStorage::open(&path, None),
        Err(Error::TooNew { .. })
    ));
}

#[test]
fn reopening_a_store_keeps_its_data_and_does_not_migrate_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut s = SqliteStorage::open(&path, None).unwrap();
    s.commit(Batch {
        schools: vec![School {
            id: "s1".into(),
            name: "De Linde".into(),
            created_at: 1,
        }],
        ..Default::default()
    })
    .unwrap();
    drop(s);
    let mut s = SqliteStorage::open(&path, None).unwrap();
    assert_eq!(s.schools().unwrap().len(), 1);
}

#[test]
fn wrong_key_is_an_error_and_the_file_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(SqliteStorage::open(&path, Some("right key 1234567")).unwrap());
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(SqliteStorage::open(&path, Some("wrong key 1234567")).is_err());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
}
