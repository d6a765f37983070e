//! `d365mcp stdio`: MCP on stdin and stdout for a client that starts the
//! server itself. The official Python SDK 2.x drives it as Claude Desktop
//! and VS Code do (`tests/clients/python_stdio.py`, both protocol eras);
//! the Rust tests here read the raw streams: stdout holds JSON-RPC lines
//! and nothing else, logs go to stderr, a bad line gets its JSON-RPC error,
//! and the process exits 0 when stdin closes or on SIGTERM.
//!
//! `scripts/test.sh` installs the Python SDK into `target/py-clients`.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

/// Longest one answer, or the process's exit, may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// A line limit small enough to exceed cheaply.
const LIMIT: usize = 4096;

/// `d365mcp stdio --sim` with piped streams, and its logs at `debug` so
/// that anything logging to stdout by mistake would show.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Every stdout line read so far.
    seen: Vec<String>,
}

impl Server {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_d365mcp"))
            .args(["stdio", "--sim", "--max-body-bytes", &LIMIT.to_string()])
            .env("D365MCP_LOG_LEVEL", "debug")
            .env_remove("RUST_LOG")
            .env_remove("D365FO_BASE_URL")
            .env_remove("D365MCP_ENVIRONMENTS_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run d365mcp stdio");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// The next message on stdout, which must be a JSON-RPC 2.0 line.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("stdout still open");
        self.seen.push(line.clone());
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout holds a line that is not JSON ({e}): {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }

    async fn initialize(&mut self) {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "stdio-test", "version": "0"}}});
        self.send(&init.to_string()).await;
        let answer = self.next().await;
        assert_eq!(
            answer["result"]["serverInfo"]["name"], "d365mcp",
            "{answer}"
        );
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
    }

    /// Waits for the exit; returns its code, what else stdout held (every
    /// line checked as JSON-RPC) and stderr.
    async fn exit(mut self) -> (Option<i32>, String) {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the process exits in time")
            .unwrap();
        while let Some(line) = self.stdout.next_line().await.unwrap() {
            self.seen.push(line.clone());
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout holds a line that is not JSON ({e}): {line}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
        }
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().unwrap();
        pipe.read_to_string(&mut stderr).await.unwrap();
        (status.code(), stderr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_is_only_json_rpc_bad_lines_get_errors_and_eof_exits_0() {
    let mut server = Server::start();
    server.initialize().await;
    // Not JSON: a parse error with id null, and the conversation goes on.
    server.send("this is not json").await;
    let refused = server.next().await;
    assert_eq!(refused["id"], Value::Null, "{refused}");
    assert_eq!(refused["error"]["code"], -32700, "{refused}");
    // Longer than the limit: refused unread, with the limit named.
    let long = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "x".repeat(LIMIT)}});
    server.send(&long.to_string()).await;
    let refused = server.next().await;
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert_eq!(refused["error"]["data"]["code"], "payload_too_large");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{LIMIT} bytes")), "{message}");
    server
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let listed = server.next().await;
    let tools = listed["result"]["tools"].as_array().expect("tools");
    assert!(tools.iter().any(|t| t["name"] == "d365fo_query_entities"));
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "d365fo_query_entities",
        "arguments": {"entity_set": "CustomersV3", "top": 2}}});
    server.send(&call.to_string()).await;
    let called = server.next().await;
    assert_eq!(called["id"], 2, "{called}");
    assert_eq!(called["result"]["structuredContent"]["returned"], 2);
    drop(server.stdin.take());
    let (code, stderr) = server.exit().await;
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains("serving MCP on stdin and stdout"),
        "{stderr}"
    );
    assert!(
        stderr.contains("DEBUG"),
        "logs at debug reach stderr: {stderr}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_process_with_exit_code_0() {
    let mut server = Server::start();
    server.initialize().await;
    let pid = server.child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // stdin stays open: the signal alone ends it.
    let (code, stderr) = server.exit().await;
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
}

#[tokio::test]
async fn without_a_d365fo_or_sim_it_is_refused_naming_the_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_d365mcp"))
        .arg("stdio")
        .env_remove("D365FO_BASE_URL")
        .env_remove("D365MCP_ENVIRONMENTS_FILE")
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(PATIENCE, output)
        .await
        .expect("refused in time")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("D365FO_BASE_URL"), "{stderr}");
    assert!(stderr.contains("--sim"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout");
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_starts_it_lists_calls_and_closes() {
    let python = repo("target/py-clients/bin/python");
    let script = repo("tests/clients/python_stdio.py");
    for (mode, protocol) in [("auto", "2026-07-28"), ("legacy", "2025-")] {
        let what = format!("python mcp 2.3.0 over stdio, mode {mode}");
        let args = [
            script.to_str().unwrap(),
            env!("CARGO_BIN_EXE_d365mcp"),
            mode,
        ];
        let summary = support::json_summary(
            &what,
            python.to_str().unwrap(),
            &args,
            Duration::from_secs(90),
        )
        .await;
        assert_eq!(summary["ok"], true, "{what}: {summary}");
        assert_eq!(summary["rows"], 3, "{what}: {summary}");
        let negotiated = summary["protocol"].as_str().unwrap_or_default();
        assert!(negotiated.starts_with(protocol), "{what}: {summary}");
    }
}

#[test]
fn help_names_the_subcommand_and_its_settings() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_d365mcp"))
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let top = run(&["--help"]);
    assert!(top.contains("stdio"), "{top}");
    let help = run(&["stdio", "--help"]);
    for name in ["--sim", "D365FO_BASE_URL", "D365MCP_MAX_BODY_BYTES"] {
        assert!(help.contains(name), "stdio --help lacks {name}: {help}");
    }
}
