//! Errors of the core. Messages never carry pupil names, note text or tokens:
//! they name the kind of problem and, at most, a document id.

use crate::ids::DocumentId;

/// Result of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core, after the store is open.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such document, or one this user may not read ("denied" looks like "not found").
    #[error("document not found")]
    NotFound,
    /// The user may not do this.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// Input rejected before anything was written; the reason names the field, never its value.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A document exists but is not a valid record of its kind.
    #[error("document {id} is not a valid {kind} record: {reason}")]
    InvalidDocument {
        id: DocumentId,
        kind: &'static str,
        reason: String,
    },
    /// The device has no identity yet (not enrolled, no user set).
    #[error("the device is not enrolled")]
    NotEnrolled,
    /// The store is locked (offline lease expired) until the device syncs.
    #[error("the store is locked until the device syncs")]
    Locked,
    /// The device was revoked by the school.
    #[error("this device was revoked")]
    Revoked,
    /// A protocol frame could not be understood.
    #[error("protocol: {0}")]
    Protocol(String),
    /// SQLite failed.
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Automerge failed (corrupt bytes, bad change).
    #[error("automerge: {0}")]
    Automerge(Box<automerge::AutomergeError>),
    /// Mapping a record into a document failed.
    #[error("reconcile: {0}")]
    Reconcile(Box<autosurgeon::ReconcileError>),
    /// Network transport failure (client feature).
    #[error("network: {0}")]
    Network(String),
    /// A bug in the library stopped the call (a panic, caught): nothing of the call was
    /// written and the store keeps working. The message never carries content.
    #[error("internal error: {0}; nothing was written")]
    Internal(&'static str),
}

/// Why a store could not be opened. The file is never deleted or rewritten on any of these.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The key does not decrypt this file, or the file is not an Omkijken store.
    #[error("wrong key, or the file is not an Omkijken store")]
    WrongKeyOrNotAStore,
    /// The file was written by a newer version of Omkijken.
    #[error("store schema version {found} is newer than this app supports ({supported})")]
    TooNew { found: u32, supported: u32 },
    /// The key is empty or too short.
    #[error("the encryption key must be at least 16 bytes")]
    WeakKey,
    /// SQLite failed otherwise (disk, permissions).
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The path could not be used.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::Automerge(Box::new(e))
    }
}

impl From<autosurgeon::ReconcileError> for Error {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        Error::Reconcile(Box::new(e))
    }
}
