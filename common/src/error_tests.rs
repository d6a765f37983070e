//! The error mapping's tests: the table of every code, and the table in
//! docs/ERRORS.md.

use super::*;

#[test]
fn names_round_trip_and_are_unique() {
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        assert!(seen.insert(code.as_str()), "duplicate name {code}");
        assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
    }
    assert!("nope".parse::<ErrorCode>().is_err());
}

/// The whole mapping, one row per code: name, HTTP status, gRPC code,
/// JSON-RPC code, tool result (not protocol error), retryable. A new
/// code fails here until it has a row.
#[test]
fn every_code_maps_as_the_table_says() {
    use tonic::Code as G;
    #[rustfmt::skip]
    let table: [(ErrorCode, &str, u16, G, i32, bool, bool); 20] = [
        (ErrorCode::ParseError, "parse_error", 400, G::InvalidArgument, -32700, false, false),
        (ErrorCode::InvalidRequest, "invalid_request", 400, G::InvalidArgument, -32600, false, false),
        (ErrorCode::MethodNotFound, "method_not_found", 404, G::Unimplemented, -32601, false, false),
        (ErrorCode::PayloadTooLarge, "payload_too_large", 413, G::InvalidArgument, -32600, false, false),
        (ErrorCode::InvalidArguments, "invalid_arguments", 400, G::InvalidArgument, -32602, true, false),
        (ErrorCode::UnknownTool, "unknown_tool", 404, G::NotFound, -32602, false, false),
        (ErrorCode::NotFound, "not_found", 404, G::NotFound, -32002, true, false),
        (ErrorCode::Unauthenticated, "unauthenticated", 401, G::Unauthenticated, -32001, false, false),
        (ErrorCode::PermissionDenied, "permission_denied", 403, G::PermissionDenied, -32003, false, false),
        (ErrorCode::RateLimited, "rate_limited", 429, G::ResourceExhausted, -32029, false, true),
        (ErrorCode::Throttled, "throttled", 429, G::ResourceExhausted, -32030, true, true),
        (ErrorCode::UpstreamRejected, "upstream_rejected", 422, G::FailedPrecondition, -32010, true, false),
        (ErrorCode::Conflict, "conflict", 409, G::Aborted, -32016, true, false),
        (ErrorCode::OutcomeUnknown, "outcome_unknown", 502, G::Unknown, -32017, true, false),
        (ErrorCode::UpstreamAuth, "upstream_auth", 502, G::Unavailable, -32011, true, false),
        (ErrorCode::UpstreamUnavailable, "upstream_unavailable", 502, G::Unavailable, -32012, true, true),
        (ErrorCode::Unavailable, "unavailable", 503, G::Unavailable, -32013, false, true),
        (ErrorCode::DeadlineExceeded, "deadline_exceeded", 504, G::DeadlineExceeded, -32014, true, true),
        (ErrorCode::Cancelled, "cancelled", 499, G::Cancelled, -32015, false, false),
        (ErrorCode::Internal, "internal", 500, G::Internal, -32603, false, false),
    ];
    let listed: std::collections::HashSet<ErrorCode> = table.iter().map(|row| row.0).collect();
    assert_eq!(listed.len(), ErrorCode::ALL.len(), "every code has one row");
    for (code, name, http, grpc, jsonrpc, tool_error, retryable) in table {
        assert_eq!(code.as_str(), name);
        assert_eq!(code.http_status(), http, "{code}");
        assert_eq!(code.grpc_code(), grpc, "{code}");
        assert_eq!(code.jsonrpc_code(), jsonrpc, "{code}");
        assert_eq!(code.is_tool_error(), tool_error, "{code}");
        assert_eq!(code.is_retryable(), retryable, "{code}");
        // Standard JSON-RPC codes, or the implementation-defined range.
        let standard = [-32700, -32600, -32601, -32602, -32603].contains(&jsonrpc);
        assert!(standard || (-32099..=-32000).contains(&jsonrpc), "{code}");
        // Every error answered alone is an error status.
        assert!(http >= 400, "{code}");

        let error = Failure::new(code, "m").to_jsonrpc();
        assert_eq!(error["code"], jsonrpc, "{code}");
        assert_eq!(error["message"], "m");
        assert_eq!(error["data"]["code"], name);
        assert_eq!(error["data"]["retryable"], retryable);
        assert!(error["data"].get("hint").is_none());
    }
}

/// docs/ERRORS.md's table says what the code does: one row per code,
/// its HTTP status, JSON-RPC code, gRPC code, how a client sees it and
/// whether it is retryable.
#[test]
fn the_documented_table_is_the_mapping() {
    let doc = include_str!("../../docs/ERRORS.md");
    let mut seen = std::collections::HashSet::new();
    let rows = doc
        .lines()
        .filter(|l| l.starts_with("| `") && !l.starts_with("| `data.code`"));
    for line in rows {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`');
        let Ok(code) = name.parse::<ErrorCode>() else {
            panic!("docs/ERRORS.md names an unknown code: {line}");
        };
        assert!(seen.insert(code), "{name} listed twice");
        assert_eq!(cells[2], code.http_status().to_string(), "{name}");
        assert_eq!(cells[3], code.jsonrpc_code().to_string(), "{name}");
        assert_eq!(cells[4], format!("`{:?}`", code.grpc_code()), "{name}");
        let seen_as = if code.is_tool_error() {
            "result"
        } else {
            "error"
        };
        assert_eq!(cells[5], seen_as, "{name}");
        let retryable = if code.is_retryable() { "yes" } else { "no" };
        assert_eq!(cells[6], retryable, "{name}");
    }
    assert_eq!(seen.len(), ErrorCode::ALL.len(), "every code is documented");
}

#[test]
fn data_carries_the_retry_wait_rounded_up_and_the_hint() {
    let failure = Failure::new(ErrorCode::Unavailable, "busy")
        .with_retry_after(Duration::from_millis(1_200))
        .with_hint("retry shortly");
    let data = failure.jsonrpc_data();
    assert_eq!(data["retryAfterSeconds"], 2);
    assert_eq!(data["hint"], "retry shortly");
    assert_eq!(failure.to_proto().retry_after_secs, 2);
}

#[test]
fn failure_survives_the_wire() {
    let failure =
        Failure::new(ErrorCode::Throttled, "slow down").with_retry_after(Duration::from_secs(7));
    let wire = failure.to_proto();
    assert!(wire.retryable);
    assert_eq!(Failure::from_proto(&wire), failure);

    let unknown = crate::proto::ToolFailure {
        code: "from_the_future".into(),
        message: "m".into(),
        retryable: false,
        retry_after_secs: 0,
    };
    let read = Failure::from_proto(&unknown);
    assert_eq!(read.code, ErrorCode::Internal);
    assert!(read.message.contains("from_the_future"));
}
