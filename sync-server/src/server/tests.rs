use super::launch::launch;
use super::readyz::readyz;
use super::{Admin, AppState, Settings};
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Keep the hub at work: `n` commands of `each` after one another, all queued (one
/// running) before this returns.
async fn occupy(state: &AppState, n: usize, each: Duration) {
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let admin = Admin {
            cmd: state.cmd.clone(),
        };
        let started = started.clone();
        tokio::spawn(async move {
            let _ = admin
                .call(move |_, _| {
                    started.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(each);
                    Ok(((), vec![]))
                })
                .await;
        });
    }
    let queued = || state.cmd.max_capacity() - state.cmd.capacity();
    while started.load(Ordering::SeqCst) == 0 || queued() + 1 < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn status(state: &AppState) -> (StatusCode, String) {
    let r = readyz(State(state.clone())).await;
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The real hub thread: behind a queue of commands it works through, `/readyz` says
/// ready (busy); behind one command that holds it past the wait, not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_tells_a_busy_hub_from_a_stuck_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let launched = launch(&Settings::for_test(&data)).unwrap();
    let state = launched.state.clone();
    assert_eq!(status(&state).await, (StatusCode::OK, "ready\n".into()));
    // Forty commands of 100 ms queued before the probe: four seconds of work, the
    // probe waits two, and the hub handles commands meanwhile.
    occupy(&state, 40, Duration::from_millis(100)).await;
    assert_eq!(
        status(&state).await,
        (StatusCode::OK, "ready (busy)\n".into())
    );
    // Wait until the queue is worked off, then hold the hub with one long command.
    while status(&state).await.1 != "ready\n" {}
    occupy(&state, 1, Duration::from_secs(5)).await;
    assert_eq!(
        status(&state).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the hub is not answering\n".into()
        )
    );
    let _ = launched.shutdown_tx.send(true);
}
