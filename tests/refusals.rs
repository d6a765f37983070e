//! Every refusal is a JSON-RPC error body a client can read, on every
//! transport, including those made before the MCP handler sees the request:
//! a foreign `Origin` or `Host` (403), a wrong `Accept` (406) or
//! `Content-Type` (415), an unsupported `MCP-Protocol-Version` (400), and the
//! methods 2026-07-28 removed (404, -32601).

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::Cluster;

async fn refusal(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (status, body)
}

fn list() -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    }}})
}

fn post(url: &str) -> reqwest::RequestBuilder {
    post_with(
        url,
        "application/json, text/event-stream",
        "application/json",
        "2026-07-28",
    )
}

/// A POST with these headers, each set once (reqwest appends a header set twice).
fn post_with(
    url: &str,
    accept: &str,
    content_type: &str,
    version: &str,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .header("accept", accept)
        .header("mcp-protocol-version", version)
        .header("mcp-method", "tools/list")
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused_on_every_route() {
    let cluster = Cluster::builder().start().await;
    let base = cluster.edges[0].url();
    let mcp = cluster.mcp_url(0);
    let client = reqwest::Client::new();

    let evil = post(&mcp)
        .header("origin", "https://evil.example")
        .body(list().to_string());
    let (status, body) = refusal(evil.send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["data"]["code"], "permission_denied");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("D365MCP_ALLOWED_ORIGINS")
    );

    let sse = client
        .get(format!("{base}/sse"))
        .header("accept", "text/event-stream")
        .header("origin", "https://evil.example");
    assert_eq!(refusal(sse.send().await.unwrap()).await.0, 403);
    let message = client
        .post(format!(
            "{base}/message?sessionId=3b398d5d-734a-4ab3-acad-de16ee947a76"
        ))
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(list().to_string());
    assert_eq!(refusal(message.send().await.unwrap()).await.0, 403);

    let rebound = post(&mcp)
        .header("host", "evil.example.com")
        .body(list().to_string());
    let (status, body) = refusal(rebound.send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("D365MCP_ALLOWED_HOSTS")
    );

    // No Origin (every non-browser client) and the server's own origin are
    // served; another page, even one on this machine, is not.
    let plain = post(&mcp).body(list().to_string()).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    let own = format!("http://{}", cluster.edges[0].addr);
    let same = post(&mcp).header("origin", own).body(list().to_string());
    assert_eq!(same.send().await.unwrap().status(), 200);
    let inspector = post(&mcp)
        .header("origin", "http://localhost:6274")
        .body(list().to_string());
    assert_eq!(refusal(inspector.send().await.unwrap()).await.0, 403);
}

#[tokio::test]
async fn transport_refusals_are_jsonrpc_errors() {
    let cluster = Cluster::builder().start().await;
    let mcp = cluster.mcp_url(0);

    let json = "application/json";
    let both = "application/json, text/event-stream";
    let text_only = post_with(&mcp, "text/plain", json, "2026-07-28").body(list().to_string());
    let (status, body) = refusal(text_only.send().await.unwrap()).await;
    assert_eq!(status, 406);
    assert_eq!(body["error"]["code"], -32600);

    let form = post_with(
        &mcp,
        both,
        "application/x-www-form-urlencoded",
        "2026-07-28",
    )
    .body(list().to_string());
    assert_eq!(refusal(form.send().await.unwrap()).await.0, 415);

    let mut old = list();
    old["params"] = json!({});
    let future = post_with(&mcp, both, json, "1999-01-01").body(old.to_string());
    assert_eq!(refusal(future.send().await.unwrap()).await.0, 400);

    for method in [
        "initialize",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let mut body = list();
        body["method"] = json!(method);
        let removed = post(&mcp)
            .header("mcp-method", method)
            .body(body.to_string());
        let (status, body) = refusal(removed.send().await.unwrap()).await;
        assert_eq!(status, 404, "{method}: {body}");
        assert_eq!(body["error"]["code"], -32601, "{method}");
        assert_eq!(body["id"], 7, "{method}: the error carries the request id");
    }
}
