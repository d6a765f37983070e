//! Turning a D365FO error response into a [`WorkerError`].
//!
//! D365FO answers errors in three shapes: OData's
//! `{"error":{"code","message","innererror":{"message","type"}}}`, the
//! front end's `{"Message":"Authentication failed."}` on 401, and a gateway's
//! HTML page on 502/503/504. The status picks the error kind; the body gives
//! the message a person reads, D365FO's own words wherever it has some.

use std::time::Duration;

use serde::Deserialize;

use crate::error::WorkerError;

/// The most of a non-JSON body quoted in a message.
const MAX_QUOTED: usize = 300;

/// D365FO's outer message when the useful one is in `innererror`.
const GENERIC_MESSAGES: [&str; 2] = ["An error has occurred.", ""];

#[derive(Deserialize)]
struct ODataError {
    error: ODataErrorBody,
}

#[derive(Deserialize)]
struct ODataErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    innererror: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(default)]
    message: String,
    /// The .NET exception's type.
    #[serde(default, rename = "type")]
    kind: String,
}

/// .NET exceptions with which D365FO's OData layer reports a write or
/// delete its application logic refused (`validateWrite`, a duplicate key):
/// seen in recorded answers of real environments, and what the simulator
/// sends (`sim/src/data/write.rs`).
const REFUSAL_EXCEPTIONS: [&str; 2] = ["AxODataWriteException", "AxODataDeleteException"];

/// Words of D365FO's validation messages, for an error whose type is
/// missing or another: an Infolog, "Write failed for table row …", "The
/// record already exists."
const VALIDATION_WORDS: [&str; 3] = ["Infolog", "Write failed", "already exists"];

#[derive(Deserialize)]
struct FrontEndError {
    #[serde(rename = "Message")]
    message: String,
}

/// The error for a non-2xx response.
pub fn from_response(status: u16, retry_after: Option<Duration>, body: &str) -> WorkerError {
    let message = message_of(status, body);
    match status {
        401 | 403 => WorkerError::UpstreamAuth { status, message },
        404 => WorkerError::NotFound { message },
        409 => WorkerError::Conflict(format!("D365FO answered HTTP 409: {message}")),
        412 => WorkerError::Conflict(format!(
            "the record changed since its ETag was read (HTTP 412: {message}). Read it again \
             (d365fo_get_entity_record) and pass its new @odata.etag as `if_match`, or leave \
             `if_match` out to overwrite it"
        )),
        429 => WorkerError::Throttled { retry_after },
        500..=599 => WorkerError::Unavailable(format!("HTTP {status}: {message}")),
        _ => WorkerError::Rejected { status, message },
    }
}

/// The error for a non-2xx part of a `$batch` answer: as
/// [`from_response`], except that a 5xx carrying D365FO's OData error for a
/// refused write ([`is_refusal`]) is the refusal it reports, not an outage.
/// D365FO answers a changeset whose write its validation refused with such
/// a part (`HTTP/1.1 500`, an `AxODataWriteException` "The record already
/// exists"), recorded from real environments; reporting it as retryable
/// would invite the model to resend a write D365FO refused.
pub fn from_part(status: u16, retry_after: Option<Duration>, body: &str) -> WorkerError {
    if (500..=599).contains(&status) && is_refusal(body) {
        return WorkerError::Rejected {
            status,
            message: message_of(status, body),
        };
    }
    from_response(status, retry_after, body)
}

/// Whether `body` is D365FO's OData error for a write its application
/// logic refused: one of [`REFUSAL_EXCEPTIONS`], or a message with one of
/// [`VALIDATION_WORDS`]. A gateway's page, an empty body or a generic
/// "An error has occurred." without them is not.
pub fn is_refusal(body: &str) -> bool {
    let Ok(ODataError { error }) = serde_json::from_str::<ODataError>(without_bom(body).trim())
    else {
        return false;
    };
    let inner = error.innererror.as_ref();
    let kind = inner.map_or("", |i| i.kind.as_str());
    if REFUSAL_EXCEPTIONS.iter().any(|e| kind.ends_with(e)) {
        return true;
    }
    let inner_message = inner.map_or("", |i| i.message.as_str());
    VALIDATION_WORDS
        .iter()
        .any(|w| error.message.contains(w) || inner_message.contains(w))
}

/// `text` without a leading UTF-8 byte-order mark, which some D365FO
/// endpoints and proxies put before a JSON body (recorded) and which
/// serde_json refuses.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// `Retry-After` as a wait: seconds, or an HTTP-date (RFC 9110 §10.2.3
/// allows both). D365FO itself sends seconds; a proxy or gateway in front of
/// it may send a date. A date is read against this worker's clock, in whole
/// seconds and at least one (a date already past, or a clock running ahead,
/// still means "a moment", never a zero-length throttle window); anything
/// else unreadable is unknown.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    retry_after_at(value, std::time::SystemTime::now())
}

/// [`parse_retry_after`] as seen at `now`.
fn retry_after_at(value: Option<&str>, now: std::time::SystemTime) -> Option<Duration> {
    let value = value?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(Duration::from_secs(
        common::error::whole_seconds(wait).max(1),
    ))
}

/// The most specific message the body offers.
pub fn message_of(status: u16, body: &str) -> String {
    let trimmed = without_bom(body).trim();
    if let Ok(ODataError { error }) = serde_json::from_str::<ODataError>(trimmed) {
        let inner = error
            .innererror
            .map(|i| i.message.trim().to_owned())
            .filter(|m| !m.is_empty());
        let outer = error.message.trim();
        let message = match inner {
            Some(inner) if GENERIC_MESSAGES.contains(&outer) => inner,
            // OData's outer message often quotes the inner one already.
            Some(inner) if outer.contains(inner.as_str()) => outer.to_owned(),
            Some(inner) => format!("{outer} ({inner})"),
            None if !outer.is_empty() => outer.to_owned(),
            None if !error.code.is_empty() => format!("error code {}", error.code),
            None => "no message".to_owned(),
        };
        return message;
    }
    if let Ok(FrontEndError { message }) = serde_json::from_str::<FrontEndError>(trimmed) {
        return message;
    }
    if trimmed.starts_with('<') {
        return match html_title(trimmed) {
            Some(title) => format!("an HTML error page titled {}", quote_cut(&title)),
            None => "an HTML error page (from a gateway, not D365FO's OData service)".to_owned(),
        };
    }
    if trimmed.is_empty() {
        return format!("HTTP {status} with an empty body");
    }
    quote_cut(trimmed)
}

fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower.get(start..)?.find("</title>")?;
    let title = html.get(start..end)?.trim();
    (!title.is_empty()).then(|| title.to_owned())
}

fn quote_cut(text: &str) -> String {
    let mut cut: String = text.chars().take(MAX_QUOTED).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("\"{cut}\"")
}

#[cfg(test)]
mod tests {
    use common::ErrorCode;

    use super::*;

    const BAD_PROPERTY: &str = r#"{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Could not find a property named 'Foo' on type 'Microsoft.Dynamics.DataEntities.CustomerV3'.","type":"Microsoft.OData.ODataException","stacktrace":""}}}"#;

    #[test]
    fn an_inner_message_quoted_by_the_outer_one_is_not_repeated() {
        let body = r#"{"error":{"code":"","message":"The query specified in the URI is not valid. Bad thing.","innererror":{"message":"Bad thing.","type":"Microsoft.OData.ODataException","stacktrace":""}}}"#;
        assert_eq!(
            message_of(400, body),
            "The query specified in the URI is not valid. Bad thing."
        );
    }

    #[test]
    fn odata_error_prefers_the_inner_message() {
        let e = from_response(400, None, BAD_PROPERTY);
        assert_eq!(e.code(), ErrorCode::UpstreamRejected);
        assert!(
            e.to_string()
                .contains("HTTP 400): Could not find a property named 'Foo'"),
            "{e}"
        );
        let both = r#"{"error":{"code":"","message":"Write failed for table row of type 'CustCustomerV3Entity'.","innererror":{"message":"Customer group 99 does not exist.","type":"X"}}}"#;
        assert_eq!(
            message_of(400, both),
            "Write failed for table row of type 'CustCustomerV3Entity'. (Customer group 99 does not exist.)"
        );
        let outer_only =
            r#"{"error":{"code":"","message":"Resource not found for the segment 'Nope'."}}"#;
        let e = from_response(404, None, outer_only);
        assert_eq!(e.code(), ErrorCode::NotFound);
        assert!(
            e.to_string()
                .contains("Resource not found for the segment 'Nope'.")
        );
        let stale = from_response(412, None, BAD_PROPERTY);
        assert!(matches!(stale, WorkerError::Conflict(_)), "{stale:?}");
        assert_eq!(stale.code(), ErrorCode::Conflict);
        assert!(stale.to_string().contains("new @odata.etag"), "{stale}");
        assert!(matches!(
            from_response(409, None, BAD_PROPERTY),
            WorkerError::Conflict(_)
        ));
        assert_eq!(
            from_response(422, None, BAD_PROPERTY).code(),
            ErrorCode::UpstreamRejected
        );
    }

    #[test]
    fn authentication_failures() {
        let body = r#"{"Message":"Authentication failed.","ExceptionType":"System.UnauthorizedAccessException"}"#;
        let e = from_response(401, None, body);
        assert_eq!(e.code(), ErrorCode::UpstreamAuth);
        assert!(
            e.to_string().contains("(HTTP 401): Authentication failed."),
            "{e}"
        );
        assert_eq!(from_response(403, None, "").code(), ErrorCode::UpstreamAuth);
    }

    #[test]
    fn gateway_html_is_unavailable() {
        let html = "<!DOCTYPE html><html><head><TITLE>502 - Web server received an invalid \
                    response</TITLE></head><body>...</body></html>";
        let e = from_response(502, None, html);
        assert_eq!(e.code(), ErrorCode::UpstreamUnavailable);
        assert!(
            e.to_string()
                .contains("502 - Web server received an invalid response"),
            "{e}"
        );
        assert!(message_of(503, "<html><body>down</body></html>").contains("HTML error page"));
    }

    #[test]
    fn throttling_keeps_retry_after() {
        let retry = parse_retry_after(Some(" 7 "));
        assert_eq!(retry, Some(Duration::from_secs(7)));
        let e = from_response(429, retry, "");
        assert_eq!(e.code(), ErrorCode::Throttled);
        assert_eq!(e.to_failure().retry_after, Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(None), None);
        assert_eq!(parse_retry_after(Some("soon")), None);
        assert_eq!(parse_retry_after(Some("-3")), None);
    }

    #[test]
    fn retry_after_may_be_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let later = Some("Wed, 21 Oct 2015 07:28:09 GMT");
        assert_eq!(retry_after_at(later, now), Some(Duration::from_secs(9)));
        // The obsolete forms RFC 9110 still asks a recipient to read.
        let rfc850 = Some("Wednesday, 21-Oct-15 07:28:09 GMT");
        assert_eq!(retry_after_at(rfc850, now), Some(Duration::from_secs(9)));
        // Past: retry in a moment, never a zero-length window.
        let past = Some("Wed, 21 Oct 2015 07:27:00 GMT");
        assert_eq!(retry_after_at(past, now), Some(Duration::from_secs(1)));
    }

    #[test]
    fn a_5xx_part_with_a_validation_message_is_a_refusal() {
        let duplicate = r#"{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Write failed for table row of type 'CurrencyEntity'. Infolog: Warning: Cannot create a record in Currency (Currency). Currency: EUR. The record already exists..","type":"Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException","stacktrace":""}}}"#;
        let e = from_part(500, None, duplicate);
        assert_eq!(e.code(), ErrorCode::UpstreamRejected, "{e}");
        assert!(e.to_string().contains("The record already exists"), "{e}");
        // By its words alone, whatever the exception's type.
        let worded = r#"{"error":{"code":"","message":"Write failed for table row of type 'X'. Infolog: Error: field must be filled in."}}"#;
        assert_eq!(
            from_part(500, None, worded).code(),
            ErrorCode::UpstreamRejected
        );
        // An outage stays one: a gateway's page, an empty body, a generic
        // error without a validation message.
        let generic = r#"{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Object reference not set to an instance of an object.","type":"System.NullReferenceException"}}}"#;
        for body in ["", "<html><title>500</title></html>", generic] {
            assert_eq!(
                from_part(500, None, body).code(),
                ErrorCode::UpstreamUnavailable,
                "{body}"
            );
        }
        // Outside a 5xx nothing changes.
        assert_eq!(
            from_part(400, None, duplicate).code(),
            ErrorCode::UpstreamRejected
        );
        assert_eq!(from_part(404, None, duplicate).code(), ErrorCode::NotFound);
    }

    #[test]
    fn a_byte_order_mark_before_json_is_skipped() {
        let body = format!("\u{feff}{BAD_PROPERTY}");
        assert!(message_of(400, &body).starts_with("Could not find a property named 'Foo'"));
        assert!(is_refusal(&format!(
            "\u{feff}{}",
            r#"{"error":{"message":"x","innererror":{"message":"y","type":"AxODataDeleteException"}}}"#
        )));
        assert_eq!(without_bom("\u{feff}{}"), "{}");
        assert_eq!(without_bom("{}"), "{}");
    }

    #[test]
    fn odd_bodies_never_panic_and_are_cut() {
        let long = "x".repeat(5000);
        assert!(message_of(400, &long).len() < 400);
        assert!(message_of(400, "").contains("empty body"));
        assert!(message_of(400, "<title>").contains("HTML"));
        assert!(message_of(400, "<title></title>").contains("HTML"));
        assert_eq!(message_of(400, r#"{"error":{}}"#), "no message");
    }
}
