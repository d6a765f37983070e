//! The gRPC server end to end: serve on 127.0.0.1:0, call it with the
//! generated client, check health, shut down.

use common::proto::{
    ListToolsRequest, call_tool_event::Event, tool_result::Outcome, worker_client::WorkerClient,
};
use serde_json::json;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

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
    let mut stream = client.call_tool(req).await.unwrap().into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        events.push(event.event.unwrap());
    }
    let Some(Event::Result(result)) = events.pop() else {
        panic!("the stream did not end with a result");
    };
    assert!(events.iter().all(|e| matches!(e, Event::Progress(_))));
    assert!(!events.is_empty());
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
