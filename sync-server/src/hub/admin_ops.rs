//! The admin operations: written through [`crate::admin`], their effects delivered at once.

use super::{Hub, Outgoing};
use crate::Result;
use crate::admin::{self, RosterImport};
use crate::storage::{AuditFilter, AuditRecord, Device};
use omkijken_core::sync::Frame;

impl Hub {
    /// Create a school (with an empty roster).
    pub fn create_school(&mut self, now: i64, id: &str, name: &str) -> Result<Outgoing> {
        admin::create_school(self.storage.as_mut(), now, id, name)?;
        self.try_poll(now)
    }

    /// Import a roster CSV (format: [`crate::roster_csv`]); sessions that gain access get
    /// the documents, those that lose it are told to purge.
    pub fn import_roster(
        &mut self,
        now: i64,
        school: &str,
        csv: &str,
    ) -> Result<(RosterImport, Outgoing)> {
        let actor = self.actor.clone();
        let r = admin::import_roster(self.storage.as_mut(), &actor, now, school, csv)?;
        let out = self.try_poll(now)?;
        Ok((r, out))
    }

    /// Set a school's offline lease in days (0: none); devices learn it at their next sync.
    /// Returns whether it changed.
    pub fn set_offline_lease(
        &mut self,
        now: i64,
        school: &str,
        days: u32,
    ) -> Result<(bool, Outgoing)> {
        let actor = self.actor.clone();
        let changed = admin::set_offline_lease(self.storage.as_mut(), &actor, now, school, days)?;
        let out = self.try_poll(now)?;
        Ok((changed, out))
    }

    /// Set a school's settings (the roster document carries them to every device); returns
    /// whether they changed. Refused unless they pass their check.
    pub fn set_school_settings(
        &mut self,
        now: i64,
        school: &str,
        settings: &omkijken_core::model::SchoolSettings,
    ) -> Result<(bool, Outgoing)> {
        let actor = self.actor.clone();
        let changed =
            admin::set_school_settings(self.storage.as_mut(), &actor, now, school, settings)?;
        let out = self.try_poll(now)?;
        Ok((changed, out))
    }

    /// Issue a one-time enrollment code for a staff member.
    pub fn issue_code(&mut self, now: i64, school: &str, user: &str) -> Result<String> {
        let ttl = self.config.code_ttl_ms;
        admin::issue_code(self.storage.as_mut(), &mut self.rng, now, school, user, ttl)
    }

    /// Revoke a device; its live connections get `revoked {}` and are dropped.
    pub fn revoke_device(&mut self, now: i64, device: &str) -> Result<Outgoing> {
        admin::revoke(self.storage.as_mut(), now, device)?;
        self.try_poll(now)
    }

    /// Erase every document about a pupil; devices purge them.
    pub fn erase_pupil(
        &mut self,
        now: i64,
        school: &str,
        pupil: &str,
    ) -> Result<(usize, Outgoing)> {
        let actor = self.actor.clone();
        let n = admin::erase_pupil(self.storage.as_mut(), &actor, now, school, pupil)?;
        let out = self.try_poll(now)?;
        Ok((n, out))
    }

    /// Answer a one-shot device request (`/v1/request`, see [`crate::requests`]); live
    /// devices are told to purge what it erased.
    pub fn request(&mut self, now: i64, token: &str, frame: Frame) -> (Frame, Outgoing) {
        let (answer, erased) =
            crate::requests::handle(self.storage.as_mut(), &mut self.rng, now, token, frame);
        let out = if erased {
            self.try_poll(now).unwrap_or_default()
        } else {
            vec![]
        };
        (answer, out)
    }

    /// Run retention as of `at` (unix ms; the real time but in tests): erase what expired
    /// in every school; devices purge it.
    pub fn apply_retention(
        &mut self,
        now: i64,
        at: i64,
    ) -> Result<(Vec<crate::retention::Expired>, Outgoing)> {
        let gone = crate::retention::apply(self.storage.as_mut(), at)?;
        let out = self.try_poll(now)?;
        Ok((gone, out))
    }

    /// The writing half of a retention run as of `at` whose catalog was read elsewhere
    /// ([`crate::retention::scan`] on a connection of its own): erase what is still due
    /// and not held; devices purge it.
    pub fn erase_scanned(
        &mut self,
        now: i64,
        at: i64,
        scans: Vec<crate::retention::Scan>,
    ) -> Result<(Vec<crate::retention::Expired>, Outgoing)> {
        let gone = crate::retention::erase_scanned(self.storage.as_mut(), at, scans)?;
        let out = self.try_poll(now)?;
        Ok((gone, out))
    }

    /// All devices.
    pub fn devices(&mut self) -> Result<Vec<Device>> {
        self.storage.devices()
    }

    /// Audit rows.
    pub fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        self.storage.audit(filter)
    }
}
