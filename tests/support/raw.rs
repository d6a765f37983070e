//! A raw 2025-11-25 Streamable HTTP session client: every request goes to
//! the edge a test names, with the session id and API key it chooses, so
//! tests can move a session between edges and read SSE event ids.

use serde_json::{Value, json};

pub const PROTOCOL: &str = "2025-11-25";

/// One SSE event: its id (if any) and its JSON-RPC message (if any).
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub message: Option<Value>,
}

/// Parses an SSE body (or a plain JSON body) into events.
pub fn events(body: &str) -> Vec<Event> {
    if let Ok(message) = serde_json::from_str::<Value>(body) {
        return vec![Event {
            id: None,
            message: Some(message),
        }];
    }
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let mut id = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            }
        }
        if id.is_some() || !data.is_empty() {
            out.push(Event {
                id,
                message: serde_json::from_str(&data).ok(),
            });
        }
    }
    out
}

/// The request builder for a POST of `body` to `url` in `session` as `key`.
pub fn post(
    url: &str,
    session: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL)
        .body(body.to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    request
}

/// Opens a session on `url` as `key`: initialize, then initialized. Returns its id.
pub async fn open(url: &str, key: Option<&str>) -> String {
    open_with(url, key, json!({})).await
}

/// [`open`] for a client declaring `capabilities`.
pub async fn open_with(url: &str, key: Option<&str>, capabilities: Value) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL, "capabilities": capabilities,
        "clientInfo": {"name": "raw-test", "version": "0"}
    }});
    let response = post(url, None, key, &init).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(url, Some(&id), key, &initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    id
}

/// A `tools/call` request body.
pub fn tool_call(id: u64, tool: &str, arguments: Value, meta: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments, "_meta": meta}})
}

/// Sends `body` in `session` on `url` and returns the status and the events.
pub async fn request(
    url: &str,
    session: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Vec<Event>) {
    let response = post(url, Some(session), key, body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, events(&response.text().await.unwrap()))
}

/// The final JSON-RPC answer among `events`.
pub fn answer(events: &[Event]) -> Value {
    events
        .iter()
        .filter_map(|e| e.message.clone())
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
        .unwrap_or_else(|| panic!("no answer in {events:?}"))
}
