//! Device tokens and enrollment codes: random, shown once, stored as SHA-256 hashes.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Alphabet of enrollment codes: no 0/O, 1/I/L, easy to read aloud and type.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A new 256-bit device token, base58.
pub fn new_token(rng: &mut dyn RngCore) -> String {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    bs58::encode(b).into_string()
}

/// SHA-256 of a token as presented.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new enrollment code like `K7QM-XT2P-9HRA` (12 symbols, ~59 bits).
pub fn new_code(rng: &mut dyn RngCore) -> String {
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // Rejection sampling keeps the symbols uniform.
        loop {
            let mut b = [0u8; 1];
            rng.fill_bytes(&mut b);
            let v = (b[0] & 0x1f) as usize;
            if v < CODE_ALPHABET.len() {
                out.push(CODE_ALPHABET[v] as char);
                break;
            }
        }
    }
    out
}

/// SHA-256 of a code, normalised (case, spaces and dashes do not matter).
pub fn code_hash(code: &str) -> [u8; 32] {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(format!("omkijken/enroll/v1/{norm}").as_bytes()).into()
}

/// A new device id, `dev-` and 10 random bytes in base58.
pub fn new_device_id(rng: &mut dyn RngCore) -> String {
    let mut b = [0u8; 10];
    rng.fill_bytes(&mut b);
    format!("dev-{}", bs58::encode(b).into_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn codes_are_normalised_before_hashing() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let c = new_code(&mut rng);
        assert_eq!(c.len(), 14);
        assert_eq!(
            code_hash(&c),
            code_hash(&c.to_lowercase().replace('-', " "))
        );
        assert_ne!(code_hash(&c), code_hash(&new_code(&mut rng)));
    }

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let a = new_token(&mut rng);
        assert_eq!(bs58::decode(&a).into_vec().unwrap().len(), 32);
        assert_ne!(a, new_token(&mut rng));
    }
}
