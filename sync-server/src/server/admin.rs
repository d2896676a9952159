//! [`Admin`]: admin operations on a running server, run on the hub thread.

use super::hub_thread::{Call, Cmd};
use crate::admin::RosterImport;
use crate::hub::{Hub, Outgoing};
use crate::storage::{AuditFilter, AuditRecord, Device};
use crate::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// Admin operations on a running server, in-process (for tests and embedding). Each call
/// runs on the hub thread, so its effects (purges, grants, dropped connections) are
/// delivered before it returns.
#[derive(Clone)]
pub struct Admin {
    pub(super) cmd: mpsc::Sender<Cmd>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Hub, i64) -> Result<(T, Outgoing)> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let call: Call = Box::new(move |hub, now| match f(hub, now) {
            Ok((t, out)) => {
                let _ = tx.send(Ok(t));
                out
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                vec![]
            }
        });
        self.cmd
            .send(Cmd::Call(call))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Append one audit row, made at the hub's `now`, in a transaction of its own.
    pub(crate) async fn append_audit(
        &self,
        row: impl FnOnce(i64) -> AuditRecord + Send + 'static,
    ) -> Result<()> {
        self.call(move |hub, now| {
            hub.storage().commit(crate::storage::Batch {
                audit: vec![row(now)],
                ..Default::default()
            })?;
            Ok(((), vec![]))
        })
        .await
    }

    /// Append the audit row of a failed or refused enrollment (action `enroll_failed`, no
    /// school, device or user; `kind` says why), from the sync listener or the identity
    /// provider's callback.
    pub(crate) async fn audit_enroll_failed(&self, why: String) -> Result<()> {
        self.append_audit(move |now| AuditRecord {
            kind: Some(why),
            ..AuditRecord::new(now, "", crate::storage::AuditAction::EnrollFailed)
        })
        .await
    }

    /// Create a school (id: 1-64 of a-z, 0-9, `-`, `_`, `.`) with an empty roster.
    pub async fn create_school(&self, id: &str, name: &str) -> Result<()> {
        let (id, name) = (id.to_string(), name.to_string());
        self.call(move |hub, now| Ok(((), hub.create_school(now, &id, &name)?)))
            .await
    }

    /// Import a roster CSV (format: [`crate::roster_csv`]) into a school.
    pub async fn import_roster(&self, school: &str, csv: &str) -> Result<RosterImport> {
        let (school, csv) = (school.to_string(), csv.to_string());
        self.call(move |hub, now| hub.import_roster(now, &school, &csv))
            .await
    }

    /// Set a school's offline lease in days (0: none); returns whether it changed.
    pub async fn set_offline_lease(&self, school: &str, days: u32) -> Result<bool> {
        let school = school.to_string();
        self.call(move |hub, now| hub.set_offline_lease(now, &school, days))
            .await
    }

    /// A school's settings as stored.
    pub async fn school_settings(
        &self,
        school: &str,
    ) -> Result<omkijken_core::model::SchoolSettings> {
        let school = school.to_string();
        self.call(move |hub, _| {
            Ok((
                crate::admin::school_settings(hub.storage(), &school)?,
                vec![],
            ))
        })
        .await
    }

    /// Set a school's settings (devices read them from the roster at their next sync);
    /// returns whether they changed. `Invalid` (nothing changes) unless they pass their
    /// check.
    pub async fn set_school_settings(
        &self,
        school: &str,
        settings: omkijken_core::model::SchoolSettings,
    ) -> Result<bool> {
        let school = school.to_string();
        self.call(move |hub, now| hub.set_school_settings(now, &school, &settings))
            .await
    }

    /// Issue a one-time enrollment code for a staff member of a school.
    pub async fn issue_code(&self, school: &str, user: &str) -> Result<String> {
        let (school, user) = (school.to_string(), user.to_string());
        self.call(move |hub, now| Ok((hub.issue_code(now, &school, &user)?, vec![])))
            .await
    }

    /// All devices.
    pub async fn devices(&self) -> Result<Vec<Device>> {
        self.call(|hub, _| Ok((hub.devices()?, vec![]))).await
    }

    /// Revoke a device: its live connections get `revoked {}` and are dropped.
    pub async fn revoke_device(&self, device: &str) -> Result<()> {
        let device = device.to_string();
        self.call(move |hub, now| Ok(((), hub.revoke_device(now, &device)?)))
            .await
    }

    /// Erase every document about a pupil; returns how many.
    pub async fn erase_pupil(&self, school: &str, pupil: &str) -> Result<usize> {
        let (school, pupil) = (school.to_string(), pupil.to_string());
        self.call(move |hub, now| hub.erase_pupil(now, &school, &pupil))
            .await
    }

    /// Run retention now, or as of `at` (unix ms, for tests and the dry-run's "when"):
    /// erase what expired in every school (devices purge it); returns how many documents.
    pub async fn apply_retention(&self, at: Option<i64>) -> Result<usize> {
        self.call(move |hub, now| {
            let (gone, out) = hub.apply_retention(now, at.unwrap_or(now))?;
            Ok((gone.len(), out))
        })
        .await
    }

    /// Erase what a retention run as of `at` found due when it read the catalog beside the
    /// hub (`scans`), judged again on the hub; returns how many documents.
    pub async fn erase_scanned(
        &self,
        at: i64,
        scans: Vec<crate::retention::Scan>,
    ) -> Result<usize> {
        self.call(move |hub, now| {
            let (gone, out) = hub.erase_scanned(now, at, scans)?;
            Ok((gone.len(), out))
        })
        .await
    }

    /// Audit rows (ids only).
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditRecord>> {
        self.call(move |hub, _| Ok((hub.audit(&filter)?, vec![])))
            .await
    }
}
