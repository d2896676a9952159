//! Tests of `frames`.

use super::*;
use proptest::prelude::*;

#[test]
fn a_frame_of_an_unknown_type_decodes_as_unknown_and_a_broken_known_one_does_not() {
    #[derive(Serialize)]
    struct Future<'a> {
        r#type: &'a str,
        lease: u64,
    }
    let mut bytes = Vec::new();
    ciborium::into_writer(
        &Future {
            r#type: "leaseRenewed",
            lease: 14,
        },
        &mut bytes,
    )
    .unwrap();
    assert_eq!(Frame::decode(&bytes).unwrap(), Frame::Unknown);
    // A known type with a field of the wrong type stays an error.
    let mut bytes = Vec::new();
    ciborium::into_writer(
        &Future {
            r#type: "hello",
            lease: 14,
        },
        &mut bytes,
    )
    .unwrap();
    assert!(Frame::decode(&bytes).is_err());
}

#[test]
fn error_code_names_are_the_wire_names() {
    for code in [
        ErrorCode::Malformed,
        ErrorCode::TooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthorized,
        ErrorCode::BadEnrollmentCode,
        ErrorCode::TooManyConnections,
        ErrorCode::Internal,
        ErrorCode::NotFound,
        ErrorCode::Forbidden,
    ] {
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
    }
}

#[test]
fn frames_round_trip_through_cbor() {
    let id = DocumentId::random();
    let frames = vec![
        Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 42,
        },
        Frame::Hello {
            epoch: Some("0123456789abcdef".into()),
            protocol: PROTOCOL_VERSION,
            cursor: 42,
            outbox: Some(OutboxState {
                pending: 3,
                not_accepted: 1,
                oldest_age: Some(60_000),
            }),
        },
        Frame::outbox(OutboxState {
            pending: 0,
            not_accepted: 2,
            oldest_age: None,
        }),
        Frame::Sync {
            document_id: id,
            data: vec![1, 2, 3],
        },
        Frame::Push {
            docs: vec![DocChanges::new(id, vec![9; 10])],
        },
        Frame::Ack {
            docs: vec![Acked {
                document_id: id,
                heads: vec!["ab".into()],
            }],
        },
        Frame::Refused {
            docs: vec![Refusal {
                document_id: id,
                reason: RefusalReason::ForgedActor,
            }],
        },
        Frame::Revoked {},
        Frame::Error {
            code: ErrorCode::Malformed,
            message: "x".into(),
        },
    ];
    for f in frames {
        assert_eq!(Frame::decode(&f.encode()).unwrap(), f);
    }
}

#[test]
fn sync_frame_has_automerge_repo_shape() {
    let id = DocumentId::random();
    let bytes = Frame::Sync {
        document_id: id,
        data: vec![7],
    }
    .encode();
    let v: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
    let map = v.as_map().unwrap();
    let get = |k: &str| {
        map.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("type").unwrap().as_text(), Some("sync"));
    assert_eq!(
        get("documentId").unwrap().as_text(),
        Some(id.to_string().as_str())
    );
    assert_eq!(get("data").unwrap().as_bytes().unwrap(), &vec![7u8]);
}

#[test]
fn oversized_push_is_refused() {
    let docs = (0..MAX_DOCS_PER_FRAME + 1)
        .map(|_| DocChanges::new(DocumentId::random(), vec![]))
        .collect();
    assert_eq!(
        Frame::decode(&Frame::Push { docs }.encode()),
        Err(FrameError::TooLarge)
    );
    assert_eq!(
        Frame::decode(&vec![0u8; MAX_FRAME_BYTES + 1]),
        Err(FrameError::TooLarge)
    );
    assert_eq!(FrameError::TooLarge.code(), ErrorCode::TooLarge);
}

/// The bulk frames read straight into their fields equal serde's reading of the
/// tagged enum, and a map with `type` elsewhere (another writer) still decodes.
#[test]
fn bulk_frames_decode_alike_on_both_paths() {
    let id = DocumentId::random();
    let entry = CatalogEntry {
        document_id: id,
        header: Header {
            kind: "signal".into(),
            school: "s".into(),
            pupil: Some("p".into()),
            author: "a".into(),
            created_at: 5,
            schema: 1,
        },
        fields: AccessFields {
            visibility: None,
            urgency: Some(2),
            category: Some("c".into()),
            readers: vec![],
        },
        heads: vec!["ab".into()],
        seq: 9,
    };
    let docs = vec![DocChanges::new(id, vec![1, 2, 3])];
    let frames = [
        Frame::Catalog {
            epoch: Some("0123456789abcdef".into()),
            entries: vec![entry.clone(), entry.clone()],
            purge: vec![id],
            cursor: 7,
            complete: true,
        },
        Frame::Catalog {
            epoch: None,
            entries: vec![entry],
            purge: vec![],
            cursor: 8,
            complete: false,
        },
        Frame::Docs {
            docs: docs.clone(),
            cursor: 3,
        },
        Frame::Push { docs },
        Frame::Fetch {
            docs: vec![FetchRequest {
                document_id: id,
                have: vec!["cd".into()],
            }],
        },
    ];
    for f in frames {
        let bytes = f.encode();
        assert!(first_type(&bytes).is_some());
        let slow: Frame = ciborium::from_reader(&bytes[..]).unwrap();
        assert_eq!(Frame::decode(&bytes).unwrap(), slow);
        assert_eq!(slow, f);
        // The same map with `type` last.
        let v: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
        let mut map = v.into_map().unwrap();
        map.rotate_left(1);
        let mut moved = Vec::new();
        ciborium::into_writer(&ciborium::Value::Map(map), &mut moved).unwrap();
        assert_eq!(first_type(&moved), None);
        assert_eq!(Frame::decode(&moved).unwrap(), f);
    }
    // A bulk type with fields of another frame is an error, not a panic.
    let mut wrong = Vec::new();
    ciborium::into_writer(
        &ciborium::Value::Map(vec![
            ("type".into(), "catalog".into()),
            ("docs".into(), ciborium::Value::Array(vec![])),
        ]),
        &mut wrong,
    )
    .unwrap();
    assert_eq!(Frame::decode(&wrong), Err(FrameError::Malformed));
    assert_eq!(Frame::decode(b"niet-cbor"), Err(FrameError::Malformed));
    assert_eq!(FrameError::Malformed.code(), ErrorCode::Malformed);
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Frame::decode(&bytes);
    }
}

#[test]
fn an_outbox_report_is_bounded_and_an_old_hello_has_none() {
    // A hello from before the report (no `outbox` key) still decodes.
    let old = Frame::Hello {
        protocol: PROTOCOL_VERSION,
        cursor: 7,
        epoch: None,
        outbox: None,
    }
    .encode();
    assert!(
        !old.windows(6).any(|w| w == b"outbox"),
        "not written when absent"
    );
    assert!(matches!(
        Frame::decode(&old).unwrap(),
        Frame::Hello {
            outbox: None,
            cursor: 7,
            ..
        }
    ));
    let absurd = OutboxState {
        pending: u64::MAX,
        not_accepted: MAX_OUTBOX_COUNT + 1,
        oldest_age: Some(u64::MAX),
    };
    assert!(absurd.out_of_bounds());
    assert_eq!(
        absurd.clamped(),
        OutboxState {
            pending: MAX_OUTBOX_COUNT,
            not_accepted: MAX_OUTBOX_COUNT,
            oldest_age: Some(MAX_OUTBOX_AGE_MS),
        }
    );
    let age_without_pending = OutboxState {
        pending: 0,
        not_accepted: 0,
        oldest_age: Some(5),
    };
    assert_eq!(age_without_pending.clamped().oldest_age, None);
    let sound = OutboxState {
        pending: 2,
        not_accepted: 0,
        oldest_age: Some(1_000),
    };
    assert!(!sound.out_of_bounds());
}
