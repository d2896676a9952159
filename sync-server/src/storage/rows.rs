//! Stored rows read back, once for both storages: catalog rows, devices, audit rows, admin
//! events, schools and held rows from their columns (in the order the storages select them), and
//! heads, ids and hashes from their byte columns. Each storage implements [`Columns`] for its row type;
//! the two databases keep the same values in their own column types.

use super::{
    AdminEvent, AdminEventKind, AuditAction, AuditRecord, CatalogRow, Device, DeviceOutbox,
    Holding, School,
};
use automerge::ChangeHash;
use omkijken_core::{AccessFields, DocumentId, Header};
use std::collections::HashMap;

/// One row of a storage query, read by column index.
pub(crate) trait Columns {
    /// The database's error (what its query callbacks return).
    type Error;
    /// The error for a stored value that does not read back (`what` names it).
    fn corrupt(what: &'static str) -> Self::Error;
    /// A text column.
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    /// An integer column (of any width).
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    /// A nullable integer column (of any width).
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    /// A byte column.
    fn bytes(&self, i: usize) -> Result<Vec<u8>, Self::Error>;
    /// A nullable byte column.
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, Self::Error>;
    /// A boolean column.
    fn flag(&self, i: usize) -> Result<bool, Self::Error>;
    /// The readers of a document (NULL: none).
    fn readers(&self, i: usize) -> Result<Vec<String>, Self::Error>;
}

/// Heads as one byte column: the 32-byte hashes one after another.
pub(crate) fn heads_to_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    let mut v = Vec::with_capacity(heads.len() * 32);
    for h in heads {
        v.extend_from_slice(&h.0);
    }
    v
}

/// Heads from their byte column; None if it is not whole hashes.
pub(crate) fn heads_from_bytes(b: &[u8]) -> Option<Vec<ChangeHash>> {
    if !b.len().is_multiple_of(32) {
        return None;
    }
    Some(
        b.chunks_exact(32)
            .map(|c| {
                let mut a = [0u8; 32];
                a.copy_from_slice(c);
                ChangeHash(a)
            })
            .collect(),
    )
}

/// Heads from column `i` of `r`.
pub(crate) fn heads_at<R: Columns>(r: &R, i: usize) -> Result<Vec<ChangeHash>, R::Error> {
    heads_from_bytes(&r.bytes(i)?).ok_or_else(|| R::corrupt("heads"))
}

/// A document id from its 16 bytes.
pub(crate) fn id_from<R: Columns>(b: Vec<u8>) -> Result<DocumentId, R::Error> {
    let a: [u8; 16] = b.try_into().map_err(|_| R::corrupt("document id"))?;
    Ok(DocumentId::from_bytes(a))
}

/// A 32-byte hash.
pub(crate) fn hash_from<R: Columns>(b: Vec<u8>) -> Result<[u8; 32], R::Error> {
    b.try_into().map_err(|_| R::corrupt("hash"))
}

/// A catalog row from columns id, school, kind, pupil, author, created_at, schema,
/// visibility, urgency, category, readers, heads, seq, content_seq, size, chunks, erased.
pub(crate) fn catalog_row<R: Columns>(r: &R) -> Result<CatalogRow, R::Error> {
    Ok(CatalogRow {
        id: id_from::<R>(r.bytes(0)?)?,
        header: Header {
            school: r.text(1)?,
            kind: r.text(2)?,
            pupil: r.opt_text(3)?,
            author: r.text(4)?,
            created_at: r.int(5)?,
            schema: r.int(6)? as u64,
        },
        fields: AccessFields {
            visibility: r.opt_text(7)?,
            urgency: r
                .opt_int(8)?
                .map(|u| u8::try_from(u).map_err(|_| R::corrupt("urgency")))
                .transpose()?,
            category: r.opt_text(9)?,
            readers: r.readers(10)?,
        },
        heads: heads_at(r, 11)?,
        seq: r.int(12)? as u64,
        content_seq: r.int(13)? as u64,
        size: r.int(14)? as u64,
        chunks: r.int(15)? as u32,
        erased: r.flag(16)?,
    })
}

/// A device from columns id, school, user, actor, label, token_hash, created_at,
/// last_seen, revoked_at, scope, outbox_pending, outbox_not_accepted, outbox_oldest_at,
/// outbox_at.
pub(crate) fn device_row<R: Columns>(r: &R) -> Result<Device, R::Error> {
    Ok(Device {
        id: r.text(0)?,
        school: r.text(1)?,
        user: r.text(2)?,
        actor: r.bytes(3)?,
        label: r.text(4)?,
        token_hash: hash_from::<R>(r.bytes(5)?)?,
        created_at: r.int(6)?,
        last_seen: r.opt_int(7)?,
        revoked_at: r.opt_int(8)?,
        scope: r.opt_text(9)?,
        outbox: match (
            r.opt_int(10)?,
            r.opt_int(11)?,
            r.opt_int(12)?,
            r.opt_int(13)?,
        ) {
            (Some(pending), Some(not_accepted), oldest_at, Some(reported_at)) => {
                Some(DeviceOutbox {
                    pending: pending.max(0) as u64,
                    not_accepted: not_accepted.max(0) as u64,
                    oldest_at,
                    reported_at,
                })
            }
            _ => None,
        },
    })
}

/// An audit row from columns seq, at, school, device, user, action, doc, kind, pupil,
/// device_seq, device_at.
pub(crate) fn audit_row<R: Columns>(r: &R) -> Result<AuditRecord, R::Error> {
    let action = r.text(5)?;
    Ok(AuditRecord {
        seq: r.int(0)? as u64,
        at: r.int(1)?,
        school: r.text(2)?,
        device: r.opt_text(3)?,
        user: r.opt_text(4)?,
        action: AuditAction::parse(&action).ok_or_else(|| R::corrupt("audit action"))?,
        document: r.opt_bytes(6)?.map(id_from::<R>).transpose()?,
        kind: r.opt_text(7)?,
        pupil: r.opt_text(8)?,
        device_seq: r.opt_int(9)?,
        device_at: r.opt_int(10)?,
    })
}

/// A count of audit rows from columns action, day, count (`Storage::audit_counts_by_day`).
pub(crate) fn audit_count_row<R: Columns>(r: &R) -> Result<(AuditAction, i64, u64), R::Error> {
    let action = r.text(0)?;
    Ok((
        AuditAction::parse(&action).ok_or_else(|| R::corrupt("audit action"))?,
        r.int(1)?,
        r.int(2)?.max(0) as u64,
    ))
}

/// A school from columns id, name, created_at.
pub(crate) fn school_row<R: Columns>(r: &R) -> Result<School, R::Error> {
    Ok(School {
        id: r.text(0)?,
        name: r.text(1)?,
        created_at: r.int(2)?,
    })
}

/// A held row from columns device, doc, purged, added to what each device holds.
pub(crate) fn add_held<R: Columns>(
    out: &mut HashMap<String, Holding>,
    r: &R,
) -> Result<(), R::Error> {
    let doc = id_from::<R>(r.bytes(1)?)?;
    let h = out.entry(r.text(0)?).or_default();
    h.held.insert(doc);
    if r.flag(2)? {
        h.purged.insert(doc);
    }
    Ok(())
}

/// An admin event from columns seq, at, kind, school, device.
pub(crate) fn admin_event_row<R: Columns>(r: &R) -> Result<AdminEvent, R::Error> {
    let kind = r.text(2)?;
    Ok(AdminEvent {
        seq: r.int(0)? as u64,
        at: r.int(1)?,
        kind: AdminEventKind::parse(&kind).ok_or_else(|| R::corrupt("event kind"))?,
        school: r.opt_text(3)?,
        device: r.opt_text(4)?,
    })
}
