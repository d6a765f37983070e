//! API keys: refused without one, and the principal reaches the worker.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use common::ErrorCode;
use common::{config::ApiKey, proto};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::support::{ScriptedWorker, messages, meta, post, state_with};
use crate::{EdgeState, app};

fn keyed_state() -> EdgeState {
    let worker = ScriptedWorker(|request: &proto::CallToolRequest| {
        let principal = request.principal.clone().unwrap_or_default();
        let echo = json!({"tenant": request.tenant, "subject": principal.subject});
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: json!([{"type": "text", "text": echo.to_string()}]).to_string(),
                structured_content_json: echo.to_string(),
                is_error: false,
            })),
        }
    });
    let state = state_with(worker);
    let mut config = (*state.config).clone();
    config.api_keys = vec![ApiKey {
        name: "erp-team".into(),
        tenant: "contoso".into(),
        sha256: Sha256::digest(b"k-123").into(),
    }];
    EdgeState {
        config: Arc::new(config),
        ..state
    }
}

fn call() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "d365fo_test_connection", "arguments": {}, "_meta": meta()
    }})
    .to_string()
}

#[tokio::test]
async fn a_request_without_a_valid_key_is_refused_and_reaches_no_worker() {
    for key in [None, Some("Bearer nope")] {
        let mut request = post(&call(), "tools/call", Some("d365fo_test_connection"));
        if let Some(key) = key {
            request
                .headers_mut()
                .insert("authorization", HeaderValue::from_static(key));
        }
        let response = app(keyed_state()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body = messages(response).await.pop().unwrap();
        assert_eq!(
            body["error"]["code"],
            ErrorCode::Unauthenticated.jsonrpc_code(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_keys_principal_and_tenant_reach_the_worker() {
    let mut request = post(&call(), "tools/call", Some("d365fo_test_connection"));
    request
        .headers_mut()
        .insert("x-api-key", HeaderValue::from_static("k-123"));
    let response = app(keyed_state()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let message = messages(response).await.pop().unwrap();
    let echo: &Value = &message["result"]["structuredContent"];
    assert_eq!(echo["subject"], "erp-team", "{message}");
    assert_eq!(echo["tenant"], "contoso");
}

#[tokio::test]
async fn health_and_ready_need_no_key() {
    let request = axum::http::Request::get("/health")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app(keyed_state()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
