//! The real server on 127.0.0.1:0, spoken to with tokio-tungstenite.

use crate::common;

use common::{NOW, ROSTER, ROSTER_MOVED, SCHOOL, actor, signal, signal_header, signal_record};
use futures_util::{SinkExt, StreamExt};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::sync::{DocChanges, ErrorCode, Frame, PROTOCOL_VERSION};
use omkijken_server::admin;
use omkijken_server::server::{ServerHandle, Settings, start};
use omkijken_server::storage::postgres::testing::{TestSchema, database_url};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server(dir: &std::path::Path) -> ServerHandle {
    private(dir);
    let h = start(Settings::for_test(dir)).await.unwrap();
    h.admin().create_school(SCHOOL, "De Linde").await.unwrap();
    h.admin().import_roster(SCHOOL, ROSTER).await.unwrap();
    h
}

/// A data directory must be private (0700); a temporary one is 0755 under the usual umask.
fn private(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if dir.exists() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

async fn open(
    h: &ServerHandle,
    token: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = h.sync_url().into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("Authorization", format!("Bearer {t}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn send(ws: &mut Ws, f: &Frame) {
    ws.send(Message::Binary(f.encode().into())).await.unwrap();
}

/// The next frame, or None when the server closed.
/// The next frame, skipping cursor-only `docs` frames (they precede an ack).
async fn recv(ws: &mut Ws) -> Option<Frame> {
    loop {
        match recv_any(ws).await {
            Some(Frame::Docs { docs, .. }) if docs.is_empty() => continue,
            other => return other,
        }
    }
}

async fn recv_any(ws: &mut Ws) -> Option<Frame> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no answer within 10 s");
        match msg {
            Some(Ok(Message::Binary(b))) => return Some(Frame::decode(&b).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

async fn closed(ws: &mut Ws) -> bool {
    recv(ws).await.is_none()
}

/// Enroll over `/v1/enroll` with actor `n`.
async fn enroll(h: &ServerHandle, user: &str, n: u8) -> common::Dev {
    let code = h.admin().issue_code(SCHOOL, user).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(h.enroll_url())
        .await
        .unwrap();
    send(
        &mut ws,
        &Frame::Enroll {
            code,
            actor: actor(n).to_hex_string(),
            label: "telefoon".into(),
        },
    )
    .await;
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

/// Open a session and catch up from 0; returns the socket and the catalog entry ids.
async fn session(h: &ServerHandle, dev: &common::Dev) -> (Ws, Vec<DocumentId>) {
    let mut ws = open(h, Some(&dev.token)).await.unwrap();
    send(
        &mut ws,
        &Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
        },
    )
    .await;
    let mut ids = vec![];
    loop {
        match recv(&mut ws).await {
            Some(Frame::Catalog {
                entries, complete, ..
            }) => {
                ids.extend(entries.iter().map(|e| e.document_id));
                if complete {
                    break;
                }
            }
            other => panic!("expected catalog, got {other:?}"),
        }
    }
    (ws, ids)
}

async fn http_get(h: &ServerHandle, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let status = buf[9..12].parse().unwrap();
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

fn unauthorized(e: tokio_tungstenite::tungstenite::Error) -> bool {
    matches!(e, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401)
}

#[tokio::test]
async fn sync_needs_a_known_token() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(dir.path()).await;
    assert!(unauthorized(open(&h, None).await.unwrap_err()));
    assert!(unauthorized(
        open(&h, Some("made-up-token")).await.unwrap_err()
    ));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_enrolled_device_pushes_and_another_gets_it_live() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(dir.path()).await;
    let t1 = enroll(&h, "t1", 1).await;
    let m2 = enroll(&h, "m2", 2).await;
    let (mut a, ids) = session(&h, &t1).await;
    // Its own view of the roster (need-to-know), not the school's whole roster.
    assert_eq!(ids, vec![doc::roster_view_id(SCHOOL, "t1")]);
    let (mut b, _) = session(&h, &m2).await;
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
    match recv(&mut b).await {
        Some(Frame::Docs { docs, cursor }) => {
            assert_eq!(docs[0].document_id, id);
            assert!(cursor > 0);
        }
        other => panic!("expected a live push, got {other:?}"),
    }
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn garbage_gets_an_error_and_close_and_a_normal_device_still_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(dir.path()).await;
    let m1 = enroll(&h, "m1", 1).await;
    let mut ws = open(&h, Some(&m1.token)).await.unwrap();
    ws.send(Message::Binary(vec![0xff, 0x13, 0x37, 0x00].into()))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut ws).await,
        Some(Frame::Error {
            code: ErrorCode::Malformed,
            ..
        })
    ));
    assert!(closed(&mut ws).await);

    let (mut ws, ids) = session(&h, &m1).await;
    assert_eq!(ids.len(), 1);
    let id = DocumentId::random();
    let d = doc::create(
        m1.actor.clone(),
        NOW,
        &signal_header("m1", "p1"),
        &signal_record(0, "niet-pluis", "huilde"),
    )
    .unwrap();
    send(
        &mut ws,
        &Frame::Push {
            docs: vec![DocChanges::new(id, d.save())],
        },
    )
    .await;
    assert!(matches!(recv(&mut ws).await, Some(Frame::Ack { .. })));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_revoked_token_is_told_so_and_a_live_connection_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(dir.path()).await;
    let m1 = enroll(&h, "m1", 1).await;
    let (mut ws, _) = session(&h, &m1).await;
    h.admin().revoke_device(&m1.device).await.unwrap();
    assert_eq!(recv(&mut ws).await, Some(Frame::Revoked {}));
    assert!(closed(&mut ws).await);
    let mut again = open(&h, Some(&m1.token)).await.unwrap();
    assert_eq!(recv(&mut again).await, Some(Frame::Revoked {}));
    assert!(closed(&mut again).await);
    let devices = h.admin().devices().await.unwrap();
    assert!(devices[0].revoked_at.is_some());
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_cli_writes_reach_the_running_server_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(dir.path()).await;
    let t1 = enroll(&h, "t1", 1).await;
    let m1 = enroll(&h, "m1", 2).await;
    let m2 = enroll(&h, "m2", 3).await;
    let (mut wt, _) = session(&h, &t1).await;
    let (id, d) = signal(&t1, "p2", 0, "niet-pluis");
    send(
        &mut wt,
        &Frame::Push {
            docs: vec![DocChanges::new(id, d.save())],
        },
    )
    .await;
    assert!(matches!(recv(&mut wt).await, Some(Frame::Ack { .. })));
    let (mut w1, _) = session(&h, &m1).await;
    let (mut w2, ids) = session(&h, &m2).await;
    assert!(ids.contains(&id));

    // As `omkijken-server admin --data DIR import-roster` would, from another connection.
    let settings = Settings::for_test(dir.path());
    let mut cli = settings.open_storage().unwrap();
    admin::import_roster(cli.as_mut(), &actor(250), NOW, SCHOOL, ROSTER_MOVED).unwrap();
    let started = std::time::Instant::now();
    // m2 is told to purge, m1 receives the document.
    let mut purged = false;
    while !purged {
        match recv(&mut w2).await {
            Some(Frame::Purge { docs }) => purged = docs.contains(&id),
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    let mut granted = false;
    while !granted {
        match recv(&mut w1).await {
            Some(Frame::Docs { docs, .. }) => granted = docs.iter().any(|d| d.document_id == id),
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    admin::revoke(cli.as_mut(), NOW, &m2.device).unwrap();
    loop {
        match recv(&mut w2).await {
            Some(Frame::Revoked {}) => break,
            Some(_) => {}
            None => panic!("closed without revoked"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn readyz_says_whether_the_hub_reads_its_storage() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(&dir.path().join("sqlite")).await;
    assert_eq!(http_get(&h, "/readyz").await, (200, "ready\n".into()));
    h.shutdown().await.unwrap();

    // A node on PostgreSQL is ready, and stops being so when its database is gone (here:
    // its schema dropped under it), while /healthz still says the process is up.
    let Some(url) = database_url("readyz_says_whether_the_hub_reads_its_storage") else {
        return;
    };
    let schema = TestSchema::create(&url);
    let mut settings = Settings::for_test(dir.path().join("postgres"));
    settings.database = Some(schema.url());
    let h = start(settings).await.unwrap();
    assert_eq!(http_get(&h, "/readyz").await, (200, "ready\n".into()));
    drop(schema);
    assert_eq!(
        http_get(&h, "/readyz").await,
        (503, "not ready: storage\n".into())
    );
    assert_eq!(http_get(&h, "/healthz").await, (200, "ok".into()));
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn healthz_and_metrics_answer() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(dir.path()).await;
    assert_eq!(http_get(&h, "/healthz").await, (200, "ok".into()));
    let m1 = enroll(&h, "m1", 1).await;
    let (mut ws, _) = session(&h, &m1).await;
    let (id, d) = signal(&m1, "p1", 0, "niet-pluis");
    send(
        &mut ws,
        &Frame::Push {
            docs: vec![DocChanges::new(id, d.save())],
        },
    )
    .await;
    assert!(matches!(recv(&mut ws).await, Some(Frame::Ack { .. })));
    let (status, body) = http_get(&h, "/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "omkijken_connected_devices",
        "omkijken_frames_in_total",
        "omkijken_bytes_out_total",
        "omkijken_acked_changes_total",
        "omkijken_ack_latency_seconds",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics:\n{body}");
    }
    h.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_live_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let h = server(dir.path()).await;
    let m1 = enroll(&h, "m1", 1).await;
    let (mut ws, _) = session(&h, &m1).await;
    tokio::time::timeout(Duration::from_secs(10), h.shutdown())
        .await
        .expect("shutdown within 10 s")
        .unwrap();
    assert!(closed(&mut ws).await);
    // The store can be opened again (the hub released it).
    let s = Settings::for_test(dir.path()).open_storage();
    assert!(s.is_ok());
}
