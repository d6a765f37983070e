//! The edge's drain: what SIGTERM does to the tool calls in flight.
//!
//! At the signal the edge stops accepting connections and `/ready` fails,
//! so a load balancer sends nothing new; calls already running get up to
//! `D365MCP_DRAIN_TIMEOUT` to finish and be answered as usual. A call still
//! running then is answered as abandoned — `outcome_unknown` for a write,
//! which may have reached D365FO, retryable `unavailable` for a read —
//! before the sessions and streams are cancelled, so no client gets a bare
//! 500 in place of a JSON-RPC answer.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use common::{ErrorCode, Failure};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long finished and abandoned calls get to write their answers before
/// the sessions and streams are cancelled.
const ANSWER_GRACE: Duration = Duration::from_millis(300);

/// Calls in flight on this edge, and whether it is draining.
#[derive(Debug, Default)]
pub struct Drain {
    running: AtomicUsize,
    idle: Notify,
    draining: AtomicBool,
    /// Cancelled when the drain's time is up: calls still running answer.
    abandon: CancellationToken,
}

/// One call in flight; dropping it ends the call's count.
#[must_use = "the call counts as running while this lives"]
pub struct Running(Arc<Drain>);

impl Drop for Running {
    fn drop(&mut self) {
        crate::metrics::calls_in_flight().dec();
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    /// A new drain, not draining.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counts a call as running until the returned guard drops.
    pub fn enter(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::AcqRel);
        crate::metrics::calls_in_flight().inc();
        Running(Arc::clone(self))
    }

    /// Whether SIGTERM has started the drain (`/ready` fails).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Calls running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Resolves when the drain's time is up for the calls still running.
    pub async fn abandoned(&self) {
        self.abandon.cancelled().await;
    }

    /// Drains: waits up to `timeout` for the calls running to finish, has
    /// the rest answer as abandoned, and gives every answer [`ANSWER_GRACE`]
    /// to be written. Returns how many were abandoned.
    pub async fn run(&self, timeout: Duration) -> usize {
        self.draining.store(true, Ordering::Release);
        let all_done = async {
            loop {
                let idle = self.idle.notified();
                if self.running() == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(timeout, all_done).await;
        let left = self.running();
        if left > 0 {
            tracing::warn!(
                calls = left,
                "drain time is up; answering the calls still running as abandoned"
            );
            self.abandon.cancel();
        }
        // A handler that has returned has not necessarily written its answer
        // yet (rmcp does that after it): cancelling the sessions at once
        // would cut it off.
        tokio::time::sleep(ANSWER_GRACE).await;
        left
    }
}

/// Refuses a `tools/call` with 503 and `Retry-After` while `max` calls are
/// running on this edge, rather than queueing it without bound behind
/// them, and while the edge drains (one read before the drain began must
/// not start a write it would likely abandon): the client (or its load balancer) tries again, on this edge or
/// another. A soft limit: calls arriving at the same instant are counted
/// only once their handler starts, so a few may pass it together. Runs
/// after the body guard, whose [`crate::limits::RpcRequest`] names the tool.
pub async fn shed(
    State((drain, max)): State<(Arc<Drain>, usize)>,
    request: Request,
    next: Next,
) -> Response {
    let id = match request.extensions().get::<crate::limits::RpcRequest>() {
        Some(rpc) if rpc.tool.is_some() && (drain.is_draining() || drain.running() >= max) => {
            rpc.id.clone()
        }
        _ => return next.run(request).await,
    };
    // Nothing was sent: safe to send again, to this edge or another.
    crate::metrics::refused(if drain.is_draining() {
        crate::metrics::Refusal::Draining
    } else {
        crate::metrics::Refusal::InFlight
    });
    let message = if drain.is_draining() {
        "this edge is shutting down and takes no new tool call; send it again".to_owned()
    } else {
        format!(
            "this edge is running its limit of {max} tool calls (D365MCP_MAX_CALLS_IN_FLIGHT); \
             retry in a moment"
        )
    };
    let failure =
        Failure::new(ErrorCode::Unavailable, message).with_retry_after(Duration::from_secs(1));
    crate::error::refusal(&failure, id)
}

/// The failure of a call the drain abandoned: a write may have reached
/// D365FO, so its outcome is unknown; a read may be sent again.
pub fn abandoned(read_only: bool) -> Failure {
    if read_only {
        return Failure::new(
            ErrorCode::Unavailable,
            "this edge is shutting down and stopped the call before it finished; send it again",
        )
        .with_retry_after(Duration::from_secs(1));
    }
    Failure::new(
        ErrorCode::OutcomeUnknown,
        "this edge is shutting down and stopped the call while it may have been changing data \
         in D365FO; read the record (or check the action's effect) before calling again, so the \
         change is not made twice",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_that_finish_in_time_are_not_abandoned() {
        let drain = Drain::new();
        let call = drain.enter();
        let ends = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(call);
        });
        assert_eq!(drain.run(Duration::from_secs(10)).await, 0);
        assert!(drain.is_draining());
        ends.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn calls_still_running_at_the_deadline_are_abandoned() {
        let drain = Drain::new();
        let _stuck = drain.enter();
        let watcher = {
            let drain = Arc::clone(&drain);
            tokio::spawn(async move { drain.abandoned().await })
        };
        assert_eq!(drain.run(Duration::from_secs(5)).await, 1);
        watcher.await.unwrap();
        assert_eq!(abandoned(false).code, ErrorCode::OutcomeUnknown);
        assert!(abandoned(true).code.is_retryable());
    }
}
