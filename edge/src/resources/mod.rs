//! MCP resources: D365FO facts a client can attach as context.
//!
//! The edge holds no D365FO data, so a resource read is a tool call under
//! another name: parse the URI ([`Address`]), dispatch the read-only tool
//! that answers it to a worker, and hand back the tool's structured result
//! as JSON. One road to D365FO keeps credentials, caching, throttling and
//! error wording in one place (the worker), and a resource can never say
//! something the matching tool would not.
//!
//! | URI | tool |
//! |---|---|
//! | `d365fo://environment`, `d365fo://environments/{name}` | `d365fo_get_environment_info` |
//! | `d365fo://entities/{entity}/schema`, `d365fo://environments/{environment}/entities/{entity}/schema` | `d365fo_get_entity_schema` |
//! | `d365fo://enumerations/{enumeration}`, `d365fo://environments/{environment}/enumerations/{enumeration}` | `d365fo_get_enumeration` |
//!
//! Every failure is a JSON-RPC error (resources have no `isError` result):
//! the `common::ErrorCode` decides the code, `data` names it and the URI.

mod uri;

use common::{ErrorCode, Failure, catalogue, proto};
use rmcp::model::{ErrorData, ReadResourceResult, Resource, ResourceContents, ResourceTemplate};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

pub use uri::{Address, is_environment_name, is_identifier, shown};

use crate::{EdgeState, auth::Principal, convert, dispatch};

const JSON: &str = "application/json";

/// The schema tool.
pub const GET_ENTITY_SCHEMA: &str = common::catalogue::names::GET_ENTITY_SCHEMA;

/// The concrete resources: those of the default environment.
pub fn list() -> Vec<Resource> {
    vec![
        Resource::new(
            Address::Environment { environment: None }.uri(),
            "environment",
        )
        .with_title("D365FO environment")
        .with_description(
            "The default D365FO environment: its URL, application version and platform build \
             version (what d365fo_get_environment_info returns).",
        )
        .with_mime_type(JSON),
    ]
}

/// The parameterised resources, as RFC 6570 templates.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("d365fo://environments/{name}", "named_environment")
            .with_title("D365FO environment by name")
            .with_description(
                "A configured D365FO environment by name: its URL, application version and \
                 platform build version.",
            )
            .with_mime_type(JSON),
        ResourceTemplate::new("d365fo://entities/{entity}/schema", "entity_schema")
            .with_title("D365FO entity schema")
            .with_description(
                "Schema of a data entity of the default environment: keys, fields and their \
                 types, mandatory fields, enumerations and relations. `entity` is the public \
                 entity or entity set name, e.g. CustomersV3.",
            )
            .with_mime_type(JSON),
        ResourceTemplate::new(
            "d365fo://environments/{environment}/entities/{entity}/schema",
            "entity_schema_in_environment",
        )
        .with_title("D365FO entity schema in a named environment")
        .with_description(
            "Schema of a data entity of a configured environment. `entity` is the public entity \
             or entity set name, e.g. CustomersV3.",
        )
        .with_mime_type(JSON),
        ResourceTemplate::new("d365fo://enumerations/{enumeration}", "enumeration")
            .with_title("D365FO enumeration")
            .with_description(
                "An enumeration of the default environment: its members' names, values and \
                 labels, e.g. SalesStatus.",
            )
            .with_mime_type(JSON),
        ResourceTemplate::new(
            "d365fo://environments/{environment}/enumerations/{enumeration}",
            "enumeration_in_environment",
        )
        .with_title("D365FO enumeration in a named environment")
        .with_description(
            "An enumeration of a configured environment: its members' names, values and labels.",
        )
        .with_mime_type(JSON),
    ]
}

/// The tool, and its arguments, that answers `address`.
pub fn tool_call(address: &Address) -> (&'static str, Map<String, Value>) {
    let (tool, environment, mut arguments) = match address {
        Address::Environment { environment } => (
            catalogue::names::GET_ENVIRONMENT_INFO,
            environment,
            Map::new(),
        ),
        Address::EntitySchema {
            environment,
            entity,
        } => {
            let mut arguments = Map::new();
            arguments.insert("entity".into(), json!(entity));
            (GET_ENTITY_SCHEMA, environment, arguments)
        }
        Address::Enumeration { environment, name } => {
            let mut arguments = Map::new();
            arguments.insert("name".into(), json!(name));
            (catalogue::names::GET_ENUMERATION, environment, arguments)
        }
    };
    if let Some(name) = environment {
        arguments.insert("environment".into(), json!(name));
    }
    (tool, arguments)
}

/// Reads `uri` through a worker; `cancelled` ends the read early (dropping
/// the worker call cancels it there).
pub async fn read(
    state: &EdgeState,
    caller: &Principal,
    uri: &str,
    cancelled: &CancellationToken,
) -> Result<ReadResourceResult, ErrorData> {
    let address = Address::parse(uri).map_err(|failure| error(uri, &failure))?;
    let (tool, arguments) = tool_call(&address);
    let timeout = state.config.call_timeout;
    let request = dispatch::worker_request(
        &state.config.policy,
        caller,
        tool,
        arguments,
        false,
        timeout,
    )
    .map_err(|failure| error(uri, &failure))?;
    // Counted until answered, as a tool call is: a drain waits for it.
    let _running = state.drain.enter();
    // Every tool behind a resource is a read, so a retry on another worker is safe.
    let call = dispatch::run(&state.workers, request, true, timeout, |_| {
        Box::pin(std::future::ready(()))
    });
    let outcome = tokio::select! {
        outcome = call => outcome,
        _ = state.drain.abandoned() => Err(crate::drain::abandoned(true)),
        _ = cancelled.cancelled() => Err(Failure::new(ErrorCode::Cancelled, "the read was cancelled")),
    };
    outcome
        .and_then(|result| contents(uri, tool, result))
        .map_err(|failure| error(uri, &failure))
}

/// A finished tool call as the resource's contents.
fn contents(
    uri: &str,
    tool: &str,
    result: proto::ToolResult,
) -> Result<ReadResourceResult, Failure> {
    let output = match result.outcome {
        Some(proto::tool_result::Outcome::Output(output)) => output,
        Some(proto::tool_result::Outcome::Failure(failure)) => {
            return Err(worker_failure(uri, tool, Failure::from_proto(&failure)));
        }
        None => {
            return Err(Failure::new(
                ErrorCode::Internal,
                "the worker sent an empty result",
            ));
        }
    };
    let malformed = |e: serde_json::Error| {
        Failure::new(
            ErrorCode::Internal,
            format!("the worker sent malformed output for {tool}: {e}"),
        )
    };
    let content: Vec<Value> = serde_json::from_str(&output.content_json).map_err(malformed)?;
    let words = || {
        content
            .iter()
            .filter_map(|block| block["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    if output.is_error {
        // Workers report failures as `ToolFailure`; this is a worker that did not.
        return Err(worker_failure(
            uri,
            tool,
            Failure::new(ErrorCode::UpstreamRejected, words()),
        ));
    }
    let (text, mime_type) = if output.structured_content_json.is_empty() {
        // No structured result: the text blocks are the answer, JSON or not.
        let text = words();
        let json = serde_json::from_str::<Value>(&text).is_ok();
        (text, if json { JSON } else { "text/plain" })
    } else {
        serde_json::from_str::<Value>(&output.structured_content_json).map_err(malformed)?;
        (output.structured_content_json, JSON)
    };
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(mime_type),
    ]))
}

/// A worker's failure, said in terms of the resource.
fn worker_failure(uri: &str, tool: &str, failure: Failure) -> Failure {
    if failure.code == ErrorCode::UnknownTool {
        // The URI is ours, so it is the worker that is behind (a rolling
        // upgrade); another worker may serve it.
        return Failure::new(
            ErrorCode::Unavailable,
            format!(
                "cannot read {}: the worker does not offer {tool}, which serves it (a worker \
                 older than this edge?); try again later",
                uri::shown(uri)
            ),
        );
    }
    Failure {
        message: format!("cannot read {}: {}", uri::shown(uri), failure.message),
        ..failure
    }
}

/// The JSON-RPC error for `failure` while reading `uri`. `NotFound` keeps
/// MCP's resource-not-found code (`ErrorCode::NotFound`), which rmcp rewrites to invalid params for
/// 2026-07-28 clients (SEP-2164); `data.uri` follows the spec's example.
fn error(uri: &str, failure: &Failure) -> ErrorData {
    let mut error = convert::error_data(failure);
    if let Some(Value::Object(data)) = error.data.as_mut()
        && uri.len() <= 512
    {
        data.insert("uri".into(), json!(uri));
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(structured: &str, text: &str, is_error: bool) -> proto::ToolResult {
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Output(proto::ToolOutput {
                content_json: json!([{"type": "text", "text": text}]).to_string(),
                structured_content_json: structured.into(),
                is_error,
            })),
        }
    }

    fn failure(code: ErrorCode, message: &str) -> proto::ToolResult {
        proto::ToolResult {
            outcome: Some(proto::tool_result::Outcome::Failure(
                Failure::new(code, message).to_proto(),
            )),
        }
    }

    fn text_of(result: &ReadResourceResult) -> (String, Option<String>) {
        match &result.contents[..] {
            [
                ResourceContents::TextResourceContents {
                    text, mime_type, ..
                },
            ] => (text.clone(), mime_type.clone()),
            other => panic!("one text content expected: {other:?}"),
        }
    }

    const URI: &str = "d365fo://environment";

    #[test]
    fn each_address_reads_through_its_tool() {
        let (tool, args) = tool_call(&Address::parse(URI).unwrap());
        assert_eq!(tool, catalogue::names::GET_ENVIRONMENT_INFO);
        assert!(args.is_empty(), "the worker picks its default: {args:?}");
        let (tool, args) = tool_call(
            &Address::parse("d365fo://environments/prod/entities/CustomersV3/schema").unwrap(),
        );
        assert_eq!(tool, GET_ENTITY_SCHEMA);
        assert_eq!(
            Value::Object(args),
            json!({"entity": "CustomersV3", "environment": "prod"})
        );
        for (uri, arguments) in [
            (
                "d365fo://enumerations/SalesStatus",
                json!({"name": "SalesStatus"}),
            ),
            (
                "d365fo://environments/prod/enumerations/NoYes",
                json!({"name": "NoYes", "environment": "prod"}),
            ),
        ] {
            let address = Address::parse(uri).unwrap();
            assert_eq!(address.uri(), uri, "canonical");
            let (tool, args) = tool_call(&address);
            assert_eq!(tool, catalogue::names::GET_ENUMERATION);
            assert_eq!(Value::Object(args), arguments);
        }
        assert!(Address::parse("d365fo://enumerations/Sales Status").is_err());
        assert!(Address::parse("d365fo://enumerations/A/B").is_err());
    }

    #[test]
    fn structured_output_is_the_json_contents() {
        let result = contents(URI, "t", output(r#"{"a":1}"#, "ignored", false)).unwrap();
        assert_eq!(text_of(&result), (r#"{"a":1}"#.into(), Some(JSON.into())));
        let result = contents(URI, "t", output("", "plain words", false)).unwrap();
        assert_eq!(
            text_of(&result),
            ("plain words".into(), Some("text/plain".into()))
        );
        let e = contents(URI, "t", output("{", "", false)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal);
    }

    #[test]
    fn failures_keep_their_code_and_name_the_uri() {
        let e = contents(URI, "t", failure(ErrorCode::NotFound, "no such entity")).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound);
        assert!(
            e.message.contains(URI) && e.message.contains("no such entity"),
            "{e}"
        );
        let e = contents(URI, "t", output("{}", "D365FO said no", true)).unwrap_err();
        assert_eq!(e.code, ErrorCode::UpstreamRejected);
        assert!(e.message.contains("D365FO said no"), "{e}");
        let e = contents(URI, "d365fo_x", failure(ErrorCode::UnknownTool, "?")).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert!(e.message.contains("d365fo_x"), "{e}");

        let data = error(URI, &e).data.unwrap();
        assert_eq!(data["uri"], URI);
        assert_eq!(data["code"], "unavailable");
        let not_found = error(URI, &Failure::new(ErrorCode::NotFound, "gone"));
        assert_eq!(not_found.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND);
    }
}
