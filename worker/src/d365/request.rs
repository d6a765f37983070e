//! What a request beyond a plain JSON call carries, and what comes back:
//! any body ([`Body`]), extra headers and the whole 2xx answer
//! ([`Answer`]: status, headers, bytes). Writes need the answer's `ETag`
//! and `Location`; `$batch` sends and receives `multipart/mixed`.

use reqwest::{Method, header};
use serde_json::Value;

use super::retry::{Deadline, Idempotency};
use crate::error::WorkerError;

/// A request body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// No body.
    Empty,
    /// JSON, sent as `application/json`.
    Json(&'a Value),
    /// Bytes of a given content type (a `$batch` payload).
    Raw {
        /// The `Content-Type` header.
        content_type: &'a str,
        /// The payload.
        bytes: &'a [u8],
    },
}

/// A request with any body and extra headers, answered with status, headers
/// and body: what writes and `$batch` need beyond [`Call`].
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Any method: GET, POST, PATCH, DELETE.
    pub method: &'a Method,
    /// Absolute URL inside the environment.
    pub url: &'a str,
    /// The body.
    pub body: Body<'a>,
    /// Extra headers (`If-Match`, `Prefer`, `Accept`); an `Accept` here
    /// replaces the default `application/json`.
    pub headers: &'a [(&'a str, &'a str)],
    /// Whether it may be sent again.
    pub idempotency: Idempotency,
    /// Whether to retry at all.
    pub retry: bool,
    /// The call's deadline.
    pub deadline: Deadline,
}

/// A 2xx answer from D365FO.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: header::HeaderMap,
    /// The body, read whole (bounded by [`MAX_BODY_BYTES`]).
    pub body: Vec<u8>,
}

impl Answer {
    /// The header `name`, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON; an empty body (a 204) is `null`.
    pub fn json(&self) -> Result<Value, WorkerError> {
        let text = String::from_utf8_lossy(&self.body);
        let text = super::errors::without_bom(&text);
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(text).map_err(|e| {
            let kind = if text.trim_start().starts_with('<') {
                "an HTML page instead of JSON".to_owned()
            } else {
                format!("invalid JSON ({e})")
            };
            WorkerError::BadResponse(format!("HTTP {} with {kind}", self.status))
        })
    }
}
