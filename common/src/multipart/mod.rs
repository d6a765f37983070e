//! The `multipart/mixed` wire format of OData v4 `$batch` (RFC 2046), with
//! `application/http` parts (RFC 7230 messages): the one codec both the
//! worker (which writes requests and reads D365FO's answers) and the
//! simulator (which reads requests and writes answers) use.
//!
//! Only the format lives here. What a part means (which operation it
//! answers, what a status says about a changeset) and how a malformation
//! is worded to a client stay with the worker and the simulator: every
//! refusal is a [`Malformed`] they word themselves.
//!
//! - [`read`]: splitting a body into [`Part`]s at its delimiters, and an
//!   `application/http` part into a [`Request`] or a [`Response`]. Reading
//!   works on bytes from outside: it never indexes past what it checked,
//!   bounds the number of parts, and answers anything malformed with an
//!   error, never a panic. Line breaks may be CRLF or bare LF.
//! - [`write`]: appending delimiters, part headers and HTTP messages to a
//!   buffer, always with CRLF. Writing trusts its caller: header values
//!   must hold no line break, and no part may hold its own delimiter (see
//!   [`holds_delimiter`]).
//!
//! A batch is read in two steps, as it is nested: [`split`] the body with
//! the [`boundary`] of its content type; a part whose own content type has
//! a boundary is a changeset, [`split`] again; any other part's body is an
//! HTTP message.

pub mod read;
pub mod write;

pub use read::{Part, Request, Response, holds_delimiter, request, response, split};

/// Header lines in the order sent: names as sent, values trimmed.
pub type Headers = Vec<(String, String)>;

/// Most characters of a boundary (RFC 2046).
pub const MAX_BOUNDARY: usize = 70;

/// What is wrong with a payload that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The payload ends before a part or the closing delimiter does, or a
    /// delimiter is not followed by a line break.
    #[error("the payload ends before its closing delimiter")]
    UnexpectedEnd,
    /// More parts at one level than the reader allows.
    #[error("the payload has more than {0} parts")]
    TooManyParts(usize),
    /// A header line (as text) that is not `name: value`.
    #[error("a malformed header line: {0:?}")]
    Header(String),
    /// A request line (as text) that is not `METHOD target HTTP/1.x`.
    #[error("a malformed request line: {0:?}")]
    RequestLine(String),
    /// A status line (as text) that is not `HTTP/x.y code reason`.
    #[error("a malformed status line: {0:?}")]
    StatusLine(String),
}

/// The value of the first header called `name` (case-insensitive).
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The boundary of a `multipart/mixed` content type: exactly one
/// `boundary` parameter (as OData requires), quoted or not, of 1 to
/// [`MAX_BOUNDARY`] characters.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    if !params
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/mixed")
    {
        return None;
    }
    let mut found = None;
    for (name, value) in params.filter_map(|p| p.split_once('=')) {
        if !name.trim().eq_ignore_ascii_case("boundary") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let value = value.trim().trim_matches('"');
        if value.is_empty() || value.len() > MAX_BOUNDARY {
            return None;
        }
        found = Some(value.to_owned());
    }
    found
}

/// `multipart/mixed; boundary=…`, the boundary quoted when it holds a
/// character a MIME token may not (RFC 2045), such as a space or `:`.
pub fn content_type(boundary: &str) -> String {
    let token = boundary
        .bytes()
        .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&c));
    if token {
        format!("multipart/mixed; boundary={boundary}")
    } else {
        format!("multipart/mixed; boundary=\"{boundary}\"")
    }
}

#[cfg(test)]
mod tests;
