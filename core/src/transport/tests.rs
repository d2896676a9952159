//! Tests of the transport that need no server.

use super::connection::{network, ws_url};
use super::*;
use crate::{Error, Store};
use rand::SeedableRng;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, http};

#[test]
fn urls_become_websocket_urls() {
    assert_eq!(
        ws_url("http://127.0.0.1:8080/", "/v1/sync").unwrap(),
        "ws://127.0.0.1:8080/v1/sync"
    );
    assert_eq!(
        ws_url("https://sync.school.nl", "/v1/enroll").unwrap(),
        "wss://sync.school.nl/v1/enroll"
    );
    assert_eq!(ws_url("ws://h:1", "/v1/sync").unwrap(), "ws://h:1/v1/sync");
    assert!(ws_url("ftp://h", "/v1/sync").is_err());
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_is_capped() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let min = Duration::from_millis(100);
    let max = Duration::from_secs(10);
    for attempt in 0..40 {
        let base = (min * 2u32.saturating_pow(attempt.min(20))).min(max);
        let d = backoff_delay(attempt, min, max, &mut rng);
        assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
    }
    // Same seed, same delays: deterministic tests and simulation.
    let a: Vec<_> = (0..5)
        .map(|i| backoff_delay(i, min, max, &mut rand::rngs::StdRng::seed_from_u64(1)))
        .collect();
    let b: Vec<_> = (0..5)
        .map(|i| backoff_delay(i, min, max, &mut rand::rngs::StdRng::seed_from_u64(1)))
        .collect();
    assert_eq!(a, b);
}

#[test]
fn transport_errors_never_carry_the_request() {
    let resp = http::Response::builder().status(401).body(None).unwrap();
    let e = network(tungstenite::Error::Http(Box::new(resp)));
    assert!(matches!(e, Error::Forbidden(_)));
    let e = network(tungstenite::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "secret-token",
    )));
    assert!(!e.to_string().contains("secret"));
}

#[tokio::test]
async fn unreachable_server_is_a_network_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.db"), b"0123456789abcdef").unwrap();
    store
        .set_setting(SETTING_SERVER_URL, Some("http://127.0.0.1:1"))
        .unwrap();
    store.set_setting(SETTING_TOKEN, Some("tok")).unwrap();
    assert!(matches!(sync_once(&store).await, Err(Error::Network(_))));
    let err = enroll("http://127.0.0.1:1", "code", "label", &store)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network(_)));
}

#[tokio::test]
async fn sync_needs_enrollment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.db"), b"0123456789abcdef").unwrap();
    assert!(matches!(sync_once(&store).await, Err(Error::NotEnrolled)));
}

/// A device keeps reading while it writes (`send_reading`): against a peer that writes
/// 24 MiB before it reads anything (as the server does not read a session while much waits
/// for it), a 12 MiB frame still goes out, and what the peer sent meanwhile is kept, in
/// order, for the reads that follow. A device that only wrote would wait on the peer and
/// the peer on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reads_while_it_writes_so_a_peer_that_writes_first_is_not_stuck() {
    use super::connection::{Arrived, send_reading};
    use crate::sync::frames::{DocChanges, Frame};
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    const MESSAGES: usize = 24;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        for i in 0..MESSAGES {
            let mut m = vec![i as u8; 1 << 20];
            m[0] = i as u8;
            ws.send(Message::binary(m)).await.unwrap();
        }
        // Only now does it read: the device's frame.
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => return b.len(),
                Some(Ok(_)) => {}
                other => panic!("no frame: {other:?}"),
            }
        }
    });
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
        .await
        .unwrap();
    // 12 documents of 1 MiB of bytes that do not compress.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let docs = (0..12)
        .map(|_| {
            let data = (0..1 << 20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            DocChanges::new(crate::DocumentId::random(), data)
        })
        .collect();
    let frame = Frame::Push { docs };
    let mut arrived = Arrived::new();
    let sent = tokio::time::timeout(
        Duration::from_secs(30),
        send_reading(&mut ws, &frame, &mut arrived),
    )
    .await
    .expect("the frame went out while the peer was still writing")
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(30), peer)
        .await
        .expect("the peer read the frame")
        .unwrap();
    assert_eq!(got, sent);
    assert!(sent > 12 << 20);
    // What the peer sent while the device wrote comes first, in order.
    assert!(!arrived.is_empty());
    let mut seen = 0;
    while let Some(Ok(Message::Binary(b))) = arrived.front() {
        assert_eq!(b[0] as usize, seen);
        arrived.pop_front();
        seen += 1;
    }
    assert!(seen > 0 && seen <= MESSAGES);
}
