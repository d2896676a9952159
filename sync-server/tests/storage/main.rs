//! The storages: the conformance suite against SQLite and PostgreSQL (`conformance`), the
//! PostgreSQL storage's own tests (`postgres`) and the binary on PostgreSQL with two server
//! nodes (`cli_postgres`), its group commit (`postgres_groups`). One binary for the tests that share the PostgreSQL set-up
//! (`OMKIJKEN_TEST_POSTGRES`, a fresh schema each) (link time is CI time).

#[path = "../common/mod.rs"]
mod common;

mod cli_postgres;
mod conformance;
mod postgres;
mod postgres_groups;
