//! The end-to-end scenarios, one test binary (they share the tests crate's set-up, and one
//! binary links once): each module runs the real server and real clients through one
//! story, in numbered steps.

mod automerge_repo;
mod backup;
mod catch_up_beside;
mod dossier;
mod erasure;
mod excursion;
mod hostile;
mod lease;
mod live;
mod meldcode;
mod outbox_state;
mod postgres_nodes;
mod privacy_console;
mod pupil_mode;
mod refusals;
mod retention;
mod school_trip;
mod settings_console;
mod tls;
mod unicode_sync;
