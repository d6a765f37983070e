//! Writing a batch's response parts, within a byte budget.
//!
//! A batch of large reads could otherwise ask for a response many times
//! the size any single request may produce (fifty 10,000-row pages made a
//! 244 MB response). Each part's body is capped, and so is the response as
//! a whole; past that the batch stops and fails with a clear 400, rather
//! than the simulator buffering without bound.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::multipart::write;

use crate::SimError;

/// What one batch may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest body of one response part; a larger one becomes a 500 part.
    pub part_body: usize,
    /// Largest batch response; past it the batch fails with a 400.
    pub response: usize,
}

impl Limits {
    /// 64 MiB a part and 64 MiB a batch.
    pub const DEFAULT: Self = Self {
        part_body: 64 << 20,
        response: 64 << 20,
    };
}

/// A part whose response body is over `limit` bytes (or unreadable).
fn part_too_large(limit: usize) -> SimError {
    SimError::App {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: "An error has occurred.".to_owned(),
        inner: format!(
            "The response to this batch operation is larger than {limit} bytes, the most one operation of a batch may return. Send the request on its own, or page it with $top and $skip."
        ),
        kind: "System.InvalidOperationException",
    }
}

/// A batch whose response grew past `limit` bytes.
fn batch_too_large(limit: usize) -> SimError {
    let message = format!(
        "The batch response exceeds {limit} bytes, the most one batch may return. Send fewer requests per batch, or page large reads with $top and $skip."
    );
    SimError::App {
        status: StatusCode::BAD_REQUEST,
        inner: message.clone(),
        message,
        kind: crate::error::ODATA_EXCEPTION,
    }
}

/// The status, headers and body of `response`, its body read up to
/// `limit` bytes; a larger body gives [`part_too_large`]'s response.
async fn collect(response: Response, limit: usize) -> (StatusCode, HeaderMap, Bytes) {
    let (parts, body) = response.into_parts();
    if let Ok(bytes) = axum::body::to_bytes(body, limit).await {
        return (parts.status, parts.headers, bytes);
    }
    let e = part_too_large(limit);
    let (status, body) = (e.status(), e.body());
    let mut headers = e.into_response().into_parts().0.headers;
    headers.remove(header::CONTENT_LENGTH);
    (status, headers, Bytes::from(body))
}

/// Appends one `application/http` response part (after its delimiter), or
/// fails the batch when that takes its response past `limits.response`.
pub(super) async fn write_part(
    out: &mut Vec<u8>,
    id: Option<&str>,
    response: Response,
    limits: &Limits,
) -> Result<(), SimError> {
    let (status, headers, body) = collect(response, limits.part_body).await;
    if out.len().saturating_add(body.len()) > limits.response {
        return Err(batch_too_large(limits.response));
    }
    write::http_part_headers(out, id);
    let reason = status.canonical_reason().unwrap_or("");
    let headers = headers
        .iter()
        .filter(|(name, _)| *name != header::CONTENT_LENGTH && *name != header::TRANSFER_ENCODING);
    write::message(
        out,
        &write::status_line(status.as_u16(), reason),
        headers,
        Some(body.as_ref()),
    );
    if out.len() > limits.response {
        return Err(batch_too_large(limits.response));
    }
    Ok(())
}
