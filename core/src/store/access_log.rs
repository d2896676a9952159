//! The local read log: every time a user opens a record, uploaded to the server's audit log.

use super::Store;
use super::sql::CachedSql;
use crate::Result;
use crate::ids::DocumentId;
use crate::model::Kind;
use rusqlite::params;

impl Store {
    /// Log a read of care content by the enrolled user.
    pub(crate) fn log_read(&self, id: DocumentId, kind: Kind) -> Result<()> {
        let identity = self.require_identity()?;
        let now = self.now();
        self.write(|tx| {
            tx.execute_cached(
                "INSERT INTO access_log (user, doc_id, kind, at) VALUES (?1, ?2, ?3, ?4)",
                params![identity.user, id.to_string(), kind.as_str(), now],
            )?;
            Ok(())
        })
    }

    /// Reads not yet uploaded to the server, oldest first.
    pub fn pending_access_log(&self, limit: usize) -> Result<Vec<AccessLogEntry>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, user, doc_id, kind, at FROM access_log WHERE uploaded = 0 ORDER BY id LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
            })?;
            let mut out = Vec::new();
            for r in rows {
                let (seq, user, doc, kind, at) = r?;
                let Ok(doc) = doc.parse() else { continue };
                out.push(AccessLogEntry { seq, user, doc, kind, at });
            }
            Ok(out)
        })
    }

    /// Mark access-log rows up to `seq` as uploaded.
    pub fn mark_access_log_uploaded(&self, up_to_seq: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute_cached(
                "UPDATE access_log SET uploaded = 1 WHERE id <= ?1",
                [up_to_seq],
            )?;
            Ok(())
        })
    }
}

/// A row of the local access log (reads of care content), to be uploaded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessLogEntry {
    /// Local sequence.
    pub seq: i64,
    /// Staff id.
    pub user: String,
    /// Document.
    pub doc: DocumentId,
    /// Kind.
    pub kind: String,
    /// Unix ms.
    pub at: i64,
}
