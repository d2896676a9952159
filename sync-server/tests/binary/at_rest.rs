//! Secure by default, through the real binary: with no key configured the store (database,
//! write-ahead log, backups) holds no plaintext care content, and every file the server
//! writes is private.

use crate::common;
use crate::net;

use common::{NOW, signal_header, signal_record};
use net::{Served, admin, admin_output, enroll, push_acked, session};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use std::path::{Path, PathBuf};

/// Text that must never be found in the clear: a note and a pupil's name.
const NOTE_CANARY: &str = "KANARIE-notitie-7f3a91";
const NAME_CANARY: &str = "Kanariepiet Zeldzaam";

fn roster() -> String {
    format!(
        "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,m1,Mentor Een,,,,mentor,,g6
pupil,p1,{NAME_CANARY},g6,po_5_8,true,,m1,
"
    )
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Files (of `files`) that contain `needle`.
fn holding(files: &[PathBuf], needle: &str) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| {
            let bytes = std::fs::read(f).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .cloned()
        .collect()
}

/// Set up a school through the CLI, enroll a device, push a signal with the note canary;
/// returns the running server.
async fn school_with_a_note(data: &Path, log: &Path, extra: &[&str]) -> Served {
    let served = Served::start(data, log, extra);
    let plain = extra.contains(&"--plain-store");
    let with = |args: &[&str]| {
        let mut v: Vec<&str> = if plain { vec!["--plain-store"] } else { vec![] };
        v.extend_from_slice(args);
        admin(data, &v)
    };
    with(&["create-school", "--id", "s1", "--name", "De Linde"]);
    let csv = data.with_extension("csv");
    std::fs::write(&csv, roster()).unwrap();
    with(&["import-roster", "--school", "s1", csv.to_str().unwrap()]);
    let code = with(&["enroll", "--school", "s1", "--user", "m1"]);
    let dev = enroll(&served.enroll_url(), code.trim(), "m1", 1).await;
    let mut ws = session(&served.sync_url(), &dev).await;
    let id = DocumentId::random();
    let d = doc::create(
        dev.actor.clone(),
        NOW,
        &signal_header("m1", "p1"),
        &signal_record(1, "welbevinden", NOTE_CANARY),
    )
    .unwrap();
    push_acked(&mut ws, id, d.save()).await;
    served
}

#[tokio::test]
async fn by_default_no_file_of_the_server_holds_a_note_in_the_clear_and_all_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let backups = tmp.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let log = tmp.path().join("serve.log");

    // 1. The control: with --plain-store the same steps leave both canaries readable in
    //    the store's files (so the scan below can see plaintext when there is any).
    let plain_data = tmp.path().join("plain");
    let plain = school_with_a_note(
        &plain_data,
        &tmp.path().join("plain.log"),
        &["--plain-store"],
    )
    .await;
    let plain_files = files_in(&plain_data);
    assert!(
        !holding(&plain_files, NOTE_CANARY).is_empty(),
        "control: note in the clear"
    );
    assert!(
        !holding(&plain_files, NAME_CANARY).is_empty(),
        "control: name in the clear"
    );
    plain.stop();

    // 2. Default settings: no OMKIJKEN_DB_KEY, no key file, no flag.
    let served = school_with_a_note(&data, &log, &[]).await;
    let out = admin(
        &data,
        &["backup", "--to", backups.join("b.db").to_str().unwrap()],
    );
    // The roster, m1's view of it and the signal.
    assert!(out.starts_with("backed up 3 documents"), "{out}");

    // 3. While it runs (the write-ahead log holds the latest commits): no canary in any
    //    file of the data directory or in the backup.
    let mut files = files_in(&data);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "omkijken.db",
        "omkijken.db-wal",
        "omkijken.key",
        "omkijken.lock",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(
        std::fs::metadata(data.join("omkijken.db-wal"))
            .unwrap()
            .len()
            > 0,
        "the log has content"
    );
    files.extend(files_in(&backups));
    assert_eq!(holding(&files, NOTE_CANARY), Vec::<PathBuf>::new());
    assert_eq!(holding(&files, NAME_CANARY), Vec::<PathBuf>::new());

    // 4. Modes: the directory 0700, every file 0600, the backup too (written from a shell
    //    with the usual umask 022).
    assert_eq!(mode(&data), 0o700);
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert!(
        !files_in(&backups)
            .iter()
            .any(|f| f.ends_with("omkijken.key"))
    );

    // 5. The key file was announced once, with the advice; its text is not in the log.
    let key = std::fs::read_to_string(data.join("omkijken.key")).unwrap();
    assert_eq!(key.trim().len(), 64);
    served.stop();
    let served = Served::start(&data, &tmp.path().join("second.log"), &[]);
    let logs = std::fs::read_to_string(&log).unwrap() + &served.log_text();
    assert_eq!(
        logs.matches("created a new random key").count(),
        1,
        "{logs}"
    );
    assert!(logs.contains("apart from the backups"));
    assert!(!logs.contains(key.trim()));
    served.stop();

    // 6. After a stop (log checkpointed into the store) still nothing in the clear.
    let files = files_in(&data);
    assert_eq!(holding(&files, NOTE_CANARY), Vec::<PathBuf>::new());
    assert_eq!(holding(&files, NAME_CANARY), Vec::<PathBuf>::new());

    // 7. A backup beside the key is refused (it would protect nothing).
    let out = admin_output(
        &data,
        &["backup", "--to", data.join("b.db").to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("beside the store key"));
}

#[test]
fn a_data_directory_open_to_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(net::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env_remove("OMKIJKEN_DB_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 700") && err.contains("0755"), "{err}");
    assert!(
        files_in(&data).is_empty(),
        "nothing written: {:?}",
        files_in(&data)
    );
    // So is a key file others may read.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(data.join("omkijken.key"), "ab".repeat(32)).unwrap();
    std::fs::set_permissions(
        data.join("omkijken.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = admin_output(&data, &["create-school", "--id", "s1", "--name", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

#[tokio::test]
async fn rotate_key_encrypts_a_plain_store_and_replaces_a_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let served = school_with_a_note(&data, &tmp.path().join("a.log"), &["--plain-store"]).await;
    served.stop();
    // 1. A plain store is not opened by default: the message says what to do.
    let out = admin_output(&data, &["devices"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not encrypted") && err.contains("rotate-key"),
        "{err}"
    );
    // 2. Encrypt it: the note is gone from the files, the server serves it.
    let out = admin(&data, &["--plain-store", "rotate-key"]);
    assert!(out.contains("encrypted with a new key"), "{out}");
    let files = files_in(&data);
    assert_eq!(holding(&files, NOTE_CANARY), Vec::<PathBuf>::new());
    assert_eq!(holding(&files, NAME_CANARY), Vec::<PathBuf>::new());
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let first = std::fs::read_to_string(data.join("omkijken.key")).unwrap();
    // 3. Rotate again: a new key file, and the store opens only with it.
    admin(&data, &["rotate-key"]);
    let second = std::fs::read_to_string(data.join("omkijken.key")).unwrap();
    assert_ne!(first, second);
    let listed = admin(&data, &["devices"]);
    assert!(listed.contains("active"), "{listed}");
    let old = tmp.path().join("old.key");
    std::fs::write(&old, &first).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = admin_output(&data, &["--key-file", old.to_str().unwrap(), "devices"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not open the store"));
    // 4. The server starts on the rotated store and the device's note is there.
    let served = Served::start(&data, &tmp.path().join("b.log"), &[]);
    let audit = admin(&data, &["audit", "--pupil", "p1"]);
    assert!(audit.contains(",write,"), "{audit}");
    served.stop();
}
