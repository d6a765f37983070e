//! Cluster test: MCP resources and prompts through real processes (simulator,
//! worker, edge), read by rmcp's client in both protocol eras.

// Tests fail loudly on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use rmcp::{
    model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents},
    service::ServiceError,
};
use serde_json::{Value, json};
use support::{
    Cluster,
    mcp::{self, Era},
};

/// The one text content of a resource read, parsed as the JSON it claims to be.
fn json_contents(contents: &[ResourceContents], uri: &str) -> Value {
    let [
        ResourceContents::TextResourceContents {
            uri: read_uri,
            mime_type,
            text,
            ..
        },
    ] = contents
    else {
        panic!("one text content expected: {contents:?}");
    };
    assert_eq!(read_uri, uri);
    assert_eq!(mime_type.as_deref(), Some("application/json"));
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn the_environment_resource_reads_through_a_worker_in_both_eras() {
    let cluster = Cluster::builder().workers(1).start().await;
    for era in Era::ALL {
        let client = mcp::connect(&cluster.mcp_url(0), era).await;
        let capabilities = &client.peer_info().expect("server info").capabilities;
        assert!(capabilities.resources.is_some(), "{era:?}");
        assert!(capabilities.prompts.is_some(), "{era:?}");

        let resources = client.list_all_resources().await.expect("resources/list");
        assert!(
            resources.iter().any(|r| r.uri == "d365fo://environment"),
            "{era:?}: {resources:?}"
        );
        let templates = client
            .list_all_resource_templates()
            .await
            .expect("resources/templates/list");
        assert!(
            templates
                .iter()
                .any(|t| t.uri_template == "d365fo://entities/{entity}/schema"),
            "{era:?}: {templates:?}"
        );

        // An enumeration reads through d365fo_get_enumeration.
        let uri = "d365fo://enumerations/NoYes";
        let read = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_or_else(|e| panic!("{era:?}: resources/read {uri}: {e}"));
        let enumeration = json_contents(&read.contents, uri);
        assert_eq!(enumeration["name"], "NoYes", "{era:?}: {enumeration}");

        // The resource says what the tool says.
        let uri = "d365fo://environment";
        let read = client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .unwrap_or_else(|e| panic!("{era:?}: resources/read {uri}: {e}"));
        let info = json_contents(&read.contents, uri);
        assert!(
            info["application_version"]
                .as_str()
                .unwrap()
                .starts_with("10.0"),
            "{era:?}: {info}"
        );
        let tool = mcp::call(&client, "d365fo_get_environment_info", json!({}))
            .await
            .expect("tools/call");
        assert_eq!(Some(info.clone()), tool.structured_content, "{era:?}");

        // The default environment by name is the same resource.
        let named = "d365fo://environments/default";
        let read = client
            .read_resource(ReadResourceRequestParams::new(named))
            .await
            .unwrap_or_else(|e| panic!("{era:?}: resources/read {named}: {e}"));
        assert_eq!(json_contents(&read.contents, named), info, "{era:?}");

        // An environment the worker does not serve: invalid params, naming
        // the ones it does.
        match client
            .read_resource(ReadResourceRequestParams::new("d365fo://environments/nope"))
            .await
        {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code.0, -32602, "{era:?}: {e:?}");
                assert!(e.message.contains("default"), "{era:?}: {}", e.message);
            }
            other => panic!("{era:?}: unknown environment should fail, got {other:?}"),
        }

        // No such resource: -32002 in the session era, -32602 from 2026-07-28
        // on (SEP-2164), `not_found` either way.
        let not_found = match era {
            Era::Stateless2026 => -32602,
            Era::Session2025 => -32002,
        };
        match client
            .read_resource(ReadResourceRequestParams::new("d365fo://customers"))
            .await
        {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code.0, not_found, "{era:?}: {e:?}");
                assert_eq!(e.data.as_ref().unwrap()["code"], "not_found");
            }
            other => panic!("{era:?}: an unknown URI should fail, got {other:?}"),
        }

        client.cancel().await.ok();
    }
}

/// The JSON objects written in `text`, in order.
fn json_examples(text: &str) -> Vec<Value> {
    text.char_indices()
        .filter(|(_, c)| *c == '{')
        .filter_map(|(i, _)| {
            serde_json::Deserializer::from_str(&text[i..])
                .into_iter::<Value>()
                .next()?
                .ok()
        })
        .filter(Value::is_object)
        .collect()
}

#[tokio::test]
async fn the_environment_summary_prompt_suggests_queries_that_work() {
    let cluster = Cluster::builder().workers(1).start().await;
    let client = mcp::connect(&cluster.mcp_url(0), Era::Session2025).await;
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("d365fo_environment_summary"))
        .await
        .expect("prompts/get");
    let text = serde_json::to_value(&prompt.messages).unwrap()[0]["content"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    // Each query a model would copy from the prompt runs as written.
    let queries: Vec<Value> = json_examples(&text)
        .into_iter()
        .filter(|example| example.get("entity_set").is_some())
        .collect();
    assert!(queries.len() >= 4, "{text}");
    for query in queries {
        let result = mcp::call_ok(&client, "d365fo_query_entities", query.clone()).await;
        let structured = result.structured_content.expect("structured content");
        assert!(
            structured["total_count"].as_u64().is_some(),
            "{query}: {structured}"
        );
    }
    client.cancel().await.ok();
}
