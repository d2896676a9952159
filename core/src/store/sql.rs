//! Statements through the connection's statement cache: SQLite parses each statement once
//! per connection, not on every call (parsing was a tenth of the simulation's time).

use rusqlite::{Connection, Params, Row};

/// How many prepared statements a connection keeps: more than the store and the server
/// storage use, so that none is parsed twice.
pub const STATEMENT_CACHE: usize = 256;

/// `execute` and `query_row` with a cached statement (for SQL that is a constant string).
pub trait CachedSql {
    /// [`Connection::execute`] through the statement cache.
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// [`Connection::query_row`] through the statement cache.
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl CachedSql for Connection {
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
