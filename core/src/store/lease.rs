//! The offline lease: how long a device may be used without syncing, and the clock it
//! trusts; a store past its lease (or whose clock went back) locks until it syncs.

use super::{Identity, Store, meta_i64, meta_set};
use crate::{Error, Result};

impl Store {
    /// Record that a sync with the server completed now (the sync engine calls this when a
    /// catch-up completes, and hourly on a live connection): the offline lease starts again
    /// and a locked store opens.
    pub fn mark_synced(&self) -> Result<()> {
        let now = self.now();
        self.write(|tx| {
            meta_set(tx, LEASE_SYNCED_AT, &now.to_string())?;
            meta_set(tx, LEASE_CLOCK_HIGH, &now.to_string())?;
            Ok(())
        })
    }

    /// The offline lease: the school sets how many days a device may go without a
    /// completed sync (the roster's `offline_lease_days`, default
    /// [`crate::defaults::OFFLINE_LEASE_DAYS`], 0 for none). Counted from the last
    /// completed sync (none yet: not locked). A clock more than an hour behind the latest
    /// time the store has seen since that sync also locks it: turning the device clock back
    /// does not buy time.
    pub fn lease(&self) -> Result<LeaseStatus> {
        Ok(self.lease_and_clock()?.0)
    }

    /// [`Store::lease`] and the latest clock the store has seen, in one read.
    pub(super) fn lease_and_clock(&self) -> Result<(LeaseStatus, Option<i64>)> {
        let days = self.roster()?.offline_lease_days();
        let now = self.now();
        let (synced_at, high) = self.read(|tx| {
            Ok((
                meta_i64(tx, LEASE_SYNCED_AT)?,
                meta_i64(tx, LEASE_CLOCK_HIGH)?,
            ))
        })?;
        let locks_at = synced_at
            .filter(|_| days > 0)
            .map(|t| t.saturating_add(i64::from(days) * DAY_MS));
        let seen = high.map_or(now, |h| h.max(now));
        let clock_went_back = synced_at.is_some() && high.is_some_and(|h| now + CLOCK_SLACK_MS < h);
        let status = LeaseStatus {
            days,
            synced_at,
            locks_at,
            locked: clock_went_back || locks_at.is_some_and(|t| seen >= t),
        };
        Ok((status, high))
    }

    /// The enrolled user, for reading or writing care content: [`Error::Locked`] once the
    /// offline lease has run out. Remembers the latest clock seen (at most once a minute),
    /// locked or not, so that turning the clock back later does not reopen the store.
    pub(crate) fn unlocked_identity(&self) -> Result<Identity> {
        let identity = self.require_identity()?;
        let (lease, high) = self.lease_and_clock()?;
        if lease.synced_at.is_some() {
            let now = self.now();
            if high.is_none_or(|h| now > h + 60_000) {
                self.write(|tx| {
                    // Another thread may have written a later time meanwhile.
                    let h = meta_i64(tx, LEASE_CLOCK_HIGH)?.unwrap_or(now).max(now);
                    Ok(meta_set(tx, LEASE_CLOCK_HIGH, &h.to_string())?)
                })?;
            }
        }
        if lease.locked {
            return Err(Error::Locked);
        }
        Ok(identity)
    }
}

/// The school's offline lease as this device sees it ([`Store::lease`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseStatus {
    /// The lease in days (0: the school has none).
    pub days: u32,
    /// When the last sync with a server completed (store clock, unix ms); None before the
    /// first.
    pub synced_at: Option<i64>,
    /// When the store locks unless it syncs first (unix ms); None without a lease or before
    /// the first sync.
    pub locks_at: Option<i64>,
    /// Locked now (the lease ran out, or the clock went back more than an hour): care
    /// content can neither be read nor written until a sync completes.
    pub locked: bool,
}

/// Meta keys of the offline lease: the last completed sync, and the latest clock seen.
pub(super) const LEASE_SYNCED_AT: &str = "lease_synced_at";

pub(super) const LEASE_CLOCK_HIGH: &str = "lease_clock_high";

pub(super) const DAY_MS: i64 = 24 * 3600 * 1000;

/// How far the clock may go back (time sync, a manual correction) before the store locks.
pub(super) const CLOCK_SLACK_MS: i64 = 3600 * 1000;
