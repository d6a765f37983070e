use std::time::Duration;

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines as TextLines},
    task::JoinHandle,
};

use super::*;
use crate::tests::support;

/// Longest any answer may take in these tests.
const PATIENCE: Duration = Duration::from_secs(10);

/// A client on in-memory pipes to [`serve_lines`], and the server's task.
struct Client {
    input: Option<DuplexStream>,
    output: TextLines<BufReader<DuplexStream>>,
    server: JoinHandle<Result<(), EdgeError>>,
    stop: tokio_util::sync::CancellationToken,
}

impl Client {
    /// Served with `support::state()` (body limit 64 KiB).
    fn start() -> Self {
        let (input, server_input) = tokio::io::duplex(1 << 20);
        let (server_output, output) = tokio::io::duplex(1 << 20);
        let stop = tokio_util::sync::CancellationToken::new();
        let signal = stop.clone().cancelled_owned();
        let server = tokio::spawn(serve_lines(
            server_input,
            server_output,
            support::state(),
            signal,
        ));
        Self {
            input: Some(input),
            output: BufReader::new(output).lines(),
            server,
            stop,
        }
    }

    async fn send(&mut self, line: &str) {
        let input = self.input.as_mut().expect("input still open");
        input.write_all(line.as_bytes()).await.unwrap();
        input.write_all(b"\n").await.unwrap();
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(PATIENCE, self.output.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    async fn initialize(&mut self) {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}});
        self.send(&init.to_string()).await;
        let answer = self.answer().await;
        assert_eq!(
            answer["result"]["serverInfo"]["name"], "d365mcp",
            "{answer}"
        );
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
    }

    /// Closes stdin and waits for the server to end.
    async fn finish(mut self) -> Result<(), EdgeError> {
        drop(self.input.take());
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("the server ends in time")
            .unwrap()
    }
}

#[tokio::test]
async fn a_session_lists_and_calls_tools_and_ends_at_eof() {
    let mut client = Client::start();
    client.initialize().await;
    client
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let listed = client.answer().await;
    let tools = listed["result"]["tools"].as_array().unwrap();
    assert!(tools.iter().any(|t| t["name"] == "d365fo_query_entities"));
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "d365fo_query_entities", "arguments": {"entity_set": "CustomersV3"}}});
    client.send(&call.to_string()).await;
    let called = client.answer().await;
    assert_eq!(called["id"], 2, "{called}");
    let echo = &called["result"]["structuredContent"];
    assert_eq!(echo["tool"], "d365fo_query_entities", "{called}");
    assert!(client.finish().await.is_ok());
}

#[tokio::test]
async fn a_line_that_is_not_json_is_a_parse_error_and_the_session_goes_on() {
    let mut client = Client::start();
    client.initialize().await;
    client.send("{not json").await;
    let refused = client.answer().await;
    assert_eq!(refused["id"], Value::Null, "{refused}");
    assert_eq!(refused["error"]["code"], -32700, "{refused}");
    assert_eq!(refused["error"]["data"]["code"], "parse_error", "{refused}");
    // Malformed params are named as such, with the request's id, as over HTTP.
    client
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":7}}"#)
        .await;
    let refused = client.answer().await;
    assert_eq!(refused["id"], 5, "{refused}");
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    client
        .send(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#)
        .await;
    assert_eq!(client.answer().await["id"], 6);
    assert!(client.finish().await.is_ok());
}

#[tokio::test]
async fn a_line_over_the_body_limit_is_refused_and_the_session_goes_on() {
    let mut client = Client::start();
    client.initialize().await;
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"{}"}}}}"#,
        "x".repeat(100 * 1024)
    );
    client.send(&huge).await;
    let refused = client.answer().await;
    assert_eq!(refused["id"], Value::Null, "{refused}");
    assert_eq!(refused["error"]["data"]["code"], "payload_too_large");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("65536 bytes"), "{message}");
    client
        .send(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#)
        .await;
    assert_eq!(client.answer().await["id"], 4);
    assert!(client.finish().await.is_ok());
}

#[tokio::test]
async fn the_shutdown_signal_ends_a_conversation_whose_stdin_stays_open() {
    let mut client = Client::start();
    client.initialize().await;
    client.stop.cancel();
    let ended = tokio::time::timeout(PATIENCE, &mut client.server).await;
    assert!(ended.expect("ends in time").unwrap().is_ok());
}

#[tokio::test]
async fn stdin_closed_before_any_request_is_a_normal_end() {
    let client = Client::start();
    assert!(client.finish().await.is_ok());
}

/// Each line read from `bytes` with `limit`, as (what, content).
async fn lines(bytes: &[u8], limit: usize) -> Vec<(Read, String)> {
    let mut input = BufReader::with_capacity(4, bytes);
    let mut line = Vec::new();
    let mut found = Vec::new();
    loop {
        let read = read_line(&mut input, &mut line, limit).await.unwrap();
        if read == Read::End {
            return found;
        }
        found.push((read, String::from_utf8_lossy(&line).into_owned()));
        if read == Read::Last {
            return found;
        }
    }
}

#[tokio::test]
async fn lines_are_bounded_without_counting_their_newline() {
    let read = lines(b"12345\n123456\r\n1234567\nab", 6).await;
    assert_eq!(
        read,
        [
            (Read::Line, "12345\n".to_owned()),
            // The carriage return counts: it is part of what was sent.
            (Read::TooLong, String::new()),
            (Read::TooLong, String::new()),
            (Read::Last, "ab".to_owned()),
        ]
    );
    assert_eq!(
        lines(b"123456\n1234567", 6).await,
        [
            (Read::Line, "123456\n".to_owned()),
            (Read::TooLong, String::new())
        ]
    );
}
