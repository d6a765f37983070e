//! Cluster test: under the load harness against two edges and two workers
//! sharing one Redis, an edge's `/metrics/cluster` equals the sum of every
//! node's own `/metrics`, family by family, for the families the load
//! drives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeMap, time::Duration};

use support::{
    Cluster,
    metrics::{family_of, scrape},
    redis::RedisServer,
};

/// The families compared: those the load moves and that stay still once it
/// has stopped (the store's own and the uptime keep moving on their own).
const COMPARED: [&str; 8] = [
    "mcp_server_operation_duration_seconds",
    "d365mcp_tool_calls_total",
    "d365mcp_tool_call_duration_seconds",
    "d365mcp_upstream_requests_total",
    "d365mcp_worker_call_duration_seconds",
    "d365mcp_sessions_created_total",
    "d365mcp_rate_limit_decisions_total",
    "d365mcp_build_info",
];

/// `name{labels}` → value, for the samples of the compared families.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let family = family_of(series.split('{').next()?);
            COMPARED
                .contains(&family)
                .then(|| Some((series.to_owned(), value.parse::<f64>().ok()?)))?
        })
        .collect()
}

async fn scrape_all(urls: &[String]) -> Result<Vec<BTreeMap<String, f64>>, String> {
    let mut all = Vec::new();
    for url in urls {
        all.push(samples(&scrape(url).await?));
    }
    Ok(all)
}

fn close(a: f64, b: f64) -> bool {
    // Histogram sums are floats added in another order.
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The load harness with the mixed scenario (reads, labels, schemas, a
/// create and a delete) in `era`, against `targets`.
async fn load(targets: &str, era: &str) {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/loadtest/scenarios/mixed.toml");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_d365mcp"))
        .args(["loadtest", "--target", targets, "--scenario"])
        .arg(scenario)
        .args([
            "--era",
            era,
            "--mode",
            "open",
            "--rate",
            "40",
            "--concurrency",
            "4",
            "--duration",
            "2s",
            "--warmup",
            "0s",
            "--timeout",
            "10s",
            "--quiet",
        ])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "loadtest: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_cluster_aggregate_is_the_sum_of_the_nodes_under_load() {
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let mut builder = Cluster::builder().edges(2).workers(2);
    for arg in [
        "--redis-url",
        &redis_url,
        "--metrics-publish-interval",
        "200ms",
    ] {
        builder = builder.worker_arg(arg).edge_arg(arg);
    }
    let cluster = builder.start().await;
    let targets = format!("{},{}", cluster.mcp_url(0), cluster.mcp_url(1));
    load(&targets, "2026-07-28").await;
    load(&targets, "2025-11-25").await;

    let mut nodes: Vec<String> = cluster
        .edges
        .iter()
        .map(|e| format!("{}/metrics", e.url()))
        .collect();
    for worker in &cluster.workers {
        nodes.push(worker.metrics_url().await);
    }
    let aggregate = format!("{}/metrics/cluster", cluster.edges[1].url());
    let (sum, total) = support::wait_until(
        "the cluster aggregate equal to the sum of the nodes",
        Duration::from_secs(20),
        || async {
            let before = scrape_all(&nodes).await?;
            let cluster_text = scrape(&aggregate).await?;
            let after = scrape_all(&nodes).await?;
            if before != after {
                return Err("the nodes' metrics are still moving".into());
            }
            for role in ["edge", "worker"] {
                let line = format!("d365mcp_cluster_nodes{{role=\"{role}\"}} 2");
                if !cluster_text.contains(&line) {
                    return Err(format!("not yet two {role}s in the aggregate"));
                }
            }
            let mut sum: BTreeMap<String, f64> = BTreeMap::new();
            for node in &before {
                for (series, value) in node {
                    *sum.entry(series.clone()).or_default() += value;
                }
            }
            let total = samples(&cluster_text);
            let keys_differ = sum.keys().ne(total.keys());
            let differing: Vec<String> = sum
                .iter()
                .filter(|(k, v)| total.get(*k).is_none_or(|t| !close(**v, *t)))
                .map(|(k, v)| format!("{k}: nodes {v}, cluster {:?}", total.get(k)))
                .take(5)
                .collect();
            if keys_differ || !differing.is_empty() {
                return Err(format!("differ: {differing:?}"));
            }
            Ok((sum, total))
        },
    )
    .await;
    // The load reached both edges and both workers, and every compared
    // family shows in the aggregate.
    for family in COMPARED {
        assert!(
            total.keys().any(|k| k.starts_with(family)),
            "{family} is missing from the aggregate"
        );
    }
    let calls: f64 = sum
        .iter()
        .filter(|(k, _)| k.starts_with("d365mcp_tool_calls_total"))
        .map(|(_, v)| v)
        .sum();
    assert!(calls >= 100.0, "only {calls} tool calls counted");
    let ops = sum
        .iter()
        .filter(|(k, _)| {
            k.starts_with("mcp_server_operation_duration_seconds_count")
                && k.contains("mcp_method_name=\"tools/call\"")
        })
        .count();
    assert!(ops >= 2, "tools/call under at least two protocol versions");

    // Each node's own scrape shows non-zero values in every family this
    // load exercises on it; the workers together (the ring sends one
    // environment's calls to one worker while it keeps up).
    let edge_families = [
        "mcp_server_operation_duration_seconds_count",
        "d365mcp_worker_call_duration_seconds_count",
        "d365mcp_rate_limit_decisions_total",
        "d365mcp_workers",
        "d365mcp_store_operation_duration_seconds_count",
        "d365mcp_store_up",
        "d365mcp_build_info",
        "d365mcp_uptime_seconds",
    ];
    let each_worker = [
        "d365mcp_store_operation_duration_seconds_count",
        "d365mcp_store_up",
        "d365mcp_build_info",
    ];
    let both_workers = [
        "d365mcp_tool_calls_total",
        "d365mcp_tool_call_duration_seconds_count",
        "d365mcp_upstream_requests_total",
        "d365mcp_upstream_request_duration_seconds_count",
        "d365mcp_cache_requests_total",
    ];
    let totals = |text: &str, name: &str| -> f64 {
        text.lines()
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    let mut workers_text = String::new();
    for (url, families) in [
        (&nodes[0], &edge_families[..]),
        (&nodes[1], &edge_families[..]),
        (&nodes[2], &each_worker[..]),
        (&nodes[3], &each_worker[..]),
    ] {
        let text = scrape(url).await.unwrap();
        for family in families {
            assert!(totals(&text, family) > 0.0, "{url}: {family} is zero");
        }
        if url.as_str() == nodes[2] || url.as_str() == nodes[3] {
            workers_text.push_str(&text);
        }
    }
    // The harness's few sessions may all land on one edge: the edges
    // together.
    let mut edges_text = scrape(&nodes[0]).await.unwrap();
    edges_text.push_str(&scrape(&nodes[1]).await.unwrap());
    for family in [
        "d365mcp_sessions_created_total",
        "mcp_server_session_duration_seconds_count",
        "d365mcp_sessions_ended_total",
    ] {
        assert!(totals(&edges_text, family) > 0.0, "edges: {family} is zero");
    }
    for family in both_workers {
        assert!(
            totals(&workers_text, family) > 0.0,
            "workers: {family} is zero"
        );
    }
}
