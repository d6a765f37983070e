//! Keyed retries: answered from the first attempt, never sent again.

use std::sync::Arc;

use common::{
    ErrorCode, Failure,
    catalogue::names,
    proto::{CallToolRequest, ToolOutput, ToolResult, tool_result::Outcome},
    store::{MemoryStore, SharedStore},
};

use super::*;

fn request(id: &str, tool: &str, arguments: &str, deadline_ms: u64) -> CallToolRequest {
    CallToolRequest {
        request_id: id.into(),
        tool: tool.into(),
        arguments_json: arguments.into(),
        deadline_unix_ms: deadline_ms,
        ..CallToolRequest::default()
    }
}

fn create(arguments: &str) -> CallToolRequest {
    request(
        "idem-abc",
        names::CREATE_ENTITY_RECORD,
        arguments,
        unix_now_ms() + 60_000,
    )
}

fn output(text: &str) -> ToolResult {
    ToolResult {
        outcome: Some(Outcome::Output(ToolOutput {
            content_json: format!("[{{\"type\":\"text\",\"text\":\"{text}\"}}]"),
            structured_content_json: format!("{{\"t\":\"{text}\"}}"),
            is_error: false,
        })),
    }
}

fn failure(code: ErrorCode) -> ToolResult {
    ToolResult {
        outcome: Some(Outcome::Failure(Failure::new(code, "m").to_proto())),
    }
}

fn code_of(result: &ToolResult) -> Option<ErrorCode> {
    match &result.outcome {
        Some(Outcome::Failure(f)) => Some(Failure::from_proto(f).code),
        _ => None,
    }
}

async fn retry(store: &SharedStore, request: &CallToolRequest) -> ToolResult {
    match begin(store, request).await {
        Begin::Retry(result) => result,
        Begin::First(_) => panic!("a retry ran as a first attempt"),
        Begin::Untracked => panic!("a keyed write went untracked"),
    }
}

fn store() -> SharedStore {
    Arc::new(MemoryStore::new())
}

#[tokio::test]
async fn a_retry_gets_the_first_attempts_result() {
    let store = store();
    let first = create(r#"{"a":1}"#);
    let Begin::First(attempt) = begin(&store, &first).await else {
        panic!("the first attempt must run");
    };
    // While it runs, a retry is told to wait.
    let running = retry(&store, &first).await;
    assert_eq!(code_of(&running), Some(ErrorCode::Unavailable));
    attempt.finish(&output("made")).await;
    assert_eq!(retry(&store, &first).await, output("made"));
    // The same key for something else is refused.
    let other = retry(&store, &create(r#"{"a":2}"#)).await;
    assert_eq!(code_of(&other), Some(ErrorCode::Conflict));
}

#[tokio::test]
async fn an_unknown_outcome_is_said_again() {
    let store = store();
    let first = create("{}");
    let Begin::First(attempt) = begin(&store, &first).await else {
        panic!("the first attempt must run");
    };
    attempt.finish(&failure(ErrorCode::OutcomeUnknown)).await;
    let again = retry(&store, &first).await;
    assert_eq!(code_of(&again), Some(ErrorCode::OutcomeUnknown));
}

#[tokio::test]
async fn a_first_attempt_that_applied_nothing_lets_the_retry_run() {
    // Throttled by D365FO, or refused before sending (an open circuit
    // breaker, no write claim): nothing was applied.
    for code in [ErrorCode::Throttled, ErrorCode::Unavailable] {
        let store = store();
        let first = create("{}");
        let Begin::First(attempt) = begin(&store, &first).await else {
            panic!("the first attempt must run");
        };
        // Its write claim, as the tool made it.
        let claim = format!("{}{}", write_once::PREFIX, first.request_id);
        store
            .set(&claim, Bytes::from_static(b"{}"), None)
            .await
            .unwrap();
        attempt.finish(&failure(code)).await;
        assert!(
            store.get(&claim).await.unwrap().is_none(),
            "{code}: claim released"
        );
        assert!(
            matches!(begin(&store, &first).await, Begin::First(_)),
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_failure_that_may_hide_an_applied_write_is_unknown_to_retries() {
    for code in [
        ErrorCode::UpstreamUnavailable,
        ErrorCode::Internal,
        ErrorCode::Conflict,
    ] {
        let store = store();
        let first = create("{}");
        let claim = format!("{}{}", write_once::PREFIX, first.request_id);
        store
            .set(&claim, Bytes::from_static(b"{}"), None)
            .await
            .unwrap();
        let Begin::First(attempt) = begin(&store, &first).await else {
            panic!("the first attempt must run");
        };
        attempt.finish(&failure(code)).await;
        assert!(
            store.get(&claim).await.unwrap().is_some(),
            "{code}: claim kept"
        );
        let again = retry(&store, &first).await;
        assert_eq!(code_of(&again), Some(ErrorCode::OutcomeUnknown), "{code}");
    }
}

#[tokio::test]
async fn an_attempt_that_died_is_unknown_after_its_deadline() {
    let store = store();
    let first = request(
        "idem-x",
        names::DELETE_ENTITY_RECORD,
        "{}",
        unix_now_ms() - GRACE_MS - 1,
    );
    let Begin::First(_attempt_lost_with_its_worker) = begin(&store, &first).await else {
        panic!("the first attempt must run");
    };
    let again = retry(&store, &first).await;
    assert_eq!(code_of(&again), Some(ErrorCode::OutcomeUnknown));
}

#[tokio::test]
async fn reads_and_unkeyed_writes_are_not_tracked() {
    let store = store();
    let read = request("idem-r", names::QUERY_ENTITIES, "{}", 0);
    assert!(matches!(begin(&store, &read).await, Begin::Untracked));
    let unkeyed = request("5f0c…", names::CREATE_ENTITY_RECORD, "{}", 0);
    assert!(matches!(begin(&store, &unkeyed).await, Begin::Untracked));
}

#[test]
fn a_record_lives_as_long_as_the_edge_asks_at_most_a_day() {
    let mut request = create("{}");
    assert_eq!(record_ttl(&request), write_once::TTL, "a client's own key");
    request.replay_ttl_ms = 600_000;
    assert_eq!(record_ttl(&request), Duration::from_secs(600));
    request.replay_ttl_ms = u64::MAX;
    assert_eq!(record_ttl(&request), write_once::TTL);
    // A window shorter than the attempt may run: the record outlives the
    // attempt's deadline and grace.
    request.replay_ttl_ms = 1_000;
    request.deadline_unix_ms = crate::d365::retry::unix_now_ms() + 120_000;
    let ttl = record_ttl(&request);
    assert!(
        ttl > Duration::from_secs(120) && ttl <= Duration::from_secs(126),
        "{ttl:?}"
    );
}

#[tokio::test]
async fn a_derived_keys_record_is_forgotten_after_its_window() {
    let store = store();
    let mut first = create("{}");
    first.replay_ttl_ms = 100;
    first.deadline_unix_ms = 0;
    let Begin::First(attempt) = begin(&store, &first).await else {
        panic!("the first attempt must run");
    };
    attempt.finish(&output("made")).await;
    assert_eq!(retry(&store, &first).await, output("made"));
    // Past the window the record is gone (a resend then meets the write
    // claim, which outlives it).
    let key = format!("{PREFIX}{}", first.request_id);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.get(&key).await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the record outlived its window"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
