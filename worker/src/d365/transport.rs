//! The transport side of one exchange with D365FO: reading a body within
//! its limit, and telling apart the failures that prove a write never left
//! from those after which its effect is unknown.

use std::time::Duration;

use crate::error::WorkerError;

/// The deadline passed before the request left; a write says it was not sent.
pub(super) fn not_sent(write: bool, during: &str) -> WorkerError {
    let not_sent = if write {
        "; the write was not sent"
    } else {
        ""
    };
    WorkerError::DeadlineExceeded(format!(
        "the call's deadline passed{during} before D365FO answered{not_sent}"
    ))
}

/// The body of `response`, refused once it passes `limit` bytes.
pub(super) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, WorkerError> {
    let too_large = || {
        let limit = if limit >= 1 << 20 {
            format!("{} MiB", limit >> 20)
        } else {
            format!("{limit} bytes")
        };
        WorkerError::BadResponse(format!(
            "a response body larger than {limit}, not read; ask for fewer rows (`top`) or \
             fields (`select`)"
        ))
    };
    let declared = response.content_length().unwrap_or(0);
    if !usize::try_from(declared).is_ok_and(|n| n <= limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&e, timeout, false))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Maps a transport-level failure; the message names the root cause only,
/// not the URL. For a write, only a failure to connect (or to build the
/// request) proves that nothing was sent; any other failure may have come
/// after D365FO got the request.
pub(super) fn transport_error(
    error: &reqwest::Error,
    timeout: Duration,
    write: bool,
) -> WorkerError {
    let timed_out = || format!("D365FO did not answer within {} ms", timeout.as_millis());
    if !write {
        return if error.is_timeout() {
            WorkerError::DeadlineExceeded(timed_out())
        } else if error.is_connect() {
            WorkerError::Unavailable(format!("cannot connect: {}", root_cause(error)))
        } else {
            WorkerError::Unavailable(format!("request failed: {}", root_cause(error)))
        };
    }
    if error.is_connect() {
        WorkerError::Unavailable(format!(
            "cannot connect: {}; the write was not sent",
            root_cause(error)
        ))
    } else if error.is_builder() {
        WorkerError::Internal(format!(
            "could not build the request to D365FO: {}; the write was not sent",
            root_cause(error)
        ))
    } else if error.is_timeout() {
        WorkerError::OutcomeUnknown(timed_out())
    } else {
        WorkerError::OutcomeUnknown(format!("request failed: {}", root_cause(error)))
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
