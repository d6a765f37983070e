//! API keys: refused without one, and the principal reaches the worker.

use axum::http::{HeaderValue, StatusCode};
use common::ErrorCode;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::support::{keyed_state, messages, meta, post};
use crate::app;

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
