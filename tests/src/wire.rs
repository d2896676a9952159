//! A client that speaks the sync protocol frame by frame, for tests that play a hostile
//! device: a real enrolled device (its token and actor) whose app was replaced by a script
//! that builds Automerge changes itself and sends them, bypassing the store and its checks.

use crate::{Device, TestServer};
use anyhow::{Context, Result, bail};
use automerge::{ActorId, Automerge, ChangeHash};
use futures_util::{SinkExt, StreamExt};
use omkijken_core::ids::heads_from_hex;
use omkijken_core::sync::{
    CatalogEntry, DocChanges, FetchRequest, Frame, PROTOCOL_VERSION, RefusalReason,
};
use omkijken_core::transport::SETTING_TOKEN;
use omkijken_core::{DocumentId, Store};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the server answered to one pushed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledged with these heads.
    Acked(Vec<ChangeHash>),
    /// Refused.
    Refused(RefusalReason),
}

/// A raw protocol session of an enrolled device.
#[derive(Debug)]
pub struct Wire {
    ws: Ws,
    /// The actor the device registered at enrollment (its changes must carry it).
    pub actor: ActorId,
    /// The catalog of the first catch-up.
    pub catalog: Vec<CatalogEntry>,
    /// Frames received that no call asked for (live pushes, purges).
    pub other: Vec<Frame>,
}

impl Wire {
    /// Open a sync session with `device`'s token and catch up from the start.
    pub async fn connect(server: &TestServer, device: &Device) -> Result<Wire> {
        Self::connect_with(server, &device.store).await
    }

    /// [`Wire::connect`] with the token and actor of `store`.
    pub async fn connect_with(server: &TestServer, store: &Store) -> Result<Wire> {
        let mut wire = Self::open(server, store).await?;
        wire.hello(0).await?;
        loop {
            match wire.next().await? {
                Frame::Catalog {
                    entries, complete, ..
                } => {
                    wire.catalog.extend(entries);
                    if complete {
                        break;
                    }
                }
                other => wire.other.push(other),
            }
        }
        Ok(wire)
    }

    /// Say `hello` from `cursor` (and read nothing yet).
    pub async fn hello(&mut self, cursor: u64) -> Result<()> {
        self.send(Frame::Hello {
            protocol: PROTOCOL_VERSION,
            cursor,
            epoch: None,
            outbox: None,
        })
        .await
    }

    /// A sync session with the token and actor of `store`, nothing sent yet (not even
    /// `hello`).
    pub async fn open(server: &TestServer, store: &Store) -> Result<Wire> {
        let token = store.setting(SETTING_TOKEN)?.context("not enrolled")?;
        let mut req = server.handle.sync_url().into_client_request()?;
        req.headers_mut().insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Wire {
            ws,
            actor: store.actor().clone(),
            catalog: vec![],
            other: vec![],
        })
    }

    /// Whether the server closed the session (after an error frame, or at once): reads
    /// what is left, up to 20 s.
    pub async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.ws.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Send one frame.
    pub async fn send(&mut self, frame: Frame) -> Result<()> {
        self.ws.send(Message::binary(frame.encode())).await?;
        Ok(())
    }

    /// Send bytes as one binary message, whatever they hold.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.ws.send(Message::binary(bytes)).await?;
        Ok(())
    }

    /// The next frame from the server (an error if it closes or stays silent for 20 s).
    pub async fn next(&mut self) -> Result<Frame> {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => return Ok(Frame::decode(&b)?),
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) => bail!("the server closed"),
                Ok(Some(Err(e))) => bail!("connection: {e}"),
                Ok(Some(Ok(_))) => continue,
                Err(_) => bail!("no answer from the server"),
            }
        }
    }

    /// The server's copy of a document the user may read, loaded; None if the server
    /// sends nothing for it (unknown, or not readable: the two look the same).
    pub async fn fetch(&mut self, id: DocumentId) -> Result<Option<Automerge>> {
        self.send(Frame::Fetch {
            docs: vec![FetchRequest {
                document_id: id,
                have: vec![],
            }],
        })
        .await?;
        loop {
            match self.next().await? {
                Frame::Docs { docs, cursor: 0 } => {
                    return Ok(match docs.into_iter().find(|d| d.document_id == id) {
                        Some(d) => Some(Automerge::load(&d.data)?),
                        None => None,
                    });
                }
                other => self.other.push(other),
            }
        }
    }

    /// Push `data` (a saved document or change chunks) as the changes of `id` and wait for
    /// the server's verdict on it. Returns the verdict and every frame that came with it.
    pub async fn push(&mut self, id: DocumentId, data: Vec<u8>) -> Result<(Verdict, Vec<Frame>)> {
        self.send(Frame::Push {
            docs: vec![DocChanges::new(id, data)],
        })
        .await?;
        let mut frames = vec![];
        loop {
            let f = self.next().await?;
            let verdict = match &f {
                Frame::Ack { docs } => docs
                    .iter()
                    .find(|a| a.document_id == id)
                    .map(|a| Verdict::Acked(heads_from_hex(&a.heads).unwrap_or_default())),
                Frame::Refused { docs } => docs
                    .iter()
                    .find(|r| r.document_id == id)
                    .map(|r| Verdict::Refused(r.reason)),
                _ => None,
            };
            frames.push(f);
            if let Some(v) = verdict {
                // A purge for a refused document follows its refusal at once.
                if matches!(v, Verdict::Refused(RefusalReason::Forbidden))
                    && let Ok(Ok(f)) =
                        tokio::time::timeout(Duration::from_millis(300), self.next()).await
                {
                    frames.push(f);
                }
                return Ok((v, frames));
            }
        }
    }

    /// Push the changes of `after` made since `before` (as a device pushes an edit).
    pub async fn push_changes(
        &mut self,
        id: DocumentId,
        before: &Automerge,
        after: &Automerge,
    ) -> Result<Verdict> {
        let (v, _) = self.push(id, after.save_after(&before.get_heads())).await?;
        Ok(v)
    }
}
