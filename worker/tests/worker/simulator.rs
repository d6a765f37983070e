//! A simulator on 127.0.0.1:0 for the metadata tool tests, with the
//! request counts of `/_sim/requests`.

use std::{collections::BTreeMap, sync::Arc};

use common::store::{MemoryStore, SharedStore};
use serde_json::Value;
use tokio::sync::oneshot;
use url::Url;
use worker::Worker;

use super::config;

/// A running simulator; stops when dropped.
pub struct Sim {
    /// `http://127.0.0.1:port`.
    pub base: Url,
    pub port: u16,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Sim {
    pub async fn start() -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            sim::serve(listener, sim::SimConfig::default(), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Sim {
            base: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            port,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            _stop: stop,
        }
    }

    /// Requests counted by the simulator since the last reset, by path.
    pub async fn requests(&self) -> BTreeMap<String, u64> {
        let body: Value = self
            .http
            .get(self.base.join("/_sim/requests").unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["by_path"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect()
    }

    /// Requests to `/Metadata/…` since the last reset.
    pub async fn metadata_requests(&self) -> u64 {
        self.requests()
            .await
            .iter()
            .filter(|(path, _)| path.starts_with("/Metadata/"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds `ms` of latency to every D365FO request.
    pub async fn set_latency_ms(&self, ms: u64) {
        let status = self
            .http
            .put(self.base.join("/_sim/faults").unwrap())
            .json(&serde_json::json!({"latency": {"fixed_ms": ms}}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    /// Zeroes the request counts, keeping faults: a reset, then the faults
    /// put back.
    pub async fn reset_counts_only(&self) {
        let faults: Value = self
            .http
            .get(self.base.join("/_sim/faults").unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        self.reset().await;
        let status = self
            .http
            .put(self.base.join("/_sim/faults").unwrap())
            .json(&faults)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    /// Faults back to start-up, request counts zeroed.
    pub async fn reset(&self) {
        let status = self
            .http
            .post(self.base.join("/_sim/reset").unwrap())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 204);
    }
}

pub fn store() -> SharedStore {
    Arc::new(MemoryStore::new())
}

/// A worker for `base` whose cache uses `store` as L2.
pub fn worker_on(base: &Url, store: &SharedStore) -> Arc<Worker> {
    Arc::new(Worker::new(config(base), Arc::clone(store)).unwrap())
}
