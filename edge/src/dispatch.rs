//! One tool call, from validated MCP arguments to the worker's final result.
//!
//! Plain functions, independent of rmcp: the MCP adapter extracts, calls
//! [`worker_request`] and [`run`], and converts what comes back.

use std::time::{Duration, SystemTime};

use common::{ErrorCode, Failure, proto};
use futures::{StreamExt, future::BoxFuture};
use serde_json::{Map, Value};

use crate::WorkerPool;

/// The worker request for the tool `tool` called with `arguments`.
///
/// The `environment` argument is routed on but left to the worker to
/// resolve: an empty name means the worker's default environment. Takes a
/// name, not a catalogue entry, because resource reads call tools too.
pub fn worker_request(
    tool: &str,
    arguments: Map<String, Value>,
    want_progress: bool,
    timeout: Duration,
) -> Result<proto::CallToolRequest, Failure> {
    let environment = match arguments.get("environment") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) => name.trim().to_owned(),
        Some(other) => {
            return Err(Failure::new(
                ErrorCode::InvalidArguments,
                format!(
                    "invalid arguments for {tool}: `environment` must be a string naming a \
                     configured D365FO environment, got {other}"
                ),
            ));
        }
    };
    Ok(proto::CallToolRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        tenant: "default".into(),
        environment,
        principal: Some(proto::Principal {
            subject: "anonymous".into(),
            issuer: "none".into(),
            scopes: Vec::new(),
        }),
        tool: tool.into(),
        arguments_json: Value::Object(arguments).to_string(),
        deadline_unix_ms: deadline_ms(timeout),
        trace_context: Default::default(),
        want_progress,
    })
}

/// Runs `request` on a worker within `timeout`, handing each progress event
/// to `on_progress`, and returns the final result. Dropping the returned
/// future cancels the call on the worker.
pub async fn run(
    workers: &WorkerPool,
    request: proto::CallToolRequest,
    idempotent: bool,
    timeout: Duration,
    mut on_progress: impl FnMut(proto::Progress) -> BoxFuture<'static, ()> + Send,
) -> Result<proto::ToolResult, Failure> {
    let request_id = request.request_id.clone();
    let call = async {
        let mut events = workers.call(request, idempotent, timeout).await?;
        while let Some(event) = events.next().await {
            match event?.event {
                Some(proto::call_tool_event::Event::Progress(progress)) => {
                    on_progress(progress).await;
                }
                Some(proto::call_tool_event::Event::Log(log)) => {
                    tracing::debug!(%request_id, level = %log.level, logger = %log.logger, data = %log.data_json, "worker log");
                }
                Some(proto::call_tool_event::Event::Result(result)) => return Ok(result),
                None => {}
            }
        }
        Err(Failure::new(
            ErrorCode::Unavailable,
            "the worker ended the call without a result; it may have stopped",
        ))
    };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(Failure::new(
                ErrorCode::DeadlineExceeded,
                format!(
                    "the tool call did not finish within {} s and was cancelled; narrow the query \
                 (filter, select, top) and try again",
                    timeout.as_secs()
                ),
            ))
        })
}

fn deadline_ms(timeout: Duration) -> u64 {
    SystemTime::now()
        .checked_add(timeout)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use common::catalogue;
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
            tool(),
            args(json!({"entity_set": "X"})),
            false,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(none.environment, "");
        let named = worker_request(
            tool(),
            args(json!({"environment": " prod "})),
            true,
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(named.environment, "prod");
        assert!(named.want_progress);
        let bad = worker_request(
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
    fn requests_carry_a_unique_id_and_a_future_deadline() {
        let a = worker_request(tool(), Map::new(), false, Duration::from_secs(5)).unwrap();
        let b = worker_request(tool(), Map::new(), false, Duration::from_secs(5)).unwrap();
        assert_ne!(a.request_id, b.request_id);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(a.deadline_unix_ms >= now + 4_000);
        assert_eq!(a.tool, catalogue::names::QUERY_ENTITIES);
    }
}
