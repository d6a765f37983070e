//! `multipart/mixed` (RFC 2046) and `application/http` parts, as OData v4
//! `$batch` uses them: parsing a request body into parts, and parsing each
//! part into an HTTP request.
//!
//! Works on bytes, never indexes past what it checked, and returns the
//! Microsoft.OData.Core message for each malformation, so any input yields a
//! part list or a 400, never a panic. Line breaks may be CRLF or bare LF.

/// One body part: its MIME headers and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// MIME headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line, up to the next delimiter's line break.
    pub body: &'a [u8],
}

impl Part<'_> {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// An HTTP request carried in an `application/http` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as written (absolute, `/data/…` or relative).
    pub target: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: &'a [u8],
}

/// The first header called `name` in `headers` (case-insensitive).
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Header lines: names as sent, values trimmed.
type Headers = Vec<(String, String)>;

/// Most parts a batch may hold; past it the batch is refused, so a request
/// cannot make the simulator allocate without bound.
pub const MAX_PARTS: usize = 5_000;

/// The OData message for a truncated payload.
pub const UNEXPECTED_END: &str =
    "Encountered an unexpected end of input while reading the batch payload.";

/// The `boundary` parameter of a `multipart/mixed` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media = params.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    let mut found = None;
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            if found.is_some() {
                return None; // exactly one boundary, as OData requires
            }
            let v = v.trim().trim_matches('"');
            if v.is_empty() || v.len() > 70 {
                return None;
            }
            found = Some(v.to_owned());
        }
    }
    found
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Splits a multipart body into its parts.
pub fn split<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    let dash = format!("--{boundary}");
    let dash = dash.as_bytes();
    // A delimiter starts a line and is followed by "--", blanks or a line break.
    let delimiter_at = |from: usize| -> Option<usize> {
        let mut at = from;
        loop {
            let p = find(body, dash, at)?;
            let line_start = p == 0 || body.get(p - 1) == Some(&b'\n');
            let after = body.get(p + dash.len()..).unwrap_or(&[]);
            let ends = after.is_empty()
                || after.starts_with(b"--")
                || matches!(after.first(), Some(b'\r' | b'\n' | b' ' | b'\t'));
            if line_start && ends {
                return Some(p);
            }
            at = p + 1;
        }
    };
    let mut parts = Vec::new();
    let mut pos = delimiter_at(0).ok_or_else(|| UNEXPECTED_END.to_owned())?;
    loop {
        let after = pos + dash.len();
        let rest = body.get(after..).unwrap_or(&[]);
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Skip transport padding and the line break after the delimiter.
        let pad = rest
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t'))
            .count();
        let start = match rest.get(pad..) {
            Some([b'\r', b'\n', ..]) => after + pad + 2,
            Some([b'\n', ..]) => after + pad + 1,
            _ => return Err(UNEXPECTED_END.to_owned()),
        };
        let next = delimiter_at(start).ok_or_else(|| UNEXPECTED_END.to_owned())?;
        // The line break before the next delimiter belongs to the delimiter.
        let mut end = next;
        if end > start && body.get(end - 1) == Some(&b'\n') {
            end -= 1;
            if end > start && body.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
        }
        let content = body.get(start..end).unwrap_or(&[]);
        let (headers, part_body) = headers(content)?;
        parts.push(Part {
            headers,
            body: part_body,
        });
        if parts.len() > MAX_PARTS {
            return Err(format!(
                "The current batch message contains too many parts. Only batch messages with a maximum number of '{MAX_PARTS}' query operations and change sets are allowed."
            ));
        }
        pos = next;
    }
}

/// Splits `bytes` into header lines and the rest, at the first blank line
/// (a part that starts with a blank line has no headers).
fn headers(bytes: &[u8]) -> Result<(Headers, &[u8]), String> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = bytes
            .get(pos..)
            .and_then(|r| r.iter().position(|&c| c == b'\n'))
            .map(|p| p + pos);
        let (line, next) = match line_end {
            Some(e) => (bytes.get(pos..e).unwrap_or(&[]), e + 1),
            None => (bytes.get(pos..).unwrap_or(&[]), bytes.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok((out, bytes.get(next..).unwrap_or(&[])));
        }
        let text = String::from_utf8_lossy(line);
        let (name, value) = text
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty() && !n.contains(' '))
            .ok_or_else(|| {
                format!(
                    "The message header '{text}' is invalid. The header value must be of the format '<header name>: <header value>'."
                )
            })?;
        out.push((name.trim().to_owned(), value.trim().to_owned()));
        if line_end.is_none() {
            return Ok((out, &[]));
        }
        pos = next;
    }
}

/// Parses an `application/http` part body into a request.
pub fn request(bytes: &[u8]) -> Result<Request<'_>, String> {
    let start = bytes
        .iter()
        .position(|c| !matches!(c, b'\r' | b'\n'))
        .ok_or_else(|| UNEXPECTED_END.to_owned())?;
    let rest = bytes.get(start..).unwrap_or(&[]);
    let line_end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    let line = rest.get(..line_end).unwrap_or(&[]);
    let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
    let invalid = || {
        format!(
            "The request line '{line}' is invalid. The request line at the start of each operation must have the format 'METHOD URI HTTP-VERSION'."
        )
    };
    let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
    let [method, target, version] = words.as_slice() else {
        return Err(invalid());
    };
    if !version.starts_with("HTTP/1.") || !method.bytes().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid());
    }
    let after_line = rest.get(line_end + 1..).unwrap_or(&[]);
    let (headers, body) = headers(after_line)?;
    Ok(Request {
        method: (*method).to_owned(),
        target: (*target).to_owned(),
        headers,
        body,
    })
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
