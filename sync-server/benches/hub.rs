//! Hub throughput on this machine: push, fresh pull and reconnect cost, on an SQLite file
//! (WAL, synchronous=FULL). Run with `cargo bench -p omkijken-server --bench hub`
//! (`-- N` for N documents, default 10,000). With `OMKIJKEN_BENCH_POSTGRES=URL` the hub
//! runs on that PostgreSQL database instead (in a fresh schema, dropped afterwards).

// Edit closures return core's (large) error type.
#![allow(clippy::result_large_err)]

use automerge::{ActorId, Automerge};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::{Header, Kind, SCHEMA_VERSION, Signal};
use omkijken_core::sync::{DocChanges, FetchRequest, Frame, PROTOCOL_VERSION};
use omkijken_server::hub::{ConnId, Hub, HubConfig, Outgoing};
use omkijken_server::storage::postgres::testing::TestSchema;
use omkijken_server::storage::{PostgresStorage, SqliteStorage, Storage};
use std::time::Instant;

const NOW: i64 = 1_760_000_000_000;
const SCHOOL: &str = "s1";
const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,m1,Mentor,,,,mentor,,g6
staff,ib,IB,,,,care_coordinator,,
pupil,p1,Een,g6,po_5_8,true,,m1,
";

fn enroll(hub: &mut Hub, user: &str, n: u8) -> (String, ActorId) {
    let code = hub.issue_code(NOW, SCHOOL, user).unwrap();
    let actor = ActorId::from([n; 16].as_slice());
    match hub.enroll(
        NOW,
        Frame::Enroll {
            code,
            actor: actor.to_hex_string(),
            label: "bench".into(),
        },
    ) {
        Frame::Enrolled { token, .. } => (token, actor),
        f => panic!("{f:?}"),
    }
}

fn signal(actor: &ActorId, i: usize) -> (DocumentId, Automerge) {
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some("p1".into()),
        author: "m1".into(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    };
    let rec = omkijken_core::testing::signal_record(NOW, "klas", 1, &format!("observatie {i}"));
    (
        DocumentId::random(),
        doc::create(actor.clone(), NOW, &header, &rec).unwrap(),
    )
}

/// (on-CPU, waiting-for-CPU) time of this thread so far, from /proc (Linux); the machine is
/// shared, so wall time alone over-states the cost.
fn cpu() -> (std::time::Duration, std::time::Duration) {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut it = s.split_whitespace().map(|x| x.parse::<u64>().unwrap_or(0));
    (
        std::time::Duration::from_nanos(it.next().unwrap_or(0)),
        std::time::Duration::from_nanos(it.next().unwrap_or(0)),
    )
}

struct Clock(Instant, (std::time::Duration, std::time::Duration));

impl Clock {
    fn start() -> Self {
        Clock(Instant::now(), cpu())
    }
    /// (wall, on cpu, waiting for cpu)
    fn stop(
        &self,
    ) -> (
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
    ) {
        let (c, w) = cpu();
        (self.0.elapsed(), c - self.1.0, w - self.1.1)
    }
}

fn bytes(out: &Outgoing, c: ConnId) -> usize {
    out.iter()
        .filter(|(x, _)| *x == c)
        .map(|(_, f)| f.encode().len())
        .sum()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let pg = std::env::var("OMKIJKEN_BENCH_POSTGRES")
        .ok()
        .map(|url| TestSchema::create(&url));
    let st: Box<dyn Storage> = match &pg {
        Some(schema) => {
            println!("storage: PostgreSQL");
            Box::new(PostgresStorage::open(&schema.url(), None).unwrap())
        }
        None => Box::new(SqliteStorage::open(dir.path().join("bench.db"), None).unwrap()),
    };
    let mut hub = Hub::new(st, HubConfig::default(), [1; 32]).unwrap();
    hub.create_school(NOW, SCHOOL, "Bench").unwrap();
    hub.import_roster(NOW, SCHOOL, ROSTER).unwrap();
    let (phone, actor) = enroll(&mut hub, "m1", 1);
    let (tablet, _) = enroll(&mut hub, "m1", 2);
    let (ib, _) = enroll(&mut hub, "ib", 3);

    let docs: Vec<(DocumentId, Vec<u8>)> = (0..n)
        .map(|i| {
            let (id, d) = signal(&actor, i);
            (id, d.save())
        })
        .collect();
    let avg = docs.iter().map(|d| d.1.len()).sum::<usize>() / n;

    // Push: frames of 1,000 documents, one transaction each. The care coordinator is
    // connected, so every document is also pushed live to a second session.
    let c = hub.connect(NOW, &phone).unwrap().conn;
    hub.receive(
        NOW,
        c,
        Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
        },
    );
    let cib = hub.connect(NOW, &ib).unwrap().conn;
    hub.receive(
        NOW,
        cib,
        Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
        },
    );
    let t = Clock::start();
    for chunk in docs.chunks(1_000) {
        let out = hub.receive(
            NOW,
            c,
            Frame::Push {
                docs: chunk
                    .iter()
                    .map(|(id, b)| DocChanges::new(*id, b.clone()))
                    .collect(),
            },
        );
        assert!(
            out.iter()
                .any(|(_, f)| matches!(f, Frame::Ack { docs } if docs.len() == chunk.len()))
        );
    }
    let push = t.stop();

    // Fresh pull: a new device catches up and fetches everything in frames of 2,000.
    let t = Clock::start();
    let c2 = hub.connect(NOW, &tablet).unwrap().conn;
    let out = hub.receive(
        NOW,
        c2,
        Frame::Hello {
            outbox: None,
            epoch: None,
            protocol: PROTOCOL_VERSION,
            cursor: 0,
        },
    );
    let mut ids = vec![];
    let mut cursor = 0;
    for (_, f) in &out {
        if let Frame::Catalog {
            entries,
            cursor: cur,
            complete,
            ..
        } = f
        {
            ids.extend(entries.iter().map(|e| e.document_id));
            if *complete {
                cursor = *cur;
            }
        }
    }
    let mut got = 0;
    for chunk in ids.chunks(2_000) {
        let out = hub.receive(
            NOW,
            c2,
            Frame::Fetch {
                docs: chunk
                    .iter()
                    .map(|id| FetchRequest {
                        document_id: *id,
                        have: vec![],
                    })
                    .collect(),
            },
        );
        for (_, f) in out {
            if let Frame::Docs { docs, .. } = f {
                got += docs.len();
            }
        }
    }
    let pull = t.stop();
    assert_eq!(got, n + 1);
    hub.disconnect(c2);

    // Reconnect after one change by another device: hello -> catalog, fetch -> docs.
    let (id, d0) = (docs[0].0, Automerge::load(&docs[0].1).unwrap());
    let mut d1 = d0.clone();
    doc::update(id, &mut d1, &actor, NOW, |s: &mut Signal| {
        s.follow_ups.push(omkijken_core::model::FollowUp {
            id: "f1".into(),
            author: "m1".into(),
            at: NOW,
            kind: "to_signaller".into(),
            text: "opgepakt".into(),
        });
        Ok(())
    })
    .unwrap();
    hub.receive(
        NOW,
        c,
        Frame::Push {
            docs: vec![DocChanges::new(id, d1.save_after(&d0.get_heads()))],
        },
    );
    let t = Clock::start();
    let c3 = hub.connect(NOW, &tablet).unwrap().conn;
    let hello = Frame::Hello {
        outbox: None,
        epoch: None,
        protocol: PROTOCOL_VERSION,
        cursor,
    };
    let mut up = hello.encode().len();
    let out = hub.receive(NOW, c3, hello);
    let mut down = bytes(&out, c3);
    let mut changed = vec![];
    for (_, f) in &out {
        if let Frame::Catalog { entries, .. } = f {
            changed.extend(entries.iter().map(|e| FetchRequest {
                document_id: e.document_id,
                have: omkijken_core::ids::heads_to_hex(&d0.get_heads()),
            }));
        }
    }
    let fetch = Frame::Fetch {
        docs: changed.clone(),
    };
    up += fetch.encode().len();
    let out = hub.receive(NOW, c3, fetch);
    down += bytes(&out, c3);
    let reconnect = t.stop().0;

    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("documents: {n}, average saved size {avg} bytes");
    println!(
        "push:       {:>8.0} docs/s wall, {:>8.0} docs/s on-CPU (wall {:?}, cpu {:?}, waited for a CPU {:?}; frames of 1,000, one live subscriber)",
        rate(push.0),
        rate(push.1),
        push.0,
        push.1,
        push.2
    );
    println!(
        "fresh pull: {:>8.0} docs/s wall, {:>8.0} docs/s on-CPU (wall {:?}, cpu {:?}, waited {:?}; catch-up + fetch in frames of 2,000)",
        rate(pull.0),
        rate(pull.1),
        pull.0,
        pull.1,
        pull.2
    );
    println!(
        "reconnect after 1 change of {n}: 2 round trips, {} catalog entries, {} bytes up, {} bytes down, {:?}",
        changed.len(),
        up,
        down,
        reconnect
    );
}
