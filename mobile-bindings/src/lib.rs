//! uniffi bindings of the Omkijken core for the iOS and Android apps (and Python, used by
//! the tests). A thin layer: FFI records and enums with their conversions, one error enum,
//! and objects whose methods call the core in one to three lines. See docs/mobile.md.
//!
//! Threading: every call blocks; apps call from background threads. Objects are
//! `Send + Sync`. Listeners are called on a background thread.

// The uniffi scaffolding is FFI glue and must use `unsafe`; this crate writes none itself.
#![allow(unsafe_code)]
// Closures passed to the core return its `Result`, whose error is as large as the core's.
#![allow(clippy::result_large_err)]

uniffi::setup_scaffolding!();

mod cases;
mod defaults;
mod edits;
mod error;
mod excursions;
mod listener;
mod not_accepted;
mod parent_contacts;
mod pupil_session;
mod records;
mod roster;
mod school;
mod sociogram;
mod store;
mod sync;

pub use cases::{
    Case, CaseHelp, CaseReport, CaseStatus, CaseStep, CaseSummary, MonitoringAgreement,
    NewCaseStep, Unsafety, Weighing, case_closed_status, case_opened_status,
};
pub use defaults::*;
pub use error::{OmkijkenError, Result};
pub use excursions::{
    Excursion, ExcursionSummary, NewExcursion, NewTripContact, Supervision, TripContact,
};
pub use listener::{ListenerHandle, StoreListener};
pub use not_accepted::{NotAccepted, NotAcceptedContent};
pub use parent_contacts::{
    NewParentContact, ParentContact, ParentContactSummary, ParentPresent, ParentsInvolved,
    ParentsInvolvement,
};
pub use pupil_session::{PupilReading, PupilSession, SessionPupil, StoreClock, TalkRequest};
pub use records::*;
pub use roster::*;
pub use school::{AgreementDue, ConversationDue, ConversationRound, SchoolSettings};
pub use sociogram::{
    Polarity, PupilSociogram, Sociogram, SociogramAnswer, SociogramAnswerInput, SociogramPair,
    SociogramPosition, SociogramQuestion, SociogramQuestionOption, SociogramRound,
    SociogramRoundSummary, SociogramStatus,
};
pub use store::OmkijkenStore;
pub use sync::{RefusalReason, RefusedDocument, SyncEvent, SyncObserver, SyncReport, SyncStatus};
