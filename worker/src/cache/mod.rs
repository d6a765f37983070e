//! The metadata and label cache: an in-process L1 in front of the shared
//! store (L2), keyed by environment version, with one fill per key across
//! the cluster. README.md beside this file has the design.
//!
//! - [`MetadataCache`]: [`get_or_fill`](MetadataCache::get_or_fill) serves
//!   an entry from L1, else L2, else runs the caller's fill once (for this
//!   worker and, through a lock in the store, for the cluster) and keeps the
//!   answer in both levels; [`version`](MetadataCache::version) gives the
//!   version hash an environment's keys are built on.
//! - [`key`]: [`CacheKey`], `d365mcp:meta:v1:{version}:{kind}:{id}`.
//! - [`version`]: installed modules, the version hash, its refresh.
//! - [`stats`]: [`CacheStats`], the hit and miss counters.
//! - `shared`: the L2 half: read, lock, fill, write, or wait for another
//!   worker's fill.

pub mod key;
mod shared;
pub mod stats;
pub mod version;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{config::CacheConfig, store::SharedStore};
use moka::{Expiry, future::Cache};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use key::{CacheKey, Kind};
pub use stats::CacheStats;
pub use version::{EnvVersion, Module};

use crate::{d365::Deadline, error::WorkerError};
use stats::bump;
use version::{Refreshed, Versions};

/// What is cached for a key: D365FO's answer, or its word that the thing
/// does not exist (cached for [`CacheConfig::negative_ttl`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// The thing exists; `value` is whatever the fill chose to keep.
    Found {
        /// The cached value.
        value: Value,
    },
    /// D365FO said it does not exist.
    Missing {
        /// D365FO's message, shown in the not-found error.
        message: String,
    },
}

impl Entry {
    /// A fill's result from a D365FO read: D365FO's own 404 becomes
    /// [`Entry::Missing`] (cached); a 404 that is not D365FO's (a gateway's
    /// HTML page, an empty or plain-text body) becomes
    /// [`WorkerError::Unavailable`], and any other error stays an error
    /// (neither is cached).
    pub fn from_read(read: Result<Value, WorkerError>) -> Result<Self, WorkerError> {
        match read {
            Ok(value) => Ok(Self::Found { value }),
            Err(WorkerError::NotFound { message }) if is_d365fo_not_found(&message) => {
                Ok(Self::Missing { message })
            }
            Err(WorkerError::NotFound { message }) => Err(WorkerError::Unavailable(format!(
                "a 404 that is not D365FO's own answer ({message}); a gateway or proxy in \
                 front of it may be misrouting requests"
            ))),
            Err(other) => Err(other),
        }
    }

    /// The value, when found.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Self::Found { value } => Some(value),
            Self::Missing { .. } => None,
        }
    }
}

/// Whether a 404's message is D365FO's own, read from its OData error JSON.
///
/// [`WorkerError::NotFound`] carries only the message, so this goes by the
/// wording `d365::errors::message_of` gives bodies it could not read as
/// OData or front-end JSON: an HTML page, an empty body, quoted raw text.
/// `only_d365fos_own_404_is_cached_as_missing` pins it to that function. A
/// 404 wrongly taken for a gateway's costs a request next time; one wrongly
/// taken for D365FO's would hide a real thing for the negative TTL.
fn is_d365fo_not_found(message: &str) -> bool {
    !(message.starts_with("an HTML error page")
        || message.starts_with("HTTP 404 with an empty body")
        || message.starts_with('"'))
}

/// An L1 entry: the shared entry, its weight and its life.
#[derive(Debug, Clone)]
struct Slot {
    entry: Arc<Entry>,
    /// Size of the entry's JSON, for the L1 byte budget.
    weight: u32,
    ttl: Duration,
    /// When it stops being served, on tokio's clock. moka expires the slot
    /// at the same TTL on `std`'s clock, which frees the memory; this check
    /// is what decides, so that tests on paused time (where only tokio's
    /// clock moves) see entries expire exactly when they should. Outside
    /// tests both clocks agree.
    expires: tokio::time::Instant,
}

impl Slot {
    fn live(&self) -> bool {
        tokio::time::Instant::now() < self.expires
    }
}

/// `ttl` from now; a TTL too long to add means "for as long as the worker
/// runs", not a panic.
fn expiry_after(ttl: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Expires each L1 entry after its own TTL (negative entries live shorter).
struct SlotExpiry;

impl Expiry<CacheKey, Slot> for SlotExpiry {
    fn expire_after_create(&self, _: &CacheKey, slot: &Slot, _: Instant) -> Option<Duration> {
        Some(slot.ttl)
    }
}

/// The metadata and label cache of one worker. Cheap to clone; clones share
/// everything.
#[derive(Clone)]
pub struct MetadataCache {
    inner: Arc<Inner>,
}

struct Inner {
    config: CacheConfig,
    /// L2; `None` runs on L1 alone (a worker without a store).
    store: Option<SharedStore>,
    l1: Cache<CacheKey, Slot>,
    stats: CacheStats,
    versions: Versions,
    /// When a store failure was last logged: once a minute is enough.
    store_warned: parking_lot::Mutex<Option<Instant>>,
    /// This worker's name on the fill locks it takes, for an operator who
    /// looks at a lock in the store.
    owner: String,
}

impl MetadataCache {
    /// A cache configured by `config`, over `store` as L2 (or L1 only).
    pub fn new(config: CacheConfig, store: Option<SharedStore>) -> Self {
        let l1 = Cache::builder()
            .max_capacity(config.l1_capacity_bytes)
            .weigher(|_: &CacheKey, slot: &Slot| slot.weight)
            .expire_after(SlotExpiry)
            .eviction_listener(|key: Arc<CacheKey>, _, cause| {
                // Expired or pushed out by the byte budget; an explicit
                // invalidation (a slot expired on tokio's clock) is an
                // expiry too, and a replaced value is not gone.
                if cause.was_evicted() || cause == moka::notification::RemovalCause::Explicit {
                    crate::metrics::cache_eviction(key.kind(), "l1");
                }
            })
            .build();
        let owner = format!(
            "pid {} at {}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        );
        Self {
            inner: Arc::new(Inner {
                versions: Versions::new(config.version_refresh),
                config,
                store,
                l1,
                stats: CacheStats::default(),
                store_warned: parking_lot::Mutex::new(None),
                owner,
            }),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// The settings in force, as JSON (for the configuration tool).
    pub fn settings(&self) -> Value {
        let c = &self.inner.config;
        json!({
            "ttl_secs": c.ttl.as_secs(),
            "negative_ttl_secs": c.negative_ttl.as_secs(),
            "l1_ttl_secs": c.l1_ttl.as_secs(),
            "l1_capacity_bytes": c.l1_capacity_bytes,
            "version_refresh_secs": c.version_refresh.as_secs(),
            "fill_lock_ttl_secs": c.fill_lock_ttl.as_secs(),
            "shared_store": self.inner.store.is_some(),
        })
    }

    /// The counters and L1's size, as JSON.
    pub fn snapshot(&self) -> Value {
        let mut snapshot = self.inner.stats.snapshot();
        snapshot["l1_entries"] = json!(self.inner.l1.entry_count());
        snapshot["l1_bytes"] = json!(self.inner.l1.weighted_size());
        snapshot["shared_store"] = json!(self.inner.store.is_some());
        snapshot
    }

    /// The version of `environment` (any stable id of it: its name or URL),
    /// reading it with `fetch` (its installed modules,
    /// [`version::read_modules`]) when unknown or due for a refresh.
    /// Concurrent callers share one read; a failed one, or one with no
    /// modules, is cached nowhere.
    pub async fn version<F, Fut>(
        &self,
        environment: &str,
        fetch: F,
    ) -> Result<EnvVersion, WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Module>, WorkerError>>,
    {
        let stats = &self.inner.stats;
        match self.inner.versions.get(environment, fetch).await {
            Ok((version, refreshed)) => {
                match refreshed {
                    Refreshed::No => {}
                    Refreshed::Yes => bump(&stats.version_reads),
                    Refreshed::Failed => {
                        bump(&stats.version_reads);
                        bump(&stats.version_errors);
                    }
                }
                Ok(version)
            }
            Err(error) => {
                bump(&stats.version_reads);
                bump(&stats.version_errors);
                Err(error)
            }
        }
    }

    /// The entry at `key`: from L1, else L2, else from `fill`, run at most
    /// once per key at a time in this worker and, while the store answers,
    /// in the cluster. Others asking meanwhile wait for that fill's answer
    /// (until `deadline`). A fill's error is returned to everyone who
    /// waited for it and cached nowhere — except a deadline error while the
    /// waiter's own deadline has not passed: the fill ran under the first
    /// caller's deadline, so the waiter fills once more under its own.
    pub async fn get_or_fill<F, Fut>(
        &self,
        key: &CacheKey,
        deadline: Deadline,
        fill: F,
    ) -> Result<Arc<Entry>, WorkerError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, WorkerError>>,
    {
        let stats = &self.inner.stats;
        let l1 = self.inner.l1.get(key).await;
        let hit = l1.as_ref().is_some_and(Slot::live);
        crate::metrics::cache_request(key.kind(), "l1", hit);
        if let Some(slot) = l1 {
            if slot.live() {
                bump(&stats.l1_hits);
                self.count_negative(&slot.entry);
                return Ok(slot.entry);
            }
            // Expired on tokio's clock before moka's noticed: without this,
            // `try_get_with` below would hand the stale slot back.
            self.inner.l1.invalidate(key).await;
        }
        // Taken by whichever attempt runs its fill; a waiter's stays here
        // for its retry.
        let mut fill = Some(fill);
        let mut retried = false;
        loop {
            let ran = AtomicBool::new(false);
            let loaded = self
                .inner
                .l1
                .try_get_with_by_ref(key, async {
                    ran.store(true, Ordering::Relaxed);
                    match fill.take() {
                        Some(fill) => self.inner.load(key, deadline, fill).await,
                        None => Err(WorkerError::Internal(format!(
                            "the fill of {key} was asked to run twice"
                        ))),
                    }
                })
                .await;
            let ran = ran.load(Ordering::Relaxed);
            match loaded {
                Ok(slot) => {
                    if !ran {
                        bump(&stats.coalesced_waits);
                        self.count_negative(&slot.entry);
                    }
                    return Ok(slot.entry);
                }
                Err(error)
                    if !ran
                        && !retried
                        && matches!(*error, WorkerError::DeadlineExceeded(_))
                        && !deadline.is_past() =>
                {
                    bump(&stats.deadline_retries);
                    retried = true;
                }
                Err(error) => return Err(error.duplicate()),
            }
        }
    }

    /// The entry at `key` if this worker holds it in memory; never asks the
    /// store or D365FO. For optional extras, such as ranking search results
    /// by label text that happens to be cached.
    pub async fn peek(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.inner
            .l1
            .get(key)
            .await
            .filter(Slot::live)
            .map(|slot| slot.entry)
    }

    fn count_negative(&self, entry: &Entry) {
        if matches!(entry, Entry::Missing { .. }) {
            bump(&self.inner.stats.negative_hits);
        }
    }
}

impl Inner {
    /// The TTL of `entry` in L2, and in L1 (never longer than in L2).
    fn ttls(&self, entry: &Entry) -> (Duration, Duration) {
        let l2 = match entry {
            Entry::Found { .. } => self.config.ttl,
            Entry::Missing { .. } => self.config.negative_ttl,
        };
        (l2, self.config.l1_ttl.min(l2))
    }

    fn slot(&self, entry: Entry, weight: usize) -> Slot {
        let (_, l1_ttl) = self.ttls(&entry);
        Slot {
            entry: Arc::new(entry),
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
            ttl: l1_ttl,
            expires: expiry_after(l1_ttl),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
