//! The one FFI error, mapped from the core's errors in one match.
//!
//! Messages never carry pupil names, note text or tokens: the core's messages name the kind
//! of problem and at most a field or a document id, and nothing here adds to them.

use omkijken_core::{Error, OpenError};

/// Result of every fallible call in the bindings.
pub type Result<T, E = OmkijkenError> = std::result::Result<T, E>;

/// What went wrong, as a small set of kinds an app can act on.
///
/// Kotlin: `OmkijkenException` with one subclass per kind; Swift: `OmkijkenError`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum OmkijkenError {
    /// No such document, pupil or record, or one this user may not read (a denied read
    /// looks like "not found" on purpose).
    #[error("not found")]
    NotFound,
    /// The user may not do this; `reason` says which rule, never any content.
    #[error("not allowed: {reason}")]
    Forbidden {
        /// Which rule refused.
        reason: String,
    },
    /// Input was rejected before anything was written; `reason` names the field, never its
    /// value. Also a key that is too short.
    #[error("invalid input: {reason}")]
    Invalid {
        /// Which field, and why.
        reason: String,
    },
    /// The store is locked (the school's offline lease expired) until the device syncs.
    #[error("the store is locked until the device syncs")]
    Locked,
    /// The school revoked this device, or the store was wiped: the app should forget the
    /// store and its key, and offer enrollment again.
    #[error("this device was revoked or its store wiped")]
    Revoked,
    /// The device is not enrolled yet (no user): enroll first.
    #[error("the device is not enrolled")]
    NotEnrolled,
    /// The server could not be reached or answered with an error; retry later. Everything
    /// written meanwhile stays in the local store and its outbox.
    #[error("network: {reason}")]
    Network {
        /// What failed (never content).
        reason: String,
    },
    /// The local database failed: a wrong key, a file that is not a store or is from a newer
    /// app, a full disk, a corrupt document. The file is never deleted by the library.
    #[error("storage: {reason}")]
    Storage {
        /// What failed (never content).
        reason: String,
    },
    /// A bug in the library stopped the call (a panic inside the store, caught). Nothing of
    /// the call was written, the store stays open and the next call works; report it.
    #[error("internal: {reason}")]
    Internal {
        /// What stopped (never content).
        reason: String,
    },
}

/// Every failure the core can report to the bindings, so that one match maps them all.
#[derive(Debug)]
pub(crate) enum CoreFailure {
    /// After the store is open.
    Core(Error),
    /// Opening the store.
    Open(OpenError),
}

impl From<CoreFailure> for OmkijkenError {
    /// Each kind from the typed error, and the reason from its fields: never from the
    /// error's text.
    fn from(failure: CoreFailure) -> Self {
        use CoreFailure::{Core, Open};
        match failure {
            Core(Error::NotFound) => OmkijkenError::NotFound,
            Core(Error::Forbidden(rule)) => OmkijkenError::Forbidden {
                reason: rule.to_string(),
            },
            Core(Error::Invalid(field)) => OmkijkenError::Invalid { reason: field },
            Open(e @ OpenError::WeakKey) => OmkijkenError::Invalid {
                reason: e.to_string(),
            },
            Core(Error::NotEnrolled) => OmkijkenError::NotEnrolled,
            Core(Error::Internal(what)) => OmkijkenError::Internal {
                reason: format!("{what}; nothing was written"),
            },
            Core(Error::Locked) => OmkijkenError::Locked,
            Core(Error::Revoked) => OmkijkenError::Revoked,
            Core(Error::Network(what)) => OmkijkenError::Network { reason: what },
            Core(e @ Error::Protocol(_)) => OmkijkenError::Network {
                reason: e.to_string(),
            },
            Core(
                e @ (Error::Sqlite(_)
                | Error::Automerge(_)
                | Error::Reconcile(_)
                | Error::InvalidDocument { .. }),
            ) => OmkijkenError::Storage {
                reason: e.to_string(),
            },
            Open(
                e @ (OpenError::WrongKeyOrNotAStore
                | OpenError::TooNew { .. }
                | OpenError::Sqlite(_)
                | OpenError::Io(_)),
            ) => OmkijkenError::Storage {
                reason: e.to_string(),
            },
        }
    }
}

impl From<Error> for OmkijkenError {
    fn from(e: Error) -> Self {
        CoreFailure::Core(e).into()
    }
}

impl From<OpenError> for OmkijkenError {
    fn from(e: OpenError) -> Self {
        CoreFailure::Open(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_actionable_kinds() {
        assert!(matches!(
            OmkijkenError::from(Error::NotFound),
            OmkijkenError::NotFound
        ));
        assert!(matches!(
            OmkijkenError::from(Error::Forbidden("read-only for this user")),
            OmkijkenError::Forbidden { reason } if reason == "read-only for this user"
        ));
        assert!(matches!(
            OmkijkenError::from(Error::Invalid("urgency must be 0-3".into())),
            OmkijkenError::Invalid { reason } if reason == "urgency must be 0-3"
        ));
        assert!(matches!(
            OmkijkenError::from(OpenError::WrongKeyOrNotAStore),
            OmkijkenError::Storage { .. }
        ));
        assert!(matches!(
            OmkijkenError::from(OpenError::WeakKey),
            OmkijkenError::Invalid { .. }
        ));
        assert!(matches!(
            OmkijkenError::from(Error::Revoked),
            OmkijkenError::Revoked
        ));
    }

    /// The reasons an app sees, exactly as before the mapping read the typed errors' fields
    /// instead of stripping prefixes off their text.
    #[test]
    fn reasons_come_from_the_typed_fields() {
        let reason = |e: OmkijkenError| match e {
            OmkijkenError::Forbidden { reason }
            | OmkijkenError::Invalid { reason }
            | OmkijkenError::Network { reason }
            | OmkijkenError::Storage { reason }
            | OmkijkenError::Internal { reason } => reason,
            other => panic!("no reason: {other:?}"),
        };
        assert_eq!(
            reason(Error::Internal("store call panicked").into()),
            "store call panicked; nothing was written"
        );
        assert_eq!(
            reason(Error::Network("timed out".into()).into()),
            "timed out"
        );
        assert_eq!(
            reason(Error::Protocol("bad frame".into()).into()),
            "protocol: bad frame"
        );
        assert_eq!(
            reason(OpenError::WeakKey.into()),
            "the encryption key must be at least 16 bytes"
        );
        assert_eq!(
            reason(OpenError::WrongKeyOrNotAStore.into()),
            "wrong key, or the file is not an Omkijken store"
        );
    }
}
