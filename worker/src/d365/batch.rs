//! OData v4 `$batch` in `multipart/mixed` (RFC 2046): encoding requests,
//! some grouped in atomic changesets, and decoding D365FO's answer into one
//! response per request.
//!
//! The wire format is `common::multipart`, shared with the simulator; this
//! module maps D365FO's requests and answers onto it. The answer comes from
//! outside: the codec bounds the number of parts and answers anything
//! malformed with an error, never a panic.

use common::multipart::{self, Malformed, Part, write};
use serde_json::Value;

/// Most parts decoded at one level; D365FO answers one per request sent.
pub const MAX_PARTS: usize = 1_000;

/// A lone request, or requests D365FO applies all-or-nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Unit<T> {
    /// One request on its own.
    Single(T),
    /// An atomic changeset.
    Changeset(Vec<T>),
}

/// One request of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PartRequest {
    /// `Content-ID`, unique in the batch; `$n` in a later URL of the same
    /// changeset names the record this request created.
    pub content_id: usize,
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: &'static str,
    /// Absolute URL, or `$n` (plus a query) for a record created earlier.
    pub url: String,
    /// Extra headers (`If-Match`, `Prefer`).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body of a create or update.
    pub body: Option<Value>,
}

/// One response of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartResponse {
    /// The `Content-ID` D365FO echoed, if any.
    pub content_id: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// Response headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl PartResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        multipart::header(&self.headers, name)
    }
}

/// The `Content-Type` and body of a batch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// `multipart/mixed; boundary=…`.
    pub content_type: String,
    /// The payload.
    pub body: Vec<u8>,
}

/// Encodes `units` with boundaries made from `tag` (letters, digits, `_`).
/// Fails when a body happens to hold a boundary, which would split it.
pub fn encode(units: &[Unit<PartRequest>], tag: &str) -> Result<Encoded, String> {
    let batch = format!("batch_{tag}");
    let mut out = Vec::new();
    for (n, unit) in units.iter().enumerate() {
        write::open_part(&mut out, &batch);
        match unit {
            Unit::Single(request) => write_request(&mut out, request),
            Unit::Changeset(requests) => {
                let changeset = format!("changeset_{tag}_{n}");
                write::changeset_headers(&mut out, &changeset);
                for request in requests {
                    write::open_part(&mut out, &changeset);
                    write_request(&mut out, request);
                }
                write::close(&mut out, &changeset);
            }
        }
    }
    write::close(&mut out, &batch);
    let bodies = units.iter().flat_map(|u| match u {
        Unit::Single(r) => std::slice::from_ref(r),
        Unit::Changeset(rs) => rs.as_slice(),
    });
    for body in bodies.filter_map(|r| r.body.as_ref()) {
        let text = body.to_string();
        if text.contains(&format!("--batch_{tag}")) || text.contains(&format!("--changeset_{tag}"))
        {
            return Err("a request body holds the batch boundary".into());
        }
    }
    Ok(Encoded {
        content_type: multipart::content_type(&batch),
        body: out,
    })
}

fn write_request(out: &mut Vec<u8>, request: &PartRequest) {
    write::http_part_headers(out, Some(&request.content_id.to_string()));
    let body = request.body.as_ref().map(Value::to_string);
    let headers = std::iter::once(("Accept", "application/json"))
        .chain(request.headers.iter().map(|(n, v)| (*n, v.as_str())))
        .chain(
            body.is_some()
                .then_some(("Content-Type", "application/json; type=entry")),
        );
    write::message(
        out,
        &write::request_line(request.method, &request.url),
        headers,
        body.as_deref().map(str::as_bytes),
    );
}

/// Decodes a batch answer of `content_type` into its units, in order. A
/// changeset D365FO rolled back answers with a single response (its error),
/// so it decodes as [`Unit::Single`].
pub fn decode(content_type: &str, body: &[u8]) -> Result<Vec<Unit<PartResponse>>, String> {
    let outer = multipart::boundary(content_type)
        .ok_or_else(|| format!("the answer is not multipart/mixed ({content_type:?})"))?;
    let mut units = Vec::new();
    for part in multipart::split(body, &outer, MAX_PARTS).map_err(unreadable)? {
        let kind = part.header("content-type").unwrap_or("");
        if let Some(inner) = multipart::boundary(kind) {
            let mut responses = Vec::new();
            for inner_part in multipart::split(part.body, &inner, MAX_PARTS).map_err(unreadable)? {
                responses.push(response(&inner_part)?);
            }
            units.push(Unit::Changeset(responses));
        } else {
            units.push(Unit::Single(response(&part)?));
        }
    }
    Ok(units)
}

/// Why an answer could not be read, in the worker's words.
fn unreadable(why: Malformed) -> String {
    match why {
        Malformed::UnexpectedEnd => {
            "the multipart answer ends before its closing boundary".to_owned()
        }
        Malformed::TooManyParts(max) => format!("the answer has more than {max} parts"),
        Malformed::Header(line) => format!("a malformed header line in the answer: {line:?}"),
        Malformed::StatusLine(line) => {
            format!("a malformed status line in the answer: {:?}", line.trim())
        }
        Malformed::RequestLine(line) => {
            format!(
                "a request line where a status line belongs: {:?}",
                line.trim()
            )
        }
    }
}

/// An `application/http` part: `HTTP/1.1 201 Created`, headers, body.
fn response(part: &Part<'_>) -> Result<PartResponse, String> {
    let answer = multipart::response(part.body).map_err(unreadable)?;
    Ok(PartResponse {
        content_id: part.header("content-id").map(str::to_owned),
        status: answer.status,
        headers: answer.headers,
        body: String::from_utf8_lossy(answer.body).into_owned(),
    })
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
