//! The server's error type. Messages never carry pupil names, note text or tokens.

/// Result of the server library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the server library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed. Shown as severity, SQLSTATE and message only, never the DETAIL
    /// (which may quote stored values); the error itself is kept, for callers to match on
    /// (`code()`, `is_closed()`), not as a `source` (that would print the DETAIL).
    #[error("storage: {}", postgres_text(.0))]
    Postgres(postgres::Error),
    /// The connection that listens for other nodes' writes closed.
    #[error("storage: the listening connection to PostgreSQL closed")]
    ListenClosed,
    /// The database connection broke inside a group commit: nothing of the group was
    /// stored (see [`crate::storage::Storage::begin_group`]).
    #[error(
        "storage: the database connection was lost during a group commit; nothing of the group was stored"
    )]
    GroupLost,
    /// A document changed in storage after it was read for this write (another process or
    /// server node wrote it): nothing was written; read it again and retry.
    #[error("a document was changed by another writer meanwhile; nothing was written")]
    Conflict,
    /// The store was written by a newer server.
    #[error("store schema version {found} is newer than this server supports ({supported})")]
    TooNew {
        /// Version found in the file.
        found: u32,
        /// Version this build writes.
        supported: u32,
    },
    /// A stored value could not be read back (corrupt row).
    #[error("corrupt stored value: {0}")]
    Corrupt(&'static str),
    /// Core failed (invalid document, automerge).
    #[error(transparent)]
    Core(Box<omkijken_core::Error>),
    /// Automerge failed.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// Input rejected (admin input); the text names the problem, never a value.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// No such school, device or staff member.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// Already exists.
    #[error("already exists: {0}")]
    Exists(&'static str),
    /// Filesystem.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Server configuration (TLS files); the text names the file, never its contents.
    #[error("configuration: {0}")]
    Config(String),
    /// The hub thread is gone (server shutting down).
    #[error("server is shutting down")]
    Stopped,
}

impl From<omkijken_core::Error> for Error {
    fn from(e: omkijken_core::Error) -> Self {
        Error::Core(Box::new(e))
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

/// A PostgreSQL error as text without the parts that may quote stored values (a
/// constraint violation's DETAIL names the key): severity, SQLSTATE and message only.
fn postgres_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "postgres {} {}: {}",
            db.severity(),
            db.code().code(),
            db.message()
        ),
        // Connection and TLS errors: the cause says what went wrong ("invalid peer
        // certificate: UnknownIssuer"); it holds no stored values.
        None => match std::error::Error::source(e) {
            Some(cause) => format!("postgres: {e}: {cause}"),
            None => format!("postgres: {e}"),
        },
    }
}
