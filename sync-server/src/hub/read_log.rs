//! `readLog`: reads done on a device, taken into the audit log.

use super::{ConnId, Hub, Outgoing};
use crate::Result;
use crate::storage::{AuditAction, AuditRecord, Batch};
use omkijken_core::model::Kind;
use omkijken_core::sync::{Frame, ReadLogEntry};
use omkijken_core::{Access, DocumentId, access};

impl Hub {
    /// Reads reported by a device, taken as audit rows only for documents of its school that
    /// it may read now or was given (it may have read one offline before losing access),
    /// or that the server does not know yet (a record the device created offline and has
    /// not pushed: the read log goes first); any other entry is refused: counted, audited
    /// as `read_refused` (without the pupil), and acknowledged so the device does not send
    /// it again. The kind is the catalog's, or for an unknown document one of the record
    /// kinds; never other text of the device's.
    pub(super) fn read_log(
        &mut self,
        now: i64,
        conn: ConnId,
        entries: Vec<ReadLogEntry>,
    ) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        let roster = self.roster(&device.school)?;
        let ids: Vec<DocumentId> = entries.iter().map(|e| e.document_id).collect();
        let rows = self.catalog_map(&ids)?;
        let held = self.storage.held_among(&device.id, &ids)?;
        let mut batch = Batch::default();
        let mut max = 0;
        let mut refused = 0u64;
        for e in entries {
            max = max.max(e.seq);
            let row = rows.get(&e.document_id).filter(|r| {
                r.header.school == device.school
                    && (held.contains(&r.id)
                        || access(&roster, &device.user, &r.header, &r.fields) >= Access::Read)
            });
            let record = |action, kind: Option<String>, pupil: Option<String>| AuditRecord {
                device: Some(device.id.clone()),
                user: Some(device.user.clone()),
                document: Some(e.document_id),
                kind,
                pupil,
                device_seq: Some(e.seq),
                device_at: Some(e.at),
                ..AuditRecord::new(now, &device.school, action)
            };
            let unknown = e
                .kind
                .parse::<Kind>()
                .ok()
                .filter(|k| *k != Kind::Roster && !rows.contains_key(&e.document_id));
            batch.audit.push(match row {
                Some(r) => record(
                    AuditAction::Read,
                    Some(r.header.kind.clone()),
                    r.header.pupil.clone(),
                ),
                None if unknown.is_some() => record(
                    AuditAction::Read,
                    unknown.map(|k| k.as_str().to_string()),
                    None,
                ),
                None => {
                    refused += 1;
                    record(AuditAction::ReadRefused, Some("refused".into()), None)
                }
            });
        }
        if refused > 0 {
            metrics::counter!("omkijken_read_log_refused_total").increment(refused);
            tracing::info!(
                refused,
                "read-log entries for documents the device may not read"
            );
        }
        self.storage.commit(batch)?;
        Ok(vec![(conn, Frame::LogAck { seq: max })])
    }
}
