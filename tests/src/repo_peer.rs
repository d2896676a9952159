//! A minimal automerge-repo peer in Rust, written from automerge-repo's network protocol
//! (`join`/`peer`, `request`, `sync`, `doc-unavailable`; CBOR maps over a WebSocket), for the
//! tests of `/v1/automerge-repo` that run without Node. The interop tests with the real
//! JavaScript automerge-repo are in scripts/automerge-repo-interop.sh.

use crate::SCHOOL;
use crate::TestServer;
use anyhow::{Context, Result, bail};
use automerge::ActorId;
use automerge::Automerge;
use automerge::sync::{self, SyncDoc};
use ciborium::Value;
use futures_util::{SinkExt, StreamExt};
use omkijken_core::model::{Header, Kind, SCHEMA_VERSION, Signal};
use omkijken_core::{DocumentId, doc};
use std::collections::VecDeque;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One automerge-repo message, as a list of (key, value).
#[derive(Debug, Clone, PartialEq)]
pub struct RepoMessage(pub Vec<(String, Value)>);

impl RepoMessage {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The `type`.
    pub fn kind(&self) -> &str {
        self.get("type").and_then(|v| v.as_text()).unwrap_or("")
    }

    /// The `documentId`.
    pub fn document_id(&self) -> Option<&str> {
        self.get("documentId").and_then(|v| v.as_text())
    }

    /// The message without `documentId`: to compare answers about two ids.
    pub fn without_id(&self) -> RepoMessage {
        RepoMessage(
            self.0
                .iter()
                .filter(|(k, _)| k != "documentId")
                .cloned()
                .collect(),
        )
    }
}

/// Now, unix ms.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A shared signal by `author` about `pupil`, written by `actor`, as an automerge-repo app
/// would build it from docs/schemas/signal.schema.json.
pub fn new_signal(actor: &ActorId, author: &str, pupil: &str, facts: &str) -> automerge::Automerge {
    let now = now_ms();
    let header = Header {
        kind: Kind::Signal.as_str().into(),
        school: SCHOOL.into(),
        pupil: Some(pupil.into()),
        author: author.into(),
        created_at: now,
        schema: SCHEMA_VERSION,
    };
    let record = Signal {
        observed_at: now - 3_600_000,
        ..omkijken_core::testing::signal_record(now, "speelplaats", 1, facts)
    };
    doc::create(actor.clone(), now, &header, &record).expect("a signal document")
}

/// A shared signal about `pupil` recorded on a native device, in the school (no trip).
pub fn record_signal(device: &crate::Device, pupil: &str, facts: &str) -> Result<DocumentId> {
    Ok(device.store.record_signal(omkijken_core::testing::signal(
        pupil,
        device.store.now(),
        "speelplaats",
        2,
        facts,
    ))?)
}

/// What became of a document a peer created and synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server holds our heads.
    Taken,
    /// `doc-unavailable`: refused (or not ours to write).
    Unavailable,
}

/// An automerge-repo peer connected to `/v1/automerge-repo`.
#[derive(Debug)]
pub struct RepoPeer {
    ws: Ws,
    /// Our peer id.
    pub peer_id: String,
    /// The server's peer id (from its `peer` message).
    pub server_id: String,
    /// Messages received that no call consumed yet.
    pub pending: VecDeque<RepoMessage>,
}

/// The URL of the endpoint.
pub fn endpoint(server: &TestServer) -> String {
    format!("ws://{}/v1/automerge-repo", server.handle.addr())
}

/// Encode a CBOR map of (key, value).
pub fn encode(pairs: Vec<(&str, Value)>) -> Vec<u8> {
    let v = Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect());
    let mut b = vec![];
    ciborium::into_writer(&v, &mut b).expect("write to a Vec");
    b
}

/// Open a WebSocket to the endpoint with this `Authorization` header value (none: no
/// header). The HTTP status if the upgrade is refused.
pub async fn open(server: &TestServer, authorization: Option<&str>) -> Result<Ws, u16> {
    let mut req = endpoint(server).into_client_request().map_err(|_| 0u16)?;
    if let Some(a) = authorization {
        req.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(a).map_err(|_| 0u16)?,
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(_) => Err(0),
    }
}

impl RepoPeer {
    /// Connect with a device token (Bearer) and do the `join`/`peer` handshake.
    pub async fn connect(server: &TestServer, token: &str) -> Result<RepoPeer> {
        let ws = open(server, Some(&format!("Bearer {token}")))
            .await
            .map_err(|status| anyhow::anyhow!("upgrade refused: HTTP {status}"))?;
        let mut peer = RepoPeer {
            ws,
            peer_id: format!("rust-peer-{}", DocumentId::random()),
            server_id: String::new(),
            pending: VecDeque::new(),
        };
        let join = encode(vec![
            ("type", "join".into()),
            ("senderId", peer.peer_id.clone().into()),
            (
                "peerMetadata",
                Value::Map(vec![("isEphemeral".into(), true.into())]),
            ),
            ("supportedProtocolVersions", Value::Array(vec!["1".into()])),
        ]);
        peer.send_raw(join).await?;
        let m = peer.next_any().await?;
        if m.kind() != "peer" {
            bail!("expected peer, got {m:?}");
        }
        anyhow::ensure!(
            m.get("targetId").and_then(|v| v.as_text()) == Some(peer.peer_id.as_str()),
            "peer message not addressed to us"
        );
        anyhow::ensure!(
            m.get("selectedProtocolVersion").and_then(|v| v.as_text()) == Some("1"),
            "protocol version"
        );
        peer.server_id = m
            .get("senderId")
            .and_then(|v| v.as_text())
            .context("server peer id")?
            .to_string();
        Ok(peer)
    }

    /// Send bytes as one binary message.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.ws.send(Message::binary(bytes)).await?;
        Ok(())
    }

    /// Send a `sync` or `request` message.
    pub async fn send_doc(&mut self, kind: &str, id: &str, data: Vec<u8>) -> Result<()> {
        let m = encode(vec![
            ("type", kind.into()),
            ("senderId", self.peer_id.clone().into()),
            ("targetId", self.server_id.clone().into()),
            ("documentId", id.into()),
            ("data", Value::Bytes(data)),
        ]);
        self.send_raw(m).await
    }

    /// The next message from the server (an error when it closes, or says nothing for 20 s).
    pub async fn next_any(&mut self) -> Result<RepoMessage> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(m);
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<RepoMessage> {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    let v: Value = ciborium::from_reader(&b[..])?;
                    let pairs = v
                        .into_map()
                        .map_err(|_| anyhow::anyhow!("not a map"))?
                        .into_iter()
                        .map(|(k, v)| Ok((k.into_text().map_err(|_| anyhow::anyhow!("key"))?, v)))
                        .collect::<Result<Vec<_>>>()?;
                    return Ok(RepoMessage(pairs));
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) => bail!("the server closed"),
                Ok(Some(Err(e))) => bail!("connection: {e}"),
                Ok(Some(Ok(_))) => continue,
                Err(_) => bail!("no answer from the server"),
            }
        }
    }

    /// The next message about document `id` (others are kept in `pending`).
    pub async fn next_for(&mut self, id: &str) -> Result<RepoMessage> {
        if let Some(i) = self
            .pending
            .iter()
            .position(|m| m.document_id() == Some(id))
        {
            return Ok(self.pending.remove(i).expect("index in range"));
        }
        loop {
            let m = self.read().await?;
            if m.document_id() == Some(id) {
                return Ok(m);
            }
            if m.kind() == "error" {
                bail!("error message: {m:?}");
            }
            self.pending.push_back(m);
        }
    }

    /// Ask for a document as automerge-repo's `find` does: `request` with the sync message
    /// of an empty document, then sync until we hold what the server sent. None (with the
    /// answer) when the server says `doc-unavailable`.
    pub async fn find(
        &mut self,
        id: &str,
    ) -> Result<(Option<(Automerge, sync::State)>, RepoMessage)> {
        let mut doc = Automerge::new();
        let mut state = sync::State::new();
        let first = doc
            .generate_sync_message(&mut state)
            .context("first sync message")?;
        self.send_doc("request", id, first.encode()).await?;
        loop {
            let m = self.next_for(id).await?;
            match m.kind() {
                "doc-unavailable" => return Ok((None, m)),
                "sync" => {
                    let data = m.get("data").and_then(|v| v.as_bytes()).context("data")?;
                    doc.receive_sync_message(&mut state, sync::Message::decode(data)?)?;
                    if let Some(reply) = doc.generate_sync_message(&mut state) {
                        self.send_doc("sync", id, reply.encode()).await?;
                    }
                    if !doc.get_heads().is_empty() {
                        return Ok((Some((doc, state)), m));
                    }
                }
                other => bail!("unexpected {other}"),
            }
        }
    }

    /// Sync a document we hold (created here, or changed here) until the server holds our
    /// heads, or says `doc-unavailable`.
    pub async fn sync_until_taken(
        &mut self,
        id: &str,
        doc: &mut Automerge,
        state: &mut sync::State,
    ) -> Result<Outcome> {
        if let Some(m) = doc.generate_sync_message(state) {
            self.send_doc("sync", id, m.encode()).await?;
        }
        loop {
            if state.their_heads.as_ref() == Some(&doc.get_heads()) {
                return Ok(Outcome::Taken);
            }
            let m = self.next_for(id).await?;
            match m.kind() {
                "doc-unavailable" => return Ok(Outcome::Unavailable),
                "sync" => {
                    let data = m.get("data").and_then(|v| v.as_bytes()).context("data")?;
                    doc.receive_sync_message(state, sync::Message::decode(data)?)?;
                    if let Some(reply) = doc.generate_sync_message(state) {
                        self.send_doc("sync", id, reply.encode()).await?;
                    }
                }
                other => bail!("unexpected {other}"),
            }
        }
    }

    /// Wait for the server's next `sync` message about `id` and apply it (a live change).
    pub async fn receive_change(
        &mut self,
        id: &str,
        doc: &mut Automerge,
        state: &mut sync::State,
    ) -> Result<RepoMessage> {
        let m = self.next_for(id).await?;
        if m.kind() == "sync" {
            let data = m.get("data").and_then(|v| v.as_bytes()).context("data")?;
            doc.receive_sync_message(state, sync::Message::decode(data)?)?;
            if let Some(reply) = doc.generate_sync_message(state) {
                self.send_doc("sync", id, reply.encode()).await?;
            }
        }
        Ok(m)
    }
}
