//! [`Worker`]: the [`ToolExecutor`] that runs one tool call as a stream,
//! over the worker's shared [`Node`].
//!
//! A call's work is a future owned by the stream it feeds, not a spawned
//! task: the stream polls the work and then its event channel, so progress
//! flows while the work runs, and dropping the stream drops the work with
//! its in-flight HTTP request. One exception: the first attempt of a keyed
//! write runs on a task of its own, to its end (within the call's
//! deadline), so that its retries learn how it ended ([`crate::replay`]).

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
};

use common::{
    catalogue,
    config::WorkerConfig,
    executor::ToolExecutor,
    proto::{
        CallToolEvent, CallToolRequest, ListToolsResponse, ToolResult, call_tool_event::Event,
        tool_result::Outcome,
    },
    store::{MemoryStore, SharedStore},
};
use futures::{Stream, future::BoxFuture, stream::BoxStream};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::{
    d365::{
        Deadline,
        auth::obo::{self, Caller},
    },
    error::WorkerError,
    node::{Environment, Node},
    tools::{self, Context, Progress},
};

/// Events buffered between a call's work and its consumer.
const EVENT_BUFFER: usize = 16;

/// Largest output sent: a message's limit less room for its framing.
const MAX_OUTPUT_BYTES: usize = crate::MAX_MESSAGE_BYTES - 64 * 1024;

/// Executes tools against the configured D365FO environments. Cheap to share.
pub struct Worker {
    node: Arc<Node>,
}

impl Worker {
    /// Waits, at most `within`, for the keyed writes still running on tasks
    /// of their own (their callers gone) to end and record how; returns how
    /// many it gave up on. For shutdown, once no more calls come in.
    pub async fn finish_detached(&self, within: std::time::Duration) -> usize {
        let running = self.node.detached.running();
        if running > 0 {
            tracing::info!(running, "waiting for keyed writes whose callers left");
        }
        let left = self.node.detached.drain(within).await;
        if left > 0 {
            tracing::warn!(
                left,
                "shutting down with keyed writes still running: their resends will hear \
                 \"still running\", then outcome_unknown"
            );
        }
        left
    }

    /// A worker for `config`, sharing state with other nodes through `store`.
    pub fn new(config: WorkerConfig, store: SharedStore) -> Result<Self, WorkerError> {
        Self::in_region(config, Arc::clone(&store), store)
    }

    /// A worker of one region among several: its region's state in `store`,
    /// what guards D365FO across regions (write claims, keyed write
    /// records, throttle windows) in `global` (see [`crate::node`]).
    pub fn in_region(
        config: WorkerConfig,
        store: SharedStore,
        global: SharedStore,
    ) -> Result<Self, WorkerError> {
        Ok(Self {
            node: Arc::new(Node::new(config, store, global)?),
        })
    }

    /// A worker with its own in-memory store: for a single process (tests,
    /// or `dev` before it shares a store with its edge).
    pub fn standalone(config: WorkerConfig) -> Result<Self, WorkerError> {
        Self::new(config, Arc::new(MemoryStore::new()))
    }

    /// The same worker with a different bound on the row JSON a query
    /// returns per call (default [`tools::MAX_RESULT_BYTES`]); for tests.
    /// Has no effect once the worker is shared.
    pub fn with_max_result_bytes(mut self, bytes: usize) -> Self {
        if let Some(node) = Arc::get_mut(&mut self.node) {
            node.max_result_bytes = bytes;
        }
        self
    }

    /// The worker's shared state.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The metadata cache (its counters feed the statistics tool).
    pub fn cache(&self) -> &crate::MetadataCache {
        &self.node.cache
    }

    /// Warms the metadata cache of every configured environment in turn:
    /// version hash, entity list, enumeration list. Call it at start, beside
    /// serving (it needs nothing but D365FO). `progress` hears after each
    /// step (steps done, steps in all, what was done); dropping the future
    /// stops it. Returns each environment's summary or error, by name: one
    /// environment that is down does not keep the others cold.
    pub async fn warm_up(
        &self,
        progress: Option<crate::metadata::warm::ProgressFn<'_>>,
    ) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        let count = self.node.environments.len() as u64;
        for (i, (name, env)) in self.node.environments.iter().enumerate() {
            let meta = crate::metadata::Metadata {
                client: &env.client,
                cache: &self.node.cache,
                deadline: Deadline::NONE,
                progress: None,
            };
            let offset = i as u64 * 3;
            let step = |done: u64, _: u64, message: &str| {
                if let Some(progress) = progress {
                    progress(offset + done, count * 3, &format!("{name}: {message}"));
                }
            };
            let result = crate::metadata::warm::warm_up(&meta, Some(&step)).await;
            let summary = match result {
                Ok(summary) => {
                    tracing::info!(environment = %name, %summary, "metadata cache warmed");
                    summary
                }
                Err(error) => {
                    tracing::warn!(environment = %name, %error, "metadata warm-up failed");
                    serde_json::json!({ "error": error.to_string() })
                }
            };
            out.insert(name.clone(), summary);
        }
        out
    }
}

impl ToolExecutor for Worker {
    fn call_tool(&self, request: CallToolRequest) -> BoxStream<'static, CallToolEvent> {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let node = Arc::clone(&self.node);
        // The edge's span is the parent; this call's span id goes on to D365FO.
        let incoming = common::trace::Incoming::from_map(&request.trace_context);
        let trace = common::trace::plan(Some(&incoming));
        let span = tracing::info_span!(
            "call_tool",
            request_id = %request.request_id,
            // Both are the client's text, maybe megabytes of it.
            tool = %common::clip::clip(&request.tool),
            environment = %common::clip::clip(&request.environment),
            // Who the edge says is calling: what the tenant policy is
            // checked against, for the audit of a refusal.
            tenant = %common::clip::clip(&request.tenant),
            principal = %common::clip::clip(
                request.principal.as_ref().map_or("", |p| p.subject.as_str())
            ),
            otel.name = "d365mcp.worker.v1.Worker/CallTool",
            otel.kind = "server",
            trace_id = %trace.trace_id(),
            span_id = %trace.span_id(),
        );
        let trace = common::trace::start(&span, trace);
        // Boxed before it is wrapped: the wrappers then move a pointer, not
        // the call's whole (large) state.
        let work = Box::pin(async move {
            let result = execute(node, request, &tx).await;
            let event = CallToolEvent {
                event: Some(Event::Result(result)),
            };
            // Fails only when the consumer is gone, and then nobody cares.
            let _ = tx.send(event).await;
        });
        let work = common::trace::scope(trace, work).instrument(span);
        Box::pin(CallStream {
            work: Some(Box::pin(work)),
            events: rx,
        })
    }

    fn list_tools(&self) -> ListToolsResponse {
        ListToolsResponse {
            tools: catalogue::tools().iter().map(|t| t.to_proto()).collect(),
            worker_version: env!("CARGO_PKG_VERSION").to_owned(),
            environments: self.node.environments.keys().cloned().collect(),
        }
    }
}

/// Runs one call: answers a retry of a keyed write from its first attempt
/// ([`crate::replay`]); otherwise resolves its environment, runs the tool
/// within the deadline, records statistics and builds the result.
async fn execute(
    node: Arc<Node>,
    request: CallToolRequest,
    tx: &mpsc::Sender<CallToolEvent>,
) -> ToolResult {
    // Before a keyed write's attempt is recorded: a refusal leaves nothing.
    if let Err(denied) = crate::tenancy::authorize(&node, &request) {
        tracing::info!(code = %denied.code(), %denied, "tool call refused by the tenant policy");
        return error_result(denied);
    }
    if !crate::replay::tracked(&request) {
        return run(&node, &request, tx).await;
    }
    // A keyed write, detached from this call: dropping the call (its edge
    // died, its client gave up) must not cut the write off half-way, nor
    // the recording of its attempt. D365FO finishes a request whose caller
    // left, so the attempt may be applied either way; finishing it here too
    // lets the record say how it ended, and a resend hear the result instead
    // of "still running" until the deadline, then "outcome unknown". Bounded
    // by the call's deadline, or by `DETACHED_LIMIT` when it has none.
    let tx = tx.clone();
    let detached = Arc::clone(&node);
    let task = async move {
        let attempt = match crate::replay::begin(&node.global, &request).await {
            crate::replay::Begin::Retry(result) => {
                tracing::info!("a keyed write retried: answered from its first attempt");
                return result;
            }
            crate::replay::Begin::First(attempt) => attempt,
            crate::replay::Begin::Untracked => return run(&node, &request, &tx).await,
        };
        let limit = tokio::time::sleep(DETACHED_LIMIT);
        let result = tokio::select! {
            result = run(&node, &request, &tx) => result,
            () = limit => {
                // Cut off before `run` could count it.
                crate::metrics::tool_call(
                    &request.tool,
                    &request.tenant,
                    node.environment(&request.environment)
                        .map_or(common::metrics::OTHER, |env| env.name.as_str()),
                    common::ErrorCode::OutcomeUnknown.as_str(),
                    DETACHED_LIMIT,
                );
                error_result(WorkerError::OutcomeUnknown(format!(
                    "the write ran for more than {} s without an answer",
                    DETACHED_LIMIT.as_secs()
                )))
            }
        };
        attempt.finish(&result).await;
        result
    };
    let task = common::trace::inherit(task).in_current_span();
    let Some(task) = detached.detached.spawn(task) else {
        crate::metrics::write_claim(crate::metrics::WriteClaim::Refused);
        return error_result(WorkerError::Unavailable(format!(
            "this worker already runs {} writes with idempotency keys; nothing was sent or \
             recorded; retry shortly",
            crate::detached::MAX_DETACHED
        )));
    };
    match task.await {
        Ok(result) => result,
        Err(e) => error_result(WorkerError::OutcomeUnknown(format!(
            "the write's task ended abnormally: {e}"
        ))),
    }
}

/// Longest a detached keyed write may run when its call has no deadline.
const DETACHED_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// A failed call's result.
fn error_result(error: WorkerError) -> ToolResult {
    ToolResult {
        outcome: Some(Outcome::Failure(error.to_failure().to_proto())),
    }
}

/// Runs one call as [`execute`] describes, retries aside.
async fn run(
    node: &Node,
    request: &CallToolRequest,
    tx: &mpsc::Sender<CallToolEvent>,
) -> ToolResult {
    let started = tokio::time::Instant::now();
    let deadline = Deadline::from_unix_ms(request.deadline_unix_ms);
    // The metrics' label: the environment as resolved, once it is.
    let mut environment = common::metrics::OTHER;
    // Who the call is made for: a signed-in user's token goes down to the
    // D365FO client as a task-local (`d365::auth::obo`), never into a log.
    let caller = Caller::new(&request.user_assertion);
    let work = async {
        let (env, args) = resolve(node, request)?;
        environment = env.name.as_str();
        env.client.admit(&caller)?;
        let ctx = Context {
            node,
            env,
            client: &env.client,
            cache: &node.cache,
            store: &node.store,
            global: &node.global,
            max_rows: node.max_rows,
            max_result_bytes: node.max_result_bytes,
            deadline,
            progress: Progress::new(request.want_progress.then(|| tx.clone())),
            request_id: &request.request_id,
            subject: request
                .principal
                .as_ref()
                .map_or("", |p| p.subject.as_str()),
            tenant: &request.tenant,
        };
        // Boxed: the tools' futures (kilobytes) are then moved as a pointer
        // by each wrapper below instead of copied.
        let run = Box::pin(tools::run(&ctx, &request.tool, args));
        let run = crate::call_log::scope(tx.clone(), &request.log_level, run);
        obo::scope(caller.clone(), run).await
    };
    let outcome = match deadline.instant() {
        Some(at) => tokio::time::timeout_at(at, work)
            .await
            .unwrap_or_else(|_| Err(deadline_passed(&request.tool))),
        None => work.await,
    };
    let elapsed = started.elapsed();
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let outcome = outcome.and_then(|reply| {
        let output = tools::output(&reply);
        let size = output.content_json.len() + output.structured_content_json.len();
        if size > MAX_OUTPUT_BYTES {
            // The tools bound their results well below this; a bug must not
            // become a gRPC error that hides the cause.
            Err(WorkerError::Internal(format!(
                "a result of {size} bytes, more than a message may carry"
            )))
        } else {
            Ok(output)
        }
    });
    let outcome = match outcome {
        Ok(output) => {
            // The worker builds no `isError` outputs (`crate::error`); one
            // would count as the MCP conventions name it.
            let error_type = if output.is_error { "tool_error" } else { "" };
            crate::metrics::tool_call(
                &request.tool,
                &request.tenant,
                environment,
                error_type,
                elapsed,
            );
            tracing::info!(elapsed_ms, "tool call succeeded");
            Outcome::Output(output)
        }
        Err(error) => {
            let code = error.code();
            crate::metrics::tool_call(
                &request.tool,
                &request.tenant,
                environment,
                code.as_str(),
                elapsed,
            );
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

/// The error of a call cut off at its deadline. The HTTP client ends a
/// write's request before the deadline and reports its outcome itself, so
/// this fires only in the worst case; a tool that may change data then
/// cannot tell whether it did.
fn deadline_passed(tool: &str) -> WorkerError {
    let read_only = catalogue::find(tool).is_none_or(|spec| spec.effects.read_only);
    if read_only {
        WorkerError::DeadlineExceeded("the call's deadline passed before D365FO answered".into())
    } else {
        WorkerError::OutcomeUnknown(
            "the call's deadline passed while it may have been changing data in D365FO; read \
             the record (or check the action's effect) before calling again"
                .into(),
        )
    }
}

/// The call's environment and its arguments without `environment`: the
/// argument wins over the request's field (the edge copies one into the
/// other); empty means the default.
fn resolve<'n>(
    node: &'n Node,
    request: &CallToolRequest,
) -> Result<(&'n Environment, Map<String, Value>), WorkerError> {
    let tool = request.tool.as_str();
    if catalogue::find(tool).is_none() {
        return Err(tools::unknown_tool(tool));
    }
    let mut args = tools::args::object(tool, &request.arguments_json)?;
    let asked = match args.remove("environment") {
        None | Some(Value::Null) => request.environment.clone(),
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(WorkerError::invalid_args(
                tool,
                format!(
                    "`environment` must be a string naming a configured environment, got {}",
                    tools::args::describe(&other)
                ),
            ));
        }
    };
    let env = node
        .environment(&asked)
        .map_err(|why| WorkerError::invalid_args(tool, why))?;
    Ok((env, args))
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

#[cfg(test)]
mod tests {
    use common::{ErrorCode, catalogue::names};

    use super::deadline_passed;

    #[test]
    fn a_call_that_may_change_data_cut_off_has_an_unknown_outcome() {
        assert_eq!(
            deadline_passed(names::QUERY_ENTITIES).code(),
            ErrorCode::DeadlineExceeded
        );
        for tool in [
            names::CREATE_ENTITY_RECORD,
            names::UPDATE_ENTITY_RECORD,
            names::CALL_ACTION,
        ] {
            let error = deadline_passed(tool);
            assert_eq!(error.code(), ErrorCode::OutcomeUnknown, "{tool}");
            assert!(!error.code().is_retryable());
        }
    }
}
