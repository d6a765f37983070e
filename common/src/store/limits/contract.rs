//! The rate-limit part of the store contract (`store::contract::run_all`
//! calls it): what every backend's [`RateLimitStore`] must do, on real time.

// Test support: a broken contract should fail loudly, naming the check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::{Limit, RateLimitStore, Take};

/// Runs every rate-limit check on keys under `p`.
pub async fn run(store: &dyn RateLimitStore, p: &str) {
    burst_then_refusal(store, p).await;
    refill(store, p).await;
    atomic_under_concurrency(store, p).await;
    several_buckets_all_or_nothing(store, p).await;
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

/// One request's buckets (keys with one hash tag, as on Redis Cluster one
/// script's keys must be): taken together, or none when one refuses.
async fn several_buckets_all_or_nothing(store: &dyn RateLimitStore, p: &str) {
    let keys = ["a", "b", "c"].map(|k| format!("{p}rl:{{call}}:{k}"));
    let limit = |burst| Limit {
        rate_per_second: 0.01,
        burst,
    };
    let take = |i: usize, burst| Take {
        key: &keys[i],
        limit: limit(burst),
        cost: 1,
    };
    assert!(store.acquire_all(&[]).await.unwrap().is_empty());
    let both = store.acquire_all(&[take(0, 2), take(1, 1)]).await.unwrap();
    assert_eq!(both.len(), 2, "rate limits: one decision per bucket");
    assert!(both.iter().all(|d| d.allowed));
    assert_eq!((both[0].remaining, both[1].remaining), (1, 0));

    let refused = store.acquire_all(&[take(0, 2), take(1, 1)]).await.unwrap();
    assert_eq!(refused.len(), 2);
    assert!(refused[0].allowed, "rate limits: the first would admit");
    assert!(!refused[1].allowed, "rate limits: the second refuses");
    assert!(refused[1].retry_after > Duration::ZERO);
    let first = store.acquire(&keys[0], limit(2), 1).await.unwrap();
    assert!(
        first.allowed && first.remaining == 0,
        "rate limits: a refused request took nothing from the bucket before"
    );

    let stopped = store.acquire_all(&[take(0, 2), take(2, 3)]).await.unwrap();
    assert_eq!(
        stopped.len(),
        1,
        "rate limits: the buckets after a refusal are not asked"
    );
    assert!(!stopped[0].allowed);
    let untouched = store.acquire(&keys[2], limit(3), 3).await.unwrap();
    assert!(
        untouched.allowed,
        "rate limits: a bucket after a refusal keeps its whole burst"
    );
}
