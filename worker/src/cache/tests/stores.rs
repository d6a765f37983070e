//! Stores the cache tests run on besides `MemoryStore`: one whose TTLs
//! follow tokio's (pausable) clock, and one that is always down (at once,
//! or after a delay, as a Redis that no longer answers until the
//! operation's timeout).

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use common::store::{
    CounterStore, Decision, EventLog, KvStore, LoggedEvent, Member, MemberStore, MemoryStore,
    PubSub, RateLimitStore, StoreError, StoreResult, Take,
};
use futures::stream::BoxStream;
use tokio::time::Instant;

/// `MemoryStore` with its key-value TTLs kept on tokio's clock, so paused
/// time expires them: an entry is dropped once tokio's clock passes the
/// expiry recorded here (`MemoryStore`'s own, on `std`'s clock, never
/// comes first in a test that lasts milliseconds).
#[derive(Default)]
pub(super) struct TokioClockStore {
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
    async fn set_if_present(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool> {
        self.purge(key).await;
        let set = self.inner.set_if_present(key, value, ttl).await?;
        if set {
            self.expire_after(key, Some(ttl));
        }
        Ok(set)
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

#[async_trait]
impl RateLimitStore for TokioClockStore {
    async fn acquire_all(&self, takes: &[Take<'_>]) -> StoreResult<Vec<Decision>> {
        self.inner.acquire_all(takes).await
    }
}

#[async_trait]
impl MemberStore for TokioClockStore {
    async fn heartbeat(&self, g: &str, m: &str, p: Bytes, ttl: Duration) -> StoreResult<()> {
        self.inner.heartbeat(g, m, p, ttl).await
    }
    async fn leave(&self, group: &str, member: &str) -> StoreResult<bool> {
        self.inner.leave(group, member).await
    }
    async fn live(&self, group: &str) -> StoreResult<Vec<Member>> {
        self.inner.live(group).await
    }
}

/// A store whose every operation fails, as Redis does when unreachable,
/// after the delay it holds (zero: refused at once; more: a timeout).
pub(crate) struct DownStore(pub Duration);

impl DownStore {
    async fn down<T>(&self) -> StoreResult<T> {
        tokio::time::sleep(self.0).await;
        Err(StoreError::Unavailable("connection refused".into()))
    }
}

#[async_trait]
impl KvStore for DownStore {
    async fn get(&self, _: &str) -> StoreResult<Option<Bytes>> {
        self.down().await
    }
    async fn set(&self, _: &str, _: Bytes, _: Option<Duration>) -> StoreResult<()> {
        self.down().await
    }
    async fn set_if_absent(&self, _: &str, _: Bytes, _: Duration) -> StoreResult<bool> {
        self.down().await
    }
    async fn set_if_present(&self, _: &str, _: Bytes, _: Duration) -> StoreResult<bool> {
        self.down().await
    }
    async fn delete(&self, _: &str) -> StoreResult<bool> {
        self.down().await
    }
    async fn expire(&self, _: &str, _: Duration) -> StoreResult<bool> {
        self.down().await
    }
}

#[async_trait]
impl CounterStore for DownStore {
    async fn incr(&self, _: &str, _: i64, _: Duration) -> StoreResult<i64> {
        self.down().await
    }
}

#[async_trait]
impl EventLog for DownStore {
    async fn append(&self, _: &str, _: Bytes, _: usize, _: Duration) -> StoreResult<u64> {
        self.down().await
    }
    async fn read_after(&self, _: &str, _: u64, _: usize) -> StoreResult<Vec<LoggedEvent>> {
        self.down().await
    }
}

#[async_trait]
impl PubSub for DownStore {
    async fn publish(&self, _: &str, _: Bytes) -> StoreResult<usize> {
        self.down().await
    }
    async fn subscribe(&self, _: &str) -> StoreResult<BoxStream<'static, Bytes>> {
        self.down().await
    }
}

#[async_trait]
impl RateLimitStore for DownStore {
    async fn acquire_all(&self, _: &[Take<'_>]) -> StoreResult<Vec<Decision>> {
        self.down().await
    }
}

#[async_trait]
impl MemberStore for DownStore {
    async fn heartbeat(&self, _: &str, _: &str, _: Bytes, _: Duration) -> StoreResult<()> {
        self.down().await
    }
    async fn leave(&self, _: &str, _: &str) -> StoreResult<bool> {
        self.down().await
    }
    async fn live(&self, _: &str) -> StoreResult<Vec<Member>> {
        self.down().await
    }
}
