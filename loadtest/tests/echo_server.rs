//! The benchmark's baseline, `examples/echo_server.rs`, serves 2026-07-28
//! stateless MCP on `/mcp`: its one tool in `tools/list`, and `echo` sends
//! back its text.
//!
//! The example is `target/<profile>/examples/echo_server` beside this test's
//! own executable (`cargo test` builds examples before running tests).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use serde_json::{Value, json};

struct Echo {
    child: Child,
    url: String,
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Echo {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile.join("examples").join("echo_server");
    assert!(
        binary.is_file(),
        "{} is missing: cargo build -p loadtest --example echo_server",
        binary.display()
    );
    let mut child = Command::new(&binary)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("echo listening on ")
        .unwrap_or_else(|| panic!("not an address line: {line:?}"))
        .trim()
        .to_owned();
    Echo {
        child,
        url: format!("http://{addr}/mcp"),
    }
}

/// A 2026-07-28 request without handshake; the JSON-RPC reply.
async fn request(url: &str, method: &str, name: Option<&str>, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let mut post = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        post = post.header("mcp-name", name);
    }
    let response = post.body(body.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    serde_json::from_str(&text)
        .ok()
        .or_else(|| {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v["id"] == 7)
        })
        .unwrap_or_else(|| panic!("no reply in {text}"))
}

#[tokio::test]
async fn lists_one_tool_and_echoes() {
    let echo = start();
    let listed = request(&echo.url, "tools/list", None, json!({})).await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["echo"]);

    let called = request(
        &echo.url,
        "tools/call",
        Some("echo"),
        json!({"name": "echo", "arguments": {"text": "hello"}}),
    )
    .await;
    assert_eq!(called["result"]["content"][0]["text"], "hello", "{called}");
    assert_eq!(called["result"]["isError"], false, "{called}");

    let unknown = request(
        &echo.url,
        "tools/call",
        Some("nope"),
        json!({"name": "nope", "arguments": {}}),
    )
    .await;
    assert!(unknown["error"]["message"].is_string(), "{unknown}");
}
