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
