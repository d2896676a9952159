//! Sessions of automerge-repo peers (`/v1/automerge-repo`, docs/protocol.md, "automerge-repo
//! compatibility"): the same device token, sync handler, rules, audit and deliveries as a
//! native session, in automerge-repo's terms.
//!
//! The driver speaks automerge-repo's messages and hands the hub only the per-document
//! ones (`sync`, `request`) through [`Hub::receive_repo`]. What the hub answers is a
//! [`Frame`] like any other: `sync`, `refused` and `purge` (the driver sends
//! `doc-unavailable` for both), `error` and `revoked` (the driver sends `error` and closes).
//!
//! An automerge-repo peer syncs the documents it opens, not a catalog: it is never `live`
//! (catalog deliveries are not for it). Instead, after every frame and poll, the documents
//! whose catalog rows changed since [`Hub::repo_fanout`] last looked are offered to each
//! repo session that keeps a sync state for them: the session's next sync message, made
//! from the stored document and audited as a delivery when it carries changes, or
//! `doc-unavailable` once the user may no longer read it.

use super::fanout::record_delivery;
use super::{ConnId, ConnectRefusal, Connected, Hub, Outgoing, SyncMessage, readable};
use crate::Result;
use crate::storage::Batch;
use automerge::sync::SyncDoc;
use omkijken_core::sync::{ErrorCode, Frame};

/// Catalog rows read per step when offering changes to automerge-repo sessions.
const REPO_PAGE: usize = 2_000;

impl Hub {
    /// Authenticate a device token and open an automerge-repo session (see the module docs).
    pub fn connect_repo(&mut self, now: i64, token: &str) -> Result<Connected, ConnectRefusal> {
        let first = self.repo_sessions == 0;
        let connected = self.connect(now, token)?;
        if first {
            // Changes from here on are offered; what came before the peer asks for.
            match self.storage.last_seq() {
                Ok(seq) => self.repo_seq = seq,
                Err(e) => {
                    tracing::error!(error = %e, "catalog sequence lookup failed");
                    self.disconnect(connected.conn);
                    return Err(ConnectRefusal::Internal);
                }
            }
        }
        if let Some(s) = self.sessions.get_mut(&connected.conn) {
            s.repo = true;
            self.repo_sessions += 1;
        }
        Ok(connected)
    }

    /// One `sync` (or, with `request`, `request`) message of an automerge-repo session.
    pub fn receive_repo(&mut self, now: i64, conn: ConnId, msg: SyncMessage) -> Outgoing {
        if !self.sessions.get(&conn).is_some_and(|s| s.repo) {
            return vec![];
        }
        metrics::counter!("omkijken_frames_handled_total", "type" => if msg.request { "repo_request" } else { "repo_sync" })
            .increment(1);
        let result = (|| {
            // As for a native frame: what another process wrote first (a revocation, a
            // roster change), so this message is judged by the current roster.
            let mut out = self.try_poll(now)?;
            if self.sessions.contains_key(&conn) {
                out.extend(self.sync(now, conn, msg)?);
                out.extend(self.repo_fanout(now)?);
            }
            Ok::<_, crate::Error>(out)
        })();
        match result {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "automerge-repo message handling failed");
                self.remove_session(conn);
                metrics::counter!("omkijken_protocol_errors_total", "code" => ErrorCode::Internal.as_str())
                    .increment(1);
                vec![(
                    conn,
                    Frame::Error {
                        code: ErrorCode::Internal,
                        message: "server error".into(),
                    },
                )]
            }
        }
    }

    /// Offer what changed since the last call to the automerge-repo sessions that sync it
    /// (see the module docs).
    pub(super) fn repo_fanout(&mut self, now: i64) -> Result<Outgoing> {
        let mut out = vec![];
        // Without automerge-repo sessions nothing is offered (and nothing is looked at:
        // this runs after every frame, whatever the number of sessions).
        if self.repo_sessions == 0 {
            return Ok(out);
        }
        loop {
            let rows = self.storage.catalog_changes(self.repo_seq, REPO_PAGE)?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                break;
            };
            let mut batch = Batch::default();
            for row in &rows {
                let conns: Vec<ConnId> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| {
                        s.repo && s.device.school == row.header.school && s.sync.has(&row.id)
                    })
                    .map(|(c, _)| *c)
                    .collect();
                if conns.is_empty() {
                    continue;
                }
                let roster = self.roster(&row.header.school)?;
                let doc = if row.erased { None } else { self.load(row)? };
                for conn in conns {
                    let Some(s) = self.sessions.get_mut(&conn) else {
                        continue;
                    };
                    let (device, user, school) = (
                        s.device.id.clone(),
                        s.device.user.clone(),
                        s.device.school.clone(),
                    );
                    let Some(doc) = doc.as_ref().filter(|_| readable(&roster, &user, row)) else {
                        // No longer readable (or erased): the state goes, the peer is told.
                        s.sync.take(&row.id);
                        out.push((conn, Frame::Purge { docs: vec![row.id] }));
                        continue;
                    };
                    let Some(state) = s.sync.get_mut(&row.id) else {
                        continue;
                    };
                    let Some(m) = doc.generate_sync_message(state) else {
                        continue;
                    };
                    if !m.changes.is_empty() {
                        record_delivery(
                            &mut batch,
                            now,
                            &school,
                            &device,
                            &user,
                            row.id,
                            &row.header,
                            true,
                        );
                    }
                    out.push((
                        conn,
                        Frame::Sync {
                            document_id: row.id,
                            data: m.encode(),
                        },
                    ));
                }
            }
            if !batch.is_empty() {
                self.storage.commit(batch)?;
            }
            self.repo_seq = last;
            if rows.len() < REPO_PAGE {
                break;
            }
        }
        Ok(out)
    }
}
