//! [`RateLimitStore`] on Redis: the GCRA rule of `store::limits` as one Lua
//! script over every bucket of a request, so a request costs one round trip
//! however many limits apply. On Redis Cluster a script may only touch keys
//! of one slot: the caller gives the keys of one call one hash tag.
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
use crate::store::{Decision, RateLimitStore, StoreError, StoreResult, Take, limits::SLACK_MICROS};

/// KEYS the buckets, in order; ARGV[1] slack in µs (`limits::SLACK_MICROS`),
/// then per bucket its emission interval in µs, burst and cost. A value is
/// the TAT in µs on the server's clock; its TTL is the time until the
/// bucket is full again, when the value means nothing. Every bucket is
/// read before any is written, and nothing is written once one refuses.
/// Returns {allowed (0|1), retry after in µs, remaining} per bucket asked.
static ACQUIRE_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local slack = tonumber(ARGV[1])
local reply, ahead_after = {}, {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[3 * i - 1])
  local tolerance = tonumber(ARGV[3 * i]) * interval
  local ahead = 0
  local stored = redis.call('GET', KEYS[i])
  if stored then ahead = math.max((tonumber(stored) or now) - now, 0) end
  local new_ahead = ahead + tonumber(ARGV[3 * i + 1]) * interval
  if new_ahead > tolerance + slack then
    table.insert(reply, 0)
    table.insert(reply, math.ceil(new_ahead - tolerance))
    table.insert(reply, math.floor((tolerance - ahead + slack) / interval))
    return reply
  end
  table.insert(reply, 1)
  table.insert(reply, 0)
  table.insert(reply, math.floor((tolerance - new_ahead + slack) / interval))
  ahead_after[i] = new_ahead
end
for i = 1, #KEYS do
  local ttl = math.ceil(ahead_after[i] / 1000)
  if ttl > 0 then
    redis.call('SET', KEYS[i], string.format('%.0f', now + ahead_after[i]), 'PX', ttl)
  end
end
return reply
",
    )
});

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn acquire_all(&self, takes: &[Take<'_>]) -> StoreResult<Vec<Decision>> {
        if takes.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = ACQUIRE_ALL.prepare_invoke();
        invocation.arg(SLACK_MICROS);
        for take in takes {
            invocation
                .key(self.k(take.key))
                .arg(take.limit.interval_micros())
                .arg(take.limit.burst)
                .arg(take.cost);
        }
        let invocation = &invocation;
        let reply: Vec<i64> = self
            .run("rate-limit script", |mut c| async move {
                invocation.invoke_async(&mut c).await
            })
            .await?;
        decisions(&reply, takes.len())
    }
}

/// The script's reply as one [`Decision`] per bucket asked: all admitted,
/// or admitted up to one refusal, which ends it.
fn decisions(reply: &[i64], asked: usize) -> StoreResult<Vec<Decision>> {
    let bad = || StoreError::Protocol(format!("redis rate-limit script replied {reply:?}"));
    if !reply.len().is_multiple_of(3) || reply.is_empty() || reply.len() > 3 * asked {
        return Err(bad());
    }
    let decisions = reply
        .chunks_exact(3)
        .map(|d| decision(d[0], d[1], d[2]).ok_or_else(bad))
        .collect::<StoreResult<Vec<_>>>()?;
    let refused_at = decisions.iter().position(|d| !d.allowed);
    let whole = match refused_at {
        Some(at) => at + 1 == decisions.len(),
        None => decisions.len() == asked,
    };
    if whole { Ok(decisions) } else { Err(bad()) }
}

/// One bucket's `{allowed, retry after in µs, remaining}`, if in range.
fn decision(allowed: i64, retry_micros: i64, remaining: i64) -> Option<Decision> {
    let allowed = match allowed {
        0 => false,
        1 => true,
        _ => return None,
    };
    Some(Decision {
        allowed,
        retry_after: Duration::from_micros(u64::try_from(retry_micros).ok()?),
        remaining: u64::try_from(remaining).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_outside_the_script_s_range_are_protocol_errors() {
        let refused = Decision {
            allowed: false,
            retry_after: Duration::from_micros(1500),
            remaining: 0,
        };
        assert_eq!(decisions(&[0, 1500, 0], 1), Ok(vec![refused]));
        assert_eq!(decisions(&[1, 0, 4, 0, 1500, 0], 3).map(|d| d.len()), Ok(2));
        for (reply, asked) in [
            (&[2, 0, 0][..], 1),
            (&[0, -1, 0], 1),
            (&[], 1),
            (&[1, 0], 1),
            (&[1, 0, 1], 2),
            (&[0, 5, 0, 1, 0, 1], 2),
            (&[1, 0, 1, 1, 0, 1], 1),
        ] {
            assert!(
                matches!(decisions(reply, asked), Err(StoreError::Protocol(_))),
                "{reply:?} for {asked}"
            );
        }
    }
}
