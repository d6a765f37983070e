//! Two tenants behind one edge and one worker, for `tests/tenancy.rs`:
//! the keys file with their policy, the internal secret, a simulator per
//! tenant, and stateless calls made with a key.

use std::path::PathBuf;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Cluster,
    cluster::{Process, sim_requests},
    mcp, raw,
};

pub const CONTOSO: &str = "contoso-app-key";
pub const CONTOSO_READER: &str = "contoso-reader-key";
pub const CONTOSO_OPS: &str = "contoso-ops-key";
pub const FABRIKAM: &str = "fabrikam-app-key";
pub const SECRET: &str = "tenancy-test-secret-0123456789abcdef";

pub fn digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "d365mcp-tenancy-{}-{}-{name}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// Two tenants, each with one environment; contoso has a writer, a reader
/// and an operator.
pub fn keys_file() -> PathBuf {
    temp_file(
        "keys.toml",
        &format!(
            "[tenants.contoso]\nenvironments = [\"contoso\"]\n\
             [tenants.fabrikam]\nenvironments = [\"fabrikam\"]\n\
             [keys.contoso-app]\nsha256 = \"{}\"\ntenant = \"contoso\"\n\
             [keys.contoso-reader]\nsha256 = \"{}\"\ntenant = \"contoso\"\nread_only = true\n\
             [keys.contoso-ops]\nsha256 = \"{}\"\ntenant = \"contoso\"\noperator = true\n\
             toolsets = [\"all\"]\n\
             [keys.fabrikam-app]\nsha256 = \"{}\"\ntenant = \"fabrikam\"\n",
            digest(CONTOSO),
            digest(CONTOSO_READER),
            digest(CONTOSO_OPS),
            digest(FABRIKAM)
        ),
    )
}

/// The cluster, and fabrikam's simulator (contoso's is `cluster.sim`).
pub struct Tenancy {
    pub cluster: Cluster,
    pub fabrikam_sim: Process,
    pub keys: PathBuf,
    pub secret: PathBuf,
}

pub async fn start() -> Tenancy {
    let fabrikam_sim = Process::start("sim", &["sim", "--listen", "127.0.0.1:0"], &[]).await;
    let keys = keys_file();
    let secret = temp_file("secret", &format!("{SECRET}\n"));
    let (keys_arg, secret_arg) = (
        keys.to_str().unwrap().to_owned(),
        secret.to_str().unwrap().to_owned(),
    );
    let cluster = Cluster::builder()
        .environments_file(&format!(
            "default = \"contoso\"\n\
             [environments.contoso]\nbase_url = \"{{sim}}\"\n\
             [environments.fabrikam]\nbase_url = \"{}\"\n",
            fabrikam_sim.url()
        ))
        .worker_arg("--cache-warm-up")
        .worker_arg("false")
        .worker_arg("--api-keys-file")
        .worker_arg(&keys_arg)
        .worker_arg("--internal-secret-file")
        .worker_arg(&secret_arg)
        .edge_arg("--api-keys-file")
        .edge_arg(&keys_arg)
        .edge_arg("--internal-secret-file")
        .edge_arg(&secret_arg)
        .start()
        .await;
    Tenancy {
        cluster,
        fabrikam_sim,
        keys,
        secret,
    }
}

impl Drop for Tenancy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.keys);
        let _ = std::fs::remove_file(&self.secret);
    }
}

/// Requests a simulator received for records (`/data/...`).
pub async fn data_requests(sim_url: &str) -> u64 {
    let requests = sim_requests(sim_url).await;
    requests["by_path"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/data"))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

/// A stateless `tools/call` as `key`; its JSON-RPC answer.
pub async fn call(url: &str, key: &str, tool: &str, arguments: Value) -> Value {
    let response = mcp::stateless_call(url, tool, arguments, json!({}))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    raw::answer(&raw::events(&response.text().await.unwrap()))
}

/// The JSON-RPC error `answer` carries: its `data.code` and message.
pub fn refusal(answer: &Value) -> (String, String) {
    let error = answer
        .get("error")
        .unwrap_or_else(|| panic!("expected an error, got {answer}"));
    (
        error["data"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

pub fn succeeded(answer: &Value) -> &Value {
    let result = answer
        .get("result")
        .unwrap_or_else(|| panic!("expected a result, got {answer}"));
    assert_ne!(result["isError"], true, "{answer}");
    result
}

/// The tools a stateless `tools/list` shows `key`.
pub async fn listed(url: &str, key: &str) -> Vec<String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    }}});
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .header("x-api-key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let answer = raw::answer(&raw::events(&response.text().await.unwrap()));
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {answer}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

pub fn currency(code: &str) -> Value {
    json!({"entity_set": "Currencies", "fields": {"CurrencyCode": code, "Name": "Tenancy"}})
}

pub fn read_currency(code: &str, environment: &str) -> Value {
    json!({"entity_set": "Currencies", "key": {"CurrencyCode": code}, "environment": environment})
}
