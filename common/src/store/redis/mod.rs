//! The Redis backend: every store trait on one Redis server (7.0 or later).
//! Design notes (connection, key layout, scripts) are in this folder's README.

mod members;
mod scripts;

use std::{future::Future, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use redis::{
    Client, RedisError,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{CounterStore, EventLog, KvStore, LoggedEvent, PubSub, StoreError, StoreResult};

/// How long one store operation may take, connecting included, before it
/// fails as [`StoreError::Unavailable`]: a dead Redis must never hang a call.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(2);

/// A Redis URL that cannot be used; the reason never repeats the URL, which
/// may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRedisUrl(pub String);

/// A store on a Redis server, shared by every node that points at it.
///
/// Commands go over one multiplexed connection that reconnects by itself;
/// each subscription has a connection of its own (see the README).
#[derive(Clone)]
pub struct RedisStore {
    client: Client,
    conn: ConnectionManager,
    op_timeout: Duration,
}

impl RedisStore {
    /// A store for `url` (`redis://` or `rediss://`) with [`DEFAULT_OP_TIMEOUT`].
    /// Nothing is connected yet: the first operation connects, so a node
    /// starts while Redis is down and its store works once Redis is up.
    pub fn open(url: &str) -> Result<Self, InvalidRedisUrl> {
        Self::open_with_timeout(url, DEFAULT_OP_TIMEOUT)
    }

    /// As [`RedisStore::open`], with every operation bounded by `op_timeout`.
    pub fn open_with_timeout(url: &str, op_timeout: Duration) -> Result<Self, InvalidRedisUrl> {
        let parsed = url::Url::parse(url)
            .map_err(|e| InvalidRedisUrl(format!("not a URL ({e}); expected redis://host:port")))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(InvalidRedisUrl(format!(
                "scheme {:?} is not redis:// or rediss://",
                parsed.scheme()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(InvalidRedisUrl("the URL names no host".into()));
        }
        let client = Client::open(url).map_err(|e| InvalidRedisUrl(e.to_string()))?;
        // Few, short reconnection attempts: a request waits for a pending
        // reconnection, and the next request starts a new one anyway.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(op_timeout))
            .set_response_timeout(Some(op_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| InvalidRedisUrl(e.to_string()))?;
        Ok(Self {
            client,
            conn,
            op_timeout,
        })
    }

    /// Runs one request with a clone of the shared connection (clones are
    /// cheap handles to it), bounded by the operation timeout.
    async fn run<T, F, Fut>(&self, what: &str, op: F) -> StoreResult<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        bounded(self.op_timeout, what, op(self.conn.clone())).await
    }
}

/// `fut` within `limit`, its error mapped to a [`StoreError`].
async fn bounded<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> StoreResult<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(|e| store_error(what, &e)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "redis {what}: no answer within {limit:?}"
        ))),
    }
}

/// Connection trouble and the server's "try later" answers are
/// `Unavailable` (retryable); anything else is a reply this code cannot use.
fn store_error(what: &str, e: &RedisError) -> StoreError {
    use redis::{ErrorKind, ServerErrorKind as S};
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::Server(
                    S::BusyLoading | S::TryAgain | S::ClusterDown | S::MasterDown | S::ReadOnly
                )
        );
    if transient {
        StoreError::Unavailable(format!("redis {what}: {e}"))
    } else {
        StoreError::Protocol(format!("redis {what}: {e}"))
    }
}

/// A TTL in milliseconds, at least 1: Redis refuses 0 in SET and deletes the
/// key on PEXPIRE 0, while a zero TTL here means "expire at once".
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl KvStore for RedisStore {
    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>> {
        let value: Option<Vec<u8>> = self
            .run("GET", |mut c| async move {
                redis::cmd("GET").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> StoreResult<()> {
        self.run("SET", |mut c| async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key).arg(value.as_ref());
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(millis(ttl));
            }
            cmd.query_async::<()>(&mut c).await
        })
        .await
    }

    async fn set_if_absent(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool> {
        let reply: Option<String> = self
            .run("SET NX", |mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value.as_ref())
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(reply.is_some())
    }

    async fn delete(&self, key: &str) -> StoreResult<bool> {
        let removed: i64 = self
            .run("DEL", |mut c| async move {
                redis::cmd("DEL").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(removed > 0)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let set: i64 = self
            .run("PEXPIRE", |mut c| async move {
                redis::cmd("PEXPIRE")
                    .arg(key)
                    .arg(millis(ttl))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(set == 1)
    }
}

#[async_trait]
impl CounterStore for RedisStore {
    async fn incr(&self, key: &str, by: i64, window: Duration) -> StoreResult<i64> {
        self.run("counter script", |mut c| async move {
            scripts::incr_in_window()
                .key(key)
                .arg(by)
                .arg(millis(window))
                .invoke_async(&mut c)
                .await
        })
        .await
    }
}

#[async_trait]
impl EventLog for RedisStore {
    async fn append(
        &self,
        stream: &str,
        data: Bytes,
        max_len: usize,
        ttl: Duration,
    ) -> StoreResult<u64> {
        let id: String = self
            .run("event append script", |mut c| async move {
                scripts::append_event()
                    .key(stream)
                    .arg(data.as_ref())
                    .arg(max_len.max(1))
                    .arg(millis(ttl))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        scripts::event_id(&id)
    }

    async fn read_after(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<LoggedEvent>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let entries: Vec<(String, Vec<Vec<u8>>)> = self
            .run("XRANGE", |mut c| async move {
                redis::cmd("XRANGE")
                    .arg(stream)
                    .arg(format!("(0-{after}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        entries
            .into_iter()
            .map(|(id, fields)| {
                Ok(LoggedEvent {
                    id: scripts::event_id(&id)?,
                    data: scripts::event_data(fields)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl PubSub for RedisStore {
    async fn publish(&self, channel: &str, message: Bytes) -> StoreResult<usize> {
        let receivers: u64 = self
            .run("PUBLISH", |mut c| async move {
                redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(message.as_ref())
                    .query_async(&mut c)
                    .await
            })
            .await?;
        usize::try_from(receivers)
            .map_err(|_| StoreError::Protocol(format!("redis PUBLISH: {receivers} receivers")))
    }

    async fn subscribe(&self, channel: &str) -> StoreResult<BoxStream<'static, Bytes>> {
        let client = self.client.clone();
        let pubsub = bounded(self.op_timeout, "SUBSCRIBE", async move {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok(pubsub)
        })
        .await?;
        // The stream ends when the connection drops; a subscriber that must
        // outlive a Redis restart subscribes again.
        Ok(pubsub
            .into_on_message()
            .map(|msg| Bytes::copy_from_slice(msg.get_payload_bytes()))
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_redis_urls_with_a_host_are_accepted() {
        for good in [
            "redis://127.0.0.1:6379",
            "rediss://cache.example.com:6380/0",
        ] {
            assert!(RedisStore::open(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "127.0.0.1:6379",
            "http://h:1",
            "redis://",
            "unix:///tmp/r.sock",
        ] {
            assert!(RedisStore::open(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rejected_url_is_not_repeated_in_the_error() {
        let err = RedisStore::open("https://user:s3cret@h:1").err();
        assert!(err.is_some_and(|e| !e.to_string().contains("s3cret")));
    }
}
