//! At most once, across retries and failover.
//!
//! The HTTP client never retries a non-idempotent request, and the edge
//! never hands a non-idempotent call to a second worker once one may have
//! started it. What is left is a call replayed with the same request id — a
//! gRPC retry after a lost stream, or an edge that failed over. [`claim`]
//! records the edge's request id in the shared store before anything is
//! sent; the first worker to record it sends the request, every later one
//! refuses. The record outlives any replay (24 hours) and is never removed
//! after a failure: a request that may have reached D365FO has to stay
//! claimed, and one that provably did not is never replayed by the edge.
//!
//! If the store cannot be reached, nothing is sent: a write that might run
//! twice is worse than one that does not run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::store::KvStore;
use serde_json::json;

use crate::{d365::odata, error::WorkerError, tools::Context};

/// Prefix of idempotency records in the shared store; `v1` is the format of
/// the value, so a change of it cannot be misread by an older worker.
pub const KEY_PREFIX: &str = "d365mcp:idem:v1:";

/// How long a request id stays claimed.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest request id accepted; the edge's are UUIDs.
const MAX_REQUEST_ID: usize = 256;

/// The store key of `request_id`.
pub fn key(request_id: &str) -> String {
    format!("{KEY_PREFIX}{request_id}")
}

/// Claims the call's request id for `tool`; an error means: do not send.
pub async fn claim(ctx: &Context<'_>, tool: &str) -> Result<(), WorkerError> {
    claim_in(ctx.store.as_ref(), ctx.request_id, tool, &ctx.env.name).await
}

/// [`claim`] against any key-value store.
pub async fn claim_in(
    store: &dyn KvStore,
    request_id: &str,
    tool: &str,
    environment: &str,
) -> Result<(), WorkerError> {
    if request_id.trim().is_empty() || request_id.len() > MAX_REQUEST_ID {
        return Err(WorkerError::Internal(format!(
            "{tool} may change data and needs the call's request id (1 to {MAX_REQUEST_ID} \
             characters) to run at most once; the call carries {}. Nothing was sent to D365FO.",
            if request_id.is_empty() {
                "none".to_owned()
            } else {
                format!("one of {} characters", request_id.len())
            }
        )));
    }
    let claimed_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let record = json!({
        "tool": tool,
        "environment": environment,
        "claimed_unix_ms": claimed_ms,
    });
    match store
        .set_if_absent(&key(request_id), Bytes::from(record.to_string()), TTL)
        .await
    {
        Ok(true) => Ok(()),
        // The closest code the cluster has to "conflict": not retryable, and
        // shown to the model, which must decide what to do next.
        Ok(false) => Err(WorkerError::invalid_args(
            tool,
            format!(
                "this call (request id {}) was already sent to D365FO by an earlier attempt \
                 and was not sent again, so it cannot apply twice; its result was lost. Check \
                 in D365FO whether it took effect before calling again",
                odata::quote(request_id)
            ),
        )),
        Err(e) => Err(WorkerError::Internal(format!(
            "could not record the call's request id in the shared store ({e}); nothing was \
             sent to D365FO, so the call can be made again"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use common::{ErrorCode, store::MemoryStore};

    use super::*;

    #[tokio::test]
    async fn a_request_id_is_claimed_once() {
        let store = MemoryStore::new();
        claim_in(&store, "r-1", "d365fo_call_action", "prod")
            .await
            .unwrap();
        let again = claim_in(&store, "r-1", "d365fo_call_action", "prod")
            .await
            .unwrap_err();
        assert_eq!(again.code(), ErrorCode::InvalidArguments);
        assert!(again.to_string().contains("already sent"), "{again}");
        // Another id, or the same id after the record is gone, runs.
        claim_in(&store, "r-2", "d365fo_call_action", "prod")
            .await
            .unwrap();
        let record = store.get(&key("r-1")).await.unwrap().unwrap();
        let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
        assert_eq!(record["tool"], "d365fo_call_action");
        assert_eq!(record["environment"], "prod");
    }

    #[tokio::test]
    async fn no_request_id_means_nothing_is_sent() {
        let store = MemoryStore::new();
        for bad in [String::new(), " ".into(), "x".repeat(257)] {
            let e = claim_in(&store, &bad, "t", "e").await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::Internal);
            assert!(e.to_string().contains("Nothing was sent"), "{e}");
        }
    }
}
