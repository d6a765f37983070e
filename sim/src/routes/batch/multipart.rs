//! The batch payload as `common::multipart` reads it, with each
//! malformation worded as Microsoft.OData.Core words it, so a bad batch
//! gets the 400 D365FO would give.

use common::multipart::{self, Malformed, Part, Request};

/// Most parts a batch (or a changeset) may hold; past it the batch is
/// refused, so a request cannot make the simulator allocate without bound.
pub const MAX_PARTS: usize = 5_000;

/// The OData message for a truncated payload.
pub const UNEXPECTED_END: &str =
    "Encountered an unexpected end of input while reading the batch payload.";

/// The OData message for `why`.
pub fn message(why: Malformed) -> String {
    match why {
        Malformed::UnexpectedEnd => UNEXPECTED_END.to_owned(),
        Malformed::TooManyParts(max) => format!(
            "The current batch message contains too many parts. Only batch messages with a maximum number of '{max}' query operations and change sets are allowed."
        ),
        Malformed::Header(line) => format!(
            "The message header '{line}' is invalid. The header value must be of the format '<header name>: <header value>'."
        ),
        Malformed::RequestLine(line) | Malformed::StatusLine(line) => format!(
            "The request line '{line}' is invalid. The request line at the start of each operation must have the format 'METHOD URI HTTP-VERSION'."
        ),
    }
}

/// The parts of a batch (or changeset) body delimited by `boundary`.
pub fn split<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    multipart::split(body, boundary, MAX_PARTS).map_err(message)
}

/// The request in an `application/http` part's body.
pub fn request(bytes: &[u8]) -> Result<Request<'_>, String> {
    multipart::request(bytes).map_err(message)
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
