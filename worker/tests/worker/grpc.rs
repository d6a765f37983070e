//! The gRPC server end to end: serve on 127.0.0.1:0, call it with the
//! generated client, check health, shut down.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::proto::{
    CallToolRequest, ListToolsRequest, ToolResult, call_tool_event::Event, tool_result::Outcome,
    worker_client::WorkerClient,
};
use serde_json::json;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use worker::{MAX_MESSAGE_BYTES, Worker};

use super::{fixture::Fixture, request, worker};

#[tokio::test]
async fn grpc_round_trip_with_health() {
    let fx = Fixture::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(worker::serve(listener, worker(&fx.base), async move {
        let _ = stopped.await;
    }));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut health = HealthClient::new(channel.clone());
    for service in ["", "d365mcp.worker.v1.Worker"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }

    let mut client = WorkerClient::new(channel);
    let tools = client
        .list_tools(ListToolsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tools.tools.len(), common::catalogue::tools().len());
    assert_eq!(tools.worker_version, env!("CARGO_PKG_VERSION"));

    let mut req = request(
        "d365fo_query_entities",
        json!({"entity_set": "CustomersV3", "top": 4}),
    );
    req.want_progress = true;
    req.log_level = "info".into();
    let mut stream = client.call_tool(req).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        events.push(event.event.unwrap());
    }
    let Some(Event::Result(result)) = events.pop() else {
        panic!("the stream did not end with a result");
    };
    // Before the result: progress, and log lines for the user (a page read).
    assert!(events.iter().any(|e| matches!(e, Event::Progress(_))));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Log(log) if log.level == "info" && log.data_json.contains("CustomersV3"))),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Event::Progress(_) | Event::Log(_)))
    );
    let Some(Outcome::Output(output)) = result.outcome else {
        panic!("expected output, got {result:?}");
    };
    let structured: serde_json::Value =
        serde_json::from_str(&output.structured_content_json).unwrap();
    assert_eq!(structured["returned"], 4);
    assert_eq!(structured["more"], true);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A worker's gRPC server on 127.0.0.1:0, stopped when dropped.
struct Server {
    channel: Channel,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(worker: Arc<Worker>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(worker::serve(listener, worker, async move {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Server {
        channel,
        _stop: stop,
    }
}

/// The final result of a call, or the gRPC status that ended it.
async fn result_of(
    client: &mut WorkerClient<Channel>,
    request: tonic::Request<CallToolRequest>,
) -> Result<ToolResult, tonic::Status> {
    let mut stream = client.call_tool(request).await?.into_inner();
    while let Some(event) = stream.message().await? {
        if let Some(Event::Result(result)) = event.event {
            return Ok(result);
        }
    }
    panic!("the stream ended without a result");
}

#[tokio::test]
async fn large_requests_and_results_cross_grpc() {
    let fx = Fixture::start().await;
    let server = start(worker(&fx.base)).await;
    let mut client = WorkerClient::new(server.channel.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);

    // Above tonic's default 4 MiB: the worker reads it and answers.
    let padding = "x".repeat(5 * 1024 * 1024);
    let big = request("d365fo_nope", json!({ "padding": padding }));
    let result = result_of(&mut client, tonic::Request::new(big))
        .await
        .expect("a 5 MiB request is refused by the transport");
    let Some(Outcome::Failure(failure)) = result.outcome else {
        panic!("expected a failure, got {result:?}");
    };
    assert_eq!(failure.code, "unknown_tool");

    // 1,000 rows of 7 KB: about 14 MB once carried twice.
    let wide = request(
        "d365fo_query_entities",
        json!({"entity_set": "Wide", "top": 1000}),
    );
    let result = result_of(&mut client, tonic::Request::new(wide))
        .await
        .unwrap();
    let Some(Outcome::Output(output)) = result.outcome else {
        panic!("expected output, got {result:?}");
    };
    assert!(output.content_json.len() + output.structured_content_json.len() > 8 << 20);
    let structured: serde_json::Value =
        serde_json::from_str(&output.structured_content_json).unwrap();
    assert_eq!(structured["returned"], 1000);
    assert_eq!(structured["more"], false);
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn code_of(result: &ToolResult) -> &str {
    match result.outcome.as_ref().unwrap() {
        Outcome::Output(_) => "ok",
        Outcome::Failure(f) => &f.code,
    }
}

#[tokio::test]
async fn grpc_timeout_sets_the_deadline_on_the_workers_clock() {
    let fx = Fixture::start().await;
    let server = start(worker(&fx.base)).await;
    let mut client = WorkerClient::new(server.channel.clone());
    let query = json!({"entity_set": "CustomersV3", "top": 2});

    // An edge whose clock runs an hour behind: its absolute deadline has
    // already passed here, but its 10 s timeout has not.
    let mut skewed = request("d365fo_query_entities", query.clone());
    skewed.deadline_unix_ms = now_ms() - 3_600_000;
    let mut req = tonic::Request::new(skewed.clone());
    req.set_timeout(Duration::from_secs(10));
    let result = result_of(&mut client, req).await.unwrap();
    assert_eq!(code_of(&result), "ok", "{result:?}");

    // Without the header, or with one that does not parse, the absolute
    // deadline is all there is.
    let result = result_of(&mut client, tonic::Request::new(skewed.clone()))
        .await
        .unwrap();
    assert_eq!(code_of(&result), "deadline_exceeded");
    let mut req = tonic::Request::new(skewed);
    req.metadata_mut()
        .insert("grpc-timeout", "soon".parse().unwrap());
    let result = result_of(&mut client, req).await.unwrap();
    assert_eq!(code_of(&result), "deadline_exceeded");

    // An edge an hour ahead: the short timeout still ends a stalled call.
    let mut stalled = request("d365fo_query_entities", json!({"entity_set": "Stall"}));
    stalled.deadline_unix_ms = now_ms() + 3_600_000;
    let mut req = tonic::Request::new(stalled);
    req.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let result = result_of(&mut client, req).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(code_of(&result), "deadline_exceeded");
}
