//! Tool input schemas derived from the argument types.
//!
//! [`input`] asks schemars for a type's schema and makes it portable: every
//! subschema inlined (no `$ref`, which several model providers' clients
//! misread), no `$schema`, `title` or root `description` (the tool's own
//! description says it), a single `type` per node (schemars writes an
//! `Option<T>` as `"type": [T, "null"]`; the readers take a `null` as
//! absent, so the schema shows only T), no schemars `format`s such as
//! `uint` and no `default`s (the readers apply them; descriptions say the
//! ones that matter), and doc-comment line breaks turned back into spaces.
//! Then it adds [`environment_property`], which every tool takes.

use schemars::{
    JsonSchema, Schema,
    generate::SchemaSettings,
    transform::{Transform, transform_subschemas},
};
use serde_json::{Map, Value, json};

/// The input schema of a tool whose arguments are `T`: an object of `T`'s
/// fields plus `environment`, with `T`'s required fields and no others.
pub fn input<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(Portable)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(root) = schema.as_object_mut() {
        root.remove("title");
        root.remove("description");
        let properties = root
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(properties) = properties.as_object_mut() {
            properties.insert("environment".into(), environment_property());
        }
    }
    schema
}

/// The `environment` argument every tool takes. The executor takes it out
/// before a tool reads its arguments, so no argument type has it.
pub fn environment_property() -> Value {
    json!({
        "type": "string",
        "description": "Name of a configured D365FO environment. Omit to use the default environment."
    })
}

/// A schema that accepts any JSON value, spelled so that every client can
/// read it: one branch per type (a bare `{}` or a `type` array is legal JSON
/// Schema, but clients that map tool schemas onto a single-`type` dialect,
/// as several model providers do, reject or misread them).
pub fn any_json() -> Value {
    json!([
        {"type": "object"}, {"type": "array"}, {"type": "string"},
        {"type": "number"}, {"type": "boolean"}, {"type": "null"}
    ])
}

/// Rewrites what schemars derives into the portable form (see the module
/// documentation), node by node.
#[derive(Debug, Clone, Copy)]
pub struct Portable;

impl Transform for Portable {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(node) = schema.as_object_mut() {
            portable(node);
        }
        transform_subschemas(self, schema);
    }
}

fn portable(node: &mut Map<String, Value>) {
    node.remove("format");
    // Defaults are the readers' and said in descriptions where they matter.
    node.remove("default");
    // `Option<T>`: a null is read as absent, so the type is T's.
    if let Some(Value::Array(types)) = node.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let single = types.remove(0);
            node.insert("type".into(), single);
        }
    }
    if let Some(Value::Array(branches)) = node.get_mut("anyOf") {
        branches.retain(|b| b != &json!({"type": "null"}));
        if branches.len() == 1
            && let Some(Value::Object(only)) = branches.pop()
        {
            node.remove("anyOf");
            for (k, v) in only {
                node.entry(k).or_insert(v);
            }
            // The merged branch is this node now.
            return portable(node);
        }
    }
    // A map of any JSON values: `additionalProperties: true` says nothing.
    if node.get("additionalProperties") == Some(&Value::Bool(true)) {
        node.remove("additionalProperties");
    }
    // Doc comments arrive one source line per line.
    if let Some(Value::String(text)) = node.get_mut("description")
        && text.contains('\n')
    {
        *text = text.replace('\n', " ");
    }
}
