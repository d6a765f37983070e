//! `resources/*` over HTTP, in both protocol eras, against scripted workers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use common::{ErrorCode, Failure, proto};
use rmcp::ServerHandler;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::support::{ScriptedWorker, messages, rpc, state, state_with};
use crate::{EdgeState, app, mcp::McpHandler};

/// A worker that answers with what it was asked, as structured content.
fn echo(request: &proto::CallToolRequest) -> proto::ToolResult {
    let echo = json!({
        "tool": request.tool,
        "environment": request.environment,
        "arguments": serde_json::from_str::<Value>(&request.arguments_json).unwrap(),
    });
    proto::ToolResult {
        outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
            content_json: json!([{"type": "text", "text": echo.to_string()}]).to_string(),
            structured_content_json: echo.to_string(),
            is_error: false,
        })),
    }
}

/// A worker that fails every call with `failure`, counting the calls.
fn failing(failure: Failure, calls: Arc<AtomicUsize>) -> EdgeState {
    state_with(ScriptedWorker(move |_: &proto::CallToolRequest| {
        calls.fetch_add(1, Ordering::SeqCst);
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Failure(failure.to_proto())),
        }
    }))
}

async fn read(state: EdgeState, uri: &str) -> Value {
    rpc(state, "resources/read", json!({"uri": uri})).await
}

#[test]
fn resources_and_prompts_are_advertised() {
    let capabilities = McpHandler::new(state()).get_info().capabilities;
    assert!(capabilities.resources.is_some());
    assert!(capabilities.prompts.is_some());
    assert!(capabilities.tools.is_some());
}

#[tokio::test]
async fn list_names_the_default_environment_and_templates_the_rest() {
    let list = rpc(state(), "resources/list", json!({})).await;
    let resources = list["result"]["resources"].as_array().unwrap();
    assert_eq!(resources[0]["uri"], "d365fo://environment", "{list}");
    assert_eq!(resources[0]["mimeType"], "application/json");
    // The rest are the skills' files (`crate::skills`).
    let skills = crate::skills::resources();
    assert_eq!(resources.len(), 1 + skills.len(), "{list}");
    for (listed, skill) in resources[1..].iter().zip(&skills) {
        assert_eq!(listed["uri"], skill.uri.as_str(), "{list}");
    }

    let templates = rpc(state(), "resources/templates/list", json!({})).await;
    let templates: Vec<&str> = templates["result"]["resourceTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(
        templates,
        [
            "d365fo://environments/{name}",
            "d365fo://entities/{entity}/schema",
            "d365fo://environments/{environment}/entities/{entity}/schema",
            "d365fo://enumerations/{enumeration}",
            "d365fo://environments/{environment}/enumerations/{enumeration}",
        ]
    );
}

#[tokio::test]
async fn environment_reads_through_the_environment_tool() {
    for (uri, environment) in [
        ("d365fo://environment", ""),
        ("d365fo://environments/prod", "prod"),
    ] {
        let answer = read(state_with(ScriptedWorker(echo)), uri).await;
        let contents = &answer["result"]["contents"][0];
        assert_eq!(contents["uri"], uri, "{answer}");
        assert_eq!(contents["mimeType"], "application/json");
        let body: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
        assert_eq!(body["tool"], "d365fo_get_environment_info");
        assert_eq!(body["environment"], environment, "{body}");
    }
}

#[tokio::test]
async fn entity_schema_reads_through_the_schema_tool() {
    let uri = "d365fo://environments/test/entities/CustomersV3/schema";
    let answer = read(state_with(ScriptedWorker(echo)), uri).await;
    let text = answer["result"]["contents"][0]["text"].as_str().unwrap();
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["tool"], "d365fo_get_entity_schema");
    assert_eq!(
        body["arguments"],
        json!({"entity": "CustomersV3", "environment": "test"})
    );
    assert_eq!(body["environment"], "test", "routed on the environment");

    let answer = read(
        state_with(ScriptedWorker(echo)),
        "d365fo://entities/VendorsV2/schema",
    )
    .await;
    let text = answer["result"]["contents"][0]["text"].as_str().unwrap();
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["arguments"], json!({"entity": "VendorsV2"}));
}

#[tokio::test]
async fn a_bad_uri_never_reaches_a_worker() {
    let calls = Arc::new(AtomicUsize::new(0));
    let state = failing(Failure::new(ErrorCode::Internal, "unused"), calls.clone());
    // Unknown: resource not found, which 2026-07-28 spells as invalid params (SEP-2164).
    let answer = read(state.clone(), "d365fo://customers").await;
    let error = &answer["error"];
    assert_eq!(
        error["code"],
        ErrorCode::InvalidArguments.jsonrpc_code(),
        "{answer}"
    );
    assert_eq!(error["data"]["code"], "not_found");
    assert_eq!(error["data"]["uri"], "d365fo://customers");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("d365fo://environment")
    );
    // Malformed part: invalid params naming it.
    let answer = read(state, "d365fo://entities/Cust'omers/schema").await;
    let error = &answer["error"];
    assert_eq!(
        error["code"],
        ErrorCode::InvalidArguments.jsonrpc_code(),
        "{answer}"
    );
    assert_eq!(error["data"]["code"], "invalid_arguments");
    assert!(
        error["message"].as_str().unwrap().contains("bad entity"),
        "{error}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn worker_failures_become_the_matching_jsonrpc_errors() {
    let cases = [
        (
            Failure::new(
                ErrorCode::NotFound,
                "not found in D365FO (HTTP 404): no entity NoSuch",
            ),
            ErrorCode::InvalidArguments.jsonrpc_code(),
            "not_found",
        ),
        (
            Failure::new(
                ErrorCode::InvalidArguments,
                "`environment` 'nope' is not configured; configured environments: default",
            ),
            ErrorCode::InvalidArguments.jsonrpc_code(),
            "invalid_arguments",
        ),
        (
            Failure::new(ErrorCode::Throttled, "D365FO is throttling requests")
                .with_retry_after(Duration::from_secs(7)),
            ErrorCode::Throttled.jsonrpc_code(),
            "throttled",
        ),
        (
            Failure::new(ErrorCode::UnknownTool, "unknown tool"),
            ErrorCode::Unavailable.jsonrpc_code(),
            "unavailable",
        ),
    ];
    for (failure, code, name) in cases {
        let calls = Arc::new(AtomicUsize::new(0));
        let state = failing(failure.clone(), calls.clone());
        let answer = read(state, "d365fo://entities/NoSuch/schema").await;
        let error = &answer["error"];
        assert_eq!(error["code"], code, "{answer}");
        assert_eq!(error["data"]["code"], name);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("d365fo://entities/NoSuch/schema"),
            "{message}"
        );
        if failure.code != ErrorCode::UnknownTool {
            assert!(message.contains(&failure.message), "{message}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
    let answer = read(
        failing(
            Failure::new(ErrorCode::Throttled, "slow down")
                .with_retry_after(Duration::from_secs(7)),
            Arc::default(),
        ),
        "d365fo://environment",
    )
    .await;
    assert_eq!(answer["error"]["data"]["retryAfterSeconds"], 7, "{answer}");
    assert_eq!(answer["error"]["data"]["retryable"], true);
}

/// Opens a 2025-11-25 session on `app` and sends `method` in it.
async fn in_session(app: axum::Router, method: &str, params: Value) -> Value {
    let post = |body: Value, session: Option<&str>| {
        let mut request = Request::post("/mcp")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.body(Body::from(body.to_string())).unwrap()
    };
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
    });
    let response = app.clone().oneshot(post(init, None)).await.unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = app
        .clone()
        .oneshot(post(initialized, Some(&session)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let request = json!({"jsonrpc": "2.0", "id": 2, "method": method, "params": params});
    let response = app.oneshot(post(request, Some(&session))).await.unwrap();
    messages(response).await.pop().expect("an answer")
}

#[tokio::test]
async fn sessions_of_2025_keep_resource_not_found_as_32002() {
    let app = app(failing(
        Failure::new(ErrorCode::NotFound, "no such entity"),
        Arc::default(),
    ));
    let answer = in_session(
        app.clone(),
        "resources/read",
        json!({"uri": "d365fo://nowhere"}),
    )
    .await;
    assert_eq!(
        answer["error"]["code"],
        ErrorCode::NotFound.jsonrpc_code(),
        "{answer}"
    );
    let answer = in_session(
        app,
        "resources/read",
        json!({"uri": "d365fo://entities/NoSuch/schema"}),
    )
    .await;
    assert_eq!(
        answer["error"]["code"],
        ErrorCode::NotFound.jsonrpc_code(),
        "{answer}"
    );
    assert_eq!(
        answer["error"]["data"]["uri"],
        "d365fo://entities/NoSuch/schema"
    );
}
