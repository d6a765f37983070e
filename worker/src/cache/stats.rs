//! The cache's counters: atomic, cheap to bump on every lookup, read as one
//! JSON object by the performance-statistics tool.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// Hit, miss and failure counts since the worker started.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Served from this worker's memory.
    pub l1_hits: AtomicU64,
    /// Served from the shared store (another worker, or an earlier life of
    /// this one, filled it).
    pub l2_hits: AtomicU64,
    /// Entries found in neither level, so D365FO was asked: the misses.
    pub fills: AtomicU64,
    /// Lookups that waited for a fill another task of this worker was
    /// already running, instead of starting their own.
    pub coalesced_waits: AtomicU64,
    /// Lookups that waited for another worker's fill through the store's
    /// lock.
    pub remote_waits: AtomicU64,
    /// Lookups that waited for a fill that ran out of its caller's deadline
    /// and, with time left of their own, filled again.
    pub deadline_retries: AtomicU64,
    /// Hits (either level) on entries recording that something does not
    /// exist in D365FO.
    pub negative_hits: AtomicU64,
    /// Fills that failed (D365FO unreachable, throttling, a bad answer);
    /// nothing was cached.
    pub fill_errors: AtomicU64,
    /// Shared-store operations that failed; the lookup went on without the
    /// store.
    pub store_errors: AtomicU64,
    /// Environment versions read from D365FO.
    pub version_reads: AtomicU64,
    /// Environment version reads that failed.
    pub version_errors: AtomicU64,
}

/// Adds one to `counter`.
pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl CacheStats {
    /// Every counter, plus the hit ratio over lookups that completed.
    pub fn snapshot(&self) -> Value {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (l1, l2, fills) = (read(&self.l1_hits), read(&self.l2_hits), read(&self.fills));
        let coalesced = read(&self.coalesced_waits);
        let lookups = l1 + l2 + fills + coalesced;
        let hit_ratio = if lookups == 0 {
            Value::Null
        } else {
            // Coalesced waits did not cost a request: they count as hits.
            json!(((l1 + l2 + coalesced) as f64 / lookups as f64 * 1000.0).round() / 1000.0)
        };
        json!({
            "l1_hits": l1,
            "l2_hits": l2,
            "misses": fills,
            "coalesced_waits": coalesced,
            "remote_waits": read(&self.remote_waits),
            "deadline_retries": read(&self.deadline_retries),
            "negative_hits": read(&self.negative_hits),
            "fill_errors": read(&self.fill_errors),
            "store_errors": read(&self.store_errors),
            "version_reads": read(&self.version_reads),
            "version_errors": read(&self.version_errors),
            "hit_ratio": hit_ratio,
        })
    }
}
