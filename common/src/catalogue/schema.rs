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
//!
//! [`output`] derives a tool's output schema from its result type the same
//! way, as the type serializes, with one difference: a result's `null` is
//! sent, so it stays in the schema. An `Option` the result omits when
//! absent (`skip_serializing_if`) is a property that is not `required`, of
//! T's type; one it sends as `null` is required, and its schema is
//! `anyOf` a T branch and a `null` branch (still one `type` per node).

use schemars::{
    JsonSchema, Schema, SchemaGenerator,
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

/// The output schema of a tool whose `structuredContent` is a `T`: an
/// object of `T`'s fields as they serialize, required when always sent.
///
/// Every doc comment of `T` becomes a `description` that every agent
/// carries in every request (`tools/list`), so the fields of result types
/// are documented with `//` comments, and only the few descriptions that
/// tell a model what to do with a field (an `etag` for `if_match`, a `note`
/// on how to read what was left out) are `///`.
pub fn output<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .for_serialize()
        .with_transform(PortableOutput)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(root) = schema.as_object_mut() {
        root.remove("title");
        root.remove("description");
    }
    schema
}

/// `#[schemars(schema_with = "…")]` of a result field that holds any JSON
/// value (an action's return value, say): [`any_json`] as `anyOf`.
pub fn any_json_schema(_: &mut SchemaGenerator) -> Schema {
    let mut schema = Map::new();
    schema.insert("anyOf".into(), any_json());
    Schema::from(schema)
}

/// The `environment` argument every tool takes. The executor takes it out
/// before a tool reads its arguments, so no argument type has it.
pub fn environment_property() -> Value {
    // Undescribed: the server's instructions say it once for every tool.
    json!({ "type": "string" })
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

/// [`Portable`] for results (see the module documentation): a `null` that
/// is sent stays in the schema, as an `anyOf` branch.
#[derive(Debug, Clone, Copy)]
struct PortableOutput;

impl Transform for PortableOutput {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(node) = schema.as_object_mut() {
            portable_output(node);
        }
        transform_subschemas(self, schema);
    }
}

fn portable(node: &mut Map<String, Value>) {
    if drop_null(node) {
        // The merged branch is this node now.
        return portable(node);
    }
    tidy(node);
}

fn portable_output(node: &mut Map<String, Value>) {
    // An optional property is omitted when absent, never sent as null.
    let required: Vec<Value> = match node.get("required") {
        Some(Value::Array(required)) => required.clone(),
        _ => Vec::new(),
    };
    if let Some(Value::Object(properties)) = node.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if !required.contains(&Value::String(name.clone()))
                && let Some(property) = property.as_object_mut()
            {
                while drop_null(property) {}
            }
        }
    }
    null_as_branch(node);
    // The ranges schemars gives unsigned fields (`minimum: 0`, a `u16`'s
    // 65535) say what the field's meaning already does, and would cost
    // every agent bytes on every turn.
    node.remove("minimum");
    node.remove("maximum");
    tidy(node);
}

/// `"type": [T, "null"]` as `anyOf` a T branch (with the node's other
/// validation keywords) and a `null` branch; annotations stay on the node.
fn null_as_branch(node: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = node.get("type") else {
        return;
    };
    if !types.iter().any(|t| t == "null") {
        return;
    }
    let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    node.remove("type");
    let annotations = ["description", "title"];
    let keywords: Vec<String> = node
        .keys()
        .filter(|k| !annotations.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut rest = Map::new();
    for k in keywords {
        if let Some(v) = node.remove(&k) {
            rest.insert(k, v);
        }
    }
    let mut branches: Vec<Value> = types
        .into_iter()
        .map(|t| {
            let mut branch = rest.clone();
            branch.insert("type".into(), t);
            Value::Object(branch)
        })
        .collect();
    branches.push(json!({"type": "null"}));
    node.insert("anyOf".into(), Value::Array(branches));
}

/// Takes `null` out of a node's types (an input's null is read as absent,
/// and an omitted output is never null); true when that left a single
/// `anyOf` branch, merged into the node, which then needs the same again.
fn drop_null(node: &mut Map<String, Value>) -> bool {
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
            return true;
        }
    }
    false
}

/// What every node loses or has rewritten, input or output.
fn tidy(node: &mut Map<String, Value>) {
    node.remove("format");
    // Defaults are the readers' and said in descriptions where they matter.
    node.remove("default");
    // An empty description is a field said elsewhere (a batch operation's
    // arguments are the single-record tools').
    if node.get("description").is_some_and(|d| d == "") {
        node.remove("description");
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
