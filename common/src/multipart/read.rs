//! Reading `multipart/mixed` bodies and `application/http` parts.

use super::{Headers, Malformed, header};

/// One body part: its MIME headers and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// MIME headers (`Content-Type`, `Content-ID`, …).
    pub headers: Headers,
    /// Everything after the blank line, up to the line break before the
    /// next delimiter.
    pub body: &'a [u8],
}

impl Part<'_> {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// An HTTP request carried in an `application/http` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as written (absolute, `/data/…`, relative, `$1`).
    pub target: String,
    /// Request headers.
    pub headers: Headers,
    /// The body: all that follows the blank line after the headers.
    pub body: &'a [u8],
}

/// An HTTP response carried in an `application/http` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// The status code, 100 to 599.
    pub status: u16,
    /// Response headers.
    pub headers: Headers,
    /// The body: all that follows the blank line after the headers.
    pub body: &'a [u8],
}

/// The position of the next delimiter `dash` (`--` and the boundary) at or
/// after `from`: at a line start, and followed by `--`, a blank, a line
/// break or the end, so a longer token that merely starts with it is not
/// one.
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

/// Whether `content`, written as a part between delimiters of `boundary`,
/// would be cut short by a line of its own that [`split`] takes for a
/// delimiter. (The worker refuses more: any request body that mentions its
/// boundary at all; the property tests use this to skip generated bodies
/// that no writer could send.)
pub fn holds_delimiter(content: &[u8], boundary: &str) -> bool {
    delimiter(content, format!("--{boundary}").as_bytes(), 0).is_some()
}

/// Splits a multipart body into its parts, up to the closing delimiter
/// (what follows it is ignored, as is what precedes the first delimiter).
/// More than `max_parts` parts is an error, so a payload cannot make the
/// reader allocate without bound.
pub fn split<'a>(
    body: &'a [u8],
    boundary: &str,
    max_parts: usize,
) -> Result<Vec<Part<'a>>, Malformed> {
    let dash = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut at = delimiter(body, &dash, 0).ok_or(Malformed::UnexpectedEnd)?;
    loop {
        let after = at + dash.len();
        let rest = body.get(after..).unwrap_or(&[]);
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the line break that ends the delimiter.
        let blanks = rest
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t'))
            .count();
        let start = match rest.get(blanks..) {
            Some([b'\r', b'\n', ..]) => after + blanks + 2,
            Some([b'\n', ..]) => after + blanks + 1,
            _ => return Err(Malformed::UnexpectedEnd),
        };
        let next = delimiter(body, &dash, start).ok_or(Malformed::UnexpectedEnd)?;
        // The line break before the next delimiter belongs to the delimiter.
        let mut end = next;
        if end > start && body.get(end - 1) == Some(&b'\n') {
            end -= 1;
            if end > start && body.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
        }
        let (headers, content) = headers(body.get(start..end).unwrap_or(&[]))?;
        parts.push(Part {
            headers,
            body: content,
        });
        if parts.len() > max_parts {
            return Err(Malformed::TooManyParts(max_parts));
        }
        at = next;
    }
}

/// Splits `bytes` into header lines and what follows the first blank line
/// (a part that starts with a blank line has no headers; one without a
/// blank line is all headers). A header name is not empty and holds no
/// space.
fn headers(bytes: &[u8]) -> Result<(Headers, &[u8]), Malformed> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let rest = bytes.get(at..).unwrap_or(&[]);
        let (line, next) = match rest.iter().position(|&c| c == b'\n') {
            Some(end) => (rest.get(..end).unwrap_or(&[]), Some(at + end + 1)),
            None => (rest, None),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            let body = next.and_then(|n| bytes.get(n..)).unwrap_or(&[]);
            return Ok((out, body));
        }
        let text = String::from_utf8_lossy(line);
        let (name, value) = text
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty() && !n.contains(' '))
            .ok_or_else(|| Malformed::Header(quoted(&text)))?;
        out.push((name.trim().to_owned(), value.trim().to_owned()));
        match next {
            Some(n) => at = n,
            None => return Ok((out, &[])),
        }
    }
}

/// The first line of `bytes` after any blank lines (without its line
/// break), and what follows it; `None` when there is no such line.
fn start_line(bytes: &[u8]) -> Option<(String, &[u8])> {
    let start = bytes.iter().position(|c| !matches!(c, b'\r' | b'\n'))?;
    let rest = bytes.get(start..).unwrap_or(&[]);
    let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    let line = rest.get(..end).unwrap_or(&[]);
    let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
    Some((line, rest.get(end + 1..).unwrap_or(&[])))
}

/// Reads an `application/http` part's body as a request:
/// `METHOD target HTTP/1.x` (method in capitals, words apart by spaces),
/// headers, a blank line, the body.
pub fn request(bytes: &[u8]) -> Result<Request<'_>, Malformed> {
    let (line, rest) = start_line(bytes).ok_or(Malformed::UnexpectedEnd)?;
    let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
    let [method, target, version] = words.as_slice() else {
        return Err(Malformed::RequestLine(quoted(&line)));
    };
    if !version.starts_with("HTTP/1.") || !method.bytes().all(|c| c.is_ascii_uppercase()) {
        return Err(Malformed::RequestLine(quoted(&line)));
    }
    let (method, target) = ((*method).to_owned(), (*target).to_owned());
    let (headers, body) = headers(rest)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Reads an `application/http` part's body as a response:
/// `HTTP/x.y code reason` (a code from 100 to 599), headers, a blank line,
/// the body.
pub fn response(bytes: &[u8]) -> Result<Response<'_>, Malformed> {
    let (line, rest) = start_line(bytes).unwrap_or_default();
    let mut words = line.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    }
    .filter(|s| (100..600).contains(s));
    let Some(status) = status else {
        return Err(Malformed::StatusLine(quoted(&line)));
    };
    let (headers, body) = headers(rest)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// At most [`QUOTED_MAX`] characters of a line the payload held: enough to
/// recognise it in an error, bounded whatever the payload.
fn quoted(line: &str) -> String {
    match line.char_indices().nth(QUOTED_MAX) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

/// The most of a malformed line an error repeats.
const QUOTED_MAX: usize = 200;
