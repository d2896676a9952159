//! Background work at an interval until shutdown: the accept loop's reaper, the hub's poll
//! tick and the daily retention run.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Run `tick` at once and then every `every` (a late tick waits; missed ones are not made
/// up) until `stop` turns true or its sender is gone, or until `tick` answers false.
pub(crate) fn every<F>(
    every: Duration,
    mut stop: watch::Receiver<bool>,
    mut tick: impl FnMut() -> F + Send + 'static,
) -> JoinHandle<()>
where
    F: Future<Output = bool> + Send,
{
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(every);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let due = tokio::select! {
                _ = iv.tick() => true,
                _ = stop.wait_for(|s| *s) => false,
            };
            if !due || !tick().await {
                break;
            }
        }
    })
}
