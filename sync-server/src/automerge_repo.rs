//! The automerge-repo network protocol on `/v1/automerge-repo` (docs/protocol.md,
//! "automerge-repo compatibility"): the messages of `@automerge/automerge-repo` 2.x and its
//! WebSocket adapter, as CBOR maps, translated to and from the hub's frames. The hub does
//! all the work (see `hub::automerge_repo`); this module only speaks the dialect.
//!
//! In: `join` (answered here with `peer`), `sync` and `request` (to the hub), `ephemeral`,
//! `doc-unavailable`, `remote-subscription-change`, `remote-heads-changed` and any other
//! type (ignored). Out: `peer`, `sync`, `doc-unavailable`, `error` (then the server closes).

use crate::cbor_limits::{self, FrameLimits, Violation};
use axum::http::{HeaderMap, header};
use omkijken_core::DocumentId;
use omkijken_core::sync::{ErrorCode, Frame, MAX_DOC_BYTES, MAX_FRAME_BYTES};
use serde::{Deserialize, Serialize};

/// The protocol version this server speaks (the WebSocket adapter's "1").
pub const PROTOCOL_V1: &str = "1";

/// Longest peer id taken from a `join` (automerge-repo's are a few dozen characters).
const MAX_PEER_ID: usize = 256;

/// The device token of an upgrade: `Authorization: Bearer <token>` as on `/v1/sync`, or
/// `Authorization: Basic` whose password is the token (any user name). automerge-repo's
/// WebSocket client adapter cannot set headers; in Node its WebSocket library sends URL
/// credentials (`ws://device:TOKEN@host/v1/automerge-repo`) as Basic, and the token stays
/// out of the request line (and so out of request logs).
pub fn token(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let t = if let Some(t) = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
    {
        t.trim().to_string()
    } else {
        let b = v
            .strip_prefix("Basic ")
            .or_else(|| v.strip_prefix("basic "))?;
        let b = b.trim();
        if b.len() > 512 {
            return None;
        }
        let plain = String::from_utf8(base64_decode(b)?).ok()?;
        let (_, password) = plain.split_once(':')?;
        // URL credentials arrive percent-encoded only where needed; a base58 token never is.
        password.to_string()
    };
    (!t.is_empty() && t.len() <= 128).then_some(t)
}

/// Standard base64 (with or without padding); None if it is not.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// What a received message asks of the session.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// `join`: the peer's id, and whether it speaks version 1 (absent versions: it does).
    Join { peer: String, speaks_v1: bool },
    /// `sync` (or `request`) for a document: to the hub.
    Sync {
        document_id: DocumentId,
        data: Vec<u8>,
        request: bool,
    },
    /// `sync` or `request` for an id that is not an automerge-repo document id (bs58check
    /// of 16 bytes): no document of ours, so `doc-unavailable` at once.
    Unavailable { document_id: String },
    /// Anything else (`ephemeral`, `doc-unavailable`, remote heads, unknown types).
    Ignored,
}

/// Why a message ends the session: the code (for metrics) and words for the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bad {
    /// The error code (as in `error` frames).
    pub code: ErrorCode,
    /// What was wrong, in words (never content).
    pub message: &'static str,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    ty: String,
}

#[derive(Deserialize)]
struct JoinMsg {
    #[serde(rename = "senderId")]
    sender_id: String,
    #[serde(rename = "supportedProtocolVersions", default)]
    supported: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct DocMsg {
    #[serde(rename = "documentId")]
    document_id: String,
    data: serde_bytes::ByteBuf,
}

/// Decode one received message (its structure walked first, as for a native frame).
pub fn decode(bytes: &[u8]) -> Result<Incoming, Bad> {
    let malformed = Bad {
        code: ErrorCode::Malformed,
        message: "message is not a valid automerge-repo message",
    };
    let too_large = Bad {
        code: ErrorCode::TooLarge,
        message: "message exceeds the limits",
    };
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(too_large);
    }
    match cbor_limits::check(bytes, FrameLimits::default()) {
        Ok(()) => {}
        Err(Violation::Malformed) => return Err(malformed),
        Err(Violation::TooManyItems | Violation::TooDeep) => return Err(too_large),
    }
    let head: Head = ciborium::from_reader(bytes).map_err(|_| malformed)?;
    match head.ty.as_str() {
        "join" => {
            let m: JoinMsg = ciborium::from_reader(bytes).map_err(|_| malformed)?;
            if m.sender_id.is_empty() || m.sender_id.len() > MAX_PEER_ID {
                return Err(malformed);
            }
            let speaks_v1 = m
                .supported
                .is_none_or(|v| v.iter().any(|v| v == PROTOCOL_V1));
            Ok(Incoming::Join {
                peer: m.sender_id,
                speaks_v1,
            })
        }
        "sync" | "request" => {
            let m: DocMsg = ciborium::from_reader(bytes).map_err(|_| malformed)?;
            if m.data.len() > MAX_DOC_BYTES {
                return Err(too_large);
            }
            let request = head.ty == "request";
            match DocumentId::from_automerge_repo(&m.document_id) {
                Ok(document_id) => Ok(Incoming::Sync {
                    document_id,
                    data: m.data.into_vec(),
                    request,
                }),
                Err(_) if m.document_id.len() <= 64 => Ok(Incoming::Unavailable {
                    document_id: m.document_id,
                }),
                Err(_) => Err(malformed),
            }
        }
        _ => Ok(Incoming::Ignored),
    }
}

#[derive(Serialize)]
struct PeerMetadata<'a> {
    #[serde(rename = "storageId")]
    storage_id: &'a str,
    #[serde(rename = "isEphemeral")]
    is_ephemeral: bool,
}

#[derive(Serialize)]
struct Out<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    #[serde(rename = "senderId")]
    sender_id: &'a str,
    #[serde(rename = "targetId")]
    target_id: &'a str,
    #[serde(rename = "documentId", skip_serializing_if = "Option::is_none")]
    document_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_bytes::Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(rename = "peerMetadata", skip_serializing_if = "Option::is_none")]
    peer_metadata: Option<PeerMetadata<'a>>,
    #[serde(
        rename = "selectedProtocolVersion",
        skip_serializing_if = "Option::is_none"
    )]
    selected_protocol_version: Option<&'a str>,
}

impl<'a> Out<'a> {
    fn new(ty: &'a str, sender_id: &'a str, target_id: &'a str) -> Out<'a> {
        Out {
            ty,
            sender_id,
            target_id,
            document_id: None,
            data: None,
            message: None,
            peer_metadata: None,
            selected_protocol_version: None,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = vec![];
        // Writing to a Vec cannot fail.
        let _ = ciborium::into_writer(self, &mut v);
        v
    }
}

/// The two ends of a session: the server's peer id, and the peer's once it joined.
#[derive(Debug, Clone)]
pub struct Peers {
    /// The server's peer id.
    pub server: String,
    /// The peer's id from its `join`.
    pub client: Option<String>,
}

impl Peers {
    /// A session before `join`.
    pub fn new(server: &str) -> Peers {
        Peers {
            server: server.to_string(),
            client: None,
        }
    }

    fn target(&self) -> &str {
        self.client.as_deref().unwrap_or("")
    }

    /// `peer`: the answer to `join`. With a storage id, automerge-repo keeps the heads the
    /// server reported per document (`handle.getSyncInfo(storageId)`): an app can show what
    /// the server holds, as the native outbox does (the server reports heads only once they
    /// are committed). Ephemeral: the server keeps no sync state across sessions, so the
    /// peer should not persist its own for it.
    pub fn peer(&self) -> Vec<u8> {
        let mut m = Out::new("peer", &self.server, self.target());
        m.peer_metadata = Some(PeerMetadata {
            storage_id: &self.server,
            is_ephemeral: true,
        });
        m.selected_protocol_version = Some(PROTOCOL_V1);
        m.encode()
    }

    /// `error`: the server closes after it.
    pub fn error(&self, message: &str) -> Vec<u8> {
        let mut m = Out::new("error", &self.server, self.target());
        m.message = Some(message);
        m.encode()
    }

    /// `doc-unavailable` for an id as the peer wrote it.
    pub fn unavailable(&self, document_id: String) -> Vec<u8> {
        let mut m = Out::new("doc-unavailable", &self.server, self.target());
        m.document_id = Some(document_id);
        m.encode()
    }

    /// The messages for one frame of the hub: `sync` as `sync`; `refused` and `purge` as
    /// `doc-unavailable` per document; `error` and `revoked` as `error` (the caller closes);
    /// nothing for the rest (a native session's acknowledgements).
    pub fn translate(&self, frame: &Frame) -> Vec<Vec<u8>> {
        match frame {
            Frame::Sync { document_id, data } => {
                let mut m = Out::new("sync", &self.server, self.target());
                m.document_id = Some(document_id.to_automerge_repo());
                m.data = Some(serde_bytes::Bytes::new(data));
                vec![m.encode()]
            }
            Frame::Refused { docs } => docs
                .iter()
                .map(|r| self.unavailable(r.document_id.to_automerge_repo()))
                .collect(),
            Frame::Purge { docs } => docs
                .iter()
                .map(|id| self.unavailable(id.to_automerge_repo()))
                .collect(),
            Frame::Error { code, message } => {
                vec![self.error(&format!("{}: {message}", code.as_str()))]
            }
            Frame::Revoked {} => vec![self.error("revoked: this device was revoked")],
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omkijken_core::sync::{Refusal, RefusalReason};

    fn cbor(v: &ciborium::Value) -> Vec<u8> {
        let mut b = vec![];
        ciborium::into_writer(v, &mut b).unwrap();
        b
    }

    fn map(pairs: Vec<(&str, ciborium::Value)>) -> ciborium::Value {
        ciborium::Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    #[test]
    fn messages_of_an_automerge_repo_peer_decode() {
        let join = map(vec![
            ("type", "join".into()),
            ("senderId", "peer-1".into()),
            ("peerMetadata", map(vec![("isEphemeral", true.into())])),
            (
                "supportedProtocolVersions",
                ciborium::Value::Array(vec!["1".into()]),
            ),
        ]);
        assert_eq!(
            decode(&cbor(&join)).unwrap(),
            Incoming::Join {
                peer: "peer-1".into(),
                speaks_v1: true
            }
        );
        let v2 = map(vec![
            ("type", "join".into()),
            ("senderId", "peer-1".into()),
            (
                "supportedProtocolVersions",
                ciborium::Value::Array(vec!["2".into()]),
            ),
        ]);
        assert!(matches!(
            decode(&cbor(&v2)).unwrap(),
            Incoming::Join {
                speaks_v1: false,
                ..
            }
        ));
        let id = DocumentId::random();
        let req = map(vec![
            ("type", "request".into()),
            ("senderId", "peer-1".into()),
            ("targetId", "server".into()),
            ("documentId", id.to_automerge_repo().into()),
            ("data", ciborium::Value::Bytes(vec![0x42, 1, 2])),
        ]);
        assert_eq!(
            decode(&cbor(&req)).unwrap(),
            Incoming::Sync {
                document_id: id,
                data: vec![0x42, 1, 2],
                request: true
            }
        );
        // Our own id form (no checksum) is no automerge-repo id: unavailable, not an error.
        let ours = map(vec![
            ("type", "sync".into()),
            ("documentId", id.to_string().into()),
            ("data", ciborium::Value::Bytes(vec![1])),
        ]);
        assert_eq!(
            decode(&cbor(&ours)).unwrap(),
            Incoming::Unavailable {
                document_id: id.to_string()
            }
        );
        // Ephemeral messages (and types we do not know) are ignored, whatever they hold.
        let eph = map(vec![
            ("type", "ephemeral".into()),
            ("count", 3.into()),
            ("data", "not bytes".into()),
        ]);
        assert_eq!(decode(&cbor(&eph)).unwrap(), Incoming::Ignored);
        // A sync message without data, or not CBOR at all, is malformed.
        let bad = map(vec![
            ("type", "sync".into()),
            ("documentId", id.to_automerge_repo().into()),
        ]);
        assert_eq!(decode(&cbor(&bad)).unwrap_err().code, ErrorCode::Malformed);
        assert_eq!(decode(b"\xff\x00").unwrap_err().code, ErrorCode::Malformed);
    }

    #[test]
    fn hub_frames_become_automerge_repo_messages() {
        let peers = Peers {
            server: "server".into(),
            client: Some("peer-1".into()),
        };
        let id = DocumentId::random();
        let decode_map = |b: &[u8]| -> Vec<(String, ciborium::Value)> {
            let v: ciborium::Value = ciborium::from_reader(b).unwrap();
            v.into_map()
                .unwrap()
                .into_iter()
                .map(|(k, v)| (k.into_text().unwrap(), v))
                .collect()
        };
        let get = |m: &[(String, ciborium::Value)], k: &str| {
            m.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        };
        let sync = peers.translate(&Frame::Sync {
            document_id: id,
            data: vec![0x42],
        });
        let m = decode_map(&sync[0]);
        assert_eq!(get(&m, "type"), Some("sync".into()));
        assert_eq!(get(&m, "targetId"), Some("peer-1".into()));
        assert_eq!(get(&m, "documentId"), Some(id.to_automerge_repo().into()));
        assert_eq!(get(&m, "data"), Some(ciborium::Value::Bytes(vec![0x42])));
        for frame in [
            Frame::Refused {
                docs: vec![Refusal {
                    document_id: id,
                    reason: RefusalReason::Forbidden,
                }],
            },
            Frame::Purge { docs: vec![id] },
        ] {
            let out = peers.translate(&frame);
            assert_eq!(out.len(), 1);
            let m = decode_map(&out[0]);
            assert_eq!(get(&m, "type"), Some("doc-unavailable".into()));
            assert_eq!(get(&m, "documentId"), Some(id.to_automerge_repo().into()));
            // A refusal says nothing more than "unavailable".
            assert_eq!(get(&m, "reason"), None);
        }
        let err = decode_map(&peers.translate(&Frame::Revoked {})[0]);
        assert_eq!(get(&err, "type"), Some("error".into()));
        assert!(peers.translate(&Frame::Ack { docs: vec![] }).is_empty());
    }

    #[test]
    fn the_token_comes_as_bearer_or_as_the_basic_password() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc123".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("abc123"));
        // "device:abc123"
        h.insert(
            header::AUTHORIZATION,
            "Basic ZGV2aWNlOmFiYzEyMw==".parse().unwrap(),
        );
        assert_eq!(token(&h).as_deref(), Some("abc123"));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(token(&h), None);
        // "device:" (no password)
        h.insert(header::AUTHORIZATION, "Basic ZGV2aWNlOg==".parse().unwrap());
        assert_eq!(token(&h), None);
        assert_eq!(token(&HeaderMap::new()), None);
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
    }
}
