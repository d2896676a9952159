//! Sessions: connecting a device, and dispatching each frame to its handler.

use crate::{Result, tokens};

use super::{ConnId, ConnectRefusal, Connected, Hub, Outgoing, Session, SyncMessage, error_frame};
use automerge::ActorId;
use omkijken_core::sync::{ErrorCode, Frame, FrameError, OutboxState, PROTOCOL_VERSION};

impl Hub {
    /// Authenticate a device token and open a session.
    pub fn connect(&mut self, now: i64, token: &str) -> Result<Connected, ConnectRefusal> {
        let device = match self.storage.device_by_token(&tokens::token_hash(token)) {
            Ok(Some(d)) => d,
            Ok(None) => return Err(ConnectRefusal::Unauthorized),
            Err(e) => {
                tracing::error!(error = %e, "device lookup failed");
                return Err(ConnectRefusal::Internal);
            }
        };
        if device.revoked_at.is_some() {
            return Err(ConnectRefusal::Revoked);
        }
        // A pupil session's credential ends with its scope: the session device is told it
        // is revoked and wipes itself. A scope that does not read is refused (fail closed).
        let scope = match device.pupil_scope() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(device = %device.id, error = %e, "a pupil session's scope does not read");
                return Err(ConnectRefusal::Unauthorized);
            }
        };
        if scope.as_ref().is_some_and(|s| now >= s.expires_at) {
            return Err(ConnectRefusal::Revoked);
        }
        let open = self.conns_of.get(&device.id).copied().unwrap_or(0);
        if open >= self.config.max_conns_per_device {
            return Err(ConnectRefusal::TooManyConnections);
        }
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let id = device.id.clone();
        *self.conns_of.entry(id.clone()).or_default() += 1;
        self.sessions.insert(
            conn,
            Session {
                actor: ActorId::from(device.actor.as_slice()),
                scope: scope.map(std::sync::Arc::new),
                device,
                live: false,
                cursor: 0,
                repo: false,
                sync: Default::default(),
                beside: None,
            },
        );
        Ok(Connected { conn, device: id })
    }

    /// Forget a session (the connection closed).
    pub fn disconnect(&mut self, conn: ConnId) {
        self.remove_session(conn);
    }

    pub(super) fn fail(&mut self, conn: ConnId, code: ErrorCode, message: &str) -> Outgoing {
        self.remove_session(conn);
        metrics::counter!("omkijken_protocol_errors_total", "code" => code.as_str()).increment(1);
        vec![(conn, error_frame(code, message))]
    }

    /// Decode and handle one binary message. Undecodable or oversized input ends the
    /// session with an error frame; nothing of it is stored.
    pub fn receive_bytes(&mut self, now: i64, conn: ConnId, bytes: &[u8]) -> Outgoing {
        if !self.sessions.contains_key(&conn) {
            return vec![];
        }
        match Frame::decode(bytes) {
            Ok(frame) => self.receive(now, conn, frame),
            Err(e @ FrameError::TooLarge) => self.fail(conn, e.code(), "frame exceeds the limits"),
            Err(e @ FrameError::Malformed) => {
                self.fail(conn, e.code(), "frame is not a valid CBOR frame")
            }
        }
    }

    /// Handle one frame of a session.
    pub fn receive(&mut self, now: i64, conn: ConnId, frame: Frame) -> Outgoing {
        if !self.sessions.contains_key(&conn) {
            return vec![];
        }
        metrics::counter!("omkijken_frames_handled_total", "type" => frame.type_name())
            .increment(1);
        // Behind reads beside the hub, a frame waits; a fetch may be read beside too
        // (`fetch`), also one sent after a chunk of the catalog, before it is complete.
        let session = &self.sessions[&conn];
        let fetch = matches!(frame, Frame::Fetch { .. });
        if session.beside.is_some() && !(fetch && (session.live || self.catching_up(conn))) {
            return self.park(now, conn, frame);
        }
        // First take in what another process wrote (a revocation, a roster change), so this
        // frame is judged by the current roster rather than one up to a poll interval old;
        // in a group, once for all its frames (they waited together; the later ones are
        // judged by a roster as old as the group's handling, milliseconds).
        let Some(mut out) = self.poll_once_a_group(now) else {
            return self.fail(conn, ErrorCode::Internal, "server error");
        };
        if self.sessions.contains_key(&conn) {
            out.extend(self.handle(now, conn, frame));
        }
        // What this frame committed, for the automerge-repo peers that sync it.
        match self.repo_fanout(now) {
            Ok(more) => out.extend(more),
            Err(e) => {
                tracing::error!(error = %e, "offering changes to automerge-repo peers failed")
            }
        }
        out
    }

    fn handle(&mut self, now: i64, conn: ConnId, frame: Frame) -> Outgoing {
        let Some(session) = self.sessions.get(&conn) else {
            return vec![];
        };
        // A fetch may come while the catalog is still being read in chunks (`beside`).
        let live = session.live || (matches!(frame, Frame::Fetch { .. }) && self.catching_up(conn));
        let result = match frame {
            Frame::Hello {
                protocol,
                cursor,
                epoch,
                outbox,
            } => {
                if protocol != PROTOCOL_VERSION {
                    return self.fail(
                        conn,
                        ErrorCode::UnsupportedVersion,
                        "this server speaks protocol version 1",
                    );
                }
                // A cursor of another lineage (this store was restored from a backup since)
                // says nothing here: catch up from the start.
                let cursor = match epoch {
                    Some(e) if e != self.epoch => 0,
                    _ => cursor,
                };
                let outbox = outbox.map(|o| self.outbox_report(conn, o, now));
                self.hello(now, conn, cursor, outbox)
            }
            // New frame types are additive (docs/protocol.md, "Versioning"): one this
            // server does not know is ignored, and the session goes on.
            Frame::Unknown => {
                metrics::counter!("omkijken_frames_ignored_total").increment(1);
                tracing::debug!("frame of an unknown type ignored");
                return vec![];
            }
            _ if !live => {
                return self.fail(conn, ErrorCode::Malformed, "send hello first");
            }
            Frame::Push { docs } => self.push(now, conn, docs),
            Frame::Fetch { docs } => self.fetch(now, conn, docs),
            Frame::ReadLog { entries } => self.read_log(now, conn, entries),
            Frame::Outbox {
                pending,
                not_accepted,
                oldest_age,
            } => {
                let state = OutboxState {
                    pending,
                    not_accepted,
                    oldest_age,
                };
                self.outbox(now, conn, state)
            }
            Frame::Sync { document_id, data } => {
                let msg = SyncMessage {
                    document_id,
                    data,
                    request: false,
                };
                self.sync(now, conn, msg)
            }
            other => {
                let _ = other;
                return self.fail(conn, ErrorCode::Malformed, "unexpected frame type");
            }
        };
        match result {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "frame handling failed");
                self.fail(
                    conn,
                    ErrorCode::Internal,
                    "server error; nothing was acknowledged",
                )
            }
        }
    }
}
