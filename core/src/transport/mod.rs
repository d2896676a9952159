//! The tokio WebSocket transport of a device (feature `transport`).
//!
//! A thin loop around the sans-io [`ClientEngine`]: it opens the WebSocket, feeds the
//! engine what arrives, sends what the engine says, and sleeps between reconnects. All
//! protocol decisions live in the engine.
//!
//! - [`enroll`] exchanges a one-time enrollment code for a device token.
//! - [`sync_once`] connects, catches up, pushes the outbox until it is acknowledged, and
//!   closes: for "pull to refresh" and for tests. While a [`SyncClient`] of the store runs,
//!   it asks that client instead (one connection of a store at a time).
//! - [`SyncClient`] keeps a connection open in the background: live pushes both ways,
//!   reconnects with exponential backoff and jitter, progress events to a callback.
//!
//! Transport failures are [`Error::Network`]; their messages never carry the token.
//!
//! One file a part: `connection` (WebSocket, TLS, frames), `requests` (enrollment and the
//! one-off requests), `session` (one sync session, `sync_once`) and `background` (the
//! reconnecting client and what an app holds of it).

mod background;
mod connection;
mod requests;
mod session;
#[cfg(test)]
mod tests;

pub use background::{BackgroundSync, SyncClient, SyncOptions, SyncStatus, backoff_delay};
pub use connection::{
    SETTING_DEVICE, SETTING_SERVER_URL, SETTING_TOKEN, SETTING_TRUSTED_CA, trust_certificate,
};
pub use requests::{
    IncidentRegister, begin_oidc_enrollment, enroll, enroll_with_invite, erase_record,
    finish_oidc_enrollment, incident_register, request_dossier, set_care_track,
    set_school_settings, start_pupil_session, sync_pupil_session,
};
pub(crate) use session::Sessions;
pub use session::{SyncEvent, SyncReport, sync_connections, sync_once};
