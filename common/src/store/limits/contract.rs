//! The rate-limit part of the store contract (`store::contract::run_all`
//! calls it): what every backend's [`RateLimitStore`] must do, on real time.

// Test support: a broken contract should fail loudly, naming the check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::{Limit, RateLimitStore};

/// Runs every rate-limit check on keys under `p`.
pub async fn run(store: &dyn RateLimitStore, p: &str) {
    burst_then_refusal(store, p).await;
    refill(store, p).await;
    atomic_under_concurrency(store, p).await;
}

async fn burst_then_refusal(store: &dyn RateLimitStore, p: &str) {
    let key = format!("{p}rl:burst");
    let limit = Limit {
        rate_per_second: 1.0,
        burst: 3,
    };
    for expected in [2, 1, 0] {
        let d = store.acquire(&key, limit, 1).await.unwrap();
        assert!(d.allowed, "rate limit: the burst is admitted");
        assert_eq!(d.remaining, expected, "rate limit: remaining counts down");
        assert_eq!(d.retry_after, Duration::ZERO);
    }
    let d = store.acquire(&key, limit, 1).await.unwrap();
    assert!(!d.allowed, "rate limit: beyond the burst is refused");
    assert!(
        d.retry_after > Duration::from_millis(500) && d.retry_after <= Duration::from_secs(1),
        "rate limit: the wait is about one interval, got {:?}",
        d.retry_after
    );
    let other = store
        .acquire(&format!("{p}rl:other"), limit, 3)
        .await
        .unwrap();
    assert!(other.allowed, "rate limit: keys are independent");
    let too_big = store
        .acquire(&format!("{p}rl:big"), limit, 4)
        .await
        .unwrap();
    assert!(
        !too_big.allowed,
        "rate limit: a cost above the burst is refused"
    );
}

async fn refill(store: &dyn RateLimitStore, p: &str) {
    let key = format!("{p}rl:refill");
    let limit = Limit {
        rate_per_second: 20.0,
        burst: 1,
    };
    assert!(store.acquire(&key, limit, 1).await.unwrap().allowed);
    let refused = store.acquire(&key, limit, 1).await.unwrap();
    assert!(
        !refused.allowed,
        "rate limit: the second at once is refused"
    );
    assert!(refused.retry_after <= Duration::from_millis(50));
    tokio::time::sleep(refused.retry_after + Duration::from_millis(20)).await;
    assert!(
        store.acquire(&key, limit, 1).await.unwrap().allowed,
        "rate limit: admitted again after the retry hint"
    );
}

async fn atomic_under_concurrency(store: &dyn RateLimitStore, p: &str) {
    let key = format!("{p}rl:race");
    let limit = Limit {
        rate_per_second: 0.01,
        burst: 10,
    };
    let tries = (0..50).map(|_| store.acquire(&key, limit, 1));
    let admitted = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter(|d| d.as_ref().unwrap().allowed)
        .count();
    assert_eq!(
        admitted, 10,
        "rate limit: concurrent requests share one burst"
    );
}
