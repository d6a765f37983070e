//! The official MCP clients, as people run them, against two edges on one
//! Redis behind a round-robin load balancer with no stickiness: the Python
//! SDK 2.x (`mcp.Client(url)` by default, pinned 2026-07-28, a 2025 session,
//! and its HTTP+SSE client) and the TypeScript client 2.x (auto, pinned
//! 2026-07-28, its default 2025 session, and its SSE transport). Each lists
//! the tools, runs a query, reads a label, reads a resource and gets a prompt
//! (`tests/clients/`). And the MCP Inspector CLI finds every tool schema
//! portable.
//!
//! `scripts/test.sh` installs the pinned clients (the Python SDK into
//! `target/py-clients`, the TypeScript client into `tests/clients/ts`).

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::PathBuf, time::Duration};

use support::haproxy::Balanced;

/// Each client's modes and the protocol each must negotiate: `auto` is what
/// a new user gets, `legacy` a 2025 session, `sse` the HTTP+SSE transport.
const MODES: [(&str, &str); 4] = [
    ("auto", "2026-07-28"),
    ("2026-07-28", "2026-07-28"),
    ("legacy", "2025-"),
    ("sse", "2025-"),
];

/// Longest one client run may take (each bounds itself to 55 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `program args` and returns its JSON summary line, failing with the
/// client's own words when it fails.
async fn run(what: &str, program: &str, args: &[&str]) -> serde_json::Value {
    support::json_summary(what, program, args, RUN_TIMEOUT).await
}

/// How many tools a caller sees by default: the default toolsets'.
fn default_surface() -> usize {
    let toolsets = common::catalogue::Toolsets::DEFAULT;
    common::catalogue::tools()
        .iter()
        .filter(|t| toolsets.lists(t))
        .count()
}

fn check(what: &str, summary: &serde_json::Value, protocol: &str) {
    assert_eq!(summary["ok"], true, "{what}: {summary}");
    assert_eq!(summary["tools"], default_surface(), "{what}: {summary}");
    let negotiated = summary["protocol"].as_str().unwrap_or_default();
    assert!(
        negotiated.starts_with(protocol),
        "{what}: negotiated {negotiated}, expected {protocol}: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_works_in_every_mode_through_the_balancer() {
    // Held whole: its cluster and Redis live as long as it does.
    let balanced = Balanced::start().await;
    let lb = &balanced.lb;
    let python = repo("target/py-clients/bin/python");
    let script = repo("tests/clients/python_client.py");
    let url = lb.mcp_url();
    for (mode, protocol) in MODES {
        let what = format!("python mcp 2.3.0, mode {mode}");
        let args = [script.to_str().unwrap(), url.as_str(), mode];
        let summary = run(&what, python.to_str().unwrap(), &args).await;
        check(&what, &summary, protocol);
        if mode == "auto" {
            // A new user's default client calls every tool it is shown;
            // the writes of its own record succeed.
            assert_eq!(summary["every_tool_called"], default_surface(), "{summary}");
            let errors = summary["tool_errors"].to_string();
            for write in ["create", "update", "delete", "execute_batch"] {
                assert!(!errors.contains(write), "{write}: {summary}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_client_works_in_every_mode_through_the_balancer() {
    // Held whole: its cluster and Redis live as long as it does.
    let balanced = Balanced::start().await;
    let lb = &balanced.lb;
    let script = repo("tests/clients/ts/client.mjs");
    let url = lb.mcp_url();
    for (mode, protocol) in MODES {
        let what = format!("@modelcontextprotocol/client 2.4.0, mode {mode}");
        let command = format!("node {} {url} {mode}", script.display());
        let args = ["-y", "-p", "node@22", "-c", command.as_str()];
        let summary = run(&what, "npx", &args).await;
        check(&what, &summary, protocol);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_finds_every_tool_schema_portable() {
    // Every tool, with its output schema, not only the default surface.
    // Held whole: its cluster and Redis live as long as it does.
    let balanced = Balanced::start_with(&["--toolsets=all", "--tool-output-schemas=on"]).await;
    let lb = &balanced.lb;
    let command = format!(
        "inspector --cli {} --transport http --method tools/list --strict",
        lb.mcp_url()
    );
    let args = [
        "-y",
        "-p",
        "node@22",
        "-p",
        "@modelcontextprotocol/inspector@2.12.0",
        "-c",
        &command,
    ];
    let output = support::run_bounded("the Inspector CLI", "npx", &args, RUN_TIMEOUT).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let tools = listed["tools"].as_array().cloned().unwrap_or_default();
    assert_eq!(tools.len(), common::catalogue::tools().len());
    assert!(tools.iter().all(|t| t["outputSchema"]["type"] == "object"));
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("Warning: tool") || l.starts_with("Schema portability"))
        .collect();
    assert!(warnings.is_empty(), "portability warnings:\n{stderr}");
}
