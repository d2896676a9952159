//! The write-ahead log's checkpoints: passive ones beside the hub (the checkpointer's
//! connection), the hub's own only past a mark, and a truncating one after an erasure (no
//! erased content left in the log).

use super::SqliteStorage;
use crate::Result;
#[cfg(doc)]
use crate::storage::Storage;

/// The write-ahead log's size kept on disk when it starts over ([`Storage::checkpoint_beside`]):
/// a log grown past it is cut back to it (cut back to 4 MiB, about what SQLite's automatic
/// checkpoint kept, the cut itself delayed the hub's commits under load).
const WAL_KEEP_BYTES: i64 = 16 * 1024 * 1024;

impl SqliteStorage {
    /// After a committed erasure: [`SqliteStorage::checkpoint_truncate`], at once or when
    /// the open group is committed.
    pub(super) fn checkpoint_after_erasure(&mut self) {
        if self.group {
            self.checkpoint_pending = true;
        } else {
            self.checkpoint_truncate();
        }
    }

    /// Copy the WAL into the database and truncate it to nothing. It waits (the busy
    /// timeout) for readers on other connections (catch-ups, retention, the roster views read
    /// beside the hub) to finish their statement; one still reading by then makes it report
    /// "busy", and it is tried again at the end of the next group commit.
    pub(super) fn checkpoint_truncate(&mut self) {
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match busy {
            Ok(0) => {}
            Ok(_) => {
                tracing::warn!(
                    "WAL checkpoint after an erasure was blocked by a reader; tried again"
                );
                self.checkpoint_pending = true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint after an erasure failed");
                self.checkpoint_pending = true;
            }
        }
    }

    /// [`Storage::checkpoint`]: a passive checkpoint.
    pub(super) fn checkpoint_passive(&mut self) -> Result<()> {
        // (busy, pages in the log, pages copied): a reader or writer in the way leaves the
        // rest for the next one.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// [`Storage::checkpoint_beside`].
    pub(super) fn leave_checkpoints(&mut self, pages: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", i64::from(pages))?;
        // The log grows while the hub writes faster than a checkpoint beside it copies; when
        // it starts over (all of it copied), the file is cut back, not left at its largest.
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES)?;
        Ok(())
    }
}
