//! End-to-end throughput over WebSocket against the real server on 127.0.0.1 (client and
//! server share this machine). Run with `cargo bench -p omkijken-server --bench wire`
//! (`-- N` for N documents, default 10,000).

use futures_util::{SinkExt, StreamExt};
use omkijken_core::DocumentId;
use omkijken_core::doc;
use omkijken_core::model::{Header, Kind, SCHEMA_VERSION};
use omkijken_core::sync::{DocChanges, FetchRequest, Frame, PROTOCOL_VERSION};
use omkijken_server::server::{ServerHandle, Settings, start};
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const NOW: i64 = 1_760_000_000_000;
/// A fresh device's hello: nothing in its outbox, nothing seen yet.
const HELLO: Frame = Frame::Hello {
    outbox: None,
    epoch: None,
    protocol: PROTOCOL_VERSION,
    cursor: 0,
};

const ROSTER: &str = "type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,m1,Mentor,,,,mentor,,g6
pupil,p1,Een,g6,po_5_8,true,,m1,
";

async fn recv(ws: &mut Ws) -> Frame {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Frame::decode(&b).unwrap(),
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, f: &Frame) {
    ws.send(Message::Binary(f.encode().into())).await.unwrap();
}

async fn device(h: &ServerHandle, n: u8) -> (Ws, automerge::ActorId) {
    let code = h.admin().issue_code("s1", "m1").await.unwrap();
    let actor = automerge::ActorId::from([n; 16].as_slice());
    let (mut e, _) = tokio_tungstenite::connect_async(h.enroll_url())
        .await
        .unwrap();
    send(
        &mut e,
        &Frame::Enroll {
            code,
            actor: actor.to_hex_string(),
            label: "bench".into(),
        },
    )
    .await;
    let Frame::Enrolled { token, .. } = recv(&mut e).await else {
        panic!()
    };
    let mut req = h.sync_url().into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    (ws, actor)
}

fn signal(actor: &automerge::ActorId, i: usize) -> (DocumentId, Vec<u8>) {
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: "s1".into(),
        pupil: Some("p1".into()),
        author: "m1".into(),
        created_at: NOW,
        schema: SCHEMA_VERSION,
    };
    let rec = omkijken_core::testing::signal_record(NOW, "klas", 1, &format!("observatie {i}"));
    let d = doc::create(actor.clone(), NOW, &header, &rec).unwrap();
    (DocumentId::random(), d.save())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let h = start(Settings::for_test(dir.path().join("data")))
        .await
        .unwrap();
    h.admin().create_school("s1", "Bench").await.unwrap();
    h.admin().import_roster("s1", ROSTER).await.unwrap();
    let (mut a, actor) = device(&h, 1).await;
    let docs: Vec<(DocumentId, Vec<u8>)> = (0..n).map(|i| signal(&actor, i)).collect();

    send(&mut a, &HELLO).await;
    while !matches!(recv(&mut a).await, Frame::Catalog { complete: true, .. }) {}
    // Push: all frames pipelined, then wait for every ack.
    let t = Instant::now();
    let frames: Vec<Frame> = docs
        .chunks(1_000)
        .map(|c| Frame::Push {
            docs: c
                .iter()
                .map(|(id, b)| DocChanges::new(*id, b.clone()))
                .collect(),
        })
        .collect();
    for f in &frames {
        send(&mut a, f).await;
    }
    let mut acked = 0;
    while acked < n {
        if let Frame::Ack { docs } = recv(&mut a).await {
            acked += docs.len();
        }
    }
    let push = t.elapsed();

    // Fresh pull by a second device: catch-up, then fetch frames pipelined.
    let (mut b, _) = device(&h, 2).await;
    let t = Instant::now();
    send(&mut b, &HELLO).await;
    let mut ids = vec![];
    loop {
        if let Frame::Catalog {
            entries, complete, ..
        } = recv(&mut b).await
        {
            ids.extend(entries.into_iter().map(|e| e.document_id));
            if complete {
                break;
            }
        }
    }
    for c in ids.chunks(2_000) {
        let f = Frame::Fetch {
            docs: c
                .iter()
                .map(|id| FetchRequest {
                    document_id: *id,
                    have: vec![],
                })
                .collect(),
        };
        send(&mut b, &f).await;
    }
    let mut got = 0;
    while got < ids.len() {
        if let Frame::Docs { docs, .. } = recv(&mut b).await {
            got += docs.len();
        }
    }
    let pull = t.elapsed();
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64();
    println!("documents: {n} (WebSocket on 127.0.0.1, client in the same process)");
    println!(
        "push:       {:>8.0} docs/s ({push:?}, frames of 1,000, pipelined)",
        rate(push)
    );
    println!(
        "fresh pull: {:>8.0} docs/s ({pull:?}, catch-up + fetch frames of 2,000)",
        rate(pull)
    );
    h.shutdown().await.unwrap();
}
