//! One error vocabulary for the whole cluster.
//!
//! Every crate has its own `thiserror` enum; each of its variants maps to one
//! [`ErrorCode`], and the code alone decides the HTTP status, the gRPC status,
//! the JSON-RPC code and whether an MCP client sees a protocol error or a tool
//! result with `isError: true`.

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

/// What went wrong, independent of the transport that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request itself is malformed (bad JSON-RPC, bad headers).
    InvalidRequest,
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
    pub const ALL: [ErrorCode; 18] = [
        Self::InvalidRequest,
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
            Self::InvalidRequest => "invalid_request",
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

    /// HTTP status for a response that reports this error outside JSON-RPC
    /// (health endpoints, rejections before dispatch, the simulator's admin API).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidArguments => 400,
            Self::Unauthenticated => 401,
            Self::PermissionDenied => 403,
            Self::UnknownTool | Self::NotFound => 404,
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
            Self::InvalidRequest | Self::InvalidArguments | Self::PayloadTooLarge => {
                Code::InvalidArgument
            }
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
            Self::InvalidRequest | Self::PayloadTooLarge => -32600,
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
}

impl Failure {
    /// A failure with no retry hint.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a retry hint.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Converts to the wire form of the gRPC contract.
    pub fn to_proto(&self) -> crate::proto::ToolFailure {
        crate::proto::ToolFailure {
            code: self.code.as_str().to_owned(),
            message: self.message.clone(),
            retryable: self.code.is_retryable(),
            // Rounded up: a client told to wait 0.9 s must not retry at 0 s.
            retry_after_secs: self
                .retry_after
                .map(|d| {
                    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
                    u32::try_from(secs).unwrap_or(u32::MAX)
                })
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
        }
    }
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

    #[test]
    fn jsonrpc_codes_are_standard_or_in_the_server_range() {
        for code in ErrorCode::ALL {
            let n = code.jsonrpc_code();
            let standard = [-32600, -32601, -32602, -32603, -32700].contains(&n);
            assert!(standard || (-32099..=-32000).contains(&n), "{code} -> {n}");
        }
    }

    #[test]
    fn only_client_fixable_or_upstream_errors_are_tool_results() {
        assert!(ErrorCode::InvalidArguments.is_tool_error());
        assert!(ErrorCode::UpstreamRejected.is_tool_error());
        assert!(!ErrorCode::UnknownTool.is_tool_error());
        assert!(!ErrorCode::Internal.is_tool_error());
        assert_eq!(ErrorCode::Throttled.http_status(), 429);
        assert_eq!(ErrorCode::Unavailable.grpc_code(), tonic::Code::Unavailable);
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
