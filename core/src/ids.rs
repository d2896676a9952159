//! Document ids: 16 bytes rendered with bs58, as automerge-repo does.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The id of one Automerge document: 16 bytes, shown as base58.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct DocumentId([u8; 16]);

impl DocumentId {
    /// A fresh random id (uuid v4).
    pub fn random() -> Self {
        DocumentId(*uuid::Uuid::new_v4().as_bytes())
    }

    /// A fresh id from caller-supplied randomness (deterministic simulation).
    pub fn from_rng(rng: &mut impl rand::RngCore) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        // Mark as uuid v4 so ids look the same whichever way they were made.
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        DocumentId(b)
    }

    /// A fresh id that sorts by the time it was made (the uuid v7 layout: `now_ms` in the
    /// first six bytes, then 74 bits of `rng`). A store's indexes then take new documents,
    /// and a pull (which brings them in the order the server stored them) at their end
    /// rather than anywhere: writing a document costs the same in a store of 100,000 as in
    /// one of 1,000. The id tells when its document was made, which its header says anyway.
    pub fn timed(now_ms: i64, rng: &mut impl rand::RngCore) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        let ms = (now_ms.max(0) as u64).to_be_bytes();
        b[..6].copy_from_slice(&ms[2..]);
        b[6] = (b[6] & 0x0f) | 0x70;
        b[8] = (b[8] & 0x3f) | 0x80;
        DocumentId(b)
    }

    /// The deterministic id of a singleton document (for example the thermometer of one
    /// pupil in one month): every device computes the same id offline.
    pub fn derived(parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(b"omkijken/doc-id/v1");
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let d = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        DocumentId(b)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// From raw bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        DocumentId(b)
    }
}

impl DocumentId {
    /// The id as automerge-repo writes it: the same 16 bytes in base58 with a 4-byte
    /// checksum appended (bs58check: the first 4 bytes of SHA-256(SHA-256(bytes))). An
    /// automerge-repo URL is `automerge:` followed by this.
    pub fn to_automerge_repo(&self) -> String {
        let mut v = self.0.to_vec();
        v.extend_from_slice(&bs58check_sum(&self.0));
        bs58::encode(v).into_string()
    }

    /// An automerge-repo document id (bs58check of 16 bytes, with or without the
    /// `automerge:` URL prefix) as ours; a bad checksum or another length is not an id.
    pub fn from_automerge_repo(s: &str) -> Result<Self, BadDocumentId> {
        let s = s.strip_prefix("automerge:").unwrap_or(s);
        // 20 bytes are at most 28 base58 digits: refuse longer input before decoding it.
        if s.len() > 28 {
            return Err(BadDocumentId);
        }
        let v = bs58::decode(s).into_vec().map_err(|_| BadDocumentId)?;
        if v.len() != 20 {
            return Err(BadDocumentId);
        }
        let (bytes, sum) = v.split_at(16);
        let b: [u8; 16] = bytes.try_into().map_err(|_| BadDocumentId)?;
        if bs58check_sum(&b) != sum {
            return Err(BadDocumentId);
        }
        Ok(DocumentId(b))
    }
}

fn bs58check_sum(bytes: &[u8]) -> [u8; 4] {
    let d = Sha256::digest(Sha256::digest(bytes));
    [d[0], d[1], d[2], d[3]]
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(&self.0).into_string())
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({self})")
    }
}

/// A string that is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a document id")]
pub struct BadDocumentId;

impl FromStr for DocumentId {
    type Err = BadDocumentId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = bs58::decode(s).into_vec().map_err(|_| BadDocumentId)?;
        let b: [u8; 16] = v.try_into().map_err(|_| BadDocumentId)?;
        Ok(DocumentId(b))
    }
}

impl From<DocumentId> for String {
    fn from(d: DocumentId) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DocumentId {
    type Error = BadDocumentId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A random 16-byte Automerge actor id for a device.
pub fn random_actor() -> automerge::ActorId {
    automerge::ActorId::from(*uuid::Uuid::new_v4().as_bytes())
}

/// Hex heads, as stored and sent in catalog entries.
pub fn heads_to_hex(heads: &[automerge::ChangeHash]) -> Vec<String> {
    let mut v: Vec<String> = heads.iter().map(|h| h.to_string()).collect();
    v.sort();
    v
}

/// Parse hex heads; None if any is malformed.
pub fn heads_from_hex(heads: &[String]) -> Option<Vec<automerge::ChangeHash>> {
    heads.iter().map(|h| h.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_round_trips_through_base58() {
        let id = DocumentId::random();
        let s = id.to_string();
        assert_eq!(s.parse::<DocumentId>().unwrap(), id);
        assert!("not-an-id!".parse::<DocumentId>().is_err());
    }

    #[test]
    fn automerge_repo_ids_are_ours_with_a_checksum() {
        // A document id made by automerge-repo 2.5.6 (`repo.create()`), and its bytes.
        let theirs = "u9P6wdUJ8mxVsqmHm7cb88xsCLA";
        let id = DocumentId::from_automerge_repo(theirs).unwrap();
        assert_eq!(
            hex::encode(id.as_bytes()),
            "4088438242554c45a65ca711c1a03e62"
        );
        assert_eq!(id.to_automerge_repo(), theirs);
        assert_eq!(
            DocumentId::from_automerge_repo(&format!("automerge:{theirs}")).unwrap(),
            id
        );
        // Ours has no checksum: it is not an automerge-repo id, nor theirs ours.
        assert!(DocumentId::from_automerge_repo(&id.to_string()).is_err());
        assert!(theirs.parse::<DocumentId>().is_err());
        // A changed digit breaks the checksum.
        assert!(DocumentId::from_automerge_repo("u9P6wdUJ8mxVsqmHm7cb88xsCLB").is_err());
        let r = DocumentId::random();
        assert_eq!(
            DocumentId::from_automerge_repo(&r.to_automerge_repo()).unwrap(),
            r
        );
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = DocumentId::derived(&["thermometer", "school", "p1", "2026-11"]);
        let b = DocumentId::derived(&["thermometer", "school", "p1", "2026-11"]);
        let c = DocumentId::derived(&["thermometer", "school", "p1", "2026-12"]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // length-prefixed: "ab"+"c" differs from "a"+"bc"
        assert_ne!(
            DocumentId::derived(&["ab", "c"]),
            DocumentId::derived(&["a", "bc"])
        );
    }
}
