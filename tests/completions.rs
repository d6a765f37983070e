//! `completion/complete` with a real client (issue 20): the official Python
//! SDK 2.x in its default mode (2026-07-28) asks an edge in front of a
//! worker with two environments on the simulator for entity set names (a
//! prompt argument, and a resource template argument in a chosen
//! environment) and environment names, once as a key the policy leaves
//! open and once as a key limited to one environment and one entity set.
//!
//! `scripts/test.sh` installs the SDK into `target/py-clients`.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::PathBuf, time::Duration};

use serde_json::{Value, json};
use support::{
    Cluster,
    tenancy::{digest, temp_file},
};

const OPEN: &str = "completions-open-key";
const LIMITED: &str = "completions-limited-key";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The SDK's answers as `key` (`tests/clients/python_completions.py`).
async fn complete_as(url: &str, key: &str) -> Value {
    let python = repo("target/py-clients/bin/python");
    let script = repo("tests/clients/python_completions.py");
    let args = [script.to_str().unwrap(), url, key];
    let what = format!("python completions as {key}");
    let python = python.to_str().unwrap();
    support::json_summary(&what, python, &args, Duration::from_secs(90)).await
}

fn values(summary: &Value, what: &str) -> Vec<String> {
    summary[what]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("no {what} values: {summary}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_python_sdk_completes_names_within_the_callers_policy() {
    let keys = temp_file(
        "completion-keys.toml",
        &format!(
            "[tenants.open]\n\
             [tenants.contoso]\nenvironments = [\"contoso\"]\nentity_sets = [\"CustomersV3\"]\n\
             [keys.open]\nsha256 = \"{}\"\ntenant = \"open\"\n\
             [keys.limited]\nsha256 = \"{}\"\ntenant = \"contoso\"\n",
            digest(OPEN),
            digest(LIMITED)
        ),
    );
    let keys_arg = keys.to_str().unwrap().to_owned();
    let cluster = Cluster::builder()
        .environments_file(
            "default = \"contoso\"\n\
             [environments.contoso]\nbase_url = \"{sim}\"\n\
             [environments.fabrikam]\nbase_url = \"{sim}\"\n",
        )
        .worker_arg("--api-keys-file")
        .worker_arg(&keys_arg)
        .edge_arg("--api-keys-file")
        .edge_arg(&keys_arg)
        .start()
        .await;
    let url = cluster.mcp_url(0);

    let open = complete_as(&url, OPEN).await;
    assert_eq!(open["ok"], true, "{open}");
    assert_eq!(open["capability"], true, "declared in the capabilities");
    // Real simulator names, from the worker's metadata cache.
    let entities = values(&open, "entity");
    for name in ["CustomersV3", "CustomerGroups"] {
        assert!(entities.contains(&name.to_owned()), "{name}: {open}");
    }
    assert!(entities.iter().all(|n| n.starts_with("Cust")), "{open}");
    assert_eq!(open["entity"]["total"], json!(entities.len()), "{open}");
    assert_eq!(open["entity"]["has_more"], false, "{open}");
    assert_eq!(values(&open, "in_env"), entities, "the same data set");
    assert_eq!(values(&open, "environments"), ["contoso", "fabrikam"]);
    assert_eq!(values(&open, "named"), ["contoso", "fabrikam"]);
    // Enumeration names, in the enumeration templates.
    let enumerations = values(&open, "enumeration");
    assert!(enumerations.contains(&"SalesStatus".to_owned()), "{open}");
    assert!(
        enumerations.iter().all(|n| n.starts_with("Sales")),
        "{open}"
    );
    assert_eq!(open["unknown"]["code"], -32602, "{open}");
    let message = open["unknown"]["message"].as_str().unwrap();
    assert!(
        message.contains("prompts/list") && message.contains("d365fo_entity_analysis"),
        "{message}"
    );

    // The limited key sees its environment and entity set, nothing else.
    let limited = complete_as(&url, LIMITED).await;
    assert_eq!(limited["ok"], true, "{limited}");
    assert_eq!(values(&limited, "entity"), ["CustomersV3"], "{limited}");
    assert_eq!(values(&limited, "environments"), ["contoso"], "{limited}");
    assert_eq!(values(&limited, "named"), ["contoso"], "{limited}");
    assert!(
        values(&limited, "in_env").is_empty(),
        "fabrikam is not its environment: {limited}"
    );
    let _ = std::fs::remove_file(&keys);
}
