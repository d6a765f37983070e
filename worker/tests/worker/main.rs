//! Worker tests against a D365FO fixture on 127.0.0.1:0: the tools through
//! `ToolExecutor`, and the gRPC server through the generated client; the
//! data tools (`data`) against the real simulator.

// Helpers outside `#[test]` functions panic on purpose: a failed assumption
// is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth_renewal;
mod breaker;
mod calls;
mod data;
mod execution;
mod fixture;
mod grpc;
mod key_vault;
mod metadata_cache;
mod metadata_labels;
mod metadata_stubs;
mod metadata_tools;
mod metrics;
mod on_behalf_of;
mod server;
mod simulator;
mod throttle;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use common::{
    config::{ClientCredentials, D365Config, Secret, WorkerConfig},
    executor::ToolExecutor,
    proto::{CallToolRequest, Progress, ToolFailure, call_tool_event::Event, tool_result::Outcome},
};
use futures::StreamExt;
use serde_json::Value;
use url::Url;
use worker::Worker;

/// The configured environment's name.
pub const ENV: &str = "contoso-test";

pub fn config(base: &Url) -> WorkerConfig {
    let d365 = D365Config {
        name: ENV.into(),
        base_url: base.clone(),
        credentials: None,
    };
    let mut config = WorkerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), d365);
    config.request_timeout = Duration::from_secs(10);
    config.connect_timeout = Duration::from_secs(2);
    config
}

pub fn worker(base: &Url) -> Arc<Worker> {
    Arc::new(Worker::standalone(config(base)).unwrap())
}

pub fn with_credentials(base: &Url) -> Arc<Worker> {
    let mut config = config(base);
    config.environments[0].credentials = Some(ClientCredentials::client_secret(
        "00000000-0000-0000-0000-000000000001",
        "client",
        Secret::new("s3cret"),
        base.clone(),
    ));
    Arc::new(Worker::standalone(config).unwrap())
}

pub fn request(tool: &str, args: Value) -> CallToolRequest {
    CallToolRequest {
        request_id: uuid_like(),
        tool: tool.into(),
        arguments_json: args.to_string(),
        ..CallToolRequest::default()
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("req-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The outcome of a call: progress events, then a structured result or a failure.
#[derive(Debug)]
pub struct Called {
    pub progress: Vec<Progress>,
    pub result: Result<(Value, Value), ToolFailure>,
}

impl Called {
    /// The structured content; panics with the failure otherwise.
    pub fn ok(&self) -> &Value {
        match &self.result {
            Ok((_, structured)) => structured,
            Err(f) => panic!("expected success, got {f:?}"),
        }
    }

    pub fn failure(&self) -> &ToolFailure {
        match &self.result {
            Err(f) => f,
            Ok((_, s)) => panic!("expected failure, got {s}"),
        }
    }
}

pub async fn call(worker: &Worker, request: CallToolRequest) -> Called {
    let mut stream = worker.call_tool(request);
    let mut progress = Vec::new();
    let mut result = None;
    while let Some(event) = stream.next().await {
        match event.event.unwrap() {
            Event::Progress(p) => {
                assert!(result.is_none(), "progress after the result");
                progress.push(p);
            }
            Event::Log(_) => {}
            Event::Result(r) => {
                assert!(result.is_none(), "two results");
                result = Some(match r.outcome.unwrap() {
                    Outcome::Output(o) => {
                        assert!(!o.is_error);
                        let content: Value = serde_json::from_str(&o.content_json).unwrap();
                        let structured: Value =
                            serde_json::from_str(&o.structured_content_json).unwrap();
                        Ok((content, structured))
                    }
                    Outcome::Failure(f) => Err(f),
                });
            }
        }
    }
    Called {
        progress,
        result: result.expect("the stream ended without a result"),
    }
}

/// Now, in milliseconds since the Unix epoch (a call's deadline).
pub fn unix_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(now.as_millis()).unwrap()
}
