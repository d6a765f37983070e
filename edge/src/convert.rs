//! Worker results and failures as MCP sees them.
//!
//! One rule, from `common::ErrorCode::is_tool_error`: an error the model can
//! read and act on (bad arguments, a filter D365FO rejected, a missing record,
//! throttling) becomes a tool result with `isError: true`; anything else (an
//! unknown tool, no worker, a bug) becomes a JSON-RPC error with our code and
//! a `data` object naming it.

use common::{ErrorCode, Failure, proto};
use rmcp::model::{CallToolResult, ErrorCode as JsonRpcCode, ErrorData};
use serde_json::{Value, json};

/// What a finished worker call becomes.
pub fn tool_result(result: proto::ToolResult) -> Result<CallToolResult, ErrorData> {
    match result.outcome {
        Some(proto::tool_result::Outcome::Output(output)) => output_to_result(output),
        Some(proto::tool_result::Outcome::Failure(failure)) => {
            failure_to_mcp(Failure::from_proto(&failure))
        }
        None => Err(error_data(&Failure::new(
            ErrorCode::Internal,
            "the worker sent an empty result",
        ))),
    }
}

fn output_to_result(output: proto::ToolOutput) -> Result<CallToolResult, ErrorData> {
    let bad = |what: &str, e: serde_json::Error| {
        error_data(&Failure::new(
            ErrorCode::Internal,
            format!("the worker sent malformed {what}: {e}"),
        ))
    };
    let content: Value =
        serde_json::from_str(&output.content_json).map_err(|e| bad("content", e))?;
    // `resultType` is required in every 2026-07-28 result; rmcp drops it
    // again for a peer of an older protocol.
    let mut body =
        json!({ "resultType": "complete", "content": content, "isError": output.is_error });
    if !output.structured_content_json.is_empty() {
        let structured: Value = serde_json::from_str(&output.structured_content_json)
            .map_err(|e| bad("structured content", e))?;
        body["structuredContent"] = structured;
    }
    serde_json::from_value(body).map_err(|e| bad("a tool result", e))
}

/// A failure as MCP reports it: a tool error result, or a JSON-RPC error.
pub fn failure_to_mcp(failure: Failure) -> Result<CallToolResult, ErrorData> {
    if !failure.code.is_tool_error() {
        return Err(error_data(&failure));
    }
    let mut text = failure.message.clone();
    // The hint is also in `_meta`; say it in words only if the message doesn't.
    if let Some(after) = failure.retry_after
        && !text.to_ascii_lowercase().contains("retry")
    {
        text.push_str(&format!(" Retry after {} s.", after.as_secs().max(1)));
    }
    let body = json!({
        "resultType": "complete",
        "content": [{ "type": "text", "text": text }],
        "isError": true,
        "_meta": { "d365mcp/error": failure.jsonrpc_data() }
    });
    serde_json::from_value(body).map_err(|e| {
        error_data(&Failure::new(
            ErrorCode::Internal,
            format!("could not build an error result: {e}"),
        ))
    })
}

/// A JSON-RPC error for `failure`.
pub fn error_data(failure: &Failure) -> ErrorData {
    ErrorData::new(
        JsonRpcCode(failure.code.jsonrpc_code()),
        failure.message.clone(),
        Some(failure.jsonrpc_data()),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn output(content: &str, structured: &str, is_error: bool) -> proto::ToolResult {
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: content.into(),
                structured_content_json: structured.into(),
                is_error,
            })),
        }
    }

    #[test]
    fn output_keeps_content_and_structure() {
        let r = tool_result(output(
            r#"[{"type":"text","text":"hi"}]"#,
            r#"{"a":1}"#,
            false,
        ))
        .unwrap();
        assert_eq!(r.structured_content, Some(json!({"a": 1})));
        assert_eq!(r.is_error, Some(false));
        assert_eq!(r.content.len(), 1);
        assert_eq!(r.result_type, Some(rmcp::model::ResultType::COMPLETE));
    }

    #[test]
    fn malformed_output_is_an_internal_error() {
        let e = tool_result(output("not json", "", false)).unwrap_err();
        assert_eq!(e.code.0, ErrorCode::Internal.jsonrpc_code());
    }

    #[test]
    fn tool_errors_become_results_and_others_jsonrpc_errors() {
        let throttled = Failure::new(ErrorCode::Throttled, "D365FO is throttling.")
            .with_retry_after(Duration::from_secs(3));
        let r = failure_to_mcp(throttled).unwrap();
        assert_eq!(r.is_error, Some(true));
        assert_eq!(r.result_type, Some(rmcp::model::ResultType::COMPLETE));
        let text = serde_json::to_value(&r.content).unwrap().to_string();
        assert!(text.contains("Retry after 3 s"), "{text}");

        let e =
            failure_to_mcp(Failure::new(ErrorCode::UnknownTool, "unknown tool `x`")).unwrap_err();
        assert_eq!(e.code.0, ErrorCode::InvalidArguments.jsonrpc_code());
        assert_eq!(e.data.unwrap()["code"], "unknown_tool");
    }
}
