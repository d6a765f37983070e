//! A simulator on 127.0.0.1:0 for the metadata tool tests, with the
//! request counts of `/_sim/requests`; and [`Stub`], a stand-in answering
//! what a test sets, for the answers the simulator never gives.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

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
        Self::start_with(sim::SimConfig::default()).await
    }

    /// A simulator of `config` (an auth mode, faults at start-up).
    pub async fn start_with(config: sim::SimConfig) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            sim::serve(listener, config, async {
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

/// A stand-in for D365FO's metadata endpoints that answers what a test sets
/// per path: what the simulator cannot be made to send (a module list of
/// objects, one label failing, a gateway's HTML 404). Each path prefix is
/// an environment of its own (`env("a")` is `http://127.0.0.1:port/a`).
/// Paths are matched percent-decoded; one without an answer gets D365FO's
/// OData 404.
pub struct Stub {
    root: Url,
    state: Arc<StubState>,
    _stop: oneshot::Sender<()>,
}

/// What the stub answers at a path: after how long, status, body.
type Answer = (Duration, u16, String);

#[derive(Default)]
struct StubState {
    answers: parking_lot::Mutex<HashMap<String, Answer>>,
    hits: parking_lot::Mutex<HashMap<String, usize>>,
}

/// `GetInstalledModules`'s path under environment prefix `env`.
pub fn modules_path(env: &str) -> String {
    format!("/{env}/data/SystemNotifications/Microsoft.Dynamics.DataEntities.GetInstalledModules")
}

/// The path of label `id` in `language` under environment prefix `env`.
pub fn label_path(env: &str, id: &str, language: &str) -> String {
    format!("/{env}/Metadata/Labels(Id='{id}',Language='{language}')")
}

/// Serves `app` on 127.0.0.1:0 until the returned sender is dropped.
pub async fn serve_stub(app: axum::Router) -> (Url, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    (root, stop)
}

impl Stub {
    pub async fn start() -> Stub {
        let state = Arc::new(StubState::default());
        let app = axum::Router::new()
            .fallback(stub_answer)
            .with_state(Arc::clone(&state));
        let (root, stop) = serve_stub(app).await;
        Stub {
            root,
            state,
            _stop: stop,
        }
    }

    /// The base URL of environment `name`.
    pub fn env(&self, name: &str) -> Url {
        self.root.join(name).unwrap()
    }

    /// Answers `path` with `status` and `body` (HTML when it starts with `<`).
    pub fn answer(&self, path: &str, status: u16, body: impl ToString) {
        self.answer_after(path, Duration::ZERO, status, body);
    }

    /// Answers `path` as [`Stub::answer`] does, `delay` late.
    pub fn answer_after(&self, path: &str, delay: Duration, status: u16, body: impl ToString) {
        self.state
            .answers
            .lock()
            .insert(path.to_owned(), (delay, status, body.to_string()));
    }

    /// Answers 200 with `value` as an OData result: `{"value": …}`.
    pub fn value(&self, path: &str, value: Value) {
        self.answer(path, 200, serde_json::json!({ "value": value }));
    }

    /// Requests that reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state.hits.lock().get(path).copied().unwrap_or(0)
    }
}

async fn stub_answer(
    axum::extract::State(state): axum::extract::State<Arc<StubState>>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::{http::StatusCode, response::IntoResponse};
    let path = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8_lossy()
        .into_owned();
    *state.hits.lock().entry(path.clone()).or_insert(0) += 1;
    let answer = state.answers.lock().get(&path).cloned();
    let (delay, status, body) = answer.unwrap_or_else(|| {
        let message = format!("Resource not found for the segment '{path}'.");
        let body = serde_json::json!({"error": {"code": "", "message": message}});
        (Duration::ZERO, 404, body.to_string())
    });
    tokio::time::sleep(delay).await;
    let content_type = if body.starts_with('<') {
        "text/html"
    } else {
        "application/json"
    };
    (
        StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response()
}
