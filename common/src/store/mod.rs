//! The shared-state store: a family of small traits, each a capability the
//! cluster needs from Redis, an in-memory backend and a Redis backend
//! ([`RedisStore`]) with the same contract.
//!
//! | trait | used for |
//! |---|---|
//! | [`KvStore`] | sessions, legacy-stream records, cache entries, write claims, throttle windows |
//! | [`CounterStore`] | fixed-window counters (no caller today; kept in the contract for metrics aggregation) |
//! | [`EventLog`] | SSE event logs for `Last-Event-ID` resumption |
//! | [`PubSub`] | cross-node delivery (legacy SSE POSTs, session answers and notices, throttle windows, version changes) |
//! | [`RateLimitStore`] | the edge's rate limits (GCRA, see [`limits`]) |
//! | [`MemberStore`] | worker membership: leases renewed by heartbeats |
//!
//! Every key carries a prefix and, unless the caller says why not, a TTL.
//! [`contract`] holds the behaviour every backend must show; the in-memory
//! backend runs it in unit tests and the Redis backend against a real server.

mod members;
mod memory;
mod redis;

pub mod contract;
pub mod limits;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use limits::{Decision, Limit, LocalLimiter, RateLimitStore, Take};
pub use members::{Member, MemberStore};
pub use memory::MemoryStore;
pub use redis::{DEFAULT_OP_TIMEOUT, GLOBAL, InvalidRedisUrl, REGIONAL, RedisStore};

/// The store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend is unreachable or timed out; the operation may be retried.
    #[error("shared store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered something this code cannot use.
    #[error("shared store returned an unexpected reply: {0}")]
    Protocol(String),
}

impl StoreError {
    /// The cluster-wide error code of this error.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            Self::Unavailable(_) => crate::ErrorCode::Unavailable,
            Self::Protocol(_) => crate::ErrorCode::Internal,
        }
    }
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Keys with values and expiry.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value at `key`, unless absent or expired.
    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>>;
    /// Sets `key`; `ttl: None` keeps it until deleted.
    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> StoreResult<()>;
    /// Sets `key` only when absent; `true` when this call set it.
    async fn set_if_absent(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool>;
    /// Replaces `key`'s value only while it exists (a read-modify-write must
    /// not bring back a key deleted meanwhile); `true` when this call set it.
    async fn set_if_present(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool>;
    /// Deletes `key`; `true` when it existed.
    async fn delete(&self, key: &str) -> StoreResult<bool>;
    /// Resets `key`'s TTL; `true` when it exists.
    async fn expire(&self, key: &str, ttl: Duration) -> StoreResult<bool>;
}

/// Atomic counters in fixed windows.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Adds `by` to the counter at `key` and returns the new value. A counter
    /// that did not exist starts at zero and lives for `window`.
    async fn incr(&self, key: &str, by: i64, window: Duration) -> StoreResult<i64>;
}

/// One event of an [`EventLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Increasing within its stream, never reused.
    pub id: u64,
    /// The event's payload.
    pub data: Bytes,
}

/// Append-only, bounded, expiring event streams.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends `data` to `stream`, keeping at most `max_len` newest events and
    /// refreshing the stream's TTL. Returns the new event's id.
    async fn append(
        &self,
        stream: &str,
        data: Bytes,
        max_len: usize,
        ttl: Duration,
    ) -> StoreResult<u64>;
    /// Events of `stream` with an id greater than `after`, oldest first, at most `limit`.
    async fn read_after(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>>;
}

/// Fire-and-forget messages to whoever listens on a channel.
#[async_trait]
pub trait PubSub: Send + Sync {
    /// Publishes `message`; returns how many subscribers received it (on a
    /// Redis Cluster, see the Redis backend's README for when it undercounts).
    async fn publish(&self, channel: &str, message: Bytes) -> StoreResult<usize>;
    /// Messages published on `channel` from now on.
    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, Bytes>>;
}

/// Every capability at once: what a node is handed.
pub trait Store: KvStore + CounterStore + EventLog + PubSub + RateLimitStore + MemberStore {}

impl<T: KvStore + CounterStore + EventLog + PubSub + RateLimitStore + MemberStore> Store for T {}

/// A shared handle to a store.
pub type SharedStore = Arc<dyn Store>;
