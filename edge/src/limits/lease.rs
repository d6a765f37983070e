//! Leases: units a busy edge takes from a shared bucket ahead of need, so
//! that a high limit does not cost a store round trip per request.
//!
//! A lease is taken from the shared bucket like any request (GCRA, cost
//! `n`), then spent by this edge alone, one unit per request, without the
//! store. Every admission is still a unit taken from the shared bucket, so
//! the promise of the limits holds unchanged across edges: over any `t`
//! seconds a bucket admits at most `rate × t + burst`. What a lease costs is
//! precision the other way: units leased and not spent before they expire
//! are lost, so a client near its limit may be refused slightly early (by at
//! most one lease per edge).
//!
//! Leases are sized by demand and capped by the limit:
//! - at most [`CAP_SPAN`] worth of the limit's rate and a quarter of its
//!   burst. A lease of one unit is no lease, so only limits of 2,000
//!   requests a second and more (with a burst of at least 8) lease at all;
//!   below that (the defaults are 100/s per key and 500/s per tenant)
//!   every request goes to the store exactly as without leases;
//! - a lease spent within [`TARGET_SPAN`] makes the next one twice as
//!   large; one that lasted over four times that makes it half as large.
//!   A lease refused by the shared bucket is retried as one unit, and the
//!   next ones are single units until one is admitted, so leasing never
//!   refuses a request the bucket would admit;
//! - units left after [`LEASE_LIFETIME`] are dropped: the next request asks
//!   the store again.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use common::store::Limit;
use parking_lot::Mutex;

/// The most of a limit's rate one lease holds, as time: a lease holds at
/// most `rate × CAP_SPAN` units.
pub const CAP_SPAN: Duration = Duration::from_millis(1);

/// How long a lease should last: a busier edge takes larger ones.
pub const TARGET_SPAN: Duration = Duration::from_millis(10);

/// How long units of a lease may be spent.
pub const LEASE_LIFETIME: Duration = Duration::from_millis(100);

/// Leases held beyond which expired ones are swept.
const SWEEP_ABOVE: usize = 4096;

/// The leases of one edge, by bucket key.
#[derive(Default)]
pub struct Leases {
    held: Mutex<HashMap<String, Lease>>,
}

struct Lease {
    /// Units that may still be spent.
    left: u32,
    /// The size of the lease to take next.
    next: u32,
    /// When the last lease was taken.
    taken: Instant,
}

impl Leases {
    /// Spends one leased unit of `key`, if one is held and alive.
    pub fn spend(&self, key: &str) -> bool {
        let mut held = self.held.lock();
        match held.get_mut(key) {
            Some(lease) if lease.left > 0 && lease.taken.elapsed() < LEASE_LIFETIME => {
                lease.left -= 1;
                true
            }
            _ => false,
        }
    }

    /// Gives back a unit [`Leases::spend`] took, for a request refused by
    /// another of its buckets (it took nothing).
    pub fn unspend(&self, key: &str) {
        if let Some(lease) = self.held.lock().get_mut(key) {
            lease.left = lease.left.saturating_add(1);
        }
    }

    /// How many units to ask the shared store for, for a request on `key`
    /// under `limit` that found no leased unit: the request's own plus
    /// the lease.
    pub fn size(&self, key: &str, limit: Limit) -> u32 {
        let cap = cap(limit);
        if cap <= 1 {
            return 1;
        }
        let held = self.held.lock();
        let Some(lease) = held.get(key) else {
            // The first lease: a request's unit and one more.
            return 2.min(cap);
        };
        let lasted = lease.taken.elapsed();
        let next = if lease.next == 0 {
            1
        } else if lasted < TARGET_SPAN {
            lease.next.saturating_mul(2)
        } else if lasted > 4 * TARGET_SPAN {
            lease.next / 2
        } else {
            lease.next
        };
        next.clamp(1, cap)
    }

    /// Records that `units` were taken from `key`'s bucket for one request:
    /// the rest are this edge's to spend.
    pub fn taken(&self, key: &str, units: u32) {
        let mut held = self.held.lock();
        if units <= 1 && !held.contains_key(key) {
            return;
        }
        let now = Instant::now();
        if held.len() >= SWEEP_ABOVE {
            held.retain(|_, lease| now.duration_since(lease.taken) < LEASE_LIFETIME);
        }
        let lease = held.entry(key.to_owned()).or_insert(Lease {
            left: 0,
            next: 1,
            taken: now,
        });
        let alive = now.duration_since(lease.taken) < LEASE_LIFETIME;
        lease.left = if alive { lease.left } else { 0 } + units.saturating_sub(1);
        lease.next = units.max(1);
        lease.taken = now;
    }

    /// Drops `key`'s lease: its bucket refused a lease, so this edge asks
    /// for one unit per request until one is admitted.
    pub fn refused(&self, key: &str) {
        if let Some(lease) = self.held.lock().get_mut(key) {
            lease.left = 0;
            lease.next = 0;
        }
    }

    /// Leases held (alive or not yet swept).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.held.lock().len()
    }
}

/// The largest lease `limit` allows.
fn cap(limit: Limit) -> u32 {
    let by_rate = limit.rate_per_second * CAP_SPAN.as_secs_f64();
    let by_burst = f64::from(limit.burst / 4);
    by_rate
        .min(by_burst)
        .floor()
        .clamp(1.0, f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rate: f64, burst: u32) -> Limit {
        Limit {
            rate_per_second: rate,
            burst,
        }
    }

    #[test]
    fn ordinary_limits_lease_nothing() {
        let leases = Leases::default();
        for l in [
            limit(100.0, 100),
            limit(500.0, 1000),
            limit(1999.0, 4000),
            limit(1e6, 7),
        ] {
            leases.taken("k", 1);
            assert_eq!(leases.size("k", l), 1, "{l:?}");
            assert!(!leases.spend("k"));
        }
        assert_eq!(leases.len(), 0, "one-unit takes keep no state");
        assert_eq!(
            leases.size("k", limit(2000.0, 8)),
            2,
            "the smallest limit that leases"
        );
    }

    #[test]
    fn a_lease_grows_while_spent_quickly_up_to_its_cap_and_is_spent_once() {
        let leases = Leases::default();
        let l = limit(1_000_000.0, 100_000);
        let mut size = 1;
        let mut store_calls = 0;
        let mut admitted = 0;
        for _ in 0..5_000 {
            if leases.spend("k") {
                admitted += 1;
                continue;
            }
            size = leases.size("k", l);
            leases.taken("k", size);
            store_calls += 1;
            admitted += 1;
        }
        assert_eq!(admitted, 5_000);
        assert_eq!(size, 1_000, "capped at rate × CAP_SPAN");
        assert!(store_calls < 30, "{store_calls} store calls");
    }

    #[test]
    fn leased_units_expire() {
        let leases = Leases::default();
        leases.taken("k", 8);
        assert!(leases.spend("k"));
        // A sleep on purpose: the lease's lifetime passing is what is
        // tested, and a longer sleep only makes it more expired.
        std::thread::sleep(LEASE_LIFETIME + Duration::from_millis(5));
        assert!(!leases.spend("k"), "spent after its lifetime");
        assert_eq!(
            leases.size("k", limit(1e6, 1_000_000)),
            4,
            "halved: it lasted"
        );
        leases.taken("k", 4);
        assert_eq!(
            leases.size("k", limit(1e6, 1_000_000)),
            8,
            "doubled: spent at once"
        );
    }

    #[test]
    fn a_refused_lease_goes_back_to_one_unit() {
        let leases = Leases::default();
        let l = limit(1e6, 1_000_000);
        leases.taken("k", 16);
        leases.refused("k");
        assert!(!leases.spend("k"));
        assert_eq!(leases.size("k", l), 1);
        assert_eq!(leases.size("k", l), 1, "until one unit is admitted");
        leases.taken("k", 1);
        assert_eq!(leases.size("k", l), 2);
    }
}
