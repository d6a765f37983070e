//! [`Worker`]: the shared HTTP client and token cache, and the
//! [`ToolExecutor`] that runs one tool call as a stream.
//!
//! A call's work is a future owned by the stream it feeds, not a spawned
//! task: the stream polls the work and then its event channel, so progress
//! flows while the work runs, and dropping the stream drops the work with
//! its in-flight HTTP request. Nothing outlives a cancelled call.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Duration,
};

use common::{
    catalogue,
    config::WorkerConfig,
    executor::ToolExecutor,
    proto::{
        CallToolEvent, CallToolRequest, ListToolsResponse, ToolResult, call_tool_event::Event,
        tool_result::Outcome,
    },
    store::SharedStore,
};
use futures::{Stream, future::BoxFuture, stream::BoxStream};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::{
    cache::MetadataCache,
    d365::{D365Client, Deadline, auth::TokenProvider},
    error::WorkerError,
    tools::{self, Context, Progress},
};

/// Events buffered between a call's work and its consumer.
const EVENT_BUFFER: usize = 16;

/// Largest output sent: a message's limit less room for its framing.
const MAX_OUTPUT_BYTES: usize = crate::MAX_MESSAGE_BYTES - 64 * 1024;

/// How long an idle pooled connection to D365FO is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Executes tools against one D365FO environment. Cheap to share.
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    client: D365Client,
    cache: MetadataCache,
    max_rows: usize,
    max_result_bytes: usize,
}

impl Worker {
    /// Builds the shared HTTP client (pooled, with the configured timeouts)
    /// and the token provider.
    pub fn new(config: WorkerConfig) -> Result<Self, WorkerError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("d365mcp/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE)
            .build()
            .map_err(|e| WorkerError::Setup(format!("HTTP client: {e}")))?;
        let auth = match &config.d365.credentials {
            Some(credentials) => {
                TokenProvider::client_credentials(credentials, config.d365.scope(), &http)?
            }
            None => TokenProvider::none(),
        };
        let client = D365Client::new(http, config.d365, auth, config.request_timeout);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                cache: MetadataCache::new(config.cache, None),
                max_rows: config.max_rows.max(1),
                max_result_bytes: tools::MAX_RESULT_BYTES,
            }),
        })
    }

    /// The same worker with a different bound on the row JSON a query
    /// returns per call (default [`tools::MAX_RESULT_BYTES`]); for tests.
    /// Has no effect once the worker is shared.
    pub fn with_max_result_bytes(mut self, bytes: usize) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.max_result_bytes = bytes;
        }
        self
    }
}

impl Worker {
    /// The same worker with its metadata cache backed by `store` (L2), so
    /// workers sharing the store share entries and fills. Has no effect
    /// once the worker is shared.
    pub fn with_store(mut self, store: SharedStore) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.cache = MetadataCache::new(inner.cache.config().clone(), Some(store));
        }
        self
    }

    /// The metadata cache (its counters feed the statistics tool).
    pub fn cache(&self) -> &MetadataCache {
        &self.inner.cache
    }

    /// Warms the metadata cache for the configured environment: version
    /// hash, entity list, enumeration list. `progress` hears after each
    /// step (done, total, message); dropping the future stops it.
    pub async fn warm_up(
        &self,
        progress: Option<crate::metadata::warm::ProgressFn<'_>>,
    ) -> Result<serde_json::Value, WorkerError> {
        let meta = crate::metadata::Metadata {
            client: &self.inner.client,
            cache: &self.inner.cache,
            deadline: crate::d365::Deadline::NONE,
        };
        crate::metadata::warm::warm_up(&meta, progress).await
    }
}

impl ToolExecutor for Worker {
    fn call_tool(&self, request: CallToolRequest) -> BoxStream<'static, CallToolEvent> {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let inner = Arc::clone(&self.inner);
        let span = tracing::info_span!(
            "call_tool",
            request_id = %request.request_id,
            tool = %request.tool,
            environment = %request.environment,
        );
        let work = async move {
            let result = inner.execute(&request, &tx).await;
            let event = CallToolEvent {
                event: Some(Event::Result(result)),
            };
            // Fails only when the consumer is gone, and then nobody cares.
            let _ = tx.send(event).await;
        }
        .instrument(span);
        Box::pin(CallStream {
            work: Some(Box::pin(work)),
            events: rx,
        })
    }

    fn list_tools(&self) -> ListToolsResponse {
        ListToolsResponse {
            tools: catalogue::tools().iter().map(|t| t.to_proto()).collect(),
            worker_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl Inner {
    async fn execute(
        &self,
        request: &CallToolRequest,
        tx: &mpsc::Sender<CallToolEvent>,
    ) -> ToolResult {
        let started = tokio::time::Instant::now();
        let deadline = Deadline::from_unix_ms(request.deadline_unix_ms);
        let ctx = Context {
            client: &self.client,
            cache: &self.cache,
            max_rows: self.max_rows,
            max_result_bytes: self.max_result_bytes,
            deadline,
            progress: Progress::new(request.want_progress.then(|| tx.clone())),
            environment: &request.environment,
        };
        let work = tools::run(&ctx, &request.tool, &request.arguments_json);
        let outcome = match deadline.instant() {
            Some(at) => tokio::time::timeout_at(at, work).await.unwrap_or_else(|_| {
                Err(WorkerError::DeadlineExceeded(
                    "the call's deadline passed before D365FO answered".into(),
                ))
            }),
            None => work.await,
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match outcome {
            Ok(structured) => {
                let output = tools::output(&structured);
                let size = output.content_json.len() + output.structured_content_json.len();
                if size > MAX_OUTPUT_BYTES {
                    // The tools bound their results well below this; a bug
                    // must not become a gRPC error that hides the cause.
                    let error = WorkerError::Internal(format!(
                        "a result of {size} bytes, more than a message may carry"
                    ));
                    tracing::error!(elapsed_ms, %error, "tool call failed");
                    Outcome::Failure(error.to_failure().to_proto())
                } else {
                    tracing::info!(elapsed_ms, "tool call succeeded");
                    Outcome::Output(output)
                }
            }
            Err(error) => {
                let code = error.code();
                if code == common::ErrorCode::Internal {
                    tracing::error!(elapsed_ms, %code, %error, "tool call failed");
                } else {
                    tracing::info!(elapsed_ms, %code, %error, "tool call failed");
                }
                Outcome::Failure(error.to_failure().to_proto())
            }
        };
        ToolResult {
            outcome: Some(outcome),
        }
    }
}

/// A call's events, driving the call's work as they are read.
struct CallStream {
    /// The work; `None` once it finished.
    work: Option<BoxFuture<'static, ()>>,
    /// Events the work sent, the result last.
    events: mpsc::Receiver<CallToolEvent>,
}

impl Stream for CallStream {
    type Item = CallToolEvent;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<CallToolEvent>> {
        if let Some(work) = self.work.as_mut()
            && work.as_mut().poll(cx).is_ready()
        {
            // Dropping the work drops its senders, so the channel ends once
            // the buffered events, the result among them, are read.
            self.work = None;
        }
        self.events.poll_recv(cx)
    }
}
