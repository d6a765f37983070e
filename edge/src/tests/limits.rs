//! Rate limits through the HTTP surface: 429 with Retry-After and a
//! JSON-RPC error, before any worker is asked.

use std::{
    collections::BTreeMap,
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::{Router, http::StatusCode};
use common::ErrorCode;
use common::{
    config::{RateLimits, StoreErrorPolicy},
    proto,
    store::{Limit, MemoryStore, RedisStore, SharedStore},
};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::support::{ScriptedWorker, messages, meta, post, state_with};
use crate::{EdgeState, app};

fn limit(burst: u32) -> Limit {
    Limit {
        rate_per_second: 0.01,
        burst,
    }
}

/// An edge under `limits` whose worker counts the calls it gets.
fn limited(limits: RateLimits) -> (Router, Arc<AtomicUsize>) {
    limited_on(limits, Arc::new(MemoryStore::new()))
}

/// The same, deciding the limits in `store`.
fn limited_on(limits: RateLimits, store: SharedStore) -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let worker = ScriptedWorker(move |_: &proto::CallToolRequest| {
        seen.fetch_add(1, Ordering::SeqCst);
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: json!([{"type": "text", "text": "ok"}]).to_string(),
                structured_content_json: String::new(),
                is_error: false,
            })),
        }
    });
    let state = state_with(worker);
    let mut config = (*state.config).clone();
    config.rate_limits = limits;
    let state = EdgeState {
        config: Arc::new(config),
        store,
        ..state
    };
    (app(state), calls)
}

fn call(id: u32, tool: &str) -> axum::http::Request<axum::body::Body> {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": tool, "arguments": {}, "_meta": meta()
    }});
    post(&body.to_string(), "tools/call", Some(tool))
}

async fn send(
    app: &Router,
    request: axum::http::Request<axum::body::Body>,
) -> (StatusCode, Option<String>, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let message = messages(response).await.pop().unwrap_or(Value::Null);
    (status, retry_after, message)
}

#[tokio::test]
async fn a_request_over_the_callers_limit_gets_429_and_reaches_no_worker() {
    let (app, calls) = limited(RateLimits {
        principal: Some(limit(2)),
        ..RateLimits::off()
    });
    for id in 1..=2 {
        let (status, _, message) = send(&app, call(id, "d365fo_test_connection")).await;
        assert_eq!(status, StatusCode::OK, "{message}");
    }
    let (status, retry_after, message) = send(&app, call(3, "d365fo_test_connection")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{message}");
    let secs: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
    assert!((1..=100).contains(&secs), "{secs}");
    assert_eq!(message["id"], 3, "{message}");
    assert_eq!(
        message["error"]["code"],
        ErrorCode::RateLimited.jsonrpc_code()
    );
    let data = &message["error"]["data"];
    assert_eq!(data["code"], "rate_limited");
    assert_eq!(data["retryable"], true);
    assert_eq!(data["retryAfterSeconds"], secs);
    assert_eq!(data["limit"], "principal");
    let text = message["error"]["message"].as_str().unwrap();
    assert!(
        text.contains("`anonymous`") && text.contains(&format!("retry after {secs} s")),
        "{text}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the refused call reached no worker"
    );
}

#[tokio::test]
async fn a_tool_limit_refuses_that_tool_and_lets_the_others_through() {
    let (app, calls) = limited(RateLimits {
        tools: BTreeMap::from([("d365fo_execute_batch".into(), limit(1))]),
        ..RateLimits::off()
    });
    let (status, _, _) = send(&app, call(1, "d365fo_execute_batch")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, message) = send(&app, call(2, "d365fo_execute_batch")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(message["error"]["data"]["limit"], "tool");
    let text = message["error"]["message"].as_str().unwrap();
    assert!(text.contains("`d365fo_execute_batch`"), "{text}");
    for id in 3..6 {
        let (status, _, _) = send(&app, call(id, "d365fo_get_label")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn notifications_pass_whatever_the_limits() {
    let (app, _) = limited(RateLimits {
        principal: Some(limit(1)),
        ..RateLimits::off()
    });
    let (status, _, _) = send(&app, call(1, "d365fo_test_connection")).await;
    assert_eq!(status, StatusCode::OK);
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 1, "_meta": meta()}});
    for _ in 0..3 {
        let (status, retry_after, _) = send(
            &app,
            post(&cancel.to_string(), "notifications/cancelled", None),
        )
        .await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after.is_none());
    }
    let (status, _, _) = send(&app, call(2, "d365fo_test_connection")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "requests still count"
    );
}

#[tokio::test]
async fn closed_policy_answers_503_while_the_store_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead: SharedStore =
        Arc::new(RedisStore::open(&format!("redis://127.0.0.1:{port}")).unwrap());
    let limits = RateLimits {
        principal: Some(limit(100)),
        on_store_error: StoreErrorPolicy::Closed,
        ..RateLimits::off()
    };
    let (app, calls) = limited_on(limits, dead);
    let (status, retry_after, message) = send(&app, call(1, "d365fo_test_connection")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{message}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(message["error"]["data"]["code"], "unavailable");
    let text = message["error"]["message"].as_str().unwrap();
    assert!(text.contains("D365MCP_RATE_LIMIT_ON_STORE_ERROR"), "{text}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
