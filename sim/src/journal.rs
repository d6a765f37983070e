//! The write journal: every write that reached D365FO's handlers, in order,
//! with its answer — what a chaos run audits to prove that no write was
//! lost, applied twice, or applied while its client heard it failed.
//!
//! Off unless asked for (`--journal`, `SIM_JOURNAL`): a benchmark pays
//! nothing for it. When on, every `POST`, `PATCH`, `PUT`, `MERGE` and
//! `DELETE` to `/data` that passed the gate (auth, throttling, injected
//! faults: a request refused there never reached the application, so it is
//! not a write) is recorded when its handler answers, with the status, so
//! that an entry with a 2xx status is a write D365FO applied. With
//! `--finish-abandoned` that includes requests whose caller went away.
//!
//! `GET /_sim/journal?after=SEQ&limit=N` pages through the entries after
//! sequence number `SEQ` (default 0; the first entry is 1), at most `N`
//! (default and most [`MAX_PAGE`]): `{"entries": [{"seq", "method", "path",
//! "status", "body", "traceparent"}], "last": SEQ, "dropped": N}`. `body`
//! is the request body as text, cut at [`MAX_BODY`] bytes: auditors search
//! it for the marker their write carried (a key, a field value), which
//! works for JSON and `$batch` bodies alike. `traceparent` is the W3C trace
//! context header the write came with (absent without one; cut at
//! [`MAX_TRACEPARENT`] bytes), so an audit can follow a write to the MCP
//! call that made it.
//!
//! Bounded: at most [`MAX_ENTRIES`] entries are kept, the oldest dropped
//! first (counted in `dropped`), and bodies longer than [`MAX_BODY`] are
//! cut, so the journal holds at most about 200 MiB whatever clients send.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use serde::Serialize;

/// Most entries kept.
pub const MAX_ENTRIES: usize = 100_000;
/// Most body bytes kept per entry.
pub const MAX_BODY: usize = 2048;
/// Most entries one page returns.
pub const MAX_PAGE: usize = 10_000;
/// Largest body a journaled request may have: one the application would
/// accept anyway (D365FO refuses far smaller `$batch` bodies).
const MAX_READ: usize = 64 * 1024 * 1024;
/// Longest path kept.
const MAX_PATH: usize = 1024;
/// Longest `traceparent` kept (a valid one has 55 bytes).
pub const MAX_TRACEPARENT: usize = 128;

/// One write and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// The journal of one simulator (present only when journaling is on).
#[derive(Debug, Default)]
pub(crate) struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    last: u64,
    dropped: u64,
}

/// A page of the journal, as `GET /_sim/journal` answers it.
#[derive(Debug, Serialize)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// The sequence number of the newest entry recorded so far.
    pub last: u64,
    /// Entries dropped to stay within [`MAX_ENTRIES`].
    pub dropped: u64,
}

impl Journal {
    fn record(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        body: &[u8],
        traceparent: Option<&[u8]>,
    ) {
        let cut = &body[..body.len().min(MAX_BODY)];
        let traceparent = traceparent
            .map(|v| String::from_utf8_lossy(&v[..v.len().min(MAX_TRACEPARENT)]).into_owned());
        let path = percent_decode_str(path).decode_utf8_lossy();
        let path: String = path.chars().take(MAX_PATH).collect();
        let mut inner = self.inner.lock();
        inner.last += 1;
        let entry = Entry {
            seq: inner.last,
            method: method.as_str().to_owned(),
            path,
            status,
            body: String::from_utf8_lossy(cut).into_owned(),
            traceparent,
        };
        if inner.entries.len() == MAX_ENTRIES {
            inner.entries.pop_front();
            inner.dropped += 1;
        }
        inner.entries.push_back(entry);
    }

    /// At most `limit` (capped at [`MAX_PAGE`]) entries after `after`.
    pub fn page(&self, after: u64, limit: usize) -> Page {
        let inner = self.inner.lock();
        // Entries are in sequence order, so the first wanted one is found by
        // its distance from the oldest kept.
        let first = inner.entries.front().map_or(0, |e| e.seq);
        let skip =
            usize::try_from(after.saturating_add(1).saturating_sub(first)).unwrap_or(usize::MAX);
        let entries = inner
            .entries
            .iter()
            .skip(skip)
            .take(limit.min(MAX_PAGE))
            .cloned()
            .collect();
        Page {
            entries,
            last: inner.last,
            dropped: inner.dropped,
        }
    }

    /// Forgets every entry (sequence numbers go on).
    pub fn reset(&self) {
        let mut inner = self.inner.lock();
        inner.entries.clear();
        inner.dropped = 0;
    }
}

fn is_write(method: &Method) -> bool {
    [Method::POST, Method::PATCH, Method::PUT, Method::DELETE].contains(method)
        || method.as_str() == "MERGE"
}

fn is_data(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    first.eq_ignore_ascii_case("data")
}

/// The middleware that records writes into `journal`.
pub(crate) async fn record(
    State(journal): State<Arc<Journal>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_write(request.method()) || !is_data(request.uri().path()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_READ).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // The application would fail to read it as well: nothing applied.
            tracing::debug!(error = %e, "a write's body could not be read");
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
    };
    let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
    let traceparent = parts.headers.get("traceparent").cloned();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    let status = response.status().as_u16();
    let traceparent = traceparent.as_ref().map(|v| v.as_bytes());
    journal.record(&method, &path, status, &bytes, traceparent);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_in_order_and_drops_the_oldest() {
        let journal = Journal::default();
        for i in 0..5 {
            journal.record(
                &Method::POST,
                "/data/X",
                201,
                format!("{{\"i\":{i}}}").as_bytes(),
                None,
            );
        }
        let page = journal.page(0, 2);
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(page.last, 5);
        let page = journal.page(3, 100);
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [4, 5]
        );
        assert_eq!(page.entries[0].body, "{\"i\":3}");
        assert!(journal.page(5, 100).entries.is_empty());
        journal.reset();
        journal.record(&Method::PATCH, "/data/X('a%20b')", 204, b"", Some(b"00-tp"));
        let page = journal.page(0, 100);
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].seq, 6);
        assert_eq!(page.entries[0].path, "/data/X('a b')");
        assert_eq!(page.entries[0].traceparent.as_deref(), Some("00-tp"));
    }

    #[test]
    fn bodies_are_cut_and_entries_bounded() {
        let journal = Journal::default();
        let long = vec![b'0'; MAX_TRACEPARENT * 2];
        journal.record(
            &Method::POST,
            "/data/X",
            201,
            &vec![b'a'; MAX_BODY * 2],
            Some(&long),
        );
        assert_eq!(journal.page(0, 1).entries[0].body.len(), MAX_BODY);
        let kept = journal.page(0, 1).entries[0].traceparent.clone().unwrap();
        assert_eq!(kept.len(), MAX_TRACEPARENT);
        for _ in 0..MAX_ENTRIES {
            journal.record(&Method::DELETE, "/data/X", 204, b"", None);
        }
        let page = journal.page(0, MAX_PAGE + 5);
        assert_eq!(page.entries.len(), MAX_PAGE);
        assert_eq!(page.dropped, 1);
        assert_eq!(page.entries[0].seq, 2);
    }
}
