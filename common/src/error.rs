//! One error vocabulary for the whole cluster.
//!
//! Every crate has its own `thiserror` enum; each of its variants maps to one
//! [`ErrorCode`], and the code alone decides the HTTP status, the gRPC status,
//! the JSON-RPC code and whether an MCP client sees a protocol error or a tool
//! result with `isError: true`.
//!
//! This file is the one mapping: [`ErrorCode`]'s methods give the status and
//! codes, [`Failure::to_jsonrpc`] the `error` member every JSON-RPC error of
//! the cluster carries (code, message and `data`: `code`, `retryable`,
//! `retryAfterSeconds`, `hint`), whether rmcp sends it or the edge answers
//! before rmcp runs. The table test at the end pins every code.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

/// What went wrong, independent of the transport that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON at all (JSON-RPC's parse error).
    ParseError,
    /// The request itself is malformed (bad JSON-RPC, bad headers).
    InvalidRequest,
    /// No such JSON-RPC method (or not in the protocol version spoken).
    MethodNotFound,
    /// The request body is larger than the configured limit.
    PayloadTooLarge,
    /// The tool exists but its arguments do not match its input schema.
    InvalidArguments,
    /// No tool of that name.
    UnknownTool,
    /// The record or entity asked for does not exist.
    NotFound,
    /// The caller did not authenticate.
    Unauthenticated,
    /// The caller authenticated but may not do this.
    PermissionDenied,
    /// The caller exceeded a rate limit of this cluster.
    RateLimited,
    /// D365FO throttled the request (HTTP 429 from the environment).
    Throttled,
    /// D365FO understood the request and refused it (bad filter, validation,
    /// stale ETag, missing key).
    UpstreamRejected,
    /// The request conflicts with the record's current state: a stale ETag,
    /// a duplicate key, or a write whose request id was already executed.
    Conflict,
    /// A write was sent and its answer was lost (timeout, dropped
    /// connection, gateway error): it may or may not have been applied, so it
    /// must not be repeated blindly.
    OutcomeUnknown,
    /// D365FO refused our credentials: a configuration problem of the cluster.
    UpstreamAuth,
    /// D365FO failed or could not be reached (5xx, HTML gateway page, reset).
    UpstreamUnavailable,
    /// No worker could take the call.
    Unavailable,
    /// The call's deadline passed.
    DeadlineExceeded,
    /// The caller cancelled the call.
    Cancelled,
    /// A bug or an unexpected state of this cluster.
    Internal,
}

impl ErrorCode {
    /// Every code, for tables and exhaustive tests.
    pub const ALL: [ErrorCode; 20] = [
        Self::ParseError,
        Self::InvalidRequest,
        Self::MethodNotFound,
        Self::PayloadTooLarge,
        Self::InvalidArguments,
        Self::UnknownTool,
        Self::NotFound,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::RateLimited,
        Self::Throttled,
        Self::UpstreamRejected,
        Self::Conflict,
        Self::OutcomeUnknown,
        Self::UpstreamAuth,
        Self::UpstreamUnavailable,
        Self::Unavailable,
        Self::DeadlineExceeded,
        Self::Cancelled,
        Self::Internal,
    ];

    /// The stable snake_case name used on the wire and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ParseError => "parse_error",
            Self::InvalidRequest => "invalid_request",
            Self::MethodNotFound => "method_not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidArguments => "invalid_arguments",
            Self::UnknownTool => "unknown_tool",
            Self::NotFound => "not_found",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission_denied",
            Self::RateLimited => "rate_limited",
            Self::Throttled => "throttled",
            Self::UpstreamRejected => "upstream_rejected",
            Self::Conflict => "conflict",
            Self::OutcomeUnknown => "outcome_unknown",
            Self::UpstreamAuth => "upstream_auth",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::Unavailable => "unavailable",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
        }
    }

    /// HTTP status of a response that answers with this error alone: the
    /// edge's refusals before rmcp runs (body guard, Host/Origin check,
    /// authentication, rate limits, session gate, legacy relay), health
    /// endpoints, the simulator's admin API. An error inside a JSON-RPC
    /// exchange rmcp answers travels with 200.
    pub fn http_status(self) -> u16 {
        match self {
            Self::ParseError | Self::InvalidRequest | Self::InvalidArguments => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::MethodNotFound | Self::UnknownTool | Self::NotFound => 404,
            Self::PayloadTooLarge => 413,
            Self::UpstreamRejected => 422,
            Self::Conflict => 409,
            Self::RateLimited | Self::Throttled => 429,
            Self::Cancelled => 499,
            Self::Internal => 500,
            Self::UpstreamAuth | Self::UpstreamUnavailable | Self::OutcomeUnknown => 502,
            Self::Unavailable => 503,
            Self::DeadlineExceeded => 504,
        }
    }

    /// gRPC status code.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            Self::ParseError
            | Self::InvalidRequest
            | Self::InvalidArguments
            | Self::PayloadTooLarge => Code::InvalidArgument,
            Self::MethodNotFound => Code::Unimplemented,
            Self::UnknownTool | Self::NotFound => Code::NotFound,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::RateLimited | Self::Throttled => Code::ResourceExhausted,
            Self::UpstreamRejected => Code::FailedPrecondition,
            Self::Conflict => Code::Aborted,
            // Not Unavailable: a client library would retry that by itself.
            Self::OutcomeUnknown => Code::Unknown,
            Self::UpstreamAuth | Self::UpstreamUnavailable | Self::Unavailable => Code::Unavailable,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Cancelled => Code::Cancelled,
            Self::Internal => Code::Internal,
        }
    }

    /// JSON-RPC error code. The standard codes where JSON-RPC and MCP define
    /// one; the rest sit in the implementation-defined server range
    /// (-32000 to -32099), so a client can tell them apart.
    pub fn jsonrpc_code(self) -> i32 {
        match self {
            Self::ParseError => -32700,
            Self::InvalidRequest | Self::PayloadTooLarge => -32600,
            Self::MethodNotFound => -32601,
            Self::InvalidArguments | Self::UnknownTool => -32602,
            Self::NotFound => -32002,
            Self::Internal => -32603,
            Self::Unauthenticated => -32001,
            Self::PermissionDenied => -32003,
            Self::RateLimited => -32029,
            Self::Throttled => -32030,
            Self::UpstreamRejected => -32010,
            Self::UpstreamAuth => -32011,
            Self::UpstreamUnavailable => -32012,
            Self::Unavailable => -32013,
            Self::DeadlineExceeded => -32014,
            Self::Cancelled => -32015,
            Self::Conflict => -32016,
            Self::OutcomeUnknown => -32017,
        }
    }

    /// Whether an MCP client should see this as a tool result with
    /// `isError: true` (something the model can read and correct) rather than
    /// a JSON-RPC error. Follows the MCP rule: execution and input errors are
    /// tool results; an unknown tool or a broken request is a protocol error.
    pub fn is_tool_error(self) -> bool {
        matches!(
            self,
            Self::InvalidArguments
                | Self::NotFound
                | Self::Throttled
                | Self::UpstreamRejected
                | Self::Conflict
                | Self::OutcomeUnknown
                | Self::UpstreamAuth
                | Self::UpstreamUnavailable
                | Self::DeadlineExceeded
        )
    }

    /// Whether the same call may succeed when retried later, unchanged.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Throttled
                | Self::UpstreamUnavailable
                | Self::Unavailable
                | Self::DeadlineExceeded
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`ErrorCode`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code `{0}`")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

/// An error as it crosses a process boundary: a code, a message a person can
/// act on, and a retry hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What kind of error.
    pub code: ErrorCode,
    /// What happened and what to do about it.
    pub message: String,
    /// When known, how long to wait before retrying.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "secs_opt")]
    pub retry_after: Option<Duration>,
    /// What to change so that the request succeeds (a header, a setting),
    /// where the message alone does not say; `data.hint` on the wire. Set
    /// by the edge's own refusals; not carried over gRPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Failure {
    /// A failure with no retry hint.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
            hint: None,
        }
    }

    /// Adds a retry hint.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Adds what to change so that the request succeeds.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The `data` member of this failure's JSON-RPC error: `code` (the
    /// snake_case name), `retryable`, and `retryAfterSeconds` and `hint`
    /// when known. Also the `_meta` detail of a tool error result.
    pub fn jsonrpc_data(&self) -> serde_json::Value {
        let mut data = serde_json::json!({
            "code": self.code.as_str(),
            "retryable": self.code.is_retryable(),
        });
        if let Some(after) = self.retry_after {
            data["retryAfterSeconds"] = serde_json::json!(whole_seconds(after));
        }
        if let Some(hint) = &self.hint {
            data["hint"] = serde_json::json!(hint);
        }
        data
    }

    /// The `error` member of a JSON-RPC response reporting this failure.
    pub fn to_jsonrpc(&self) -> serde_json::Value {
        serde_json::json!({
            "code": self.code.jsonrpc_code(),
            "message": self.message,
            "data": self.jsonrpc_data(),
        })
    }

    /// Converts to the wire form of the gRPC contract.
    pub fn to_proto(&self) -> crate::proto::ToolFailure {
        crate::proto::ToolFailure {
            code: self.code.as_str().to_owned(),
            message: self.message.clone(),
            retryable: self.code.is_retryable(),
            retry_after_secs: self
                .retry_after
                .map(|d| u32::try_from(whole_seconds(d)).unwrap_or(u32::MAX))
                .unwrap_or(0),
        }
    }

    /// Reads the wire form; an unknown code (a newer worker) becomes
    /// [`ErrorCode::Internal`] with the original name kept in the message.
    pub fn from_proto(failure: &crate::proto::ToolFailure) -> Self {
        let (code, message) = match failure.code.parse::<ErrorCode>() {
            Ok(code) => (code, failure.message.clone()),
            Err(_) => (
                ErrorCode::Internal,
                format!("{} (worker error code `{}`)", failure.message, failure.code),
            ),
        };
        Self {
            code,
            message,
            retry_after: (failure.retry_after_secs > 0)
                .then(|| Duration::from_secs(u64::from(failure.retry_after_secs))),
            hint: None,
        }
    }
}

/// `wait` in whole seconds, rounded up: a client told to wait 0.9 s must
/// not retry at 0 s.
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

mod secs_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
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
        let failure = Failure::new(ErrorCode::Throttled, "slow down")
            .with_retry_after(Duration::from_secs(7));
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
}
