//! The protocol's test vectors (docs/vectors/, described in its README.md) replayed against
//! the real server: for each vector a fresh server with the scenario school, a device of
//! the vector's user enrolled with the vector's actor, the recorded frames sent as they are,
//! and the documented answers asserted.
//!
//! `cargo test -p omkijken-tests --test conformance -- --ignored write_vectors` records the
//! vectors again (only needed when one is added or the protocol changes).

use anyhow::{Context, Result, bail};
use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge};
use ciborium::Value;
use futures_util::{SinkExt, StreamExt};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::ids::heads_to_hex;
use omkijken_core::model::{FollowUp, Header, Kind, SCHEMA_VERSION, Signal};
use omkijken_core::sync::{DocChanges, FetchRequest, Frame, OutboxState, ReadLogEntry};
use omkijken_tests::{COORDINATOR, PUPIL, SCHOOL, TEACHER, TestServer};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors")
}

// ---------------------------------------------------------------- recording

/// The actor the vectors' teacher device registers at enrollment.
const ACTOR: &str = "0a0b0c0d0e0f10111213141516171819";
/// Fixed times, so the recorded documents are the same bytes every time they are made.
const T0: i64 = 1_795_338_000_000;

fn signal_doc(actor: &ActorId, follow_ups: Vec<FollowUp>) -> Automerge {
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some(PUPIL.into()),
        author: TEACHER.into(),
        created_at: T0,
        schema: SCHEMA_VERSION,
    };
    let record = Signal {
        observed_at: T0 - 3_600_000,
        follow_ups,
        ..omkijken_core::testing::signal_record(
            T0,
            "speelplaats",
            2,
            "Noor huilde in de pauze; ze zei \"niemand wil met mij spelen\".",
        )
    };
    doc::create(actor.clone(), T0, &header, &record).expect("a signal")
}

fn id(n: u8) -> DocumentId {
    let mut b = [0u8; 16];
    b[0] = 0x40 + n;
    b[15] = n;
    DocumentId::from_bytes(b)
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut b = vec![];
    ciborium::into_writer(v, &mut b).expect("to a Vec");
    b
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

struct Vector {
    name: &'static str,
    description: &'static str,
    endpoint: &'static str,
    /// (user) of the device whose token is sent at the upgrade; None: no token.
    user: Option<&'static str>,
    /// More devices, each with a connection of its own: (user, endpoint). Device k (2, 3,
    /// ...) enrolls with `OTHER_ACTORS[k - 2]`; steps for it are [`Step::On`].
    others: Vec<(&'static str, &'static str)>,
    /// Frames to send (bytes) and expectations, in order.
    steps: Vec<Step>,
}

/// The actors of a vector's other devices, in order.
const OTHER_ACTORS: [&str; 2] = [
    "1a1b1c1d1e1f20212223242526272829",
    "2a2b2c2d2e2f30313233343536373839",
];

enum Step {
    Send(&'static str, Vec<u8>),
    Expect(Json),
    Close,
    /// A step on the connection of device `n` (2, 3, ...: [`Vector::others`]).
    On(usize, Box<Step>),
    /// The IT admin revokes device `n` (1: the vector's `device`).
    Revoke(usize),
}

/// `step` on the connection of device `n`.
fn on(n: usize, step: Step) -> Step {
    Step::On(n, Box::new(step))
}

fn hello_frame() -> Vec<u8> {
    Frame::Hello {
        protocol: 1,
        cursor: 0,
        epoch: None,
        outbox: None,
    }
    .encode()
}

fn hello() -> Step {
    Step::Send("hello, protocol 1, cursor 0", hello_frame())
}

/// The teacher's device on `/v1/sync`: `hello`, its first (complete) catalog, then `steps`.
fn after_first_catalog(name: &'static str, description: &'static str, steps: Vec<Step>) -> Vector {
    let mut all = vec![
        hello(),
        Step::Expect(json!({"type": "catalog", "complete": true})),
    ];
    all.extend(steps);
    Vector {
        name,
        description,
        endpoint: "/v1/sync",
        user: Some(TEACHER),
        others: vec![],
        steps: all,
    }
}

/// The teacher's push of one document (`frame`, sent as `note`) after her first catalog,
/// answered with an empty ack and refused for `reason`.
fn refused_push(
    name: &'static str,
    description: &'static str,
    note: &'static str,
    frame: Vec<u8>,
    id: DocumentId,
    reason: &str,
) -> Vector {
    after_first_catalog(
        name,
        description,
        vec![
            Step::Send(note, frame),
            Step::Expect(json!({"type": "ack", "docs": []})),
            Step::Expect(json!({"type": "refused", "docs": [
                {"documentId": id.to_string(), "reason": reason}
            ]})),
        ],
    )
}

/// A request of `user`'s device (`frame`, sent as `note`) answered with `error {code}`,
/// after which the server closes.
fn refused_request(
    name: &'static str,
    description: &'static str,
    user: &'static str,
    note: &'static str,
    frame: Vec<u8>,
    code: &str,
) -> Vector {
    Vector {
        name,
        description,
        endpoint: "/v1/request",
        user: Some(user),
        others: vec![],
        steps: vec![
            Step::Send(note, frame),
            Step::Expect(json!({"type": "error", "code": code})),
            Step::Close,
        ],
    }
}

fn vectors() -> Vec<Vector> {
    let actor = ActorId::from(hex::decode(ACTOR).expect("hex"));
    let signal = signal_doc(&actor, vec![]);
    let signal_heads = heads_to_hex(&signal.get_heads());
    let forged = signal_doc(&ActorId::from(vec![0x77; 16]), vec![]);
    let in_her_name = signal_doc(
        &actor,
        vec![FollowUp {
            id: "f1".into(),
            author: COORDINATOR.into(),
            at: T0,
            kind: "picked_up".into(),
            text: String::new(),
        }],
    );
    // A sync message that carries the whole signal (what a peer sends once it knows the
    // server has none of it).
    let by_sync = signal_doc(&actor, vec![]);
    let by_sync_heads = heads_to_hex(&by_sync.get_heads());
    let changes_message = {
        let (mut peer, mut server) = (sync::State::new(), sync::State::new());
        let empty = Automerge::new();
        let first = by_sync.generate_sync_message(&mut peer).expect("a message");
        let mut e = empty.clone();
        e.receive_sync_message(&mut server, first).expect("receive");
        let answer = e.generate_sync_message(&mut server).expect("an answer");
        let mut p = by_sync.clone();
        p.receive_sync_message(&mut peer, answer).expect("receive");
        p.generate_sync_message(&mut peer)
            .expect("the changes")
            .encode()
    };
    let empty_sync = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .expect("a first message")
        .encode();
    let empty_sync_2 = empty_sync.clone();
    // A valid signal of the device's own, with an extra list of two million items.
    let huge = {
        use automerge::transaction::Transactable;
        use automerge::{ObjType, ROOT, ReadDoc};
        let mut d = signal_doc(&actor, vec![]);
        let mut tx = d.transaction();
        let rec = tx.get(ROOT, "record").expect("read").expect("a record").1;
        let list = tx.put_object(&rec, "extra", ObjType::List).expect("a list");
        tx.splice(
            &list,
            0,
            0,
            std::iter::repeat_n(automerge::ScalarValue::Int(1), 2_000_000),
        )
        .expect("items");
        tx.commit_with(automerge::transaction::CommitOptions::default().with_time(T0 / 1000));
        d
    };
    let push = |doc: &Automerge, id: DocumentId| Frame::Push {
        docs: vec![DocChanges::new(id, doc.save())],
    };
    // The signal of push-signal, its facts changed afterwards by its author: only the
    // change after the signal's heads.
    let changed_facts = {
        let mut d = signal.clone();
        doc::update(id(8), &mut d, &actor, T0 + 60_000, |r: &mut Signal| {
            r.facts = "Iets anders.".into();
            Ok(())
        })
        .expect("an edit");
        d.save_after(&signal.get_heads())
    };
    let repo_join = || {
        cbor(&map(vec![
            ("type", "join".into()),
            ("senderId", "vector-peer".into()),
            ("peerMetadata", map(vec![("isEphemeral", true.into())])),
            ("supportedProtocolVersions", Value::Array(vec!["1".into()])),
        ]))
    };
    vec![
        after_first_catalog(
            "hello-catalog",
            "A device's first hello is answered by a complete catalog.",
            vec![],
        ),
        Vector {
            name: "hello-outbox",
            description: "A hello that reports the device's outbox (counts only) is answered by a complete catalog; an outbox frame later in the session gets no answer, and the session goes on (an empty readLog is still answered).",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send(
                    "hello, protocol 1, cursor 0, outbox: 3 pending, 1 not accepted, oldest 2 days",
                    Frame::Hello {
                        protocol: 1,
                        cursor: 0,
                        epoch: None,
                        outbox: Some(OutboxState {
                            pending: 3,
                            not_accepted: 1,
                            oldest_age: Some(172_800_000),
                        }),
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "catalog", "complete": true})),
                Step::Send(
                    "outbox: nothing pending, 1 not accepted",
                    Frame::outbox(OutboxState {
                        pending: 0,
                        not_accepted: 1,
                        oldest_age: None,
                    })
                    .encode(),
                ),
                Step::Send(
                    "readLog with no entries",
                    Frame::ReadLog { entries: vec![] }.encode(),
                ),
                Step::Expect(json!({"type": "logAck"})),
            ],
        },
        after_first_catalog(
            "outbox-negative-count",
            "An outbox frame with a negative count does not parse: error malformed, then the server closes.",
            vec![
                Step::Send(
                    "{type: \"outbox\", pending: -1, notAccepted: 0}",
                    cbor(&map(vec![
                        ("type", "outbox".into()),
                        ("pending", (-1).into()),
                        ("notAccepted", 0.into()),
                    ])),
                ),
                Step::Expect(json!({"type": "error", "code": "malformed"})),
                Step::Close,
            ],
        ),
        Vector {
            name: "unsupported-version",
            description: "A hello of a protocol version the server does not speak: error unsupported_version, then the server closes.",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send(
                    "hello, protocol 2",
                    Frame::Hello {
                        protocol: 2,
                        cursor: 0,
                        epoch: None,
                        outbox: None,
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "error", "code": "unsupported_version"})),
                Step::Close,
            ],
        },
        Vector {
            name: "not-cbor",
            description: "Bytes that are not a CBOR frame: error malformed, then the server closes.",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send("0xff 0x00", vec![0xff, 0x00]),
                Step::Expect(json!({"type": "error", "code": "malformed"})),
                Step::Close,
            ],
        },
        Vector {
            name: "unknown-frame-ignored",
            description: "A well-formed frame of a type the server does not know is ignored; the session goes on.",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send(
                    "{type: \"fromTheFuture\", note: \"ignored\"}",
                    cbor(&map(vec![
                        ("type", "fromTheFuture".into()),
                        ("note", "ignored".into()),
                    ])),
                ),
                hello(),
                Step::Expect(json!({"type": "catalog", "complete": true})),
            ],
        },
        Vector {
            name: "frame-before-hello",
            description: "A fetch before hello: error malformed, then the server closes.",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send(
                    "fetch with no documents",
                    Frame::Fetch { docs: vec![] }.encode(),
                ),
                Step::Expect(json!({"type": "error", "code": "malformed"})),
                Step::Close,
            ],
        },
        after_first_catalog(
            "push-signal",
            "A teacher pushes a shared signal she wrote with her device's actor: acknowledged with its heads; a fetch of it returns the whole document with those heads.",
            vec![
                Step::Send("push of the signal", push(&signal, id(1)).encode()),
                Step::Expect(json!({"type": "ack", "docs": [
                    {"documentId": id(1).to_string(), "heads": signal_heads}
                ]})),
                Step::Send(
                    "fetch of the signal, no heads held",
                    Frame::Fetch {
                        docs: vec![FetchRequest {
                            document_id: id(1),
                            have: vec![],
                        }],
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "docs", "docs": [
                    {"documentId": id(1).to_string(), "heads": signal_heads}
                ]})),
            ],
        ),
        refused_push(
            "push-forged-actor",
            "A signal whose change carries an actor that is not the device's: an empty ack, then refused forged_actor.",
            "push of a signal by another actor",
            push(&forged, id(2)).encode(),
            id(2),
            "forged_actor",
        ),
        refused_push(
            "push-follow-up-in-anothers-name",
            "A signal holding a picked_up entry in the care coordinator's name, pushed by the teacher: refused forbidden.",
            "push of the forged signal",
            push(&in_her_name, id(3)).encode(),
            id(3),
            "forbidden",
        ),
        after_first_catalog(
            "sync-frame-unknown-document",
            "A sync frame of an empty document for an id the server does not have: answered with a sync frame (as for any document the user may not read).",
            vec![
                Step::Send(
                    "sync, first message of an empty document",
                    Frame::Sync {
                        document_id: id(4),
                        data: empty_sync.clone(),
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "sync", "documentId": id(4).to_string()})),
            ],
        ),
        after_first_catalog(
            "sync-frame-creates-document",
            "A sync frame carrying a whole new signal: judged and stored as a push would be; a fetch returns it with its heads.",
            vec![
                Step::Send(
                    "sync carrying the signal's changes",
                    Frame::Sync {
                        document_id: id(5),
                        data: changes_message.clone(),
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "sync", "documentId": id(5).to_string()})),
                Step::Send(
                    "fetch of it",
                    Frame::Fetch {
                        docs: vec![FetchRequest {
                            document_id: id(5),
                            have: vec![],
                        }],
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "docs", "docs": [
                    {"documentId": id(5).to_string(), "heads": by_sync_heads}
                ]})),
            ],
        ),
        after_first_catalog(
            "push-changed-original",
            "A shared signal is append-only: after the signal is acknowledged, a change of its facts by its own author is refused invalid_record.",
            vec![
                Step::Send("push of the signal", push(&signal, id(8)).encode()),
                Step::Expect(json!({"type": "ack", "docs": [
                    {"documentId": id(8).to_string(), "heads": signal_heads}
                ]})),
                Step::Send(
                    "push of a change of its facts",
                    Frame::Push {
                        docs: vec![DocChanges::new(id(8), changed_facts.clone())],
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "ack", "docs": []})),
                Step::Expect(json!({"type": "refused", "docs": [
                    {"documentId": id(8).to_string(), "reason": "invalid_record"}
                ]})),
            ],
        ),
        refused_push(
            "push-missing-deps",
            "A change whose dependencies the server does not have (the first change of the document was never sent): refused missing_deps; the device then pushes the whole document.",
            "push of the second change alone",
            Frame::Push {
                docs: vec![DocChanges::new(id(9), changed_facts)],
            }
            .encode(),
            id(9),
            "missing_deps",
        ),
        after_first_catalog(
            "read-log",
            "Reads logged on the device are uploaded; the server acknowledges the highest sequence stored.",
            vec![
                Step::Send("push of the signal", push(&signal, id(10)).encode()),
                Step::Expect(json!({"type": "ack"})),
                Step::Send(
                    "readLog of two reads of it",
                    Frame::ReadLog {
                        entries: vec![
                            ReadLogEntry {
                                seq: 1,
                                document_id: id(10),
                                kind: "signal".into(),
                                at: T0 + 1_000,
                            },
                            ReadLogEntry {
                                seq: 2,
                                document_id: id(10),
                                kind: "signal".into(),
                                at: T0 + 2_000,
                            },
                        ],
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "logAck", "seq": 2})),
            ],
        ),
        Vector {
            name: "automerge-repo-create-document",
            description: "/v1/automerge-repo: a sync message carrying a whole new signal (written with the device's actor) is judged and stored as a push would be, and answered with sync; a request for it afterwards is answered with sync, not doc-unavailable.",
            endpoint: "/v1/automerge-repo",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send("join", repo_join()),
                Step::Expect(json!({"type": "peer", "targetId": "vector-peer"})),
                Step::Send(
                    "sync carrying the signal's changes",
                    cbor(&map(vec![
                        ("type", "sync".into()),
                        ("senderId", "vector-peer".into()),
                        ("targetId", "omkijken-sync-server".into()),
                        ("documentId", id(7).to_automerge_repo().into()),
                        ("data", Value::Bytes(changes_message.clone())),
                    ])),
                ),
                Step::Expect(json!({"type": "sync", "documentId": id(7).to_automerge_repo()})),
                Step::Send(
                    "request for it",
                    cbor(&map(vec![
                        ("type", "request".into()),
                        ("senderId", "vector-peer".into()),
                        ("targetId", "omkijken-sync-server".into()),
                        ("documentId", id(7).to_automerge_repo().into()),
                        ("data", Value::Bytes(empty_sync_2)),
                    ])),
                ),
                Step::Expect(json!({"type": "sync", "documentId": id(7).to_automerge_repo()})),
            ],
        },
        Vector {
            name: "enroll-bad-code",
            description: "An enrollment with a code the admin never issued: error bad_enrollment_code, then the server closes.",
            endpoint: "/v1/enroll",
            user: None,
            others: vec![],
            steps: vec![
                Step::Send(
                    "enroll with an unknown code",
                    Frame::Enroll {
                        code: "NOT-A-CODE".into(),
                        actor: ACTOR.into(),
                        label: "vector".into(),
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "error", "code": "bad_enrollment_code"})),
                Step::Close,
            ],
        },
        Vector {
            name: "automerge-repo-unavailable",
            description: "/v1/automerge-repo: join is answered by peer; a request for a document nobody has is answered doc-unavailable, as is one for a document the user may not read.",
            endpoint: "/v1/automerge-repo",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send("join", repo_join()),
                Step::Expect(
                    json!({"type": "peer", "targetId": "vector-peer", "selectedProtocolVersion": "1"}),
                ),
                Step::Send(
                    "request for an unknown document",
                    cbor(&map(vec![
                        ("type", "request".into()),
                        ("senderId", "vector-peer".into()),
                        ("targetId", "omkijken-sync-server".into()),
                        ("documentId", id(6).to_automerge_repo().into()),
                        ("data", Value::Bytes(empty_sync)),
                    ])),
                ),
                Step::Expect(
                    json!({"type": "doc-unavailable", "documentId": id(6).to_automerge_repo(), "targetId": "vector-peer"}),
                ),
            ],
        },
        {
            let mut v = refused_push(
                "push-malformed",
                "A push whose bytes are no Automerge document: an empty ack, then refused malformed; the session goes on and the next push is acknowledged.",
                "push of bytes that are no Automerge document",
                Frame::Push {
                    docs: vec![DocChanges::new(
                        id(11),
                        "dit is geen Automerge-document, één zin"
                            .as_bytes()
                            .to_vec(),
                    )],
                }
                .encode(),
                id(11),
                "malformed",
            );
            v.steps.extend([
                Step::Send("push of the signal", push(&signal, id(12)).encode()),
                Step::Expect(json!({"type": "ack", "docs": [
                    {"documentId": id(12).to_string(), "heads": signal_heads.clone()}
                ]})),
            ]);
            v
        },
        refused_push(
            "push-too-large",
            "A signal of the device's own with an extra list of two million items, a few KB on the wire: refused too_large from its bytes, before it is loaded.",
            "push of the signal with two million list items",
            push(&huge, id(13)).encode(),
            id(13),
            "too_large",
        ),
        refused_request(
            "request-erase-unknown",
            "/v1/request: eraseRecord of a document the server does not have (answered as one the user may not read): error not_found, then the server closes.",
            TEACHER,
            "eraseRecord of an unknown id",
            Frame::EraseRecord {
                document_id: id(14),
            }
            .encode(),
            "not_found",
        ),
        refused_request(
            "request-register-forbidden",
            "/v1/request: the incident register asked by a teacher (not the school leader, the anti-bullying coordinator or the care team): error forbidden, then the server closes.",
            TEACHER,
            "incidentRegister from September to December",
            Frame::IncidentRegister {
                from: "2026-09".into(),
                to: "2026-12".into(),
            }
            .encode(),
            "forbidden",
        ),
        Vector {
            name: "request-dossier",
            description: "/v1/request: the care coordinator asks for a pupil's inzage dossier: a dossier frame (JSON and PDF), then the server closes.",
            endpoint: "/v1/request",
            user: Some(COORDINATOR),
            others: vec![],
            steps: vec![
                Step::Send(
                    "exportDossier of pupil eck-0001, requested on 20 November",
                    Frame::ExportDossier {
                        pupil: "eck-0001".into(),
                        requested_on: "2026-11-20".into(),
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "dossier"})),
                Step::Close,
            ],
        },
        refused_request(
            "request-not-a-request",
            "/v1/request: a first frame that is no request (a hello): error malformed, then the server closes.",
            TEACHER,
            "hello, protocol 1, cursor 0",
            hello_frame(),
            "malformed",
        ),
        Vector {
            name: "request-care-track",
            description: "/v1/request: the care coordinator opens a pupil's care track (reason signal): careTrack with the pupil and inCare, then the server closes.",
            endpoint: "/v1/request",
            user: Some(COORDINATOR),
            others: vec![],
            steps: vec![
                Step::Send(
                    "setCareTrack of pupil eck-0002, in care, reason signal",
                    Frame::SetCareTrack {
                        pupil: PUPIL.into(),
                        in_care: true,
                        reason: "signal".into(),
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "careTrack", "pupil": PUPIL, "inCare": true})),
                Step::Close,
            ],
        },
        refused_request(
            "request-care-track-unknown-reason",
            "/v1/request: a care track change with a reason code the protocol does not know: error malformed, nothing changes, then the server closes.",
            COORDINATOR,
            "setCareTrack with the reason 'omdat het moet'",
            Frame::SetCareTrack {
                pupil: PUPIL.into(),
                in_care: true,
                reason: "omdat het moet".into(),
            }
            .encode(),
            "malformed",
        ),
        refused_request(
            "request-settings-forbidden",
            "/v1/request: school settings changed by a teacher (only the school leader may): error forbidden, then the server closes.",
            TEACHER,
            "setSchoolSettings with another acute-screen leader",
            Frame::SetSchoolSettings {
                settings: r#"{"leader_name":"Meester Bakker"}"#.into(),
            }
            .encode(),
            "forbidden",
        ),
        Vector {
            name: "request-pupil-session",
            description: "/v1/request: the teacher of groep 6b starts a pupil session of two hours: pupilSession with a one-time code and the scope (the group; the code and session id differ every time), then the server closes.",
            endpoint: "/v1/request",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Send(
                    "startPupilSession for g6b, 2 hours",
                    Frame::StartPupilSession {
                        group: "g6b".into(),
                        hours: 2,
                    }
                    .encode(),
                ),
                Step::Expect(json!({"type": "pupilSession", "scope": {"group": "g6b"}})),
                Step::Close,
            ],
        },
        after_first_catalog(
            "revoked-live",
            "The IT admin revokes the teacher's device while its session is live: the server sends revoked and closes (the device wipes its store).",
            vec![
                Step::Revoke(1),
                Step::Expect(json!({"type": "revoked"})),
                Step::Close,
            ],
        ),
        Vector {
            name: "revoked-at-connect",
            description: "A revoked device connects again with its token: the server takes the upgrade only to say revoked (before any frame of the device's), and closes.",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![],
            steps: vec![
                Step::Revoke(1),
                Step::Expect(json!({"type": "revoked"})),
                Step::Close,
            ],
        },
        Vector {
            name: "live-push",
            description: "Two devices: the care coordinator's tablet (device 2) is connected and caught up when the teacher (device 1) pushes a shared signal; the tablet gets it at once in a docs frame, whole, with its heads.",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![(COORDINATOR, "/v1/sync")],
            steps: vec![
                on(2, hello()),
                on(
                    2,
                    Step::Expect(json!({"type": "catalog", "complete": true})),
                ),
                hello(),
                Step::Expect(json!({"type": "catalog", "complete": true})),
                Step::Send("push of the signal", push(&signal, id(15)).encode()),
                Step::Expect(json!({"type": "ack", "docs": [
                    {"documentId": id(15).to_string(), "heads": signal_heads.clone()}
                ]})),
                on(
                    2,
                    Step::Expect(json!({"type": "docs", "docs": [
                        {"documentId": id(15).to_string(), "heads": signal_heads.clone()}
                    ]})),
                ),
            ],
        },
        Vector {
            name: "erase-purges-live",
            description: "Two devices: the teacher (device 1) pushes a signal; the care coordinator (device 2, on /v1/request) erases it and is answered erased; the teacher's live session gets purge for it.",
            endpoint: "/v1/sync",
            user: Some(TEACHER),
            others: vec![(COORDINATOR, "/v1/request")],
            steps: vec![
                hello(),
                Step::Expect(json!({"type": "catalog", "complete": true})),
                Step::Send("push of the signal", push(&signal, id(16)).encode()),
                Step::Expect(json!({"type": "ack", "docs": [{"documentId": id(16).to_string()}]})),
                on(
                    2,
                    Step::Send(
                        "eraseRecord of the signal",
                        Frame::EraseRecord {
                            document_id: id(16),
                        }
                        .encode(),
                    ),
                ),
                on(
                    2,
                    Step::Expect(json!({"type": "erased", "documentId": id(16).to_string()})),
                ),
                Step::Expect(json!({"type": "purge", "docs": [id(16).to_string()]})),
            ],
        },
    ]
}

#[test]
#[ignore = "records docs/vectors again: run when a vector is added or the protocol changes"]
fn write_vectors() {
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for v in vectors() {
        let mut steps = vec![];
        let mut n = 0;
        for s in v.steps {
            let (device, s) = match s {
                Step::On(device, s) => (Some(device), *s),
                s => (None, s),
            };
            let mut step = match s {
                Step::Send(note, bytes) => {
                    n += 1;
                    let file = format!("{}.{n}.cbor", v.name);
                    std::fs::write(dir.join(&file), bytes).unwrap();
                    json!({"send": file, "note": note})
                }
                Step::Expect(e) => json!({ "expect": e }),
                Step::Close => json!({"expect": "close"}),
                Step::Revoke(device) => json!({"admin": "revoke", "device": device}),
                Step::On(..) => panic!("a step on one connection"),
            };
            if let Some(device) = device {
                step["on"] = json!(device);
            }
            steps.push(step);
        }
        let mut desc = json!({
            "name": v.name,
            "description": v.description,
            "endpoint": v.endpoint,
            "steps": steps,
        });
        if let Some(user) = v.user {
            desc["device"] = json!({"user": user, "actor": ACTOR});
        }
        if !v.others.is_empty() {
            desc["others"] = v
                .others
                .iter()
                .zip(OTHER_ACTORS)
                .map(|((user, endpoint), actor)| {
                    json!({"user": user, "actor": actor, "endpoint": endpoint})
                })
                .collect();
        }
        let text = serde_json::to_string_pretty(&desc).unwrap() + "\n";
        std::fs::write(dir.join(format!("{}.json", v.name)), text).unwrap();
    }
}

// ---------------------------------------------------------------- replaying

/// A CBOR value as JSON, to compare with the expectations (byte strings as hex).
fn to_json(v: &Value) -> Json {
    match v {
        Value::Integer(i) => json!(i128::from(*i) as i64),
        Value::Text(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
        Value::Bytes(b) => json!({"$bytes": hex::encode(b)}),
        Value::Float(f) => json!(f),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.as_text().unwrap_or("?").to_string(), to_json(v)))
                .collect(),
        ),
        Value::Tag(_, v) => to_json(v),
        _ => Json::Null,
    }
}

/// Whether `got` holds what `want` says: every key of an object (recursively), arrays of the
/// same length whose items match, other values equal.
fn matches(want: &Json, got: &Json) -> bool {
    match (want, got) {
        (Json::Object(w), Json::Object(g)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| matches(wv, gv))),
        (Json::Array(w), Json::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| matches(a, b))
        }
        _ => want == got,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next message, or None when the server closed.
async fn next(ws: &mut Ws) -> Result<Option<Value>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => return Ok(Some(ciborium::from_reader(&b[..])?)),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return Ok(None),
            Ok(Some(Ok(_))) => continue,
            Err(_) => bail!("no answer from the server"),
        }
    }
}

/// Enroll a device for `device`'s user with its actor (the code is the admin's, issued
/// now); its token and its device id.
async fn enroll(server: &TestServer, device: &Json) -> Result<(String, String)> {
    let user = device["user"].as_str().context("device.user")?;
    let actor = device["actor"].as_str().context("device.actor")?;
    let code = server.handle.admin().issue_code(SCHOOL, user).await?;
    let (mut ws, _) = tokio_tungstenite::connect_async(server.handle.enroll_url()).await?;
    let enroll = Frame::Enroll {
        code,
        actor: actor.into(),
        label: "conformance".into(),
    };
    ws.send(Message::binary(enroll.encode())).await?;
    let answer = to_json(&next(&mut ws).await?.context("enrolled")?);
    let token = answer["token"].as_str().context("a token")?;
    let id = answer["device"].as_str().context("a device id")?;
    Ok((token.to_string(), id.to_string()))
}

/// A connection to `endpoint` with `token` (none: without one).
async fn connect(server: &TestServer, endpoint: &str, token: Option<&str>) -> Result<Ws> {
    let mut req = format!("ws://{}{endpoint}", server.handle.addr()).into_client_request()?;
    if let Some(t) = token {
        req.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {t}"))?,
        );
    }
    Ok(tokio_tungstenite::connect_async(req).await?.0)
}

async fn replay(desc: &Json) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start(&dir.path().join("server"), None).await?;
    server.set_up_school().await?;
    // Connection 1: the vector's endpoint, with the token of its `device` (if any); 2, 3,
    // ...: its `others`, each enrolled now and connected at its first step.
    // Per device: its endpoint, and its token and id once enrolled.
    type Enrolled = Option<(String, String)>;
    let mut devices: Vec<(String, Enrolled)> = vec![(
        desc["endpoint"].as_str().context("endpoint")?.to_string(),
        match desc.get("device") {
            Some(d) => Some(enroll(&server, d).await?),
            None => None,
        },
    )];
    for other in desc["others"].as_array().into_iter().flatten() {
        let endpoint = other["endpoint"].as_str().context("others.endpoint")?;
        devices.push((endpoint.to_string(), Some(enroll(&server, other).await?)));
    }
    let mut conns: Vec<Option<Ws>> = devices.iter().map(|_| None).collect();
    let steps = desc["steps"].as_array().context("steps")?;
    for (i, step) in steps.iter().enumerate() {
        if step["admin"] == "revoke" {
            let n = step["device"].as_u64().context("admin.device")? as usize;
            let (_, enrolled) = devices.get(n - 1).context("no such device")?;
            let (_, id) = enrolled.as_ref().context("an enrolled device")?;
            server.handle.admin().revoke_device(id).await?;
            continue;
        }
        let n = step.get("on").and_then(Json::as_u64).unwrap_or(1) as usize;
        let (endpoint, enrolled) = devices.get(n - 1).context("no such device")?;
        let token = enrolled.as_ref().map(|(t, _)| t);
        if conns[n - 1].is_none() {
            conns[n - 1] = Some(connect(&server, endpoint, token.map(String::as_str)).await?);
        }
        let ws = conns[n - 1].as_mut().context("connected")?;
        if let Some(file) = step.get("send").and_then(|f| f.as_str()) {
            let bytes = std::fs::read(vectors_dir().join(file))?;
            ws.send(Message::binary(bytes)).await?;
        } else if step["expect"] == "close" {
            // Whatever else comes first, the server closes.
            while next(ws).await?.is_some() {}
        } else {
            // Other frames may come in between (a cursor-only docs frame before an ack, a
            // catalog in several frames): wait for the next frame that matches.
            let want = &step["expect"];
            let mut seen = vec![];
            loop {
                let got = match next(ws).await {
                    Ok(Some(got)) => to_json(&got),
                    Ok(None) => bail!("step {i}: the server closed before {want}; got {seen:?}"),
                    Err(e) => bail!("step {i}: {e} while waiting for {want}; got {seen:?}"),
                };
                if matches(want, &got) {
                    break;
                }
                seen.push(got["type"].clone());
            }
        }
    }
    drop(conns);
    server.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vector_replays_against_the_real_server() -> Result<()> {
    let mut names = vec![];
    for entry in std::fs::read_dir(vectors_dir())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let desc: Json = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
            replay(&desc)
                .await
                .with_context(|| format!("vector {:?}", path.file_name().unwrap_or_default()))?;
            names.push(desc["name"].as_str().unwrap_or("").to_string());
        }
    }
    names.sort();
    // Every recorded vector is one of those the recorder writes, and all of them ran.
    let mut known: Vec<String> = vectors().iter().map(|v| v.name.to_string()).collect();
    known.sort();
    assert_eq!(names, known);
    Ok(())
}
