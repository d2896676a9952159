//! The audit log against the real binary: a device's read log is taken only for documents
//! it may read, and the CSV export cannot carry a spreadsheet formula.

use crate::common;
use crate::net;

use common::{NOW, signal_record};
use net::{Served, admin, enroll, push_acked, recv, send, session};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::{Header, Kind, SCHEMA_VERSION};
use omkijken_core::sync::{Frame, ReadLogEntry};
use std::path::Path;

fn roster(staff: &str, pupil: &str) -> String {
    format!(
        "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,{staff},Mentor,,,,mentor,,g6
pupil,{pupil},Leerling,g6,po_5_8,true,,{staff},
"
    )
}

fn school(data: &Path, id: &str, staff: &str, pupil: &str) -> String {
    admin(data, &["create-school", "--id", id, "--name", id]);
    let csv = data.with_extension(format!("{id}.csv"));
    std::fs::write(&csv, roster(staff, pupil)).unwrap();
    admin(
        data,
        &["import-roster", "--school", id, csv.to_str().unwrap()],
    );
    admin(data, &["enroll", "--school", id, "--user", staff])
        .trim()
        .to_string()
}

fn signal(dev: &net::Device, school: &str, pupil: &str) -> automerge::Automerge {
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: school.into(),
        pupil: Some(pupil.into()),
        author: dev.user.clone(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    };
    doc::create(
        dev.actor.clone(),
        NOW,
        &header,
        &signal_record(1, "welbevinden", "viel stil"),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_logs_are_taken_only_for_readable_documents_and_the_csv_runs_no_formula() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let code1 = school(&data, "s1", "m1", "p1");
    let code2 = school(&data, "s2", "m9", "p9");
    let s = Served::start(&data, &tmp.path().join("serve.log"), &[]);

    // 1. A signal in each school, by its own mentor.
    let m1 = enroll(&s.enroll_url(), &code1, "m1", 1).await;
    let m9 = enroll(&s.enroll_url(), &code2, "m9", 9).await;
    let mut w1 = session(&s.sync_url(), &m1).await;
    let own = DocumentId::random();
    push_acked(&mut w1, own, signal(&m1, "s1", "p1").save()).await;
    let mut w9 = session(&s.sync_url(), &m9).await;
    let foreign = DocumentId::random();
    push_acked(&mut w9, foreign, signal(&m9, "s2", "p9").save()).await;

    // 2. m1's device reports reads: its own signal, the other school's, a record it made
    //    offline and has not pushed, and a made-up one whose kind is a formula.
    let offline = DocumentId::random();
    let formula = "=cmd|' /C calc'!A0";
    let entries = vec![
        (own, "signal", 1),
        (foreign, "signal", 2),
        (offline, "conversation", 3),
        (DocumentId::random(), formula, 4),
    ]
    .into_iter()
    .map(|(document_id, kind, seq)| ReadLogEntry {
        seq,
        document_id,
        kind: kind.into(),
        // A device's clock may say anything: year -1199.
        at: if seq == 4 { -100_000_000_000_000 } else { NOW },
    })
    .collect();
    send(&mut w1, &Frame::ReadLog { entries }).await;
    loop {
        match recv(&mut w1).await {
            Some(Frame::LogAck { seq }) => {
                assert_eq!(seq, 4, "all acknowledged: refused ones are not sent again");
                break;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }

    // 3. Two reads taken, two refused and counted.
    let json = admin(&data, &["audit", "--staff", "m1", "--format", "json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |action: &str| -> Vec<&serde_json::Value> {
        rows.iter().filter(|r| r["action"] == action).collect()
    };
    let reads = of("read");
    assert_eq!(reads.len(), 2, "{json}");
    assert_eq!(reads[0]["document"], own.to_string());
    assert_eq!(reads[0]["pupil"], "p1");
    assert_eq!(reads[1]["document"], offline.to_string());
    assert_eq!(reads[1]["kind"], "conversation");
    let refused = of("read_refused");
    assert_eq!(refused.len(), 2, "{json}");
    assert!(
        refused
            .iter()
            .all(|r| r["pupil"] == "" && r["kind"] == "refused")
    );
    // As a JSON value: a random base58 document id contains "p9" now and then.
    assert!(
        !json.contains("\"p9\""),
        "nothing of the other school's pupil"
    );
    assert_eq!(s.metric("omkijken_read_log_refused_total"), 2.0);
    // The other school's audit of its pupil shows no read by m1.
    let p9 = admin(&data, &["audit", "--pupil", "p9", "--format", "json"]);
    assert!(!p9.contains("\"read\""), "{p9}");

    // 4. The CSV export: no cell a spreadsheet would run (the device's year -1199 starts
    //    with '-'), and the formula is nowhere.
    let csv = admin(&data, &["audit", "--staff", "m1"]);
    assert!(!csv.contains(formula), "{csv}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let mut escaped = 0;
    for rec in reader.records() {
        for cell in rec.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "cell {cell:?} in {csv}"
            );
            escaped += usize::from(cell.starts_with("'-"));
        }
    }
    assert_eq!(escaped, 1, "{csv}");
    drop((w1, w9));
    s.stop();
}

/// The store of `data` opened with its key file, as someone with the key could.
fn raw_store(data: &Path) -> rusqlite::Connection {
    omkijken_core::store::ensure_sqlcipher_started().unwrap();
    let key = std::fs::read_to_string(data.join("omkijken.key")).unwrap();
    let conn = rusqlite::Connection::open(data.join("omkijken.db")).unwrap();
    conn.pragma_update(None, "key", format!("x'{}'", key.trim()))
        .unwrap();
    conn
}

fn verify(data: &Path) -> (bool, String) {
    let out = net::admin_output(data, &["audit", "verify"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_is_a_hash_chain_and_its_exports_are_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let code = school(&data, "s1", "m1", "p1");
    let s = Served::start(&data, &tmp.path().join("serve.log"), &[]);
    let m1 = enroll(&s.enroll_url(), &code, "m1", 1).await;
    let mut ws = session(&s.sync_url(), &m1).await;
    for _ in 0..3 {
        push_acked(
            &mut ws,
            DocumentId::random(),
            signal(&m1, "s1", "p1").save(),
        )
        .await;
    }
    drop(ws);

    // 1. Exports are audited; the chain holds, and verify names its head.
    admin(&data, &["audit", "--pupil", "p1"]);
    admin(&data, &["audit", "--staff", "m1", "--format", "json"]);
    let exports = admin(
        &data,
        &["audit", "--action", "audit_export", "--format", "json"],
    );
    let kinds: Vec<String> = exports
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(kinds, vec!["\"pupil\"", "\"staff:m1\""], "{exports}");
    let (ok, said) = verify(&data);
    assert!(
        ok && said.contains("every link holds") && said.contains("head: row"),
        "{said}"
    );
    s.stop();

    // 2. Someone with the key changes who wrote a row: verify names that row and fails.
    let conn = raw_store(&data);
    let changed: i64 = conn
        .query_row(
            "SELECT seq FROM audit WHERE action = 'write' ORDER BY seq LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute("UPDATE audit SET user = 'm2' WHERE seq = ?1", [changed])
        .unwrap();
    let (ok, said) = verify(&data);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!("row {changed} does not match")),
        "{said}"
    );
    // Put back, the chain holds again; a row removed breaks the link of the next one.
    conn.execute("UPDATE audit SET user = 'm1' WHERE seq = ?1", [changed])
        .unwrap();
    assert!(verify(&data).0);
    conn.execute("DELETE FROM audit WHERE seq = ?1", [changed])
        .unwrap();
    let next: i64 = conn
        .query_row(
            "SELECT min(seq) FROM audit WHERE seq > ?1",
            [changed],
            |r| r.get(0),
        )
        .unwrap();
    let (ok, said) = verify(&data);
    assert!(!ok);
    assert!(
        said.contains(&format!("row {next} does not match")),
        "{said}"
    );
}
