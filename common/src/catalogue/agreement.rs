//! Schema and deserializer agree: every tool's example arguments, and every
//! argument object its description quotes, are accepted by both its input
//! schema and the argument type the worker reads it with; an unknown
//! argument, a missing required one, or a value of the wrong type is
//! refused by both.
//!
//! The schemas are checked with a small validator for exactly the keywords
//! the catalogue uses; a keyword it does not know fails the test, so it
//! cannot pass a schema by skipping what it does not understand.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{
    args::NoArgs,
    data::{self, OpArgs, OpKind},
    execution, metadata, names, tools,
};

/// Reads `args` through the argument type the worker reads `tool`'s with.
fn parse(tool: &str, args: &Value) -> Result<(), String> {
    fn read<T: DeserializeOwned>(args: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(args.clone())
            .map(drop)
            .map_err(|e| e.to_string())
    }
    match tool {
        names::QUERY_ENTITIES => read::<data::QueryArgs>(args),
        names::GET_ENTITY_RECORD => read::<data::RecordArgs>(args),
        names::CREATE_ENTITY_RECORD => read::<data::CreateArgs>(args),
        names::UPDATE_ENTITY_RECORD => read::<data::UpdateArgs>(args),
        names::DELETE_ENTITY_RECORD => read::<data::DeleteArgs>(args),
        names::EXECUTE_BATCH => {
            let batch: data::BatchArgs =
                serde_json::from_value(args.clone()).map_err(|e| e.to_string())?;
            // As the worker's planner reads each item: `op`, then the rest.
            for item in batch.operations {
                let Value::Object(mut item) = item else {
                    return Err("an operation is not an object".into());
                };
                let op = item.remove("op");
                if op
                    .as_ref()
                    .and_then(Value::as_str)
                    .and_then(OpKind::from_name)
                    .is_none()
                {
                    return Err(format!("bad op {op:?}"));
                }
                read::<OpArgs>(&Value::Object(item))?;
            }
            Ok(())
        }
        names::CALL_ACTION => read::<execution::ActionArgs>(args),
        names::CALL_JSON_SERVICE => read::<execution::CallArgs>(args),
        names::LIST_JSON_SERVICES => read::<execution::ListArgs>(args),
        names::RUN_REPORT => read::<execution::ReportArgs>(args),
        names::SEARCH_ENTITIES => read::<metadata::SearchEntitiesArgs>(args),
        names::GET_ENTITY_SCHEMA => read::<metadata::SchemaArgs>(args),
        names::SEARCH_ACTIONS => read::<metadata::SearchActionsArgs>(args),
        names::SEARCH_ENUMERATIONS => read::<metadata::SearchEnumsArgs>(args),
        names::GET_ENUMERATION => read::<metadata::EnumArgs>(args),
        names::GET_LABEL => read::<metadata::LabelArgs>(args),
        names::GET_LABELS => read::<metadata::LabelsArgs>(args),
        names::GET_PERFORMANCE_STATS => read::<super::server::StatsArgs>(args),
        names::TEST_CONNECTION
        | names::GET_ENVIRONMENT_INFO
        | names::GET_INSTALLED_MODULES
        | names::RESET_PERFORMANCE_STATS
        | names::GET_SERVER_CONFIG => read::<NoArgs>(args),
        other => Err(format!("no argument type for {other}")),
    }
}

/// The keywords [`validate`] checks, and the annotations it may ignore.
const KNOWN: [&str; 17] = [
    "type",
    "enum",
    "anyOf",
    "properties",
    "required",
    "additionalProperties",
    "minProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "pattern",
    "description",
    "title",
];

/// Where `value` breaks `schema`, as messages naming the place.
fn validate(schema: &Value, value: &Value, at: &str, wrong: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            wrong.push(format!("{at}: not allowed"));
        }
        return;
    };
    for key in node.keys() {
        assert!(KNOWN.contains(&key.as_str()), "{at}: unknown keyword {key}");
    }
    let mut fail = |why: String| wrong.push(format!("{at}: {why}"));
    if let Some(t) = node.get("type").and_then(Value::as_str) {
        let fits = match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("{at}: unknown type {other}"),
        };
        if !fits {
            return fail(format!("{value} is not of type {t}"));
        }
    }
    if let Some(allowed) = node.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        fail(format!("{value} is not one of {allowed:?}"));
    }
    if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
        let fits = branches.iter().any(|b| {
            let mut w = Vec::new();
            validate(b, value, at, &mut w);
            w.is_empty()
        });
        if !fits {
            fail(format!("{value} fits no branch of anyOf"));
        }
    }
    let number = |k: &str| node.get(k).and_then(Value::as_f64);
    let count = |k: &str| {
        node.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    if let Some(n) = value.as_f64()
        && (number("minimum").is_some_and(|m| n < m) || number("maximum").is_some_and(|m| n > m))
    {
        fail(format!("{n} is out of range"));
    }
    if let Some(s) = value.as_str() {
        let chars = s.chars().count();
        if count("minLength").is_some_and(|m| chars < m)
            || count("maxLength").is_some_and(|m| chars > m)
        {
            fail(format!("{s:?} has the wrong length"));
        }
        if let Some(pattern) = node.get("pattern").and_then(Value::as_str) {
            let re = regex::Regex::new(pattern).unwrap();
            if !re.is_match(s) {
                fail(format!("{s:?} does not match {pattern}"));
            }
        }
    }
    if let Some(items) = value.as_array() {
        if count("minItems").is_some_and(|m| items.len() < m)
            || count("maxItems").is_some_and(|m| items.len() > m)
        {
            fail(format!("{} items is the wrong number", items.len()));
        }
        if let Some(item_schema) = node.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(item_schema, item, &format!("{at}[{i}]"), wrong);
            }
        }
    }
    if let Some(object) = value.as_object() {
        check_object(node, object, at, wrong);
    }
}

fn check_object(
    node: &Map<String, Value>,
    object: &Map<String, Value>,
    at: &str,
    wrong: &mut Vec<String>,
) {
    let properties = node.get("properties").and_then(Value::as_object);
    for name in node
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !name.as_str().is_some_and(|n| object.contains_key(n)) {
            wrong.push(format!("{at}: {name} is required"));
        }
    }
    if node
        .get("minProperties")
        .and_then(Value::as_u64)
        .is_some_and(|m| (object.len() as u64) < m)
    {
        wrong.push(format!("{at}: too few properties"));
    }
    for (name, value) in object {
        let path = format!("{at}.{name}");
        match properties.and_then(|p| p.get(name)) {
            Some(schema) => validate(schema, value, &path, wrong),
            None => {
                if let Some(extra) = node.get("additionalProperties") {
                    validate(extra, value, &path, wrong);
                }
            }
        }
    }
}

/// Where `value` breaks `schema`, from the root.
pub(super) fn errors(schema: &Value, value: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    validate(schema, value, "$", &mut wrong);
    wrong
}

/// Every JSON object or array that starts somewhere in `text`.
fn quoted_json(text: &str) -> Vec<Value> {
    text.char_indices()
        .filter(|(_, c)| matches!(c, '{' | '['))
        .filter_map(|(i, _)| {
            let mut values = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
            values.next().and_then(Result::ok)
        })
        .collect()
}

/// The argument objects `tool`'s description quotes: objects whose keys
/// are all arguments of the tool and include the required ones, and
/// arrays of objects given as the tool's only required (array) argument.
fn quoted_arguments(schema: &Value, description: &str) -> Vec<Value> {
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut found = Vec::new();
    for value in quoted_json(description) {
        match &value {
            Value::Object(map)
                if !map.is_empty()
                    && map.keys().all(|k| properties.contains_key(k))
                    && required.iter().all(|r| map.contains_key(*r)) =>
            {
                found.push(value);
            }
            Value::Array(items)
                if !items.is_empty()
                    && items.iter().all(Value::is_object)
                    && required.len() == 1
                    && properties[required[0]]["type"] == "array" =>
            {
                found.push(json!({ required[0]: value }));
            }
            _ => {}
        }
    }
    found
}

#[test]
fn every_example_fits_the_schema_and_the_argument_type() {
    for tool in tools() {
        assert!(!tool.examples.is_empty(), "{} has no example", tool.name);
        for text in tool.examples {
            let example: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{}: example {text} is not JSON: {e}", tool.name));
            assert!(example.is_object(), "{}: {text}", tool.name);
            let wrong = errors(&tool.input_schema, &example);
            assert!(
                wrong.is_empty(),
                "{}: {text} breaks the schema: {wrong:?}",
                tool.name
            );
            if let Err(e) = parse(tool.name, &example) {
                panic!("{}: {text} is refused by its argument type: {e}", tool.name);
            }
        }
    }
}

#[test]
fn every_example_a_description_quotes_is_an_example() {
    let mut quoted = 0;
    for tool in tools() {
        let examples: Vec<Value> = tool
            .examples
            .iter()
            .filter_map(|e| serde_json::from_str(e).ok())
            .collect();
        for value in quoted_arguments(&tool.input_schema, tool.description) {
            quoted += 1;
            assert!(
                examples.contains(&value),
                "{}'s description quotes {value}, which is not among its examples",
                tool.name
            );
        }
    }
    // The descriptions of the actions and services tools quote whole
    // argument objects; finding none means the search broke.
    assert!(quoted >= 5, "only {quoted} quoted examples found");
}

/// A value of another JSON type than `schema` allows.
fn wrong_type(schema: &Value) -> Option<Value> {
    match schema["type"].as_str()? {
        "string" => Some(json!(5)),
        "integer" | "number" => Some(json!("five")),
        "boolean" => Some(json!("yes")),
        "array" => Some(json!("a")),
        "object" => Some(json!(5)),
        _ => None,
    }
}

#[test]
fn both_refuse_what_the_schema_refuses() {
    for tool in tools() {
        let schema = &tool.input_schema;
        let base: Value = serde_json::from_str(tool.examples[0]).unwrap();
        let both_refuse = |args: Value, what: &str| {
            assert!(
                !errors(schema, &args).is_empty(),
                "{}: the schema accepts {what}: {args}",
                tool.name
            );
            assert!(
                parse(tool.name, &args).is_err(),
                "{}: the argument type accepts {what}: {args}",
                tool.name
            );
        };
        let mut unknown = base.clone();
        unknown["no_such_argument"] = json!(1);
        both_refuse(unknown, "an unknown argument");
        for name in schema["required"].as_array().into_iter().flatten() {
            let mut missing = base.clone();
            if let (Some(map), Some(name)) = (missing.as_object_mut(), name.as_str()) {
                map.remove(name);
            }
            both_refuse(missing, "a missing required argument");
        }
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, property) in properties {
            // The executor takes `environment` out before the tool reads.
            if name == "environment" {
                continue;
            }
            let Some(value) = wrong_type(&property) else {
                continue;
            };
            let mut wrong = base.clone();
            wrong[&name] = value;
            both_refuse(wrong, &format!("`{name}` of the wrong type"));
        }
    }
}

#[test]
fn the_validator_reads_the_catalogue_keywords() {
    let schema = json!({
        "type": "object",
        "properties": {
            "a": {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^x"},
            "b": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer", "minimum": 0, "maximum": 9}},
            "c": {"anyOf": [{"type": "string"}, {"type": "object", "minProperties": 1}]},
            "d": {"type": "string", "enum": ["p", "q"]}
        },
        "required": ["a"],
        "additionalProperties": false
    });
    assert!(
        errors(
            &schema,
            &json!({"a": "xy", "b": [1], "c": {"k": 1}, "d": "p"})
        )
        .is_empty()
    );
    for bad in [
        json!({}),
        json!({"a": ""}),
        json!({"a": "xyzw"}),
        json!({"a": "yy"}),
        json!({"a": "x", "b": []}),
        json!({"a": "x", "b": [10]}),
        json!({"a": "x", "c": {}}),
        json!({"a": "x", "c": 1}),
        json!({"a": "x", "d": "r"}),
        json!({"a": "x", "e": 1}),
    ] {
        assert!(!errors(&schema, &bad).is_empty(), "{bad}");
    }
}
