//! Throttling of enrollment attempts, per client address and in total.
//!
//! Every attempt to enroll (a WebSocket upgrade on `/v1/enroll`) takes a token from the
//! bucket of its address (an IPv6 /64 counts as one) and from the server's; a failed one
//! (unknown, used or expired code) takes [`FAILURE_COST`] more from its address. Within the
//! burst an attempt is answered at once; past it, it waits for its token (a burst is slowed,
//! not answered at full speed), and one that would wait longer than
//! [`EnrollLimits::max_delay`] is refused with `429 Too Many Requests` and a `Retry-After`.
//! The defaults let a school enroll its staff from behind one address on a training day
//! and hold a guesser to a few codes a minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Extra tokens a failed attempt takes from its address.
pub const FAILURE_COST: f64 = 2.0;
/// Addresses remembered before those with full buckets are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// Enrollment rates.
#[derive(Debug, Clone)]
pub struct EnrollLimits {
    /// Attempts per minute from one address (and the burst: a minute's worth).
    pub per_address_per_minute: u32,
    /// Attempts per second in total (and the burst: half a minute's worth).
    pub total_per_second: u32,
    /// An attempt waits at most this long for its turn; longer: refused (429).
    pub max_delay: Duration,
}

impl Default for EnrollLimits {
    fn default() -> Self {
        EnrollLimits {
            per_address_per_minute: 30,
            total_per_second: 10,
            max_delay: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: f64, burst: f64, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
    }

    /// How long until a token is there.
    fn wait(&self, rate: f64) -> f64 {
        if self.tokens >= 1.0 {
            0.0
        } else {
            (1.0 - self.tokens) / rate
        }
    }
}

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Go on, after waiting this long (zero within the burst).
    Go(Duration),
    /// Refuse (429); the client may try again after this long.
    Refuse(Duration),
}

#[derive(Debug)]
struct State {
    addresses: HashMap<IpAddr, Bucket>,
    total: Bucket,
}

/// The enrollment throttle of a server (see the module docs).
#[derive(Debug)]
pub struct EnrollThrottle {
    limits: EnrollLimits,
    state: Mutex<State>,
}

impl EnrollThrottle {
    /// A throttle with full buckets.
    pub fn new(limits: EnrollLimits) -> EnrollThrottle {
        let now = Instant::now();
        let total = Bucket::full(Self::total_burst(&limits), now);
        EnrollThrottle {
            limits,
            state: Mutex::new(State {
                addresses: HashMap::new(),
                total,
            }),
        }
    }

    fn addr_rate(l: &EnrollLimits) -> f64 {
        f64::from(l.per_address_per_minute.max(1)) / 60.0
    }

    fn addr_burst(l: &EnrollLimits) -> f64 {
        f64::from(l.per_address_per_minute.max(1))
    }

    fn total_rate(l: &EnrollLimits) -> f64 {
        f64::from(l.total_per_second.max(1))
    }

    fn total_burst(l: &EnrollLimits) -> f64 {
        f64::from(l.total_per_second.max(1)) * 30.0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An attempt from `ip` at `now`: go (perhaps after a wait) or refuse.
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Decision {
        let l = &self.limits;
        let (ar, ab, tr, tb) = (
            Self::addr_rate(l),
            Self::addr_burst(l),
            Self::total_rate(l),
            Self::total_burst(l),
        );
        let key = crate::net::address_key(ip);
        let mut st = self.lock();
        if st.addresses.len() >= MAX_ADDRESSES {
            st.addresses.retain(|_, b| {
                b.refill(ar, ab, now);
                b.tokens < ab
            });
        }
        let mut addr = st
            .addresses
            .get(&key)
            .copied()
            .unwrap_or(Bucket::full(ab, now));
        addr.refill(ar, ab, now);
        st.total.refill(tr, tb, now);
        let wait = addr.wait(ar).max(st.total.wait(tr));
        if wait > l.max_delay.as_secs_f64() {
            st.addresses.insert(key, addr);
            return Decision::Refuse(Duration::from_secs_f64(wait.ceil().max(1.0)));
        }
        // Take the tokens now (the buckets may go below zero: later attempts queue behind).
        addr.tokens -= 1.0;
        st.total.tokens -= 1.0;
        st.addresses.insert(key, addr);
        Decision::Go(Duration::from_secs_f64(wait))
    }

    /// An attempt from `ip` failed (a wrong code): it costs its address more.
    pub fn failed(&self, ip: IpAddr) {
        let key = crate::net::address_key(ip);
        if let Some(b) = self.lock().addresses.get_mut(&key) {
            b.tokens -= FAILURE_COST;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_then_is_slowed_then_refused() {
        let t = EnrollThrottle::new(EnrollLimits::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for _ in 0..30 {
            assert_eq!(t.attempt(ip, now), Decision::Go(Duration::ZERO));
        }
        // Past the burst: one every 2 s, up to 5 s of waiting.
        assert_eq!(t.attempt(ip, now), Decision::Go(Duration::from_secs(2)));
        assert_eq!(t.attempt(ip, now), Decision::Go(Duration::from_secs(4)));
        assert!(matches!(t.attempt(ip, now), Decision::Refuse(d) if d >= Duration::from_secs(6)));
        // Another address is not held up.
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(t.attempt(other, now), Decision::Go(Duration::ZERO));
        // A minute later the address has its burst back.
        let later = now + Duration::from_secs(120);
        assert_eq!(t.attempt(ip, later), Decision::Go(Duration::ZERO));
    }

    #[test]
    fn failures_cost_more_and_the_total_holds_across_addresses() {
        let t = EnrollThrottle::new(EnrollLimits {
            per_address_per_minute: 30,
            total_per_second: 1,
            max_delay: Duration::from_secs(5),
        });
        let now = Instant::now();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..10 {
            assert_eq!(t.attempt(ip, now), Decision::Go(Duration::ZERO));
            t.failed(ip);
        }
        assert!(matches!(t.attempt(ip, now), Decision::Go(d) if d > Duration::ZERO));
        // The total (30 at once, then 1/s) across many addresses.
        let mut went = 11;
        for n in 0..100u8 {
            let ip = IpAddr::from([10, 1, 0, n]);
            if t.attempt(ip, now) == Decision::Go(Duration::ZERO) {
                went += 1;
            }
        }
        assert_eq!(went, 30);
    }
}
