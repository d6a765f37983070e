//! Each tool against the fixture, through `ToolExecutor::call_tool`.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::executor::ToolExecutor;
use futures::StreamExt;
use serde_json::json;

use super::{
    ENV, call, config,
    fixture::{Fixture, WIDE_PAGE, wide_row},
    request, with_credentials, worker,
};

const QUERY: &str = "d365fo_query_entities";
const RECORD: &str = "d365fo_get_entity_record";

fn accounts(rows: &serde_json::Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["CustomerAccount"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn query_follows_next_links_verbatim_and_hands_back_a_cursor() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let first = call(
        &worker,
        request(
            QUERY,
            json!({"entity_set": "CustomersV3", "top": 5, "count": true}),
        ),
    )
    .await;
    let out = first.ok();
    assert_eq!(
        accounts(&out["rows"]),
        ["US-001", "US-002", "US-003", "US-004", "US-005"]
    );
    assert_eq!(out["returned"], 5);
    assert_eq!(out["more"], true);
    assert_eq!(out["total_count"], 7);
    // Rows are as D365FO sent them, etags included.
    assert!(out["rows"][0]["@odata.etag"].is_string());
    let cursor = out["next_cursor"].as_str().unwrap().to_owned();

    let seen = fx.seen_path("/data/CustomersV3");
    assert_eq!(seen.len(), 2, "one page of 3, then the next link");
    assert_eq!(
        seen[0].params()["$top"],
        "6",
        "one extra row tells whether more exist"
    );
    assert!(
        seen[1].raw_query.ends_with("$skiptoken=p3%2Bz"),
        "next link not followed verbatim: {}",
        seen[1].raw_query
    );

    // The content block carries the same JSON as text.
    let (content, _) = first.result.as_ref().unwrap();
    assert_eq!(content[0]["type"], "text");
    let text: serde_json::Value =
        serde_json::from_str(content[0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, out);

    let next = call(
        &worker,
        request(
            QUERY,
            json!({"entity_set": "CustomersV3", "cursor": cursor}),
        ),
    )
    .await;
    let out = next.ok();
    assert_eq!(accounts(&out["rows"]), ["US-006", "US-007"]);
    assert_eq!(out["more"], false);
    assert!(out.get("next_cursor").is_none());
    let seen = fx.seen_path("/data/CustomersV3");
    assert_eq!(seen[2].params()["$skip"], "5");
}

#[tokio::test]
async fn query_options_are_encoded_and_progress_is_reported() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let filter = "OrganizationName eq 'A&B=C' or CustomerAccount eq 'US+1'";
    let mut req = request(
        QUERY,
        json!({"entity_set": "CustomersV3", "filter": filter, "select": ["CustomerAccount", "dataAreaId"],
               "orderby": "CustomerAccount desc", "cross_company": true, "environment": ENV}),
    );
    req.want_progress = true;
    let called = call(&worker, req).await;
    assert_eq!(called.ok()["returned"], 7);
    let params = fx.seen_path("/data/CustomersV3")[0].params();
    assert_eq!(params["$filter"], filter);
    assert_eq!(params["$select"], "CustomerAccount,dataAreaId");
    assert_eq!(params["$orderby"], "CustomerAccount desc");
    assert_eq!(params["cross-company"], "true");
    assert_eq!(params["$count"], "true", "progress wants a total");
    let progress: Vec<f64> = called.progress.iter().map(|p| p.progress).collect();
    assert_eq!(progress, [3.0, 6.0, 7.0]);
    assert_eq!(called.progress[0].total, Some(7.0));
}

#[tokio::test]
async fn record_lookup_hit_and_miss() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let hit = call(
        &worker,
        request(
            RECORD,
            json!({"entity_set": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}),
        ),
    )
    .await;
    assert_eq!(hit.ok()["entity_set"], "CustomersV3");
    assert_eq!(hit.ok()["record"]["CustomerAccount"], "US-001");

    let miss = call(
        &worker,
        request(
            RECORD,
            json!({"entity_set": "CustomersV3", "key": {"Name": "O'Brien", "RecId": 5}}),
        ),
    )
    .await;
    let failure = miss.failure();
    assert_eq!(failure.code, "not_found");
    assert!(
        failure.message.contains("No resources were found"),
        "{}",
        failure.message
    );
    let last = fx.seen().pop().unwrap();
    assert_eq!(last.path, "/data/CustomersV3(Name='O''Brien',RecId=5)");
}

#[tokio::test]
async fn a_bad_filter_is_rejected_with_d365s_message() {
    let fx = Fixture::start().await;
    let called = call(
        &worker(&fx.base),
        request(
            QUERY,
            json!({"entity_set": "CustomersV3", "filter": "Foo eq 1"}),
        ),
    )
    .await;
    let failure = called.failure();
    assert_eq!(failure.code, "upstream_rejected");
    assert!(!failure.retryable);
    assert!(
        failure
            .message
            .contains("Could not find a property named 'Foo'"),
        "{}",
        failure.message
    );
    assert_eq!(fx.seen().len(), 1, "a rejection is not retried");
}

#[tokio::test]
async fn throttling_is_waited_out() {
    let fx = Fixture::start().await;
    let started = Instant::now();
    let called = call(
        &worker(&fx.base),
        request(QUERY, json!({"entity_set": "Throttled"})),
    )
    .await;
    assert_eq!(called.ok()["returned"], 1);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(fx.state.throttle_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_gateway_html_page_is_upstream_unavailable() {
    let fx = Fixture::start().await;
    let called = call(
        &worker(&fx.base),
        request(QUERY, json!({"entity_set": "Broken"})),
    )
    .await;
    let failure = called.failure();
    assert_eq!(failure.code, "upstream_unavailable");
    assert!(failure.retryable);
    assert!(failure.message.contains("HTTP 502"), "{}", failure.message);
    assert!(
        failure.message.contains("acting as a gateway"),
        "{}",
        failure.message
    );
    assert_eq!(fx.seen().len(), 3, "a 5xx read is retried twice");
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_request() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let mut stream = worker.call_tool(request(QUERY, json!({"entity_set": "Stall"})));
    let started = fx.state.stall_started.notified();
    tokio::select! {
        _ = stream.next() => panic!("the stalled call answered"),
        _ = started => {}
    }
    let dropped = fx.state.stall_dropped.notified();
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), dropped)
        .await
        .expect("the fixture still holds the request after the stream was dropped");
}

#[tokio::test]
async fn the_deadline_ends_a_stalled_call() {
    let fx = Fixture::start().await;
    let mut req = request(QUERY, json!({"entity_set": "Stall"}));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    req.deadline_unix_ms = now_ms + 300;
    let started = Instant::now();
    let called = call(&worker(&fx.base), req).await;
    assert_eq!(called.failure().code, "deadline_exceeded");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn bad_arguments_unknown_tools_and_environments() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let called = call(
        &worker,
        request(QUERY, json!({"entity_set": "CustomersV3", "top": "ten"})),
    )
    .await;
    let failure = called.failure();
    assert_eq!(failure.code, "invalid_arguments");
    assert_eq!(
        failure.message,
        "invalid arguments for d365fo_query_entities: `top` must be an integer between 1 and 10000, got \"ten\""
    );
    let called = call(
        &worker,
        request(
            QUERY,
            json!({"entity_set": "CustomersV3", "cursor": "garbage!"}),
        ),
    )
    .await;
    assert_eq!(called.failure().code, "invalid_arguments");
    let called = call(
        &worker,
        request(RECORD, json!({"entity_set": "CustomersV3", "key": {}})),
    )
    .await;
    assert_eq!(called.failure().code, "invalid_arguments");
    let called = call(
        &worker,
        request(
            QUERY,
            json!({"entity_set": "CustomersV3", "environment": "prod"}),
        ),
    )
    .await;
    let failure = called.failure();
    assert_eq!(failure.code, "invalid_arguments");
    assert!(failure.message.contains(ENV), "{}", failure.message);
    let called = call(&worker, request("d365fo_nope", json!({}))).await;
    let failure = called.failure();
    assert_eq!(failure.code, "unknown_tool");
    assert!(
        failure
            .message
            .contains("available: d365fo_test_connection"),
        "{}",
        failure.message
    );
    assert!(fx.seen().is_empty(), "bad calls reach D365FO");
}

#[tokio::test]
async fn environment_info_and_connection_test() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let info = call(&worker, request("d365fo_get_environment_info", json!({}))).await;
    assert_eq!(info.ok()["application_version"], "10.0.41");
    assert_eq!(info.ok()["platform_version"], "7.0.7279.58");
    assert_eq!(info.ok()["environment"], ENV);
    assert!(
        fx.seen()
            .iter()
            .all(|s| s.method == axum::http::Method::POST)
    );

    let test = call(
        &worker,
        request("d365fo_test_connection", json!({"environment": ENV})),
    )
    .await;
    assert_eq!(test.ok()["ok"], true);
    assert!(test.ok()["latency_ms"].as_f64().unwrap() >= 0.0);

    // Nothing listens on the port of a dropped listener.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        url::Url::parse(&format!("http://{}", l.local_addr().unwrap())).unwrap()
    };
    let test = call(
        &super::worker(&closed),
        request("d365fo_test_connection", json!({})),
    )
    .await;
    let out = test.ok();
    assert_eq!(out["ok"], false);
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("upstream_unavailable"),
        "{out}"
    );
}

#[tokio::test]
async fn tokens_are_fetched_once_and_sent() {
    let fx = Fixture::start().await;
    *fx.state.require_token.lock() = true;
    let worker = with_credentials(&fx.base);
    let calls = (0..8).map(|_| {
        call(
            &worker,
            request(QUERY, json!({"entity_set": "CustomersV3", "top": 2})),
        )
    });
    for called in futures::future::join_all(calls).await {
        assert_eq!(called.ok()["returned"], 2);
    }
    assert_eq!(
        fx.state.token_requests.load(Ordering::SeqCst),
        1,
        "not single-flight"
    );

    // Without credentials, no header is sent and D365FO's 401 maps to upstream_auth.
    let called = call(
        &super::worker(&fx.base),
        request(QUERY, json!({"entity_set": "CustomersV3"})),
    )
    .await;
    let failure = called.failure();
    assert_eq!(failure.code, "upstream_auth");
    assert!(
        failure.message.contains("Authentication failed."),
        "{}",
        failure.message
    );
    assert!(fx.seen().last().unwrap().authorization.is_none());
}

fn ids(rows: &serde_json::Value) -> Vec<u64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn results_are_cut_by_size_and_resume_exactly_after_the_last_row() {
    let fx = Fixture::start().await;
    let budget = 400_000;
    let worker = ::worker::Worker::standalone(config(&fx.base))
        .unwrap()
        .with_max_result_bytes(budget);
    let row_len = wide_row(1).to_string().len();
    let fit = budget / row_len;
    assert!(
        fit > WIDE_PAGE && fit < 2 * WIDE_PAGE,
        "the cut falls in page 2"
    );

    let first = call(
        &worker,
        request(QUERY, json!({"entity_set": "Wide", "top": 100})),
    )
    .await;
    let out = first.ok();
    let expected: Vec<u64> = (1..=fit as u64).collect();
    assert_eq!(ids(&out["rows"]), expected);
    assert_eq!(out["returned"], fit);
    assert_eq!(out["more"], true);
    assert!(
        out["note"].as_str().unwrap().contains("cut at"),
        "the cut is said: {out}"
    );
    assert!(out["rows"].to_string().len() <= budget);
    assert_eq!(
        fx.seen_path("/data/Wide").len(),
        2,
        "no page is read once the budget is full"
    );

    let cursor = out["next_cursor"].as_str().unwrap();
    let next = call(
        &worker,
        request(QUERY, json!({"entity_set": "Wide", "cursor": cursor})),
    )
    .await;
    let out = next.ok();
    let expected: Vec<u64> = (fit as u64 + 1..=2 * fit as u64).collect();
    assert_eq!(ids(&out["rows"]), expected, "nothing skipped or repeated");
    assert_eq!(
        fx.seen_path("/data/Wide")[2].params()["$skip"],
        fit.to_string()
    );

    // Within the budget, no note.
    let small = call(
        &worker,
        request(QUERY, json!({"entity_set": "Wide", "top": 3})),
    )
    .await;
    assert_eq!(small.ok()["returned"], 3);
    assert!(small.ok().get("note").is_none());
}

#[tokio::test]
async fn a_row_wider_than_the_whole_budget_is_refused() {
    let fx = Fixture::start().await;
    let worker = ::worker::Worker::standalone(config(&fx.base))
        .unwrap()
        .with_max_result_bytes(5_000);
    let called = call(&worker, request(QUERY, json!({"entity_set": "Wide"}))).await;
    let failure = called.failure();
    assert_eq!(failure.code, "invalid_arguments");
    assert!(failure.message.contains("`select`"), "{}", failure.message);
}

#[tokio::test]
async fn paging_stops_at_repeated_links_and_endless_pages() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let within = |req| tokio::time::timeout(Duration::from_secs(30), call(&worker, req));

    let called = within(request(QUERY, json!({"entity_set": "SelfLink"})))
        .await
        .expect("a self link loops");
    let failure = called.failure();
    assert_eq!(failure.code, "upstream_unavailable");
    assert!(failure.message.contains("repeats"), "{}", failure.message);
    assert_eq!(fx.seen_path("/data/SelfLink").len(), 1);

    let called = within(request(QUERY, json!({"entity_set": "Loop"})))
        .await
        .expect("empty pages loop");
    let failure = called.failure();
    assert_eq!(failure.code, "upstream_unavailable");
    assert!(failure.message.contains("100 pages"), "{}", failure.message);
    assert_eq!(fx.seen_path("/data/Loop").len(), 100);
}

#[tokio::test]
async fn response_bodies_are_read_up_to_a_limit() {
    use ::worker::d365::{D365Client, Deadline, auth::TokenProvider};

    let fx = Fixture::start().await;
    let client = |limit| {
        let c = D365Client::new(
            reqwest::Client::new(),
            config(&fx.base).environments.remove(0),
            TokenProvider::none(),
            Duration::from_secs(10),
        );
        match limit {
            Some(limit) => c.with_max_body_bytes(limit),
            None => c,
        }
    };
    let wide = format!("{}data/Wide?$top=2", fx.base);
    let streamed = format!("{}data/Streamed", fx.base);
    // Declared by Content-Length, and found while reading a chunked body.
    for url in [&wide, &streamed] {
        let error = client(Some(10_000))
            .get_json(url, Deadline::NONE)
            .await
            .unwrap_err();
        assert_eq!(error.code(), common::ErrorCode::UpstreamUnavailable);
        assert!(
            error.to_string().contains("larger than 10000 bytes"),
            "{error}"
        );
    }
    let page = client(None)
        .get_json(&streamed, Deadline::NONE)
        .await
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_empty_environment_selects_the_configured_one() {
    let fx = Fixture::start().await;
    let worker = worker(&fx.base);
    let query = json!({"entity_set": "CustomersV3", "top": 1});
    for environment in ["", ENV] {
        let mut req = request(QUERY, query.clone());
        req.environment = environment.into();
        assert_eq!(
            call(&worker, req).await.ok()["returned"],
            1,
            "{environment:?}"
        );
    }
    let with_arg = json!({"entity_set": "CustomersV3", "top": 1, "environment": ""});
    assert_eq!(
        call(&worker, request(QUERY, with_arg)).await.ok()["returned"],
        1
    );

    let mut req = request(QUERY, query);
    req.environment = "prod".into();
    let called = call(&worker, req).await;
    let failure = called.failure();
    assert_eq!(failure.code, "invalid_arguments");
    assert!(
        failure
            .message
            .contains(&format!("configured environments: {ENV}")),
        "{}",
        failure.message
    );
}
