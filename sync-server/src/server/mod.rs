//! The axum + tokio driver around the sans-io [`Hub`].
//!
//! One dedicated thread owns the hub and its storage connection (SQLite, or PostgreSQL
//! shared with other server nodes); the async side only moves bytes. The storage is opened
//! on that thread too: the synchronous PostgreSQL client must not run inside the runtime. Each WebSocket session is a task that forwards received
//! binary messages to the hub thread and writes the frames the hub sends it. The hub thread
//! also polls the admin-events log every [`Settings::admin_poll`], so an admin CLI run
//! against the data directory takes effect on the running server.
//!
//! Endpoints: `GET /healthz` (the process is up), `GET /readyz` (the hub and its storage
//! answer), `GET /metrics` (Prometheus text), WebSocket `/v1/enroll` and
//! WebSocket `/v1/sync` (device token as `Authorization: Bearer` at the upgrade; 401
//! without or with an unknown token), `/v1/request`, and `/v1/automerge-repo` (the same
//! sessions in automerge-repo's messages: [`crate::automerge_repo`]). See docs/protocol.md.

mod admin;
mod enroll;
mod hub_thread;
mod launch;
mod metrics;
mod readyz;
mod router;
mod session;
#[cfg(test)]
mod tests;

pub use crate::settings::{DB_FILE, Settings};
pub use admin::Admin;
use hub_thread::Cmd;
pub use launch::{ServerHandle, serve, start};
use metrics_exporter_prometheus::PrometheusHandle;
pub use router::router;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::{mpsc, watch};

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    cmd: mpsc::Sender<Cmd>,
    /// Commands the hub has handled ([`HubThread::handled`]).
    handled: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
    metrics: PrometheusHandle,
    limits: crate::net::Limits,
    /// Bytes of received frames waiting for the hub, all sessions together (KiB permits).
    inflight: (Arc<tokio::sync::Semaphore>, u32),
    enroll_throttle: Arc<crate::throttle::EnrollThrottle>,
    /// Device enrollment through the school's identity provider, when configured.
    device_oidc: Option<Arc<crate::console::oidc::DeviceOidc>>,
    /// For requests answered on a storage connection of their own, beside the hub.
    settings: crate::settings::Settings,
    /// Requests read beside the hub at once, at most ([`READS_BESIDE`]): a device that asks
    /// for dossiers over and over waits for its turn rather than taking every core.
    reads_beside: Arc<tokio::sync::Semaphore>,
}

/// Requests read beside the hub at once ([`AppState::reads_beside`]).
pub const READS_BESIDE: usize = 2;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
