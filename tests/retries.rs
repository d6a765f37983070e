//! Cluster tests: a write resent within a session is one write. The edge
//! derives the key from the session, the JSON-RPC id, the tool and its
//! arguments; D365FO (the simulator) sees the write once and both answers
//! carry the first result. Outside a session, or with the window at 0,
//! identical calls are separate writes.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{
    Cluster,
    cluster::sim_requests,
    mcp,
    raw::{self, answer, tool_call},
    sse::SseReader,
};

const CREATE: &str = "d365fo_create_entity_record";
const WITHIN: Duration = Duration::from_secs(15);

fn currency(code: &str) -> Value {
    json!({"entity_set": "Currencies", "fields": {"CurrencyCode": code, "Name": "Resent"}})
}

/// How many creates of a currency reached the simulator.
async fn creates(cluster: &Cluster) -> u64 {
    sim_requests(&cluster.sim.url()).await["by_path"]["/data/Currencies"]
        .as_u64()
        .unwrap_or(0)
}

/// Sends a create of `code` with JSON-RPC id `id` in `session`; returns
/// the answer's result.
async fn create_in(url: &str, session: &str, id: u64, code: &str) -> Value {
    let call = tool_call(id, CREATE, currency(code), json!({}));
    let (status, events) = raw::request(url, session, None, &call).await;
    assert_eq!(status, 200, "{events:?}");
    let answer = answer(&events);
    assert_eq!(answer["id"], id, "{answer}");
    answer["result"].clone()
}

#[tokio::test]
async fn a_write_resent_in_a_session_reaches_d365fo_once() {
    let cluster = Cluster::builder().start().await;
    let url = cluster.mcp_url(0);
    let (a, b) = (raw::open(&url, None).await, raw::open(&url, None).await);

    let first = create_in(&url, &a, 5, "ZZE").await;
    assert_eq!(first["isError"], false, "{first}");
    let resent = create_in(&url, &a, 5, "ZZE").await;
    assert_eq!(
        resent, first,
        "the resend is answered from the first attempt"
    );
    assert_eq!(creates(&cluster).await, 1, "D365FO saw the create once");

    // The same id with other arguments is another request, so a new write.
    let other = create_in(&url, &a, 5, "ZZF").await;
    assert_eq!(other["isError"], false, "{other}");
    assert_eq!(creates(&cluster).await, 2);

    // The same id and arguments in another session is another request too
    // (D365FO refuses the duplicate currency, but it was sent).
    create_in(&url, &b, 5, "ZZE").await;
    assert_eq!(creates(&cluster).await, 3);

    // Stateless (2026-07-28) calls have no session to scope their ids:
    // identical calls without a key are two writes.
    for _ in 0..2 {
        let call = mcp::stateless_call(&url, CREATE, currency("ZZG"), json!({}));
        assert_eq!(call.send().await.unwrap().status(), 200);
    }
    assert_eq!(creates(&cluster).await, 5);
}

#[tokio::test]
async fn a_write_resent_in_a_legacy_session_reaches_d365fo_once() {
    let cluster = Cluster::builder().start().await;
    let edge = cluster.edges[0].url();
    let mut stream = SseReader::get(&format!("{edge}/sse"), &[]).await;
    let (name, endpoint) = stream.next(WITHIN).await;
    assert_eq!(name, "endpoint");
    let post = |body: Value| {
        reqwest::Client::new()
            .post(format!("{edge}{endpoint}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "legacy-test", "version": "0"}}});
    assert_eq!(post(init).await.unwrap().status(), 202);
    assert_eq!(stream.message(WITHIN).await["id"], 1);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(initialized).await.unwrap().status(), 202);

    let mut answers = Vec::new();
    for _ in 0..2 {
        let call = tool_call(2, CREATE, currency("ZZL"), json!({}));
        assert_eq!(post(call).await.unwrap().status(), 202);
        let answer = stream.message(WITHIN).await;
        assert_eq!(answer["result"]["isError"], false, "{answer}");
        answers.push(answer["result"].clone());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(creates(&cluster).await, 1, "D365FO saw the create once");
}

#[tokio::test]
async fn with_the_window_at_zero_a_resend_is_a_new_write() {
    let cluster = Cluster::builder()
        .edge_arg("--retry-window")
        .edge_arg("0")
        .start()
        .await;
    let url = cluster.mcp_url(0);
    let session = raw::open(&url, None).await;
    create_in(&url, &session, 5, "ZZW").await;
    create_in(&url, &session, 5, "ZZW").await;
    assert_eq!(creates(&cluster).await, 2, "no key derived: two writes");
}

/// Past the window (and past the first attempt's deadline and grace, which
/// a record always outlives) a resend is no longer answered from the first
/// attempt, and its write is still not sent again: the worker's write claim
/// for the request id outlives the window and refuses it as a conflict.
#[tokio::test]
async fn past_the_window_a_resend_is_refused_not_sent_again() {
    let cluster = Cluster::builder()
        .edge_arg("--retry-window")
        .edge_arg("300ms")
        .edge_arg("--call-timeout")
        .edge_arg("1s")
        .start()
        .await;
    let url = cluster.mcp_url(0);
    let session = raw::open(&url, None).await;
    let first = create_in(&url, &session, 5, "ZZX").await;
    assert_eq!(first["isError"], false, "{first}");
    let refused = support::wait_until(
        "a resend is no longer answered from the first attempt",
        Duration::from_secs(20),
        || {
            let (url, session, first) = (url.clone(), session.clone(), first.clone());
            async move {
                let answer = create_in(&url, &session, 5, "ZZX").await;
                if answer == first {
                    return Err("still answered from the first attempt".to_owned());
                }
                Ok(answer)
            }
        },
    )
    .await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(
        refused["_meta"]["d365mcp/error"]["code"], "conflict",
        "{refused}"
    );
    assert_eq!(creates(&cluster).await, 1, "D365FO saw the create once");
}
