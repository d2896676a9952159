//! PostgreSQL rows read back: [`Columns`] for its rows (the decoding itself is shared with
//! SQLite, in `storage::rows`), and the columns only PostgreSQL has (documents as a
//! snapshot plus an array of chunks, readers as `TEXT[]`).

use crate::storage::rows::{self, Columns};
use crate::storage::{AdminAccount, AdminRole, StoredDoc};
use crate::{Error, Result};
use automerge::ChangeHash;
use omkijken_core::DocumentId;
use postgres::Row;
use postgres::types::Type;

pub(crate) use crate::storage::rows::{
    audit_row, catalog_row, device_row, heads_to_bytes, school_row,
};

impl Columns for Row {
    type Error = Error;

    fn corrupt(what: &'static str) -> Error {
        Error::Corrupt(what)
    }

    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }

    fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?.ok_or(Error::Corrupt("integer"))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        // PostgreSQL types are strict: read the column's own width.
        let ty = self.columns()[i].type_();
        Ok(if *ty == Type::INT2 {
            self.try_get::<_, Option<i16>>(i)?.map(i64::from)
        } else if *ty == Type::INT4 {
            self.try_get::<_, Option<i32>>(i)?.map(i64::from)
        } else {
            self.try_get(i)?
        })
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self.try_get(i)?)
    }

    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        Ok(self.try_get(i)?)
    }

    fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.try_get(i)?)
    }

    fn readers(&self, i: usize) -> Result<Vec<String>> {
        Ok(self
            .try_get::<_, Option<Vec<String>>>(i)?
            .unwrap_or_default())
    }
}

/// Heads from a byte column.
pub(super) fn heads_from_bytes(b: &[u8]) -> Result<Vec<ChangeHash>> {
    rows::heads_from_bytes(b).ok_or(Error::Corrupt("heads"))
}

/// A document id from its 16 bytes.
pub(super) fn id_from(b: Vec<u8>) -> Result<DocumentId> {
    rows::id_from::<Row>(b)
}

/// Readers as a `TEXT[]` (NULL: none).
pub(super) fn readers_to(readers: &[String]) -> Option<Vec<String>> {
    (!readers.is_empty()).then(|| readers.to_vec())
}

/// A stored document from the columns summary, snapshot, chunks starting at `at`.
pub(super) fn stored_doc(r: &Row, at: usize) -> Result<StoredDoc> {
    let summary: Option<Vec<u8>> = r.try_get(at)?;
    let mut data: Vec<u8> = r.try_get::<_, Option<Vec<u8>>>(at + 1)?.unwrap_or_default();
    let chunks: Option<Vec<Vec<u8>>> = r.try_get(at + 2)?;
    for c in chunks.unwrap_or_default() {
        data.extend_from_slice(&c);
    }
    Ok(StoredDoc { data, summary })
}

/// An admin account from columns name, role, password_hash, created_at, disabled.
pub(super) fn admin_account_row(r: &Row) -> Result<AdminAccount> {
    let role: String = r.try_get(1)?;
    Ok(AdminAccount {
        name: r.try_get(0)?,
        role: AdminRole::parse(&role).ok_or(Error::Corrupt("an admin account's role"))?,
        password_hash: r.try_get(2)?,
        created_at: r.try_get(3)?,
        disabled: r.try_get(4)?,
    })
}
