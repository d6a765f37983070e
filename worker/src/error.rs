//! [`WorkerError`], the one error type of the crate, and its mapping onto the
//! cluster's [`ErrorCode`] vocabulary.
//!
//! Every failure of a tool call leaves the worker as a `ToolFailure` built by
//! [`WorkerError::to_failure`]; the edge alone decides, from the code, whether
//! an MCP client sees an `isError` tool result or a JSON-RPC error. Keeping
//! that choice in one place is why the worker never builds `is_error` outputs.

use std::time::Duration;

use common::{ErrorCode, Failure};

/// The retry hint of a call refused because the shared store did not
/// answer.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Anything that can go wrong in the worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The arguments do not match the tool's input schema, or name an
    /// environment this worker does not serve.
    #[error("invalid arguments for {tool}: {reason}")]
    InvalidArguments {
        /// The tool called.
        tool: String,
        /// What is wrong and what is expected.
        reason: String,
    },

    /// No tool of that name.
    #[error("unknown tool `{name}`; available: {available}")]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// The names this worker runs, comma-separated.
        available: String,
    },

    /// D365FO understood the request and refused it (400, 409, 412, 422, ...).
    #[error(
        "D365FO rejected the request (HTTP {status}): {message}. Check the entity set, field \
         names, filter syntax and key values, then try again."
    )]
    Rejected {
        /// HTTP status.
        status: u16,
        /// D365FO's own message.
        message: String,
    },

    /// D365FO answered 404: no such record or entity set.
    #[error(
        "not found in D365FO (HTTP 404): {message}. Check the entity set name (the public \
         collection name, e.g. CustomersV3) and the key values, including dataAreaId."
    )]
    NotFound {
        /// D365FO's own message.
        message: String,
    },

    /// A metadata object (entity, enumeration, label) does not exist; the
    /// message says what to do instead.
    #[error("{0}")]
    Missing(String),

    /// D365FO refused this server's token (401/403).
    #[error(
        "D365FO refused this server's credentials (HTTP {status}): {message}. The operator \
         must check the app registration, its D365FO user mapping and the environment URL."
    )]
    UpstreamAuth {
        /// HTTP status.
        status: u16,
        /// D365FO's own message.
        message: String,
    },

    /// No token could be obtained from Entra ID.
    #[error(
        "could not obtain an Entra ID token for D365FO: {0}. The operator must check the \
         tenant id, client id, client secret and authority host."
    )]
    Token(String),

    /// The signed-in user's own identity could not be used toward D365FO:
    /// Entra ID refused the on-behalf-of exchange of the user's token, or
    /// D365FO refused the user. The message says whether to sign in again.
    #[error("{0}")]
    UserAuth(String),

    /// D365FO throttled us and the retries allowed within the deadline ran out.
    #[error("D365FO is throttling requests (HTTP 429){}; wait and retry the call", retry_hint(.retry_after))]
    Throttled {
        /// D365FO's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },

    /// D365FO failed (5xx, a gateway's HTML page) or could not be reached.
    #[error("D365FO is unavailable: {0}; retry later, or run d365fo_test_connection")]
    Unavailable(String),

    /// This worker's circuit breaker refused the call before anything was
    /// sent: the environment kept failing (see `d365::breaker`). Nothing was
    /// sent, so a write was not applied.
    #[error("{message}")]
    CircuitOpen {
        /// What is failing, since when, and when to retry.
        message: String,
        /// How long the breaker stays open.
        retry_after: Duration,
    },

    /// A write collides with the record's state or with an earlier call: a
    /// stale ETag (412), a duplicate key, a request id already executed.
    /// Sending it again unchanged would fail the same way.
    #[error("conflict: {0}")]
    Conflict(String),

    /// A write was sent but no usable answer came back (timeout, dropped
    /// connection, a 5xx): D365FO may or may not have applied it. Kept apart
    /// from [`WorkerError::Unavailable`] because it must not be retried
    /// blindly.
    #[error(
        "the outcome of this write is unknown: {0}. D365FO may or may not have applied it; read \
         the record (d365fo_get_entity_record or d365fo_query_entities) before trying again, so \
         the change is not made twice"
    )]
    OutcomeUnknown(String),

    /// The tenant policy does not let the caller make this call; the
    /// message says what it may do.
    #[error("{0}")]
    PermissionDenied(String),

    /// The cluster's shared store failed (idempotency records, cache).
    #[error("{0}")]
    Store(#[from] common::store::StoreError),

    /// D365FO answered 2xx with a body that is not the JSON we expect.
    #[error("D365FO sent an unexpected response: {0}")]
    BadResponse(String),

    /// The call's deadline, or the per-request timeout, passed.
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),

    /// The worker could not be set up (HTTP client, credentials).
    #[error("worker setup failed: {0}")]
    Setup(String),

    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),

    /// A bug or an unexpected state of this worker.
    #[error("internal error: {0}")]
    Internal(String),
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" and asks to wait {}s", d.as_secs().max(1)),
        None => String::new(),
    }
}

impl WorkerError {
    /// An [`WorkerError::InvalidArguments`] for `tool`.
    pub fn invalid_args(tool: &str, reason: impl Into<String>) -> Self {
        Self::InvalidArguments {
            tool: tool.to_owned(),
            reason: reason.into(),
        }
    }

    /// A copy, for the many callers that waited on one shared fill (the
    /// metadata cache). Only a gRPC server error, which no tool returns,
    /// loses its type.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::InvalidArguments { tool, reason } => Self::InvalidArguments {
                tool: tool.clone(),
                reason: reason.clone(),
            },
            Self::UnknownTool { name, available } => Self::UnknownTool {
                name: name.clone(),
                available: available.clone(),
            },
            Self::Rejected { status, message } => Self::Rejected {
                status: *status,
                message: message.clone(),
            },
            Self::NotFound { message } => Self::NotFound {
                message: message.clone(),
            },
            Self::UpstreamAuth { status, message } => Self::UpstreamAuth {
                status: *status,
                message: message.clone(),
            },
            Self::Missing(m) => Self::Missing(m.clone()),
            Self::PermissionDenied(m) => Self::PermissionDenied(m.clone()),
            Self::Conflict(m) => Self::Conflict(m.clone()),
            Self::OutcomeUnknown(m) => Self::OutcomeUnknown(m.clone()),
            Self::Store(e) => Self::Store(e.clone()),
            Self::Token(m) => Self::Token(m.clone()),
            Self::UserAuth(m) => Self::UserAuth(m.clone()),
            Self::Throttled { retry_after } => Self::Throttled {
                retry_after: *retry_after,
            },
            Self::Unavailable(m) => Self::Unavailable(m.clone()),
            Self::CircuitOpen {
                message,
                retry_after,
            } => Self::CircuitOpen {
                message: message.clone(),
                retry_after: *retry_after,
            },
            Self::BadResponse(m) => Self::BadResponse(m.clone()),
            Self::DeadlineExceeded(m) => Self::DeadlineExceeded(m.clone()),
            Self::Setup(m) => Self::Setup(m.clone()),
            Self::Serve(e) => Self::Internal(format!("gRPC server failed: {e}")),
            Self::Internal(m) => Self::Internal(m.clone()),
        }
    }

    /// The cluster-wide code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArguments { .. } => ErrorCode::InvalidArguments,
            Self::UnknownTool { .. } => ErrorCode::UnknownTool,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Rejected { .. } => ErrorCode::UpstreamRejected,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::OutcomeUnknown(_) => ErrorCode::OutcomeUnknown,
            Self::Store(e) => e.code(),
            Self::NotFound { .. } | Self::Missing(_) => ErrorCode::NotFound,
            Self::UpstreamAuth { .. } | Self::Token(_) | Self::UserAuth(_) => {
                ErrorCode::UpstreamAuth
            }
            Self::Throttled { .. } => ErrorCode::Throttled,
            Self::Unavailable(_) | Self::BadResponse(_) => ErrorCode::UpstreamUnavailable,
            // Not upstream_unavailable: nothing reached D365FO, which is what
            // lets a keyed write's retry run afresh (`crate::replay`).
            Self::CircuitOpen { .. } => ErrorCode::Unavailable,
            Self::DeadlineExceeded(_) => ErrorCode::DeadlineExceeded,
            Self::Setup(_) | Self::Serve(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// How long to wait before retrying, when D365FO (or the breaker) said
    /// so, or the shared store could not be reached.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled { retry_after } => *retry_after,
            Self::CircuitOpen { retry_after, .. } => Some(*retry_after),
            // Nothing was sent; the store usually answers again within a
            // second (a failover, a restart).
            Self::Store(common::store::StoreError::Unavailable(_)) => Some(STORE_RETRY),
            _ => None,
        }
    }

    /// The error as it crosses the process boundary.
    pub fn to_failure(&self) -> Failure {
        let failure = Failure::new(self.code(), self.to_string());
        match self.retry_after() {
            Some(d) => failure.with_retry_after(d),
            None => failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_retry_hints() {
        let e = WorkerError::Throttled {
            retry_after: Some(Duration::from_secs(3)),
        };
        let f = e.to_failure();
        assert_eq!(f.code, ErrorCode::Throttled);
        assert_eq!(f.retry_after, Some(Duration::from_secs(3)));
        assert!(f.message.contains("wait 3s"), "{}", f.message);

        let e = WorkerError::invalid_args("d365fo_query_entities", "`top` must be an integer");
        assert_eq!(e.code(), ErrorCode::InvalidArguments);
        assert_eq!(
            e.to_string(),
            "invalid arguments for d365fo_query_entities: `top` must be an integer"
        );
        assert_eq!(
            WorkerError::Token("x".into()).code(),
            ErrorCode::UpstreamAuth
        );
        assert_eq!(
            WorkerError::BadResponse("x".into()).code(),
            ErrorCode::UpstreamUnavailable
        );
        // A conflict or a write of unknown outcome must never look retryable.
        for e in [
            WorkerError::Conflict("stale".into()),
            WorkerError::OutcomeUnknown("timed out".into()),
        ] {
            let f = e.to_failure();
            assert!(f.code.is_tool_error() && !f.code.is_retryable(), "{e}");
        }
        let e = WorkerError::OutcomeUnknown("timed out".into());
        assert!(e.to_string().contains("read the record"), "{e}");
        let open = WorkerError::CircuitOpen {
            message: "failing".into(),
            retry_after: Duration::from_millis(2_500),
        }
        .to_failure();
        assert_eq!(open.code, ErrorCode::Unavailable);
        assert!(open.code.is_retryable());
        assert_eq!(open.retry_after, Some(Duration::from_millis(2_500)));
        let store = WorkerError::from(common::store::StoreError::Unavailable("down".into()));
        assert_eq!(store.code(), ErrorCode::Unavailable);
    }
}
