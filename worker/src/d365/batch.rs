//! OData v4 `$batch` in `multipart/mixed` (RFC 2046): encoding requests,
//! some grouped in atomic changesets, and decoding D365FO's answer into one
//! response per request.
//!
//! The answer comes from outside: the decoder works on bytes, checks every
//! index it uses, bounds the number of parts, and returns an error for
//! anything malformed, never a panic. Line breaks may be CRLF or bare LF.

use std::fmt::Write as _;

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
        header(&self.headers, name)
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
    let mut out = String::new();
    for (n, unit) in units.iter().enumerate() {
        let _ = write!(out, "--{batch}\r\n");
        match unit {
            Unit::Single(request) => write_request(&mut out, request),
            Unit::Changeset(requests) => {
                let changeset = format!("changeset_{tag}_{n}");
                let _ = write!(
                    out,
                    "Content-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
                );
                for request in requests {
                    let _ = write!(out, "--{changeset}\r\n");
                    write_request(&mut out, request);
                }
                let _ = write!(out, "--{changeset}--\r\n");
            }
        }
    }
    let _ = write!(out, "--{batch}--\r\n");
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
        content_type: format!("multipart/mixed; boundary={batch}"),
        body: out.into_bytes(),
    })
}

fn write_request(out: &mut String, request: &PartRequest) {
    let _ = write!(
        out,
        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{} {} HTTP/1.1\r\nAccept: application/json\r\n",
        request.content_id, request.method, request.url
    );
    for (name, value) in &request.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    match &request.body {
        Some(body) => {
            let _ = write!(
                out,
                "Content-Type: application/json; type=entry\r\n\r\n{body}\r\n"
            );
        }
        None => out.push_str("\r\n"),
    }
}

/// Decodes a batch answer of `content_type` into its units, in order. A
/// changeset D365FO rolled back answers with a single response (its error),
/// so it decodes as [`Unit::Single`].
pub fn decode(content_type: &str, body: &[u8]) -> Result<Vec<Unit<PartResponse>>, String> {
    let outer = boundary(content_type)
        .ok_or_else(|| format!("the answer is not multipart/mixed ({content_type:?})"))?;
    let mut units = Vec::new();
    for part in split(body, &outer)? {
        let (headers, content) = headers_and_body(part)?;
        let kind = header(&headers, "content-type").unwrap_or("");
        if let Some(inner) = boundary(kind) {
            let mut responses = Vec::new();
            for inner_part in split(content, &inner)? {
                let (inner_headers, inner_content) = headers_and_body(inner_part)?;
                responses.push(response(&inner_headers, inner_content)?);
            }
            units.push(Unit::Changeset(responses));
        } else {
            units.push(Unit::Single(response(&headers, content)?));
        }
    }
    Ok(units)
}

/// The `boundary` of a `multipart/mixed` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    if !params
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/mixed")
    {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        let value = value.trim().trim_matches('"');
        (name.trim().eq_ignore_ascii_case("boundary") && !value.is_empty() && value.len() <= 200)
            .then(|| value.to_owned())
    })
}

/// Header lines: names as sent, values trimmed.
type Headers = Vec<(String, String)>;

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The position of the next delimiter line `--{boundary}` at or after
/// `from`: at a line start, followed by `--`, blanks or a line break.
fn delimiter(body: &[u8], dash: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let found = body
            .get(at..)?
            .windows(dash.len())
            .position(|w| w == dash)?
            + at;
        let line_start = found == 0 || body.get(found - 1) == Some(&b'\n');
        let after = body.get(found + dash.len()..).unwrap_or(&[]);
        let ends = after.is_empty()
            || after.starts_with(b"--")
            || matches!(after.first(), Some(b'\r' | b'\n' | b' ' | b'\t'));
        if line_start && ends {
            return Some(found);
        }
        at = found + 1;
    }
}

/// The parts between `--{boundary}` lines, up to `--{boundary}--`.
fn split<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, String> {
    let dash = format!("--{boundary}").into_bytes();
    let unterminated = || "the multipart answer ends before its closing boundary".to_owned();
    let mut parts = Vec::new();
    let mut at = delimiter(body, &dash, 0).ok_or_else(unterminated)?;
    loop {
        let after = at + dash.len();
        let rest = body.get(after..).unwrap_or(&[]);
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let blanks = rest
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t'))
            .count();
        let start = match rest.get(blanks..) {
            Some([b'\r', b'\n', ..]) => after + blanks + 2,
            Some([b'\n', ..]) => after + blanks + 1,
            _ => return Err(unterminated()),
        };
        let next = delimiter(body, &dash, start).ok_or_else(unterminated)?;
        let mut end = next;
        for byte in [b'\n', b'\r'] {
            if end > start && body.get(end - 1) == Some(&byte) {
                end -= 1;
            }
        }
        parts.push(body.get(start..end).unwrap_or(&[]));
        if parts.len() > MAX_PARTS {
            return Err(format!("the answer has more than {MAX_PARTS} parts"));
        }
        at = next;
    }
}

/// Header lines up to the first blank line, and what follows it.
fn headers_and_body(bytes: &[u8]) -> Result<(Headers, &[u8]), String> {
    let mut headers = Vec::new();
    let mut at = 0;
    loop {
        let rest = bytes.get(at..).unwrap_or(&[]);
        let (line, next) = match rest.iter().position(|&c| c == b'\n') {
            Some(end) => (rest.get(..end).unwrap_or(&[]), at + end + 1),
            None => (rest, bytes.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok((headers, bytes.get(next..).unwrap_or(&[])));
        }
        let text = String::from_utf8_lossy(line);
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| format!("a malformed header line in the answer: {text:?}"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
        if next >= bytes.len() {
            return Ok((headers, &[]));
        }
        at = next;
    }
}

/// An `application/http` part: `HTTP/1.1 201 Created`, headers, body.
fn response(mime: &[(String, String)], bytes: &[u8]) -> Result<PartResponse, String> {
    let start = bytes
        .iter()
        .position(|c| !matches!(c, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let rest = bytes.get(start..).unwrap_or(&[]);
    let line_end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    let line = String::from_utf8_lossy(rest.get(..line_end).unwrap_or(&[]));
    let mut words = line.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    }
    .filter(|s| (100..600).contains(s))
    .ok_or_else(|| format!("a malformed status line in the answer: {:?}", line.trim()))?;
    let (headers, body) = headers_and_body(rest.get(line_end + 1..).unwrap_or(&[]))?;
    Ok(PartResponse {
        content_id: header(mime, "content-id").map(str::to_owned),
        status,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
