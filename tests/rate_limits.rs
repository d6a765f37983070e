//! Rate limits shared by two edges through Redis: what both admit together
//! stays within one limit, refusals are 429 with Retry-After, and with Redis
//! gone the `open` policy keeps admitting under each edge's own buckets.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use serde_json::json;
use support::{Cluster, mcp, redis::RedisServer};

/// Requests per second and burst of the one limit under test.
const RATE: f64 = 4.0;
const BURST: usize = 8;

/// What a volley of requests got back.
#[derive(Default, Debug)]
struct Tally {
    /// Admitted requests per edge.
    admitted: Vec<usize>,
    refused: usize,
    elapsed: Duration,
}

impl Tally {
    fn admitted(&self) -> usize {
        self.admitted.iter().sum()
    }
}

/// Calls a cheap tool from two tasks per edge for `span`; checks every
/// refusal is a well-formed 429.
async fn volley(urls: &[String], span: Duration) -> Tally {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (edge, url) in urls.iter().enumerate() {
        for _ in 0..2 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let (mut admitted, mut refused) = (0, 0);
                while started.elapsed() < span {
                    let response =
                        mcp::stateless_call(&url, "d365fo_get_server_config", json!({}), json!({}))
                            .send()
                            .await
                            .unwrap();
                    match response.status().as_u16() {
                        200 => {
                            let body = response.text().await.unwrap();
                            assert!(body.contains("\"result\""), "edge {edge}: {body}");
                            admitted += 1;
                        }
                        429 => {
                            let retry: u64 = response.headers()["retry-after"]
                                .to_str()
                                .unwrap()
                                .parse()
                                .unwrap();
                            assert!((1..=2).contains(&retry), "Retry-After {retry}");
                            let body: serde_json::Value = response.json().await.unwrap();
                            assert_eq!(body["error"]["code"], -32029, "{body}");
                            assert_eq!(body["error"]["data"]["retryAfterSeconds"], retry);
                            refused += 1;
                        }
                        other => panic!("edge {edge}: HTTP {other}"),
                    }
                }
                (edge, admitted, refused)
            }));
        }
    }
    let mut tally = Tally {
        admitted: vec![0; urls.len()],
        ..Tally::default()
    };
    for task in tasks {
        let (edge, admitted, refused) = task.await.unwrap();
        tally.admitted[edge] += admitted;
        tally.refused += refused;
    }
    tally.elapsed = started.elapsed();
    tally
}

/// Most admissions GCRA allows in `elapsed`: rate × elapsed + burst.
fn bound(elapsed: Duration) -> usize {
    (RATE * elapsed.as_secs_f64()).floor() as usize + BURST
}

#[tokio::test]
async fn two_edges_share_one_limit_and_fall_back_to_their_own_when_redis_dies() {
    let redis = RedisServer::start();
    let file = std::env::temp_dir().join(format!("d365mcp-limits-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!("[principal]\nrate = {RATE}\nburst = {BURST}\n"),
    )
    .unwrap();
    let cluster = Cluster::builder()
        .edges(2)
        .workers(1)
        .edge_arg("--redis-url")
        .edge_arg(&redis.url())
        .edge_arg("--rate-limits-file")
        .edge_arg(file.to_str().unwrap())
        .start()
        .await;
    let urls = vec![cluster.mcp_url(0), cluster.mcp_url(1)];

    let shared = volley(&urls, Duration::from_secs(3)).await;
    assert!(
        shared.admitted() <= bound(shared.elapsed),
        "both edges together admitted {} in {:?}, more than {RATE}/s + {BURST}: {shared:?}",
        shared.admitted(),
        shared.elapsed
    );
    assert!(shared.admitted() >= BURST, "{shared:?}");
    assert!(shared.refused > 0, "nothing was refused: {shared:?}");
    assert!(
        shared.admitted.iter().all(|&n| n > 0),
        "each edge admitted some: {shared:?}"
    );

    // Redis gone: each edge limits on its own buckets, so the two together
    // may admit up to twice the limit, and each keeps refusing beyond it.
    drop(redis);
    let alone = volley(&urls, Duration::from_secs(2)).await;
    for (edge, &admitted) in alone.admitted.iter().enumerate() {
        assert!(
            admitted >= BURST,
            "edge {edge} stopped admitting: {alone:?}"
        );
        assert!(
            admitted <= bound(alone.elapsed),
            "edge {edge} admitted {admitted} in {:?}: {alone:?}",
            alone.elapsed
        );
    }
    assert!(alone.refused > 0, "local limits refuse too: {alone:?}");
    let _ = std::fs::remove_file(file);
}

#[test]
fn bad_rate_limit_settings_stop_the_edge_naming_them() {
    let file = std::env::temp_dir().join(format!("d365mcp-bad-limits-{}.toml", std::process::id()));
    std::fs::write(&file, "[principal]\nrate = 0\nburst = 1\n").unwrap();
    for (args, names) in [
        (
            vec!["--rate-limits-file", file.to_str().unwrap()],
            "D365MCP_RATE_LIMITS_FILE",
        ),
        (
            vec!["--rate-limits-file", "/nonexistent/limits.toml"],
            "D365MCP_RATE_LIMITS_FILE",
        ),
        (
            vec!["--rate-limit-on-store-error", "maybe"],
            "D365MCP_RATE_LIMIT_ON_STORE_ERROR",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_d365mcp"))
            .args(["edge", "--workers", "http://127.0.0.1:1"])
            .args(&args)
            .env_remove("D365MCP_REDIS_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_file(file);
}
