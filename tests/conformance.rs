//! The official MCP conformance suite against the cluster, through a
//! round-robin load balancer with no stickiness in front of two edges that
//! share Redis: a session's requests land on both edges.
//!
//! - The suite's reference fixture (`support::fixture`), served by our edge
//!   stack, passes every scenario each revision requires.
//! - The D365FO server itself (real edges, workers, the simulator) passes
//!   every scenario that does not need the reference fixture; the rest are
//!   listed with their reason in `tests/conformance/d365fo-*.yaml`, which the
//!   suite enforces both ways (an unlisted failure and a listed pass fail).

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use common::{
    config::{EdgeConfig, RateLimits},
    store::{RedisStore, SharedStore},
};
use support::{
    conformance,
    fixture::Fixture,
    haproxy::{Balanced, Haproxy},
    redis::RedisServer,
};
use tokio_util::sync::CancellationToken;

/// Room for the suite's own start (npx from a warm cache) and every scenario.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// Two fixture edges on one Redis, behind haproxy.
struct FixtureCluster {
    _redis: RedisServer,
    edges: Vec<SocketAddr>,
    lb: Haproxy,
    stop: CancellationToken,
}

impl Drop for FixtureCluster {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn fixture_cluster() -> FixtureCluster {
    let redis = RedisServer::start();
    let stop = CancellationToken::new();
    let mut edges = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = EdgeConfig::local(addr);
        // The default limits, enforced through Redis like a deployed edge's.
        config.rate_limits = RateLimits::defaults();
        let store: SharedStore = Arc::new(RedisStore::open(&redis.url()).unwrap());
        let state = edge::EdgeState::shared(config, edge::WorkerPool::registered(), store);
        let stop = stop.clone();
        tokio::spawn(async move {
            edge::serve_with::<Fixture>(listener, state, async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        edges.push(addr);
    }
    let lb = Haproxy::start(&edges);
    FixtureCluster {
        _redis: redis,
        edges,
        lb,
        stop,
    }
}

async fn requires_all(url: &str, revision: &str, expected: usize) {
    let report = conformance::run(url, &["--requirements", revision], SUITE_TIMEOUT).await;
    assert_eq!(
        report.scored.len(),
        expected,
        "{revision}: the suite should score {expected} scenarios\n{}",
        report.output
    );
    assert_eq!(
        report.passed(),
        expected,
        "{revision}: failing scenarios through the load balancer:\n{}",
        report.explain()
    );
    assert!(
        report.success,
        "{revision}: the suite failed:\n{}",
        report.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_passes_all_2025_11_25_scenarios_through_the_balancer() {
    let cluster = fixture_cluster().await;
    requires_all(&cluster.lb.mcp_url(), "2025-11-25", 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_passes_all_2026_07_28_scenarios_through_the_balancer() {
    let cluster = fixture_cluster().await;
    requires_all(&cluster.lb.mcp_url(), "2026-07-28", 37).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_edge_refuses_dns_rebinding_in_both_eras() {
    let cluster = fixture_cluster().await;
    for edge in &cluster.edges {
        for version in ["2025-11-25", "2026-07-28"] {
            let url = format!("http://{edge}/mcp");
            let report = conformance::run(
                &url,
                &[
                    "--scenario",
                    "dns-rebinding-protection",
                    "--spec-version",
                    version,
                ],
                SUITE_TIMEOUT,
            )
            .await;
            // One scenario prints its checks and a count, not a summary.
            assert!(
                report.success && report.output.contains("Passed: 2/2, 0 failed"),
                "{url} ({version}):\n{}",
                report.output
            );
        }
    }
}

/// The D365FO catalogue through two edges and the balancer: every
/// scenario passes but those the baseline lists, each with its reason.
async fn d365fo_server(revision: &str) {
    let balanced = Balanced::start().await;
    let baseline = format!(
        "{}/tests/conformance/d365fo-{revision}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let report = conformance::run(
        &balanced.lb.mcp_url(),
        &["--requirements", revision, "--expected-failures", &baseline],
        SUITE_TIMEOUT,
    )
    .await;
    assert!(
        report.success,
        "{revision}: the D365FO server differs from its baseline ({baseline}):\n{}\n{}",
        report.explain(),
        report.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_d365fo_server_passes_2025_11_25_but_the_fixture_scenarios() {
    d365fo_server("2025-11-25").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_d365fo_server_passes_2026_07_28_but_the_fixture_scenarios() {
    d365fo_server("2026-07-28").await;
}
