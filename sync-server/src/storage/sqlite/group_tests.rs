//! Tests of `sqlite`'s group commit: the commits of a group are stored together at its
//! end, or not at all.

use super::*;

fn school(id: &str) -> Batch {
    Batch {
        schools: vec![School {
            id: id.into(),
            name: format!("School {id}"),
            created_at: 1,
        }],
        ..Default::default()
    }
}

fn school_ids(s: &mut SqliteStorage) -> Vec<String> {
    s.schools().unwrap().into_iter().map(|s| s.id).collect()
}

#[test]
fn a_groups_commits_are_stored_together_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut s = SqliteStorage::open(&path, Some("k")).unwrap();
    // Another process on the same file (the admin CLI).
    let mut other = SqliteStorage::open(&path, Some("k")).unwrap();
    s.begin_group().unwrap();
    s.commit(school("a")).unwrap();
    s.commit(school("b")).unwrap();
    // The group reads its own writes...
    assert_eq!(school_ids(&mut s), ["a", "b"]);
    // ...while the other process sees none of them yet.
    assert!(school_ids(&mut other).is_empty());
    s.end_group().unwrap();
    assert_eq!(school_ids(&mut other), ["a", "b"]);
    drop(s);
    let mut reopened = SqliteStorage::open(&path, Some("k")).unwrap();
    assert_eq!(school_ids(&mut reopened), ["a", "b"]);
}

#[test]
fn a_failed_commit_inside_a_group_leaves_the_rest_of_the_group() {
    let mut s = SqliteStorage::in_memory().unwrap();
    s.begin_group().unwrap();
    s.commit(school("a")).unwrap();
    // A school that exists already: this commit fails, and only it is undone.
    assert!(s.commit(school("a")).is_err());
    s.commit(school("b")).unwrap();
    s.end_group().unwrap();
    assert_eq!(school_ids(&mut s), ["a", "b"]);
}

#[test]
fn a_group_that_cannot_be_stored_stores_nothing_and_the_storage_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let mut s = SqliteStorage::open(&path, Some("k")).unwrap();
    s.commit(school("before")).unwrap();
    s.begin_group().unwrap();
    s.commit(school("lost-1")).unwrap();
    s.commit(school("lost-2")).unwrap();
    // Make the group's COMMIT fail: a deferred foreign key that is still broken at the end.
    s.conn
        .execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED); \
             INSERT INTO child VALUES (42);",
        )
        .unwrap();
    assert!(s.end_group().is_err());
    assert_eq!(school_ids(&mut s), ["before"]);
    // The storage takes commits again, each on its own, and groups.
    s.commit(school("after")).unwrap();
    s.begin_group().unwrap();
    s.commit(school("grouped")).unwrap();
    s.end_group().unwrap();
    drop(s);
    let mut reopened = SqliteStorage::open(&path, Some("k")).unwrap();
    assert_eq!(school_ids(&mut reopened), ["after", "before", "grouped"]);
}
