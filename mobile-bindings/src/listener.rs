//! Change listeners: a callback interface the app implements, and a handle that ends the
//! subscription when dropped.

use omkijken_core::Store;
use omkijken_core::store::Subscription;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

/// Implemented by the app to hear of changes in the store.
#[uniffi::export(with_foreign)]
pub trait StoreListener: Send + Sync {
    /// These documents changed (written here, arrived by sync, or purged). An empty list
    /// means "anything may have changed" (after a wipe): reload every screen.
    ///
    /// Called on a background thread owned by the subscription, one call at a time and in
    /// order; switch to the UI thread before touching views. A slow listener delays only
    /// its own later calls, never a write or a sync.
    fn on_change(&self, document_ids: Vec<String>);
}

/// A live subscription. Dropping it, or calling `cancel()`, ends the calls.
#[derive(Debug, uniffi::Object)]
pub struct ListenerHandle {
    subscription: Mutex<Option<Subscription>>,
    /// Set by `cancel`: changes still queued for the listener thread are dropped.
    cancelled: Arc<AtomicBool>,
}

impl ListenerHandle {
    /// Subscribe `listener` to `store`, with a thread that delivers the calls in order.
    pub(crate) fn new(store: &Store, listener: Arc<dyn StoreListener>) -> Arc<Self> {
        let (tx, rx) = mpsc::channel::<Vec<String>>();
        let cancelled = Arc::new(AtomicBool::new(false));
        let stop = cancelled.clone();
        // The thread ends when the subscription (holding the only sender) is dropped.
        let spawned = std::thread::Builder::new()
            .name("omkijken-listener".into())
            .spawn(move || {
                for ids in rx {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    listener.on_change(ids);
                }
            });
        let subscription = spawned.ok().map(|_| {
            store.subscribe(move |ids| {
                let _ = tx.send(ids.iter().map(ToString::to_string).collect());
            })
        });
        Arc::new(ListenerHandle {
            subscription: Mutex::new(subscription),
            cancelled,
        })
    }
}

#[uniffi::export]
impl ListenerHandle {
    /// End the subscription now: no new call starts after this returns (a call already
    /// under way on the listener thread finishes). Calling it twice is harmless.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        drop(self.subscription.lock().map(|mut s| s.take()));
    }

    /// Whether the subscription is still live.
    pub fn is_active(&self) -> bool {
        self.subscription
            .lock()
            .map(|s| s.is_some())
            .unwrap_or(false)
    }
}

impl Drop for ListenerHandle {
    /// Dropping the handle (Kotlin `close()` or collection, Swift release) cancels.
    fn drop(&mut self) {
        self.cancel();
    }
}
