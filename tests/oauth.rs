//! Cluster test of who is calling, end to end with no cloud: the simulator
//! is Entra ID (JWKS, user tokens, the on-behalf-of grant) and D365FO with
//! users and roles (`--auth required`); the edge is a protected resource
//! that accepts the simulator's tokens for its API; the worker calls D365FO
//! on behalf of each signed-in user (`on_behalf_of = "preferred"`).
//!
//! alice (a D365FO writer) creates a record as herself; bob (a reader) is
//! refused by D365FO's own role check, though the edge let his token
//! through; a token with only the read scope is refused a write tool at the
//! edge (403 `insufficient_scope`); a call without a token gets the 401
//! that points at the protected resource metadata. alice's D365FO token is
//! exchanged once and reused. The official Python SDK, in its default mode,
//! calls with alice's token.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{
    cluster::{Process, edge_for},
    mcp,
};

/// The simulator's tenant and its default app: the edge's API, and the
/// confidential client that makes the on-behalf-of exchange.
const TENANT: &str = "00000000-0000-0000-0000-000000000365";
const APP: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "d365mcp-sim-secret";

/// The edge's resource identifier, the prefix of its scopes.
const RESOURCE: &str = "http://127.0.0.1/d365mcp";

struct Deployment {
    sim: Process,
    _worker: Process,
    edge: Process,
}

async fn deploy() -> Deployment {
    let expose_read = format!("{APP}={RESOURCE}/mcp.read");
    let expose_write = format!("{APP}={RESOURCE}/mcp.write");
    let sim_args = [
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--auth",
        "required",
        "--expose",
        &expose_read,
        "--expose",
        &expose_write,
    ];
    let sim = Process::start("sim", &sim_args, &[]).await;
    let sim_url = sim.url();
    let environments = format!(
        "default = \"sim\"\n\n[environments.sim]\nbase_url = \"{sim_url}\"\n\
         tenant_id = \"{TENANT}\"\nclient_id = \"{APP}\"\n\
         client_secret_env = \"D365FO_SIM_SECRET\"\nauthority_host = \"{sim_url}\"\n\
         on_behalf_of = \"preferred\"\n"
    );
    // One file per deployment: the tests of this binary run at once.
    let port = sim_url.rsplit(':').next().unwrap_or("0");
    let path = std::env::temp_dir().join(format!(
        "d365mcp-oauth-envs-{}-{port}.toml",
        std::process::id()
    ));
    std::fs::write(&path, environments).unwrap();
    let path = path.to_string_lossy().into_owned();
    let worker_args = [
        "worker",
        "--listen",
        "127.0.0.1:0",
        "--environments-file",
        &path,
        "--cache-warm-up",
        "false",
    ];
    let worker = Process::start("worker", &worker_args, &[("D365FO_SIM_SECRET", SECRET)]).await;
    let issuer = format!("{sim_url}/{TENANT}/v2.0");
    let edge_args = [
        "--oauth-issuer",
        &issuer,
        "--oauth-resource",
        RESOURCE,
        "--oauth-audiences",
        APP,
    ];
    let edge = edge_for(&worker.url(), &edge_args).await;
    Deployment {
        sim,
        _worker: worker,
        edge,
    }
}

impl Deployment {
    /// A token for the edge's API signed in as `upn`, with `scopes`.
    async fn token(&self, upn: &str, scopes: &[&str]) -> String {
        let scope = scopes
            .iter()
            .map(|s| format!("{RESOURCE}/{s}"))
            .collect::<Vec<_>>()
            .join(" ");
        self.token_for(upn, &scope).await
    }

    /// A token signed in as `upn` for `scope`, as the simulator's admin
    /// route issues it.
    async fn token_for(&self, upn: &str, scope: &str) -> String {
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/_sim/users/{upn}/token", self.sim.url()))
            .json(&json!({"scope": scope}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {answer}"))
            .to_owned()
    }

    /// A 2026-07-28 `tools/call` with `token`: its status, its
    /// `WWW-Authenticate` and its body.
    async fn call(
        &self,
        token: Option<&str>,
        tool: &str,
        arguments: Value,
    ) -> (u16, String, Value) {
        let mut request = mcp::stateless_call(
            &format!("{}/mcp", self.edge.url()),
            tool,
            arguments,
            json!({}),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, challenge, body)
    }

    /// The simulator's grant counts.
    async fn grants(&self) -> Value {
        reqwest::get(format!("{}/_sim/tokens", self.sim.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn group(id: &str) -> Value {
    json!({"entity_set": "CustomerGroups", "fields": {"CustomerGroupId": id, "Description": "OBO"}})
}

const CREATE: &str = "d365fo_create_entity_record";

#[tokio::test]
async fn each_user_reaches_d365fo_as_themselves() {
    let deployment = deploy().await;

    // Discovery: the protected resource metadata, and the 401 pointing at it.
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource/d365mcp",
        deployment.edge.url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(metadata["resource"], RESOURCE, "{metadata}");
    let issuer = format!("{}/{TENANT}/v2.0", deployment.sim.url());
    assert_eq!(
        metadata["authorization_servers"][0],
        issuer.as_str(),
        "{metadata}"
    );
    let (status, challenge, body) = deployment.call(None, CREATE, group("O1")).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");

    // alice, a writer, creates as herself; her D365FO token is exchanged once.
    let before = deployment.grants().await["on_behalf_of"]
        .as_u64()
        .unwrap_or(0);
    let alice = deployment
        .token("alice@contoso.com", &["mcp.read", "mcp.write"])
        .await;
    for id in ["O2", "O3"] {
        let (status, _, body) = deployment.call(Some(&alice), CREATE, group(id)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["isError"], false, "{body}");
    }
    let after = deployment.grants().await["on_behalf_of"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(after - before, 1, "one exchange, then the cached token");

    // bob, a reader: the edge lets his write through (his token has the
    // write scope), D365FO refuses it by his role; he can read.
    let bob = deployment
        .token("bob@contoso.com", &["mcp.read", "mcp.write"])
        .await;
    let (status, _, body) = deployment.call(Some(&bob), CREATE, group("O4")).await;
    assert_eq!(status, 200, "{body}");
    let refused = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| body["result"].clone());
    assert!(
        refused.to_string().contains("not authorized"),
        "D365FO's refusal reaches bob: {body}"
    );
    let read = json!({"entity_set": "CustomerGroups", "top": 1});
    let (status, _, body) = deployment
        .call(Some(&bob), "d365fo_query_entities", read)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");

    // A token with only the read scope: refused a write tool at the edge.
    let reader = deployment.token("alice@contoso.com", &["mcp.read"]).await;
    let (status, challenge, body) = deployment.call(Some(&reader), CREATE, group("O5")).await;
    assert_eq!(status, 403, "{body}");
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // A token for another audience is refused, never forwarded.
    let d365fo = format!("{}/.default", deployment.sim.url());
    let foreign = deployment.token_for("alice@contoso.com", &d365fo).await;
    let (status, challenge, body) = deployment.call(Some(&foreign), CREATE, group("O6")).await;
    assert_eq!(status, 401, "{body}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// The official MCP Python SDK (target/py-clients, installed by
/// scripts/test.sh) in its default mode, sending alice's token: the write
/// reaches D365FO as her.
#[tokio::test]
async fn the_python_sdk_calls_as_the_signed_in_user() {
    let deployment = deploy().await;
    let alice = deployment
        .token("alice@contoso.com", &["mcp.read", "mcp.write"])
        .await;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/py-clients/bin/python");
    let script = root.join("tests/clients/python_bearer.py");
    let url = format!("{}/mcp", deployment.edge.url());
    let args = [script.to_str().unwrap(), url.as_str(), alice.as_str()];
    let output = support::run_bounded(
        "python mcp 2.3.0 with a bearer token",
        python.to_str().unwrap(),
        &args,
        std::time::Duration::from_secs(90),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no summary ({e}): {stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["created"], true, "{summary}");
    let grants = deployment.grants().await;
    assert!(
        grants["on_behalf_of"].as_u64().unwrap_or(0) >= 1,
        "{grants}"
    );
}
