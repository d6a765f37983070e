//! Write safety: a request id is executed once across workers, a write
//! whose answer is lost says its outcome is unknown (and is not retried),
//! and only a 429 sends a write again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{Router, extract::State, http::header, response::IntoResponse};
use common::store::{MemoryStore, SharedStore};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{BATCH, CREATE, QUERY, SimEnv, UPDATE, assert_failure, customer_key, customer_path};
use crate::{call, config, fixture::Fixture, request, worker};

fn with_id(tool: &str, id: &str, args: serde_json::Value) -> common::proto::CallToolRequest {
    let mut req = request(tool, args);
    req.request_id = id.into();
    req
}

#[tokio::test]
async fn a_request_id_runs_once_across_workers() {
    let env = SimEnv::start().await;
    let args = json!({"entity_set": "CustomersV3",
                      "fields": {"CustomerAccount": "US-960", "CustomerGroupId": "10"}});
    let first = env
        .call_with(&env.worker, with_id(CREATE, "failover-1", args.clone()))
        .await;
    assert_eq!(first.ok()["key"], customer_key("usmf", "US-960"));
    // Take the record away behind the worker's back: if the retry reached
    // the simulator, it would be created again.
    let url = format!(
        "{}{}",
        env.base.as_str().trim_end_matches('/'),
        customer_path("usmf", "US-960")
    );
    let res = env.http.request(Method::DELETE, url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // The edge hands the same call to another worker after a failover.
    let other = env.second_worker();
    let again = env
        .call_with(&other, with_id(CREATE, "failover-1", args.clone()))
        .await;
    assert_failure(
        &again,
        "conflict",
        &["already executed once", "applied it then", "not sent again"],
    );
    assert!(!again.failure().retryable);
    let (status, _) = env.sim_get(&customer_path("usmf", "US-960")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the second execution never reached D365FO"
    );

    // Batches and updates are guarded the same way; reads are not.
    let batch = json!({"operations": [{"op": "delete", "entity_set": "CustomersV3", "key": customer_key("usmf", "US-004")}]});
    env.call_with(&env.worker, with_id(BATCH, "failover-2", batch.clone()))
        .await
        .ok();
    let again = env
        .call_with(&other, with_id(BATCH, "failover-2", batch))
        .await;
    assert_failure(&again, "conflict", &["already executed once"]);
    let update = json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-005"), "fields": {"CreditLimit": 1}});
    env.call_with(&env.worker, with_id(UPDATE, "failover-3", update.clone()))
        .await
        .ok();
    assert_failure(
        &env.call_with(&other, with_id(UPDATE, "failover-3", update))
            .await,
        "conflict",
        &["already executed once"],
    );
    let query = json!({"entity_set": "CustomersV3", "top": 1});
    env.call_with(&env.worker, with_id(QUERY, "read-1", query.clone()))
        .await
        .ok();
    env.call_with(&other, with_id(QUERY, "read-1", query))
        .await
        .ok();

    // A refused write is recorded as refused: nothing changed.
    let dup = json!({"entity_set": "CustomersV3", "fields": {"CustomerAccount": "US-001", "CustomerGroupId": "10"}});
    env.call_with(&env.worker, with_id(CREATE, "failover-4", dup.clone()))
        .await
        .failure();
    let again = env
        .call_with(&other, with_id(CREATE, "failover-4", dup))
        .await;
    assert_failure(&again, "conflict", &["refused it then, so nothing changed"]);
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_not_retried_and_says_so() {
    let env = SimEnv::start().await;
    let create = json!({"entity_set": "CustomersV3",
                        "fields": {"CustomerAccount": "US-970", "CustomerGroupId": "10"}});
    for faults in [
        json!({"drop_rate": 1.0}),
        json!({"error_502_rate": 1.0}),
        json!({"error_500_rate": 1.0}),
    ] {
        env.faults(faults.clone()).await;
        let called = env.call(CREATE, create.clone()).await;
        assert_failure(
            &called,
            "outcome_unknown",
            &["outcome of this write is unknown", "read the record"],
        );
        assert!(!called.failure().retryable, "{faults}");
    }
    // A read under the same faults is a plain, retryable failure.
    let called = env
        .call(QUERY, json!({"entity_set": "CustomersV3", "top": 1}))
        .await;
    assert_eq!(called.failure().code, "upstream_unavailable");
    assert!(called.failure().retryable);

    // An answer slower than the call's deadline: the write is cut first,
    // with the outcome-unknown error rather than a retryable deadline error.
    env.faults(json!({"latency": {"fixed_ms": 3000}})).await;
    let mut req = request(CREATE, create.clone());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    req.deadline_unix_ms = u64::try_from((now + Duration::from_millis(1200)).as_millis()).unwrap();
    let called = env.call_with(&env.worker, req).await;
    assert_failure(
        &called,
        "outcome_unknown",
        &["outcome of this write is unknown", "did not answer within"],
    );
    env.faults(json!({})).await;
}

#[tokio::test]
async fn only_a_429_sends_a_write_again() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let called = call(
        &worker,
        request(
            CREATE,
            json!({"entity_set": "Throttled", "fields": {"Id": 1}}),
        ),
    )
    .await;
    called.ok();
    let posts = fx.seen_path("/data/Throttled");
    assert_eq!(posts.len(), 2, "sent again after the 429");
    assert!(posts.iter().all(|s| s.method == Method::POST));

    let called = call(
        &worker,
        request(CREATE, json!({"entity_set": "Broken", "fields": {"Id": 1}})),
    )
    .await;
    assert_failure(
        &called,
        "outcome_unknown",
        &["outcome of this write is unknown", "502"],
    );
    assert_eq!(
        fx.seen_path("/data/Broken").len(),
        1,
        "a 502 to a write is not retried"
    );
}

#[tokio::test]
async fn a_write_that_cannot_connect_was_not_sent() {
    // A port nobody listens on: the connection is refused before anything
    // is sent, so the write is safe to retry and the error says so.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let worker = worker(&base);
    let called = call(
        &worker,
        request(
            CREATE,
            json!({"entity_set": "CustomersV3", "fields": {"A": 1}}),
        ),
    )
    .await;
    assert_failure(
        &called,
        "upstream_unavailable",
        &["cannot connect", "the write was not sent"],
    );
    assert!(called.failure().retryable);
}

#[tokio::test]
async fn a_replayed_batch_says_what_its_writes_did() {
    let env = SimEnv::start().await;
    let other = env.second_worker();
    // Every write refused: a rolled-back changeset and a duplicate key. The
    // `$batch` itself is answered 200, but nothing changed.
    let refused = json!({"operations": [
        {"op": "create", "entity_set": "CustomerGroups", "changeset": "a",
         "fields": {"CustomerGroupId": "83", "Description": "Rolled back"}},
        {"op": "create", "entity_set": "CustomersV3", "changeset": "a",
         "fields": {"CustomerAccount": "US-961", "CustomerGroupId": "99"}},
        {"op": "create", "entity_set": "CustomersV3",
         "fields": {"CustomerAccount": "US-001", "CustomerGroupId": "10"}},
        {"op": "get", "entity_set": "CustomersV3", "key": customer_key("usmf", "US-001")}
    ]});
    let first = env
        .call_with(
            &env.worker,
            with_id(BATCH, "batch-refused", refused.clone()),
        )
        .await;
    assert_eq!(first.ok()["failed"], 3, "{}", first.ok());
    let again = env
        .call_with(&other, with_id(BATCH, "batch-refused", refused))
        .await;
    assert_failure(
        &again,
        "conflict",
        &[
            "already executed once",
            "refused it then, so nothing changed",
        ],
    );

    // One write applied among refused ones: applied.
    let mixed = json!({"operations": [
        {"op": "create", "entity_set": "CustomersV3",
         "fields": {"CustomerAccount": "US-001", "CustomerGroupId": "10"}},
        {"op": "create", "entity_set": "CustomersV3",
         "fields": {"CustomerAccount": "US-962", "CustomerGroupId": "10"}}
    ]});
    let first = env
        .call_with(&env.worker, with_id(BATCH, "batch-mixed", mixed.clone()))
        .await;
    assert_eq!(first.ok()["succeeded"], 1, "{}", first.ok());
    let again = env
        .call_with(&other, with_id(BATCH, "batch-mixed", mixed))
        .await;
    assert_failure(&again, "conflict", &["applied it then"]);
}

/// A `$batch` endpoint that answers 200 with an answer the worker cannot
/// fully use: unreadable when the request names `Garbled`, else one part
/// only, whatever was asked. Counts the batches it sees.
async fn half_answering_batch() -> (url::Url, Arc<AtomicUsize>) {
    async fn answer(State(seen): State<Arc<AtomicUsize>>, body: String) -> impl IntoResponse {
        seen.fetch_add(1, Ordering::SeqCst);
        if body.contains("Garbled") {
            return (
                [(header::CONTENT_TYPE, "text/plain")],
                "not a batch".to_owned(),
            );
        }
        let part = "--batchresponse_x\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
                    HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\r\n\
                    {\"Id\":1}\r\n--batchresponse_x--\r\n";
        (
            [(
                header::CONTENT_TYPE,
                "multipart/mixed; boundary=batchresponse_x",
            )],
            part.to_owned(),
        )
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let app = Router::new().fallback(answer).with_state(Arc::clone(&seen));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

#[tokio::test]
async fn a_replayed_batch_whose_answer_was_not_all_understood_is_unknown() {
    let (base, seen) = half_answering_batch().await;
    let store: SharedStore = Arc::new(MemoryStore::new());
    let first = ::worker::Worker::new(config(&base), Arc::clone(&store)).unwrap();
    let second = ::worker::Worker::new(config(&base), Arc::clone(&store)).unwrap();
    let create = |id: u64| json!({"op": "create", "entity_set": "Things", "fields": {"Id": id}});

    // Two writes, one answer: the second write's outcome is unknown.
    let partial = json!({"operations": [create(1), create(2)]});
    let called = call(&first, with_id(BATCH, "batch-partial", partial.clone())).await;
    let out = called.ok();
    assert_eq!(out["results"][0]["ok"], true, "{out}");
    assert_eq!(
        out["results"][1]["error"]["code"], "outcome_unknown",
        "{out}"
    );
    let again = call(&second, with_id(BATCH, "batch-partial", partial)).await;
    assert_failure(
        &again,
        "conflict",
        &["already executed once", "outcome is unknown"],
    );

    // An answer that cannot be read at all.
    let garbled = json!({"operations": [
        {"op": "create", "entity_set": "Garbled", "fields": {"Id": 1}}
    ]});
    let called = call(&first, with_id(BATCH, "batch-garbled", garbled.clone())).await;
    assert_failure(&called, "outcome_unknown", &["could not be read"]);
    let again = call(&second, with_id(BATCH, "batch-garbled", garbled)).await;
    assert_failure(
        &again,
        "conflict",
        &["already executed once", "outcome is unknown"],
    );

    assert_eq!(seen.load(Ordering::SeqCst), 2, "no replay reached D365FO");
}
