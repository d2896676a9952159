//! The sync protocol: frame types shared by devices and the server, and the sans-io device
//! engine. See docs/protocol.md.

pub mod engine;
pub mod frames;

pub use engine::{ClientEngine, ClientInput, ClientOutput, SyncStats};
pub use frames::*;
