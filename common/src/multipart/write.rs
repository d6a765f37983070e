//! Writing `multipart/mixed` bodies with `application/http` parts, always
//! with CRLF line breaks.
//!
//! A batch is written in order: for each part [`open_part`], then either
//! an `application/http` part ([`http_part_headers`] and [`message`]) or a
//! changeset ([`changeset_headers`], its own parts, [`close`]); last
//! [`close`]. Every piece ends with its own line break, so each part's
//! content ends right before the line break that precedes a delimiter.

use super::content_type;

/// Appends `--{boundary}` and a line break: the delimiter that opens a part.
pub fn open_part(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `--{boundary}--` and a line break: the delimiter that closes a
/// body (or a changeset).
pub fn close(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
}

/// Appends the MIME headers of a changeset (`Content-Type: multipart/mixed;
/// boundary=…`) and the blank line after them; its parts follow.
pub fn changeset_headers(out: &mut Vec<u8>, boundary: &str) {
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(content_type(boundary).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// Appends the MIME headers of an `application/http` part (binary
/// transfer encoding, the `Content-ID` if any) and the blank line after
/// them; the HTTP [`message`] follows.
pub fn http_part_headers(out: &mut Vec<u8>, content_id: Option<&str>) {
    out.extend_from_slice(
        b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n",
    );
    if let Some(id) = content_id {
        out.extend_from_slice(b"Content-ID: ");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// `METHOD target HTTP/1.1`.
pub fn request_line(method: &str, target: &str) -> String {
    format!("{method} {target} HTTP/1.1")
}

/// `HTTP/1.1 code reason`.
pub fn status_line(status: u16, reason: &str) -> String {
    format!("HTTP/1.1 {status} {reason}")
}

/// Appends an HTTP message: its start line ([`request_line`] or
/// [`status_line`]) and headers, then, when there is a body, a blank line
/// and the body; last the line break that ends the part. A message
/// without a body has no blank line: the line break before the next
/// delimiter ends its headers.
pub fn message<N, V>(
    out: &mut Vec<u8>,
    start_line: &str,
    headers: impl IntoIterator<Item = (N, V)>,
    body: Option<&[u8]>,
) where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_ref());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_ref());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }
    out.extend_from_slice(b"\r\n");
}
