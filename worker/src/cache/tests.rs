//! The cache against the in-memory store, with fills that count their runs.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use common::{
    config::CacheConfig,
    store::{
        CounterStore, EventLog, KvStore, LoggedEvent, MemoryStore, PubSub, SharedStore, StoreError,
        StoreResult,
    },
};
use futures::stream::BoxStream;
use serde_json::json;

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

#[tokio::test]
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

#[tokio::test]
async fn missing_things_are_cached_shorter() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let config = CacheConfig {
        negative_ttl: Duration::from_millis(150),
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
    tokio::time::sleep(Duration::from_millis(200)).await;
    cache
        .get_or_fill(&key("@NOPE1"), Deadline::NONE, missing)
        .await
        .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "expired in L1 and L2");
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let config = CacheConfig {
        ttl: Duration::from_millis(200),
        negative_ttl: Duration::from_millis(100),
        l1_ttl: Duration::from_millis(100),
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
    get().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Gone from L1, still in L2.
    tokio::time::sleep(Duration::from_millis(130)).await;
    get().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(read(cache.stats(), |s| &s.l2_hits), 1);
    // Gone from both.
    tokio::time::sleep(Duration::from_millis(230)).await;
    get().await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
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

#[tokio::test]
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
    let started = std::time::Instant::now();
    let runs = AtomicUsize::new(0);
    b.get_or_fill(&key("@SYS4"), Deadline::NONE, || {
        counted(&runs, Duration::ZERO, json!("x"))
    })
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
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

/// A store whose every operation fails, as Redis does when unreachable.
struct DownStore;

fn down<T>() -> StoreResult<T> {
    Err(StoreError::Unavailable("connection refused".into()))
}

#[async_trait]
impl KvStore for DownStore {
    async fn get(&self, _: &str) -> StoreResult<Option<Bytes>> {
        down()
    }
    async fn set(&self, _: &str, _: Bytes, _: Option<Duration>) -> StoreResult<()> {
        down()
    }
    async fn set_if_absent(&self, _: &str, _: Bytes, _: Duration) -> StoreResult<bool> {
        down()
    }
    async fn delete(&self, _: &str) -> StoreResult<bool> {
        down()
    }
    async fn expire(&self, _: &str, _: Duration) -> StoreResult<bool> {
        down()
    }
}

#[async_trait]
impl CounterStore for DownStore {
    async fn incr(&self, _: &str, _: i64, _: Duration) -> StoreResult<i64> {
        down()
    }
}

#[async_trait]
impl EventLog for DownStore {
    async fn append(&self, _: &str, _: Bytes, _: usize, _: Duration) -> StoreResult<u64> {
        down()
    }
    async fn read_after(&self, _: &str, _: u64, _: usize) -> StoreResult<Vec<LoggedEvent>> {
        down()
    }
}

#[async_trait]
impl PubSub for DownStore {
    async fn publish(&self, _: &str, _: Bytes) -> StoreResult<usize> {
        down()
    }
    async fn subscribe(&self, _: &str) -> StoreResult<BoxStream<'static, Bytes>> {
        down()
    }
}

#[tokio::test]
async fn a_store_that_is_down_costs_requests_not_calls() {
    let cache = MetadataCache::new(CacheConfig::default(), Some(Arc::new(DownStore)));
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

#[tokio::test]
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
