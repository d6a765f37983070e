//! A simulator on an ephemeral loopback port for one test.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use sim::SimConfig;
use tokio::sync::oneshot;

/// How long [`wait_for`] waits before it gives up: generous, so a loaded
/// machine is slow rather than wrong; a condition that holds ends the wait
/// at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// Polls `holds` every 10 ms until it is true, or panics naming `what`
/// once [`WAIT`] has passed: a test waits for a condition, not for a time.
pub async fn wait_for<F, Fut>(what: &str, mut holds: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if holds().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A running simulator; stops when dropped.
pub struct Sim {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// A client with no proxy, as tests need.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Sim {
    /// Starts a simulator with `config`.
    pub async fn start(config: SimConfig) -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            sim::serve(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Sim {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(stop),
        }
    }

    /// Starts a simulator with the default configuration.
    pub async fn default() -> Sim {
        Self::start(SimConfig::default()).await
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The JSON body of `GET {base}{path}`, which must answer 200 (an
    /// admin route, e.g. `/_sim/requests`).
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// Requests D365FO's endpoints have received (`GET /_sim/requests`).
    pub async fn requests_received(&self) -> u64 {
        let counts = self.admin_json("/_sim/requests").await;
        counts["total"].as_u64().unwrap()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
