//! Skills (SEP-2640) served by `d365mcp dev`: listed, fetched and read by
//! the official Python SDK 2.x in its default mode (2026-07-28), by rmcp's
//! client in both protocol eras, and refused clearly when unknown or
//! malformed.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{path::PathBuf, time::Duration};

use rmcp::{
    model::{GetSkillRequestParams, ReadResourceRequestParams, ResourceContents, SkillResources},
    service::ServiceError,
};
use serde_json::json;
use support::{
    cluster::{Process, wait_for},
    mcp::{self, Era},
    raw,
};

/// The skills the edge serves, in listing order.
const SKILLS: [&str; 5] = [
    "find-entity",
    "company-scope",
    "paging",
    "writing-with-etags",
    "labels",
];

/// `d365mcp dev` on an ephemeral port, ready; skills need no D365FO.
async fn dev() -> Process {
    let dev = Process::start("dev", &["dev", "--listen", "127.0.0.1:0"], &[]).await;
    wait_for(&format!("{}/ready", dev.url()), 200).await;
    dev
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[tokio::test]
async fn the_python_sdk_finds_reads_and_verifies_every_skill() {
    let dev = dev().await;
    let python = repo("target/py-clients/bin/python");
    let script = repo("tests/clients/python_skills.py");
    let url = format!("{}/mcp", dev.url());
    let args = [script.to_str().unwrap(), url.as_str()];
    let what = "python mcp 2.3.0 skills, default mode";
    let output = support::run_bounded(
        what,
        python.to_str().unwrap(),
        &args,
        Duration::from_secs(90),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what}:\n{stdout}\n{stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["protocol"], "2026-07-28", "{summary}");
    // Found both ways, and every file matched its digest and front matter.
    assert_eq!(summary["skills"], SKILLS.len(), "{summary}");
    assert_eq!(summary["skill_resources"], SKILLS.len(), "{summary}");
    assert_eq!(summary["verified"], SKILLS.len(), "{summary}");
    assert_eq!(summary["unknown_skill_code"], -32602, "{summary}");
}

#[tokio::test]
async fn skills_list_get_and_read_in_both_eras() {
    let dev = dev().await;
    let url = format!("{}/mcp", dev.url());
    for era in Era::ALL {
        let client = mcp::connect(&url, era).await;
        let capabilities = &client.peer_info().expect("server info").capabilities;
        assert!(capabilities.supports_skills(), "{era:?}: {capabilities:?}");
        assert!(!capabilities.supports_directory_read(), "{era:?}");

        let skills = client.list_all_skills().await.expect("skills/list");
        let names: Vec<&str> = skills.iter().map(|s| s.name()).collect();
        assert_eq!(names, SKILLS, "{era:?}");
        let resources = client.list_all_resources().await.expect("resources/list");
        for skill in &skills {
            assert!(
                resources.iter().any(|r| r.uri == skill.uri),
                "{era:?}: {} is not in resources/list",
                skill.uri
            );
            let got = client
                .get_skill(GetSkillRequestParams::new(skill.uri.clone()))
                .await
                .expect("skills/get");
            assert_eq!(&got.skill, skill, "{era:?}");

            let read = client
                .read_resource(ReadResourceRequestParams::new(skill.uri.clone()))
                .await
                .expect("resources/read");
            let [ResourceContents::TextResourceContents { text, .. }] = read.contents.as_slice()
            else {
                panic!("{era:?}: one text content expected: {read:?}");
            };
            let SkillResources::Files(files) = &skill.resources else {
                panic!("{era:?}: {} has no manifest", skill.uri);
            };
            files[0].verify(text.as_bytes()).unwrap();
            let opening = format!("---\nname: {}\n", skill.name());
            assert!(text.starts_with(&opening), "{era:?}: {text}");
        }

        let unknown = client
            .get_skill(GetSkillRequestParams::new("skill://d365fo/nope/SKILL.md"))
            .await;
        let Err(ServiceError::McpError(error)) = unknown else {
            panic!("{era:?}: an unknown skill must be an error: {unknown:?}");
        };
        assert_eq!(error.code.0, -32602, "{era:?}: {error:?}");
        assert!(error.message.contains("find-entity"), "{error:?}");

        let missing = client
            .read_resource(ReadResourceRequestParams::new(
                "skill://d365fo/find-entity/other.md",
            ))
            .await;
        let Err(ServiceError::McpError(error)) = missing else {
            panic!("{era:?}: an unknown skill file must be an error: {missing:?}");
        };
        // Resource not found: -32002 in a session, invalid params in
        // 2026-07-28 (SEP-2164), as for every unknown resource.
        let expected = if era == Era::Stateless2026 {
            -32602
        } else {
            -32002
        };
        assert_eq!(error.code.0, expected, "{era:?}: {error:?}");
        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn malformed_skill_requests_are_invalid_params_in_a_session() {
    let dev = dev().await;
    let url = format!("{}/mcp", dev.url());
    let session = raw::open(&url, None).await;
    let get = json!({"jsonrpc": "2.0", "id": 7, "method": "skills/get", "params": {"uri": 5}});
    let (status, events) = raw::request(&url, &session, None, &get).await;
    let answer = raw::answer(&events);
    // Refused by the edge's guard before rmcp, as every malformed request is.
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");

    let list = json!({"jsonrpc": "2.0", "id": 8, "method": "skills/list", "params": {}});
    let (_, events) = raw::request(&url, &session, None, &list).await;
    let answer = raw::answer(&events);
    let uris: Vec<&str> = answer["result"]["skills"]
        .as_array()
        .expect("skills")
        .iter()
        .filter_map(|s| s["uri"].as_str())
        .collect();
    let expected: Vec<String> = SKILLS
        .iter()
        .map(|name| format!("skill://d365fo/{name}/SKILL.md"))
        .collect();
    assert_eq!(uris, expected, "{answer}");
}
