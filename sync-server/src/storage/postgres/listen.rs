//! Nodes hear of each other: a connection of its own runs `LISTEN` and wakes the hub after
//! each commit that changed the catalog or wrote admin events (see the module docs).

use super::PostgresStorage;
use super::connect::DbTls;
use super::queries::CHANGES_CHANNEL;
#[cfg(doc)]
use crate::storage::Storage;
use crate::{Error, Result};
use postgres::fallible_iterator::FallibleIterator;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

impl PostgresStorage {
    /// Listen for other nodes' (and admin commands') writes to the database at `url`, on a
    /// thread of its own with its own connection: after each commit that changed the
    /// catalog or wrote admin events, `wake` is called (several commits close together wake
    /// once). `wake` is also called after each (re)connection, as notifications may have
    /// been missed while the connection was down. The thread ends when `wake` returns false
    /// or `stop` is set (checked every second). A lost connection is retried with backoff
    /// and logged; polling the storage on a timer stays the caller's fallback.
    /// Notifications tagged `own` ([`Storage::notification_tag`] of the node's own
    /// storage) wake nothing: the hub that committed them delivered them already.
    pub fn listen_for_changes(
        url: &str,
        password: Option<&str>,
        ca: Option<&Path>,
        own: Option<String>,
        stop: Arc<AtomicBool>,
        mut wake: impl FnMut() -> bool + Send + 'static,
    ) -> Result<std::thread::JoinHandle<()>> {
        let config = Self::config(url, password)?;
        let tls = DbTls::for_config(&config, ca)?;
        let thread = std::thread::Builder::new()
            .name("omkijken-listen".into())
            .spawn(move || {
                let mut backoff = Duration::from_millis(250);
                while !stop.load(Ordering::Relaxed) {
                    match Self::listen(&config, &tls, own.as_deref(), &stop, &mut wake) {
                        Ok(()) => return,
                        Err(e) => tracing::warn!(
                            error = %e,
                            "listening for other nodes' writes failed; retrying"
                        ),
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            })?;
        Ok(thread)
    }

    /// One listening connection: Ok when told to stop, Err when the connection failed.
    fn listen(
        config: &postgres::Config,
        tls: &DbTls,
        own: Option<&str>,
        stop: &AtomicBool,
        wake: &mut impl FnMut() -> bool,
    ) -> Result<()> {
        let mut client = Self::connect(config, tls)?;
        client.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))?;
        // What was committed before LISTEN took effect is found by this first wake-up.
        if !wake() {
            return Ok(());
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let (got, others) = {
                let mut notifications = client.notifications();
                let first = notifications.timeout_iter(Duration::from_secs(1)).next()?;
                let got = first.is_some();
                let mut others = first.is_some_and(|n| Some(n.payload()) != own);
                // Those that came meanwhile are covered by the same wake-up.
                while got && let Some(n) = notifications.iter().next()? {
                    others |= Some(n.payload()) != own;
                }
                (got, others)
            };
            if !got {
                if client.is_closed() {
                    return Err(Error::ListenClosed);
                }
                continue;
            }
            if !others {
                continue;
            }
            if !wake() {
                return Ok(());
            }
        }
    }
}
