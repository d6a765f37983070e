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
                tracing::warn!(reason = ?refused, remote = ?request.remote_addr(),
                    "refused a gRPC call without a valid assertion");
                return Err(Status::unauthenticated(refused.to_string()));
            }
        }
        let mut request = request.into_inner();
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

/// Longest a stopping worker waits for keyed writes whose callers left.
const DETACHED_DRAIN: std::time::Duration = std::time::Duration::from_secs(20);

/// Serves `worker` and the gRPC health service on `listener` until
/// `shutdown` completes, then drains in-flight calls, then the keyed writes
/// whose callers left (at most `DETACHED_DRAIN`).
pub async fn serve(
    listener: TcpListener,
    worker: Arc<Worker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
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
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(grpc_service(Arc::clone(&worker)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    tracing::info!("worker gRPC server stopped");
    // Keyed writes whose callers left still run; let them end and record
    // how, within a bound shorter than Kubernetes' default grace (30 s).
    worker.finish_detached(DETACHED_DRAIN).await;
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
