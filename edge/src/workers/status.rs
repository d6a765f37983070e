//! gRPC statuses from a worker, read two ways: did the call provably never
//! start (so it may go to another worker), and what failure does the client
//! see.

use common::{ErrorCode, Failure};

/// True when the status proves the request never reached a worker: the
/// connection could not be made at all.
pub(super) fn never_started(status: &tonic::Status) -> bool {
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NotFound
            )
        {
            return true;
        }
        if err.to_string().contains("tcp connect error") {
            return true;
        }
        source = err.source();
    }
    false
}

pub(super) fn status_to_failure(url: &str, status: &tonic::Status) -> Failure {
    let code = match status.code() {
        tonic::Code::DeadlineExceeded => ErrorCode::DeadlineExceeded,
        tonic::Code::Cancelled => ErrorCode::Cancelled,
        tonic::Code::Unavailable => ErrorCode::Unavailable,
        tonic::Code::InvalidArgument => ErrorCode::InvalidRequest,
        tonic::Code::ResourceExhausted => ErrorCode::RateLimited,
        _ => ErrorCode::Internal,
    };
    let message = match code {
        ErrorCode::DeadlineExceeded => {
            "the tool call ran past its time limit and was cancelled".to_owned()
        }
        _ => format!("worker {url} failed the call: {}", status.message()),
    };
    Failure::new(code, message)
}

pub(super) fn lost_worker(url: &str, status: &tonic::Status) -> Failure {
    match status.code() {
        tonic::Code::DeadlineExceeded => status_to_failure(url, status),
        // The stream itself was fine; what it carried was not (too large, or
        // malformed). Retrying would fail the same way.
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted | tonic::Code::Internal => {
            Failure::new(
                ErrorCode::Internal,
                format!(
                    "worker {url} sent a result this edge cannot accept ({}); if the result is \
                     large, narrow `select` or lower `top`",
                    status.message()
                ),
            )
        }
        _ => Failure::new(
            ErrorCode::Unavailable,
            format!(
                "lost the connection to worker {url} during the call ({}); the call may or may \
                 not have completed",
                status.message()
            ),
        ),
    }
}
