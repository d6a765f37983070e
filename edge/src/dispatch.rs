//! One tool call, from validated MCP arguments to the worker's final result.
//!
//! Plain functions, independent of rmcp: the MCP adapter extracts, calls
//! [`worker_request`] and [`run`], and converts what comes back.

use std::time::{Duration, SystemTime};

use common::{ErrorCode, Failure, catalogue, config::Policy, proto};
use futures::{StreamExt, future::BoxFuture};
use serde_json::{Map, Value};

use crate::{WorkerPool, auth::Principal};

/// The worker request for the tool `tool` called with `arguments`, once
/// `policy` allows it to `caller`.
///
/// The `environment` argument is routed on but left to the worker to
/// resolve: an empty name means the worker's default environment — or,
/// for a caller the policy allows exactly one environment, that one. Takes a
/// name, not a catalogue entry, because resource reads call tools too.
pub fn worker_request(
    policy: &Policy,
    caller: &Principal,
    tool: &str,
    arguments: Map<String, Value>,
    want_progress: bool,
    timeout: Duration,
) -> Result<proto::CallToolRequest, Failure> {
    let mut environment = match arguments.get("environment") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) => name.trim().to_owned(),
        Some(other) => {
            return Err(Failure::new(
                ErrorCode::InvalidArguments,
                format!(
                    "invalid arguments for {tool}: `environment` must be a string naming a \
                     configured D365FO environment, got {}",
                    common::clip::clip(&other.to_string())
                ),
            ));
        }
    };
    if let Some(spec) = catalogue::find(tool) {
        if environment.is_empty()
            && let Some(only) = policy.only_environment(&caller.subject, &caller.tenant)
        {
            environment = only.to_owned();
        }
        policy
            .check(
                &caller.subject,
                &caller.tenant,
                spec,
                &environment,
                &arguments,
            )
            .map_err(|denied| {
                crate::metrics::refused(crate::metrics::Refusal::Policy);
                Failure::new(ErrorCode::PermissionDenied, denied.0).with_hint(
                    "the cluster's tenant policy decides what each API key may call; ask its \
                     operator for access",
                )
            })?;
        // Also checked at the HTTP layer (403 with a challenge); here for
        // every other way to a call (resource reads, relayed messages).
        if !spec.effects.read_only
            && let Some(grant) = caller.grant.as_deref()
            && !grant.may_write
        {
            return Err(Failure::new(
                ErrorCode::PermissionDenied,
                format!(
                    "{tool} changes data, and the access token does not grant the scope \
                     needed: {}",
                    grant.write_scope
                ),
            ));
        }
    }
    let grant = caller.grant.as_deref();
    Ok(proto::CallToolRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        tenant: caller.tenant.clone(),
        environment,
        principal: Some(proto::Principal {
            subject: caller.subject.clone(),
            issuer: if caller.issuer.is_empty() {
                "d365mcp-api-key".into()
            } else {
                caller.issuer.clone()
            },
            scopes: grant.map(|g| g.scopes.clone()).unwrap_or_default(),
        }),
        tool: tool.into(),
        arguments_json: Value::Object(arguments).to_string(),
        deadline_unix_ms: deadline_ms(worker_budget(timeout)),
        // The request's span, set by the MCP handler (`crate::spans`).
        trace_context: common::trace::current()
            .map(|trace| trace.to_map())
            .unwrap_or_default(),
        want_progress,
        // Set by the caller that knows what its client asked for.
        log_level: String::new(),
        // Set with the request id of a key derived for resends (`retries`).
        replay_ttl_ms: 0,
        // A user's own token, for the worker's on-behalf-of exchange; none
        // for an app-only token or an API key.
        user_assertion: grant
            .and_then(|g| g.assertion.as_ref())
            .map(|a| a.0.clone())
            .unwrap_or_default(),
    })
}

/// What a worker says about a call before its result.
pub enum Notice {
    /// How far the call is.
    Progress(proto::Progress),
    /// A line for the user: a retry, a throttle wait, a page read.
    Log(proto::LogEvent),
}

/// Runs `request` on a worker within `timeout`, handing each progress and
/// log event to `on_notice`, and returns the final result. Dropping the returned
/// future cancels the call on the worker. `read_only` says the tool changes
/// nothing: only then may a call be failed over to another worker, and only
/// then is running out of time a plain, retryable deadline error — a call
/// that may change data and is cut off has an unknown outcome.
pub async fn run(
    workers: &WorkerPool,
    request: proto::CallToolRequest,
    read_only: bool,
    timeout: Duration,
    mut on_notice: impl FnMut(Notice) -> BoxFuture<'static, ()> + Send,
) -> Result<proto::ToolResult, Failure> {
    let request_id = request.request_id.clone();
    let call = async {
        let events = workers.call(request, read_only, timeout).await?;
        result_of(events, &request_id, read_only, &mut on_notice).await
    };
    // Timed to the final event, or to the drop of this future (cancelled).
    let timer = crate::metrics::WorkerCall::start();
    let outcome = tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| Err(timed_out(read_only, timeout)));
    timer.finish(&outcome);
    outcome
}

/// Hands each notice of a call's `events` to `on_notice` and returns the
/// call's result, having read the stream to its end ([`finish_stream`]).
async fn result_of<S>(
    mut events: S,
    request_id: &str,
    read_only: bool,
    on_notice: &mut (impl FnMut(Notice) -> BoxFuture<'static, ()> + Send),
) -> Result<proto::ToolResult, Failure>
where
    S: futures::Stream<Item = Result<proto::CallToolEvent, Failure>> + Unpin,
{
    while let Some(event) = events.next().await {
        match event?.event {
            Some(proto::call_tool_event::Event::Progress(progress)) => {
                on_notice(Notice::Progress(progress)).await;
            }
            Some(proto::call_tool_event::Event::Log(log)) => {
                tracing::debug!(%request_id, level = %log.level, logger = %log.logger, data = %log.data_json, "worker log");
                on_notice(Notice::Log(log)).await;
            }
            Some(proto::call_tool_event::Event::Result(result)) => {
                finish_stream(events).await;
                return Ok(result);
            }
            None => {}
        }
    }
    Err(ended_without_result(read_only))
}

/// Longest wait for the end of a call's stream (the worker's gRPC trailers)
/// once its result has come; they follow it at once.
const STREAM_END_WAIT: Duration = Duration::from_secs(1);

/// Reads a call's stream to its end after the result. Dropped before, the
/// stream is reset (RST_STREAM), and the trailers that then arrive for it
/// are answered with another reset, which h2 counts against the connection:
/// at 1,024 (h2's `max_local_error_reset_streams`, over the connection's
/// life) it closes the connection to the worker with ENHANCE_YOUR_CALM, and
/// every call in flight on it fails. Under sustained load that happened
/// every few tens of thousands of calls (loadtest/bench/scaling.sh).
async fn finish_stream<S: futures::Stream + Unpin>(mut events: S) {
    let drain = async { while events.next().await.is_some() {} };
    let _ = tokio::time::timeout(STREAM_END_WAIT, drain).await;
}

/// The error of a call whose worker ended it without a result (it stopped
/// or was stopped): a read may be retried; a write may have been sent to
/// D365FO, so its outcome is unknown.
fn ended_without_result(read_only: bool) -> Failure {
    if read_only {
        return Failure::new(
            ErrorCode::Unavailable,
            "the worker ended the call without a result; it may have stopped",
        );
    }
    Failure::new(
        ErrorCode::OutcomeUnknown,
        "the worker ended the call without a result while it may have been changing data in \
         D365FO; read the record (or check the action's effect) before calling again, so the \
         change is not made twice",
    )
}

/// The error of a call the edge cut off at `timeout`.
fn timed_out(read_only: bool, timeout: Duration) -> Failure {
    if read_only {
        return Failure::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "the tool call did not finish within {} s and was cancelled; narrow the query \
                 (filter, select, top) and try again",
                timeout.as_secs()
            ),
        );
    }
    Failure::new(
        ErrorCode::OutcomeUnknown,
        format!(
            "the tool call did not finish within {} s and was cancelled while it may have been \
             changing data in D365FO; read the record (or check the action's effect) before \
             calling again, so the change is not made twice",
            timeout.as_secs()
        ),
    )
}

/// The deadline the worker gets: a little before the edge's own, so that a
/// worker that runs out of time reports how (a write's unknown outcome, say)
/// before the edge gives up on it, despite clock skew between the two.
fn worker_budget(timeout: Duration) -> Duration {
    let grace = (timeout / 10).min(Duration::from_secs(1));
    timeout.saturating_sub(grace)
}

fn deadline_ms(timeout: Duration) -> u64 {
    SystemTime::now()
        .checked_add(timeout)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_data_changing_call_cut_off_has_an_unknown_outcome() {
        let read = super::timed_out(true, Duration::from_secs(30));
        assert_eq!(read.code, ErrorCode::DeadlineExceeded);
        assert!(read.code.is_retryable());
        let write = super::timed_out(false, Duration::from_secs(30));
        assert_eq!(write.code, ErrorCode::OutcomeUnknown);
        assert!(!write.code.is_retryable());
        assert!(
            write.message.contains("before calling again"),
            "{}",
            write.message
        );
    }

    /// A worker that ends every call without a result, as one that is
    /// stopped mid-call does.
    struct Vanishing;

    impl common::executor::ToolExecutor for Vanishing {
        fn call_tool(
            &self,
            _request: proto::CallToolRequest,
        ) -> futures::stream::BoxStream<'static, proto::CallToolEvent> {
            futures::stream::empty().boxed()
        }

        fn list_tools(&self) -> proto::ListToolsResponse {
            proto::ListToolsResponse::default()
        }
    }

    #[tokio::test]
    async fn a_write_whose_worker_vanishes_has_an_unknown_outcome() {
        let workers = WorkerPool::local(std::sync::Arc::new(Vanishing));
        let call = |read_only| {
            run(
                &workers,
                proto::CallToolRequest::default(),
                read_only,
                Duration::from_secs(5),
                |_| Box::pin(async {}),
            )
        };
        let write = call(false).await.unwrap_err();
        assert_eq!(write.code, ErrorCode::OutcomeUnknown);
        assert!(!write.code.is_retryable());
        let read = call(true).await.unwrap_err();
        assert_eq!(read.code, ErrorCode::Unavailable);
        assert!(read.code.is_retryable());
    }

    #[test]
    fn the_worker_runs_out_of_time_before_the_edge() {
        assert_eq!(
            super::worker_budget(Duration::from_secs(120)),
            Duration::from_secs(119)
        );
        assert_eq!(
            super::worker_budget(Duration::from_secs(2)),
            Duration::from_millis(1800)
        );
    }

    use serde_json::json;

    use super::*;

    fn tool() -> &'static str {
        catalogue::names::QUERY_ENTITIES
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn environment_is_left_to_the_worker_unless_named() {
        let none = worker_request(
            &Policy::default(),
            &Principal::anonymous(),
            tool(),
            args(json!({"entity_set": "X"})),
            false,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(none.environment, "");
        let named = worker_request(
            &Policy::default(),
            &Principal::anonymous(),
            tool(),
            args(json!({"environment": " prod "})),
            true,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(named.environment, "prod");
        assert!(named.want_progress);
        let bad = worker_request(
            &Policy::default(),
            &Principal::anonymous(),
            tool(),
            args(json!({"environment": 5})),
            false,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(bad.code, ErrorCode::InvalidArguments);
        assert!(bad.message.contains("environment"));
    }

    #[test]
    fn the_policy_refuses_before_a_request_is_built_and_fills_a_lone_environment() {
        let file = common::config::auth::parse_file(
            "[tenants.contoso]\nenvironments = [\"contoso\"]\n\
             [keys.app]\nsha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n\
             tenant = \"contoso\"\nread_only = true\n",
        )
        .unwrap();
        let caller = Principal::key("app", "contoso");
        let request = |tool: &str, arguments: Value| {
            worker_request(
                &file.policy,
                &caller,
                tool,
                args(arguments),
                false,
                Duration::from_secs(1),
            )
        };
        let filled = request(tool(), json!({"entity_set": "X"})).unwrap();
        assert_eq!(filled.environment, "contoso");
        let elsewhere = request(tool(), json!({"environment": "fabrikam"})).unwrap_err();
        assert_eq!(elsewhere.code, ErrorCode::PermissionDenied);
        assert!(!elsewhere.code.is_retryable());
        assert!(
            elsewhere.message.contains("it may use: contoso"),
            "{elsewhere}"
        );
        let write = request(catalogue::names::CREATE_ENTITY_RECORD, json!({})).unwrap_err();
        assert!(write.message.contains("read-only"), "{write}");
        let stranger = worker_request(
            &file.policy,
            &Principal::anonymous(),
            tool(),
            Map::new(),
            false,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(stranger.code, ErrorCode::PermissionDenied);
    }

    #[test]
    fn requests_carry_a_unique_id_and_a_future_deadline() {
        let request = || {
            let caller = Principal::anonymous();
            worker_request(
                &Policy::default(),
                &caller,
                tool(),
                Map::new(),
                false,
                Duration::from_secs(5),
            )
            .unwrap()
        };
        let (a, b) = (request(), request());
        assert_ne!(a.request_id, b.request_id);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(a.deadline_unix_ms >= now + 4_000);
        assert_eq!(a.tool, catalogue::names::QUERY_ENTITIES);
    }

    /// A call's events, whose end is seen only when the stream is polled
    /// past its last event.
    struct Ends<'a> {
        events: Vec<proto::CallToolEvent>,
        ended: &'a std::sync::atomic::AtomicBool,
    }

    impl futures::Stream for Ends<'_> {
        type Item = Result<proto::CallToolEvent, Failure>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            let next = self.events.pop();
            if next.is_none() {
                self.ended.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            std::task::Poll::Ready(next.map(Ok))
        }
    }

    #[tokio::test]
    async fn a_calls_stream_is_read_to_its_end_after_the_result() {
        let ended = std::sync::atomic::AtomicBool::new(false);
        let event = |event| proto::CallToolEvent { event: Some(event) };
        let log = proto::LogEvent {
            level: "info".into(),
            ..Default::default()
        };
        let events = Ends {
            // Popped from the back: the log, then the result.
            events: vec![
                event(proto::call_tool_event::Event::Result(
                    proto::ToolResult::default(),
                )),
                event(proto::call_tool_event::Event::Log(log)),
            ],
            ended: &ended,
        };
        let mut notices = 0;
        let result = result_of(events, "r-1", true, &mut |_| {
            notices += 1;
            Box::pin(async {})
        })
        .await;
        assert!(result.is_ok());
        assert_eq!(notices, 1);
        assert!(ended.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_does_not_end_is_dropped_after_the_wait() {
        let started = tokio::time::Instant::now();
        finish_stream(futures::stream::pending::<u32>()).await;
        assert_eq!(started.elapsed(), STREAM_END_WAIT);
    }
}
