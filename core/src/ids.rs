//! Document ids: 16 bytes in base58, as automerge-repo writes them (our own routine on a
//! `u128` for the ids of every frame and row; `bs58` for automerge-repo's checksummed form).

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
        let mut buf = [0u8; base58::MAX_DIGITS];
        f.write_str(base58::encode(&self.0, &mut buf))
    }
}

/// Base58 (the Bitcoin alphabet, as `bs58` and automerge-repo write it) of exactly 16
/// bytes, done on a `u128`: every id in every frame, row and key is written and read this
/// way, and the general big-number routine of `bs58` cost a pulling device about a tenth of
/// its time. The same strings as `bs58`, both ways (property test below).
mod base58 {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    /// 58^22 > 2^128: 22 digits hold any 16 bytes, leading zero bytes included.
    pub(super) const MAX_DIGITS: usize = 22;
    const NOT_A_DIGIT: u8 = 0xff;
    /// The value of each byte as a digit ([`NOT_A_DIGIT`] if it is none).
    const DIGIT: [u8; 256] = {
        let mut t = [NOT_A_DIGIT; 256];
        let mut i = 0;
        while i < 58 {
            t[ALPHABET[i] as usize] = i as u8;
            i += 1;
        }
        t
    };
    /// 58^10, the largest power of 58 whose digits a `u64` division yields.
    const CHUNK: u128 = 430_804_206_899_405_824;

    /// Each leading zero byte is a '1'; then the number in base 58, most significant
    /// digit first.
    pub(super) fn encode<'a>(bytes: &[u8; 16], buf: &'a mut [u8; MAX_DIGITS]) -> &'a str {
        let zeros = bytes.iter().take_while(|&&b| b == 0).count();
        let mut n = u128::from_be_bytes(*bytes);
        let mut i = MAX_DIGITS;
        while n > 0 {
            // Ten digits a round from a u64; the last round stops at the number's end.
            let mut chunk = (n % CHUNK) as u64;
            n /= CHUNK;
            for _ in 0..10 {
                if n == 0 && chunk == 0 {
                    break;
                }
                i -= 1;
                buf[i] = ALPHABET[(chunk % 58) as usize];
                chunk /= 58;
            }
        }
        for _ in 0..zeros {
            i -= 1;
            buf[i] = b'1';
        }
        // Only alphabet bytes were written.
        std::str::from_utf8(&buf[i..]).unwrap_or_default()
    }

    /// The 16 bytes a string encodes; None for any other string (a character outside the
    /// alphabet, a number of more than 16 bytes, leading '1's that do not match).
    pub(super) fn decode(s: &str) -> Option<[u8; 16]> {
        if s.len() > MAX_DIGITS {
            return None;
        }
        let zeros = s.bytes().take_while(|&c| c == b'1').count();
        let mut n: u128 = 0;
        for c in s.bytes() {
            let d = DIGIT[usize::from(c)];
            if d == NOT_A_DIGIT {
                return None;
            }
            n = n.checked_mul(58)?.checked_add(u128::from(d))?;
        }
        let bytes = n.to_be_bytes();
        let leading = bytes.iter().take_while(|&&b| b == 0).count();
        (leading == zeros).then_some(bytes)
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
        base58::decode(s).map(DocumentId).ok_or(BadDocumentId)
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
    let mut v: Vec<String> = heads.iter().map(hash_to_hex).collect();
    v.sort();
    v
}

/// A change hash in lower-case hex, as its `Display` writes it, without going through the
/// formatter a character at a time (a catch-up writes one a catalog row).
pub fn hash_to_hex(h: &automerge::ChangeHash) -> String {
    let mut buf = [0u8; 64];
    // 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(h.0, &mut buf);
    std::str::from_utf8(&buf)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Parse hex heads; None if any is malformed.
pub fn heads_from_hex(heads: &[String]) -> Option<Vec<automerge::ChangeHash>> {
    heads.iter().map(|h| h.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_in_hex_is_what_its_display_writes() {
        for seed in 0u8..4 {
            let h = automerge::ChangeHash([seed.wrapping_mul(37) ^ 0xa5; 32]);
            let mut bytes = h.0;
            bytes[0] = seed;
            let h = automerge::ChangeHash(bytes);
            assert_eq!(hash_to_hex(&h), h.to_string());
            assert_eq!(hash_to_hex(&h).parse::<automerge::ChangeHash>().unwrap(), h);
        }
    }

    proptest::proptest! {
        #[test]
        fn ids_are_written_and_read_as_bs58_does(
            bytes in proptest::array::uniform16(proptest::prelude::any::<u8>()),
            zeros in 0usize..=16,
        ) {
            // Leading zero bytes are where base58 has its special case.
            let mut b = bytes;
            b[..zeros].fill(0);
            let ours = DocumentId(b).to_string();
            proptest::prop_assert_eq!(&ours, &bs58::encode(b).into_string());
            proptest::prop_assert_eq!(ours.parse::<DocumentId>(), Ok(DocumentId(b)));
        }

        #[test]
        fn any_string_is_an_id_exactly_when_bs58_reads_it_as_16_bytes(
            s in "[1-9A-Za-z0O_]{0,24}",
        ) {
            let theirs = bs58::decode(&s)
                .into_vec()
                .ok()
                .and_then(|v| <[u8; 16]>::try_from(v).ok());
            proptest::prop_assert_eq!(s.parse::<DocumentId>().ok(), theirs.map(DocumentId));
        }
    }

    #[test]
    fn base58_edges() {
        for b in [[0u8; 16], [0xff; 16], {
            let mut b = [0u8; 16];
            b[15] = 1;
            b
        }] {
            let s = DocumentId(b).to_string();
            assert_eq!(s, bs58::encode(b).into_string());
            assert_eq!(s.parse::<DocumentId>(), Ok(DocumentId(b)));
        }
        // 17 zero bytes, 17 bytes, a digit outside the alphabet, nothing, too long.
        for bad in [
            "11111111111111111",
            "zzzzzzzzzzzzzzzzzzzzzz",
            "0",
            "",
            "2222222222222222222222222",
        ] {
            assert!(bad.parse::<DocumentId>().is_err(), "{bad}");
        }
    }

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
