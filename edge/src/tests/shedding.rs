//! Load shedding: past `max_calls_in_flight`, a tool call is refused at
//! once with 503 and `Retry-After`, and the edge serves again when calls end.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use common::{
    ErrorCode,
    config::EdgeConfig,
    executor::ToolExecutor,
    proto::{self, CallToolEvent, CallToolRequest, ListToolsResponse, call_tool_event::Event},
};
use futures::{StreamExt, stream::BoxStream};
use serde_json::json;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::support::{messages, meta, post};
use crate::{EdgeState, WorkerPool, app};

/// A worker whose calls each wait for a permit before they answer.
struct Gated(Arc<Semaphore>);

impl ToolExecutor for Gated {
    fn call_tool(&self, _request: CallToolRequest) -> BoxStream<'static, CallToolEvent> {
        let gate = Arc::clone(&self.0);
        futures::stream::once(async move {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
            CallToolEvent {
                event: Some(Event::Result(proto::ToolResult {
                    outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                        content_json: json!([{"type": "text", "text": "done"}]).to_string(),
                        structured_content_json: String::new(),
                        is_error: false,
                    })),
                })),
            }
        })
        .boxed()
    }

    fn list_tools(&self) -> ListToolsResponse {
        ListToolsResponse::default()
    }
}

fn call(id: u32) -> axum::http::Request<axum::body::Body> {
    let tool = "d365fo_test_connection";
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": tool, "arguments": {}, "_meta": meta()
    }});
    post(&body.to_string(), "tools/call", Some(tool))
}

#[tokio::test]
async fn a_call_past_the_limit_is_refused_at_once_with_503() {
    let gate = Arc::new(Semaphore::new(0));
    let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
    config.call_timeout = Duration::from_secs(10);
    config.max_calls_in_flight = 1;
    let state = EdgeState::new(
        config,
        WorkerPool::local(Arc::new(Gated(Arc::clone(&gate)))),
    );
    let drain = Arc::clone(&state.drain);
    let router = app(state);

    let first = tokio::spawn(router.clone().oneshot(call(1)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while drain.running() < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first call never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let refused = router.clone().oneshot(call(2)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let answer = messages(refused).await.pop().unwrap();
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(
        answer["error"]["code"],
        ErrorCode::Unavailable.jsonrpc_code()
    );
    assert_eq!(answer["error"]["data"]["retryable"], true, "{answer}");
    let text = answer["error"]["message"].as_str().unwrap();
    assert!(text.contains("D365MCP_MAX_CALLS_IN_FLIGHT"), "{text}");

    // Listing tools is not a call: it passes while the edge is full.
    let list =
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": meta()}});
    let listed = router
        .clone()
        .oneshot(post(&list.to_string(), "tools/list", None))
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    gate.add_permits(2);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let again = router.oneshot(call(4)).await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "served again once the call ended"
    );
}
