//! The server tools and environment resolution, through `ToolExecutor`.

use std::net::SocketAddr;

use common::config::{ClientCredentials, D365Config, Environments, Secret, WorkerConfig};
use serde_json::json;
use worker::Worker;

use super::{ENV, call, config, fixture::Fixture, request, worker};

#[tokio::test]
async fn statistics_count_calls_and_errors_until_reset() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    call(&worker, request("d365fo_test_connection", json!({}))).await;
    let bad = call(
        &worker,
        request("d365fo_query_entities", json!({"entity_set": 5})),
    )
    .await;
    assert_eq!(bad.failure().code, "invalid_arguments");

    let stats = call(&worker, request("d365fo_get_performance_stats", json!({}))).await;
    let calls = &stats.ok()["calls"];
    assert_eq!(calls["tools"]["d365fo_test_connection"]["calls"], 1);
    let query = &calls["tools"]["d365fo_query_entities"];
    assert_eq!(query["errors_by_code"]["invalid_arguments"], 1);
    assert_eq!(calls["total"]["calls"], 2, "{stats:?}");
    assert!(stats.ok()["worker"].as_str().unwrap().contains('-'));

    let reset = call(
        &worker,
        request("d365fo_reset_performance_stats", json!({})),
    )
    .await;
    assert_eq!(reset.ok()["reset"], true);
    let after = call(&worker, request("d365fo_get_performance_stats", json!({}))).await;
    // The reset itself is recorded after it ran, so it is the one call left.
    assert_eq!(after.ok()["calls"]["total"]["calls"], 1, "{after:?}");
}

#[tokio::test]
async fn server_tools_take_no_other_arguments() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let bad = call(
        &worker,
        request("d365fo_get_server_config", json!({"verbose": true})),
    )
    .await;
    assert_eq!(bad.failure().code, "invalid_arguments");
    assert!(bad.failure().message.contains("verbose"), "{bad:?}");
}

fn two_environments(base: &url::Url) -> Worker {
    let prod = D365Config {
        name: "prod".into(),
        base_url: url::Url::parse("https://contoso.operations.dynamics.com").unwrap(),
        credentials: Some(ClientCredentials {
            tenant_id: "tenant-1".into(),
            client_id: "client-1".into(),
            client_secret: Secret::new("hunter2-do-not-show"),
            authority_host: url::Url::parse("https://login.microsoftonline.com").unwrap(),
        }),
    };
    let local = config(base).environments.remove(0);
    let config = WorkerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), local.clone())
        .with_environments(Environments {
            default: ENV.into(),
            all: vec![local, prod],
        });
    Worker::standalone(config).unwrap()
}

#[tokio::test]
async fn the_configuration_lists_environments_and_never_a_secret() {
    let fx = Fixture::start().await;
    let worker = two_environments(&fx.base);
    let called = call(&worker, request("d365fo_get_server_config", json!({}))).await;
    let config = called.ok();
    assert_eq!(config["default_environment"], ENV);
    let names: Vec<&str> = config["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [ENV, "prod"]);
    assert_eq!(config["environments"][1]["auth"]["client_id"], "client-1");
    let text = called.result.as_ref().unwrap().0.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!config.to_string().contains("hunter2"));
}

#[tokio::test]
async fn calls_go_to_the_named_environment_or_the_default() {
    let fx = Fixture::start().await;
    let worker = two_environments(&fx.base);
    let default = call(&worker, request("d365fo_test_connection", json!({}))).await;
    assert_eq!(default.ok()["environment"], ENV);
    let named = call(
        &worker,
        request("d365fo_get_environment_info", json!({"environment": ENV})),
    )
    .await;
    assert_eq!(named.ok()["environment"], ENV);

    let unknown = call(
        &worker,
        request("d365fo_test_connection", json!({"environment": "qa"})),
    )
    .await;
    assert_eq!(unknown.failure().code, "invalid_arguments");
    let message = &unknown.failure().message;
    assert!(message.contains("\"qa\" is not configured"), "{message}");
    assert!(message.contains(&format!("{ENV}, prod")), "{message}");

    let wrong_type = call(
        &worker,
        request("d365fo_test_connection", json!({"environment": ["prod"]})),
    )
    .await;
    assert!(
        wrong_type.failure().message.contains("must be a string"),
        "{wrong_type:?}"
    );
}
