//! What the storages share about their schemas: which migrations a store found at some
//! version still needs, and the migrations both databases run with the same statements but
//! for their column types, once for both (each runs them in its own transaction).

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

/// The migrations of `parts`, one after the other, as the array of all `N` of them (a build
/// with another number of them does not compile).
pub(crate) const fn in_order<const N: usize, const P: usize>(
    parts: [&[&'static str]; P],
) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut i, mut p) = (0, 0);
    while p < parts.len() {
        let mut j = 0;
        while j < parts[p].len() {
            out[i] = parts[p][j];
            (i, j) = (i + 1, j + 1);
        }
        p += 1;
    }
    assert!(
        i == N,
        "the migrations are not as many as the schema version"
    );
    out
}

/// The legal holds of the audit log (`hold` and `release` rows) by an index of their own, so
/// that the privacy page and retention read them without going through every row of the log
/// (a delivery is a row: the log grows by millions). Only those rows are in the index, so an
/// insert of any other row costs nothing more. SQLite's migration 12, PostgreSQL's 8; the
/// query must name the same condition to use it (`Storage::hold_rows`).
pub(crate) const AUDIT_HOLDS: &str =
    "CREATE INDEX audit_holds ON audit (seq) WHERE action IN ('hold', 'release');";

/// Defines, in the schema module that calls it, the migrations both databases share, with
/// that database's column types: `int` a 64-bit integer, `bytes` a byte string, `flag` a
/// boolean and `off` its false. Their texts are those shipped: never edit one, add one.
macro_rules! shared_migrations {
    (int: $int:literal, bytes: $bytes:literal, flag: $flag:literal, off: $off:literal) => {
        /// Per school, the server-side policy (JSON: retention terms, the dates pupils
        /// left), never sent to devices.
        const SCHOOL_POLICY: &str = "CREATE TABLE school_policy (
    school TEXT PRIMARY KEY,
    policy TEXT NOT NULL
);";

        /// Every audit row's link to the one before it (`audit_hash`); rows from before have
        /// none, and the chain starts after them.
        const AUDIT_HASH: &str = concat!("ALTER TABLE audit ADD COLUMN hash ", $bytes, ";");

        /// Pupil sessions (pupil mode): the scope an enrollment code gives its device and the
        /// scope of a device (core's `PupilScope` as JSON; NULL for staff devices).
        const PUPIL_SCOPE: &str = "ALTER TABLE enrollment_codes ADD COLUMN scope TEXT;
ALTER TABLE devices ADD COLUMN scope TEXT;";

        /// The accounts of the admin console (name, role, argon2id password hash).
        const ADMIN_ACCOUNTS: &str = concat!(
            "CREATE TABLE admin_accounts (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    ",
            $int,
            " NOT NULL,
    disabled      ",
            $flag,
            " NOT NULL DEFAULT ",
            $off,
            "
);"
        );

        /// The outbox a device last reported (counts only; docs/protocol.md, "Outbox state")
        /// and when (server clock); NULL until it reports one.
        const OUTBOX: &str = concat!(
            "ALTER TABLE devices ADD COLUMN outbox_pending ",
            $int,
            ";\nALTER TABLE devices ADD COLUMN outbox_not_accepted ",
            $int,
            ";\nALTER TABLE devices ADD COLUMN outbox_oldest_at ",
            $int,
            ";\nALTER TABLE devices ADD COLUMN outbox_at ",
            $int,
            ";"
        );

        /// These migrations in order.
        const SHARED: [&str; 5] = [
            SCHOOL_POLICY,
            AUDIT_HASH,
            PUPIL_SCOPE,
            ADMIN_ACCOUNTS,
            OUTBOX,
        ];
    };
}

pub(crate) use shared_migrations;
