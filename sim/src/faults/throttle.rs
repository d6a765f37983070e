//! D365FO's user-based service protection limits, per caller.
//!
//! A caller that passes the request-rate limit (a sliding window,
//! approximated by two fixed buckets weighted by overlap) or the concurrency
//! limit gets 429 and is blocked for `retry_after_secs`. As D365FO documents,
//! every request during the block is refused too, and a caller that keeps
//! pushing is made to wait longer: each refused request doubles the wait
//! (capped at `max_retry_after_secs`). The first request admitted after a
//! block clears the escalation.
//!
//! The caller table is bounded: past [`MAX_CALLERS`] the least recently
//! seen caller is forgotten (O(log n), through a recency index), so no
//! stream of new identities can grow memory or make admission slow.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Throttle;
use crate::auth::bearer::Caller;

/// Callers remembered; past this the least recently seen is forgotten.
pub const MAX_CALLERS: usize = 10_000;

/// Which limit a caller broke; it picks D365FO's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many requests in the window.
    Rate {
        /// The limit.
        requests: u32,
        /// The window, in seconds.
        window_secs: u64,
    },
    /// Too many requests in flight.
    Concurrency(u32),
}

impl Limit {
    /// D365FO's message for this limit, word for word as documented
    /// (including the documented spelling "exeeded").
    pub fn message(&self) -> String {
        match self {
            Self::Rate {
                requests,
                window_secs,
            } => format!(
                "Number of requests exeeded the limit of {requests} over the time window of {window_secs} seconds."
            ),
            Self::Concurrency(n) => {
                format!("Number of concurrent requests exceeded the limit of {n}.")
            }
        }
    }
}

/// A refused request: the limit and the `Retry-After` in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The limit broken (by this request or the one that started the block).
    pub limit: Limit,
    /// Seconds until the caller may try again, at least 1.
    pub retry_after_secs: u64,
}

#[derive(Debug)]
struct CallerState {
    bucket_start: Instant,
    current: u32,
    previous: u32,
    in_flight: u32,
    blocked: Option<(Instant, Limit)>,
    strikes: u32,
    /// When it was last seen, in [`Callers::tick`]s: its key in `recency`.
    seen: u64,
}

impl CallerState {
    fn new(now: Instant, seen: u64) -> Self {
        Self {
            bucket_start: now,
            current: 0,
            previous: 0,
            in_flight: 0,
            blocked: None,
            strikes: 0,
            seen,
        }
    }

    /// Requests in the sliding window ending now.
    fn rate(&mut self, now: Instant, window: Duration) -> f64 {
        let elapsed = now.saturating_duration_since(self.bucket_start);
        if elapsed >= window {
            self.previous = if elapsed < window.saturating_mul(2) {
                self.current
            } else {
                0
            };
            self.current = 0;
            let buckets = elapsed.as_nanos() / window.as_nanos().max(1);
            let step = window.saturating_mul(u32::try_from(buckets).unwrap_or(u32::MAX));
            self.bucket_start = self.bucket_start.checked_add(step).unwrap_or(now);
        }
        let into = now
            .saturating_duration_since(self.bucket_start)
            .as_secs_f64();
        let overlap = 1.0 - (into / window.as_secs_f64()).min(1.0);
        f64::from(self.previous) * overlap + f64::from(self.current)
    }
}

/// Per-caller throttling state.
#[derive(Debug)]
pub struct Throttler {
    callers: Mutex<Callers>,
    capacity: usize,
}

/// The caller table and its recency index (oldest first).
#[derive(Debug, Default)]
struct Callers {
    states: HashMap<Caller, CallerState>,
    recency: BTreeMap<u64, Caller>,
    tick: u64,
}

impl Callers {
    /// The state of `caller`, marked as seen now; a new caller evicts the
    /// least recently seen one when the table is full. A forgotten caller
    /// that still holds a slot just finds no state to release it into.
    fn touch(&mut self, caller: &Caller, now: Instant, capacity: usize) -> &mut CallerState {
        self.tick += 1;
        let tick = self.tick;
        if let Some(state) = self.states.get(caller) {
            self.recency.remove(&state.seen);
        } else {
            while self.states.len() >= capacity.max(1) {
                let Some((_, oldest)) = self.recency.pop_first() else {
                    break;
                };
                self.states.remove(&oldest);
            }
        }
        self.recency.insert(tick, caller.clone());
        let state = self
            .states
            .entry(caller.clone())
            .or_insert_with(|| CallerState::new(now, tick));
        state.seen = tick;
        state
    }
}

impl Default for Throttler {
    fn default() -> Self {
        Self::with_capacity(MAX_CALLERS)
    }
}

/// Holds a caller's concurrency slot; gives it back when dropped, also when
/// the request's connection is dropped mid-flight.
#[must_use]
pub struct Slot {
    throttler: Arc<Throttler>,
    caller: Caller,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(state) = self.throttler.callers.lock().states.get_mut(&self.caller) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }
}

impl Throttler {
    /// A throttler remembering at most `capacity` callers.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            callers: Mutex::default(),
            capacity,
        }
    }

    /// Callers currently remembered.
    pub fn len(&self) -> usize {
        self.callers.lock().states.len()
    }

    /// Whether no caller is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits a request of `caller` under `limits`, or refuses it.
    pub fn admit(
        self: &Arc<Self>,
        caller: &Caller,
        limits: &Throttle,
        now: Instant,
    ) -> Result<Slot, Refusal> {
        let mut callers = self.callers.lock();
        let state = callers.touch(caller, now, self.capacity);
        let base = Duration::from_secs(limits.retry_after_secs.max(1));
        let max = Duration::from_secs(limits.max_retry_after_secs.max(limits.retry_after_secs));
        if let Some((until, limit)) = state.blocked {
            if now < until {
                // Pushing while blocked: double the wait.
                state.strikes = state.strikes.saturating_add(1);
                let wait = base.saturating_mul(1 << state.strikes.min(20)).min(max);
                let until = until.max(later(now, wait)).min(later(now, max));
                state.blocked = Some((until, limit));
                return Err(refusal(limit, until, now));
            }
            state.blocked = None;
        }
        let window = Duration::from_secs(limits.window_secs.max(1));
        let broken = match (limits.requests, limits.concurrency) {
            (Some(requests), _) if state.rate(now, window) + 1.0 > f64::from(requests) => {
                Some(Limit::Rate {
                    requests,
                    window_secs: limits.window_secs,
                })
            }
            (_, Some(n)) if state.in_flight >= n => Some(Limit::Concurrency(n)),
            _ => None,
        };
        if let Some(limit) = broken {
            state.strikes = 0;
            state.blocked = Some((later(now, base), limit));
            return Err(refusal(limit, later(now, base), now));
        }
        state.strikes = 0;
        state.current = state.current.saturating_add(1);
        state.in_flight = state.in_flight.saturating_add(1);
        Ok(Slot {
            throttler: Arc::clone(self),
            caller: caller.clone(),
        })
    }

    /// Forgets every caller (admin reset). A slot still held releases into
    /// the caller's fresh state, saturating at zero: at worst one request
    /// more is admitted right after a reset.
    pub fn clear(&self) {
        let mut callers = self.callers.lock();
        callers.states.clear();
        callers.recency.clear();
    }
}

/// `now + wait`, saturating instead of panicking on absurd configs.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait).unwrap_or(now)
}

fn refusal(limit: Limit, until: Instant, now: Instant) -> Refusal {
    let wait = until.saturating_duration_since(now).as_secs_f64();
    Refusal {
        limit,
        retry_after_secs: (wait.ceil() as u64).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(requests: Option<u32>, concurrency: Option<u32>) -> Throttle {
        Throttle {
            requests,
            window_secs: 60,
            concurrency,
            retry_after_secs: 1,
            max_retry_after_secs: 8,
        }
    }

    #[test]
    fn rate_limit_blocks_and_escalates() {
        let t = Arc::new(Throttler::default());
        let me = Caller("oid:me".into());
        let l = limits(Some(2), None);
        let now = Instant::now();
        let _a = t.admit(&me, &l, now).unwrap();
        let _b = t.admit(&me, &l, now).unwrap();
        let waits: Vec<u64> = (0..6)
            .map(|_| t.admit(&me, &l, now).err().unwrap().retry_after_secs)
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        // Another caller is not affected.
        assert!(t.admit(&Caller("oid:you".into()), &l, now).is_ok());
        // After the block and the window, the caller is admitted again.
        let later = now + Duration::from_secs(200);
        assert!(t.admit(&me, &l, later).is_ok());
    }

    #[test]
    fn the_caller_table_is_bounded_and_forgets_the_least_recent() {
        let t = Arc::new(Throttler::with_capacity(3));
        let l = limits(Some(1), None);
        let now = Instant::now();
        let who = |n: u32| Caller(format!("ip:{n}"));
        // Caller 0 uses its budget and is blocked.
        assert!(t.admit(&who(0), &l, now).is_ok());
        assert!(t.admit(&who(0), &l, now).is_err());
        // Callers 1 and 2 fill the table; 0 is seen again, so 1 is oldest.
        assert!(t.admit(&who(1), &l, now).is_ok());
        assert!(t.admit(&who(2), &l, now).is_ok());
        assert!(t.admit(&who(0), &l, now).is_err());
        assert!(t.admit(&who(3), &l, now).is_ok());
        assert_eq!(t.len(), 3);
        // 1 was forgotten (a fresh budget); 0 is still blocked.
        assert!(t.admit(&who(1), &l, now).is_ok());
        assert!(t.admit(&who(0), &l, now).is_err());
        // A flood of new callers never grows the table.
        for n in 10..10_000 {
            let _ = t.admit(&who(n), &l, now);
        }
        assert_eq!(t.len(), 3);
        let big = Arc::new(Throttler::default());
        for n in 0..(MAX_CALLERS as u32 + 500) {
            let _ = big.admit(&who(n), &l, now);
        }
        assert_eq!(big.len(), MAX_CALLERS);
    }

    #[test]
    fn concurrency_counts_slots_in_flight() {
        let t = Arc::new(Throttler::default());
        let me = Caller("ip:1".into());
        let l = limits(None, Some(1));
        let now = Instant::now();
        let slot = t.admit(&me, &l, now).unwrap();
        let refused = t.admit(&me, &l, now).err().unwrap();
        assert_eq!(refused.limit, Limit::Concurrency(1));
        assert!(refused.limit.message().contains("limit of 1."));
        drop(slot);
        assert!(t.admit(&me, &l, now + Duration::from_secs(2)).is_ok());
    }
}
