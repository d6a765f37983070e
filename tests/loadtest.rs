//! Cluster test: `d365mcp loadtest` against a real sim + worker + edge, in
//! every protocol era, at rates far below the edge's default rate limit.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::Cluster;

/// A scenario file in the temp directory.
fn scenario(name: &str, toml: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("d365mcp-lt-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, toml).unwrap();
    path
}

/// Runs `d365mcp loadtest` with `args` and returns its JSON report and stdout.
async fn loadtest(name: &str, args: &[&str]) -> (Value, String) {
    let out = std::env::temp_dir().join(format!("d365mcp-lt-{}-{name}.json", std::process::id()));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_d365mcp"))
        .arg("loadtest")
        .args(args)
        .args(["--quiet", "--warmup", "0s", "--timeout", "10s", "--out"])
        .arg(&out)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "loadtest {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    (report, stdout)
}

const QUERIES: &str = r#"
[[call]]
weight = 3
tool = "d365fo_query_entities"
arguments = { entity_set = "CustomersV3", top = "{{int:1:3}}" }

[[call]]
weight = 1
tool = "d365fo_get_label"
arguments = { label_id = "@SYS3391" }
"#;

#[tokio::test]
async fn every_era_counts_its_requests_without_failures() {
    // Two edges, both targets: stateless requests alternate between them,
    // each session stays on the edge that opened it.
    let cluster = Cluster::builder().edges(2).start().await;
    let targets = format!("{},{}", cluster.mcp_url(0), cluster.mcp_url(1));
    let file = scenario("queries", QUERIES);
    for era in ["2026-07-28", "2025-11-25", "2024-11-05"] {
        let (report, stdout) = loadtest(
            &format!("era-{era}"),
            &[
                "--target",
                &targets,
                "--scenario",
                file.to_str().unwrap(),
                "--era",
                era,
                "--mode",
                "open",
                "--rate",
                "10",
                "--concurrency",
                "4",
                "--duration",
                "2s",
            ],
        )
        .await;
        assert_eq!(report["era"], era);
        assert_eq!(report["ended_by"], "duration");
        assert_eq!(report["targets"].as_array().unwrap().len(), 2);
        let requests = report["requests"].as_u64().unwrap();
        // 10 a second for 2 s: 20 arrivals, each one request.
        assert_eq!(
            requests + report["dropped"].as_u64().unwrap(),
            20,
            "{era}: {report:#}"
        );
        assert_eq!(report["failed"], 0, "{era}: {report:#}");
        assert_eq!(report["ok"], requests);
        let tools: Vec<&str> = report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(tools.contains(&"d365fo_query_entities"), "{era}: {tools:?}");
        if era == "2026-07-28" {
            assert!(!tools.contains(&"session/open"), "{tools:?}");
        } else {
            assert!(tools.contains(&"session/open"), "{era}: {tools:?}");
        }
        assert!(stdout.contains("## Load test:"), "{stdout}");
    }
}

#[tokio::test]
async fn calls_of_an_unknown_tool_fail_with_their_kind() {
    let cluster = Cluster::builder().start().await;
    let file = scenario("unknown", "[[call]]\ntool = \"d365fo_no_such_tool\"\n");
    let (report, _) = loadtest(
        "unknown",
        &[
            "--target",
            &cluster.mcp_url(0),
            "--scenario",
            file.to_str().unwrap(),
            "--mode",
            "open",
            "--rate",
            "10",
            "--duration",
            "2s",
        ],
    )
    .await;
    let requests = report["requests"].as_u64().unwrap();
    assert!(requests > 0, "{report:#}");
    assert_eq!(report["ok"], 0, "{report:#}");
    assert_eq!(report["failed"], requests);
    assert_eq!(report["errors"]["jsonrpc_-32602"], requests, "{report:#}");
    assert!(
        report["error_examples"]["jsonrpc_-32602"]
            .as_str()
            .unwrap()
            .contains("d365fo_no_such_tool"),
        "{report:#}"
    );
}

#[tokio::test]
async fn the_shipped_mix_runs_clean_in_a_closed_loop_and_stops_at_its_request_bound() {
    let cluster = Cluster::builder().start().await;
    let mixed = concat!(env!("CARGO_MANIFEST_DIR"), "/loadtest/scenarios/mixed.toml");
    let dir = std::env::temp_dir();
    let (md, svg) = (
        dir.join(format!("d365mcp-lt-{}.md", std::process::id())),
        dir.join(format!("d365mcp-lt-{}.svg", std::process::id())),
    );
    let (report, _) = loadtest(
        "mixed",
        &[
            "--target",
            &cluster.mcp_url(0),
            "--scenario",
            mixed,
            "--mode",
            "closed",
            "--concurrency",
            "2",
            "--requests",
            "60",
            "--duration",
            "20s",
            "--markdown",
            md.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
    )
    .await;
    // A create-then-delete pair takes two requests, so the bound may leave one unused.
    let requests = report["requests"].as_u64().unwrap();
    assert!((59..=60).contains(&requests), "{report:#}");
    assert_eq!(report["ended_by"], "requests");
    assert_eq!(report["failed"], 0, "{report:#}");
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("| requests |")
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<polyline"));
}

/// `--spawn` starts a cluster of its own (Redis, two edges, a worker, the
/// simulator), loads it, and stops it again.
#[tokio::test]
async fn spawn_starts_a_cluster_for_the_run() {
    let tools_list = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/loadtest/scenarios/tools-list.toml"
    );
    let (report, _) = loadtest(
        "spawn",
        &[
            "--spawn",
            "edges=2,workers=1,redis",
            "--scenario",
            tools_list,
            "--concurrency",
            "2",
            "--requests",
            "40",
            "--duration",
            "20s",
        ],
    )
    .await;
    assert_eq!(report["requests"], 40, "{report:#}");
    assert_eq!(report["failed"], 0, "{report:#}");
}
