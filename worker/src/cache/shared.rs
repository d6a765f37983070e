//! The shared-store (L2) half of a lookup, run by one task per key per
//! worker (L1 coalesces the rest):
//!
//! 1. read the value; found → done;
//! 2. take the fill lock (`set_if_absent` with a TTL); won → fill, write the
//!    value, delete the lock;
//! 3. lost → poll the value with a growing pause until it appears (done),
//!    the lock vanishes (its holder failed or died: back to 1), or the
//!    call's deadline passes.
//!
//! Whenever the store fails, the lookup fills directly: a broken store
//! costs D365FO requests, never a failed call.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use common::store::{SharedStore, StoreError};

use super::{CacheKey, Entry, Inner, Slot, stats::bump};
use crate::{d365::Deadline, error::WorkerError};

/// First pause between polls of a value another worker fills.
const FIRST_POLL: Duration = Duration::from_millis(10);
/// Longest pause between polls.
const MAX_POLL: Duration = Duration::from_millis(250);
/// How often a failing store is logged.
const WARN_EVERY: Duration = Duration::from_secs(60);

impl Inner {
    /// Reads `key` from the store, or fills it once for the cluster. The
    /// lookup counts as an L2 hit when the value came from the store (at
    /// once or after another worker's fill), else as a miss.
    pub(super) async fn load<F, Fut>(
        &self,
        key: &CacheKey,
        deadline: Deadline,
        fill: F,
    ) -> Result<Slot, WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, WorkerError>>,
    {
        let Some(store) = &self.store else {
            return self.fill_direct(key, fill).await;
        };
        let (loaded, hit) = self.load_shared(store, key, deadline, fill).await;
        crate::metrics::cache_request(key.kind(), "l2", hit);
        loaded
    }

    /// [`Inner::load`] with a store; `true` beside a value read from it.
    async fn load_shared<F, Fut>(
        &self,
        store: &SharedStore,
        key: &CacheKey,
        deadline: Deadline,
        fill: F,
    ) -> (Result<Slot, WorkerError>, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, WorkerError>>,
    {
        let lock_key = key.lock_key();
        // Without a deadline, waiting is still bounded: by then a healthy
        // holder has written the value and a dead one's lock has expired.
        let deadline = match deadline.remaining() {
            Some(_) => deadline,
            None => Deadline::after(self.config.fill_lock_ttl * 2),
        };
        let mut waited = false;
        loop {
            match self.read(store, key).await {
                Ok(Some(slot)) => return (Ok(self.l2_hit(slot, waited)), true),
                Ok(None) => {}
                Err(e) => {
                    self.store_failed(&e);
                    return (self.fill_direct(key, fill).await, false);
                }
            }
            let token = Bytes::from(self.owner.clone());
            match store
                .set_if_absent(&lock_key, token, self.config.fill_lock_ttl)
                .await
            {
                Ok(true) => return (self.fill_locked(store, key, lock_key, fill).await, false),
                Ok(false) => {}
                Err(e) => {
                    self.store_failed(&e);
                    return (self.fill_direct(key, fill).await, false);
                }
            }
            waited = true;
            match self.wait(store, key, &lock_key, deadline).await {
                Ok(Some(slot)) => return (Ok(self.l2_hit(slot, true)), true),
                // The lock vanished without a value: try to take it.
                Ok(None) => {}
                Err(Waiting::Store(e)) => {
                    self.store_failed(&e);
                    return (self.fill_direct(key, fill).await, false);
                }
                Err(Waiting::Deadline) => {
                    let error = WorkerError::DeadlineExceeded(format!(
                        "the call's deadline passed while another worker was reading the same \
                         metadata from D365FO ({key}); try again, it is probably cached now"
                    ));
                    return (Err(error), false);
                }
            }
        }
    }

    /// Counts a value served from the store, `waited` for another
    /// worker's fill or not.
    fn l2_hit(&self, slot: Slot, waited: bool) -> Slot {
        bump(&self.stats.l2_hits);
        if waited {
            bump(&self.stats.remote_waits);
        }
        if matches!(*slot.entry, Entry::Missing { .. }) {
            bump(&self.stats.negative_hits);
        }
        slot
    }

    /// The value at `key`, or `None` when absent or unreadable (an entry
    /// written by an incompatible version is refilled, not trusted).
    async fn read(&self, store: &SharedStore, key: &CacheKey) -> Result<Option<Slot>, StoreError> {
        let Some(bytes) = store.get(key.as_str()).await? else {
            return Ok(None);
        };
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) => Ok(Some(self.slot(entry, bytes.len()))),
            Err(e) => {
                tracing::warn!(%key, error = %e, "unreadable cache entry; filling it again");
                Ok(None)
            }
        }
    }

    /// Polls until the value appears (`Some`), the lock vanishes (`None`),
    /// the store fails or the deadline passes.
    async fn wait(
        &self,
        store: &SharedStore,
        key: &CacheKey,
        lock_key: &str,
        deadline: Deadline,
    ) -> Result<Option<Slot>, Waiting> {
        let mut pause = FIRST_POLL;
        loop {
            let left = deadline.remaining().unwrap_or(pause);
            if left.is_zero() {
                return Err(Waiting::Deadline);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(MAX_POLL);
            if let Some(slot) = self.read(store, key).await.map_err(Waiting::Store)? {
                return Ok(Some(slot));
            }
            if store.get(lock_key).await.map_err(Waiting::Store)?.is_none() {
                return Ok(None);
            }
        }
    }

    /// Fills holding the lock, writes the value, releases the lock. The
    /// lock is released even when the call is dropped mid-fill, so the
    /// others need not wait for its TTL.
    async fn fill_locked<F, Fut>(
        &self,
        store: &SharedStore,
        key: &CacheKey,
        lock_key: String,
        fill: F,
    ) -> Result<Slot, WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, WorkerError>>,
    {
        let mut lock = LockGuard {
            store: Some((SharedStore::clone(store), lock_key)),
        };
        bump(&self.stats.fills);
        let filled = fill().await;
        let result = match filled {
            Ok(entry) => match serde_json::to_vec(&entry) {
                Ok(bytes) => {
                    let (ttl, _) = self.ttls(&entry);
                    let weight = bytes.len();
                    if let Err(e) = store.set(key.as_str(), bytes.into(), Some(ttl)).await {
                        self.store_failed(&e);
                    }
                    crate::metrics::cache_fill(key.kind());
                    Ok(self.slot(entry, weight))
                }
                Err(e) => Err(WorkerError::Internal(format!(
                    "a cache entry that cannot be written as JSON: {e}"
                ))),
            },
            Err(error) => {
                bump(&self.stats.fill_errors);
                Err(error)
            }
        };
        lock.release().await;
        result
    }

    /// Fills without the store.
    async fn fill_direct<F, Fut>(&self, key: &CacheKey, fill: F) -> Result<Slot, WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, WorkerError>>,
    {
        bump(&self.stats.fills);
        match fill().await {
            Ok(entry) => {
                let weight = serde_json::to_vec(&entry).map_or(0, |b| b.len());
                crate::metrics::cache_fill(key.kind());
                Ok(self.slot(entry, weight))
            }
            Err(error) => {
                bump(&self.stats.fill_errors);
                Err(error)
            }
        }
    }

    /// Counts a store failure, logging at most once per [`WARN_EVERY`].
    fn store_failed(&self, error: &StoreError) {
        bump(&self.stats.store_errors);
        let mut warned = self.store_warned.lock();
        let now = std::time::Instant::now();
        if warned.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
            *warned = Some(now);
            tracing::warn!(
                %error,
                "metadata cache: the shared store failed; reading D365FO directly (logged once a minute)"
            );
        }
    }
}

/// Why waiting for another worker's fill stopped.
enum Waiting {
    Store(StoreError),
    Deadline,
}

/// Deletes the fill lock when released, or when dropped unreleased (the
/// call was cancelled mid-fill), then in a task of its own.
struct LockGuard {
    store: Option<(SharedStore, String)>,
}

impl LockGuard {
    async fn release(&mut self) {
        if let Some((store, key)) = self.store.take() {
            // A failed delete leaves the lock to its TTL; nothing else to do.
            let _ = store.delete(&key).await;
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some((store, key)) = self.store.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = store.delete(&key).await;
            });
        }
    }
}
