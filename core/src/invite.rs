//! The enrollment invite: what an enrollment QR code holds (the admin console shows one per
//! staff member) and what the app reads from it. One type for both sides, so the server
//! writes and the app reads the same format.
//!
//! The payload is compact JSON:
//! `{"omkijken":"enroll","v":1,"server":"https://…","code":"…","ca_sha256":"…"}`; the
//! `ca_sha256` (lower-case hex SHA-256 of the DER certificate) is there only when the school
//! server's certificate comes from the school's own authority: the app then enrolls only
//! when it trusts an authority with that fingerprint (`client::enroll_with_invite`).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The longest payload read (a QR code holds a few hundred bytes at most).
const MAX_PAYLOAD: usize = 2048;

/// A device enrollment invite: the server to enroll with and a one-time code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentInvite {
    /// Always `enroll`: tells an Omkijken invite from any other QR code.
    pub omkijken: String,
    /// Format version (1).
    pub v: u32,
    /// The server's URL (`https://…`, or `http://` on a test network).
    pub server: String,
    /// The one-time enrollment code.
    pub code: String,
    /// SHA-256 (hex) of the school's own certificate authority, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_sha256: Option<String>,
}

impl std::fmt::Debug for EnrollmentInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the code: it enrolls a device.
        f.debug_struct("EnrollmentInvite")
            .field("server", &self.server)
            .field("ca_sha256", &self.ca_sha256)
            .finish_non_exhaustive()
    }
}

impl EnrollmentInvite {
    /// An invite for `server` with `code`.
    pub fn new(server: &str, code: &str, ca_sha256: Option<String>) -> Self {
        EnrollmentInvite {
            omkijken: "enroll".into(),
            v: 1,
            server: server.into(),
            code: code.into(),
            ca_sha256,
        }
    }

    /// The payload as the QR code holds it.
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).expect("an invite serialises")
    }

    /// Read a scanned payload. `Invalid` for anything that is not an Omkijken invite of a
    /// known version with an `http(s)://` server, a code, and a fingerprint (if any) of 64
    /// hex digits.
    pub fn parse(payload: &str) -> Result<Self> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::Invalid("not an enrollment invite (too long)".into()));
        }
        let i: EnrollmentInvite = serde_json::from_str(payload.trim())
            .map_err(|_| Error::Invalid("not an enrollment invite".into()))?;
        if i.omkijken != "enroll" || i.v != 1 {
            return Err(Error::Invalid(
                "not an enrollment invite of a known version".into(),
            ));
        }
        if !(i.server.starts_with("https://") || i.server.starts_with("http://")) {
            return Err(Error::Invalid(
                "the invite's server is not an http(s) URL".into(),
            ));
        }
        if i.code.trim().is_empty() {
            return Err(Error::Invalid("the invite has no code".into()));
        }
        if let Some(fp) = &i.ca_sha256
            && (fp.len() != 64 || !fp.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(Error::Invalid(
                "the invite's certificate fingerprint is not a SHA-256".into(),
            ));
        }
        Ok(EnrollmentInvite {
            ca_sha256: i.ca_sha256.map(|f| f.to_ascii_lowercase()),
            ..i
        })
    }
}

/// Device enrollment through the school's identity provider: the app keeps a random secret
/// (the verifier, 64 hex digits) and sends only its challenge through the browser; after the
/// staff member signed in there, the server accepts the verifier as the device's enrollment
/// code, once. Whoever sees the browser's URLs learns the challenge, which enrolls nothing.
pub mod oidc {
    use sha2::{Digest, Sha256};

    /// A new verifier (32 random bytes in lower-case hex).
    pub fn new_verifier() -> String {
        let mut b = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
        hex::encode(b)
    }

    /// Whether `code` has the form of a verifier (as opposed to a typed enrollment code).
    pub fn is_verifier(code: &str) -> bool {
        let c = code.trim();
        c.len() == 64 && c.chars().all(|x| x.is_ascii_hexdigit())
    }

    /// The challenge of a verifier: lower-case hex of the SHA-256 of its lower-case text.
    pub fn challenge(verifier: &str) -> String {
        hex::encode(Sha256::digest(
            verifier.trim().to_ascii_lowercase().as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_reads_back_what_was_written() {
        let i = EnrollmentInvite::new("https://omkijken.school.nl", "ABCD-EFGH-JKLM", None);
        assert_eq!(EnrollmentInvite::parse(&i.to_payload()).unwrap(), i);
        let fp = "AB".repeat(32);
        let i = EnrollmentInvite::new("https://x", "c", Some(fp.clone()));
        let back = EnrollmentInvite::parse(&i.to_payload()).unwrap();
        assert_eq!(back.ca_sha256, Some(fp.to_ascii_lowercase()));
    }

    #[test]
    fn other_qr_codes_are_not_invites() {
        for bad in [
            "https://example.org",
            "{}",
            r#"{"omkijken":"enroll","v":2,"server":"https://x","code":"c"}"#,
            r#"{"omkijken":"other","v":1,"server":"https://x","code":"c"}"#,
            r#"{"omkijken":"enroll","v":1,"server":"ftp://x","code":"c"}"#,
            r#"{"omkijken":"enroll","v":1,"server":"https://x","code":" "}"#,
            r#"{"omkijken":"enroll","v":1,"server":"https://x","code":"c","ca_sha256":"zz"}"#,
        ] {
            assert!(
                matches!(EnrollmentInvite::parse(bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
        assert!(EnrollmentInvite::parse(&"x".repeat(5000)).is_err());
    }

    #[test]
    fn an_oidc_verifier_is_told_from_a_typed_code_and_its_challenge_is_fixed() {
        let v = oidc::new_verifier();
        assert!(oidc::is_verifier(&v));
        assert!(!oidc::is_verifier("ABCD-EFGH-JKLM"));
        assert_eq!(
            oidc::challenge(&v),
            oidc::challenge(&v.to_ascii_uppercase())
        );
        assert!(oidc::is_verifier(&oidc::challenge(&v)));
        assert_ne!(oidc::challenge(&v), v);
    }

    #[test]
    fn the_debug_text_never_shows_the_code() {
        let i = EnrollmentInvite::new("https://x", "SECRET-CODE", None);
        assert!(!format!("{i:?}").contains("SECRET"));
    }
}
