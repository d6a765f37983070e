//! A stand-in for D365FO that counts the requests reaching each path and
//! answers with what the simulator cannot be made to send: a failing
//! action, a silent one, a report that is not a PDF.

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use url::Url;

const NS: &str = "Microsoft.Dynamics.DataEntities";

/// The path of set-bound action `action` on `set`.
pub fn action_path(set: &str, action: &str) -> String {
    format!("/data/{set}/{NS}.{action}")
}

pub struct Counting {
    pub base: Url,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    _stop: oneshot::Sender<()>,
}

impl Counting {
    pub async fn start() -> Self {
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let app = Router::new().fallback(handle).with_state(Arc::clone(&hits));
        let (base, stop) = crate::simulator::serve_stub(app).await;
        Self {
            base,
            hits,
            _stop: stop,
        }
    }

    /// Requests that reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().get(path).copied().unwrap_or(0)
    }
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn handle(State(hits): State<Arc<Mutex<HashMap<String, usize>>>>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    let n = {
        let mut hits = hits.lock();
        let n = hits.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": {"code": "", "message": "Service unavailable."}}).to_string(),
        )
            .into_response()
    };
    match path.rsplit('.').next().unwrap_or_default() {
        "Bump" => ok(json!({"@odata.context": "c", "value": n})),
        "AlwaysDown" => unavailable(),
        // A gateway that gave up waiting (D365FO may still have run it).
        "GatewayTimeout408" => (StatusCode::REQUEST_TIMEOUT, "timed out").into_response(),
        // D365FO's OData reader refusing the body: nothing ran.
        "Invalid400" => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":{"code":"","message":"The request is invalid."}}"#,
        )
            .into_response(),
        // Applied, but a proxy's HTML page came back in place of the JSON.
        "Garbled" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>OK</body></html>",
        )
            .into_response(),
        "Silent" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            ok(json!({"value": null}))
        }
        // Environments under /text and /garbled get a document that is not a PDF.
        "RunCopilotReport" if path.starts_with("/text/") => {
            ok(json!({"value": b64(b"hello, not a PDF")}))
        }
        "RunCopilotReport" if path.starts_with("/garbled/") => {
            ok(json!({"value": "%%% not base64 %%%"}))
        }
        // Otherwise the first attempt fails and a retry renders.
        "RunCopilotReport" if n == 1 => unavailable(),
        "RunCopilotReport" => ok(json!({"value": b64(b"%PDF-1.4\n<< /Type /Page >>\n%%EOF\n")})),
        _ if path.starts_with("/api/services/Down/") => unavailable(),
        _ if path.starts_with("/api/services/") => ok(json!({"calls": n})),
        _ => (StatusCode::NOT_FOUND, "{}").into_response(),
    }
}
