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
//!
//! The set of workers is fixed ([`WorkerPool::remote`]) or changes while the
//! edge runs ([`WorkerPool::registered`], kept in step with the shared
//! store by `crate::membership`). Either way a call works on a snapshot of
//! the set, a `Roster` (`roster`); `status` reads a worker's gRPC errors.

mod roster;
mod status;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use common::{
    ErrorCode, Failure,
    assertion::{self, InternalSecret},
    executor::ToolExecutor,
    proto::{CallToolEvent, CallToolRequest, ListToolsRequest},
};
use futures::{StreamExt, stream::BoxStream};
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use url::Url;

use self::{
    roster::{Member, Roster},
    status::{lost_worker, never_started, read_may_move, refused_or_lost},
};
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
    /// Signs each gRPC call (`common::assertion`); in-process calls need none.
    secret: Option<InternalSecret>,
}

enum Inner {
    Local(Arc<dyn ToolExecutor>),
    /// The current roster; a call or a health round works on the snapshot
    /// it took, so a change never waits for calls.
    Remote(RwLock<Arc<Roster>>),
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
            secret: None,
        }
    }

    /// Calls go to the gRPC workers at `urls`, a fixed set. Connections are
    /// made lazily; every worker counts as healthy until a check or a call
    /// says otherwise.
    pub fn remote(urls: &[Url]) -> Result<Self, EdgeError> {
        if urls.is_empty() {
            return Err(EdgeError::NoWorkers);
        }
        let (roster, changes) = Roster::build(urls, &Roster::empty());
        if let Some((url, reason)) = changes.rejected.into_iter().next() {
            return Err(EdgeError::BadWorkerUrl { url, reason });
        }
        Ok(Self::with_roster(roster))
    }

    /// Calls go to gRPC workers named later with [`WorkerPool::set_workers`]
    /// (by membership in the shared store); none until then.
    pub fn registered() -> Self {
        Self::with_roster(Roster::empty())
    }

    fn with_roster(roster: Roster) -> Self {
        Self {
            inner: Arc::new(Inner::Remote(RwLock::new(Arc::new(roster)))),
            secret: None,
        }
    }

    /// The same pool, signing every gRPC call with `secret` so that workers
    /// holding it accept them; `None` sends them unsigned.
    pub fn signing_with(mut self, secret: Option<InternalSecret>) -> Self {
        self.secret = secret;
        self
    }

    /// Replaces the set of workers with `urls`. Workers that stay keep
    /// their connection, health and load; calls running on one that left
    /// finish. A URL that cannot be dialled is left out and logged. Does
    /// nothing to an in-process pool.
    pub fn set_workers(&self, urls: &[Url]) {
        let Inner::Remote(current) = self.inner.as_ref() else {
            return;
        };
        let mut current = current.write();
        let (roster, changes) = Roster::build(urls, &current);
        for url in &changes.added {
            tracing::info!(worker = %url, "worker joined");
        }
        for url in &changes.removed {
            tracing::info!(worker = %url, "worker left");
        }
        for (url, reason) in &changes.rejected {
            tracing::warn!(worker = %url, %reason, "worker URL cannot be dialled; left out");
        }
        *current = Arc::new(roster);
        drop(current);
        self.publish_health();
    }

    /// Sets `d365mcp_workers{state}` from the current roster (an in-process
    /// worker is one healthy worker).
    pub fn publish_health(&self) {
        let Some(roster) = self.snapshot() else {
            crate::metrics::workers(1, 0);
            return;
        };
        let healthy = roster
            .members
            .values()
            .filter(|m| m.healthy.load(Ordering::Relaxed))
            .count();
        crate::metrics::workers(healthy, roster.members.len() - healthy);
    }

    fn snapshot(&self) -> Option<Arc<Roster>> {
        match self.inner.as_ref() {
            Inner::Local(_) => None,
            Inner::Remote(current) => Some(Arc::clone(&current.read())),
        }
    }

    /// Every worker's state.
    pub fn status(&self) -> Vec<WorkerStatus> {
        let Some(roster) = self.snapshot() else {
            return vec![WorkerStatus {
                url: "in-process".into(),
                healthy: true,
                in_flight: 0,
            }];
        };
        roster
            .in_order()
            .map(|m| WorkerStatus {
                url: m.url.clone(),
                healthy: m.healthy.load(Ordering::Relaxed),
                in_flight: m.in_flight.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// At least one worker is healthy.
    pub fn is_ready(&self) -> bool {
        self.status().iter().any(|s| s.healthy)
    }

    /// Checks every worker's health once, concurrently.
    pub async fn check_health(&self) {
        let Some(roster) = self.snapshot() else {
            return;
        };
        let checks = roster.members.values().map(|member| async move {
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
        self.publish_health();
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
            Inner::Remote(current) => {
                let roster = Arc::clone(&current.read());
                roster
                    .call(request, read_only, timeout, self.secret.as_ref())
                    .await
            }
        }
    }

    /// The D365FO environments the workers serve, asked of one healthy
    /// worker (every worker of a cluster reads the same environments file)
    /// within `timeout`. Empty from a worker older than the answer's field.
    pub async fn environments(&self, timeout: Duration) -> Result<Vec<String>, Failure> {
        let roster = match self.inner.as_ref() {
            Inner::Local(executor) => return Ok(executor.list_tools().environments),
            Inner::Remote(current) => Arc::clone(&current.read()),
        };
        let healthy = roster
            .members
            .values()
            .find(|m| m.healthy.load(Ordering::Relaxed));
        let Some(member) = healthy.or_else(|| roster.members.values().next()) else {
            return Err(Failure::new(
                ErrorCode::Unavailable,
                "no worker is known to this edge",
            ));
        };
        let mut request = tonic::Request::new(ListToolsRequest {});
        request.set_timeout(timeout);
        match member.client.clone().list_tools(request).await {
            Ok(response) => Ok(response.into_inner().environments),
            Err(status) => Err(refused_or_lost(&member.url, &status, true)),
        }
    }
}

impl Roster {
    async fn call(
        &self,
        request: CallToolRequest,
        read_only: bool,
        timeout: Duration,
        secret: Option<&InternalSecret>,
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
        if self.members.is_empty() {
            return Err(Failure::new(
                ErrorCode::Unavailable,
                "no worker is known to this edge: none has registered in the shared store yet. \
                 Check that workers are running with the same D365MCP_REDIS_URL as this edge.",
            ));
        }
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
            // Signed per attempt: a failover later in the loop gets a fresh one.
            if let Some(secret) = secret
                && let Ok(value) = secret.sign(&request).parse()
            {
                grpc_request
                    .metadata_mut()
                    .insert(assertion::METADATA_KEY, value);
            }
            let guard = InFlight::start(member.clone());
            match member.client.clone().call_tool(grpc_request).await {
                Ok(response) => {
                    let url = member.url.clone();
                    let events = response.into_inner().map(move |event| {
                        let _held = &guard;
                        event.map_err(|status| lost_worker(&url, &status, read_only))
                    });
                    return Ok(events.boxed());
                }
                // A read may go to the next worker whenever this one did not
                // answer it (`status::read_may_move`).
                Err(status) if never_started(&status) || (read_only && read_may_move(&status)) => {
                    if member.healthy.swap(false, Ordering::Relaxed) {
                        // Seen at the next health round too; said now.
                        crate::metrics::worker_lost();
                    }
                    tracing::warn!(worker = %member.url, error = %status, "worker unreachable; trying the next one");
                    last_error = format!("{}: {}", member.url, status.message());
                }
                Err(status) => return Err(refused_or_lost(&member.url, &status, read_only)),
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

#[cfg(test)]
mod tests {
    use common::proto::worker_client::WorkerClient;
    use tonic::transport::Endpoint;

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

    #[tokio::test]
    async fn a_registered_pool_follows_the_workers_it_is_given() {
        let pool = WorkerPool::registered();
        assert!(pool.status().is_empty() && !pool.is_ready());
        let failure = match pool.call(request(), true, Duration::from_secs(1)).await {
            Err(failure) => failure,
            Ok(_) => panic!("no worker is known"),
        };
        assert_eq!(failure.code, ErrorCode::Unavailable);
        assert!(
            failure.message.contains("registered"),
            "{}",
            failure.message
        );

        let a = Url::parse(&format!("http://127.0.0.1:{}", closed_port().await)).unwrap();
        let b = Url::parse(&format!("http://127.0.0.1:{}", closed_port().await)).unwrap();
        pool.set_workers(&[a.clone(), b.clone()]);
        assert_eq!(pool.status().len(), 2);
        assert!(
            pool.is_ready(),
            "new workers count as healthy until checked"
        );
        pool.check_health().await;
        assert!(!pool.is_ready(), "nothing listens on either");

        pool.set_workers(std::slice::from_ref(&b));
        let status = pool.status();
        assert_eq!(status.len(), 1);
        assert_eq!(status[0].url, roster::key(&b));
        assert!(!status[0].healthy, "a staying worker keeps its health");
        pool.set_workers(&[]);
        assert!(pool.status().is_empty());
    }
}
