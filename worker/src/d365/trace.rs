//! The span of one HTTP request to D365FO, after the OpenTelemetry HTTP
//! client conventions (name `{http.request.method}`; `http.request.method`,
//! `server.address`, `server.port`, `http.response.status_code`,
//! `error.type`), and the W3C trace context the request carries.
//!
//! One span per attempt: a retried request is several exchanges with
//! D365FO, each with its own span id, so D365FO's logs (and the
//! simulator's `/_sim/traces`) tell the attempts apart. The call's trace
//! comes from the task ([`common::trace::current`], set by the executor);
//! the request sends this span's id as its parent (handed down as a
//! parameter).

use common::trace::{Planned, SpanContext};
use reqwest::{Method, RequestBuilder, header::HeaderName};
use tracing::{Span, field::Empty};
use url::Url;

use super::request::Answer;
use crate::{error::WorkerError, metrics::Sent};

/// The span of a `method` request to the environment at `base`, with
/// `planned`'s ids.
pub(super) fn span(method: &Method, base: &Url, planned: &Planned) -> Span {
    tracing::info_span!(
        "d365fo request",
        otel.name = %method,
        otel.kind = "client",
        http.request.method = %method,
        server.address = base.host_str().unwrap_or_default(),
        server.port = base.port_or_known_default(),
        http.response.status_code = Empty,
        error.type = Empty,
        otel.status_code = Empty,
        trace_id = %planned.trace_id(),
        span_id = %planned.span_id(),
    )
}

/// `request` carrying `context` (this request's span) as `traceparent`,
/// and the caller's `tracestate`.
pub(super) fn propagate(request: RequestBuilder, context: &SpanContext) -> RequestBuilder {
    // Static names: a `&str` name is parsed again on every request.
    const TRACEPARENT: HeaderName = HeaderName::from_static(common::trace::TRACEPARENT);
    const TRACESTATE: HeaderName = HeaderName::from_static(common::trace::TRACESTATE);
    let request = request.header(TRACEPARENT, context.traceparent());
    match &context.state {
        Some(state) => request.header(TRACESTATE, state.as_str()),
        None => request,
    }
}

/// Records on `span` what came back: the status (for a collector only:
/// log lines of the exchange name it, and recording it would cost every
/// request a re-encoding of the span's fields), and the error's type when
/// the exchange failed (the status for an HTTP error, else how it failed).
pub(super) fn finish(span: &Span, sent: Sent, result: &Result<Answer, WorkerError>) {
    if let Sent::Answered(status) = sent
        && common::trace::exporting()
    {
        span.record("http.response.status_code", status);
    }
    let Err(error) = result else {
        return;
    };
    let kind = match sent {
        Sent::Answered(status) if status >= 400 => {
            span.record("error.type", tracing::field::display(status));
            span.record("otel.status_code", "ERROR");
            return;
        }
        Sent::Timeout => "timeout",
        Sent::Connection => "connection",
        Sent::Answered(_) | Sent::NotSent => error.code().as_str(),
    };
    span.record("error.type", kind);
    span.record("otel.status_code", "ERROR");
}
