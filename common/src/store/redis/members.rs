//! [`MemberStore`] on Redis: per group, one sorted set of member ids scored
//! by lease end (Unix ms of the server's clock) and one hash of their
//! payloads. Both keys carry the same hash tag, so the Lua scripts that
//! touch both run on Redis Cluster too:
//!
//! | key | type | TTL |
//! |---|---|---|
//! | `<prefix>:{<name>}:expiry` | sorted set: member id → lease end | the longest lease granted lately |
//! | `<prefix>:{<name>}:payload` | hash: member id → payload | the same |
//!
//! where the group is `<prefix>:<name>` (split at its last colon), e.g.
//! `d365mcp:members:v1:{workers}:expiry`. Every heartbeat raises both keys'
//! TTL to at least its lease, so a group whose members all stop vanishes by
//! itself, and drops members whose lease has run out.

use std::{sync::LazyLock, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use redis::Script;

use super::{RedisStore, millis};
use crate::store::{
    StoreError, StoreResult,
    members::{Member, MemberStore, check_group},
};

/// The server's clock in ms, shared by the scripts below.
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS[1] expiry set, KEYS[2] payload hash; ARGV[1] member, ARGV[2]
/// payload, ARGV[3] TTL in ms.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{NOW}
local ttl = tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('HDEL', KEYS[2], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
return 1
"
    ))
});

/// KEYS as above; ARGV[1] member. Returns 1 when it was live.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{NOW}
local lease_end = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if lease_end and tonumber(lease_end) > now then
  return 1
end
return 0
"
    ))
});

/// KEYS as above. Returns id, payload, ms left, for each live member.
static LIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{NOW}
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
local out = {{}}
for i = 1, #live, 2 do
  local payload = redis.call('HGET', KEYS[2], live[i])
  if payload then
    out[#out + 1] = live[i]
    out[#out + 1] = payload
    out[#out + 1] = tostring(math.floor(tonumber(live[i + 1]) - now))
  end
end
return out
"
    ))
});

/// The two keys of `group`, sharing a hash tag of the group's last segment.
fn keys(group: &str) -> [String; 2] {
    let base = match group.rsplit_once(':') {
        Some((prefix, name)) => format!("{prefix}:{{{name}}}"),
        None => format!("{{{group}}}"),
    };
    [format!("{base}:expiry"), format!("{base}:payload")]
}

/// Members from the live script's flat reply.
fn parse_live(reply: Vec<Vec<u8>>) -> StoreResult<Vec<Member>> {
    let bad = |why: &str| StoreError::Protocol(format!("redis membership script: {why}"));
    if !reply.len().is_multiple_of(3) {
        return Err(bad("reply is not id/payload/ttl triples"));
    }
    let mut members = Vec::with_capacity(reply.len() / 3);
    let mut fields = reply.into_iter();
    while let (Some(id), Some(payload), Some(left)) = (fields.next(), fields.next(), fields.next())
    {
        let id = String::from_utf8(id).map_err(|_| bad("member id is not UTF-8"))?;
        let left: u64 = std::str::from_utf8(&left)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("time left is not a number"))?;
        members.push(Member {
            id,
            payload: payload.into(),
            expires_in: Duration::from_millis(left),
        });
    }
    members.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(members)
}

#[async_trait]
impl MemberStore for RedisStore {
    async fn heartbeat(
        &self,
        group: &str,
        member: &str,
        payload: Bytes,
        ttl: Duration,
    ) -> StoreResult<()> {
        check_group(group)?;
        let [expiry, payloads] = keys(group).map(|k| self.k(&k));
        self.run("membership heartbeat script", |mut c| async move {
            HEARTBEAT
                .key(expiry)
                .key(payloads)
                .arg(member)
                .arg(payload.as_ref())
                .arg(millis(ttl))
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn leave(&self, group: &str, member: &str) -> StoreResult<bool> {
        check_group(group)?;
        let [expiry, payloads] = keys(group).map(|k| self.k(&k));
        let was_live: i64 = self
            .run("membership leave script", |mut c| async move {
                LEAVE
                    .key(expiry)
                    .key(payloads)
                    .arg(member)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(was_live == 1)
    }

    async fn live(&self, group: &str) -> StoreResult<Vec<Member>> {
        check_group(group)?;
        let [expiry, payloads] = keys(group).map(|k| self.k(&k));
        let reply: Vec<Vec<u8>> = self
            .run("membership live script", |mut c| async move {
                LIVE.key(expiry).key(payloads).invoke_async(&mut c).await
            })
            .await?;
        parse_live(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_keys_keep_its_prefix_and_share_a_hash_tag() {
        assert_eq!(
            keys("d365mcp:members:v1:workers"),
            [
                "d365mcp:members:v1:{workers}:expiry",
                "d365mcp:members:v1:{workers}:payload"
            ]
        );
        assert_eq!(keys("solo"), ["{solo}:expiry", "{solo}:payload"]);
    }

    #[test]
    fn the_live_reply_parses_only_in_the_shape_the_script_returns() {
        let reply = vec![
            b"w2".to_vec(),
            b"p2".to_vec(),
            b"900".to_vec(),
            b"w1".to_vec(),
            b"p1".to_vec(),
            b"1500".to_vec(),
        ];
        let members = parse_live(reply).unwrap();
        assert_eq!(members[0].id, "w1", "sorted by id");
        assert_eq!(members[0].expires_in, Duration::from_millis(1500));
        assert_eq!(members[1].payload.as_ref(), b"p2");
        assert!(parse_live(vec![b"w".to_vec(), b"p".to_vec()]).is_err());
        assert!(parse_live(vec![b"w".to_vec(), b"p".to_vec(), b"x".to_vec()]).is_err());
    }
}
