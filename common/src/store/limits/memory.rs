//! The in-process rate limiter: GCRA buckets in a map, on this process's
//! monotonic clock. [`MemoryStore`] serves [`RateLimitStore`] with one, and
//! an edge keeps one of its own to fall back on while the shared store is
//! unreachable.

use std::{collections::HashMap, time::Instant};

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{Decision, Limit, RateLimitStore, Take, gcra};
use crate::store::{MemoryStore, StoreResult};

/// Decisions between two sweeps of full buckets: the sweep costs a pass over
/// every bucket, so it is paid for by at least as many decisions.
const SWEEP_EVERY: usize = 1024;

/// GCRA buckets in this process's memory.
pub struct LocalLimiter {
    epoch: Instant,
    inner: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    /// Key → TAT in microseconds since `epoch`.
    tat: HashMap<String, f64>,
    decisions: usize,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalLimiter {
    /// No buckets yet.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            inner: Mutex::new(Buckets::default()),
        }
    }

    /// [`RateLimitStore::acquire`] without the `async`: it never waits.
    pub fn acquire_now(&self, key: &str, limit: Limit, cost: u32) -> Decision {
        let decisions = self.acquire_all_now(&[Take { key, limit, cost }]);
        // One bucket asked is one decision.
        decisions[0]
    }

    /// [`RateLimitStore::acquire_all`] without the `async`, as the Redis
    /// script decides: every bucket read at one instant, nothing written
    /// unless all admit.
    pub fn acquire_all_now(&self, takes: &[Take<'_>]) -> Vec<Decision> {
        let now = self.epoch.elapsed().as_secs_f64() * 1_000_000.0;
        let mut buckets = self.inner.lock();
        buckets.decisions += 1;
        if buckets.decisions >= SWEEP_EVERY.max(buckets.tat.len()) {
            // A bucket whose TAT has passed is full: the same as no entry.
            buckets.decisions = 0;
            buckets.tat.retain(|_, tat| *tat > now);
        }
        let mut decisions = Vec::with_capacity(takes.len());
        let mut next = Vec::with_capacity(takes.len());
        for take in takes {
            let tat = buckets.tat.get(take.key).copied();
            let (decision, tat) = gcra(tat, now, take.limit, take.cost);
            decisions.push(decision);
            match tat {
                Some(tat) => next.push(tat),
                None => return decisions,
            }
        }
        for (take, tat) in takes.iter().zip(next) {
            buckets.tat.insert(take.key.to_owned(), tat);
        }
        decisions
    }

    /// Buckets held (full ones may linger until the next sweep).
    pub fn len(&self) -> usize {
        self.inner.lock().tat.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl RateLimitStore for LocalLimiter {
    async fn acquire_all(&self, takes: &[Take<'_>]) -> StoreResult<Vec<Decision>> {
        Ok(self.acquire_all_now(takes))
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn acquire_all(&self, takes: &[Take<'_>]) -> StoreResult<Vec<Decision>> {
        Ok(self.limits.acquire_all_now(takes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_buckets_nobody_asks_about_are_swept() {
        let limiter = LocalLimiter::new();
        let fast = Limit {
            rate_per_second: 1_000_000.0,
            burst: 1,
        };
        for i in 0..SWEEP_EVERY {
            limiter.acquire_now(&format!("k{i}"), fast, 1);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        for _ in 0..SWEEP_EVERY {
            limiter.acquire_now("last", fast, 1);
        }
        assert!(limiter.len() <= 1, "{} buckets left", limiter.len());
    }
}
