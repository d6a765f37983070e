//! Rate limits as a store capability: [`RateLimitStore::acquire_all`]
//! takes units from every bucket a request counts against (its caller's,
//! its tenant's, its tool's) in one atomic step, wherever the buckets live:
//! all of them or, when one refuses, none. One step is one round trip to
//! Redis per request however many limits apply ([`RateLimitStore::acquire`]
//! is the same for one bucket).
//!
//! The algorithm is GCRA (the generic cell rate algorithm): a bucket is one
//! number, its *theoretical arrival time* (TAT), the instant at which it
//! would be full again. A request of cost `c` moves the TAT `c` emission
//! intervals (`1 / rate`) later; it is admitted when the new TAT is at most
//! `burst` intervals ahead of now. Over any span of `t` seconds a bucket so
//! admits at most `rate × t + burst` units — exactly the bound a caller is
//! promised — with one value per key and one round trip per decision, where
//! a sliding-window log keeps an entry per request and a two-window counter
//! only approximates the bound.
//!
//! [`gcra`] is that rule as a pure function of a clock reading; the
//! in-memory backend ([`LocalLimiter`]) calls it and the Redis backend runs
//! the same rule as one Lua script over the request's keys, on the Redis
//! server's clock. On Redis Cluster a script's keys must share a hash slot:
//! the keys of one [`RateLimitStore::acquire_all`] carry one hash tag (the
//! edge tags them with the caller's tenant).

pub(crate) mod contract;
mod memory;

use std::time::Duration;

use async_trait::async_trait;

pub use memory::LocalLimiter;

use super::StoreResult;

/// The prefix of every rate-limit key; `v1` names the value's layout (a TAT
/// in microseconds), so a change of layout never reads an old value.
pub const KEY_PREFIX: &str = "d365mcp:rl:v1:";

/// A rate and the burst allowed on top of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Units admitted per second in the long run (may be below 1).
    pub rate_per_second: f64,
    /// Units admitted at once by a bucket that has been idle (at least 1).
    pub burst: u32,
}

impl Limit {
    /// The time one unit takes to drip back, in microseconds.
    pub fn interval_micros(&self) -> f64 {
        1_000_000.0 / self.rate_per_second
    }
}

/// What [`RateLimitStore::acquire`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the units were taken.
    pub allowed: bool,
    /// When refused, how long until the same request would be admitted
    /// (zero when allowed).
    pub retry_after: Duration,
    /// Units that could still be taken at once after this decision.
    pub remaining: u64,
}

/// Units to take from one bucket, one of a request's [`RateLimitStore::acquire_all`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Take<'a> {
    /// The bucket's key. The keys of one call are distinct and, for Redis
    /// Cluster, share a hash tag (`{…}`), so that one script may touch them.
    pub key: &'a str,
    /// The bucket's rate and burst.
    pub limit: Limit,
    /// Units to take; above `limit.burst` never admitted.
    pub cost: u32,
}

/// Atomic rate-limit buckets.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Takes from the buckets of `takes` in order, atomically and all or
    /// nothing: when a bucket refuses, the ones after it are not asked and
    /// no bucket gives anything. Returns one decision per bucket asked: all
    /// admitted, or the last one refused (the earlier ones then say what
    /// they would have admitted, and kept their units). A bucket lives (its
    /// key has a TTL) only until it is full again.
    async fn acquire_all(&self, takes: &[Take<'_>]) -> StoreResult<Vec<Decision>>;

    /// Takes `cost` units from the bucket at `key` under `limit`, or refuses
    /// and takes nothing: [`RateLimitStore::acquire_all`] of one bucket.
    async fn acquire(&self, key: &str, limit: Limit, cost: u32) -> StoreResult<Decision> {
        let take = Take { key, limit, cost };
        let decisions = self.acquire_all(&[take]).await?;
        decisions.first().copied().ok_or_else(|| {
            super::StoreError::Protocol("a rate-limit store decided nothing for one bucket".into())
        })
    }
}

/// Slack on the burst, in microseconds, that absorbs floating-point
/// rounding: at Unix time in microseconds (about 2^51) a double's step is a
/// quarter of a microsecond, so `tat - now` may miss by that much.
pub const SLACK_MICROS: f64 = 1.0;

/// One GCRA decision at `now` (microseconds on any clock that never goes
/// back) for a bucket whose stored TAT is `tat` (`None` when it is full).
/// Returns the decision and, when admitted, the TAT to store.
///
/// Computed on how far the TAT is ahead of now, so that an idle bucket
/// (ahead by exactly zero) admits exactly `burst` units.
pub fn gcra(tat: Option<f64>, now: f64, limit: Limit, cost: u32) -> (Decision, Option<f64>) {
    let interval = limit.interval_micros();
    let tolerance = f64::from(limit.burst) * interval;
    let ahead = tat.map_or(0.0, |t| (t - now).max(0.0));
    let new_ahead = ahead + f64::from(cost) * interval;
    if new_ahead > tolerance + SLACK_MICROS {
        let decision = Decision {
            allowed: false,
            retry_after: micros(new_ahead - tolerance),
            remaining: units(tolerance - ahead, interval),
        };
        return (decision, None);
    }
    let decision = Decision {
        allowed: true,
        retry_after: Duration::ZERO,
        remaining: units(tolerance - new_ahead, interval),
    };
    (decision, Some(now + new_ahead))
}

/// A span in microseconds as a duration, rounded up.
fn micros(span: f64) -> Duration {
    Duration::from_micros(span.ceil().clamp(0.0, u64::MAX as f64) as u64)
}

/// Whole intervals in `span` (with the same slack as the decision).
fn units(span: f64, interval: f64) -> u64 {
    ((span + SLACK_MICROS) / interval)
        .floor()
        .clamp(0.0, u64::MAX as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: f64 = 1_000_000.0;

    fn limit(rate: f64, burst: u32) -> Limit {
        Limit {
            rate_per_second: rate,
            burst,
        }
    }

    /// Runs `n` requests of cost 1 at `now` from `tat`; how many were admitted.
    fn admit(tat: &mut Option<f64>, now: f64, l: Limit, n: usize) -> usize {
        (0..n)
            .filter(|_| {
                let (d, next) = gcra(*tat, now, l, 1);
                if let Some(next) = next {
                    *tat = Some(next);
                }
                d.allowed
            })
            .count()
    }

    #[test]
    fn an_idle_bucket_admits_its_burst_then_refuses_with_the_wait() {
        let l = limit(2.0, 3);
        let mut tat = None;
        assert_eq!(admit(&mut tat, 0.0, l, 10), 3);
        let (d, next) = gcra(tat, 0.0, l, 1);
        assert!(!d.allowed && next.is_none());
        assert_eq!(d.retry_after, Duration::from_millis(500), "one interval");
        assert_eq!(d.remaining, 0);
        let (d, _) = gcra(tat, 0.5 * SECOND, l, 1);
        assert!(d.allowed, "admitted exactly when told");
    }

    #[test]
    fn admissions_never_exceed_rate_times_elapsed_plus_burst() {
        for (rate, burst) in [(10.0, 1), (3.0, 7), (0.5, 2), (1000.0, 50)] {
            let l = limit(rate, burst);
            let mut tat = None;
            let mut admitted = 0;
            // Ten requests every 10 ms for 5 s.
            for step in 0..500 {
                admitted += admit(&mut tat, f64::from(step) * 10_000.0, l, 10);
            }
            let bound = (rate * 5.0).floor() as usize + burst as usize;
            assert!(admitted <= bound, "{rate}/s+{burst}: {admitted} > {bound}");
            assert!(
                admitted + 1 >= bound.min(5000),
                "{rate}/s+{burst}: only {admitted} of {bound}"
            );
        }
    }

    #[test]
    fn a_refusal_takes_nothing_and_remaining_counts_down() {
        let l = limit(1.0, 5);
        let (d, tat) = gcra(None, 0.0, l, 2);
        assert!(d.allowed);
        assert_eq!(d.remaining, 3);
        let (d, none) = gcra(tat, 0.0, l, 4);
        assert!(!d.allowed && none.is_none());
        assert_eq!(d.remaining, 3, "a refusal leaves the bucket as it was");
        assert_eq!(d.retry_after, Duration::from_secs(1));
        let (d, _) = gcra(tat, 0.0, l, 6);
        assert!(!d.allowed, "more than the burst is never admitted");
    }

    #[test]
    fn an_idle_bucket_admits_its_whole_burst_on_any_clock_reading() {
        // Unix time in microseconds, where a double's step is 0.25 µs.
        for now in [0.0, 123.456, 1.7e15 + 0.25] {
            for (rate, burst) in [(0.01, 1), (3.0, 3), (7.0, 5)] {
                let mut tat = None;
                assert_eq!(admit(&mut tat, now, limit(rate, burst), 9), burst as usize);
            }
        }
    }

    #[test]
    fn a_bucket_refills_while_idle_but_never_beyond_its_burst() {
        let l = limit(1.0, 2);
        let mut tat = None;
        assert_eq!(admit(&mut tat, 0.0, l, 5), 2);
        assert_eq!(admit(&mut tat, 100.0 * SECOND, l, 5), 2);
    }
}
