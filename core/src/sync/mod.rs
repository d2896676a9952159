//! The sync protocol: frame types shared by devices and the server, and the sans-io client
//! engine. See docs/protocol.md.

pub mod client;
pub mod frames;

pub use client::{ClientEngine, ClientInput, ClientOutput, SyncStats};
pub use frames::*;
