//! gRPC statuses from a worker, read two ways: did the call provably never
//! start (so it may go to another worker), and what failure does the client
//! see.
//!
//! A call that may change data and is cut off after it may have started —
//! the worker died, the connection broke, the answer was unreadable — has
//! an unknown outcome: the worker may have sent the write to D365FO, and
//! D365FO finishes a request whose caller went away. It is reported as
//! `outcome_unknown`, which is not retryable, so that a client does not
//! apply it twice; only a read is `unavailable` and retryable.

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

/// True when a read that failed with `status` before its answer began may
/// go to another worker: any failure but a refusal of the request itself
/// (which another worker would refuse alike) or its deadline passing. A
/// worker answers its own errors as results, not statuses, so a status is
/// the transport's: a worker stopping, a connection reset, a draining
/// worker's HTTP/2 server cancelling streams that raced its GOAWAY. This
/// edge never ends a call with a status of its own; it drops it.
pub(super) fn read_may_move(status: &tonic::Status) -> bool {
    connection_failed(status)
        || !matches!(
            status.code(),
            tonic::Code::InvalidArgument
                | tonic::Code::OutOfRange
                | tonic::Code::ResourceExhausted
                | tonic::Code::Unauthenticated
                | tonic::Code::PermissionDenied
                | tonic::Code::DeadlineExceeded
        )
}

/// True when `status` is the HTTP/2 connection's failure rather than the
/// worker's answer: tonic words an h2 error "h2 protocol error: …", and maps
/// a GOAWAY with ENHANCE_YOUR_CALM (h2 closing a connection it judges
/// abused) to `ResourceExhausted`, which would otherwise read as the worker
/// refusing the call for its load, or as a result too large. The
/// connection was lost: every call on it may have started.
fn connection_failed(status: &tonic::Status) -> bool {
    status.message().starts_with("h2 protocol error")
}

pub(super) fn status_to_failure(url: &str, status: &tonic::Status) -> Failure {
    if status.code() == tonic::Code::Unauthenticated {
        // The hop between this edge and the worker, not the client's key:
        // a configuration problem of the cluster, the same on every retry.
        return Failure::new(
            ErrorCode::Internal,
            format!(
                "worker {url} refused this edge's call as unauthenticated ({}); the operator \
                 must give edges and workers the same D365MCP_INTERNAL_SECRET",
                status.message()
            ),
        );
    }
    let code = match status.code() {
        _ if connection_failed(status) => ErrorCode::Unavailable,
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

/// The failure of a call whose stream from worker `url` broke with
/// `status`. `read_only` says the tool changes nothing.
pub(super) fn lost_worker(url: &str, status: &tonic::Status, read_only: bool) -> Failure {
    if !read_only {
        return outcome_unknown(url, status);
    }
    match status.code() {
        _ if connection_failed(status) => lost_connection(url, status),
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
        _ => lost_connection(url, status),
    }
}

/// A read whose connection to worker `url` broke during the call.
fn lost_connection(url: &str, status: &tonic::Status) -> Failure {
    Failure::new(
        ErrorCode::Unavailable,
        format!(
            "lost the connection to worker {url} during the call ({}); the call may or may not \
             have completed",
            status.message()
        ),
    )
}

/// The failure of a call that worker `url` refused or lost before its
/// answer began (`status`), when the call did not provably never start.
/// A write may have begun on the worker all the same (its answer's headers
/// can be lost after the worker started), unless the status is one of
/// tonic's refusals of the request itself.
pub(super) fn refused_or_lost(url: &str, status: &tonic::Status, read_only: bool) -> Failure {
    // An unauthenticated call was refused before it ran.
    let request_refused = !connection_failed(status)
        && matches!(
            status.code(),
            tonic::Code::InvalidArgument
                | tonic::Code::OutOfRange
                | tonic::Code::ResourceExhausted
                | tonic::Code::Unauthenticated
        );
    if read_only || request_refused {
        return status_to_failure(url, status);
    }
    outcome_unknown(url, status)
}

fn outcome_unknown(url: &str, status: &tonic::Status) -> Failure {
    Failure::new(
        ErrorCode::OutcomeUnknown,
        format!(
            "lost the call on worker {url} while it may have been changing data in D365FO ({}); \
             read the record (or check the action's effect) before calling again, so the change \
             is not made twice",
            status.message()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What tonic makes of h2's GOAWAY(ENHANCE_YOUR_CALM).
    fn calm_down() -> tonic::Status {
        tonic::Status::new(
            tonic::Code::ResourceExhausted,
            "h2 protocol error: connection error received: too_many_internal_resets",
        )
    }

    #[test]
    fn an_h2_connection_failure_is_a_lost_connection_not_a_refusal() {
        let status = calm_down();
        assert!(read_may_move(&status));
        let read = refused_or_lost("w", &status, true);
        assert_eq!(read.code, ErrorCode::Unavailable, "{read:?}");
        // A write on it may have started: its outcome is unknown.
        let write = refused_or_lost("w", &status, false);
        assert_eq!(write.code, ErrorCode::OutcomeUnknown, "{write:?}");
        let during = lost_worker("w", &status, true);
        assert_eq!(during.code, ErrorCode::Unavailable, "{during:?}");
        // The worker's own ResourceExhausted stays a refusal.
        let refusal = tonic::Status::new(tonic::Code::ResourceExhausted, "too many calls");
        assert!(!read_may_move(&refusal));
        assert_eq!(
            refused_or_lost("w", &refusal, false).code,
            ErrorCode::RateLimited
        );
    }

    #[test]
    fn a_read_moves_on_a_transport_failure_not_on_a_refusal() {
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::Cancelled,
            tonic::Code::Unknown,
            tonic::Code::Internal,
            tonic::Code::Aborted,
        ] {
            assert!(read_may_move(&tonic::Status::new(code, "x")), "{code:?}");
        }
        for code in [
            tonic::Code::Unauthenticated,
            tonic::Code::InvalidArgument,
            tonic::Code::ResourceExhausted,
            tonic::Code::DeadlineExceeded,
        ] {
            assert!(!read_may_move(&tonic::Status::new(code, "x")), "{code:?}");
        }
    }

    const URL: &str = "http://w1:50051";

    #[test]
    fn a_write_cut_off_by_a_lost_worker_has_an_unknown_outcome() {
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::Unknown,
            tonic::Code::Internal,
            tonic::Code::Cancelled,
            tonic::Code::DeadlineExceeded,
            tonic::Code::OutOfRange,
        ] {
            let status = tonic::Status::new(code, "connection reset");
            let failure = lost_worker(URL, &status, false);
            assert_eq!(failure.code, ErrorCode::OutcomeUnknown, "{code:?}");
            assert!(!failure.code.is_retryable());
            assert!(failure.message.contains("read the record"), "{failure}");
        }
    }

    #[test]
    fn a_read_cut_off_by_a_lost_worker_may_be_retried() {
        let status = tonic::Status::unavailable("connection reset");
        let failure = lost_worker(URL, &status, true);
        assert_eq!(failure.code, ErrorCode::Unavailable);
        assert!(failure.code.is_retryable());
    }

    #[test]
    fn an_unauthenticated_hop_is_a_refusal_that_names_the_secret() {
        let status = tonic::Status::unauthenticated("the call carried no assertion");
        for read_only in [true, false] {
            let failure = refused_or_lost(URL, &status, read_only);
            assert_eq!(failure.code, ErrorCode::Internal, "{failure}");
            assert!(!failure.code.is_retryable());
            assert!(
                failure.message.contains("D365MCP_INTERNAL_SECRET")
                    && failure.message.contains("no assertion"),
                "{failure}"
            );
        }
    }

    #[test]
    fn a_refused_request_is_not_an_unknown_outcome() {
        let lost = tonic::Status::unavailable("broken pipe");
        assert_eq!(
            refused_or_lost(URL, &lost, false).code,
            ErrorCode::OutcomeUnknown
        );
        assert_eq!(
            refused_or_lost(URL, &lost, true).code,
            ErrorCode::Unavailable
        );
        let too_large = tonic::Status::out_of_range("message too large");
        assert_ne!(
            refused_or_lost(URL, &too_large, false).code,
            ErrorCode::OutcomeUnknown
        );
    }
}
