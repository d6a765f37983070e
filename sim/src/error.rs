//! [`SimError`]: everything a request can get wrong, rendered as the error
//! body D365FO sends:
//! `{"error":{"code":"","message":…,"innererror":{"message":…,"type":…,"stacktrace":""}}}`.
//!
//! D365FO's OData stack is ASP.NET Web API over Microsoft.OData.Core; the
//! messages below are that stack's wording, so clients that match on them
//! (or show them to a person) see what production would say.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::json;

/// The .NET exception type named in `innererror.type` for query errors.
pub const ODATA_EXCEPTION: &str = "Microsoft.OData.ODataException";
/// The .NET exception type for a path segment that names nothing.
pub const UNRECOGNIZED_PATH_EXCEPTION: &str =
    "Microsoft.OData.UriParser.ODataUnrecognizedPathException";

/// A failed simulator request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A query option (`$filter`, `$select`, `$top`, …) could not be parsed
    /// or bound; 400. The message is Microsoft.OData.Core's.
    #[error("The query specified in the URI is not valid. {0}")]
    InvalidQuery(String),
    /// The entity key in the path is malformed or names the wrong
    /// properties; 400.
    #[error("{0}")]
    InvalidKey(String),
    /// A path segment names no entity set or operation; 404.
    #[error("Resource not found for the segment '{0}'.")]
    SegmentNotFound(String),
    /// A well-formed key that matches no row; 404.
    #[error("No resources were found for the key in segment '{0}'.")]
    EntityNotFound(String),
    /// A label id the metadata API does not know: 404 with an empty body,
    /// as D365FO's `/Metadata/Labels` answers (recorded from real
    /// environments), unlike the OData routes' 404s.
    #[error("label not found")]
    LabelNotFound,
    /// Nothing is routed at this URL for this method; 404.
    #[error("No HTTP resource was found that matches the request URI '{0}'.")]
    NoResource(String),
    /// An error raised by the application (a failed write, a stale ETag, a
    /// malformed batch): `message` outside, `inner` and the .NET exception
    /// type `kind` in `innererror`, sent with `status`.
    #[error("{message}")]
    App {
        /// HTTP status.
        status: StatusCode,
        /// `error.message`.
        message: String,
        /// `error.innererror.message`.
        inner: String,
        /// `error.innererror.type`.
        kind: &'static str,
    },
}

impl SimError {
    /// The HTTP status this error is sent with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidQuery(_) | Self::InvalidKey(_) => StatusCode::BAD_REQUEST,
            Self::App { status, .. } => *status,
            Self::SegmentNotFound(_)
            | Self::EntityNotFound(_)
            | Self::NoResource(_)
            | Self::LabelNotFound => StatusCode::NOT_FOUND,
        }
    }

    /// `innererror.message`: the exception's own message, without the
    /// Web API prefix the outer message may carry.
    fn inner_message(&self) -> String {
        match self {
            Self::InvalidQuery(m) | Self::InvalidKey(m) => m.clone(),
            Self::App { inner, .. } => inner.clone(),
            Self::NoResource(_) => "No route data was found for this request.".to_owned(),
            other => other.to_string(),
        }
    }

    fn inner_type(&self) -> &'static str {
        match self {
            Self::SegmentNotFound(_) => UNRECOGNIZED_PATH_EXCEPTION,
            Self::NoResource(_) => "",
            Self::App { kind, .. } => kind,
            _ => ODATA_EXCEPTION,
        }
    }

    /// The JSON error body D365FO would send.
    pub fn body(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(r#"{"error":{"code":"","message":"#);
        json::push_str(&mut out, &self.to_string());
        out.push_str(r#","innererror":{"message":"#);
        json::push_str(&mut out, &self.inner_message());
        out.push_str(r#","type":"#);
        json::push_str(&mut out, self.inner_type());
        out.push_str(r#","stacktrace":""}}}"#);
        out
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        if self == Self::LabelNotFound {
            return StatusCode::NOT_FOUND.into_response();
        }
        let mut response = (self.status(), self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; odata.metadata=minimal"),
        );
        headers.insert("odata-version", HeaderValue::from_static("4.0"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_d365_shape() {
        let e = SimError::InvalidQuery("Syntax error at position 3 in 'a b'.".into());
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.body(),
            concat!(
                r#"{"error":{"code":"","message":"The query specified in the URI is not valid. "#,
                r#"Syntax error at position 3 in 'a b'.","innererror":{"message":"#,
                r#""Syntax error at position 3 in 'a b'.","type":"Microsoft.OData.ODataException","#,
                r#""stacktrace":""}}}"#
            )
        );
    }

    #[test]
    fn unknown_segment_is_404() {
        let e = SimError::SegmentNotFound("Nope".into());
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert!(
            e.body()
                .contains("Resource not found for the segment 'Nope'.")
        );
    }
}
