//! The test support's SSE body reader, `support::raw::events`, on a fixed
//! stream and on arbitrary input. (`support::sse::SseReader` reads its
//! stream with the load test's `EventReader`, whose property tests, chunk
//! splits included, live beside it in loadtest/src/client/sse.rs.)

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proptest::prelude::*;
use serde_json::{Value, json};
use support::raw;

/// Events as the edge writes them: a log line with characters of two,
/// three and four bytes, a keep-alive, a priming event without data, the
/// answer.
const EVENTS: [&str; 4] = [
    "id: s1-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"Zürich — 東京 🚀\"}}\n\n",
    ": keep-alive\n\n",
    "id: s1-2\ndata:\n\n",
    "id: s1-3\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
];

fn read(body: &str) -> Vec<(Option<String>, Option<Value>)> {
    raw::events(body)
        .into_iter()
        .map(|e| (e.id, e.message))
        .collect()
}

#[test]
fn a_stream_reads_as_its_events() {
    let events = raw::events(&EVENTS.concat());
    let ids: Vec<Option<&str>> = events.iter().map(|e| e.id.as_deref()).collect();
    assert_eq!(ids, [Some("s1-1"), Some("s1-2"), Some("s1-3")]);
    assert_eq!(
        events[0].message.as_ref().unwrap()["params"]["data"],
        "Zürich — 東京 🚀"
    );
    assert!(
        events[1].message.is_none(),
        "a priming event has no message"
    );
    assert_eq!(
        raw::answer(&events),
        json!({"jsonrpc": "2.0", "id": 1, "result": {}})
    );
    let plain = read(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
    assert_eq!(plain.len(), 1, "a JSON body is one event");
}

proptest! {
    #[test]
    fn a_stream_cut_between_events_reads_as_the_whole(
        cuts in proptest::collection::vec(0..=EVENTS.len(), 0..4),
    ) {
        let whole = EVENTS.concat();
        let mut ends = cuts;
        ends.sort_unstable();
        ends.push(EVENTS.len());
        let mut pieces = Vec::new();
        let mut from = 0;
        for to in ends {
            pieces.extend(read(&EVENTS[from..to].concat()));
            from = to;
        }
        prop_assert_eq!(pieces, read(&whole));
    }

    #[test]
    fn any_text_reads_without_panicking(text in any::<String>()) {
        let _ = raw::events(&text);
    }

    #[test]
    fn any_bytes_read_without_panicking(
        bytes in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\n'), Just(b':'), Just(b'{')],
            0..300,
        ),
        prefix in prop_oneof![Just(""), Just("id: 1\n"), Just("data: ")],
    ) {
        let body = format!("{prefix}{}", String::from_utf8_lossy(&bytes));
        let _ = raw::events(&body);
    }
}
