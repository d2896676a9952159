//! Enrollment and sync: blocking calls for the app, run on a tokio runtime that the
//! bindings own (one for the process, one worker thread), so the app never sees a Rust
//! future. Sync events are delivered on a background thread of their own, never on the
//! runtime: an observer may call back into the store, even `sync_now`.

use crate::error::Result;
use crate::roster::Identity;
use crate::store::OmkijkenStore;
use omkijken_core::sync::frames::{self, RefusalReason as CoreRefusal};
use omkijken_core::transport::{
    self, BackgroundSync, SyncEvent as CoreEvent, SyncOptions, SyncStatus as CoreStatus,
};
use std::sync::{Arc, OnceLock};

/// The runtime that carries every network call of the library.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("omkijken-sync")
            .enable_all()
            .build()
            .expect("the sync runtime starts (threads and a timer)")
    })
}

/// Why the server refused a document. `InvalidRecord`, `Forbidden` (for a document the user
/// may still read), `TooLarge` and `Malformed` are for good: the user's entry is kept as a
/// not-accepted item and the device takes the server's version (see `not_accepted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RefusalReason {
    /// This user may not write it.
    Forbidden,
    /// A change was made by another device's actor.
    ForgedActor,
    /// Not a valid record, or an edit of a shared signal's original text.
    InvalidRecord,
    /// Too large.
    TooLarge,
    /// Not Automerge bytes.
    Malformed,
    /// The server lacks changes it depends on (the next sync sends the whole document).
    MissingDeps,
    /// The document was erased.
    Erased,
}

impl From<CoreRefusal> for RefusalReason {
    fn from(r: CoreRefusal) -> Self {
        match r {
            CoreRefusal::Forbidden => RefusalReason::Forbidden,
            CoreRefusal::ForgedActor => RefusalReason::ForgedActor,
            CoreRefusal::InvalidRecord => RefusalReason::InvalidRecord,
            CoreRefusal::TooLarge => RefusalReason::TooLarge,
            CoreRefusal::Malformed => RefusalReason::Malformed,
            CoreRefusal::MissingDeps => RefusalReason::MissingDeps,
            CoreRefusal::Erased => RefusalReason::Erased,
        }
    }
}

/// Shared signals of one category in one month.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegisterSignals {
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Category id.
    pub category: String,
    /// `normal`, `anti_bullying`, `meldcode` or `board`.
    pub route: String,
    /// The count, or "< threshold".
    pub count: String,
}

impl From<frames::RegisterSignals> for RegisterSignals {
    fn from(s: frames::RegisterSignals) -> Self {
        RegisterSignals {
            month: s.month,
            category: s.category,
            route: s.route,
            count: s.count,
        }
    }
}

/// Meldcode cases of one month.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegisterCases {
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Opened: a count, or "< threshold".
    pub opened: String,
    /// Closed: a count, or "< threshold".
    pub closed: String,
}

impl From<frames::RegisterCases> for RegisterCases {
    fn from(c: frames::RegisterCases) -> Self {
        RegisterCases {
            month: c.month,
            opened: c.opened,
            closed: c.closed,
        }
    }
}

/// The school's incident register (counts only).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IncidentRegister {
    /// Counts under this show as "< threshold".
    pub threshold: u32,
    /// Signals per month and category.
    pub signals: Vec<RegisterSignals>,
    /// Cases per month.
    pub cases: Vec<RegisterCases>,
    /// The same as CSV (for the school's annual monitor).
    pub csv: String,
}

/// A pupil's dossier for inzage, as the server built it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DossierExport {
    /// The dossier as JSON: school, pupil, pupil_name, requested_on, made_on, and sections
    /// (title, items: document, heading, date, author, lines of [label, text]).
    pub json: String,
    /// The same as a PDF (A4).
    pub pdf: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefusedDocument {
    /// Document id.
    pub id: String,
    /// Why.
    pub reason: RefusalReason,
}

/// What one `sync_now` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Documents fetched and merged.
    pub fetched: u64,
    /// Documents that arrived as live pushes and were merged.
    pub received_live: u64,
    /// Documents sent and confirmed by the server.
    pub pushed: u64,
    /// Documents the server refused (refused for good: kept as not-accepted items).
    pub refused: Vec<RefusedDocument>,
    /// Documents removed because this user may no longer read them.
    pub purged: u64,
    /// Access-log rows uploaded.
    pub log_uploaded: u64,
}

impl From<transport::SyncReport> for SyncReport {
    fn from(r: transport::SyncReport) -> Self {
        SyncReport {
            fetched: r.fetched,
            received_live: r.received_live,
            pushed: r.pushed,
            refused: r
                .refused
                .into_iter()
                .map(|(id, reason)| RefusedDocument {
                    id: id.to_string(),
                    reason: reason.into(),
                })
                .collect(),
            purged: r.purged,
            log_uploaded: r.log_uploaded,
        }
    }
}

/// Something the background sync reports, for the app's sync indicator.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEvent {
    /// Connected to the server.
    Connected,
    /// Documents done of those known so far in this session.
    Progress {
        /// Done.
        done: u64,
        /// Known so far.
        total: u64,
    },
    /// The catch-up is complete.
    CaughtUp,
    /// Everything is sent and confirmed; changes by others now arrive live.
    Idle,
    /// The server refused a document (refused for good: kept as a not-accepted item, see
    /// `not_accepted`).
    Refused {
        /// Document id.
        document_id: String,
        /// Why.
        reason: RefusalReason,
    },
    /// The connection ended or could not be made; the next attempt follows in
    /// `retry_in_ms`.
    Disconnected {
        /// What went wrong, if anything (never a token or care content).
        error: Option<String>,
        /// Milliseconds until the next attempt.
        retry_in_ms: u64,
    },
    /// The school revoked this device: the store is wiped and sync stopped.
    Revoked,
    /// Background sync stopped.
    Stopped,
}

impl From<CoreEvent> for SyncEvent {
    fn from(e: CoreEvent) -> Self {
        match e {
            CoreEvent::Connected => SyncEvent::Connected,
            CoreEvent::Progress { done, total } => SyncEvent::Progress { done, total },
            CoreEvent::CaughtUp { .. } => SyncEvent::CaughtUp,
            CoreEvent::Idle => SyncEvent::Idle,
            CoreEvent::Refused {
                document_id,
                reason,
            } => SyncEvent::Refused {
                document_id: document_id.to_string(),
                reason: reason.into(),
            },
            CoreEvent::Disconnected { error, retry_in } => SyncEvent::Disconnected {
                error,
                retry_in_ms: retry_in.as_millis().try_into().unwrap_or(u64::MAX),
            },
            CoreEvent::Revoked => SyncEvent::Revoked,
            CoreEvent::Stopped => SyncEvent::Stopped,
        }
    }
}

/// Implemented by the app to follow the background sync.
#[uniffi::export(with_foreign)]
pub trait SyncObserver: Send + Sync {
    /// Called on a background thread (never the sync's own), one event at a time, in order.
    fn on_sync_event(&self, event: SyncEvent);
}

/// The background sync's state, for polling (an observer gets the same as events).
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    /// Background sync is started.
    pub running: bool,
    /// Connected now.
    pub connected: bool,
    /// Connected, caught up and with nothing left to send.
    pub idle: bool,
    /// Documents done in this session.
    pub done: u64,
    /// Documents known in this session.
    pub total: u64,
    /// The last connection error, until the next successful connection.
    pub last_error: Option<String>,
}

impl From<CoreStatus> for SyncStatus {
    fn from(s: CoreStatus) -> Self {
        SyncStatus {
            running: s.running,
            connected: s.connected,
            idle: s.idle,
            done: s.done,
            total: s.total,
            last_error: s.last_error,
        }
    }
}

/// The background sync of one store (core's `BackgroundSync`, on the bindings' runtime).
#[derive(Debug, Default)]
pub(crate) struct SyncState(BackgroundSync);

impl SyncState {
    /// Stop the background sync, if running, and wait until its connection is closed.
    pub(crate) fn stop(&self) {
        self.0.stop(runtime());
    }
}

#[uniffi::export]
impl OmkijkenStore {
    /// Enroll this device with the school's server (`https://…`) using the one-time code
    /// the school's admin issued to the user, and a label for the device list ("iPad
    /// groep 6"). Blocks until the server answers. Returns who uses the device now.
    pub fn enroll(
        &self,
        server_url: String,
        code: String,
        device_label: String,
    ) -> Result<Identity> {
        let fut = transport::enroll(&server_url, &code, &device_label, &self.inner);
        Ok(runtime().block_on(fut)?.into())
    }

    /// Enroll this device from the payload of an enrollment QR code (what the admin
    /// console shows per staff member: server URL, one-time code, and the fingerprint of the
    /// school's own certificate authority if it has one), with a label for the device list.
    /// A payload that is not an invite is `Invalid`; an invite that names an authority this
    /// store does not trust (`trust_server_certificate` first) is `Invalid` and sends
    /// nothing. Blocks until the server answers.
    pub fn enroll_with_invite(&self, payload: String, device_label: String) -> Result<Identity> {
        let fut = transport::enroll_with_invite(&payload, &device_label, &self.inner);
        Ok(runtime().block_on(fut)?.into())
    }

    /// Begin enrolling through the school's identity provider (where the school has one):
    /// answers the URL to open in the system browser, where the staff member signs in. The
    /// server sends the browser back to `return_url` (the app's own URL scheme) with
    /// `?enrollment=ready` (then call `finish_oidc_enrollment`) or `?enrollment=refused`.
    /// A secret for it is kept in this store; nothing secret is in the URLs.
    pub fn begin_oidc_enrollment(&self, server_url: String, return_url: String) -> Result<String> {
        Ok(transport::begin_oidc_enrollment(
            &self.inner,
            &server_url,
            &return_url,
        )?)
    }

    /// Finish an enrollment begun with `begin_oidc_enrollment`, with a label for the device
    /// list. `Forbidden` when the sign-in did not succeed or is no staff member of a school
    /// on this server. Blocks until the server answers.
    pub fn finish_oidc_enrollment(&self, device_label: String) -> Result<Identity> {
        let fut = transport::finish_oidc_enrollment(&self.inner, &device_label);
        Ok(runtime().block_on(fut)?.into())
    }

    /// Trust `pem` (PEM certificates) as root authorities for the server's TLS certificate,
    /// besides the public web roots: for a school server whose certificate comes from the
    /// school's own authority. Call before `enroll`. Bad PEM is `Invalid`.
    pub fn trust_server_certificate(&self, pem: String) -> Result<()> {
        Ok(transport::trust_certificate(&self.inner, &pem)?)
    }

    /// Sync now ("pull to refresh"): connect, fetch what changed, send the outbox until the
    /// server confirmed it, upload the access log, close. Blocks until done. While the
    /// background sync runs, it asks that connection instead (one connection a store).
    pub fn sync_now(&self) -> Result<SyncReport> {
        Ok(runtime()
            .block_on(transport::sync_once(&self.inner))?
            .into())
    }

    /// Erase a whole record that should never have been written (the wrong pupil): a care
    /// coordinator any record she may read, the author her own private working note or draft
    /// signal. Needs the network: the server decides, erases it with its history everywhere
    /// and writes an audit row; this device purges it at once, others at their next sync.
    /// `Forbidden` for another user's record, `NotFound` for one this user may not read,
    /// `Network` offline (nothing changes then).
    pub fn erase_record(&self, id: String) -> Result<()> {
        let id = crate::records::doc_id(&id)?;
        Ok(runtime().block_on(transport::erase_record(&self.inner, id))?)
    }

    /// Open (`in_care = true`) or close a pupil's care track (care coordinators), with a
    /// reason code: `signal`, `care_meeting`, `parents`, `external`, `goals_met`,
    /// `moved_school` or `other`. The server changes the roster at once and writes who decided
    /// to its audit log; this device syncs right after, so its access follows (others at their
    /// next sync). `Forbidden` for anyone outside the care team, `Invalid` for another reason.
    pub fn set_care_track(&self, pupil: String, in_care: bool, reason: String) -> Result<()> {
        Ok(runtime().block_on(transport::set_care_track(
            &self.inner,
            &pupil,
            in_care,
            &reason,
        ))?)
    }

    /// Change the school's settings (the school leader; `Forbidden` for anyone else):
    /// `settings_json` is a JSON object, each key it holds replacing that setting, `null`
    /// resetting it (`thermometer`, `templates`, `default_template`,
    /// `conversations_per_year`, `thermometer_months`, `leader_name`, `leader_phone`; see
    /// docs/protocol.md, "School settings"). `Invalid` with the reason when they do not fit;
    /// nothing changes then. Online; this device syncs right after, others at their next sync.
    pub fn set_school_settings(&self, settings_json: String) -> Result<()> {
        Ok(runtime().block_on(transport::set_school_settings(&self.inner, &settings_json))?)
    }

    /// The school's incident register from month `from` to `to` (`YYYY-MM`): shared signals
    /// per month and category, meldcode cases opened and closed per month; counts only, built
    /// on the server (this device receives no pupil content), small counts shown as
    /// "< threshold". The school leader, the anti-bullying coordinator and the care team.
    pub fn incident_register(&self, from: String, to: String) -> Result<IncidentRegister> {
        let r = runtime().block_on(transport::incident_register(&self.inner, &from, &to))?;
        Ok(IncidentRegister {
            threshold: r.threshold,
            signals: r.signals.into_iter().map(Into::into).collect(),
            cases: r.cases.into_iter().map(Into::into).collect(),
            csv: r.csv,
        })
    }

    /// The inzage dossier of a pupil (care coordinators): the server builds it from what this
    /// user may read, shared records only, and writes the request to its audit log.
    /// `requested_on` is the date of the parents' request, `YYYY-MM-DD`. Show or share the PDF;
    /// it holds care data.
    pub fn request_dossier(&self, pupil: String, requested_on: String) -> Result<DossierExport> {
        let (json, pdf) = runtime().block_on(transport::request_dossier(
            &self.inner,
            &pupil,
            &requested_on,
        ))?;
        Ok(DossierExport { json, pdf })
    }

    /// Keep syncing in the background until `stop_background_sync`: changes go out and come
    /// in live while there is a network, with reconnects after failures. `observer` (may be
    /// null) hears every event. Starting it again restarts it. `NotEnrolled` before
    /// enrollment.
    pub fn start_background_sync(&self, observer: Option<Arc<dyn SyncObserver>>) -> Result<()> {
        let on_event = move |e: CoreEvent| {
            if let Some(o) = &observer {
                o.on_sync_event(e.into());
            }
        };
        let store = self.inner.clone();
        Ok(self
            .sync
            .0
            .start(runtime(), store, SyncOptions::default(), on_event)?)
    }

    /// Stop the background sync and wait until its connection is closed.
    pub fn stop_background_sync(&self) {
        self.sync.stop();
    }

    /// The background sync's state and progress.
    pub fn sync_status(&self) -> SyncStatus {
        self.sync.0.status().into()
    }

    /// When this device last completed a sync (caught up, outbox confirmed), unix ms; `null`
    /// if never.
    pub fn last_sync_time(&self) -> Result<Option<i64>> {
        Ok(omkijken_core::sync::engine::last_sync_time(&self.inner)?)
    }
}

/// What an enrollment QR code says, read without enrolling (to show "enroll with
/// omkijken.school.nl?" before asking for a device label).
#[derive(Debug, Clone, uniffi::Record)]
pub struct EnrollmentInvite {
    /// The server's URL.
    pub server: String,
    /// SHA-256 (hex) of the school's own certificate authority, if the invite names one.
    pub ca_sha256: Option<String>,
}

/// Read the payload of a scanned enrollment QR code. Anything that is not an Omkijken
/// enrollment invite is `Invalid`. The one-time code is not returned: pass the payload to
/// `enroll_with_invite`.
#[uniffi::export]
pub fn parse_enrollment_invite(payload: String) -> Result<EnrollmentInvite> {
    let i = omkijken_core::invite::EnrollmentInvite::parse(&payload)?;
    Ok(EnrollmentInvite {
        server: i.server,
        ca_sha256: i.ca_sha256,
    })
}
