//! `--spawn` starts real clusters from the built `d365mcp` binary, serves MCP
//! on every edge, and leaves no process behind.
//!
//! The binary is `target/<profile>/d365mcp` beside this test's own
//! executable (`cargo test --workspace` builds it; alone, run
//! `cargo build -p d365mcp` first), or `D365MCP_BIN`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use loadtest::spawn::{RateLimit, Spawn, SpawnError, Spawned};
use serde_json::{Value, json};

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("D365MCP_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/spawn-<hash> → target/<profile>/d365mcp
    let exe = std::env::current_exe().expect("the test's own path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from target/<profile>/deps");
    let binary = profile.join("d365mcp");
    assert!(
        binary.is_file(),
        "{} is missing: build it first (cargo build -p d365mcp) or set D365MCP_BIN",
        binary.display()
    );
    binary
}

/// A 2026-07-28 stateless `tools/list`: the HTTP status and the body.
async fn post_tools_list(url: &str) -> (u16, String) {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/list",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }}
    });
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The tool names a `tools/list` on `url` answers.
async fn tools_list(url: &str) -> Vec<String> {
    let (status, text) = post_tools_list(url).await;
    assert_eq!(status, 200, "tools/list on {url}: {text}");
    // A JSON body, or an SSE stream whose data line holds the reply.
    let reply: Value = serde_json::from_str(&text)
        .ok()
        .or_else(|| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v.get("id") == Some(&json!(1)))
        })
        .unwrap_or_else(|| panic!("no JSON-RPC reply in {text}"));
    reply["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("not a tools/list result: {reply}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

/// Starts `spec`, checks every edge, stops it and checks that none of its
/// `children` processes is left.
async fn check(spec: Spawn, children: usize) {
    let edges = spec.edges;
    let cluster = Spawned::start(&binary(), spec).await.unwrap();
    let urls = cluster.mcp_urls();
    assert_eq!(urls.len(), edges);
    for url in &urls {
        let ready = reqwest::get(url.replace("/mcp", "/ready")).await.unwrap();
        assert_eq!(ready.status(), 200, "{url}");
        let tools = tools_list(url).await;
        assert!(
            tools.iter().any(|t| t == "d365fo_query_entities"),
            "{url} listed {tools:?}"
        );
    }
    let pids = cluster.pids();
    assert_eq!(pids.len(), children, "{pids:?}");
    assert!(pids.iter().all(|pid| alive(*pid)), "{pids:?} all started");
    cluster.stop();
    let left: Vec<u32> = pids.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(left.is_empty(), "still running after stop: {left:?}");
}

/// Whether a process (not yet reaped) with this id exists.
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn one_edge_one_worker_and_the_simulator() {
    check(Spawn::default(), 3).await;
}

#[tokio::test]
async fn redis_two_edges_two_workers() {
    let spec = Spawn {
        redis: true,
        edges: 2,
        workers: 2,
        sim_latency_ms: 1,
        ..Spawn::default()
    };
    check(spec, 2 + 2 + 1 + 1).await;
}

#[tokio::test]
async fn the_spawned_edges_apply_the_spec_rate_limit() {
    // A limit of one request now and then: the second request is refused,
    // so the edges read the spawned rate-limits file (whose default lifts
    // the limit; see the unit tests) rather than the production defaults.
    let spec = Spawn {
        rate_limit: RateLimit {
            rate: 0.001,
            burst: 1,
        },
        ..Spawn::default()
    };
    let cluster = Spawned::start(&binary(), spec).await.unwrap();
    let url = cluster.mcp_urls().remove(0);
    assert_eq!(post_tools_list(&url).await.0, 200);
    let (status, text) = post_tools_list(&url).await;
    assert_eq!(
        status,
        429,
        "{}",
        text.chars().take(300).collect::<String>()
    );
    assert!(text.contains("rate_limited"), "{text}");
    cluster.stop();
}

#[tokio::test]
async fn a_binary_that_does_not_exist_is_named() {
    let missing = PathBuf::from("/nonexistent/d365mcp");
    match Spawned::start(&missing, Spawn::default()).await {
        Err(SpawnError::Start { program, .. }) => assert_eq!(program, "/nonexistent/d365mcp"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("started a binary that does not exist"),
    }
}

#[tokio::test]
async fn a_child_that_fails_to_start_is_reported_with_its_log() {
    // An edge flag the binary refuses: the edge exits with its own message.
    let spec = Spawn {
        edge_args: vec!["--call-timeout".into(), "soon".into()],
        ..Spawn::default()
    };
    let error = Spawned::start(&binary(), spec)
        .await
        .err()
        .expect("an error");
    let text = error.to_string();
    assert!(matches!(error, SpawnError::Exited { .. }), "{text}");
    assert!(text.contains("edge 0") && text.contains("soon"), "{text}");
}
