//! The `omkijken-server` binary on PostgreSQL: admin commands with `--database`, and two
//! `serve` processes (server nodes) sharing one database: a device enrolled on one node
//! pushes, a device on the other node gets it live; a revocation by the CLI drops the live
//! session on the node that holds it.
//!
//! Runs against `OMKIJKEN_TEST_POSTGRES` (see `postgres.rs`), in a fresh schema.

use crate::common;

use common::{ROSTER, SCHOOL, actor, signal};
use futures_util::{SinkExt, StreamExt};
use omkijken_core::sync::{DocChanges, Frame, PROTOCOL_VERSION};
use omkijken_server::storage::postgres::testing::{TestSchema, database_url};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn admin(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_omkijken-server"))
        .args(["admin", "--database", db])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `serve` process, stopped (SIGTERM, then kill) when dropped.
struct Node {
    child: Child,
    addr: String,
}

impl Node {
    /// Start a node on a free port; `by_env` gives it the database in `OMKIJKEN_DATABASE`
    /// instead of `--database`.
    fn start(db: &str, by_env: bool, log: &Path) -> Node {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_omkijken-server"));
        cmd.args(["serve", "--listen", &addr]);
        if by_env {
            cmd.env("OMKIJKEN_DATABASE", db);
        } else {
            cmd.args(["--database", db]);
        }
        // No data directory is needed: point it where nothing may be created.
        let data = log.with_extension("no-data");
        cmd.arg("--data").arg(&data);
        let child = cmd
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let node = Node { child, addr };
        let t = Instant::now();
        while std::net::TcpStream::connect(&node.addr).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "node did not come up"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!data.exists(), "a node on PostgreSQL keeps no SQLite store");
        node
    }

    fn stop(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn send(ws: &mut Ws, f: &Frame) {
    ws.send(Message::Binary(f.encode().into())).await.unwrap();
}

/// The next frame (None when closed), skipping cursor-only `docs` frames.
async fn recv(ws: &mut Ws) -> Option<Frame> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no answer within 10 s");
        match msg {
            Some(Ok(Message::Binary(b))) => match Frame::decode(&b).unwrap() {
                Frame::Docs { docs, .. } if docs.is_empty() => continue,
                f => return Some(f),
            },
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn enroll(node: &Node, code: &str, user: &str, n: u8) -> common::Dev {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/enroll", node.addr))
        .await
        .unwrap();
    let frame = Frame::Enroll {
        code: code.into(),
        actor: actor(n).to_hex_string(),
        label: "telefoon".into(),
    };
    send(&mut ws, &frame).await;
    match recv(&mut ws).await {
        Some(Frame::Enrolled { token, device, .. }) => common::Dev {
            token,
            actor: actor(n),
            user: user.into(),
            device,
        },
        other => panic!("enrollment failed: {other:?}"),
    }
}

/// A caught-up live session.
async fn session(node: &Node, dev: &common::Dev) -> Ws {
    let mut req = format!("ws://{}/v1/sync", node.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", dev.token).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = Frame::Hello {
        outbox: None,
        epoch: None,
        protocol: PROTOCOL_VERSION,
        cursor: 0,
    };
    send(&mut ws, &hello).await;
    loop {
        match recv(&mut ws).await {
            Some(Frame::Catalog { complete: true, .. }) => return ws,
            Some(Frame::Catalog { .. }) => {}
            other => panic!("expected catalog, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_one_database_share_devices_pushes_and_admin() {
    let Some(url) = database_url("two_serve_processes_on_one_database") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let db = schema.url();
    let dir = tempfile::tempdir().unwrap();

    // 1. The school, its roster and two codes, with the CLI against the database.
    admin(
        &db,
        &["create-school", "--id", SCHOOL, "--name", "De Linde"],
    );
    let csv = dir.path().join("roster.csv");
    std::fs::write(&csv, ROSTER).unwrap();
    let out = admin(
        &db,
        &["import-roster", "--school", SCHOOL, csv.to_str().unwrap()],
    );
    assert!(out.contains("2 pupils"), "{out}");
    let code_t1 = admin(&db, &["enroll", "--school", SCHOOL, "--user", "t1"]);
    let code_m2 = admin(&db, &["enroll", "--school", SCHOOL, "--user", "m2"]);

    // 2. Two nodes; each enrolls one device with a code the other could have spent.
    let node1 = Node::start(&db, false, &dir.path().join("node1.log"));
    let node2 = Node::start(&db, true, &dir.path().join("node2.log"));
    let t1 = enroll(&node1, code_t1.trim(), "t1", 1).await;
    let m2 = enroll(&node2, code_m2.trim(), "m2", 2).await;
    let listed = admin(&db, &["devices"]);
    assert!(
        listed.contains(&t1.device) && listed.contains(&m2.device),
        "{listed}"
    );

    // 3. The teacher pushes a signal about m2's pupil to node 1; the mentor, connected to
    //    node 2, gets it live (node 2 picks it up from the shared catalog).
    let mut a = session(&node1, &t1).await;
    let mut b = session(&node2, &m2).await;
    let (id, d) = signal(&t1, "p2", 1, "welbevinden");
    send(
        &mut a,
        &Frame::Push {
            docs: vec![DocChanges::new(id, d.save())],
        },
    )
    .await;
    match recv(&mut a).await {
        Some(Frame::Ack { docs }) => assert_eq!(docs[0].document_id, id),
        other => panic!("expected ack, got {other:?}"),
    }
    let t = Instant::now();
    match recv(&mut b).await {
        Some(Frame::Docs { docs, .. }) => assert_eq!(docs[0].document_id, id),
        other => panic!("expected the signal live on node 2, got {other:?}"),
    }
    eprintln!("node 1 push to node 2 live delivery: {:?}", t.elapsed());

    // 4. Revoked with the CLI: node 1 drops the teacher's live session.
    admin(&db, &["revoke", &t1.device]);
    loop {
        match recv(&mut a).await {
            Some(Frame::Revoked {}) => break,
            Some(_) => {}
            None => panic!("closed without revoked"),
        }
    }
    let audit = admin(&db, &["audit", "--pupil", "p2", "--format", "json"]);
    assert!(
        audit.contains("\"write\"") && audit.contains("\"deliver\""),
        "{audit}"
    );
    assert!(!audit.contains("Pupil Twee"), "ids only");
    drop((a, b));
    assert!(node1.stop(), "node 1 stops gracefully");
    assert!(node2.stop(), "node 2 stops gracefully");
}

#[test]
fn admin_commands_reach_the_database_over_verified_tls() {
    let Some(url) = database_url("admin_commands_reach_the_database_over_verified_tls") else {
        return;
    };
    let Some(ca) = std::env::var("OMKIJKEN_TEST_POSTGRES_CA")
        .ok()
        .filter(|c| !c.is_empty())
    else {
        assert!(
            std::env::var("CI").map_or(true, |v| v.is_empty()),
            "OMKIJKEN_TEST_POSTGRES_CA is not set, but CI is"
        );
        return;
    };
    let schema = TestSchema::create(&url);
    let db = format!("{}&sslmode=require", schema.url());
    let create_school = |ca: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_omkijken-server"));
        cmd.args([
            "admin",
            "--database",
            &db,
            "create-school",
            "--id",
            "s1",
            "--name",
            "X",
        ]);
        if let Some(ca) = ca {
            cmd.env("OMKIJKEN_DATABASE_CA", ca);
        }
        cmd.output().unwrap()
    };
    // Without the authority the certificate is not trusted: a clear error, no change.
    let out = create_school(None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate"), "{err}");
    // With it (flag or environment), the same command works.
    let out = create_school(Some(&ca));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca_flag = ["--database-ca", ca.as_str()];
    let listed = admin(&db, &[&ca_flag[..], &["devices"]].concat());
    assert!(listed.is_empty(), "no devices yet");
}

#[test]
fn after_restore_starts_a_new_lineage() {
    let Some(url) = database_url("after_restore_starts_a_new_lineage") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let db = schema.url();
    admin(&db, &["create-school", "--id", "s1", "--name", "X"]);
    let epoch = |schema: &TestSchema| {
        let url = schema.url();
        std::thread::spawn(move || {
            use omkijken_server::storage::Storage;
            omkijken_server::storage::PostgresStorage::open(&url, None)
                .unwrap()
                .epoch()
                .unwrap()
        })
        .join()
        .unwrap()
    };
    let before = epoch(&schema);
    let out = admin(&db, &["after-restore"]);
    assert!(out.contains("new store lineage"), "{out}");
    assert_ne!(
        epoch(&schema),
        before,
        "devices will catch up from the start"
    );
}
