//! The conformance suite every [`Storage`] implementation must pass.
//!
//! Each check is a function of a fresh, empty storage that panics with a message naming the
//! behaviour on failure. [`storage_conformance!`](crate::storage_conformance) expands to one
//! `#[test]` per check for one storage, so a failure names its check and hides no other.
//! One file per concern: documents, the catalog, batches, group commits, devices, the audit,
//! accounts and policies; the values the checks build from are in `fixtures`. Compiled for tests only
//! (feature `testing`).

use super::*;
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use omkijken_core::{AccessFields, DocumentId, Header};

mod accounts;
mod audit;
mod batches;
mod catalog;
mod devices;
mod documents;
mod fixtures;
mod groups;

pub use accounts::*;
pub use audit::*;
pub use batches::*;
pub use catalog::*;
pub use devices::*;
pub use documents::*;
use fixtures::*;
pub use groups::*;

/// One `#[test]` per conformance check, each on a fresh storage from `$make`: a closure
/// taking the check's name and returning `Some((storage, keep))`, where `keep` is whatever
/// must outlive the storage (a temporary directory, a test schema), or `None` to skip (no
/// test database). Use it inside a module of its own per storage.
#[macro_export]
macro_rules! storage_conformance {
    ($make:expr) => {
        $crate::storage_conformance!(@checks $make;
            // documents.rs
            commit_assigns_increasing_sequences_in_order,
            appended_chunks_load_back_as_one_document,
            snapshot_replaces_the_log,
            the_summary_follows_the_heads_it_was_written_with,
            access_fields_round_trip,
            erase_drops_bytes_and_leaves_a_tombstone,
            many_documents_load_at_once_as_each_alone,
            // catalog.rs
            catalog_since_filters_by_school_and_cursor_and_tells_held,
            every_row_of_a_school_is_visited_once_in_order,
            bump_moves_a_row_without_changing_content,
            // batches.rs
            a_write_from_a_stale_state_conflicts_and_writes_nothing,
            one_batch_may_name_a_document_or_a_row_twice,
            // devices.rs
            enrollment_codes_are_one_time_and_expire,
            revoked_devices_stay_known_as_revoked,
            a_reported_outbox_is_kept_with_its_time,
            the_epoch_stays_until_renewed,
            // audit.rs
            the_audit_log_is_a_hash_chain,
            read_audit_rows_are_deduplicated_per_device_sequence,
            audit_rows_are_counted_per_action_and_day,
            the_legal_holds_are_read_alone_in_order,
            admin_events_are_sequenced,
            // accounts.rs
            admin_accounts_are_kept_by_name_and_replaced,
            a_school_policy_is_replaced_whole,
            // groups.rs
            a_groups_commits_are_read_in_it_and_stored_at_its_end,
            a_failed_commit_in_a_group_undoes_itself_alone,
        );
    };
    (@checks $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Some((storage, _keep)) = ($make)(stringify!($check)) {
                    $crate::storage::conformance::$check(storage);
                }
            }
        )*
    };
}
