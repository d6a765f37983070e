//! The data tools against the real simulator (`sim::serve` on
//! 127.0.0.1:0): reads with `$expand`, writes checked against the
//! simulator's own state, `$batch` with atomic changesets, and write safety
//! (a request id runs once; a write whose answer is lost says so).

mod batch;
mod keys;
mod reads;
mod safety;
mod writes;

use std::sync::Arc;

use common::{
    proto::CallToolRequest,
    store::{MemoryStore, SharedStore},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use url::Url;
use worker::Worker;

use super::{Called, call, config, request};

pub const QUERY: &str = "d365fo_query_entities";
pub const GET: &str = "d365fo_get_entity_record";
pub const CREATE: &str = "d365fo_create_entity_record";
pub const UPDATE: &str = "d365fo_update_entity_record";
pub const DELETE: &str = "d365fo_delete_entity_record";
pub const BATCH: &str = "d365fo_execute_batch";

/// A simulator and a worker in front of it; the simulator stops on drop.
pub struct SimEnv {
    pub base: Url,
    pub http: reqwest::Client,
    pub store: SharedStore,
    pub worker: Arc<Worker>,
    stop: Option<oneshot::Sender<()>>,
}

impl SimEnv {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            sim::serve(listener, sim::SimConfig::default(), shutdown)
                .await
                .unwrap();
        });
        let store: SharedStore = Arc::new(MemoryStore::new());
        let worker = Arc::new(Worker::new(config(&base), Arc::clone(&store)).unwrap());
        Self {
            base,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            store,
            worker,
            stop: Some(stop),
        }
    }

    /// Another worker over the same store: a second node of the cluster.
    pub fn second_worker(&self) -> Arc<Worker> {
        Arc::new(Worker::new(config(&self.base), Arc::clone(&self.store)).unwrap())
    }

    /// Another worker over the same store whose results hold at most
    /// `bytes` of record JSON.
    pub fn worker_with_max_result_bytes(&self, bytes: usize) -> Arc<Worker> {
        let worker = Worker::new(config(&self.base), Arc::clone(&self.store)).unwrap();
        Arc::new(worker.with_max_result_bytes(bytes))
    }

    /// Another worker over the same store whose queries return at most
    /// `rows` rows per call.
    pub fn worker_with_max_rows(&self, rows: usize) -> Arc<Worker> {
        let mut config = config(&self.base);
        config.max_rows = rows;
        Arc::new(Worker::new(config, Arc::clone(&self.store)).unwrap())
    }

    /// Calls `tool` with `args` under a fresh request id.
    pub async fn call(&self, tool: &str, args: Value) -> Called {
        call(&self.worker, request(tool, args)).await
    }

    /// Calls with a request built by the caller (a fixed request id, a deadline).
    pub async fn call_with(&self, worker: &Worker, request: CallToolRequest) -> Called {
        call(worker, request).await
    }

    /// The simulator's own answer to `GET {path}`, bypassing the worker.
    pub async fn sim_get(&self, path: &str) -> (StatusCode, Value) {
        let url = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        let res = self.http.get(url).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Replaces the simulator's faults (`PUT /_sim/faults`).
    pub async fn faults(&self, config: Value) {
        let url = format!("{}/_sim/faults", self.base.as_str().trim_end_matches('/'));
        let res = self.http.put(url).json(&config).send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
    }
}

impl Drop for SimEnv {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `/data/CustomersV3(dataAreaId='{company}',CustomerAccount='{account}')`.
pub fn customer_path(company: &str, account: &str) -> String {
    format!("/data/CustomersV3(dataAreaId='{company}',CustomerAccount='{account}')")
}

/// The key object of a customer.
pub fn customer_key(company: &str, account: &str) -> Value {
    json!({"dataAreaId": company, "CustomerAccount": account})
}

/// Asserts a failure with `code` whose message holds every one of `parts`.
pub fn assert_failure(called: &Called, code: &str, parts: &[&str]) {
    let failure = called.failure();
    assert_eq!(failure.code, code, "{failure:?}");
    for part in parts {
        assert!(
            failure.message.contains(part),
            "{part:?} not in {:?}",
            failure.message
        );
    }
}
