//! Reading rows back: the column lists and the row decoders (through `storage::rows`, once
//! for both databases).

use crate::storage::rows::{self, Columns};
use crate::storage::{AdminAccount, AdminRole, AuditRecord, CatalogRow, Device, School};
use crate::{Error, Result};
use automerge::ChangeHash;
use rusqlite::Row;

/// In the order `rows::catalog_row` reads them.
pub(super) const CATALOG_COLS: &str = "id, school, kind, pupil, author, created_at, schema, visibility, \
     urgency, category, readers, heads, seq, content_seq, size, chunks, erased";

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn corrupt(what: &'static str) -> rusqlite::Error {
        corrupt(what)
    }

    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }

    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }

    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }

    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }

    fn bytes(&self, i: usize) -> rusqlite::Result<Vec<u8>> {
        self.get(i)
    }

    fn opt_bytes(&self, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
        self.get(i)
    }

    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        self.get(i)
    }

    /// Readers as JSON text (NULL: none).
    fn readers(&self, i: usize) -> rusqlite::Result<Vec<String>> {
        match self.get::<_, Option<String>>(i)? {
            None => Ok(vec![]),
            Some(s) => serde_json::from_str(&s).map_err(|_| corrupt("readers")),
        }
    }
}

pub(super) fn heads_from_blob(b: &[u8]) -> rusqlite::Result<Vec<ChangeHash>> {
    rows::heads_from_bytes(b).ok_or_else(|| corrupt("heads"))
}

pub(super) fn corrupt(what: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Blob,
        Box::new(Error::Corrupt(what)),
    )
}

pub(super) fn catalog_row(r: &Row<'_>) -> rusqlite::Result<CatalogRow> {
    rows::catalog_row(r)
}

pub(super) fn readers_to(readers: &[String]) -> Option<String> {
    (!readers.is_empty()).then(|| serde_json::to_string(readers).unwrap_or_default())
}

pub(super) fn device_row(r: &Row<'_>) -> rusqlite::Result<Device> {
    rows::device_row(r)
}

pub(super) const DEVICE_COLS: &str = "id, school, user, actor, label, token_hash, created_at, last_seen, \
     revoked_at, scope, outbox_pending, outbox_not_accepted, outbox_oldest_at, outbox_at";

pub(super) fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    rows::audit_row(r)
}

pub(super) fn school_row(r: &Row<'_>) -> rusqlite::Result<School> {
    rows::school_row(r)
}

pub(super) fn admin_account_row(r: &Row<'_>) -> rusqlite::Result<Result<AdminAccount>> {
    let role: String = r.get(1)?;
    Ok(match AdminRole::parse(&role) {
        Some(role) => Ok(AdminAccount {
            name: r.get(0)?,
            role,
            password_hash: r.get(2)?,
            created_at: r.get(3)?,
            disabled: r.get(4)?,
        }),
        None => Err(Error::Corrupt("an admin account's role")),
    })
}
