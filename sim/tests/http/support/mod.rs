//! A simulator on an ephemeral loopback port for one test.

#![allow(dead_code)]

use sim::SimConfig;
use tokio::sync::oneshot;

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
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
