//! The cache against the in-memory store, with fills that count their runs.
//!
//! Every test runs on tokio's paused clock: time moves only when every task
//! waits, and then straight to the next timer, so TTLs and deadlines are
//! exact however loaded the machine is. The cache's L1 checks expiry on
//! tokio's clock; `MemoryStore` keeps time on `std`'s, which paused time
//! does not move, so the tests that need L2 entries to expire run on
//! [`TokioClockStore`] (in `stores`, with the always-down `DownStore`).

mod metrics;
pub(crate) mod stores;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use common::{
    config::CacheConfig,
    store::{MemoryStore, SharedStore},
};
use serde_json::json;
use stores::{DownStore, TokioClockStore};
use tokio::time::Instant;

use super::*;

fn key(id: &str) -> CacheKey {
    CacheKey::label("v1hash", "en-us", id)
}

fn read(stats: &CacheStats, counter: fn(&CacheStats) -> &std::sync::atomic::AtomicU64) -> u64 {
    counter(stats).load(Ordering::Relaxed)
}

/// A fill that counts its runs and answers `value` after `delay`.
async fn counted(
    runs: &AtomicUsize,
    delay: Duration,
    value: serde_json::Value,
) -> Result<Entry, WorkerError> {
    runs.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(delay).await;
    Ok(Entry::Found { value })
}

fn two_workers() -> (MetadataCache, MetadataCache, SharedStore) {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let a = MetadataCache::new(CacheConfig::default(), Some(Arc::clone(&store)));
    let b = MetadataCache::new(CacheConfig::default(), Some(Arc::clone(&store)));
    (a, b, store)
}

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_first_gets_on_two_workers_fill_once() {
    let (a, b, store) = two_workers();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let cache = if i % 2 == 0 { a.clone() } else { b.clone() };
        let runs = Arc::clone(&runs);
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_fill(&key("@SYS1"), Deadline::NONE, || {
                    counted(&runs, Duration::from_millis(50), json!("Company"))
                })
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().value(), Some(&json!("Company")));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one fill for the cluster");
    let fills = read(a.stats(), |s| &s.fills) + read(b.stats(), |s| &s.fills);
    assert_eq!(fills, 1);
    // The worker that lost the lock waited for the other's value.
    let remote = read(a.stats(), |s| &s.remote_waits) + read(b.stats(), |s| &s.remote_waits);
    assert_eq!(remote, 1);
    let coalesced =
        read(a.stats(), |s| &s.coalesced_waits) + read(b.stats(), |s| &s.coalesced_waits);
    assert_eq!(coalesced, 48, "24 waiters on each worker");
    // The lock is gone and the value is in the store.
    assert!(store.get(&key("@SYS1").lock_key()).await.unwrap().is_none());
    assert!(store.get(key("@SYS1").as_str()).await.unwrap().is_some());

    // A second get is an L1 hit; a third worker gets an L2 hit.
    let before = read(a.stats(), |s| &s.l1_hits);
    a.get_or_fill(&key("@SYS1"), Deadline::NONE, || async {
        panic!("must not fill")
    })
    .await
    .unwrap();
    assert_eq!(read(a.stats(), |s| &s.l1_hits), before + 1);
    let c = MetadataCache::new(CacheConfig::default(), Some(store));
    let hit = c
        .get_or_fill(&key("@SYS1"), Deadline::NONE, || async {
            panic!("must not fill")
        })
        .await
        .unwrap();
    assert_eq!(hit.value(), Some(&json!("Company")));
    assert_eq!(read(c.stats(), |s| &s.l2_hits), 1);
}

#[tokio::test(start_paused = true)]
async fn missing_things_are_cached_shorter() {
    let store: SharedStore = Arc::new(TokioClockStore::default());
    let config = CacheConfig {
        negative_ttl: Duration::from_secs(300),
        ..CacheConfig::default()
    };
    let cache = MetadataCache::new(config, Some(store));
    let runs = AtomicUsize::new(0);
    let missing = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Entry::from_read(Err(WorkerError::NotFound {
            message: "no such label".into(),
        }))
    };
    for _ in 0..10 {
        let entry = cache
            .get_or_fill(&key("@NOPE1"), Deadline::NONE, missing)
            .await
            .unwrap();
        assert!(matches!(&*entry, Entry::Missing { message } if message == "no such label"));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(read(cache.stats(), |s| &s.negative_hits), 9);
    // Still there just before the negative TTL, gone just after it, while a
    // found entry (24 h) would live on.
    tokio::time::advance(Duration::from_millis(299_990)).await;
    cache
        .get_or_fill(&key("@NOPE1"), Deadline::NONE, missing)
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_millis(20)).await;
    cache
        .get_or_fill(&key("@NOPE1"), Deadline::NONE, missing)
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "expired in L1 and L2");
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_their_ttl() {
    let store: SharedStore = Arc::new(TokioClockStore::default());
    let config = CacheConfig {
        ttl: Duration::from_secs(2),
        negative_ttl: Duration::from_secs(1),
        l1_ttl: Duration::from_secs(1),
        ..CacheConfig::default()
    };
    let cache = MetadataCache::new(config, Some(store));
    let runs = AtomicUsize::new(0);
    let sys2 = key("@SYS2");
    let get = || {
        cache.get_or_fill(&sys2, Deadline::NONE, || {
            counted(&runs, Duration::ZERO, json!(1))
        })
    };
    get().await.unwrap();
    tokio::time::advance(Duration::from_millis(990)).await;
    get().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(read(cache.stats(), |s| &s.l1_hits), 1, "still in L1");
    // Gone from L1, still in L2 (which put it back in L1 for another 1 s).
    tokio::time::advance(Duration::from_millis(20)).await;
    get().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(read(cache.stats(), |s| &s.l2_hits), 1);
    // Gone from both: 2 s after the fill, though L1 took it again at 1 s.
    tokio::time::advance(Duration::from_millis(1000)).await;
    get().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn fill_errors_reach_every_waiter_and_are_not_cached() {
    let (a, _, store) = two_workers();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (cache, runs) = (a.clone(), Arc::clone(&runs));
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_fill(&key("@SYS3"), Deadline::NONE, || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    Err(WorkerError::Throttled {
                        retry_after: Some(Duration::from_secs(2)),
                    })
                })
                .await
        }));
    }
    for task in tasks {
        let error = task.await.unwrap().unwrap_err();
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(read(a.stats(), |s| &s.fill_errors), 1);
    assert!(store.get(&key("@SYS3").lock_key()).await.unwrap().is_none());
    let runs2 = AtomicUsize::new(0);
    a.get_or_fill(&key("@SYS3"), Deadline::NONE, || {
        counted(&runs2, Duration::ZERO, json!("ok"))
    })
    .await
    .unwrap();
    assert_eq!(runs2.load(Ordering::SeqCst), 1, "the error was not cached");
}

/// A fill that fails as a D365FO read does when `deadline` passes first.
async fn late(runs: &AtomicUsize, deadline: Deadline) -> Result<Entry, WorkerError> {
    runs.fetch_add(1, Ordering::SeqCst);
    if let Some(left) = deadline.remaining() {
        tokio::time::sleep(left).await;
    }
    Err(WorkerError::DeadlineExceeded(
        "the call's deadline passed before D365FO answered".into(),
    ))
}

#[tokio::test(start_paused = true)]
async fn a_waiter_does_not_inherit_a_shorter_deadline() {
    let (a, _, _) = two_workers();
    let runs = Arc::new(AtomicUsize::new(0));
    let hurried = {
        let (cache, runs) = (a.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            let deadline = Deadline::after(Duration::from_millis(100));
            cache
                .get_or_fill(&key("@SYS9"), deadline, || late(&runs, deadline))
                .await
        })
    };
    // Joins the first caller's fill, with 10 s to spare.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let patient = {
        let (cache, runs) = (a.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            cache
                .get_or_fill(
                    &key("@SYS9"),
                    Deadline::after(Duration::from_secs(10)),
                    || counted(&runs, Duration::from_millis(500), json!("Ship date")),
                )
                .await
        })
    };
    let error = hurried.await.unwrap().unwrap_err();
    assert_eq!(error.code(), common::ErrorCode::DeadlineExceeded);
    let entry = patient.await.unwrap().unwrap();
    assert_eq!(entry.value(), Some(&json!("Ship date")));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the waiter filled again");
    assert_eq!(read(a.stats(), |s| &s.deadline_retries), 1);

    // A waiter whose own deadline has passed too takes the error as is.
    let runs = Arc::new(AtomicUsize::new(0));
    let deadline = Deadline::after(Duration::from_millis(100));
    let first = {
        let (cache, runs) = (a.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            cache
                .get_or_fill(&key("@SYS10"), deadline, || late(&runs, deadline))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = a
        .get_or_fill(&key("@SYS10"), deadline, || async {
            panic!("its deadline has passed: no fill of its own")
        })
        .await
        .unwrap_err();
    assert_eq!(second.code(), common::ErrorCode::DeadlineExceeded);
    first.await.unwrap().unwrap_err();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn only_d365fos_own_404_is_cached_as_missing() {
    use crate::d365::errors::from_response;
    let odata = r#"{"error":{"code":"","message":"Resource not found for the segment 'Labels'."}}"#;
    let entry = Entry::from_read(Err(from_response(404, None, odata))).unwrap();
    assert!(
        matches!(&entry, Entry::Missing { message } if message.contains("segment 'Labels'")),
        "{entry:?}"
    );
    let no_message = r#"{"error":{"code":"404","message":""}}"#;
    assert!(matches!(
        Entry::from_read(Err(from_response(404, None, no_message))),
        Ok(Entry::Missing { .. })
    ));
    // What a gateway or proxy answers is not D365FO's word on the thing.
    for body in [
        "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head></html>",
        "<html><body>Not Found</body></html>",
        "",
        "   ",
        "Not Found",
    ] {
        let error = Entry::from_read(Err(from_response(404, None, body))).unwrap_err();
        assert_eq!(
            error.code(),
            common::ErrorCode::UpstreamUnavailable,
            "{body:?}: {error}"
        );
        assert!(error.to_string().contains("404"), "{error}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_fill_releases_its_lock() {
    let (a, b, store) = two_workers();
    let stalled = tokio::time::timeout(
        Duration::from_millis(50),
        a.get_or_fill(&key("@SYS4"), Deadline::NONE, || async {
            std::future::pending::<Result<Entry, WorkerError>>().await
        }),
    )
    .await;
    assert!(stalled.is_err());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.get(&key("@SYS4").lock_key()).await.unwrap().is_none());
    // So the other worker fills at once instead of waiting 30 s.
    let started = Instant::now();
    let runs = AtomicUsize::new(0);
    b.get_or_fill(&key("@SYS4"), Deadline::NONE, || {
        counted(&runs, Duration::ZERO, json!("x"))
    })
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gives_up_at_its_deadline() {
    let (_, b, store) = two_workers();
    // Another worker holds the lock and never writes.
    store
        .set_if_absent(
            &key("@SYS5").lock_key(),
            Bytes::from_static(b"other"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let error = b
        .get_or_fill(
            &key("@SYS5"),
            Deadline::after(Duration::from_millis(100)),
            || async { panic!("the lock is held elsewhere") },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), common::ErrorCode::DeadlineExceeded);
    assert!(error.to_string().contains("another worker"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_store_that_is_down_costs_requests_not_calls() {
    let cache = MetadataCache::new(
        CacheConfig::default(),
        Some(Arc::new(DownStore(Duration::ZERO))),
    );
    let runs = AtomicUsize::new(0);
    for _ in 0..3 {
        let entry = cache
            .get_or_fill(&key("@SYS6"), Deadline::NONE, || {
                counted(&runs, Duration::ZERO, json!("text"))
            })
            .await
            .unwrap();
        assert_eq!(entry.value(), Some(&json!("text")));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "L1 still works");
    assert_eq!(read(cache.stats(), |s| &s.store_errors), 1);
    let snapshot = cache.snapshot();
    assert_eq!(snapshot["l1_hits"], 2);
    assert_eq!(snapshot["misses"], 1);
}

#[tokio::test(start_paused = true)]
async fn without_a_store_l1_alone_serves() {
    let cache = MetadataCache::new(CacheConfig::default(), None);
    let runs = AtomicUsize::new(0);
    for _ in 0..2 {
        cache
            .get_or_fill(&key("@SYS7"), Deadline::NONE, || {
                counted(&runs, Duration::ZERO, json!(7))
            })
            .await
            .unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(cache.peek(&key("@SYS7")).await.is_some());
    assert!(cache.peek(&key("@SYS8")).await.is_none());
}
