//! The real `omkijken-server` binary as a child process: secure defaults (`at_rest`), the
//! audit log (`audit`), guessing enrollment codes (`enrollment`), bounded memory (`memory`),
//! and the admin commands (`cli`, `cli_privacy`). One binary for the tests that share the
//! set-up of `common` and `net` (link time is CI time). `connections.rs` stays a binary of
//! its own: it holds 1,100 sockets open from this process, which must not compete with
//! other tests for the process's descriptors.

#[path = "../common/mod.rs"]
mod common;
#[path = "../net/mod.rs"]
mod net;

mod at_rest;
mod audit;
mod cli;
mod cli_privacy;
mod enrollment;
mod memory;
