//! Flow control of a device session: what one connection may hold of the server's memory.
//!
//! - **In:** a frame's structure is walked ([`crate::cbor_limits`]) and the frame decoded
//!   on the session's task, not the hub's; at most [`INFLIGHT_PER_SESSION`] decoded frames
//!   of a session wait for the hub, and all sessions together hold at most
//!   [`crate::net::Limits::max_inflight_bytes`] of frames waiting (a session over it waits,
//!   and so stops reading its socket). A session over its frame or byte rate is slowed the
//!   same way ([`RateLimit`]).
//! - **Out:** frames queued for a session are counted in bytes ([`Queued`]); a session
//!   whose queue would pass [`crate::net::Limits::max_queued_bytes`] (or the frame count of
//!   `Settings::outbox_frames`) is disconnected as too slow rather than buffered for.

use crate::cbor_limits::{self, FrameLimits, Violation};
use omkijken_core::sync::{ErrorCode, Frame, FrameError, MAX_FRAME_BYTES};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Decoded frames of one session waiting for the hub at once.
pub const INFLIGHT_PER_SESSION: usize = 2;

/// Bytes a frame takes in memory, about (the documents' bytes dominate).
pub fn approx_size(frame: &Frame) -> usize {
    let docs = |d: &[omkijken_core::sync::DocChanges]| -> usize {
        d.iter()
            .map(|d| {
                d.data.len() + d.summary.as_ref().map_or(0, Vec::len) + 64 * (1 + d.heads.len())
            })
            .sum()
    };
    64 + match frame {
        Frame::Docs { docs: d, .. } | Frame::Push { docs: d } => docs(d),
        Frame::Sync { data, .. } => data.len(),
        Frame::Catalog { entries, purge, .. } => entries.len() * 256 + purge.len() * 24,
        Frame::Fetch { docs } => docs.len() * 160,
        Frame::ReadLog { entries } => entries.len() * 96,
        Frame::Ack { docs } => docs.len() * 160,
        Frame::Refused { docs } => docs.len() * 32,
        Frame::Purge { docs } => docs.len() * 24,
        _ => 0,
    }
}

/// Decode a frame received from a device: its structure walked first, then decoded. The
/// error frame to answer with otherwise (the session then ends), as the hub would.
pub fn decode(bytes: &[u8]) -> Result<Frame, Frame> {
    let too_large = || Frame::Error {
        code: ErrorCode::TooLarge,
        message: "frame exceeds the limits".into(),
    };
    let malformed = || Frame::Error {
        code: ErrorCode::Malformed,
        message: "frame is not a valid CBOR frame".into(),
    };
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(too_large());
    }
    match cbor_limits::check(bytes, FrameLimits::default()) {
        Ok(()) => {}
        Err(Violation::Malformed) => return Err(malformed()),
        Err(Violation::TooManyItems | Violation::TooDeep) => return Err(too_large()),
    }
    Frame::decode(bytes).map_err(|e| match e {
        FrameError::TooLarge => too_large(),
        FrameError::Malformed => malformed(),
    })
}

/// Permits a frame holds while it waits for (and is handled by) the hub.
#[derive(Debug)]
pub struct Inflight {
    session: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

impl Inflight {
    /// The session's permit alone, for a frame the hub parks behind a read beside it: kept,
    /// the session reads no further frame meanwhile; the bytes go back to the shared budget
    /// at once (the hub bounds what a session parks), so sessions that wait cannot starve
    /// the others of it.
    pub fn session_only(self) -> OwnedSemaphorePermit {
        self.session
    }
}

/// The admission of received frames to the hub: per session and in total.
#[derive(Debug, Clone)]
pub struct Intake {
    session: Arc<Semaphore>,
    total: Arc<Semaphore>,
    total_kib: u32,
}

impl Intake {
    /// For a new session, sharing `total` (permits in KiB) with the other sessions.
    pub fn new(total: Arc<Semaphore>, total_kib: u32) -> Intake {
        Intake {
            session: Arc::new(Semaphore::new(INFLIGHT_PER_SESSION)),
            total,
            total_kib,
        }
    }

    /// The global budget of frames waiting for the hub, in KiB permits.
    pub fn budget(bytes: usize) -> (Arc<Semaphore>, u32) {
        let kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX).max(1);
        (Arc::new(Semaphore::new(kib as usize)), kib)
    }

    /// Wait until a frame of `size` bytes may go to the hub.
    pub async fn admit(&self, size: usize) -> Option<Inflight> {
        let session = self.session.clone().acquire_owned().await.ok()?;
        let kib = u32::try_from(size / 1024 + 1)
            .unwrap_or(u32::MAX)
            .min(self.total_kib);
        let bytes = self.total.clone().acquire_many_owned(kib).await.ok()?;
        Some(Inflight {
            session,
            _bytes: bytes,
        })
    }
}

/// Bytes queued for one session, and whether the hub dropped it as too slow.
#[derive(Debug, Default)]
pub struct Queued {
    bytes: AtomicUsize,
    dropped: AtomicBool,
    wake: Notify,
}

impl Queued {
    /// Count a frame of `size` in, unless that passes `max`: then false (drop the session).
    pub fn add(&self, size: usize, max: usize) -> bool {
        let now = self.bytes.fetch_add(size, Ordering::AcqRel) + size;
        if now > max {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// A queued frame of `size` was sent (or dropped).
    pub fn sent(&self, size: usize) {
        self.bytes.fetch_sub(size, Ordering::AcqRel);
    }

    /// Bytes queued now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// The hub dropped the session: its task stops at once.
    pub fn drop_session(&self) {
        self.dropped.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Resolves once the hub dropped the session.
    pub async fn dropped(&self) {
        loop {
            let notified = self.wake.notified();
            if self.dropped.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// A token bucket per session: frames and bytes per second, with a burst of a few seconds.
#[derive(Debug)]
pub struct RateLimit {
    frames_per_sec: f64,
    bytes_per_sec: f64,
    burst_secs: f64,
    frames: f64,
    bytes: f64,
    at: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(frames_per_sec: u32, bytes_per_sec: u64) -> RateLimit {
        let burst_secs = 4.0;
        RateLimit {
            frames_per_sec: f64::from(frames_per_sec.max(1)),
            bytes_per_sec: (bytes_per_sec.max(1)) as f64,
            burst_secs,
            frames: f64::from(frames_per_sec.max(1)) * burst_secs,
            bytes: (bytes_per_sec.max(1)) as f64 * burst_secs,
            at: Instant::now(),
        }
    }

    /// Take one frame of `size` bytes; how long to wait before handling it (zero when the
    /// session is within its rates).
    pub fn take(&mut self, size: usize) -> Duration {
        let now = Instant::now();
        let dt = now.duration_since(self.at).as_secs_f64();
        self.at = now;
        self.frames = (self.frames + dt * self.frames_per_sec)
            .min(self.frames_per_sec * self.burst_secs)
            - 1.0;
        self.bytes = (self.bytes + dt * self.bytes_per_sec)
            .min(self.bytes_per_sec * self.burst_secs)
            - size as f64;
        let wait = (-self.frames / self.frames_per_sec)
            .max(-self.bytes / self.bytes_per_sec)
            .max(0.0);
        Duration::from_secs_f64(wait.min(60.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_over_its_rate_waits_in_proportion() {
        let mut r = RateLimit::new(10, 1_000_000);
        // The burst (4 s worth) goes through at once.
        for _ in 0..40 {
            assert_eq!(r.take(10), Duration::ZERO);
        }
        let w = r.take(10);
        assert!(
            w > Duration::from_millis(50) && w <= Duration::from_millis(110),
            "{w:?}"
        );
        // A large frame waits for its bytes.
        let mut r = RateLimit::new(1000, 1_000_000);
        let w = r.take(6_000_000);
        assert!(w >= Duration::from_millis(1900), "{w:?}");
    }

    #[test]
    fn the_queue_refuses_past_its_bytes() {
        let q = Queued::default();
        assert!(q.add(600, 1000));
        assert!(!q.add(600, 1000));
        assert_eq!(q.bytes(), 600);
        q.sent(600);
        assert!(q.add(900, 1000));
    }

    #[test]
    fn decoding_answers_like_the_hub() {
        assert!(matches!(
            decode(b"\xff"),
            Err(Frame::Error {
                code: ErrorCode::Malformed,
                ..
            })
        ));
        let hello = Frame::Hello {
            protocol: 1,
            cursor: 0,
            epoch: None,
            outbox: None,
        };
        assert_eq!(decode(&hello.encode()), Ok(hello));
    }
}
