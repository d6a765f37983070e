//! [`ThrottleGate`]: D365FO's throttling is per identity and environment,
//! so backing off is a decision for every worker, not just the one that was
//! told. A worker that gets a 429 with `Retry-After` records the time until
//! which the environment is closed in the shared store; every worker checks
//! it before sending and waits until then — within the call's deadline — or
//! fails at once with a retryable `throttled` error that says how long.
//!
//! The gate is advisory: when the store cannot be read, requests go out and
//! D365FO's own 429 still protects it.

use std::time::Duration;

use bytes::Bytes;
use common::store::SharedStore;

use super::retry::{Deadline, unix_now_ms};
use crate::error::WorkerError;

/// Key prefix of throttle windows; `v1` is the value's format (Unix ms).
pub const PREFIX: &str = "d365mcp:throttle:v1:";

/// The shared back-off window of one environment and identity.
pub struct ThrottleGate {
    store: SharedStore,
    key: String,
}

impl ThrottleGate {
    /// The gate of the environment at `base_url` as `identity` (the client
    /// id, or `anonymous` when no token is sent).
    pub fn new(store: SharedStore, base_url: &str, identity: &str) -> Self {
        Self {
            store,
            key: format!("{PREFIX}{}|{identity}", base_url.trim_end_matches('/')),
        }
    }

    /// Waits while the environment is closed, if the deadline allows;
    /// otherwise fails with `throttled` and the time left to wait.
    pub async fn wait(&self, deadline: Deadline) -> Result<(), WorkerError> {
        let until_ms = match self.store.get(&self.key).await {
            Ok(Some(bytes)) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse::<u64>().ok()),
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(%error, "throttle window unreadable; sending anyway");
                None
            }
        };
        let Some(left) = until_ms.and_then(|until| until.checked_sub(unix_now_ms())) else {
            return Ok(());
        };
        let left = Duration::from_millis(left);
        if deadline.remaining().is_some_and(|time| time < left) {
            return Err(WorkerError::Throttled {
                retry_after: Some(left),
            });
        }
        tracing::info!(
            wait_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            "D365FO throttled this environment; waiting as every worker does"
        );
        tokio::time::sleep(left).await;
        Ok(())
    }

    /// Closes the environment for `retry_after`, for every worker.
    pub async fn close_for(&self, retry_after: Duration) {
        let until =
            unix_now_ms().saturating_add(u64::try_from(retry_after.as_millis()).unwrap_or(0));
        let value = Bytes::from(until.to_string());
        if let Err(error) = self.store.set(&self.key, value, Some(retry_after)).await {
            tracing::warn!(%error, "could not share D365FO's Retry-After with other workers");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::store::MemoryStore;

    use super::*;

    #[tokio::test]
    async fn a_closed_environment_is_waited_out_or_refused() {
        let store: SharedStore = Arc::new(MemoryStore::new());
        let a = ThrottleGate::new(store.clone(), "https://x.example/", "app");
        let b = ThrottleGate::new(store.clone(), "https://x.example", "app");
        let other = ThrottleGate::new(store, "https://x.example", "other-app");
        b.wait(Deadline::NONE).await.unwrap();
        a.close_for(Duration::from_millis(300)).await;
        // Another identity is not held back.
        other
            .wait(Deadline::after(Duration::from_millis(10)))
            .await
            .unwrap();
        // Too little time left: refused at once, with the wait to come.
        let refused = b
            .wait(Deadline::after(Duration::from_millis(50)))
            .await
            .unwrap_err();
        let WorkerError::Throttled {
            retry_after: Some(left),
        } = refused
        else {
            panic!("{refused:?}");
        };
        assert!(left > Duration::from_millis(100), "{left:?}");
        // Enough time: waited out.
        let started = std::time::Instant::now();
        b.wait(Deadline::after(Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150));
        b.wait(Deadline::NONE).await.unwrap();
    }
}
