//! [`RateLimitStore`] on Redis: the GCRA rule of `store::limits` as one Lua
//! script on one key, so it runs unchanged on Redis Cluster.
//!
//! The clock is the Redis server's (`TIME` inside the script), not the
//! caller's: every edge then reads one clock for a bucket, and an edge whose
//! clock runs ahead cannot admit early (with callers' clocks, an edge 1 s
//! ahead would see every bucket 1 s fuller than the others do). Redis 7
//! replicates a script's effects, not the script, so reading `TIME` before
//! a write is allowed and replicas store the same value.

use std::{sync::LazyLock, time::Duration};

use async_trait::async_trait;
use redis::Script;

use super::RedisStore;
use crate::store::{
    Decision, Limit, RateLimitStore, StoreError, StoreResult, limits::SLACK_MICROS,
};

/// KEYS[1] bucket; ARGV[1] emission interval in µs; ARGV[2] burst;
/// ARGV[3] cost; ARGV[4] slack in µs (`limits::SLACK_MICROS`). The value
/// is the TAT in µs on the server's clock; its TTL is the time until the
/// bucket is full again, when the value means nothing. Returns
/// {allowed (0|1), retry after in µs, remaining}.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2]) * interval
local slack = tonumber(ARGV[4])
local ahead = 0
local stored = redis.call('GET', KEYS[1])
if stored then ahead = math.max((tonumber(stored) or now) - now, 0) end
local new_ahead = ahead + tonumber(ARGV[3]) * interval
if new_ahead > tolerance + slack then
  return {0, math.ceil(new_ahead - tolerance), math.floor((tolerance - ahead + slack) / interval)}
end
local ttl = math.ceil(new_ahead / 1000)
if ttl > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', now + new_ahead), 'PX', ttl)
end
return {1, 0, math.floor((tolerance - new_ahead + slack) / interval)}
",
    )
});

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn acquire(&self, key: &str, limit: Limit, cost: u32) -> StoreResult<Decision> {
        let key = self.k(key);
        let key = key.as_str();
        let interval = limit.interval_micros();
        let (allowed, retry_micros, remaining): (i64, i64, i64) = self
            .run("rate-limit script", |mut c| async move {
                ACQUIRE
                    .key(key)
                    .arg(interval)
                    .arg(limit.burst)
                    .arg(cost)
                    .arg(SLACK_MICROS)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        decision(allowed, retry_micros, remaining)
    }
}

/// The script's reply as a [`Decision`].
fn decision(allowed: i64, retry_micros: i64, remaining: i64) -> StoreResult<Decision> {
    let bad = || {
        StoreError::Protocol(format!(
            "redis rate-limit script replied {{{allowed}, {retry_micros}, {remaining}}}"
        ))
    };
    let allowed = match allowed {
        0 => false,
        1 => true,
        _ => return Err(bad()),
    };
    Ok(Decision {
        allowed,
        retry_after: Duration::from_micros(u64::try_from(retry_micros).map_err(|_| bad())?),
        remaining: u64::try_from(remaining).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_outside_the_script_s_range_are_protocol_errors() {
        assert_eq!(
            decision(0, 1500, 0),
            Ok(Decision {
                allowed: false,
                retry_after: Duration::from_micros(1500),
                remaining: 0
            })
        );
        assert!(matches!(decision(2, 0, 0), Err(StoreError::Protocol(_))));
        assert!(matches!(decision(0, -1, 0), Err(StoreError::Protocol(_))));
    }
}
