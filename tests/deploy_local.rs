//! `deploy/local-cluster.sh`: the compose topology without containers
//! (Redis, the simulator, two workers and two edges following them through
//! Redis, haproxy round robin in front) starts on loopback, serves an MCP
//! tool call through the balancer, and stops every process on SIGINT, as
//! Ctrl-C does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{process::Stdio, time::Duration};

use serde_json::json;
use support::mcp::{self, Era};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};

/// Kills the script's whole process group if the test ends early, so a
/// failed test leaves no cluster behind.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

/// The next line the script prints, within `within`.
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    within: Duration,
    waiting_for: &str,
) -> Option<String> {
    tokio::time::timeout(within, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("local-cluster.sh: no line within {within:?} ({waiting_for})"))
        .expect("the script's output")
}

#[tokio::test]
async fn local_cluster_serves_a_call_through_the_balancer_and_stops_on_sigint() {
    let lb_port = support::redis::free_port();
    // Through `env --default-signal=INT`: a test run started in the
    // background by a non-interactive shell inherits SIGINT ignored, and
    // bash cannot trap a signal ignored on entry, so the script would never
    // see the Ctrl-C this test sends.
    let mut child = tokio::process::Command::new("env")
        .args(["--default-signal=INT", "deploy/local-cluster.sh"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("D365MCP_BIN", env!("CARGO_BIN_EXE_d365mcp"))
        .env("LB_PORT", lb_port.to_string())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("run deploy/local-cluster.sh");
    let group = Group(child.id().expect("the script's pid"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    // Every node it started, then the balanced URL.
    let mut ports = Vec::new();
    let url = loop {
        let line = next_line(&mut lines, Duration::from_secs(60), "the URL")
            .await
            .expect("local-cluster.sh ended before printing its URL");
        if let Some(url) = line.strip_prefix("d365mcp local cluster: ") {
            break url.split_whitespace().next().unwrap().to_owned();
        }
        if let Some(addr) = line.split(" listening on ").nth(1) {
            let addr = addr.split_whitespace().next().unwrap();
            ports.push(addr.rsplit(':').next().unwrap().parse::<u16>().unwrap());
        }
    };
    assert_eq!(url, format!("http://127.0.0.1:{lb_port}/mcp"));
    assert_eq!(
        ports.len(),
        6,
        "redis, sim, two workers and two edges: {ports:?}"
    );

    let client = mcp::connect(&url, Era::Stateless2026).await;
    let result = mcp::call_ok(&client, "d365fo_test_connection", json!({})).await;
    assert!(!mcp::text(&result).is_empty());
    drop(client);

    // Ctrl-C: the script stops everything it started, then exits.
    let status = std::process::Command::new("kill")
        .args(["-INT", &group.0.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = Vec::new();
    while let Some(line) = next_line(&mut lines, Duration::from_secs(30), "its stop").await {
        rest.push(line);
    }
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the script exits after SIGINT")
        .unwrap();
    assert!(!exit.success(), "an interrupted run exits non-zero: {exit}");
    assert!(
        rest.iter().any(|l| l == "local-cluster: stopped"),
        "{rest:?}"
    );
    for port in ports.into_iter().chain([lb_port]) {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still accepts connections after the script stopped"
        );
    }
}
