//! MCP logging of tool calls: the worker's lines (pages read, retries,
//! throttle waits) reach a client as `notifications/message` at the level
//! it asked for, in every era, on whichever edge serves the request — and
//! never when it asked for none. And the cluster's own JSON log lines: each
//! line of a call names its trace, tool and caller, client text clipped.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use support::{Cluster, mcp::stateless_call, raw, redis::RedisServer, sse::SseReader};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

const QUERY: &str = "d365fo_query_entities";

fn query() -> Value {
    json!({"entity_set": "CustomersV3", "top": 3})
}

fn log_lines(events: &[raw::Event]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| e.message.clone())
        .filter(|m| m["method"] == "notifications/message")
        .collect()
}

#[tokio::test]
async fn a_stateless_call_logs_only_when_its_meta_asks() {
    let cluster = Cluster::builder().start().await;
    let url = cluster.mcp_url(0);

    let quiet = stateless_call(&url, QUERY, query(), json!({}))
        .send()
        .await
        .unwrap();
    let events = raw::events(&quiet.text().await.unwrap());
    assert!(
        log_lines(&events).is_empty(),
        "no logLevel, no log: {events:?}"
    );
    assert!(raw::answer(&events)["result"]["structuredContent"].is_object());

    let asked = json!({"io.modelcontextprotocol/logLevel": "info"});
    let loud = stateless_call(&url, QUERY, query(), asked)
        .send()
        .await
        .unwrap();
    let events = raw::events(&loud.text().await.unwrap());
    let lines = log_lines(&events);
    assert!(
        !lines.is_empty(),
        "logLevel info: a page-read line expected: {events:?}"
    );
    assert_eq!(lines[0]["params"]["level"], "info");
    assert_eq!(lines[0]["params"]["logger"], "d365mcp.worker");
    let message = lines[0]["params"]["data"]["message"].as_str().unwrap();
    assert!(message.contains("CustomersV3"), "{message}");

    let above = json!({"io.modelcontextprotocol/logLevel": "warning"});
    let filtered = stateless_call(&url, QUERY, query(), above)
        .send()
        .await
        .unwrap();
    let events = raw::events(&filtered.text().await.unwrap());
    assert!(
        log_lines(&events).is_empty(),
        "info lines are below warning: {events:?}"
    );
}

/// A 2025 session's log lines belong to no request, so they ride its
/// standalone `GET` stream: here opened on edge A. A call on edge B before
/// any level sends none; `logging/setLevel` goes to edge B; a call on edge A
/// honours it (from the session's record) and its line arrives; so does the
/// line of a call on edge B, relayed to A.
#[tokio::test]
async fn a_sessions_lines_reach_its_stream_on_another_edge_at_its_level() {
    let redis = RedisServer::start();
    let redis_arg = format!("--redis-url={}", redis.url());
    let cluster = Cluster::builder()
        .edges(2)
        .edge_arg(&redis_arg)
        .start()
        .await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));
    // Opened on A, completed (`notifications/initialized`) on B, as a
    // load balancer may send them: A learns the session's peer from the
    // `initialize` itself.
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": raw::PROTOCOL, "capabilities": {},
        "clientInfo": {"name": "logging-test", "version": "0"}
    }});
    let opened = raw::post(&a, None, None, &init).send().await.unwrap();
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let done = raw::post(&b, Some(&session), None, &initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 202);
    let mut stream = SseReader::get(
        &a,
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", raw::PROTOCOL),
        ],
    )
    .await;

    // Before setLevel: no line (this one would name Currencies).
    let before = json!({"entity_set": "Currencies", "top": 3});
    let call = raw::tool_call(1, QUERY, before, json!({}));
    let (_, events) = raw::request(&b, &session, None, &call).await;
    assert!(raw::answer(&events)["result"].is_object());
    assert!(
        log_lines(&events).is_empty(),
        "never on the call's own stream"
    );

    let set = json!({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel",
                     "params": {"level": "info"}});
    let (status, events) = raw::request(&b, &session, None, &set).await;
    assert_eq!(status, 200);
    assert_eq!(raw::answer(&events)["result"], json!({}));

    // The call on edge A, whose copy of the session learns the level from
    // the session's record only.
    let call = raw::tool_call(3, QUERY, query(), json!({}));
    let (_, events) = raw::request(&a, &session, None, &call).await;
    assert!(raw::answer(&events)["result"].is_object());
    // The first message on the stream is the line of the second call.
    let line = stream.message(Duration::from_secs(5)).await;
    assert_eq!(line["method"], "notifications/message", "{line}");
    assert_eq!(line["params"]["level"], "info");
    assert!(
        line["params"]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("CustomersV3")
    );

    // And from edge B, through the store to A's stream.
    let relayed = json!({"entity_set": "Currencies", "top": 2});
    let call = raw::tool_call(4, QUERY, relayed, json!({}));
    let (_, events) = raw::request(&b, &session, None, &call).await;
    assert!(raw::answer(&events)["result"].is_object());
    let line = stream.message(Duration::from_secs(5)).await;
    assert_eq!(line["method"], "notifications/message", "{line}");
    let message = line["params"]["data"]["message"].as_str().unwrap();
    assert!(message.contains("Currencies"), "{message}");
}

/// `d365mcp dev` (edge, worker and simulator in one process) writing JSON
/// logs at `info`, its stderr read line by line.
struct JsonLogs {
    url: String,
    lines: mpsc::UnboundedReceiver<String>,
    _child: Child,
}

impl JsonLogs {
    async fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_d365mcp"))
            .args(["dev", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("RUST_LOG", "info")
            .env_remove("D365FO_BASE_URL")
            .env_remove("D365MCP_LISTEN")
            .env_remove("D365MCP_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn d365mcp dev");
        let (tx, lines) = mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let _ = tx.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                if let Some((_, addr)) = line.split_once(" listening on ") {
                    return addr.trim().to_owned();
                }
            }
            panic!("d365mcp dev exited before listening");
        })
        .await
        .expect("d365mcp dev listening within 30 s");
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self {
            url: format!("http://{addr}/mcp"),
            lines,
            _child: child,
        }
    }

    /// The first JSON line whose `message` is `message` and whose current
    /// span is in trace `trace_id`, within 10 s.
    async fn line(&mut self, message: &str, trace_id: &str) -> Value {
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                let Ok(json) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if json["message"] == message && json["span"]["trace_id"] == trace_id {
                    return (line, json);
                }
            }
            panic!("d365mcp dev's stderr ended");
        };
        let (line, json) = tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("no `{message}` line of trace {trace_id}"));
        assert!(line.len() < 4096, "a line of {} bytes: {line}", line.len());
        json
    }
}

#[tokio::test]
async fn json_log_lines_of_a_call_name_its_trace_tool_and_caller() {
    let mut logs = JsonLogs::start().await;
    let trace_id = "5af7651916cd43dd8448eb211c80319c";
    let meta = json!({"traceparent": format!("00-{trace_id}-b7ad6b7169203331-01")});
    let response = stateless_call(&logs.url, QUERY, query(), meta)
        .send()
        .await
        .unwrap();
    let events = raw::events(&response.text().await.unwrap());
    assert!(raw::answer(&events)["result"]["structuredContent"].is_object());

    let line = logs.line("tool call succeeded", trace_id).await;
    // The worker's span, current at the line.
    let call = &line["span"];
    assert_eq!(call["tool"], QUERY, "{line}");
    assert!(call["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(call["principal"], "anonymous", "{line}");
    // The edge's span above it, on the same line (in-process here; a
    // worker process logs its own span's fields).
    let edge = line["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["name"] == "mcp"))
        .unwrap_or_else(|| panic!("no edge span on {line}"));
    assert_eq!(edge["trace_id"], trace_id, "{line}");
    assert_eq!(edge["gen_ai.tool.name"], QUERY, "{line}");
    assert_eq!(edge["mcp.method.name"], "tools/call", "{line}");
    assert_eq!(edge["mcp.protocol.version"], "2026-07-28", "{line}");
    assert_eq!(edge["request_id"], call["request_id"], "{line}");
    assert_ne!(edge["span_id"], call["span_id"], "a span id per hop");

    // Client text is clipped on every line: an environment of 5,000 bytes.
    let trace_id = "6af7651916cd43dd8448eb211c80319c";
    let meta = json!({"traceparent": format!("00-{trace_id}-b7ad6b7169203331-01")});
    let long = json!({"entity_set": "CustomersV3", "environment": "e".repeat(5000)});
    let response = stateless_call(&logs.url, QUERY, long, meta)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let line = logs.line("tool call failed", trace_id).await;
    let environment = line["span"]["environment"].as_str().unwrap();
    assert!(environment.contains("…(+"), "{environment}");
}
