//! Listeners told which documents changed, unsubscribed when their [`Subscription`] drops.

use super::{Identity, Inner, Store};
use crate::doc::{self};
use crate::ids::DocumentId;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

impl Store {
    /// Listen to document changes (local writes, merges from sync, purges; an empty slice
    /// means "everything", after a wipe). Dropping the subscription unsubscribes.
    pub fn subscribe(&self, f: impl Fn(&[DocumentId]) + Send + Sync + 'static) -> Subscription {
        let id = self.inner.next_listener.fetch_add(1, Ordering::SeqCst);
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, Arc::new(f)));
        Subscription {
            store: Arc::downgrade(&self.inner),
            id,
        }
    }

    pub(super) fn after_change(&self, ids: &[DocumentId]) {
        if let Ok(identity) = self.identity().map(|i| {
            i.unwrap_or(Identity {
                school: String::new(),
                user: String::new(),
            })
        }) {
            if ids.is_empty()
                || ids.contains(&doc::roster_id(&identity.school))
                || ids.contains(&doc::roster_view_id(&identity.school, &identity.user))
            {
                *self
                    .inner
                    .roster_cache
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
        } else {
            *self
                .inner
                .roster_cache
                .write()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        let listeners: Vec<Listener> = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for l in listeners {
            l(ids);
        }
    }
}

pub(super) type Listener = Arc<dyn Fn(&[DocumentId]) + Send + Sync>;

/// Unsubscribes its listener when dropped.
pub struct Subscription {
    store: std::sync::Weak<Inner>,
    id: u64,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(inner) = self.store.upgrade() {
            inner
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|(id, _)| *id != self.id);
        }
    }
}
