//! Confirmation before a change to existing data (issue 20), across two
//! edges on one Redis:
//!
//! - the official Python SDK 2.3.0 answers through its elicitation callback,
//!   in its default mode (2026-07-28: an `input_required` result, then a
//!   retry with the answer) and in a 2025 session (an `elicitation/create`
//!   on the call's stream, answered by a POST), behind a round-robin
//!   balancer with no stickiness;
//! - a 2025 session's question, asked on one edge's stream, is answered
//!   with a POST to the other edge, and the call goes on where it was asked;
//! - a 2026-07-28 question asked by one edge is answered on the other, and
//!   a resend of the confirmed retry is answered from the first attempt
//!   (the delete is not applied twice); an answer for other arguments is
//!   refused;
//! - a client that cannot ask its user runs the change under `auto` and is
//!   refused under `confirm`, with nothing changed.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::PathBuf, time::Duration};

use serde_json::{Value, json};
use support::haproxy::{Balanced, two_edges};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_confirms_changes_in_both_eras_through_the_balancer() {
    // Held whole: its cluster and Redis live as long as it does.
    let balanced = Balanced::start().await;
    let python = repo("target/py-clients/bin/python");
    let script = repo("tests/clients/python_confirm.py");
    let url = balanced.lb.mcp_url();
    for mode in ["auto", "legacy"] {
        let what = format!("python mcp 2.3.0 confirming, mode {mode}");
        let args = [script.to_str().unwrap(), url.as_str(), mode];
        let summary = support::json_summary(
            &what,
            python.to_str().unwrap(),
            &args,
            Duration::from_secs(90),
        )
        .await;
        assert_eq!(summary["ok"], true, "{what}: {summary}");
        // The update (yes), the delete (no) and the delete again (yes).
        assert_eq!(summary["asked"], 3, "{what}: {summary}");
    }
}

/// A 2026-07-28 `tools/call` with `extra` params (the answer and state),
/// from a client that declares elicitation when `elicits`.
async fn call(url: &str, tool: &str, arguments: &Value, elicits: bool, extra: Value) -> Value {
    let capabilities = if elicits {
        json!({"elicitation": {"form": {}}})
    } else {
        json!({})
    };
    let meta = json!({ "io.modelcontextprotocol/clientCapabilities": capabilities });
    let response = support::mcp::stateless_call_with(url, tool, arguments.clone(), meta, extra)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn answer(yes: bool, state: &Value) -> Value {
    let action = if yes { "accept" } else { "decline" };
    json!({
        "inputResponses": {"confirm": {"action": action, "content": {"confirm": yes}}},
        "requestState": state
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_question_is_answered_on_the_other_edge_and_applied_once() {
    let (cluster, _redis) = two_edges(&[]).await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));
    let key = json!({"dataAreaId": "usmf", "CustomerAccount": "CNF-EDGE"});
    let fields = json!({"dataAreaId": "usmf", "CustomerAccount": "CNF-EDGE",
                        "OrganizationName": "Confirm across edges", "CustomerGroupId": "10"});
    let create = json!({"entity_set": "CustomersV3", "fields": fields});
    let created = call(&a, "d365fo_create_entity_record", &create, true, json!({})).await;
    assert_eq!(
        created["result"]["isError"], false,
        "a create is not asked: {created}"
    );

    // Edge A asks, showing the entity and the key.
    let delete = json!({"entity_set": "CustomersV3", "key": key});
    let asked = call(&a, "d365fo_delete_entity_record", &delete, true, json!({})).await;
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let question = &result["inputRequests"]["confirm"];
    assert_eq!(question["method"], "elicitation/create", "{asked}");
    let message = question["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("Delete CustomersV3 record") && message.contains("CNF-EDGE"),
        "{message}"
    );
    let state = result["requestState"].clone();

    // An answer for another record is refused; nothing is deleted.
    let other = json!({"entity_set": "CustomersV3",
                       "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}});
    let wrong = call(
        &b,
        "d365fo_delete_entity_record",
        &other,
        true,
        answer(true, &state),
    )
    .await;
    assert_eq!(wrong["result"]["isError"], true, "{wrong}");
    assert!(wrong.to_string().contains("another call"), "{wrong}");

    // A no on edge B: nothing is deleted.
    let no = call(
        &b,
        "d365fo_delete_entity_record",
        &delete,
        true,
        answer(false, &state),
    )
    .await;
    assert_eq!(no["result"]["isError"], true, "{no}");
    assert!(no.to_string().contains("nothing was changed"), "{no}");
    let read = json!({"entity_set": "CustomersV3", "key": key});
    let still = call(&a, "d365fo_get_entity_record", &read, true, json!({})).await;
    assert_eq!(
        still["result"]["isError"], false,
        "declined, yet gone: {still}"
    );

    // A yes on edge B deletes it; the same confirmed request resent to edge
    // A gets the first answer, not a second delete (which would be a
    // not-found error).
    let yes = call(
        &b,
        "d365fo_delete_entity_record",
        &delete,
        true,
        answer(true, &state),
    )
    .await;
    assert_eq!(yes["result"]["isError"], false, "{yes}");
    let again = call(
        &a,
        "d365fo_delete_entity_record",
        &delete,
        true,
        answer(true, &state),
    )
    .await;
    assert_eq!(
        again["result"], yes["result"],
        "the resend was applied again"
    );
    let gone = call(&a, "d365fo_get_entity_record", &read, true, json!({})).await;
    assert_eq!(gone["result"]["isError"], true, "{gone}");

    // A state this server never gave is refused with a way forward.
    let forged = call(
        &a,
        "d365fo_delete_entity_record",
        &delete,
        true,
        answer(true, &json!("abc123")),
    )
    .await;
    assert!(forged.to_string().contains("asked anew"), "{forged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_ask_runs_under_auto_and_is_refused_under_confirm() {
    let update = json!({"entity_set": "CustomersV3",
                        "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"},
                        "fields": {"OrganizationName": "Autonomous"}});
    let (auto, _redis) = two_edges(&[]).await;
    let ran = call(
        &auto.mcp_url(0),
        "d365fo_update_entity_record",
        &update,
        false,
        json!({}),
    )
    .await;
    assert_eq!(
        ran["result"]["isError"], false,
        "auto runs for an agent: {ran}"
    );

    let (confirm, _redis) = two_edges(&["--confirm-writes=confirm"]).await;
    let mut refused_update = update.clone();
    refused_update["fields"]["OrganizationName"] = json!("Refused");
    let refused = call(
        &confirm.mcp_url(0),
        "d365fo_update_entity_record",
        &refused_update,
        false,
        json!({}),
    )
    .await;
    assert!(
        refused.to_string().contains("cannot ask its user"),
        "confirm refuses a client that cannot answer: {refused}"
    );
    let read = json!({"entity_set": "CustomersV3",
                      "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}});
    let record = call(
        &confirm.mcp_url(1),
        "d365fo_get_entity_record",
        &read,
        false,
        json!({}),
    )
    .await;
    assert_eq!(record["result"]["isError"], false, "{record}");
    let name = &record["result"]["structuredContent"]["record"]["OrganizationName"];
    assert_ne!(name, "Refused", "a refused update was applied: {record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_question_is_answered_through_the_other_edge() {
    use support::{raw, sse::SseReader};
    let (cluster, _redis) = two_edges(&[]).await;
    let (a, b) = (cluster.mcp_url(0), cluster.mcp_url(1));
    let session = raw::open_with(&a, None, json!({"elicitation": {"form": {}}})).await;
    let update = json!({"entity_set": "CustomersV3",
                        "key": {"dataAreaId": "usmf", "CustomerAccount": "US-002"},
                        "fields": {"OrganizationName": "Asked on A, answered on B"}});
    let call = raw::tool_call(7, "d365fo_update_entity_record", update, json!({}));
    let response = raw::post(&a, Some(&session), None, &call)
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(response);
    let asked = stream.message(Duration::from_secs(20)).await;
    assert_eq!(asked["method"], "elicitation/create", "{asked}");
    let message = asked["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("US-002") && message.contains("OrganizationName"),
        "{message}"
    );
    let yes = json!({"jsonrpc": "2.0", "id": asked["id"],
                     "result": {"action": "accept", "content": {"confirm": true}}});
    let answered = raw::post(&b, Some(&session), None, &yes)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 202, "the other edge takes the answer");
    let result = stream.message(Duration::from_secs(20)).await;
    assert_eq!(result["id"], 7, "{result}");
    assert_eq!(result["result"]["isError"], false, "{result}");
}
