//! The Automerge sync states of one session's `sync` frames, bounded.
//!
//! A state is kept per document between the frames of a sync handshake. A device could
//! name any number of documents (and send large Bloom filters in each message): without a
//! bound one device grew the server from 16 to 835 MiB with 200 frames. States are kept
//! only for documents the device may read (or just created), at most [`MAX_STATES`] per
//! session and [`MAX_STATE_BYTES`] of messages behind them; past that the least recently
//! used one is dropped. A dropped state costs the device a round trip, never a change: the
//! sync protocol starts over from what each side has (STYLE.md, "Sync state").

use automerge::sync;
use omkijken_core::DocumentId;
use std::collections::BTreeMap;

/// Sync states kept per session.
pub const MAX_STATES: usize = 64;
/// Bytes of the sync messages behind a session's kept states (their size bounds what a
/// state holds of them: heads, Bloom filters).
pub const MAX_STATE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug)]
struct Kept {
    state: sync::State,
    bytes: usize,
    used: u64,
}

/// A session's sync states, bounded in number and size (see the module docs).
#[derive(Debug, Default)]
pub struct SyncStates {
    states: BTreeMap<DocumentId, Kept>,
    bytes: usize,
    clock: u64,
}

impl SyncStates {
    /// Take the state of `id` out (to use it; [`SyncStates::put`] it back after).
    pub fn take(&mut self, id: &DocumentId) -> Option<sync::State> {
        let k = self.states.remove(id)?;
        self.bytes -= k.bytes;
        Some(k.state)
    }

    /// Keep the state of `id`, built from a message of `bytes`; drops the least recently
    /// used states past the bounds.
    pub fn put(&mut self, id: DocumentId, state: sync::State, bytes: usize) {
        if let Some(old) = self.states.remove(&id) {
            self.bytes -= old.bytes;
        }
        self.clock += 1;
        self.bytes += bytes;
        self.states.insert(
            id,
            Kept {
                state,
                bytes,
                used: self.clock,
            },
        );
        while self.states.len() > MAX_STATES
            || (self.bytes > MAX_STATE_BYTES && self.states.len() > 1)
        {
            let Some(oldest) = self
                .states
                .iter()
                .min_by_key(|(_, k)| k.used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(k) = self.states.remove(&oldest) {
                self.bytes -= k.bytes;
            }
        }
    }

    /// Whether a state of `id` is kept.
    pub fn has(&self, id: &DocumentId) -> bool {
        self.states.contains_key(id)
    }

    /// The kept state of `id`, to use in place (counts as a use).
    pub fn get_mut(&mut self, id: &DocumentId) -> Option<&mut sync::State> {
        self.clock += 1;
        let k = self.states.get_mut(id)?;
        k.used = self.clock;
        Some(&mut k.state)
    }

    /// States kept.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_state_goes_first() {
        let mut s = SyncStates::default();
        let ids: Vec<DocumentId> = (0..MAX_STATES + 10).map(|_| DocumentId::random()).collect();
        for id in &ids {
            s.put(*id, sync::State::new(), 100);
            // The first one stays in use.
            let first = s.take(&ids[0]).unwrap_or_default();
            s.put(ids[0], first, 100);
        }
        assert_eq!(s.len(), MAX_STATES);
        assert!(s.take(&ids[0]).is_some(), "used most recently");
        assert!(s.take(&ids[1]).is_none(), "used least recently");
        // Bytes bound too.
        let mut s = SyncStates::default();
        for _ in 0..5 {
            s.put(
                DocumentId::random(),
                sync::State::new(),
                MAX_STATE_BYTES / 2,
            );
        }
        assert_eq!(s.len(), 2);
    }
}
