//! The sign-in throttle, per account name and per client address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins per key (an account name, a client address) in a fixed window.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// If `key` is locked out at `now`: the time left.
    pub fn locked(&self, key: &str, now: Instant, max: u32, window: Duration) -> Option<Duration> {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (n, since) = f.get(key)?;
        let left = window.checked_sub(now.saturating_duration_since(*since))?;
        (*n >= max && !left.is_zero()).then_some(left)
    }

    /// Count a failure of `key` at `now`.
    pub fn failed(&self, key: &str, now: Instant, window: Duration) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget windows that have passed (keeps the map small).
        f.retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
        let e = f.entry(key.to_string()).or_insert((0, now));
        e.0 += 1;
    }

    /// Forget the failures of `key` (a successful sign-in).
    pub fn succeeded(&self, key: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.remove(key);
    }
}
