use std::{collections::HashMap, sync::Arc};

use common::{
    catalogue::names,
    config::EdgeConfig,
    executor::ToolExecutor,
    proto::{self, CallToolEvent, CallToolRequest, ListToolsResponse, call_tool_event::Event},
};
use futures::{StreamExt, stream::BoxStream};
use rmcp::model::{ArgumentInfo, CompletionContext};
use serde_json::{Value, json};

use super::*;
use crate::WorkerPool;

/// A worker serving two environments whose searches answer from a fixed
/// list of names, remembering the environment each search named.
struct Metadata;

const SETS: [&str; 4] = ["CustomersV3", "CustomerGroups", "Currencies", "VendorsV2"];

impl ToolExecutor for Metadata {
    fn call_tool(&self, request: CallToolRequest) -> BoxStream<'static, CallToolEvent> {
        let args: Value = serde_json::from_str(&request.arguments_json).unwrap_or_default();
        let (list, field, names): (&str, &str, &[&str]) = match request.tool.as_str() {
            names::SEARCH_ENTITIES => ("entities", "entity_set", &SETS),
            _ => ("enumerations", "name", &["NoYes", "SalesStatus"]),
        };
        // The environment searched shows as a name, so a test can see it.
        let mut hits: Vec<Value> = names.iter().map(|n| json!({ field: n })).collect();
        hits.push(json!({ field: format!("Env_{}", request.environment) }));
        let page = json!({"more": false, "query": args["query"], list: hits});
        let result = proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: "[]".into(),
                structured_content_json: page.to_string(),
                is_error: false,
            })),
        };
        futures::stream::iter([CallToolEvent {
            event: Some(Event::Result(result)),
        }])
        .boxed()
    }

    fn list_tools(&self) -> ListToolsResponse {
        ListToolsResponse {
            environments: vec!["contoso".into(), "fabrikam".into()],
            ..Default::default()
        }
    }
}

const KEYS: &str = "[tenants.contoso]\nenvironments = [\"contoso\"]\n\
    [tenants.open]\n\
    [keys.app]\nsha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n\
    tenant = \"contoso\"\nentity_sets = [\"CustomersV3\"]\n\
    [keys.all]\nsha256 = \"5ef5ef0364b6939c4ca61f34b393f7b368d1be8619647aaf83d5b395919ab629\"\n\
    tenant = \"open\"\n\
    [keys.labels]\nsha256 = \"d772ebb4590212c65cc31888ee55c3a893d866d8479f84a4c0ca36918a3fa75f\"\n\
    tenant = \"open\"\ntools = [\"d365fo_get_label\"]\n";

fn state() -> EdgeState {
    let mut config = EdgeConfig::local("127.0.0.1:0".parse().unwrap());
    config.policy = common::config::auth::parse_file(KEYS).unwrap().policy;
    EdgeState::new(config, WorkerPool::local(Arc::new(Metadata)))
}

async fn ask(
    key: (&str, &str),
    reference: Reference,
    argument: (&str, &str),
    context: &[(&str, &str)],
) -> Result<CompletionInfo, ErrorData> {
    let mut request =
        CompleteRequestParams::new(reference, ArgumentInfo::new(argument.0, argument.1));
    if !context.is_empty() {
        let arguments: HashMap<String, String> = context
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        request = request.with_context(CompletionContext::with_arguments(arguments));
    }
    let caller = Principal::key(key.0, key.1);
    let answer = complete(&state(), &caller, &request, &CancellationToken::new()).await;
    answer.map(|result| result.completion)
}

const ALL: (&str, &str) = ("all", "open");
const CONTOSO: (&str, &str) = ("app", "contoso");
const SCHEMA: &str = "d365fo://environments/{environment}/entities/{entity}/schema";

fn prompt() -> Reference {
    Reference::for_prompt(prompts::ENTITY_ANALYSIS)
}

#[tokio::test]
async fn entity_sets_come_from_the_search_in_the_chosen_environment() {
    let info = ask(ALL, prompt(), ("entity", "cust"), &[]).await.unwrap();
    assert_eq!(info.values, ["CustomersV3", "CustomerGroups"]);
    assert_eq!((info.total, info.has_more), (Some(2), Some(false)));
    let chosen = [("environment", "fabrikam")];
    let info = ask(
        ALL,
        Reference::for_resource(SCHEMA),
        ("entity", "Env"),
        &chosen,
    )
    .await
    .unwrap();
    assert_eq!(info.values, ["Env_fabrikam"]);
}

#[tokio::test]
async fn the_policy_decides_which_names_are_offered() {
    let info = ask(CONTOSO, prompt(), ("entity", "Cu"), &[]).await.unwrap();
    assert_eq!(info.values, ["CustomersV3"], "its entity_sets rule");
    let info = ask(CONTOSO, prompt(), ("environment", ""), &[])
        .await
        .unwrap();
    assert_eq!(info.values, ["contoso"]);
    let info = ask(ALL, prompt(), ("environment", "F"), &[]).await.unwrap();
    assert_eq!(info.values, ["fabrikam"]);
    // An environment it may not use is searched in no way.
    let elsewhere = [("environment", "fabrikam")];
    let info = ask(CONTOSO, prompt(), ("entity", "Cu"), &elsewhere)
        .await
        .unwrap();
    assert!(info.values.is_empty(), "{info:?}");
    // A key that may not search gets nothing, not an error.
    let info = ask(("labels", "open"), prompt(), ("entity", "Cu"), &[])
        .await
        .unwrap();
    assert!(info.values.is_empty(), "{info:?}");
}

#[tokio::test]
async fn values_no_name_can_start_with_are_answered_empty() {
    let long = "C".repeat(MAX_VALUE_CHARS + 1);
    for value in [long.as_str(), "Cust omers", "1Cust", "Cüst"] {
        let info = ask(ALL, prompt(), ("entity", value), &[]).await.unwrap();
        assert!(info.values.is_empty(), "{value}: {info:?}");
    }
    let info = ask(ALL, prompt(), ("focus", "data"), &[]).await.unwrap();
    assert!(info.values.is_empty(), "free text: {info:?}");
    let template = Reference::for_resource("d365fo://environments/{name}");
    let info = ask(ALL, template, ("name", "con"), &[]).await.unwrap();
    assert_eq!(info.values, ["contoso"]);
}

#[tokio::test]
async fn an_unknown_reference_or_argument_is_invalid_params_naming_what_exists() {
    let cases = [
        (Reference::for_prompt("nope"), "entity", "prompts/list"),
        (prompt(), "colour", "it takes: entity, environment, focus"),
        (
            Reference::for_resource("d365fo://environments/x/entities/{entity}/schema"),
            "entity",
            "resources/templates/list",
        ),
        (
            Reference::for_resource(SCHEMA),
            "name",
            "it takes: environment, entity",
        ),
    ];
    for (reference, argument, hint) in cases {
        let e = ask(ALL, reference, (argument, ""), &[]).await.unwrap_err();
        assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{e:?}");
        assert!(e.message.contains(hint), "{}", e.message);
    }
}

#[test]
fn an_answer_carries_at_most_the_mcp_limit() {
    let names: Vec<String> = (0..150).map(|i| format!("E{i}")).collect();
    let info = Found::all(names).into_info();
    assert_eq!(info.values.len(), MAX_VALUES);
    assert_eq!((info.total, info.has_more), (Some(150), Some(true)));
    assert_eq!(variables(SCHEMA), ["environment", "entity"]);
    assert!(starts_with("CustomersV3", "cUST") && !starts_with("Cu", "Cust"));
    assert!(
        !starts_with("Äb", "a"),
        "a prefix inside a character matches nothing"
    );
}
