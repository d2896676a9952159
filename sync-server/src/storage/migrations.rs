//! What the storages share about their schemas: which migrations a store found at some
//! version still needs, once for both databases (each runs them in its own transaction).

use crate::{Error, Result};

/// The migrations still to run on a store found at version `found`, in order:
/// `migrations[i]` brings version `i` to `i + 1`, so this build writes version
/// `migrations.len()`. [`Error::TooNew`] for a store written by a newer server.
pub(crate) fn pending<'a>(found: u32, migrations: &'a [&'a str]) -> Result<&'a [&'a str]> {
    let supported = migrations.len() as u32;
    if found > supported {
        return Err(Error::TooNew { found, supported });
    }
    Ok(&migrations[found as usize..])
}
