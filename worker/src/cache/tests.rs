//! The cache against the in-memory store, with fills that count their runs.
//!
//! Every test runs on tokio's paused clock: time moves only when every task
//! waits, and then straight to the next timer, so TTLs and deadlines are
//! exact however loaded the machine is. The cache's L1 checks expiry on
//! tokio's clock; `MemoryStore` keeps time on `std`'s, which paused time
//! does not move, so the tests that need L2 entries to expire run on
//! [`TokioClockStore`].

use std::{
    collections::HashMap,
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

/// `MemoryStore` with its key-value TTLs kept on tokio's clock, so paused
/// time expires them: an entry is dropped once tokio's clock passes the
/// expiry recorded here (`MemoryStore`'s own, on `std`'s clock, never
/// comes first in a test that lasts milliseconds).
#[derive(Default)]
struct TokioClockStore {
    inner: MemoryStore,
    expiries: parking_lot::Mutex<HashMap<String, Instant>>,
}

impl TokioClockStore {
    /// Deletes `key` if its TTL has passed on tokio's clock.
    async fn purge(&self, key: &str) {
        let expired = {
            let mut expiries = self.expiries.lock();
            let expired = expiries.get(key).is_some_and(|at| *at <= Instant::now());
            if expired {
                expiries.remove(key);
            }
            expired
        };
        if expired {
            let _ = self.inner.delete(key).await;
        }
    }

    fn expire_after(&self, key: &str, ttl: Option<Duration>) {
        let mut expiries = self.expiries.lock();
        match ttl {
            Some(ttl) => expiries.insert(key.to_owned(), Instant::now() + ttl),
            None => expiries.remove(key),
        };
    }
}

#[async_trait]
impl KvStore for TokioClockStore {
    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>> {
        self.purge(key).await;
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> StoreResult<()> {
        self.inner.set(key, value, ttl).await?;
        self.expire_after(key, ttl);
        Ok(())
    }
    async fn set_if_absent(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool> {
        self.purge(key).await;
        let set = self.inner.set_if_absent(key, value, ttl).await?;
        if set {
            self.expire_after(key, Some(ttl));
        }
        Ok(set)
    }
    async fn delete(&self, key: &str) -> StoreResult<bool> {
        self.purge(key).await;
        self.expire_after(key, None);
        self.inner.delete(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        self.purge(key).await;
        let exists = self.inner.expire(key, ttl).await?;
        if exists {
            self.expire_after(key, Some(ttl));
        }
        Ok(exists)
    }
}

#[async_trait]
impl CounterStore for TokioClockStore {
    async fn incr(&self, key: &str, by: i64, window: Duration) -> StoreResult<i64> {
        self.inner.incr(key, by, window).await
    }
}

#[async_trait]
impl EventLog for TokioClockStore {
    async fn append(&self, s: &str, data: Bytes, max: usize, ttl: Duration) -> StoreResult<u64> {
        self.inner.append(s, data, max, ttl).await
    }
    async fn read_after(&self, s: &str, after: u64, n: usize) -> StoreResult<Vec<LoggedEvent>> {
        self.inner.read_after(s, after, n).await
    }
}

#[async_trait]
impl PubSub for TokioClockStore {
    async fn publish(&self, channel: &str, message: Bytes) -> StoreResult<usize> {
        self.inner.publish(channel, message).await
    }
    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, Bytes>> {
        self.inner.subscribe(channel).await
    }
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

#[tokio::test(start_paused = true)]
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
