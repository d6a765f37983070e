//! Checking a reply: every failure gets a kind (`http_429`, `jsonrpc_-32602`,
//! `tool_invalid_arguments`, `timeout`, `connect`, …) and a short detail.

use serde_json::Value;

use crate::stats::{Failure, Outcome, clip};

/// Checks a JSON-RPC response: an `error` or a result with `isError: true`
/// is a failure.
pub fn check(message: &Value) -> Outcome {
    if let Some(error) = message.get("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let text = error.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(Failure::new(format!("jsonrpc_{code}"), clip(text)));
    }
    let Some(result) = message.get("result") else {
        return Err(Failure::new(
            "protocol",
            "a response with neither result nor error",
        ));
    };
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        let code = result
            .pointer("/_meta/d365mcp~1error/code")
            .and_then(Value::as_str)
            .unwrap_or("error");
        let text = result
            .pointer("/content/0/text")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(Failure::new(format!("tool_{code}"), clip(text)));
    }
    Ok(())
}

/// The JSON-RPC messages of a body: one JSON value (or a batch), or the
/// `data:` of each SSE event.
pub fn messages(body: &str) -> Vec<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        return match value {
            Value::Array(items) => items,
            one => vec![one],
        };
    }
    sse_events(body)
        .into_iter()
        .filter_map(|(_, data)| serde_json::from_str(&data).ok())
        .collect()
}

/// The events of an SSE text: (event name, data); keep-alive comments and
/// events without data are skipped.
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n").filter_map(sse_event).collect()
}

/// One SSE event block: (event name, data), `None` when it has no data.
pub fn sse_event(block: &str) -> Option<(String, String)> {
    let mut name = "message".to_owned();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    (!data.is_empty()).then_some((name, data))
}

/// Just enough of a JSON-RPC message to check it: serde skips the rest
/// without building it, which matters for large results (`tools/list`
/// answers tens of kilobytes, thousands of times a second).
#[derive(serde::Deserialize)]
struct Head {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    result: Option<ResultHead>,
}

#[derive(serde::Deserialize)]
struct ResultHead {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
}

/// Checks the response to request `id` in a reply body (JSON or SSE). Only
/// a failure is parsed in full, for its details.
pub fn answer_in(body: &str, id: u64) -> Outcome {
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') {
        return check_head(trimmed, id).unwrap_or_else(|| answer(&messages(body), id));
    }
    if !trimmed.starts_with('[') {
        for (_, data) in sse_events(body) {
            if let Some(outcome) = check_head(&data, id) {
                return outcome;
            }
        }
    }
    answer(&messages(body), id)
}

/// The checked outcome when `json` is the response to `id`; `None` otherwise.
pub fn check_head(json: &str, id: u64) -> Option<Outcome> {
    let head: Head = serde_json::from_str(json).ok()?;
    if head.id.as_ref().and_then(Value::as_u64) != Some(id) {
        return None;
    }
    let failed = head.error.is_some()
        || head.result.as_ref().and_then(|r| r.is_error) == Some(true)
        || head.result.is_none();
    if !failed {
        return Some(Ok(()));
    }
    Some(serde_json::from_str::<Value>(json).map_or_else(
        |e| Err(Failure::new("protocol", e.to_string())),
        |message| check(&message),
    ))
}

/// The response to request `id` among `messages`, checked.
pub fn answer(messages: &[Value], id: u64) -> Outcome {
    match messages
        .iter()
        .find(|m| m.get("id").and_then(Value::as_u64) == Some(id))
    {
        Some(message) => check(message),
        None => Err(Failure::new(
            "protocol",
            format!("no response to request {id}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_are_named_by_their_kind() {
        assert_eq!(check(&json!({"id": 1, "result": {"content": []}})), Ok(()));
        let err = check(&json!({"id": 1, "error": {"code": -32602, "message": "unknown tool"}}));
        assert_eq!(err.unwrap_err().kind, "jsonrpc_-32602");
        let tool = json!({"id": 1, "result": {"isError": true,
            "content": [{"type": "text", "text": "bad top"}],
            "_meta": {"d365mcp/error": {"code": "invalid_arguments"}}}});
        assert_eq!(
            check(&tool),
            Err(Failure::new("tool_invalid_arguments", "bad top"))
        );
        let plain = json!({"id": 1, "result": {"isError": true, "content": []}});
        assert_eq!(check(&plain).unwrap_err().kind, "tool_error");
        assert_eq!(check(&json!({"id": 1})).unwrap_err().kind, "protocol");
        assert_eq!(Failure::http(429, "slow down").kind, "http_429");
    }

    #[test]
    fn sse_and_json_bodies_give_the_same_messages() {
        let sse = "event: message\nid: 7\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n: keep-alive\n\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\r\n\r\n";
        let found = messages(sse);
        assert_eq!(found.len(), 2);
        assert_eq!(answer(&found, 3), Ok(()));
        assert_eq!(answer(&found, 4).unwrap_err().kind, "protocol");
        assert_eq!(messages("{\"id\":3,\"result\":{}}").len(), 1);
        assert_eq!(
            sse_event("event: endpoint\ndata: /message?sessionId=x"),
            Some(("endpoint".into(), "/message?sessionId=x".into()))
        );
    }

    #[test]
    fn the_quick_check_agrees_with_the_full_one() {
        let bodies = [
            r#"{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"a","inputSchema":{}}]}}"#,
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"unknown tool"}}"#,
            r#"{"jsonrpc":"2.0","id":5,"result":{"isError":true,"content":[{"type":"text","text":"no"}],"_meta":{"d365mcp/error":{"code":"not_found"}}}}"#,
            r#"{"jsonrpc":"2.0","id":5}"#,
            r#"{"jsonrpc":"2.0","id":6,"result":{}}"#,
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32000,\"message\":\"x\"}}\n\n",
            r#"[{"jsonrpc":"2.0","id":5,"result":{}}]"#,
            "not json",
        ];
        for body in bodies {
            assert_eq!(answer_in(body, 5), answer(&messages(body), 5), "{body}");
        }
        assert_eq!(answer_in(bodies[2], 5).unwrap_err().kind, "tool_not_found");
        assert_eq!(answer_in(bodies[4], 5).unwrap_err().kind, "protocol");
    }

    #[test]
    fn long_details_are_clipped() {
        let long = "x".repeat(1000);
        assert!(Failure::http(500, &long).detail.chars().count() <= 201);
    }
}
