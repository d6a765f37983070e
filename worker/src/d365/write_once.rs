//! [`WriteOnce`]: a write is sent at most once per call, across the workers
//! that share a store.
//!
//! The edge gives every tool call a unique request id. Before a write
//! leaves for D365FO its request id is claimed in the shared store
//! (`SET NX` with a day's TTL); a worker that finds the claim does not send
//! the write again and says what became of the first attempt. A claim that
//! cannot be made (store down) stops the write before it is sent, so the
//! failure leaves D365FO untouched.
//!
//! Claims live in the node's global store (`--global-redis-url`, shared by
//! every region; `crate::node`), else in the regional one: workers started
//! with `--redis-url` share their claims; without either each `d365mcp
//! worker` process has its own in-memory store, and a claim guards replays
//! on the worker that made it only. Either way the edge hands a call
//! to a second worker after an ambiguous failure only when the tool is
//! read-only: a write is never replayed elsewhere, and the claim is the
//! second line of defence.

use std::time::Duration;

use bytes::Bytes;
use common::store::{SharedStore, StoreError};
use serde_json::{Value, json};

use super::retry::unix_now_ms;
use crate::{
    error::WorkerError,
    metrics::{WriteClaim, write_claim},
};

/// Key prefix of idempotency records; the version changes with the format.
pub const PREFIX: &str = "d365mcp:idem:v1:";

/// How long a claim is kept: far longer than any edge retries a call.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest request id accepted; the edge's are UUIDs.
const MAX_REQUEST_ID: usize = 200;

/// What became of a claimed write, as its record tells later attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// D365FO applied it.
    Applied,
    /// D365FO refused it; nothing changed.
    Refused,
    /// It may or may not have been applied.
    Unknown,
}

impl Settled {
    /// How a write's result settles its claim.
    pub fn of<T>(result: &Result<T, WorkerError>) -> Self {
        match result {
            Ok(_) => Self::Applied,
            Err(WorkerError::OutcomeUnknown(_)) => Self::Unknown,
            Err(_) => Self::Refused,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Refused => "refused",
            Self::Unknown => "unknown",
        }
    }
}

/// A claimed request id: the write may be sent, once.
#[must_use = "settle the claim once the write is answered"]
pub struct WriteOnce<'a> {
    store: &'a SharedStore,
    key: String,
    tool: String,
}

impl<'a> WriteOnce<'a> {
    /// Claims `request_id` for `tool`'s write, or explains why it may not be
    /// sent: already claimed (a conflict), no request id, or no store.
    pub async fn claim(
        store: &'a SharedStore,
        request_id: &str,
        tool: &str,
    ) -> Result<Self, WorkerError> {
        let request_id = request_id.trim();
        if request_id.is_empty() || request_id.len() > MAX_REQUEST_ID {
            write_claim(WriteClaim::Refused);
            return Err(WorkerError::Internal(
                "a write arrived without a usable request id, so it could not be guarded \
                 against running twice; it was not sent"
                    .into(),
            ));
        }
        let key = format!("{PREFIX}{request_id}");
        let record = json!({ "tool": tool, "state": "sent", "at_ms": unix_now_ms() });
        let fresh = match store
            .set_if_absent(&key, Bytes::from(record.to_string()), TTL)
            .await
        {
            Ok(fresh) => fresh,
            Err(e) => {
                write_claim(WriteClaim::Refused);
                return Err(unclaimed(e));
            }
        };
        if !fresh {
            write_claim(WriteClaim::Conflict);
            return Err(already_executed(store, &key, request_id).await);
        }
        write_claim(WriteClaim::Claimed);
        Ok(Self {
            store,
            key,
            tool: tool.to_owned(),
        })
    }

    /// Records how the write ended, for a later attempt's message. Best
    /// effort: the claim itself already blocks a second send.
    pub async fn settle(self, settled: Settled) {
        let record =
            json!({ "tool": self.tool, "state": settled.as_str(), "at_ms": unix_now_ms() });
        if let Err(error) = self
            .store
            .set(&self.key, Bytes::from(record.to_string()), Some(TTL))
            .await
        {
            tracing::warn!(%error, "could not record how a write ended");
        }
    }
}

/// A claim the store could not take: the write is not sent. Retryable
/// when the store is only unreachable (in a deployment of several regions
/// it is the global store, `D365MCP_GLOBAL_REDIS_URL`).
fn unclaimed(error: StoreError) -> WorkerError {
    WorkerError::Store(match error {
        StoreError::Unavailable(e) => StoreError::Unavailable(format!(
            "a write is claimed in the store that holds write claims before it is sent, so that \
             it is never sent twice, and that store is unreachable ({e}); nothing was sent; \
             retry shortly"
        )),
        StoreError::Protocol(e) => StoreError::Protocol(format!(
            "the store that holds write claims gave an answer that cannot be used ({e}); \
             nothing was sent"
        )),
    })
}

/// The conflict for a request id claimed before, saying what the record
/// knows of the first attempt.
async fn already_executed(store: &SharedStore, key: &str, request_id: &str) -> WorkerError {
    let record: Option<Value> = store
        .get(key)
        .await
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let state = record
        .as_ref()
        .and_then(|r| r.get("state"))
        .and_then(Value::as_str);
    let first = match state {
        Some("applied") => "D365FO applied it then",
        Some("refused") => "D365FO refused it then, so nothing changed",
        _ => "its outcome is unknown (it may still be running)",
    };
    WorkerError::Conflict(format!(
        "this call (request id {}) was already executed once and {first}. It is not sent \
         again, so the change cannot be made twice; read the record to check, and make a new \
         call if the change is still needed",
        crate::d365::odata::quote(request_id)
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::{ErrorCode, store::MemoryStore};

    use super::*;

    #[tokio::test]
    async fn a_request_id_is_claimed_once() {
        let store: SharedStore = Arc::new(MemoryStore::new());
        let claim = WriteOnce::claim(&store, "r-1", "t").await.unwrap();
        let again = WriteOnce::claim(&store, "r-1", "t").await.err().unwrap();
        assert_eq!(again.code(), ErrorCode::Conflict);
        assert!(again.to_string().contains("outcome is unknown"), "{again}");
        claim.settle(Settled::Applied).await;
        let again = WriteOnce::claim(&store, "r-1", "t").await.err().unwrap();
        assert!(again.to_string().contains("applied it then"), "{again}");
        assert!(WriteOnce::claim(&store, "r-2", "t").await.is_ok());
        let stored = store.get(&format!("{PREFIX}r-1")).await.unwrap().unwrap();
        let stored: Value = serde_json::from_slice(&stored).unwrap();
        assert_eq!(stored["state"], "applied");
    }

    #[tokio::test]
    async fn no_request_id_no_write() {
        let store: SharedStore = Arc::new(MemoryStore::new());
        for id in ["", "  ", &"x".repeat(201)] {
            let e = WriteOnce::claim(&store, id, "t").await.err().unwrap();
            assert_eq!(e.code(), ErrorCode::Internal, "{id}");
        }
    }

    #[test]
    fn results_settle_claims() {
        assert_eq!(Settled::of(&Ok::<(), WorkerError>(())), Settled::Applied);
        let unknown: Result<(), _> = Err(WorkerError::OutcomeUnknown("x".into()));
        assert_eq!(Settled::of(&unknown), Settled::Unknown);
        let refused: Result<(), _> = Err(WorkerError::Conflict("x".into()));
        assert_eq!(Settled::of(&refused), Settled::Refused);
        // An open circuit breaker refuses before anything is sent.
        let not_sent: Result<(), _> = Err(WorkerError::CircuitOpen {
            message: "failing".into(),
            retry_after: Duration::from_secs(1),
        });
        assert_eq!(Settled::of(&not_sent), Settled::Refused);
    }
}
