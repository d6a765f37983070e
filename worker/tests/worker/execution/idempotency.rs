//! At most once: a replayed request id reaches D365FO once, across
//! workers sharing a store; a call that may change data is never retried;
//! an error that leaves the outcome open says so. Counted at a recording
//! stand-in for D365FO (`counting`).

use std::{sync::Arc, time::Duration};

use common::store::{MemoryStore, SharedStore};
use serde_json::json;
use url::Url;
use worker::Worker;

use super::{
    ACTION, REPORT, SERVICE, assert_fails,
    counting::{Counting, action_path},
    reports::invoice,
    run, with_id,
};
use crate::{call, config};

fn pair(base: &Url) -> (Worker, Worker) {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let a = Worker::new(config(base), Arc::clone(&store)).unwrap();
    let b = Worker::new(config(base), store).unwrap();
    (a, b)
}

#[tokio::test]
async fn a_replayed_action_reaches_d365fo_once_across_workers() {
    let fx = Counting::start().await;
    let (a, b) = pair(&fx.base);
    let args = json!({"action": "Bump", "entity_set": "Counters"});

    let first = call(&a, with_id(ACTION, args.clone(), "replayed-1")).await;
    assert_eq!(first.ok()["result"], 1);
    // The edge failed over and sent the same call to another worker.
    let replay = call(&b, with_id(ACTION, args.clone(), "replayed-1")).await;
    let message = assert_fails(
        &replay,
        "conflict",
        &[
            "replayed-1",
            "already executed",
            "not sent again",
            "D365FO applied it",
        ],
    );
    assert!(!replay.failure().retryable, "{message}");
    // Even the worker that ran it refuses a second time.
    let again = call(&a, with_id(ACTION, args.clone(), "replayed-1")).await;
    assert_fails(&again, "conflict", &["already executed"]);
    assert_eq!(fx.hits(&action_path("Counters", "Bump")), 1);

    // A new call is a new request id, and runs.
    let next = call(&b, with_id(ACTION, args, "replayed-2")).await;
    assert_eq!(next.ok()["result"], 2);
}

#[tokio::test]
async fn a_replayed_service_operation_reaches_d365fo_once() {
    let fx = Counting::start().await;
    let (a, b) = pair(&fx.base);
    let args = json!({"service_group": "G", "service": "S", "operation": "Post"});
    let first = call(&a, with_id(SERVICE, args.clone(), "svc-1")).await;
    assert_eq!(first.ok()["result"], json!({"calls": 1}));
    let replay = call(&b, with_id(SERVICE, args, "svc-1")).await;
    assert_fails(&replay, "conflict", &["already executed"]);
    assert_eq!(fx.hits("/api/services/G/S/Post"), 1);
}

#[tokio::test]
async fn writes_are_never_retried_and_say_the_outcome_is_open() {
    let fx = Counting::start().await;
    let worker = super::super::worker(&fx.base);

    let action = run(
        &worker,
        ACTION,
        json!({"action": "AlwaysDown", "entity_set": "Counters"}),
    )
    .await;
    assert_fails(
        &action,
        "outcome_unknown",
        &["503", "may or may not have applied it"],
    );
    assert_eq!(fx.hits(&action_path("Counters", "AlwaysDown")), 1);

    let service = run(
        &worker,
        SERVICE,
        json!({"service_group": "Down", "service": "S", "operation": "O"}),
    )
    .await;
    assert_fails(
        &service,
        "outcome_unknown",
        &["may or may not have applied it"],
    );
    assert_eq!(fx.hits("/api/services/Down/S/O"), 1);

    // The report is a read: the same failure is retried, and it renders.
    let report = run(&worker, REPORT, invoice()).await;
    assert_eq!(report.ok()["pages"], 1);
    assert_eq!(
        fx.hits(&action_path("SrsFinanceCopilots", "RunCopilotReport")),
        2
    );
}

/// A write answered with a status that is not one of D365FO's refusals (a
/// gateway's 408) may have run: `outcome_unknown`; a 400 refused it.
#[tokio::test]
async fn only_a_refusal_says_a_write_did_not_run() {
    let fx = Counting::start().await;
    let worker = super::super::worker(&fx.base);
    let timed_out = run(
        &worker,
        ACTION,
        json!({"action": "GatewayTimeout408", "entity_set": "Counters"}),
    )
    .await;
    assert_fails(&timed_out, "outcome_unknown", &["HTTP 408", "does not say"]);
    let refused = run(
        &worker,
        ACTION,
        json!({"action": "Invalid400", "entity_set": "Counters"}),
    )
    .await;
    assert_ne!(refused.failure().code, "outcome_unknown");
    assert_eq!(fx.hits(&action_path("Counters", "GatewayTimeout408")), 1);
}

/// A write D365FO accepted (2xx) whose answer cannot be read was applied
/// as far as anyone knows: `outcome_unknown`, not a retryable failure.
#[tokio::test]
async fn an_accepted_write_with_an_unreadable_answer_has_an_unknown_outcome() {
    let fx = Counting::start().await;
    let worker = super::super::worker(&fx.base);
    let action = run(
        &worker,
        ACTION,
        json!({"action": "Garbled", "entity_set": "Counters"}),
    )
    .await;
    assert_fails(&action, "outcome_unknown", &["HTTP 200", "HTML page"]);
    assert_eq!(fx.hits(&action_path("Counters", "Garbled")), 1);
}

#[tokio::test]
async fn a_write_that_times_out_says_it_may_have_run() {
    let fx = Counting::start().await;
    let mut config = config(&fx.base);
    config.request_timeout = Duration::from_millis(300);
    let worker = Worker::standalone(config).unwrap();
    let called = run(
        &worker,
        ACTION,
        json!({"action": "Silent", "entity_set": "Counters"}),
    )
    .await;
    assert_fails(
        &called,
        "outcome_unknown",
        &["did not answer", "may or may not have applied it"],
    );
    assert_eq!(fx.hits(&action_path("Counters", "Silent")), 1);
}

#[tokio::test]
async fn a_report_that_is_not_a_pdf_is_a_bad_response() {
    let fx = Counting::start().await;
    for (prefix, message) in [
        ("text", "not a PDF (no %PDF- header)"),
        ("garbled", "not valid base64"),
    ] {
        let base = fx.base.join(prefix).unwrap();
        let worker = super::super::worker(&base);
        let called = run(&worker, REPORT, invoice()).await;
        assert_fails(
            &called,
            "upstream_unavailable",
            &["unexpected response", message],
        );
    }
}

/// A keyed write whose caller goes away mid-way (its edge died) is finished
/// by the worker, which records its result: a resend soon hears that result,
/// not "still running" until the deadline, and D365FO got one create.
#[tokio::test]
async fn a_keyed_write_whose_caller_left_is_finished_and_its_result_kept() {
    use common::executor::ToolExecutor;
    use futures::StreamExt;

    let sim = crate::simulator::Sim::start().await;
    sim.set_latency_ms(300).await;
    let store = crate::simulator::store();
    let worker = crate::simulator::worker_on(&sim.base, &store);
    let args = json!({
        "entity_set": "CustomersV3",
        "fields": {"dataAreaId": "usmf", "CustomerAccount": "LEFT-1",
                   "OrganizationName": "Caller left", "CustomerGroupId": "10"},
    });
    let request = with_id("d365fo_create_entity_record", args, "idem-left-1");
    let mut first = worker.call_tool(request.clone());
    // The caller waits 50 ms of the 300 and goes away.
    let gone = tokio::time::timeout(Duration::from_millis(50), first.next()).await;
    assert!(gone.is_err(), "the create answered within 50 ms");
    drop(first);

    let started = tokio::time::Instant::now();
    let resent = loop {
        let resent = call(&worker, request.clone()).await;
        match &resent.result {
            Err(f) if f.code == "unavailable" && f.retryable => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "still running: {f:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => break resent,
        }
    };
    let answer = resent.ok().to_string();
    assert!(answer.contains("LEFT-1"), "{answer}");
    let posts = sim.requests().await.get("/data/CustomersV3").copied();
    assert_eq!(posts, Some(1));
}
