//! `GET /readyz`: whether the hub reads its storage, busy or stuck.

use super::AppState;
use super::admin::Admin;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Ready to serve devices: the hub reads its storage (200 "ready"). Its answer waits behind
/// the commands queued before it; if it has not come within 2 s, a hub that handled other
/// commands meanwhile is busy, not unready (200 "ready (busy)": a load balancer must not
/// drop a node exactly when it is needed), and one that handled none is stuck (503). A
/// storage that fails is 503 "storage". `/healthz` only says the process is up; a load
/// balancer in front of several nodes should route by this.
pub(super) async fn readyz(State(st): State<AppState>) -> Response {
    let admin = Admin {
        cmd: st.cmd.clone(),
    };
    let before = st.handled.load(Ordering::Relaxed);
    let check = admin.call(|hub, _| Ok((hub.storage().last_seq(), vec![])));
    let probe = match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(Ok(_))) => Probe::Answered,
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "not ready: the storage failed");
            Probe::StorageFailed
        }
        Ok(Err(_)) => Probe::Stopping,
        Err(_) => Probe::Waiting {
            progressed: st.handled.load(Ordering::Relaxed) > before,
        },
    };
    let (status, body) = readiness(probe);
    (status, body).into_response()
}

/// What `/readyz` learnt from its probe of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// The hub read its storage.
    Answered,
    /// The hub answered that its storage failed.
    StorageFailed,
    /// The hub is stopping.
    Stopping,
    /// No answer within the wait; whether the hub handled other commands meanwhile.
    Waiting { progressed: bool },
}

/// `/readyz`'s answer to a probe.
fn readiness(probe: Probe) -> (StatusCode, &'static str) {
    match probe {
        Probe::Answered => (StatusCode::OK, "ready\n"),
        Probe::Waiting { progressed: true } => (StatusCode::OK, "ready (busy)\n"),
        Probe::Waiting { progressed: false } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the hub is not answering\n",
        ),
        Probe::StorageFailed => (StatusCode::SERVICE_UNAVAILABLE, "not ready: storage\n"),
        Probe::Stopping => (StatusCode::SERVICE_UNAVAILABLE, "not ready: stopping\n"),
    }
}
