//! The trace context D365FO's endpoints received: the `traceparent` (and
//! `tracestate`) of recent requests, so a test can prove that one trace id
//! crossed the cluster from the MCP client to here.
//!
//! `GET /_sim/traces?trace_id=HEX&after=SEQ` lists the requests after
//! sequence number `SEQ` (default 0) that carried a `traceparent`, oldest
//! first, only those of trace `HEX` when given: `{"requests": [{"seq",
//! "method", "path", "traceparent", "tracestate"}], "last": SEQ,
//! "dropped": N}`. Values are recorded as received, valid or not: the
//! simulator observes, the worker is what is tested.
//!
//! Bounded: the newest [`MAX_KEPT`] requests are kept (older ones counted
//! in `dropped`), paths are cut at [`MAX_PATH`] characters without their
//! query (filters may hold personal data), and header values at
//! [`MAX_VALUE`] bytes, so the ring holds well under 2 MiB whatever
//! clients send. A request without a `traceparent` costs one header
//! lookup.

use std::collections::VecDeque;

use axum::http::{HeaderMap, Method};
use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use serde::Serialize;

/// Most requests kept.
pub const MAX_KEPT: usize = 1024;
/// Longest path kept, in characters.
pub const MAX_PATH: usize = 256;
/// Longest header value kept, in bytes (a `tracestate` may have 512).
pub const MAX_VALUE: usize = 600;

/// One request that carried a `traceparent`.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub traceparent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// What `GET /_sim/traces` answers.
#[derive(Debug, Serialize)]
pub struct Page {
    pub requests: Vec<Seen>,
    /// The sequence number of the newest request recorded so far.
    pub last: u64,
    /// Requests forgotten to stay within [`MAX_KEPT`].
    pub dropped: u64,
}

/// The ring of recent requests with trace context.
#[derive(Debug, Default)]
pub(crate) struct Traces {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    kept: VecDeque<Seen>,
    last: u64,
    dropped: u64,
}

impl Traces {
    /// Records the request when it carries a `traceparent`.
    pub fn record(&self, method: &Method, path: &str, headers: &HeaderMap) {
        let Some(traceparent) = headers.get("traceparent") else {
            return;
        };
        let value = |v: &axum::http::HeaderValue| {
            let text = String::from_utf8_lossy(v.as_bytes());
            cut(&text, MAX_VALUE)
        };
        let traceparent = value(traceparent);
        let tracestate = headers.get("tracestate").map(value);
        let path: String = percent_decode_str(path)
            .decode_utf8_lossy()
            .chars()
            .take(MAX_PATH)
            .collect();
        let mut inner = self.inner.lock();
        inner.last += 1;
        let seen = Seen {
            seq: inner.last,
            method: method.as_str().to_owned(),
            path,
            traceparent,
            tracestate,
        };
        if inner.kept.len() == MAX_KEPT {
            inner.kept.pop_front();
            inner.dropped += 1;
        }
        inner.kept.push_back(seen);
    }

    /// The requests after `after`, of `trace_id` (32 hex digits, any case)
    /// only when given.
    pub fn page(&self, after: u64, trace_id: Option<&str>) -> Page {
        let wanted = trace_id.map(str::to_ascii_lowercase);
        let inner = self.inner.lock();
        let requests = inner
            .kept
            .iter()
            .filter(|s| s.seq > after)
            .filter(|s| {
                wanted
                    .as_deref()
                    .is_none_or(|id| s.traceparent.split('-').nth(1) == Some(id))
            })
            .cloned()
            .collect();
        Page {
            requests,
            last: inner.last,
            dropped: inner.dropped,
        }
    }

    /// Forgets every request (sequence numbers go on).
    pub fn reset(&self) {
        let mut inner = self.inner.lock();
        inner.kept.clear();
        inner.dropped = 0;
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const B: &str = "00-11111111111111111111111111111111-2222222222222222-00";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn records_requests_with_a_traceparent_and_filters_by_trace() {
        let traces = Traces::default();
        traces.record(&Method::GET, "/data/X", &headers(&[]));
        traces.record(
            &Method::GET,
            "/data/Customers%20V3",
            &headers(&[("traceparent", A), ("tracestate", "a=1")]),
        );
        traces.record(&Method::POST, "/data/Y", &headers(&[("traceparent", B)]));
        let all = traces.page(0, None);
        assert_eq!(all.last, 2, "a request without one is not counted");
        assert_eq!(all.requests.len(), 2);
        assert_eq!(all.requests[0].path, "/data/Customers V3");
        assert_eq!(all.requests[0].tracestate.as_deref(), Some("a=1"));
        let one = traces.page(0, Some("0AF7651916CD43DD8448EB211C80319C"));
        assert_eq!(one.requests.len(), 1);
        assert_eq!(one.requests[0].traceparent, A);
        assert_eq!(traces.page(1, None).requests[0].method, "POST");
        traces.reset();
        assert!(traces.page(0, None).requests.is_empty());
    }

    #[test]
    fn the_ring_and_its_values_are_bounded() {
        let traces = Traces::default();
        let long = format!("{A}{}", "x".repeat(10_000));
        let path = format!("/data/{}", "p".repeat(10_000));
        for _ in 0..MAX_KEPT + 3 {
            traces.record(&Method::GET, &path, &headers(&[("traceparent", &long)]));
        }
        let page = traces.page(0, None);
        assert_eq!(page.requests.len(), MAX_KEPT);
        assert_eq!(page.dropped, 3);
        assert_eq!(page.requests[0].seq, 4);
        assert_eq!(page.requests[0].traceparent.len(), MAX_VALUE);
        assert_eq!(page.requests[0].path.chars().count(), MAX_PATH);
    }
}
