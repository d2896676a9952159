//! Reading rows back: documents, catalog rows, devices, audit rows and schools from their
//! columns, and heads and ids to and from their byte columns.

use crate::storage::{AuditAction, AuditRecord, CatalogRow, Device, School, StoredDoc};
use crate::{Error, Result};
use automerge::ChangeHash;
use omkijken_core::{AccessFields, DocumentId, Header};
use postgres::Row;

pub(super) fn heads_to_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    let mut v = Vec::with_capacity(heads.len() * 32);
    for h in heads {
        v.extend_from_slice(&h.0);
    }
    v
}

pub(super) fn heads_from_bytes(b: &[u8]) -> Result<Vec<ChangeHash>> {
    if !b.len().is_multiple_of(32) {
        return Err(Error::Corrupt("heads"));
    }
    Ok(b.chunks_exact(32)
        .map(|c| {
            let mut a = [0u8; 32];
            a.copy_from_slice(c);
            ChangeHash(a)
        })
        .collect())
}

pub(super) fn id_from(b: Vec<u8>) -> Result<DocumentId> {
    let a: [u8; 16] = b.try_into().map_err(|_| Error::Corrupt("document id"))?;
    Ok(DocumentId::from_bytes(a))
}

pub(super) fn hash_from(b: Vec<u8>) -> Result<[u8; 32]> {
    b.try_into().map_err(|_| Error::Corrupt("hash"))
}

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

pub(super) fn catalog_row(r: &Row) -> Result<CatalogRow> {
    Ok(CatalogRow {
        id: id_from(r.try_get(0)?)?,
        header: Header {
            school: r.try_get(1)?,
            kind: r.try_get(2)?,
            pupil: r.try_get(3)?,
            author: r.try_get(4)?,
            created_at: r.try_get(5)?,
            schema: r.try_get::<_, i64>(6)? as u64,
        },
        fields: AccessFields {
            visibility: r.try_get(7)?,
            urgency: r
                .try_get::<_, Option<i16>>(8)?
                .map(|u| u8::try_from(u).map_err(|_| Error::Corrupt("urgency")))
                .transpose()?,
            category: r.try_get(9)?,
            readers: r.try_get::<_, Option<Vec<String>>>(10)?.unwrap_or_default(),
        },
        heads: heads_from_bytes(&r.try_get::<_, Vec<u8>>(11)?)?,
        seq: r.try_get::<_, i64>(12)? as u64,
        content_seq: r.try_get::<_, i64>(13)? as u64,
        size: r.try_get::<_, i64>(14)? as u64,
        chunks: r.try_get::<_, i32>(15)? as u32,
        erased: r.try_get(16)?,
    })
}

pub(super) fn device_row(r: &Row) -> Result<Device> {
    Ok(Device {
        id: r.try_get(0)?,
        school: r.try_get(1)?,
        user: r.try_get(2)?,
        actor: r.try_get(3)?,
        label: r.try_get(4)?,
        token_hash: hash_from(r.try_get(5)?)?,
        created_at: r.try_get(6)?,
        last_seen: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
        scope: r.try_get(9)?,
    })
}

pub(super) fn audit_row(r: &Row) -> Result<AuditRecord> {
    let action: String = r.try_get(5)?;
    Ok(AuditRecord {
        seq: r.try_get::<_, i64>(0)? as u64,
        at: r.try_get(1)?,
        school: r.try_get(2)?,
        device: r.try_get(3)?,
        user: r.try_get(4)?,
        action: AuditAction::parse(&action).ok_or(Error::Corrupt("audit action"))?,
        document: r
            .try_get::<_, Option<Vec<u8>>>(6)?
            .map(id_from)
            .transpose()?,
        kind: r.try_get(7)?,
        pupil: r.try_get(8)?,
        device_seq: r.try_get(9)?,
        device_at: r.try_get(10)?,
    })
}

pub(super) fn school_row(r: &Row) -> Result<School> {
    Ok(School {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
    })
}
