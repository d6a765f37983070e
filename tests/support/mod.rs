//! Test support: a cluster of real `d365mcp` processes on ephemeral loopback
//! ports, and MCP clients for each protocol era.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod conformance;
pub mod container;
pub mod fixture;
pub mod haproxy;
pub mod keyed;
pub mod mcp;
pub mod metrics;
pub mod raw;
pub mod redis;
pub mod redis_cluster;
pub mod redis_tls;
pub mod sse;
pub mod tenancy;

#[allow(unused_imports)] // not every test binary starts a whole cluster
pub use cluster::Cluster;

/// Runs `program args` to its end within `timeout`, its output captured;
/// `what` names it in a failure, with how to install it. One at a time per
/// test binary: each is a conformance suite or a client run with deadlines
/// of its own, and several at once on a 2-core CI machine measure the
/// machine, not the server.
pub async fn run_bounded(
    what: &str,
    program: &str,
    args: &[&str],
    timeout: std::time::Duration,
) -> std::process::Output {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{what}: cannot run {program} ({e}); ./scripts/test.sh installs it")
        });
    tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {timeout:?}"))
        .expect("the child's output")
}

/// Runs `program args` as [`run_bounded`] does and returns the JSON summary
/// on the last line of its output, failing with the program's own words
/// when it fails (the client scripts of `tests/clients/` end that way).
pub async fn json_summary(
    what: &str,
    program: &str,
    args: &[&str],
    timeout: std::time::Duration,
) -> serde_json::Value {
    let output = run_bounded(what, program, args, timeout).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(summary).unwrap_or_else(|e| panic!("{what}: no summary ({e}): {stdout}"))
}

/// Polls `check` every 50 ms until it gives a value, for at most `within`,
/// and returns that value; otherwise panics with `what` and the last state
/// `check` reported. For a state the cluster reaches on its own (a health
/// check noticing, a key expiring, a reconnection) instead of a sleep
/// that hopes it was long enough.
pub async fn wait_until<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {within:?}; last seen: {last}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
