//! The execution tools against the real simulator on 127.0.0.1:0, and,
//! where a test must count what reached D365FO or make it misbehave, a
//! small recording server (`counting`).

mod actions;
mod counting;
mod idempotency;
mod reports;
mod services;

use std::sync::Arc;

use common::proto::CallToolRequest;
use serde_json::Value;
use tokio::sync::oneshot;
use url::Url;
use worker::Worker;

use super::{Called, call, request};

pub const ACTION: &str = "d365fo_call_action";
pub const SERVICE: &str = "d365fo_call_json_service";
pub const LIST: &str = "d365fo_list_json_services";
pub const REPORT: &str = "d365fo_run_report";

/// A simulator with its default data; stops when dropped.
pub struct Sim {
    pub base: Url,
    stop: Option<oneshot::Sender<()>>,
}

impl Sim {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            sim::serve(listener, sim::SimConfig::default(), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            stop: Some(stop),
        }
    }

    pub fn worker(&self) -> Arc<Worker> {
        super::worker(&self.base)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Calls `tool` with `args` on `worker`.
pub async fn run(worker: &Worker, tool: &str, args: Value) -> Called {
    call(worker, request(tool, args)).await
}

/// The same call with a chosen request id, as an edge replaying it would send.
pub fn with_id(tool: &str, args: Value, id: &str) -> CallToolRequest {
    CallToolRequest {
        request_id: id.into(),
        ..request(tool, args)
    }
}

/// Asserts the call failed with `code` and a message containing each of
/// `parts`; returns the message.
pub fn assert_fails(called: &Called, code: &str, parts: &[&str]) -> String {
    let failure = called.failure();
    assert_eq!(failure.code, code, "{}", failure.message);
    for part in parts {
        assert!(
            failure.message.contains(part),
            "`{part}` not in: {}",
            failure.message
        );
    }
    failure.message.clone()
}
