//! `prompts/*` over HTTP: served by the edge alone, errors as invalid params.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use common::ErrorCode;
use common::proto;
use serde_json::{Value, json};

use super::support::{ScriptedWorker, rpc, state, state_with};

async fn get(name: &str, arguments: Value) -> Value {
    rpc(
        state(),
        "prompts/get",
        json!({"name": name, "arguments": arguments}),
    )
    .await
}

#[tokio::test]
async fn list_describes_both_prompts_and_their_arguments() {
    let answer = rpc(state(), "prompts/list", json!({})).await;
    let prompts = answer["result"]["prompts"].as_array().unwrap();
    let names: Vec<&str> = prompts
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["d365fo_entity_analysis", "d365fo_environment_summary"]
    );
    let arguments = |i: usize| -> Vec<(String, bool)> {
        prompts[i]["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_owned(),
                    a["required"] == true,
                )
            })
            .collect()
    };
    assert_eq!(
        arguments(0),
        [
            ("entity".to_owned(), true),
            ("environment".to_owned(), false),
            ("focus".to_owned(), false)
        ]
    );
    assert_eq!(arguments(1), [("environment".to_owned(), false)]);
}

#[tokio::test]
async fn entity_analysis_walks_through_the_tools_in_the_named_environment() {
    let answer = get(
        "d365fo_entity_analysis",
        json!({"entity": "CustomersV3", "environment": "prod", "focus": "credit limits"}),
    )
    .await;
    let messages = answer["result"]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "user", "{answer}");
    let text = messages[0]["content"]["text"].as_str().unwrap();
    let steps = [
        "d365fo_get_entity_schema",
        "d365fo_query_entities",
        "d365fo_get_entity_record",
        "d365fo_get_label",
    ];
    let positions: Vec<usize> = steps.iter().map(|s| text.find(s).unwrap()).collect();
    assert!(positions.is_sorted(), "tools in order: {text}");
    assert!(
        text.contains(r#"{"entity": "CustomersV3", "environment": "prod"}"#),
        "{text}"
    );
    assert!(text.contains("credit limits"), "{text}");
    // Every example a model may copy names the environment.
    let examples = text.matches(r#""entity_set""#).count();
    assert_eq!(
        text.matches(r#""environment": "prod""#).count(),
        examples + 1
    );
    assert_eq!(messages[1]["content"]["type"], "resource_link");
    assert_eq!(
        messages[1]["content"]["uri"],
        "d365fo://environments/prod/entities/CustomersV3/schema"
    );
}

#[tokio::test]
async fn environment_summary_defaults_to_the_default_environment() {
    let answer = get("d365fo_environment_summary", json!({})).await;
    let messages = answer["result"]["messages"].as_array().unwrap();
    let text = messages[0]["content"]["text"].as_str().unwrap();
    assert!(text.contains("default D365FO environment"), "{text}");
    assert!(
        !text.contains(r#""environment""#),
        "no environment argument: {text}"
    );
    for tool in [
        "d365fo_test_connection",
        "d365fo_get_environment_info",
        "LegalEntities",
    ] {
        assert!(text.contains(tool), "{tool}: {text}");
    }
    assert_eq!(messages[1]["content"]["uri"], "d365fo://environment");

    let named = get("d365fo_environment_summary", json!({"environment": "uat"})).await;
    let text = named["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains(r#"{"environment": "uat"}"#), "{text}");
}

#[tokio::test]
async fn bad_requests_are_invalid_params_naming_what_is_wrong() {
    for (name, arguments, needle) in [
        ("d365fo_entity_analysis", json!({}), "`entity`"),
        (
            "d365fo_entity_analysis",
            json!({"entity": "  "}),
            "`entity`",
        ),
        (
            "d365fo_entity_analysis",
            json!({"entity": "Customers V3"}),
            "`entity`",
        ),
        (
            "d365fo_entity_analysis",
            json!({"entity": "CustomersV3", "environment": "a/b"}),
            "`environment`",
        ),
        (
            "d365fo_entity_analysis",
            json!({"entity": "CustomersV3", "focus": "x".repeat(501)}),
            "`focus`",
        ),
        (
            "d365fo_entity_analysis",
            json!({"entity_set": "CustomersV3"}),
            "`entity_set`",
        ),
        (
            "d365fo_environment_summary",
            json!({"environment": 5}),
            "must be a string",
        ),
        ("d365fo_no_such_prompt", json!({}), "d365fo_no_such_prompt"),
    ] {
        let answer = get(name, arguments.clone()).await;
        let error = &answer["error"];
        assert_eq!(
            error["code"],
            ErrorCode::InvalidArguments.jsonrpc_code(),
            "{name} {arguments}: {answer}"
        );
        assert_eq!(error["data"]["code"], "invalid_arguments");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
    }
}

#[tokio::test]
async fn prompts_need_no_worker() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let state = state_with(ScriptedWorker(move |_: &proto::CallToolRequest| {
        counter.fetch_add(1, Ordering::SeqCst);
        proto::ToolResult::default()
    }));
    let answer = rpc(
        state,
        "prompts/get",
        json!({"name": "d365fo_entity_analysis", "arguments": {"entity": "VendorsV2"}}),
    )
    .await;
    assert!(answer["result"]["messages"].is_array(), "{answer}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
