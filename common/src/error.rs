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
#[path = "error_tests.rs"]
mod tests;
