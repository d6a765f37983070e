//! The gRPC face of a [`Worker`]: a thin adapter over
//! [`ToolExecutor`], and [`serve`], which runs it beside the standard health
//! service on a listener it is handed.
//!
//! A call's deadline comes from the `grpc-timeout` header when the caller
//! sent one: a relative time, turned into an absolute one with this
//! machine's clock, so a skew between the edge's clock and ours cannot
//! shorten or stretch it. `deadline_unix_ms` (the edge's clock) is used only
//! without that header.
//!
//! The call's W3C trace context travels in the request's `trace_context`
//! (or, from other gRPC clients, as `traceparent` metadata); the executor
//! continues it on the call's span.
//!
//! With an internal secret configured, a call must carry the edge's signed
//! assertion of who is calling (`common::assertion`); one without it, or
//! with a bad or expired one, is refused with `Unauthenticated` before it
//! runs. The health service stays open.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::{
    executor::ToolExecutor,
    proto::{
        CallToolEvent, CallToolRequest, ListToolsRequest, ListToolsResponse,
        worker_server::{self, WorkerServer},
    },
};
use futures::{Stream, StreamExt};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use crate::{Worker, error::WorkerError};

/// The message size both ends allow; defined with the contract in `common`.
pub use common::proto::MAX_MESSAGE_BYTES;

/// The adapter: extracts the request, calls the worker, wraps the answer.
pub struct GrpcService {
    worker: Arc<Worker>,
}

/// The worker as a tonic service.
pub fn grpc_service(worker: Arc<Worker>) -> WorkerServer<GrpcService> {
    WorkerServer::new(GrpcService { worker })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<CallToolEvent, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl worker_server::Worker for GrpcService {
    type CallToolStream = EventStream;

    async fn call_tool(
        &self,
        request: Request<CallToolRequest>,
    ) -> Result<Response<Self::CallToolStream>, Status> {
        let timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        if let Some(secret) = &self.worker.node().config.internal_secret {
            let assertion = request
                .metadata()
                .get(common::assertion::METADATA_KEY)
                .and_then(|v| v.to_str().ok());
            if let Err(refused) = secret.verify(request.get_ref(), assertion) {
                if let Some(left_out) = REFUSAL_LOG.admit() {
                    tracing::warn!(reason = ?refused, remote = ?request.remote_addr(), left_out,
                        "refused a gRPC call without a valid assertion");
                }
                return Err(Status::unauthenticated(refused.to_string()));
            }
        }
        let metadata_trace = trace_metadata(request.metadata());
        let mut request = request.into_inner();
        if request.trace_context.is_empty() {
            request.trace_context = metadata_trace;
        }
        if let Some(timeout) = timeout {
            request.deadline_unix_ms = deadline_after(timeout);
        }
        // Tool failures travel inside the stream as `ToolFailure`; a gRPC
        // status is left for transport problems.
        let events = self.worker.call_tool(request).map(Ok);
        Ok(Response::new(Box::pin(events)))
    }

    async fn list_tools(
        &self,
        _request: Request<ListToolsRequest>,
    ) -> Result<Response<ListToolsResponse>, Status> {
        Ok(Response::new(self.worker.list_tools()))
    }
}

/// W3C trace context sent as gRPC metadata (`traceparent`, `tracestate`),
/// as an OpenTelemetry interceptor sends it: followed when the request's
/// own `trace_context` is empty. Checked where it is read
/// (`common::trace::Incoming`).
fn trace_metadata(
    metadata: &tonic::metadata::MetadataMap,
) -> std::collections::HashMap<String, String> {
    [common::trace::TRACEPARENT, common::trace::TRACESTATE]
        .into_iter()
        .filter_map(|key| {
            let value = metadata.get(key)?.to_str().ok()?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Refused calls are logged at most this often, so that a flood of them
/// (anything that reaches the port) does not flood the log.
static REFUSAL_LOG: LogBudget = LogBudget::new(10, 10_000);

/// At most `lines` log lines per window of `window_ms`, counting the rest.
struct LogBudget {
    lines: u64,
    window_ms: u64,
    /// The current window's start (ms since the Unix epoch) and its count.
    state: parking_lot::Mutex<(u64, u64, u64)>,
}

impl LogBudget {
    const fn new(lines: u64, window_ms: u64) -> Self {
        Self {
            lines,
            window_ms,
            state: parking_lot::const_mutex((0, 0, 0)),
        }
    }

    /// `Some(lines left out since the last one written)` when a line may
    /// be written now; `None` when it is to be counted and left out.
    fn admit(&self) -> Option<u64> {
        self.admit_at(deadline_after(Duration::ZERO))
    }

    fn admit_at(&self, now_ms: u64) -> Option<u64> {
        let mut state = self.state.lock();
        let (start, written, left_out) = &mut *state;
        if now_ms.saturating_sub(*start) >= self.window_ms {
            (*start, *written) = (now_ms, 0);
        }
        if *written < self.lines {
            *written += 1;
            Some(std::mem::take(left_out))
        } else {
            *left_out += 1;
            None
        }
    }
}

/// Parses a `grpc-timeout` value: 1 to 8 digits and a unit (`H`, `M`, `S`,
/// `m`, `u`, `n`), per gRPC over HTTP/2. Anything else is `None`.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most 8 digits: no overflow, even in hours.
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// `timeout` from now on this machine's clock, as Unix milliseconds (never 0,
/// which means "no deadline").
fn deadline_after(timeout: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = now.saturating_add(timeout).as_millis();
    u64::try_from(at).unwrap_or(u64::MAX).max(1)
}

/// Serves `worker` and the gRPC health service on `listener` until
/// `shutdown` completes, then drains within the worker's drain timeout
/// (`D365MCP_DRAIN_TIMEOUT`, shorter than the pod's grace period):
///
/// 1. the health service says NOT_SERVING and the server stops taking new
///    calls (the membership lease was already given up by the role, so
///    edges stop choosing this worker);
/// 2. calls in flight get the rest of the drain to finish;
/// 3. calls still running then are dropped (their edges answer a read as
///    retryable and a write as `outcome_unknown`), and keyed writes whose
///    callers left get what remains of the drain to record their outcome.
///
/// Without the bound, one 120 s tool call would outlive a 30 s grace
/// period and be killed mid-write with no record of how it ended.
pub async fn serve(
    listener: TcpListener,
    worker: Arc<Worker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let drain = worker.node().config.drain_timeout;
    let (health, health_service) = tonic_health::server::health_reporter();
    // "" (the whole server) starts SERVING; name the worker service too.
    health.set_serving::<WorkerServer<GrpcService>>().await;
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn {
            // Small frames (progress events) must not wait for Nagle.
            let _ = stream.set_nodelay(true);
        }
        conn
    });
    tracing::info!("worker gRPC server running");
    let stopping = tokio_util::sync::CancellationToken::new();
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc_service(Arc::clone(&worker)))
        .serve_with_incoming_shutdown(incoming, stopping.clone().cancelled_owned());
    tokio::pin!(server);
    let deadline = tokio::select! {
        served = &mut server => {
            served?;
            tokio::time::Instant::now() + drain
        }
        () = shutdown => {
            let deadline = tokio::time::Instant::now() + drain;
            health.set_not_serving::<WorkerServer<GrpcService>>().await;
            stopping.cancel();
            tracing::info!(drain_ms = drain.as_millis() as u64, "draining calls in flight");
            match tokio::time::timeout_at(deadline, &mut server).await {
                Ok(served) => served?,
                Err(_) => tracing::warn!(
                    drain_ms = drain.as_millis() as u64,
                    "calls still running at the end of the drain; stopping them"
                ),
            }
            deadline
        }
    };
    tracing::info!("worker gRPC server stopped");
    // Keyed writes whose callers left still run; let them end and record
    // how, within what is left of the drain.
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    worker.finish_detached(left).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn grpc_timeouts() {
        for (text, expected) in [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("30S", Duration::from_secs(30)),
            ("250m", Duration::from_millis(250)),
            ("7u", Duration::from_micros(7)),
            ("99999999n", Duration::from_nanos(99_999_999)),
            ("0S", Duration::ZERO),
            ("99999999H", Duration::from_secs(99_999_999 * 3600)),
        ] {
            assert_eq!(parse_grpc_timeout(text), Some(expected), "{text}");
        }
        for bad in [
            "",
            "S",
            "5",
            "5s",
            "5x",
            "-5S",
            "+5S",
            " 5S",
            "5 S",
            "123456789S",
            "1.5S",
            "5SS",
            "５S",
            "5é",
        ] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn refusals_are_logged_within_a_budget() {
        let budget = LogBudget::new(2, 1_000);
        assert_eq!(budget.admit_at(5_000), Some(0));
        assert_eq!(budget.admit_at(5_001), Some(0));
        assert_eq!(budget.admit_at(5_002), None);
        assert_eq!(budget.admit_at(5_999), None);
        // A new window writes again and says how many were left out.
        assert_eq!(budget.admit_at(6_000), Some(2));
        assert_eq!(budget.admit_at(6_001), Some(0));
    }

    #[test]
    fn deadlines_use_this_clock() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let at = deadline_after(Duration::from_secs(10));
        assert!((now + 9_000..=now + 11_000).contains(&at), "{at} vs {now}");
        assert!(deadline_after(Duration::ZERO) >= now);
        let _ = deadline_after(Duration::MAX);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,12}") {
            let _ = parse_grpc_timeout(&s);
        }
    }
}
