//! The edge's one worker client.
//!
//! In `dev` the worker runs in this process and calls are plain function
//! calls; in a cluster each worker is a gRPC endpoint. Either way the edge
//! sees the same thing: a stream of events ending in one result.
//!
//! Choosing a worker: the ring is keyed by D365FO environment so that an
//! environment's cache and connection pool stay warm on few workers; bounded
//! load spills a hot environment to the next worker; workers failing their
//! health check are skipped. A call is retried on the next worker only when
//! the first provably never started it (connection refused) or when the tool
//! only reads — so a write is never sent twice by this layer. (An update is
//! idempotent in effect, yet replaying it after an ambiguous failure would
//! meet the first attempt's request-id claim or a changed ETag: it is not
//! failed over either.)

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{
    ErrorCode, Failure,
    executor::ToolExecutor,
    proto::{CallToolEvent, CallToolRequest, MAX_MESSAGE_BYTES, worker_client::WorkerClient},
    ring::HashRing,
};
use futures::{StreamExt, stream::BoxStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use url::Url;

use crate::EdgeError;

/// The gRPC service name workers report health for.
const WORKER_SERVICE: &str = "d365mcp.worker.v1.Worker";
/// Bounded-load factor: no worker takes more than 125 % of the average.
const LOAD_FACTOR: f64 = 1.25;
/// How long one health check may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// Events of one call, ending with the result.
pub type EventStream = BoxStream<'static, Result<CallToolEvent, Failure>>;

/// Where tool calls go.
#[derive(Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

enum Inner {
    Local(Arc<dyn ToolExecutor>),
    Remote(Remote),
}

struct Remote {
    members: HashMap<String, Arc<Member>>,
    ring: HashRing<String>,
}

struct Member {
    url: String,
    client: WorkerClient<Channel>,
    health: HealthClient<Channel>,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
}

/// One worker's state, for `/ready` and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// The worker's gRPC URL, or `in-process`.
    pub url: String,
    /// Passed its last health check.
    pub healthy: bool,
    /// Calls this edge has running on it.
    pub in_flight: usize,
}

impl WorkerPool {
    /// Calls go to `executor` in this process.
    pub fn local(executor: Arc<dyn ToolExecutor>) -> Self {
        Self {
            inner: Arc::new(Inner::Local(executor)),
        }
    }

    /// Calls go to the gRPC workers at `urls`. Connections are made lazily;
    /// every worker counts as healthy until a check or a call says otherwise.
    pub fn remote(urls: &[Url]) -> Result<Self, EdgeError> {
        if urls.is_empty() {
            return Err(EdgeError::NoWorkers);
        }
        let mut members = HashMap::new();
        for url in urls {
            let key = url.as_str().trim_end_matches('/').to_owned();
            let endpoint = Endpoint::from_shared(key.clone())
                .map_err(|e| EdgeError::BadWorkerUrl {
                    url: key.clone(),
                    reason: e.to_string(),
                })?
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(10))
                .keep_alive_timeout(Duration::from_secs(5))
                .keep_alive_while_idle(true);
            let channel = endpoint.connect_lazy();
            members.insert(
                key.clone(),
                Arc::new(Member {
                    url: key,
                    client: WorkerClient::new(channel.clone())
                        .max_decoding_message_size(MAX_MESSAGE_BYTES)
                        .max_encoding_message_size(MAX_MESSAGE_BYTES),
                    health: HealthClient::new(channel),
                    healthy: AtomicBool::new(true),
                    in_flight: AtomicUsize::new(0),
                }),
            );
        }
        let ring = HashRing::new(members.keys().cloned());
        Ok(Self {
            inner: Arc::new(Inner::Remote(Remote { members, ring })),
        })
    }

    /// Every worker's state.
    pub fn status(&self) -> Vec<WorkerStatus> {
        match self.inner.as_ref() {
            Inner::Local(_) => vec![WorkerStatus {
                url: "in-process".into(),
                healthy: true,
                in_flight: 0,
            }],
            Inner::Remote(remote) => remote
                .ring
                .members()
                .iter()
                .filter_map(|key| remote.members.get(key))
                .map(|m| WorkerStatus {
                    url: m.url.clone(),
                    healthy: m.healthy.load(Ordering::Relaxed),
                    in_flight: m.in_flight.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }

    /// At least one worker is healthy.
    pub fn is_ready(&self) -> bool {
        self.status().iter().any(|s| s.healthy)
    }

    /// Checks every worker's health once, concurrently.
    pub async fn check_health(&self) {
        let Inner::Remote(remote) = self.inner.as_ref() else {
            return;
        };
        let checks = remote.members.values().map(|member| async move {
            let mut health = member.health.clone();
            let request = HealthCheckRequest {
                service: WORKER_SERVICE.into(),
            };
            let healthy = matches!(
                tokio::time::timeout(HEALTH_TIMEOUT, health.check(request)).await,
                Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32
            );
            let was = member.healthy.swap(healthy, Ordering::Relaxed);
            if was != healthy {
                tracing::info!(worker = %member.url, healthy, "worker health changed");
            }
        });
        futures::future::join_all(checks).await;
    }

    /// Checks health every `interval` until `stop` is cancelled.
    pub fn spawn_health_checks(
        &self,
        interval: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let pool = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticker.tick() => pool.check_health().await,
                }
            }
        })
    }

    /// Starts `request` on a worker. `read_only` allows a retry on another
    /// worker after an ambiguous failure; `timeout` bounds the whole call.
    pub async fn call(
        &self,
        request: CallToolRequest,
        read_only: bool,
        timeout: Duration,
    ) -> Result<EventStream, Failure> {
        match self.inner.as_ref() {
            Inner::Local(executor) => Ok(executor.call_tool(request).map(Ok).boxed()),
            Inner::Remote(remote) => remote.call(request, read_only, timeout).await,
        }
    }
}

impl Remote {
    async fn call(
        &self,
        request: CallToolRequest,
        read_only: bool,
        timeout: Duration,
    ) -> Result<EventStream, Failure> {
        let healthy = |key: &String| {
            self.members
                .get(key)
                .is_some_and(|m| m.healthy.load(Ordering::Relaxed))
        };
        let load = |key: &String| {
            self.members
                .get(key)
                .map_or(0, |m| m.in_flight.load(Ordering::Relaxed))
        };
        let mut order = self
            .ring
            .pick(&request.environment, healthy, load, LOAD_FACTOR);
        if order.is_empty() {
            // Every health check failed; they may be stale, so try anyway.
            order = self.ring.candidates(&request.environment);
        }
        let mut last_error = String::from("no worker tried");
        for key in &order {
            let Some(member) = self.members.get(key) else {
                continue;
            };
            let mut grpc_request = tonic::Request::new(request.clone());
            grpc_request.set_timeout(timeout);
            let guard = InFlight::start(member.clone());
            match member.client.clone().call_tool(grpc_request).await {
                Ok(response) => {
                    let url = member.url.clone();
                    let events = response.into_inner().map(move |event| {
                        let _held = &guard;
                        event.map_err(|status| lost_worker(&url, &status))
                    });
                    return Ok(events.boxed());
                }
                Err(status)
                    if never_started(&status)
                        || (read_only && status.code() == tonic::Code::Unavailable) =>
                {
                    member.healthy.store(false, Ordering::Relaxed);
                    tracing::warn!(worker = %member.url, error = %status, "worker unreachable; trying the next one");
                    last_error = format!("{}: {}", member.url, status.message());
                }
                Err(status) => return Err(status_to_failure(&member.url, &status)),
            }
        }
        Err(Failure::new(
            ErrorCode::Unavailable,
            format!(
                "no worker could take the call ({} tried; last error: {last_error}). \
                 Check that the workers are running and reachable from this edge.",
                order.len()
            ),
        ))
    }
}

/// Counts a call against its worker while the call's stream lives.
struct InFlight(Arc<Member>);

impl InFlight {
    fn start(member: Arc<Member>) -> Self {
        member.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(member)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// True when the status proves the request never reached a worker: the
/// connection could not be made at all.
fn never_started(status: &tonic::Status) -> bool {
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NotFound
            )
        {
            return true;
        }
        if err.to_string().contains("tcp connect error") {
            return true;
        }
        source = err.source();
    }
    false
}

fn status_to_failure(url: &str, status: &tonic::Status) -> Failure {
    let code = match status.code() {
        tonic::Code::DeadlineExceeded => ErrorCode::DeadlineExceeded,
        tonic::Code::Cancelled => ErrorCode::Cancelled,
        tonic::Code::Unavailable => ErrorCode::Unavailable,
        tonic::Code::InvalidArgument => ErrorCode::InvalidRequest,
        tonic::Code::ResourceExhausted => ErrorCode::RateLimited,
        _ => ErrorCode::Internal,
    };
    let message = match code {
        ErrorCode::DeadlineExceeded => {
            "the tool call ran past its time limit and was cancelled".to_owned()
        }
        _ => format!("worker {url} failed the call: {}", status.message()),
    };
    Failure::new(code, message)
}

fn lost_worker(url: &str, status: &tonic::Status) -> Failure {
    match status.code() {
        tonic::Code::DeadlineExceeded => status_to_failure(url, status),
        // The stream itself was fine; what it carried was not (too large, or
        // malformed). Retrying would fail the same way.
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted | tonic::Code::Internal => {
            Failure::new(
                ErrorCode::Internal,
                format!(
                    "worker {url} sent a result this edge cannot accept ({}); if the result is \
                     large, narrow `select` or lower `top`",
                    status.message()
                ),
            )
        }
        _ => Failure::new(
            ErrorCode::Unavailable,
            format!(
                "lost the connection to worker {url} during the call ({}); the call may or may \
                 not have completed",
                status.message()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port nothing listens on: bind, note the port, close.
    async fn closed_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    fn request() -> CallToolRequest {
        CallToolRequest {
            request_id: "r1".into(),
            environment: "default".into(),
            tool: "d365fo_create_thing".into(),
            arguments_json: "{}".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_refused_connection_proves_the_call_never_started() {
        let url = format!("http://127.0.0.1:{}", closed_port().await);
        let channel = Endpoint::from_shared(url).unwrap().connect_lazy();
        let status = WorkerClient::new(channel)
            .call_tool(request())
            .await
            .expect_err("nothing listens there");
        assert!(never_started(&status), "{status:?}");
        assert!(!never_started(&tonic::Status::unavailable(
            "worker shutting down"
        )));
        assert!(!never_started(&tonic::Status::internal("boom")));
    }

    #[tokio::test]
    async fn a_non_idempotent_call_fails_over_only_when_it_never_started() {
        let urls = [
            Url::parse(&format!("http://127.0.0.1:{}", closed_port().await)).unwrap(),
            Url::parse(&format!("http://127.0.0.1:{}", closed_port().await)).unwrap(),
        ];
        let pool = WorkerPool::remote(&urls).unwrap();
        let failure = match pool.call(request(), false, Duration::from_secs(2)).await {
            Err(failure) => failure,
            Ok(_) => panic!("no worker is listening"),
        };
        assert_eq!(failure.code, ErrorCode::Unavailable);
        assert!(failure.message.contains("2 tried"), "{}", failure.message);
        assert!(
            pool.status().iter().all(|w| !w.healthy),
            "refused workers are marked unhealthy"
        );
        assert!(!pool.is_ready());
    }

    #[test]
    fn no_workers_is_a_configuration_error() {
        assert!(matches!(WorkerPool::remote(&[]), Err(EdgeError::NoWorkers)));
    }
}
