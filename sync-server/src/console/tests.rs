use super::sessions::DUMMY_HASH;
use super::*;
use axum::http::HeaderMap;
use std::time::Instant;

#[test]
fn passwords_hash_with_argon2id_and_verify() {
    let h = hash_password("correct horse battery").unwrap();
    assert!(h.starts_with("$argon2id$"), "{h}");
    assert!(verify_password("correct horse battery", &h));
    assert!(!verify_password("correct horse battery!", &h));
    assert!(!verify_password("x", "not a hash"));
    // The dummy hash parses (else an unknown name would answer faster).
    assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
}

#[test]
fn the_throttle_locks_a_key_for_the_rest_of_its_window() {
    let t = Throttle::default();
    let w = Duration::from_secs(60);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(t.locked("k", t0, 3, w), None);
        t.failed("k", t0, w);
    }
    assert!(t.locked("k", t0 + Duration::from_secs(10), 3, w).is_some());
    assert!(t.locked("other", t0, 3, w).is_none());
    assert_eq!(t.locked("k", t0 + Duration::from_secs(61), 3, w), None);
    t.succeeded("k");
    assert_eq!(t.locked("k", t0, 3, w), None);
}

#[test]
fn cookies_are_found_by_name() {
    let mut h = HeaderMap::new();
    h.insert(
        header::COOKIE,
        "a=1; omkijken_admin=tok; b=2".parse().unwrap(),
    );
    assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
    assert_eq!(cookie(&h, "c"), None);
}
