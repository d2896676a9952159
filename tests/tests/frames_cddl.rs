//! docs/frames.cddl against the Rust types: every frame, catalog entry, read-log entry and
//! summary the code writes is valid under the CDDL, with every key the CDDL names (when the
//! sample fills every optional field) and no key it does not; and the same for the
//! automerge-repo messages of `/v1/automerge-repo`. The validator below reads the subset of
//! CDDL that file uses (its header says which).

use ciborium::Value;
use omkijken_core::DocumentId;
use omkijken_core::doc::{AccessFields, Summary, SummaryBody, ThermometerRow};
use omkijken_core::model::{CaseStatus, ConversationStatus, Header, Visibility};
use omkijken_core::sync::{
    Acked, CatalogEntry, DocChanges, ErrorCode, FetchRequest, Frame, OutboxState, ReadLogEntry,
    Refusal, RefusalReason, RegisterCases, RegisterSignals,
};
use omkijken_server::automerge_repo::Peers;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- a small CDDL reader

#[derive(Debug, Clone)]
enum T {
    Tstr,
    Bstr,
    Uint,
    Int,
    Bool,
    Null,
    Any,
    Text(String),
    Num(i128),
    Ref(String),
    Choice(Vec<T>),
    Map(Vec<Entry>, Option<(Box<T>, Box<T>)>),
    ArrayOf(Box<T>),
    Tuple(Vec<T>),
    Cbor(Box<T>),
}

#[derive(Debug, Clone)]
struct Entry {
    key: String,
    optional: bool,
    ty: T,
}

type Rules = BTreeMap<String, T>;

fn tokens(src: &str) -> Vec<String> {
    let mut out = vec![];
    for line in src.lines() {
        let line = line.split(';').next().unwrap_or("");
        let mut chars = line.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else if c == '"' {
                chars.next();
                let mut s = String::from("\"");
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    s.push(c);
                }
                out.push(s);
            } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
                        s.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(s);
            } else if c == '=' {
                chars.next();
                if chars.peek() == Some(&'>') {
                    chars.next();
                    out.push("=>".into());
                } else {
                    out.push("=".into());
                }
            } else {
                chars.next();
                out.push(c.to_string());
            }
        }
    }
    out
}

struct Parser {
    toks: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(|s| s.as_str())
    }
    fn next(&mut self) -> String {
        self.pos += 1;
        self.toks[self.pos - 1].clone()
    }
    fn expect(&mut self, t: &str) {
        let got = self.next();
        assert_eq!(got, t, "CDDL: expected {t} at token {}", self.pos);
    }

    fn rules(&mut self) -> Rules {
        let mut rules = Rules::new();
        while self.peek().is_some() {
            let name = self.next();
            self.expect("=");
            let ty = self.ty();
            assert!(
                rules.insert(name.clone(), ty).is_none(),
                "rule {name} twice"
            );
        }
        rules
    }

    fn ty(&mut self) -> T {
        let mut alts = vec![self.ty1()];
        while self.peek() == Some("/") {
            self.next();
            alts.push(self.ty1());
        }
        if alts.len() == 1 {
            alts.pop().expect("one")
        } else {
            T::Choice(alts)
        }
    }

    fn ty1(&mut self) -> T {
        let t = self.primary();
        if self.peek() == Some(".cbor") {
            self.next();
            assert!(matches!(t, T::Bstr), ".cbor on a bstr only");
            return T::Cbor(Box::new(self.primary()));
        }
        t
    }

    fn primary(&mut self) -> T {
        let t = self.next();
        match t.as_str() {
            "tstr" => T::Tstr,
            "bstr" => T::Bstr,
            "uint" => T::Uint,
            "int" => T::Int,
            "bool" => T::Bool,
            "null" => T::Null,
            "any" => T::Any,
            "{" => self.map(),
            "[" => self.array(),
            s if s.starts_with('"') => T::Text(s[1..].to_string()),
            s if s.chars().all(|c| c.is_ascii_digit()) => T::Num(s.parse().expect("a number")),
            s => T::Ref(s.to_string()),
        }
    }

    fn map(&mut self) -> T {
        let mut entries = vec![];
        let mut rest = None;
        loop {
            match self.peek() {
                Some("}") => {
                    self.next();
                    break;
                }
                Some(",") => {
                    self.next();
                }
                Some("*") => {
                    self.next();
                    let k = self.ty1();
                    self.expect("=>");
                    let v = self.ty1();
                    rest = Some((Box::new(k), Box::new(v)));
                }
                _ => {
                    let optional = self.peek() == Some("?");
                    if optional {
                        self.next();
                    }
                    let key = self.next().trim_start_matches('"').to_string();
                    self.expect(":");
                    let ty = self.ty();
                    entries.push(Entry { key, optional, ty });
                }
            }
        }
        T::Map(entries, rest)
    }

    fn array(&mut self) -> T {
        if self.peek() == Some("*") {
            self.next();
            let t = self.ty();
            self.expect("]");
            return T::ArrayOf(Box::new(t));
        }
        let mut items = vec![self.ty()];
        while self.peek() == Some(",") {
            self.next();
            items.push(self.ty());
        }
        self.expect("]");
        T::Tuple(items)
    }
}

fn rules() -> Rules {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/frames.cddl"))
        .expect("docs/frames.cddl");
    Parser {
        toks: tokens(&src),
        pos: 0,
    }
    .rules()
}

/// Whether `v` is valid under `t`. `all`: every optional key must be there too (a sample
/// that fills every optional field names every key the CDDL has).
fn check(v: &Value, t: &T, rules: &Rules, all: bool) -> Result<(), String> {
    let int = |v: &Value| match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    };
    match t {
        T::Any => Ok(()),
        T::Tstr => v.as_text().map(|_| ()).ok_or(format!("{v:?} is not tstr")),
        T::Bstr => v.as_bytes().map(|_| ()).ok_or(format!("{v:?} is not bstr")),
        T::Bool => v.as_bool().map(|_| ()).ok_or(format!("{v:?} is not bool")),
        T::Null => v
            .is_null()
            .then_some(())
            .ok_or(format!("{v:?} is not null")),
        T::Int => int(v).map(|_| ()).ok_or(format!("{v:?} is not int")),
        T::Uint => int(v)
            .filter(|i| *i >= 0)
            .map(|_| ())
            .ok_or(format!("{v:?} is not uint")),
        T::Num(n) => (int(v) == Some(*n))
            .then_some(())
            .ok_or(format!("{v:?} is not {n}")),
        T::Text(s) => (v.as_text() == Some(s.as_str()))
            .then_some(())
            .ok_or(format!("{v:?} is not \"{s}\"")),
        T::Ref(name) => check(
            v,
            rules.get(name).ok_or(format!("no rule {name}"))?,
            rules,
            all,
        )
        .map_err(|e| format!("{name}: {e}")),
        T::Choice(alts) => {
            let mut errs = vec![];
            for a in alts {
                match check(v, a, rules, all) {
                    Ok(()) => return Ok(()),
                    Err(e) => errs.push(e),
                }
            }
            Err(format!("no choice fits: [{}]", errs.join(" | ")))
        }
        T::ArrayOf(t) => {
            let items = v.as_array().ok_or(format!("{v:?} is not an array"))?;
            if all && items.is_empty() {
                return Err("an empty array in a full sample".into());
            }
            items.iter().try_for_each(|i| check(i, t, rules, all))
        }
        T::Tuple(ts) => {
            let items = v.as_array().ok_or(format!("{v:?} is not an array"))?;
            if items.len() != ts.len() {
                return Err(format!("{} items, not {}", items.len(), ts.len()));
            }
            items
                .iter()
                .zip(ts)
                .try_for_each(|(i, t)| check(i, t, rules, all))
        }
        T::Cbor(t) => {
            let b = v.as_bytes().ok_or(format!("{v:?} is not bstr"))?;
            let inner: Value = ciborium::from_reader(&b[..]).map_err(|e| e.to_string())?;
            check(&inner, t, rules, all)
        }
        T::Map(entries, rest) => {
            let map = v.as_map().ok_or(format!("{v:?} is not a map"))?;
            let mut seen = vec![];
            for (k, val) in map {
                let key = k.as_text().ok_or("a key that is not text")?;
                match entries.iter().find(|e| e.key == key) {
                    Some(e) => {
                        check(val, &e.ty, rules, all).map_err(|err| format!(".{key}: {err}"))?
                    }
                    None => match rest {
                        Some((_, vt)) => check(val, vt, rules, all)?,
                        None => return Err(format!("key {key} is not in the CDDL")),
                    },
                }
                seen.push(key);
            }
            for e in entries {
                if (!e.optional || all) && !seen.contains(&e.key.as_str()) {
                    return Err(format!("key {} missing", e.key));
                }
            }
            Ok(())
        }
    }
}

fn value_of<S: serde::Serialize>(x: &S) -> Value {
    let mut b = vec![];
    ciborium::into_writer(x, &mut b).expect("encode");
    ciborium::from_reader(&b[..]).expect("decode")
}

fn frame_value(f: &Frame) -> Value {
    ciborium::from_reader(&f.encode()[..]).expect("a frame decodes as CBOR")
}

// ---------------------------------------------------------------- samples

fn header() -> Header {
    Header {
        kind: "signal".into(),
        school: "bs-de-linde".into(),
        pupil: Some("eck-0001".into()),
        author: "t-bakker".into(),
        created_at: 1_795_338_000_000,
        schema: 1,
    }
}

fn fields() -> AccessFields {
    AccessFields {
        visibility: Some("shared".into()),
        urgency: Some(2),
        category: Some("welbevinden".into()),
        readers: vec!["m-jansen".into()],
    }
}

fn summaries() -> Vec<Summary> {
    let body = [
        SummaryBody::Conversation {
            held_on: "2026-11-20".into(),
            status: ConversationStatus::Final,
            visibility: Visibility::Shared,
            template_id: "ik-jij-wij".into(),
            open_agreements: 2,
            due_agreements: vec![("a1".into(), "m-jansen".into(), "2026-12-04".into())],
        },
        SummaryBody::Signal {
            category: "welbevinden".into(),
            urgency: 2,
            observed_at: 1_795_338_000_000,
            recorded_at: 1_795_338_060_000,
            shared: true,
            open: true,
            picked_up: false,
            follow_ups: 1,
            excursion: Some("kamp-2026".into()),
        },
        SummaryBody::Thermometer(vec![ThermometerRow {
            id: "e1".into(),
            at: 1_795_338_000_000,
            scale: "smileys-5".into(),
            score: 4,
            wants_to_talk: true,
            recorded_by: "m-jansen".into(),
            by_pupil: true,
            answered_on: Some("2026-11-23".into()),
        }]),
        SummaryBody::Case {
            status: CaseStatus::Open,
            opened_at: 1_795_338_000_000,
            step: 3,
            signals: 2,
            feedback_due: Some("2026-12-01".into()),
            evaluation_on: Some("2027-02-01".into()),
        },
        SummaryBody::Excursion {
            name: "Schoolkamp".into(),
            starts_on: "2026-06-01".into(),
            ends_on: "2026-06-03".into(),
            participants: 24,
        },
        SummaryBody::ParentContact {
            held_on: "2026-11-21".into(),
            status: ConversationStatus::Draft,
            channel: "phone".into(),
            open_agreements: 0,
        },
        SummaryBody::Other,
    ];
    body.into_iter()
        .map(|body| Summary {
            header: header(),
            fields: fields(),
            body,
        })
        .collect()
}

/// Every frame type, with every optional field filled.
fn full_frames() -> Vec<Frame> {
    let id = DocumentId::random();
    let head = "ab".repeat(32);
    let whole = DocChanges {
        document_id: id,
        data: vec![0x85, 0x6f],
        heads: vec![head.clone()],
        summary: Some(summaries()[1].to_wire()),
    };
    vec![
        Frame::Sync {
            document_id: id,
            data: vec![0x42],
        },
        Frame::Hello {
            protocol: 1,
            cursor: 7,
            epoch: Some("00112233aabbccdd".into()),
            outbox: Some(OutboxState {
                pending: 3,
                not_accepted: 1,
                oldest_age: Some(172_800_000),
            }),
        },
        Frame::Outbox {
            pending: 3,
            not_accepted: 1,
            oldest_age: Some(172_800_000),
        },
        Frame::Push {
            docs: vec![whole.clone()],
        },
        Frame::Fetch {
            docs: vec![FetchRequest {
                document_id: id,
                have: vec![head.clone()],
            }],
        },
        Frame::ReadLog {
            entries: vec![ReadLogEntry {
                seq: 1,
                document_id: id,
                kind: "signal".into(),
                at: 1_795_338_000_000,
            }],
        },
        Frame::Enroll {
            code: "ABCD-EFGH".into(),
            actor: "00".repeat(16),
            label: "iPad IB".into(),
        },
        Frame::EraseRecord { document_id: id },
        Frame::ExportDossier {
            pupil: "eck-0001".into(),
            requested_on: "2026-11-20".into(),
        },
        Frame::SetCareTrack {
            pupil: "eck-0001".into(),
            in_care: true,
            reason: "signal".into(),
        },
        Frame::IncidentRegister {
            from: "2026-08".into(),
            to: "2027-07".into(),
        },
        Frame::SetSchoolSettings {
            settings: "{}".into(),
        },
        Frame::StartPupilSession {
            group: "g6b".into(),
            hours: 2,
        },
        Frame::PupilSession {
            code: "K7PX3M9QWT2A".into(),
            scope: omkijken_core::model::PupilScope {
                session: "ps-1".into(),
                group: "g6b".into(),
                scales: [("po_5_8".to_string(), "smileys-5".to_string())].into(),
                expires_at: 1_795_345_200_000,
            },
        },
        Frame::SchoolSettings {
            settings: "{}".into(),
        },
        Frame::Register {
            threshold: 5,
            signals: vec![RegisterSignals {
                month: "2026-11".into(),
                category: "pesten".into(),
                route: "anti_bullying".into(),
                count: "< 5".into(),
            }],
            cases: vec![RegisterCases {
                month: "2026-11".into(),
                opened: "< 5".into(),
                closed: "0".into(),
            }],
            csv: "month,category\n".into(),
        },
        Frame::CareTrack {
            pupil: "eck-0001".into(),
            in_care: false,
        },
        Frame::Erased { document_id: id },
        Frame::Dossier {
            json: "{}".into(),
            pdf: b"%PDF-1.7".to_vec(),
        },
        Frame::Enrolled {
            token: "tok".into(),
            school: "bs-de-linde".into(),
            user: "m-jansen".into(),
            device: "dev-1".into(),
        },
        Frame::Catalog {
            entries: vec![CatalogEntry {
                document_id: id,
                header: header(),
                fields: fields(),
                heads: vec![head.clone()],
                seq: 12,
            }],
            purge: vec![DocumentId::random()],
            cursor: 12,
            complete: true,
            epoch: Some("00112233aabbccdd".into()),
        },
        Frame::Docs {
            docs: vec![whole],
            cursor: 12,
        },
        Frame::Ack {
            docs: vec![Acked {
                document_id: id,
                heads: vec![head],
            }],
        },
        Frame::Refused {
            docs: vec![Refusal {
                document_id: id,
                reason: RefusalReason::ForgedActor,
            }],
        },
        Frame::LogAck { seq: 1 },
        Frame::Purge { docs: vec![id] },
        Frame::Revoked {},
        Frame::Error {
            code: ErrorCode::TooManyConnections,
            message: "too many connections of this device".into(),
        },
    ]
}

/// Fails to compile when a frame type is added without a sample above (and a rule in
/// docs/frames.cddl).
fn covered(f: &Frame) -> bool {
    match f {
        Frame::Sync { .. }
        | Frame::Hello { .. }
        | Frame::Outbox { .. }
        | Frame::Push { .. }
        | Frame::Fetch { .. }
        | Frame::ReadLog { .. }
        | Frame::Enroll { .. }
        | Frame::EraseRecord { .. }
        | Frame::ExportDossier { .. }
        | Frame::SetCareTrack { .. }
        | Frame::IncidentRegister { .. }
        | Frame::SetSchoolSettings { .. }
        | Frame::SchoolSettings { .. }
        | Frame::StartPupilSession { .. }
        | Frame::PupilSession { .. }
        | Frame::Register { .. }
        | Frame::CareTrack { .. }
        | Frame::Erased { .. }
        | Frame::Dossier { .. }
        | Frame::Enrolled { .. }
        | Frame::Catalog { .. }
        | Frame::Docs { .. }
        | Frame::Ack { .. }
        | Frame::Refused { .. }
        | Frame::LogAck { .. }
        | Frame::Purge { .. }
        | Frame::Revoked {}
        | Frame::Error { .. } => true,
        Frame::Unknown => false,
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn every_frame_the_code_writes_is_valid_under_the_cddl_with_every_key() {
    let rules = rules();
    let T::Choice(frame_rules) = &rules["frame"] else {
        panic!("frame is a choice");
    };
    let names: Vec<String> = frame_rules
        .iter()
        .map(|t| match t {
            T::Ref(n) => n.clone(),
            other => panic!("frame lists rules, not {other:?}"),
        })
        .collect();
    let frames = full_frames();
    assert!(frames.iter().all(covered));
    let mut typed: Vec<String> = frames.iter().map(|f| f.type_name().to_string()).collect();
    typed.sort();
    let mut listed = names.clone();
    listed.sort();
    assert_eq!(
        typed, listed,
        "one CDDL rule per frame type, named by its type"
    );
    for f in &frames {
        let v = frame_value(f);
        let rule = T::Ref(f.type_name().to_string());
        if let Err(e) = check(&v, &rule, &rules, true) {
            panic!("{}: {e}", f.type_name());
        }
        check(&v, &T::Ref("frame".into()), &rules, false).unwrap();
    }
}

#[test]
fn optional_keys_may_be_absent_and_nothing_else_is_taken() {
    let rules = rules();
    let id = DocumentId::random();
    let frame = T::Ref("frame".into());
    // Optional keys absent: still valid.
    for f in [
        Frame::Hello {
            protocol: 1,
            cursor: 0,
            epoch: None,
            outbox: None,
        },
        Frame::Hello {
            protocol: 1,
            cursor: 0,
            epoch: None,
            outbox: Some(OutboxState::default()),
        },
        Frame::Outbox {
            pending: 0,
            not_accepted: 0,
            oldest_age: None,
        },
        Frame::Docs {
            docs: vec![DocChanges::new(id, vec![1])],
            cursor: 0,
        },
        Frame::Catalog {
            entries: vec![CatalogEntry {
                document_id: id,
                header: Header {
                    pupil: None,
                    ..header()
                },
                fields: AccessFields::default(),
                heads: vec![],
                seq: 1,
            }],
            purge: vec![],
            cursor: 1,
            complete: false,
            epoch: None,
        },
    ] {
        check(&frame_value(&f), &frame, &rules, false)
            .unwrap_or_else(|e| panic!("{}: {e}", f.type_name()));
    }
    // The validator refuses what the CDDL does not say: a wrong type, a missing key, a
    // key it does not name, another protocol version.
    let mut hello = vec![
        (Value::from("type"), Value::from("hello")),
        (Value::from("protocol"), Value::from(1)),
        (Value::from("cursor"), Value::from("7")),
    ];
    assert!(check(&Value::Map(hello.clone()), &frame, &rules, false).is_err());
    hello[2].1 = Value::from(7);
    assert!(check(&Value::Map(hello.clone()), &frame, &rules, false).is_ok());
    let mut extra = hello.clone();
    extra.push((Value::from("colour"), Value::from("blue")));
    assert!(check(&Value::Map(extra), &frame, &rules, false).is_err());
    assert!(check(&Value::Map(hello[..2].to_vec()), &frame, &rules, false).is_err());
    hello[1].1 = Value::from(2);
    assert!(check(&Value::Map(hello), &frame, &rules, false).is_err());
}

#[test]
fn summaries_catalog_entries_and_read_log_entries_follow_the_cddl() {
    let rules = rules();
    for s in summaries() {
        let wire = Value::Bytes(s.to_wire());
        let t = T::Cbor(Box::new(T::Ref("summary-wire".into())));
        check(&wire, &t, &rules, true).unwrap_or_else(|e| panic!("{:?}: {e}", s.body));
    }
    let entry = CatalogEntry {
        document_id: DocumentId::random(),
        header: header(),
        fields: fields(),
        heads: vec!["cd".repeat(32)],
        seq: 3,
    };
    check(
        &value_of(&entry),
        &T::Ref("catalog-entry".into()),
        &rules,
        true,
    )
    .unwrap();
    let log = ReadLogEntry {
        seq: 4,
        document_id: DocumentId::random(),
        kind: "conversation".into(),
        at: 1_795_338_000_000,
    };
    check(
        &value_of(&log),
        &T::Ref("read-log-entry".into()),
        &rules,
        true,
    )
    .unwrap();
}

#[test]
fn automerge_repo_messages_follow_the_cddl() {
    let rules = rules();
    let peers = Peers {
        server: "omkijken-sync-server".into(),
        client: Some("peer-1".into()),
    };
    let id = DocumentId::random();
    let mut sent = vec![peers.peer(), peers.error("malformed: send join first")];
    for f in [
        Frame::Sync {
            document_id: id,
            data: vec![0x42],
        },
        Frame::Refused {
            docs: vec![Refusal {
                document_id: id,
                reason: RefusalReason::Forbidden,
            }],
        },
        Frame::Purge { docs: vec![id] },
        Frame::Revoked {},
    ] {
        sent.extend(peers.translate(&f));
    }
    for bytes in sent {
        let v: Value = ciborium::from_reader(&bytes[..]).unwrap();
        check(&v, &T::Ref("repo-from-server".into()), &rules, false)
            .unwrap_or_else(|e| panic!("{v:?}: {e}"));
    }
    // A join as automerge-repo 2.5.6's WebSocket client adapter sends it.
    let join = Value::Map(vec![
        ("type".into(), "join".into()),
        ("senderId".into(), "peer-1".into()),
        (
            "peerMetadata".into(),
            Value::Map(vec![("isEphemeral".into(), true.into())]),
        ),
        (
            "supportedProtocolVersions".into(),
            Value::Array(vec!["1".into()]),
        ),
    ]);
    check(&join, &T::Ref("repo-from-peer".into()), &rules, true).unwrap();
}
