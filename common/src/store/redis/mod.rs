//! The Redis backend: every store trait on one Redis server (7.0 or later)
//! or on a Redis Cluster. Design notes (connection, key layout, scripts,
//! Pub/Sub on a cluster, the measured connection choice) are in this
//! folder's README.

mod connect;
mod limits;
mod members;
mod pubsub;
mod scripts;

use std::{future::Future, sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use redis::{Client, RedisError};

use super::{CounterStore, EventLog, KvStore, LoggedEvent, StoreError, StoreResult};
use connect::Commands;

/// How long one store operation may take, connecting included, before it
/// fails as [`StoreError::Unavailable`]: a dead Redis must never hang a call.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest key prefix ([`RedisStore::with_prefix`]).
pub const MAX_PREFIX: usize = 64;

/// A Redis URL that cannot be used; the reason never repeats the URL, which
/// may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRedisUrl(pub String);

/// A store on a Redis server or a Redis Cluster, shared by every node that
/// points at it.
///
/// Commands go over one multiplexed connection (one per cluster node) that
/// reconnects by itself; each subscription has a connection of its own
/// (see the README).
#[derive(Clone)]
pub struct RedisStore {
    conn: Commands,
    /// Where subscriptions connect, tried in order: the one server, or the
    /// cluster's seed nodes (after the channel's slot owner).
    subscribers: Arc<[Client]>,
    /// On a cluster, the first seed's URL: the nodes found in the topology
    /// are reached with its scheme, credentials and TLS options.
    cluster_seed: Option<url::Url>,
    op_timeout: Duration,
    /// Put before every key and channel ([`RedisStore::with_prefix`]).
    prefix: Arc<str>,
    /// Which of a node's stores this is, as the metrics' `store` label says
    /// it ([`RedisStore::global`]).
    role: &'static str,
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
        Ok(Self::from_opened(
            connect::single(url, op_timeout)?,
            op_timeout,
        ))
    }

    /// A store on the Redis Cluster that `seeds` (URLs of any of its nodes,
    /// all `redis://` or all `rediss://`) belong to, with
    /// [`DEFAULT_OP_TIMEOUT`]. Lazy like [`RedisStore::open`].
    pub fn open_cluster(seeds: &[&str]) -> Result<Self, InvalidRedisUrl> {
        Self::open_cluster_with_timeout(seeds, DEFAULT_OP_TIMEOUT)
    }

    /// As [`RedisStore::open_cluster`], with every operation bounded by `op_timeout`.
    pub fn open_cluster_with_timeout(
        seeds: &[&str],
        op_timeout: Duration,
    ) -> Result<Self, InvalidRedisUrl> {
        Ok(Self::from_opened(
            connect::cluster(seeds, op_timeout)?,
            op_timeout,
        ))
    }

    /// The store a setting names: `urls` is one URL, or several separated by
    /// commas (seed nodes of a cluster, which needs `cluster`); `cluster`
    /// selects Redis Cluster even for one URL.
    pub fn open_setting(urls: &str, cluster: bool) -> Result<Self, InvalidRedisUrl> {
        let urls: Vec<&str> = urls.split(',').map(str::trim).collect();
        if urls.iter().any(|u| u.is_empty()) {
            return Err(InvalidRedisUrl(
                "an empty URL in the list; separate seed node URLs by single commas".into(),
            ));
        }
        match (urls.as_slice(), cluster) {
            ([one], false) => Self::open(one),
            (_, true) => Self::open_cluster(&urls),
            (_, false) => Err(InvalidRedisUrl(format!(
                "{} URLs given: several URLs are the seed nodes of a Redis Cluster, \
                 which needs D365MCP_REDIS_CLUSTER=true (--redis-cluster)",
                urls.len()
            ))),
        }
    }

    fn from_opened(opened: connect::Opened, op_timeout: Duration) -> Self {
        // The error family shows from start-up (a dashboard reads 0, not
        // "no data"), on `GET`, the one operation every node makes; the
        // other operations' series appear with their first error.
        prefill(REGIONAL);
        Self {
            conn: opened.commands,
            subscribers: opened.subscribers.into(),
            cluster_seed: opened.cluster_seed,
            op_timeout,
            prefix: Arc::from(""),
            role: REGIONAL,
        }
    }

    /// The same store as a node's global store (`D365MCP_GLOBAL_REDIS_URL`,
    /// shared by every region): its operations are measured under
    /// `store="global"` rather than `store="regional"`.
    pub fn global(mut self) -> Self {
        prefill(GLOBAL);
        self.role = GLOBAL;
        self
    }

    /// The same store with every key and Pub/Sub channel it touches
    /// starting with `prefix`, so that several deployments share one Redis
    /// without seeing each other's state. 1 to 64 visible ASCII characters,
    /// no braces (they would change a key's Redis Cluster hash tag);
    /// conventionally ending in `:`, e.g. `prod-eu:`.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Self, InvalidRedisUrl> {
        let valid = (1..=MAX_PREFIX).contains(&prefix.len())
            && prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
        if !valid {
            return Err(InvalidRedisUrl(format!(
                "a key prefix is 1 to {MAX_PREFIX} visible ASCII characters without braces, \
                 such as `prod-eu:`"
            )));
        }
        self.prefix = Arc::from(prefix);
        Ok(self)
    }

    /// `key` (or a channel) as stored: after the prefix.
    fn k(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    /// `SET key value {condition} PX ttl`, `condition` being `NX` (only
    /// when absent) or `XX` (only when present); whether it was set.
    async fn set_when(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
        condition: &'static str,
    ) -> StoreResult<bool> {
        let key = self.k(key);
        let key = key.as_str();
        let what = if condition == "NX" {
            "SET NX"
        } else {
            "SET XX"
        };
        let reply: Option<String> = self
            .run(what, |mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value.as_ref())
                    .arg(condition)
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(reply.is_some())
    }

    /// Runs one request with a clone of the shared connection (clones are
    /// cheap handles to it), bounded by the operation timeout. `what` names
    /// the operation in errors and is the metrics' `operation` label, so it
    /// is a fixed string.
    async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> StoreResult<T>
    where
        F: FnOnce(Commands) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let cluster = matches!(self.conn, Commands::Cluster(_));
        let target = Target {
            what,
            cluster,
            role: self.role,
        };
        bounded(self.op_timeout, target, op(self.conn.clone())).await
    }
}

/// The metrics' `store` label of a node's regional store (`D365MCP_REDIS_URL`).
pub const REGIONAL: &str = "regional";

/// The metrics' `store` label of a node's global store.
pub const GLOBAL: &str = "global";

/// The error family shows from start-up (a dashboard reads 0, not "no
/// data"), on `GET`, the one operation every node makes; the other
/// operations' series appear with their first error.
fn prefill(role: &'static str) {
    let m = &crate::metrics::get().store;
    for kind in ["unavailable", "protocol"] {
        m.errors.with_label_values(&[role, "GET", kind]);
    }
    m.up.with_label_values(&[role]);
}

/// What one operation is, for its errors and its metrics.
#[derive(Clone, Copy)]
struct Target {
    /// The operation, a fixed string: the metrics' `operation` label.
    what: &'static str,
    /// Whether the store is a Redis Cluster.
    cluster: bool,
    /// [`REGIONAL`] or [`GLOBAL`].
    role: &'static str,
}

/// `fut` within `limit`, its error mapped to a [`StoreError`]; every
/// operation of the store goes through here, and is measured here
/// ([`observe`]).
async fn bounded<T>(
    limit: Duration,
    target: Target,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> StoreResult<T> {
    let started = std::time::Instant::now();
    let what = target.what;
    let result = match tokio::time::timeout(limit, fut).await {
        Ok(result) => result.map_err(|e| store_error(target, &e)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "redis {what}: no answer within {limit:?}"
        ))),
    };
    observe(target, started.elapsed(), result.as_ref().err());
    result
}

/// Records one operation in the store's metrics: its duration (failures
/// included: a timeout shows as the limit), its error's kind, and whether
/// Redis was reached — a protocol error is an answer, so only
/// `Unavailable` sets `d365mcp_store_up` to 0.
fn observe(target: Target, elapsed: Duration, error: Option<&StoreError>) {
    let m = &crate::metrics::get().store;
    m.duration
        .with_label_values(&[target.role, target.what])
        .observe(elapsed.as_secs_f64());
    let kind = match error {
        None => None,
        Some(StoreError::Unavailable(_)) => Some("unavailable"),
        Some(_) => Some("protocol"),
    };
    if let Some(kind) = kind {
        m.errors
            .with_label_values(&[target.role, target.what, kind])
            .inc();
    }
    m.up.with_label_values(&[target.role])
        .set(i64::from(kind != Some("unavailable")));
}

/// Connection trouble, the server's "try later" answers and, on a cluster,
/// redirections that outlasted the client's retries (a slot moving, or its
/// node dead) are `Unavailable` (retryable); anything else is a reply this
/// code cannot use. A redirection on one server means the server is a
/// cluster node: a setting to fix, not a condition to wait out.
fn store_error(target: Target, e: &RedisError) -> StoreError {
    use redis::{ErrorKind, ServerErrorKind as S};
    let what = target.what;
    let redirected = matches!(e.kind(), ErrorKind::Server(S::Moved | S::Ask));
    if redirected && !target.cluster {
        let setting = if target.role == GLOBAL {
            "D365MCP_GLOBAL_REDIS_CLUSTER=true (--global-redis-cluster)"
        } else {
            "D365MCP_REDIS_CLUSTER=true (--redis-cluster)"
        };
        return StoreError::Protocol(format!(
            "redis {what}: {e} (the server is a Redis Cluster node: set {setting})"
        ));
    }
    let transient = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    S::BusyLoading | S::TryAgain | S::ClusterDown | S::MasterDown | S::ReadOnly
                )
        );
    if transient || redirected {
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
        let key = self.k(key);
        let key = key.as_str();
        let value: Option<Vec<u8>> = self
            .run("GET", |mut c| async move {
                redis::cmd("GET").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Option<Duration>) -> StoreResult<()> {
        let key = self.k(key);
        let key = key.as_str();
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

    async fn set_if_present(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool> {
        self.set_when(key, value, ttl, "XX").await
    }

    async fn set_if_absent(&self, key: &str, value: Bytes, ttl: Duration) -> StoreResult<bool> {
        self.set_when(key, value, ttl, "NX").await
    }

    async fn delete(&self, key: &str) -> StoreResult<bool> {
        let key = self.k(key);
        let key = key.as_str();
        let removed: i64 = self
            .run("DEL", |mut c| async move {
                redis::cmd("DEL").arg(key).query_async(&mut c).await
            })
            .await?;
        Ok(removed > 0)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> StoreResult<bool> {
        let key = self.k(key);
        let key = key.as_str();
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
        let key = self.k(key);
        let key = key.as_str();
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
        let stream = self.k(stream);
        let stream = stream.as_str();
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
        let stream = self.k(stream);
        let stream = stream.as_str();
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
