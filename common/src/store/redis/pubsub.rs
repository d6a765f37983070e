//! [`PubSub`] on Redis: `PUBLISH` on the command connection, and each
//! subscription on a connection of its own (a subscribed connection can run
//! no other command).
//!
//! On a Redis Cluster the cluster connection sends `PUBLISH` to the node
//! serving the channel's slot, and the cluster bus carries the message to
//! every other node. A subscription connects to that same node, so the
//! count `PUBLISH` returns includes it (callers read 0 as "nobody listens");
//! when the node cannot be found or reached, a seed serves instead: the
//! message still arrives, but is not counted. See the README.

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use redis::{Client, RedisResult, Value};
use tokio::time::Instant;

use super::{RedisStore, Target, bounded, connect::Commands};
use crate::store::{PubSub, StoreError, StoreResult};

#[async_trait]
impl PubSub for RedisStore {
    async fn publish(&self, channel: &str, message: Bytes) -> StoreResult<usize> {
        let channel = self.k(channel);
        let channel = channel.as_str();
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
        let channel = self.k(channel);
        let channel = channel.as_str();
        let deadline = Instant::now() + self.op_timeout;
        let mut targets: Vec<Client> = self.slot_owner(channel).await.into_iter().collect();
        targets.extend(self.subscribers.iter().cloned());
        let mut last = None;
        let count = targets.len();
        for (tried, client) in targets.into_iter().enumerate() {
            // An even share of what is left, so one silent node cannot use
            // it all.
            let left = deadline.saturating_duration_since(Instant::now());
            let share = left / u32::try_from(count - tried).unwrap_or(1).max(1);
            let target = Target {
                what: "SUBSCRIBE",
                cluster: false,
                role: self.role,
            };
            let attempt = bounded(share, target, async move {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(channel).await?;
                Ok(pubsub)
            })
            .await;
            match attempt {
                // The stream ends when the connection drops; a subscriber
                // that must outlive a Redis restart (or its node's death)
                // subscribes again.
                Ok(pubsub) => {
                    return Ok(pubsub
                        .into_on_message()
                        .map(|msg| Bytes::copy_from_slice(msg.get_payload_bytes()))
                        .boxed());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Unavailable("redis SUBSCRIBE: no server".into())))
    }
}

impl RedisStore {
    /// On a cluster, a client for the node serving `channel`'s slot, as the
    /// cluster itself says (`CLUSTER KEYSLOT`, `CLUSTER SLOTS`), within half
    /// the operation timeout; `None` on one server or when it cannot be told.
    async fn slot_owner(&self, channel: &str) -> Option<Client> {
        let (Commands::Cluster(conn), Some(seed)) = (&self.conn, &self.cluster_seed) else {
            return None;
        };
        let mut conn = conn.clone();
        let lookup = tokio::time::timeout(self.op_timeout / 2, owner_address(&mut conn, channel));
        let Ok(Ok(Some((host, port)))) = lookup.await else {
            return None;
        };
        let mut url = seed.clone();
        // An empty host means "the node you asked": a node alone in its
        // cluster never learns its address. Keep the seed's then.
        if !host.is_empty() && host != "?" {
            url.set_host(Some(&host)).ok()?;
        }
        url.set_port(Some(port)).ok()?;
        Client::open(url.as_str()).ok()
    }
}

/// `(host, port)` of the primary serving `channel`'s slot.
async fn owner_address(
    conn: &mut redis::cluster_async::ClusterConnection,
    channel: &str,
) -> RedisResult<Option<(String, u16)>> {
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(channel)
        .query_async(conn)
        .await?;
    // [[start, end, [host, port, id, …], replicas…], …]
    let ranges: Vec<Vec<Value>> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    Ok(ranges.iter().find_map(|range| match range.as_slice() {
        [Value::Int(lo), Value::Int(hi), Value::Array(primary), ..]
            if (*lo..=*hi).contains(&slot) =>
        {
            let host = match primary.first()? {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
            let Value::Int(port) = primary.get(1)? else {
                return None;
            };
            Some((host, u16::try_from(*port).ok()?))
        }
        _ => None,
    }))
}
