//! Cluster tests: a simulator, two workers and an edge as real processes on
//! loopback, driven by rmcp's MCP client in both protocol eras.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use rmcp::service::ServiceError;
use serde_json::json;
use support::{
    Cluster,
    cluster::{Process, reset_sim, sim_requests},
    mcp::{self, Era},
};

#[tokio::test]
async fn tools_list_and_call_in_both_eras() {
    let cluster = Cluster::builder().workers(2).start().await;
    for era in Era::ALL {
        let client = mcp::connect(&cluster.mcp_url(0), era).await;

        let tools = client.list_all_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        for expected in [
            "d365fo_test_connection",
            "d365fo_get_environment_info",
            "d365fo_query_entities",
            "d365fo_get_entity_record",
        ] {
            assert!(
                names.contains(&expected),
                "{era:?}: {expected} missing from {names:?}"
            );
        }
        let query_tool = tools
            .iter()
            .find(|t| t.name == "d365fo_query_entities")
            .unwrap();
        assert_eq!(
            query_tool.annotations.as_ref().unwrap().read_only_hint,
            Some(true)
        );

        let result = mcp::call_ok(
            &client,
            "d365fo_query_entities",
            json!({"entity_set": "CustomersV3", "top": 5, "select": ["CustomerAccount", "OrganizationName", "dataAreaId"]}),
        ).await;
        let structured = result.structured_content.expect("structured content");
        let rows = structured["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 5, "{era:?}: {structured}");
        for row in rows {
            assert_eq!(row["dataAreaId"], "usmf", "default company only: {row}");
            assert!(row["CustomerAccount"].is_string());
        }
        assert_eq!(
            structured["more"], true,
            "{era:?}: more customers exist than 5"
        );

        let first = rows[0]["CustomerAccount"].as_str().unwrap().to_owned();
        let record = mcp::call_ok(
            &client,
            "d365fo_get_entity_record",
            json!({"entity_set": "CustomersV3", "key": {"dataAreaId": "USMF", "CustomerAccount": first}}),
        ).await;
        assert_eq!(
            record.structured_content.unwrap()["record"]["CustomerAccount"],
            first
        );

        let info = mcp::call(&client, "d365fo_get_environment_info", json!({}))
            .await
            .expect("env info");
        let info = info.structured_content.expect("structured env info");
        assert!(
            info["application_version"]
                .as_str()
                .unwrap()
                .starts_with("10.0"),
            "{info}"
        );

        let ping = mcp::call(&client, "d365fo_test_connection", json!({}))
            .await
            .expect("test connection");
        assert_eq!(ping.structured_content.unwrap()["ok"], true);

        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_in_both_eras() {
    let cluster = Cluster::builder().workers(2).start().await;
    for era in Era::ALL {
        let client = mcp::connect(&cluster.mcp_url(0), era).await;

        // An unknown tool is a protocol error: JSON-RPC invalid params.
        match mcp::call(&client, "d365fo_no_such_tool", json!({})).await {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code.0, -32602, "{era:?}: {e:?}");
                assert!(e.message.contains("d365fo_no_such_tool"), "{}", e.message);
            }
            other => panic!("{era:?}: unknown tool should be a JSON-RPC error, got {other:?}"),
        }

        // Arguments of the wrong type: a tool error the model can correct.
        let wrong = mcp::expect_tool_error(
            &client,
            "d365fo_query_entities",
            json!({"entity_set": "CustomersV3", "top": "ten"}),
            "invalid_arguments",
        )
        .await;
        assert!(wrong.contains("top"), "{era:?}: {wrong}");

        // A malformed filter: D365FO's own complaint, as a tool error.
        let bad_filter = mcp::expect_tool_error(
            &client,
            "d365fo_query_entities",
            json!({"entity_set": "CustomersV3", "filter": "CustomerAccount eq 'unterminated"}),
            "upstream_rejected",
        )
        .await;
        assert!(
            bad_filter.contains("unterminated string literal"),
            "{era:?}: {bad_filter}"
        );

        // A missing record.
        mcp::expect_tool_error(
            &client,
            "d365fo_get_entity_record",
            json!({"entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "NO-SUCH-1"}}),
            "not_found",
        )
        .await;

        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn calls_keep_succeeding_while_a_worker_is_stopped() {
    let mut cluster = Cluster::builder().workers(2).start().await;
    let client = mcp::connect(&cluster.mcp_url(0), Era::Stateless2026).await;
    let query = json!({"entity_set": "CustomersV3", "top": 2});
    mcp::call(&client, "d365fo_query_entities", query.clone())
        .await
        .expect("warm-up");

    // Stop the worker the ring gives this environment to: with the other
    // alive, every call succeeds, including those issued before the edge's
    // health check notices.
    let urls: Vec<String> = cluster.workers.iter().map(|w| w.url()).collect();
    let owner = common::ring::HashRing::new(urls.clone()).candidates(&"")[0].clone();
    let ready: serde_json::Value = cluster.edges[0].ready().await;
    assert!(
        ready["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["url"] == owner.as_str()),
        "the edge keys its ring by the same URLs: {ready}"
    );
    let owner = urls.iter().position(|u| *u == owner).unwrap();
    cluster.workers[owner].kill().await;
    for i in 0..10 {
        let result = mcp::call(&client, "d365fo_query_entities", query.clone())
            .await
            .unwrap_or_else(|e| panic!("call {i} after stopping the owning worker: {e}"));
        assert_ne!(
            result.is_error,
            Some(true),
            "call {i}: {}",
            mcp::text(&result)
        );
    }
    let edge = &cluster.edges[0];
    support::wait_until(
        "the edge's health check marks the stopped worker unhealthy",
        Duration::from_secs(10),
        move || async move {
            let ready: serde_json::Value = edge.ready().await;
            let healthy = ready["workers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|w| w["healthy"] == true)
                .count();
            if healthy == 1 {
                Ok(())
            } else {
                Err(format!("{healthy} healthy: {ready}"))
            }
        },
    )
    .await;
    client.cancel().await.ok();
}

#[tokio::test]
async fn ready_reports_unavailable_without_healthy_workers() {
    let mut cluster = Cluster::builder().workers(1).start().await;
    cluster.workers[0].kill().await;
    support::cluster::wait_for(&format!("{}/ready", cluster.edges[0].url()), 503).await;
    let health = reqwest::get(format!("{}/health", cluster.edges[0].url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let client = mcp::connect(&cluster.mcp_url(0), Era::Stateless2026).await;
    match mcp::call(
        &client,
        "d365fo_query_entities",
        json!({"entity_set": "CustomersV3"}),
    )
    .await
    {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.data.as_ref().unwrap()["code"], "unavailable", "{e:?}");
            assert!(e.message.contains("worker"), "{}", e.message);
        }
        other => panic!("no worker should be a JSON-RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn progress_of_a_multi_page_query_reaches_the_client() {
    // Pages of 10 rows make a 35-row query take four D365FO requests.
    let cluster = Cluster::builder()
        .workers(2)
        .sim_arg("--max-page-size")
        .sim_arg("10")
        .start()
        .await;
    let text = mcp::stateless_call(
        &cluster.mcp_url(0),
        "d365fo_query_entities",
        json!({"entity_set": "CustomersV3", "top": 35, "select": ["CustomerAccount"]}),
        json!({"progressToken": "rows"}),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let messages: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect();
    let progress: Vec<f64> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            assert_eq!(m["params"]["progressToken"], "rows");
            m["params"]["progress"].as_f64().unwrap()
        })
        .collect();
    assert!(
        progress.len() >= 3,
        "one progress event per page: {progress:?}\n{text}"
    );
    assert!(
        progress.windows(2).all(|w| w[0] < w[1]),
        "progress increases: {progress:?}"
    );
    let result = &messages.last().unwrap()["result"];
    assert_eq!(result["structuredContent"]["returned"], 35, "{result}");
}

#[tokio::test]
async fn workers_authenticate_with_entra_client_credentials() {
    // The simulator issues and checks tokens like Entra ID and D365FO.
    let good = Cluster::builder()
        .sim_arg("--auth")
        .sim_arg("required")
        .worker_arg("--d365fo-tenant-id")
        .worker_arg("00000000-0000-0000-0000-000000000365")
        .worker_arg("--d365fo-client-id")
        .worker_arg("11111111-2222-3333-4444-555555555555")
        .worker_arg("--d365fo-client-secret")
        .worker_arg("d365mcp-sim-secret")
        .worker_arg("--d365fo-authority-host")
        .worker_arg("{sim}")
        .start()
        .await;
    let client = mcp::connect(&good.mcp_url(0), Era::Stateless2026).await;
    let query = json!({"entity_set": "CustomersV3", "top": 1});
    mcp::call_ok(&client, "d365fo_query_entities", query.clone()).await;

    // Without credentials the simulator refuses, and the error says whose to fix.
    let anonymous = Cluster::builder()
        .sim_arg("--auth")
        .sim_arg("required")
        .start()
        .await;
    let client = mcp::connect(&anonymous.mcp_url(0), Era::Stateless2026).await;
    mcp::expect_tool_error(&client, "d365fo_query_entities", query, "upstream_auth").await;
}

#[tokio::test]
async fn a_d365fo_gateway_failure_is_a_clear_retryable_tool_error() {
    // Every D365FO request gets an HTML 502 page from a "gateway".
    let cluster = Cluster::builder()
        .sim_arg("--fail-502")
        .sim_arg("1.0")
        .start()
        .await;
    let client = mcp::connect(&cluster.mcp_url(0), Era::Session2025).await;
    let text = mcp::expect_tool_error(
        &client,
        "d365fo_get_entity_record",
        json!({"entity_set": "Currencies", "key": {"CurrencyCode": "USD"}}),
        "upstream_unavailable",
    )
    .await;
    assert!(text.contains("502"), "{text}");
    assert!(!text.contains("<html"), "no HTML reaches the model: {text}");
    client.cancel().await.ok();
}

#[tokio::test]
async fn a_client_disconnect_cancels_the_d365fo_request_behind_it() {
    // D365FO answers after 3 s and lets one request per caller run at a time;
    // a second concurrent request gets a 429 whose Retry-After (100 s) the
    // worker will not wait out. So the second call below succeeds only if
    // the first call's D365FO request was cancelled when its client left:
    // edge → gRPC → worker → HTTP.
    let cluster = Cluster::builder()
        .sim_arg("--latency-ms")
        .sim_arg("3000")
        .sim_arg("--throttle-concurrency")
        .sim_arg("1")
        .sim_arg("--throttle-retry-after")
        .sim_arg("100")
        // The warm-up's own requests would take the one slot.
        .worker_arg("--cache-warm-up")
        .worker_arg("false")
        .start()
        .await;
    let abandoned = mcp::stateless_call(
        &cluster.mcp_url(0),
        "d365fo_get_entity_record",
        json!({"entity_set": "Currencies", "key": {"CurrencyCode": "USD"}}),
        json!({}),
    )
    .send();
    // Give up on the first call while D365FO is still "working" on it.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), abandoned)
            .await
            .is_err(),
        "the first call should still be running"
    );
    // Kept as a sleep: nothing outside the simulator shows that it let go
    // of the first request, and a second call sent while it still holds it
    // would get the 100 s 429 and fail. Any margin well below the 3 s
    // latency still proves the cancel: without one, the slot would be held
    // until then.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = mcp::connect(&cluster.mcp_url(0), Era::Stateless2026).await;
    mcp::call_ok(
        &client,
        "d365fo_get_entity_record",
        json!({"entity_set": "Currencies", "key": {"CurrencyCode": "EUR"}}),
    )
    .await;
}

/// Workers that read an environments file serve each named environment; the
/// edge routes by the `environment` argument and an unknown name is a tool
/// error that lists the configured ones.
#[tokio::test]
async fn an_environments_file_serves_several_environments() {
    let cluster = Cluster::builder()
        .workers(2)
        .environments_file(
            "default = \"alpha\"\n\
             [environments.alpha]\nbase_url = \"{sim}\"\n\
             [environments.beta]\nbase_url = \"{sim}\"\n",
        )
        .start()
        .await;
    let client = mcp::connect(&cluster.mcp_url(0), Era::Stateless2026).await;
    for (asked, expected) in [(None, "alpha"), (Some("beta"), "beta")] {
        let args = match asked {
            Some(name) => json!({ "environment": name }),
            None => json!({}),
        };
        let result = mcp::call_ok(&client, "d365fo_get_environment_info", args).await;
        let info = result.structured_content.expect("structured content");
        assert_eq!(info["environment"], expected);
    }
    let text = mcp::expect_tool_error(
        &client,
        "d365fo_test_connection",
        json!({"environment": "gamma"}),
        "invalid_arguments",
    )
    .await;
    assert!(text.contains("alpha, beta"), "{text}");
}

/// Workers started with `--redis-url` share the metadata cache: a label
/// that one worker looked up is served to a brand-new worker (its memory
/// empty) from Redis, without asking D365FO again.
#[tokio::test]
async fn workers_sharing_redis_share_the_label_cache() {
    let redis = support::redis::RedisServer::start();
    let shared = [
        "--redis-url".to_owned(),
        redis.url(),
        "--cache-warm-up".to_owned(),
        "false".to_owned(),
    ];
    let mut builder = Cluster::builder();
    for arg in &shared {
        builder = builder.worker_arg(arg);
    }
    let cluster = builder.start().await;
    let label = json!({"label_id": "@SYS3391", "language": "de"});
    let first = mcp::connect(&cluster.mcp_url(0), Era::Stateless2026).await;
    let looked_up = mcp::call_ok(&first, "d365fo_get_label", label.clone()).await;

    // A second worker with its own edge: nothing in its memory yet.
    let sim = cluster.sim.url();
    let mut args = vec![
        "worker",
        "--listen",
        "127.0.0.1:0",
        "--d365fo-base-url",
        &sim,
    ];
    args.extend(shared.iter().map(String::as_str));
    let worker = Process::start("worker", &args, &[]).await;
    let worker_url = worker.url();
    let edge = Process::start(
        "edge",
        &["edge", "--listen", "127.0.0.1:0", "--workers", &worker_url],
        &[],
    )
    .await;
    support::cluster::wait_for(&format!("{}/ready", edge.url()), 200).await;
    reset_sim(&sim).await;

    let second = mcp::connect(&format!("{}/mcp", edge.url()), Era::Stateless2026).await;
    let served = mcp::call_ok(&second, "d365fo_get_label", label).await;
    assert_eq!(served.structured_content, looked_up.structured_content);
    let requests = sim_requests(&sim).await;
    let asked: Vec<&String> = requests["by_path"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|path| path.starts_with("/Metadata"))
        .collect();
    assert!(
        asked.is_empty(),
        "the second worker asked D365FO: {requests}"
    );
}

/// A write in flight when its worker is killed has an unknown outcome: the
/// worker may already have sent it to D365FO, which finishes what it
/// started. Reported as retryable `unavailable`, a client would send it
/// again and apply it twice.
#[tokio::test]
async fn a_write_cut_off_by_a_killed_worker_has_an_unknown_outcome() {
    // D365FO answers after 3 s: time to kill the worker while it waits.
    let mut cluster = Cluster::builder()
        .sim_arg("--latency-ms")
        .sim_arg("3000")
        .worker_arg("--cache-warm-up")
        .worker_arg("false")
        .start()
        .await;
    let create = create_in_flight(&cluster, "ZZK").await;
    cluster.workers[0].kill().await;
    let body = answer_of(create).await;
    let result = &body["result"];
    assert_eq!(result["isError"], true, "{body}");
    let error = &result["_meta"]["d365mcp/error"];
    assert_eq!(error["code"], "outcome_unknown", "{body}");
    assert_eq!(error["retryable"], false, "{body}");
}

/// Sends a create through edge 0 and returns its pending answer once the
/// worker's D365FO request has reached the simulator.
async fn create_in_flight(
    cluster: &Cluster,
    code: &str,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let create = mcp::stateless_call(
        &cluster.mcp_url(0),
        "d365fo_create_entity_record",
        json!({"entity_set": "Currencies", "fields": {"CurrencyCode": code, "Name": "Drained"}}),
        json!({}),
    )
    .send();
    let create = tokio::spawn(create);
    support::cluster::wait_for_sim_request(&cluster.sim.url()).await;
    create
}

/// The JSON-RPC answer of a call started by [`create_in_flight`].
async fn answer_of(
    call: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) -> serde_json::Value {
    let response = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call is answered")
        .expect("the call's task")
        .expect("an HTTP answer");
    let status = response.status();
    let text = response.text().await.expect("the answer's body");
    assert_eq!(status, 200, "a JSON-RPC answer, not a bare error: {text}");
    serde_json::from_str(&text).expect("a JSON-RPC answer")
}

/// SIGTERM drains an edge: the write in flight finishes and is answered.
#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish() {
    let mut cluster = Cluster::builder()
        .sim_arg("--latency-ms")
        .sim_arg("1500")
        .worker_arg("--cache-warm-up")
        .worker_arg("false")
        .start()
        .await;
    let create = create_in_flight(&cluster, "ZZD").await;
    cluster.edges[0].terminate().await;
    let body = answer_of(create).await;
    assert_eq!(body["result"]["isError"], false, "{body}");
    assert_eq!(
        body["result"]["structuredContent"]["key"]["CurrencyCode"], "ZZD",
        "{body}"
    );
}

/// A call still running when the drain's time is up gets a JSON-RPC answer
/// saying so: `outcome_unknown` for a write, never a bare 500.
#[tokio::test]
async fn a_write_the_drain_abandons_has_an_unknown_outcome() {
    let mut cluster = Cluster::builder()
        .sim_arg("--latency-ms")
        .sim_arg("5000")
        .worker_arg("--cache-warm-up")
        .worker_arg("false")
        .edge_arg("--drain-timeout")
        .edge_arg("300ms")
        .start()
        .await;
    let create = create_in_flight(&cluster, "ZZA").await;
    cluster.edges[0].terminate().await;
    let body = answer_of(create).await;
    assert_eq!(body["result"]["isError"], true, "{body}");
    let error = &body["result"]["_meta"]["d365mcp/error"];
    assert_eq!(error["code"], "outcome_unknown", "{body}");
}

/// A client that resends a write with the same idempotency key gets the
/// first attempt's result, and D365FO sees the write once; the key reused
/// for another write is refused.
#[tokio::test]
async fn a_keyed_write_resent_is_answered_from_its_first_attempt() {
    let cluster = Cluster::builder().start().await;
    let url = cluster.mcp_url(0);
    let keyed = |code: &str| {
        mcp::stateless_call(
            &url,
            "d365fo_create_entity_record",
            json!({"entity_set": "Currencies", "fields": {"CurrencyCode": code, "Name": "Keyed"}}),
            json!({"io.d365mcp/idempotencyKey": "create-ZZR-1"}),
        )
        .send()
    };
    let mut answers = Vec::new();
    for _ in 0..2 {
        let body: serde_json::Value = keyed("ZZR").await.unwrap().json().await.unwrap();
        assert_eq!(body["result"]["isError"], false, "{body}");
        answers.push(body["result"]["structuredContent"].clone());
    }
    assert_eq!(answers[0], answers[1], "the retry gets the first result");
    let creates = sim_requests(&cluster.sim.url()).await["by_path"]["/data/Currencies"].clone();
    assert_eq!(creates, 1, "D365FO saw the create once");

    let reused: serde_json::Value = keyed("ZZS").await.unwrap().json().await.unwrap();
    assert_eq!(reused["result"]["isError"], true, "{reused}");
    assert_eq!(
        reused["result"]["_meta"]["d365mcp/error"]["code"], "conflict",
        "{reused}"
    );
}
