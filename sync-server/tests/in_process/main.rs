//! The server in this process: the sans-io hub driven frame by frame on a real SQLite file
//! (`hub`, `trust`, `hostile`, `fuzz`, `group`: group commit, `tail`: short catch-ups from the
//! rows in memory) and the axum server on loopback (`http`). One binary
//! for the tests that share the fixtures of `common` (link time is CI time).

#[path = "../common/mod.rs"]
mod common;

mod beside;
mod fuzz;
mod group;
mod hostile;
mod http;
mod hub;
mod tail;
mod trust;
