//! [`Listener`]: the one Pub/Sub subscription a store-backed gate keeps to
//! hear of changes other workers make — the throttle window
//! ([`super::throttle`]) and the circuit breaker ([`super::breaker`]). It
//! subscribes at most once at a time, runs the gate's message loop on a
//! task of its own, and aborts it when the gate is dropped; the loop calls
//! [`Listener::ended`] when its stream ends (Redis restarted), so the next
//! refresh subscribes again.

use std::{
    future::Future,
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use common::store::SharedStore;
use futures::stream::BoxStream;
use tokio::task::AbortHandle;

/// A gate's subscription and the task that applies its messages.
#[derive(Default)]
pub(super) struct Listener {
    /// Whether a task holds a subscription; only it clears this.
    listening: AtomicBool,
    task: parking_lot::Mutex<Option<AbortHandle>>,
}

impl Listener {
    /// Subscribes to `channel` and spawns `apply` over its messages, unless
    /// a task already listens; `false` when subscribing failed. Callers
    /// serialize it (they hold their refresh lock), and call it from async
    /// code only (it spawns on the current runtime).
    pub(super) async fn ensure<F, Fut>(
        &self,
        store: &SharedStore,
        channel: &str,
        what: &str,
        apply: F,
    ) -> bool
    where
        F: FnOnce(BoxStream<'static, Bytes>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.listening.load(Ordering::Acquire) {
            return true;
        }
        match store.subscribe(channel).await {
            Ok(messages) => {
                self.listening.store(true, Ordering::Release);
                let task = tokio::spawn(apply(messages));
                *self.task.lock() = Some(task.abort_handle());
                true
            }
            Err(error) => {
                tracing::debug!(%error, "no {what} subscription; trying again at the next refresh");
                false
            }
        }
    }

    /// Whether a task listens now.
    pub(super) fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// The subscription's stream ended: the next refresh subscribes again.
    pub(super) fn ended(&self) {
        self.listening.store(false, Ordering::Release);
    }
}

/// A gate's timer: waits `interval` (asked afresh each time, as it depends
/// on whether the gate listens), then runs `refresh`, until the gate is
/// dropped. Requests never wait for it.
pub(super) async fn resync<S, I, F, Fut>(shared: Weak<S>, interval: I, refresh: F)
where
    I: Fn(&S) -> Duration,
    F: Fn(Arc<S>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let Some(wait) = shared.upgrade().map(|s| interval(&s)) else {
            return;
        };
        tokio::time::sleep(wait).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        refresh(shared).await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().take() {
            task.abort();
        }
    }
}
