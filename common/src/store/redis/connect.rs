//! Where the store's commands go: one Redis server through a multiplexed
//! connection, or a Redis Cluster through a cluster connection that routes
//! each command to the node owning its key's slot. Both reconnect by
//! themselves and both are made without connecting, so a node starts while
//! Redis is down.

use std::time::Duration;

use redis::{
    Client, Cmd, Pipeline, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClient, ClusterConfig},
    cluster_async::ClusterConnection,
};

use super::InvalidRedisUrl;

/// The connection every command of a [`super::RedisStore`] goes through.
/// Clones are cheap handles to the same connection.
#[derive(Clone)]
pub(crate) enum Commands {
    /// One server: every request pipelined on one connection.
    Single(ConnectionManager),
    /// A Redis Cluster: one multiplexed connection per node, commands routed
    /// by key slot, MOVED/ASK followed, topology refreshed on change.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The command connection and the clients subscriptions connect through.
pub(crate) struct Opened {
    pub commands: Commands,
    /// One per URL given, tried in order by `subscribe`.
    pub subscribers: Vec<Client>,
    /// On a cluster, the first seed's URL (see `RedisStore::cluster_seed`).
    pub cluster_seed: Option<url::Url>,
}

/// One server at `url`. Needs a Tokio runtime (the manager's task).
pub(crate) fn single(url: &str, op_timeout: Duration) -> Result<Opened, InvalidRedisUrl> {
    let client = client(url)?;
    // Few, short reconnection attempts: a request waits for a pending
    // reconnection, and the next request starts a new one anyway.
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(op_timeout))
        .set_response_timeout(Some(op_timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
        .map_err(|e| InvalidRedisUrl(e.to_string()))?;
    Ok(Opened {
        commands: Commands::Single(manager),
        subscribers: vec![client],
        cluster_seed: None,
    })
}

/// A Redis Cluster reached first through `seeds` (any of its nodes; the rest
/// are discovered). Needs a Tokio runtime (the connection's task).
pub(crate) fn cluster(seeds: &[&str], op_timeout: Duration) -> Result<Opened, InvalidRedisUrl> {
    if seeds.is_empty() {
        return Err(InvalidRedisUrl("no seed node URL".into()));
    }
    let subscribers = seeds
        .iter()
        .map(|url| client(url))
        .collect::<Result<Vec<_>, _>>()?;
    let tls = seeds
        .iter()
        .filter(|url| url.starts_with("rediss:"))
        .count();
    if tls != 0 && tls != seeds.len() {
        return Err(InvalidRedisUrl(
            "the seed nodes mix redis:// and rediss://; a cluster is reached one way".into(),
        ));
    }
    // Retries are for MOVED/ASK and reconnections while the topology
    // changes; short waits keep them inside the operation timeout, which
    // bounds every request as a whole anyway.
    let client = ClusterClient::builder(seeds.iter().copied())
        .retries(3)
        .min_retry_wait(20)
        .max_retry_wait(200)
        .build()
        .map_err(|e| InvalidRedisUrl(e.to_string()))?;
    let config = ClusterConfig::new()
        .set_connection_timeout(op_timeout)
        .set_response_timeout(op_timeout);
    // "Pending": the connection to the seeds is made in the background, and
    // made again (from the seeds) whenever every node is lost.
    let connection = client.get_pending_async_connection_with_config(config);
    Ok(Opened {
        commands: Commands::Cluster(connection),
        subscribers,
        cluster_seed: url::Url::parse(seeds[0]).ok(),
    })
}

/// A client for one `redis://` or `rediss://` URL naming a host; errors
/// never repeat the URL, which may hold a password.
fn client(url: &str) -> Result<Client, InvalidRedisUrl> {
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
    Client::open(url).map_err(|e| InvalidRedisUrl(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::RedisStore;

    #[tokio::test]
    async fn only_redis_urls_with_a_host_are_accepted() {
        for good in [
            "redis://127.0.0.1:6379",
            "rediss://cache.example.com:6380/0",
        ] {
            assert!(RedisStore::open(good).is_ok(), "{good}");
            assert!(RedisStore::open_cluster(&[good]).is_ok(), "{good}");
        }
        for bad in [
            "",
            "127.0.0.1:6379",
            "http://h:1",
            "redis://",
            "unix:///tmp/r.sock",
        ] {
            assert!(RedisStore::open(bad).is_err(), "{bad:?}");
            assert!(RedisStore::open_cluster(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_rejected_url_is_not_repeated_in_the_error() {
        let err = RedisStore::open("https://user:s3cret@h:1").err();
        assert!(err.is_some_and(|e| !e.to_string().contains("s3cret")));
        let err = RedisStore::open_setting("redis://h:1,https://user:s3cret@h:2", true).err();
        assert!(err.is_some_and(|e| !e.to_string().contains("s3cret")));
    }

    #[tokio::test]
    async fn several_urls_need_cluster_mode_and_one_url_may_use_it() {
        let two = "redis://10.0.0.1:6379, redis://10.0.0.2:6379";
        let err = RedisStore::open_setting(two, false).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.0.contains("D365MCP_REDIS_CLUSTER") && e.0.contains("2 URLs")),
            "{err:?}"
        );
        assert!(RedisStore::open_setting(two, true).is_ok());
        assert!(RedisStore::open_setting("redis://10.0.0.1:6379", true).is_ok());
        assert!(RedisStore::open_setting("rediss://10.0.0.1:6380", false).is_ok());
        assert!(RedisStore::open_setting("rediss://a:1,rediss://b:1", true).is_ok());
    }

    #[tokio::test]
    async fn a_seed_list_is_all_tls_or_none_and_has_no_empty_entry() {
        let mixed = RedisStore::open_setting("redis://a:1,rediss://b:1", true).err();
        assert!(mixed.is_some_and(|e| e.0.contains("mix")));
        for gaps in ["redis://a:1,,redis://b:1", "redis://a:1,", ","] {
            let err = RedisStore::open_setting(gaps, true).err();
            assert!(err.is_some_and(|e| e.0.contains("empty")), "{gaps:?}");
        }
        assert!(RedisStore::open_cluster(&[]).is_err());
    }
}
