//! The in-memory backend: for `d365mcp dev` and unit tests. One process only.
//! Expiry is checked on access, and every [`SWEEP_EVERY`] writes the expired
//! entries are dropped, so keys that are written and never read again
//! (idempotency records, cache entries of an old version) do not pile up.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::{
    CounterStore, EventLog, KvStore, LoggedEvent, PubSub, REGIONAL, StoreResult,
    members::{self, Member, MemberStore, MemberTable},
};

/// Writes between two sweeps of expired entries: the sweep costs a pass over
/// every entry, so it is amortized over at least as many writes.
const SWEEP_EVERY: usize = 1024;

/// Messages a slow in-process subscriber may lag behind before it loses some.
const CHANNEL_CAPACITY: usize = 1024;

struct Entry<T> {
    value: T,
    expires: Option<Instant>,
}

impl<T> Entry<T> {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

struct Stream {
    next_id: u64,
    events: VecDeque<LoggedEvent>,
}

#[derive(Default)]
struct Inner {
    kv: HashMap<String, Entry<Bytes>>,
    counters: HashMap<String, Entry<i64>>,
    streams: HashMap<String, Entry<Stream>>,
    channels: HashMap<String, broadcast::Sender<Bytes>>,
    writes: usize,
    live_at_sweep: usize,
}

impl Inner {
    /// Counts a write; after [`SWEEP_EVERY`] writes, or as many as there
    /// were live entries at the last sweep if more, drops what has expired.
    /// A sweep's cost is then paid by at least as many writes.
    fn wrote(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes < SWEEP_EVERY.max(self.live_at_sweep) {
            return;
        }
        self.writes = 0;
        self.kv.retain(|_, e| e.live(now));
        self.counters.retain(|_, e| e.live(now));
        self.streams.retain(|_, e| e.live(now));
        self.live_at_sweep = self.kv.len() + self.counters.len() + self.streams.len();
    }
}

/// A store in this process's memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Rate-limit buckets (`store::limits`), beside the other maps.
    pub(in crate::store) limits: super::LocalLimiter,
    members: Mutex<MemberTable>,
}

impl MemoryStore {
    /// An empty store. It is always reachable, so it sets
    /// `d365mcp_store_up` (a node on it has no Redis to miss).
    pub fn new() -> Self {
        crate::metrics::get()
            .store
            .up
            .with_label_values(&[REGIONAL])
            .set(1);
        Self::default()
    }

    /// Sets `key` only when its presence is `present`; whether it was set.
    fn set_when(&self, key: &str, value: Bytes, ttl: Duration, present: bool) -> bool {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if live_mut(&mut inner.kv, key, now).is_some() != present {
            return false;
        }
        inner.wrote(now);
        inner.kv.insert(
            key.to_owned(),
            Entry {
                value,
                expires: Some(now + ttl),
            },
        );
        true
    }
}

fn live_mut<'a, T>(
    map: &'a mut HashMap<String, Entry<T>>,
    key: &str,
    now: Instant,
) -> Option<&'a mut Entry<T>> {
    if map.get(key).is_some_and(|e| !e.live(now)) {
        map.remove(key);
    }
    map.get_mut(key)
}

#[async_trait]
impl KvStore for MemoryStore {
    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>> {
        let mut inner = self.inner.lock();
        Ok(live_mut(&mut inner.kv, key, Instant::now()).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> StoreResult<()> {
        let now = Instant::now();
        let expires = ttl.map(|ttl| now + ttl);
        let mut inner = self.inner.lock();
        inner.wrote(now);
        inner.kv.insert(key.to_owned(), Entry { value, expires });
        Ok(())
    }

    async fn set_if_present(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool> {
        Ok(self.set_when(key, value, ttl, true))
    }

    async fn set_if_absent(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool> {
        Ok(self.set_when(key, value, ttl, false))
    }

    async fn delete(&self, key: &str) -> StoreResult<bool> {
        let mut inner = self.inner.lock();
        let existed = live_mut(&mut inner.kv, key, Instant::now()).is_some();
        inner.kv.remove(key);
        Ok(existed)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        Ok(match live_mut(&mut inner.kv, key, now) {
            Some(entry) => {
                entry.expires = Some(now + ttl);
                true
            }
            None => false,
        })
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn incr(&self, key: &str, by: i64, window: Duration) -> StoreResult<i64> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        inner.wrote(now);
        let entry = match live_mut(&mut inner.counters, key, now) {
            Some(entry) => entry,
            None => inner.counters.entry(key.to_owned()).or_insert(Entry {
                value: 0,
                expires: Some(now + window),
            }),
        };
        entry.value = entry.value.saturating_add(by);
        Ok(entry.value)
    }
}

#[async_trait]
impl EventLog for MemoryStore {
    async fn append(
        &self,
        stream: &str,
        data: Bytes,
        max_len: usize,
        ttl: Duration,
    ) -> StoreResult<u64> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        inner.wrote(now);
        let entry = match live_mut(&mut inner.streams, stream, now) {
            Some(entry) => entry,
            None => inner.streams.entry(stream.to_owned()).or_insert(Entry {
                value: Stream {
                    next_id: 1,
                    events: VecDeque::new(),
                },
                expires: None,
            }),
        };
        entry.expires = Some(now + ttl);
        let log = &mut entry.value;
        let id = log.next_id;
        log.next_id += 1;
        log.events.push_back(LoggedEvent { id, data });
        while log.events.len() > max_len.max(1) {
            log.events.pop_front();
        }
        Ok(id)
    }

    async fn read_after(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>> {
        let mut inner = self.inner.lock();
        Ok(match live_mut(&mut inner.streams, stream, Instant::now()) {
            Some(entry) => entry
                .value
                .events
                .iter()
                .filter(|e| e.id > after)
                .take(limit)
                .cloned()
                .collect(),
            None => Vec::new(),
        })
    }
}

#[async_trait]
impl PubSub for MemoryStore {
    async fn publish(&self, channel: &str, message: Bytes) -> StoreResult<usize> {
        let mut inner = self.inner.lock();
        let Some(sender) = inner.channels.get(channel) else {
            return Ok(0);
        };
        match sender.send(message) {
            Ok(n) => Ok(n),
            Err(_) => {
                // Every receiver is gone: forget the channel.
                inner.channels.remove(channel);
                Ok(0)
            }
        }
    }

    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, Bytes>> {
        let receiver = self
            .inner
            .lock()
            .channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        // A lagging subscriber skips what it missed, as Redis pub/sub would drop it.
        Ok(BroadcastStream::new(receiver)
            .filter_map(|item| async move { item.ok() })
            .boxed())
    }
}

#[async_trait]
impl MemberStore for MemoryStore {
    async fn heartbeat(
        &self,
        group: &str,
        member: &str,
        payload: Bytes,
        ttl: Duration,
    ) -> StoreResult<()> {
        members::check_group(group)?;
        self.members.lock().heartbeat(group, member, payload, ttl);
        Ok(())
    }

    async fn leave(&self, group: &str, member: &str) -> StoreResult<bool> {
        members::check_group(group)?;
        Ok(self.members.lock().leave(group, member))
    }

    async fn live(&self, group: &str) -> StoreResult<Vec<Member>> {
        members::check_group(group)?;
        Ok(self.members.lock().live(group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_meets_the_contract() {
        crate::store::contract::run_all(&MemoryStore::new(), "test:").await;
    }
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[tokio::test]
    async fn expired_keys_nobody_reads_are_swept() {
        let store = MemoryStore::new();
        for i in 0..SWEEP_EVERY {
            store
                .set(
                    &format!("old-{i}"),
                    Bytes::new(),
                    Some(Duration::from_millis(1)),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for i in 0..SWEEP_EVERY {
            store
                .set(&format!("new-{i}"), Bytes::new(), None)
                .await
                .unwrap();
        }
        let inner = store.inner.lock();
        assert_eq!(inner.kv.len(), SWEEP_EVERY, "only the live keys are left");
        assert!(inner.kv.keys().all(|k| k.starts_with("new-")));
    }
}
