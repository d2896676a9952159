//! Omkijken sync server.
//!
//! - [`hub::Hub`]: the sans-io protocol logic (docs/protocol.md), over a
//!   [`storage::Storage`];
//! - [`storage`]: the storage trait, its SQLite implementation and the conformance suite;
//! - [`automerge_repo`]: the automerge-repo dialect of `/v1/automerge-repo`;
//! - [`admin`] and [`roster_csv`]: schools, roster import, enrollment codes, devices, audit;
//! - [`console`]: the school's admin console (JSON API with its OpenAPI document, web
//!   pages, accounts with roles, enrollment QR codes) on a listener of its own;
//! - [`secure`]: the private data directory and the store key (encrypted by default);
//! - [`backup`]: backup and restore of the SQLite store, one server per data directory;
//! - [`net`]: the accept loop: connection caps per address and in total, header and idle
//!   timeouts, refusals when full;
//! - [`server`]: the axum + tokio driver: [`server::router`], [`server::serve`], and
//!   [`server::start`] returning a [`server::ServerHandle`] with an in-process
//!   [`server::Admin`] (for tests in other crates).

pub mod admin;
pub mod automerge_repo;
pub mod backup;
pub mod cache;
pub mod cbor_limits;
pub mod console;
pub mod dossier;
pub mod error;
pub mod flow;
pub mod hub;
pub mod net;
pub mod pdf;
pub mod periodic;
pub mod register;
pub mod requests;
pub mod retention;
pub mod roster_csv;
pub mod secure;
pub mod server;
pub mod settings;
pub mod storage;
pub mod sync_states;
pub mod throttle;
pub mod tls;
pub mod tokens;

pub use error::{Error, Result};
pub use hub::{ConnId, ConnectRefusal, Connected, Hub, HubConfig, Outgoing};
pub use storage::{SqliteStorage, Storage};
