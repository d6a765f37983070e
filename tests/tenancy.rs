//! Cluster tests for tenant isolation and the authenticated edge→worker hop
//! (issue 15, findings 4 and 5): two tenants with disjoint environments,
//! each on its own simulator, behind one edge and one worker that share a
//! keys file with a policy and an internal secret (`support::tenancy`).
//!
//! Each refusal is checked twice: the caller gets `permission_denied` (or
//! the hop `Unauthenticated`) naming what is allowed, and the simulators saw
//! no request to `/data`, so nothing was read or changed.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use common::{
    assertion::{self, InternalSecret},
    proto::{self, call_tool_event::Event, tool_result::Outcome, worker_client::WorkerClient},
};
use serde_json::{Value, json};
use support::{cluster::Process, tenancy::*};

#[tokio::test]
async fn two_tenants_read_and_write_only_their_own_environments() {
    let t = start().await;
    let url = t.cluster.mcp_url(0);
    let (contoso_sim, fabrikam_sim) = (t.cluster.sim.url(), t.fabrikam_sim.url());

    // Each tenant writes its own environment; naming none means its only one.
    succeeded(
        &call(
            &url,
            CONTOSO,
            "d365fo_create_entity_record",
            currency("TNA"),
        )
        .await,
    );
    let mut own = currency("TNB");
    own["environment"] = json!("fabrikam");
    succeeded(&call(&url, FABRIKAM, "d365fo_create_entity_record", own).await);
    succeeded(
        &call(
            &url,
            CONTOSO,
            "d365fo_get_entity_record",
            read_currency("TNA", "contoso"),
        )
        .await,
    );

    // Every crossing is refused, naming what the key may use.
    let before = (
        data_requests(&contoso_sim).await,
        data_requests(&fabrikam_sim).await,
    );
    let mut crossing = currency("TNX");
    crossing["environment"] = json!("contoso");
    for (key, tool, arguments, allowed) in [
        (
            FABRIKAM,
            "d365fo_get_entity_record",
            read_currency("TNA", "contoso"),
            "fabrikam",
        ),
        (
            FABRIKAM,
            "d365fo_create_entity_record",
            crossing,
            "fabrikam",
        ),
        (
            CONTOSO,
            "d365fo_query_entities",
            json!({"entity_set": "Currencies", "environment": "fabrikam"}),
            "contoso",
        ),
        (
            CONTOSO,
            "d365fo_delete_entity_record",
            read_currency("TNB", "fabrikam"),
            "contoso",
        ),
    ] {
        let answer = call(&url, key, tool, arguments).await;
        let (code, message) = refusal(&answer);
        assert_eq!(code, "permission_denied", "{tool}: {answer}");
        assert_eq!(answer["error"]["data"]["retryable"], false, "{answer}");
        assert!(
            message.contains(&format!("it may use: {allowed}")),
            "{tool}: {message}"
        );
    }
    // Nothing reached either environment's data, and the records are as they were.
    assert_eq!(
        (
            data_requests(&contoso_sim).await,
            data_requests(&fabrikam_sim).await
        ),
        before
    );
    succeeded(
        &call(
            &url,
            FABRIKAM,
            "d365fo_get_entity_record",
            read_currency("TNB", "fabrikam"),
        )
        .await,
    );
    let missing = call(
        &url,
        CONTOSO,
        "d365fo_get_entity_record",
        read_currency("TNX", "contoso"),
    )
    .await;
    assert_eq!(missing["result"]["isError"], true, "{missing}");

    // tools/list shows each key what it may call.
    let writer = listed(&url, CONTOSO).await;
    assert!(writer.iter().any(|t| t == "d365fo_create_entity_record"));
    assert!(!writer.iter().any(|t| t == "d365fo_reset_performance_stats"));
    let reader = listed(&url, CONTOSO_READER).await;
    assert!(reader.iter().any(|t| t == "d365fo_query_entities"));
    assert!(
        !reader
            .iter()
            .any(|t| t == "d365fo_create_entity_record" || t == "d365fo_execute_batch")
    );
    let ops = listed(&url, CONTOSO_OPS).await;
    assert!(ops.iter().any(|t| t == "d365fo_reset_performance_stats"));
    // Toolsets choose what is listed, not what may be called: the writer
    // (default toolsets) is not shown the execution tools but may call them;
    // the operator's key lists them all.
    assert!(!writer.iter().any(|t| t == "d365fo_search_actions"));
    assert_eq!(ops.len(), common::catalogue::tools().len());
    succeeded(
        &call(
            &url,
            CONTOSO,
            "d365fo_search_actions",
            json!({"query": "version"}),
        )
        .await,
    );
}

/// A session may not subscribe to another tenant's environment (its
/// updates would say when that environment changed); its own is fine.
#[tokio::test]
async fn a_key_subscribes_only_to_its_own_environments() {
    use support::raw;
    let t = start().await;
    let url = t.cluster.mcp_url(0);
    let session = raw::open(&url, Some(FABRIKAM)).await;
    let subscribe = |id: u64, uri: &str| json!({"jsonrpc": "2.0", "id": id, "method": "resources/subscribe", "params": {"uri": uri}});
    let (_, events) = raw::request(
        &url,
        &session,
        Some(FABRIKAM),
        &subscribe(2, "d365fo://environments/contoso"),
    )
    .await;
    let refused = raw::answer(&events);
    assert_eq!(
        refused["error"]["data"]["code"], "permission_denied",
        "{refused}"
    );
    let (_, events) = raw::request(
        &url,
        &session,
        Some(FABRIKAM),
        &subscribe(3, "d365fo://environment"),
    )
    .await;
    let default = raw::answer(&events);
    assert_eq!(
        default["error"]["data"]["code"], "permission_denied",
        "{default}"
    );
    let (_, events) = raw::request(
        &url,
        &session,
        Some(FABRIKAM),
        &subscribe(4, "d365fo://environments/fabrikam"),
    )
    .await;
    let own = raw::answer(&events);
    assert!(own.get("error").is_none(), "{own}");
}

#[tokio::test]
async fn a_read_only_key_cannot_write_and_only_an_operator_resets_statistics() {
    let t = start().await;
    let url = t.cluster.mcp_url(0);
    let sim = t.cluster.sim.url();
    succeeded(
        &call(
            &url,
            CONTOSO,
            "d365fo_get_entity_record",
            read_currency("EUR", "contoso"),
        )
        .await,
    );

    let before = data_requests(&sim).await;
    for (tool, arguments) in [
        ("d365fo_create_entity_record", currency("TNR")),
        (
            "d365fo_delete_entity_record",
            read_currency("EUR", "contoso"),
        ),
    ] {
        let (code, message) = refusal(&call(&url, CONTOSO_READER, tool, arguments).await);
        assert_eq!(code, "permission_denied");
        assert!(message.contains("read-only"), "{message}");
    }
    assert_eq!(data_requests(&sim).await, before, "nothing was sent");
    succeeded(
        &call(
            &url,
            CONTOSO_READER,
            "d365fo_get_entity_record",
            read_currency("EUR", "contoso"),
        )
        .await,
    );

    // A tenant's key may read the statistics but not reset them.
    let total_calls = |answer: &Value| {
        succeeded(answer)["structuredContent"]["calls"]["total"]["calls"]
            .as_u64()
            .unwrap_or_else(|| panic!("no call count in {answer}"))
    };
    let counted =
        total_calls(&call(&url, CONTOSO, "d365fo_get_performance_stats", json!({})).await);
    assert!(counted > 0);
    for tool in ["d365fo_reset_performance_stats", "d365fo_get_server_config"] {
        let (code, message) = refusal(&call(&url, CONTOSO, tool, json!({})).await);
        assert_eq!(code, "permission_denied", "{tool}");
        assert!(message.contains("operator"), "{message}");
    }
    let after = total_calls(&call(&url, CONTOSO, "d365fo_get_performance_stats", json!({})).await);
    assert!(
        after > counted,
        "the statistics were not reset: {counted} then {after}"
    );
    succeeded(
        &call(
            &url,
            CONTOSO_OPS,
            "d365fo_reset_performance_stats",
            json!({}),
        )
        .await,
    );
    succeeded(&call(&url, CONTOSO_OPS, "d365fo_get_server_config", json!({})).await);
    let zeroed = total_calls(&call(&url, CONTOSO, "d365fo_get_performance_stats", json!({})).await);
    assert!(
        zeroed < after,
        "the operator's reset zeroed them: {after} then {zeroed}"
    );
}

/// A `CallTool` request as an edge would send it for `subject` of `tenant`.
fn request(subject: &str, tenant: &str, environment: &str) -> proto::CallToolRequest {
    proto::CallToolRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.into(),
        environment: environment.into(),
        principal: Some(proto::Principal {
            subject: subject.into(),
            issuer: "d365mcp-api-key".into(),
            scopes: Vec::new(),
        }),
        tool: "d365fo_create_entity_record".into(),
        arguments_json: currency("TNG").to_string(),
        ..Default::default()
    }
}

/// Calls the worker directly with `assertion` (or none); the gRPC status,
/// or the stream's final result.
async fn direct(
    worker: &str,
    call: proto::CallToolRequest,
    assertion: Option<String>,
) -> Result<proto::ToolResult, tonic::Status> {
    let mut client = WorkerClient::connect(worker.to_owned()).await.unwrap();
    let mut grpc = tonic::Request::new(call);
    grpc.set_timeout(Duration::from_secs(10));
    if let Some(assertion) = assertion {
        grpc.metadata_mut()
            .insert(assertion::METADATA_KEY, assertion.parse().unwrap());
    }
    let mut events = client.call_tool(grpc).await?.into_inner();
    while let Some(event) = events.message().await? {
        if let Some(Event::Result(result)) = event.event {
            return Ok(result);
        }
    }
    panic!("the stream ended without a result");
}

#[tokio::test]
async fn a_worker_refuses_calls_without_a_valid_assertion() {
    let t = start().await;
    let worker = t.cluster.workers[0].url();
    let sim = t.cluster.sim.url();
    let before = data_requests(&sim).await;

    // No assertion, another secret's, or one for another call.
    let secret = InternalSecret::new(SECRET).unwrap();
    let other = InternalSecret::new("not-the-cluster-secret-0123456789abcdef").unwrap();
    let mine = request("contoso-app", "contoso", "contoso");
    let mut lifted = mine.clone();
    lifted.tenant = "fabrikam".into();
    for (sent, assertion, says) in [
        (mine.clone(), None, "no assertion"),
        (mine.clone(), Some(other.sign(&mine)), "does not match"),
        (lifted, Some(secret.sign(&mine)), "does not match"),
        (mine.clone(), Some("v1.0.zz".to_owned()), "malformed"),
    ] {
        let status = direct(&worker, sent, assertion).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
        assert!(status.message().contains(says), "{status:?}");
    }
    assert_eq!(data_requests(&sim).await, before, "nothing ran");

    // Signed, but against the policy: the worker checks it again.
    let crossing = request("fabrikam-app", "fabrikam", "contoso");
    let result = direct(&worker, crossing.clone(), Some(secret.sign(&crossing)))
        .await
        .unwrap();
    let Some(Outcome::Failure(failure)) = result.outcome else {
        panic!("expected a refusal, got {result:?}");
    };
    assert_eq!(failure.code, "permission_denied", "{failure:?}");
    assert!(
        failure.message.contains("it may use: fabrikam"),
        "{failure:?}"
    );
    assert_eq!(data_requests(&sim).await, before, "nothing ran");

    // An edge without the secret is refused with an error that names it.
    let keys = t.keys.to_str().unwrap();
    let unsigned = Process::start(
        "edge",
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            &worker,
            "--api-keys-file",
            keys,
        ],
        &[],
    )
    .await;
    support::cluster::wait_for(&format!("{}/ready", unsigned.url()), 200).await;
    let answer = call_via(&unsigned, CONTOSO, currency("TNU")).await;
    let (code, message) = refusal(&answer);
    assert_eq!(code, "internal", "{answer}");
    assert!(message.contains("D365MCP_INTERNAL_SECRET"), "{message}");
    assert_eq!(data_requests(&sim).await, before, "nothing ran");

    // The edges that hold the secret are served.
    let signed = call(
        &t.cluster.mcp_url(0),
        CONTOSO,
        "d365fo_create_entity_record",
        currency("TNS"),
    )
    .await;
    succeeded(&signed);
}

async fn call_via(edge: &Process, key: &str, arguments: Value) -> Value {
    call(
        &format!("{}/mcp", edge.url()),
        key,
        "d365fo_create_entity_record",
        arguments,
    )
    .await
}

/// A worker listening beyond loopback with no secret does not start, unless
/// told to accept unsigned calls.
#[tokio::test]
async fn a_worker_beyond_loopback_needs_a_secret() {
    let run = |extra: &'static [&'static str], within: u64| async move {
        let mut args = vec![
            "worker",
            "--listen",
            "0.0.0.0:0",
            "--d365fo-base-url",
            "http://127.0.0.1:9",
        ];
        args.extend(extra);
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_d365mcp"))
            .args(&args)
            .env_remove("D365MCP_INTERNAL_SECRET")
            .env_remove("D365MCP_INTERNAL_SECRET_FILE")
            .env_remove("D365MCP_INSECURE_INTERNAL_HOP")
            .env_remove("D365MCP_LISTEN")
            .env_remove("D365FO_BASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(within), child.wait_with_output()).await
    };
    let refused = run(&[], 10).await.expect("it exits at once").unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("D365MCP_INTERNAL_SECRET")
            && stderr.contains("D365MCP_INSECURE_INTERNAL_HOP"),
        "{stderr}"
    );
    // With the opt-out it starts (and runs until killed).
    assert!(
        run(&["--insecure-internal-hop"], 3).await.is_err(),
        "it keeps running"
    );
}
