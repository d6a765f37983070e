//! The server tools and environment resolution, through `ToolExecutor`.

use std::net::SocketAddr;

use common::config::{ClientCredentials, D365Config, Environments, Secret, WorkerConfig};
use serde_json::json;
use worker::Worker;

use super::{ENV, call, config, fixture::Fixture, request, worker};

/// The statistics come from the process-wide Prometheus families, which the
/// other tests of this binary add to at the same time: this one reads only
/// its own environment and tenant, which no other test uses.
#[tokio::test]
async fn statistics_count_calls_and_errors_until_reset() {
    const STATS_ENV: &str = "stats-only";
    const TENANT: &str = "stats-tenant";
    let fx = Fixture::start().await;
    let mut config = config(&fx.base);
    config.environments[0].name = STATS_ENV.into();
    config.default_environment = STATS_ENV.into();
    let worker = std::sync::Arc::new(Worker::standalone(config).unwrap());
    let ask = |tool: &str, args: serde_json::Value| {
        let mut request = request(tool, args);
        request.tenant = TENANT.into();
        request
    };
    call(&worker, ask("d365fo_test_connection", json!({}))).await;
    let bad = call(
        &worker,
        ask("d365fo_query_entities", json!({"entity_set": 5})),
    )
    .await;
    assert_eq!(bad.failure().code, "invalid_arguments");

    let stats = call(&worker, ask("d365fo_get_performance_stats", json!({}))).await;
    let stats = stats.ok();
    assert_eq!(stats["scope"], "cluster");
    assert!(stats["worker"].as_str().unwrap().contains('-'));
    let mine = &stats["calls"]["environments"][STATS_ENV];
    assert_eq!(mine["calls"], 2, "{stats}");
    assert_eq!(mine["errors_by_code"]["invalid_arguments"], 1, "{stats}");
    assert!(
        mine["latency"]["p99_ms_at_most"].as_f64().is_some(),
        "{stats}"
    );
    assert_eq!(stats["calls"]["tenants"][TENANT]["calls"], 2, "{stats}");
    let tools = &stats["calls"]["tools"];
    assert!(tools["d365fo_test_connection"]["calls"].as_u64().unwrap() >= 1);

    let node = call(
        &worker,
        ask("d365fo_get_performance_stats", json!({"scope": "node"})),
    )
    .await;
    assert_eq!(node.ok()["scope"], "node");
    assert_eq!(node.ok()["nodes"], 1);
    let bad_scope = call(
        &worker,
        ask("d365fo_get_performance_stats", json!({"scope": "galaxy"})),
    )
    .await;
    assert_eq!(bad_scope.failure().code, "invalid_arguments");

    let reset = call(&worker, ask("d365fo_reset_performance_stats", json!({}))).await;
    assert_eq!(reset.ok()["reset"], true);
    let after = call(&worker, ask("d365fo_get_performance_stats", json!({}))).await;
    let after = after.ok();
    assert!(after["since_reset_unix_s"].as_u64().is_some(), "{after}");
    // The stats calls and the bad scope came before the reset; the reset
    // itself is counted after it ran, so it is the one call left.
    let mine = &after["calls"]["environments"][STATS_ENV];
    assert_eq!(mine["calls"], 1, "{after}");
    assert_eq!(mine["errors"], 0, "{after}");
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
        credentials: Some(ClientCredentials::client_secret(
            "tenant-1",
            "client-1",
            Secret::new("hunter2-do-not-show"),
            url::Url::parse("https://login.microsoftonline.com").unwrap(),
        )),
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
    // Which credential, and whether users call as themselves: the default.
    assert_eq!(
        config["environments"][1]["auth"]["credential"],
        "client_secret"
    );
    assert_eq!(config["environments"][1]["auth"]["on_behalf_of"], "off");
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
