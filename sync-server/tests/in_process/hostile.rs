//! Hostile input never panics the hub and never stores anything.

use crate::common;

use common::*;
use omkijken_core::DocumentId;
use omkijken_core::sync::{DocChanges, ErrorCode, Frame};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_end_the_session_with_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        let mut hub = school_hub(&dir.path().join("s.db"));
        let m1 = enroll(&mut hub, "m1", 1);
        let (c, _) = connect(&mut hub, &m1, 0);
        let documents = hub.storage().catalog_school(SCHOOL).unwrap().len();
        let out = hub.receive_bytes(NOW, c, &bytes);
        let frames = to(&out, c);
        // Either a frame that happens to decode (then anything but a panic), or an error.
        if Frame::decode(&bytes).is_err() {
            let ended = matches!(frames.as_slice(), [Frame::Error { .. }]);
            prop_assert!(ended, "an error frame");
            prop_assert!(!hub.is_open(c));
        }
        prop_assert_eq!(hub.storage().catalog_school(SCHOOL).unwrap().len(), documents);
    }

    #[test]
    fn random_document_bytes_are_refused_and_not_stored(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        mangle in 0usize..400,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut hub = school_hub(&dir.path().join("s.db"));
        let m1 = enroll(&mut hub, "m1", 1);
        let (c, _) = connect(&mut hub, &m1, 0);
        // Pure noise, and a real document with one byte flipped.
        let (_, real) = signal(&m1, "p1", 1, "welbevinden");
        let mut flipped = real.save();
        let i = mangle % flipped.len();
        flipped[i] ^= 0x5a;
        let ids = [DocumentId::random(), DocumentId::random()];
        let out = hub.receive(NOW, c, Frame::Push { docs: vec![
            DocChanges::new(ids[0], data),
            DocChanges::new(ids[1], flipped),
        ]});
        for f in to(&out, c) {
            let error = matches!(f, Frame::Error { .. });
            prop_assert!(!error, "a bad document is no protocol error");
        }
        prop_assert!(hub.is_open(c));
        let stored = hub.storage().catalog_get(&ids).unwrap();
        // A flipped byte may still be a valid document; noise never is.
        prop_assert!(stored.iter().all(|r| r.id == ids[1]));
    }
}

#[test]
fn a_frame_over_16_mib_is_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let (c, _) = connect(&mut hub, &m1, 0);
    let big = vec![0u8; omkijken_core::sync::MAX_FRAME_BYTES + 1];
    let out = hub.receive_bytes(NOW, c, &big);
    assert!(matches!(
        to(&out, c).as_slice(),
        [Frame::Error {
            code: ErrorCode::TooLarge,
            ..
        }]
    ));
    // A document over 4 MiB inside a valid frame: the frame is refused as too large.
    let (c, _) = connect(&mut hub, &m1, 0);
    let f = Frame::Push {
        docs: vec![DocChanges::new(
            DocumentId::random(),
            vec![1; omkijken_core::sync::MAX_DOC_BYTES + 1],
        )],
    };
    let out = hub.receive_bytes(NOW, c, &f.encode());
    assert!(matches!(
        to(&out, c).as_slice(),
        [Frame::Error {
            code: ErrorCode::TooLarge,
            ..
        }]
    ));
}

#[test]
fn too_many_connections_of_one_device_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = school_hub(&dir.path().join("s.db"));
    let m1 = enroll(&mut hub, "m1", 1);
    let t1 = enroll(&mut hub, "t1", 2);
    let conns: Vec<_> = (0..4)
        .map(|_| hub.connect(NOW, &m1.token).unwrap().conn)
        .collect();
    assert_eq!(
        hub.connect(NOW, &m1.token).unwrap_err(),
        omkijken_server::ConnectRefusal::TooManyConnections
    );
    // Another device of the school is not counted with it.
    hub.connect(NOW, &t1.token).unwrap();
    // A connection that closed makes room for one more, and only one.
    hub.disconnect(conns[0]);
    hub.connect(NOW, &m1.token).unwrap();
    assert_eq!(
        hub.connect(NOW, &m1.token).unwrap_err(),
        omkijken_server::ConnectRefusal::TooManyConnections
    );
}
