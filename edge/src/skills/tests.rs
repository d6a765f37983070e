//! The skills as served, and their text checked against the catalogue.

use std::collections::BTreeSet;

use common::{
    ErrorCode,
    catalogue::{self, data::OpKind, metadata},
};
use rmcp::model::{ResourceContents, SkillResources, validate_skills};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::*;

/// Each skill's text, as `resources/read` serves it.
fn served_text(uri: &str) -> String {
    let Some(Ok(result)) = read(uri) else {
        panic!("{uri} is not readable");
    };
    assert_eq!(result.contents.len(), 1, "{uri}");
    match &result.contents[0] {
        ResourceContents::TextResourceContents {
            text, mime_type, ..
        } => {
            assert_eq!(mime_type.as_deref(), Some(MARKDOWN), "{uri}");
            text.clone()
        }
        other => panic!("{uri}: not text: {other:?}"),
    }
}

#[test]
fn every_file_is_served_under_its_directory_name() {
    assert_eq!(entries().len(), FILES.len(), "a skill file was left out");
    for (skill, (dir, _)) in list().iter().zip(FILES) {
        assert_eq!(skill.uri, format!("skill://d365fo/{dir}/SKILL.md"));
        assert_eq!(skill.name(), dir);
    }
    // The structural rules of the SEP, as rmcp checks them before sending.
    validate_skills(&list()).unwrap();
}

/// Agent Skills rules: `name` is 1–64 lowercase letters, digits and single
/// hyphens; `description` says what and when in at most 1024 characters.
#[test]
fn names_and_descriptions_follow_the_agent_skills_rules() {
    for skill in list() {
        let name = skill.name();
        assert!((1..=64).contains(&name.len()), "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{name}"
        );
        assert!(
            !name.starts_with('-') && !name.ends_with('-') && !name.contains("--"),
            "{name}"
        );
        let description = &skill.frontmatter.description;
        assert!((40..=1024).contains(&description.len()), "{name}");
        assert!(description.contains("Use "), "{name}: say when to use it");
    }
}

#[test]
fn digests_and_sizes_match_the_bytes_served() {
    for skill in list() {
        let SkillResources::Files(files) = &skill.resources else {
            panic!("{}: static skills list their files", skill.uri);
        };
        assert_eq!(files.len(), 1, "{}", skill.uri);
        let text = served_text(&files[0].uri);
        files[0].verify(text.as_bytes()).unwrap();
        // Worked out here too, not only by the function that made it.
        let hex: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(files[0].digest, format!("sha256:{hex}"));
        assert_eq!(files[0].size, text.len() as u64);
    }
}

#[test]
fn every_skill_is_a_resource_and_gettable() {
    let listed: Vec<String> = list().into_iter().map(|s| s.uri).collect();
    let resources: Vec<String> = resources().into_iter().map(|r| r.uri.clone()).collect();
    assert_eq!(listed, resources);
    for skill in list() {
        assert_eq!(get(&skill.uri).unwrap(), skill);
        assert!(!served_text(&skill.uri).is_empty());
    }
}

#[test]
fn unknown_skills_are_clear_errors() {
    let error = get("skill://d365fo/nope/SKILL.md").unwrap_err();
    assert_eq!(
        error.code.0, -32602,
        "skills/get: invalid params, as the SEP says"
    );
    assert!(error.message.contains("find-entity"), "{}", error.message);

    let Some(Err(error)) = read("skill://d365fo/find-entity/other.md") else {
        panic!("an unknown skill file must fail");
    };
    assert_eq!(error.code.0, ErrorCode::NotFound.jsonrpc_code());
    assert!(error.message.contains("skills/list"), "{}", error.message);

    assert!(read("d365fo://environment").is_none(), "not ours to answer");
}

#[test]
fn front_matter_is_two_plain_lines() {
    let ok = "---\nname: a\ndescription: Does b. Use when c.\n---\n\n# A\n";
    assert_eq!(front_matter(ok), Some(("a", "Does b. Use when c.")));
    for bad in [
        "name: a\n",
        "---\nname: a\n---\n",
        "---\nname: a\nname: b\ndescription: x\n---\n",
        "---\nname: a\ndescription: x\nlicense: MIT\n---\n",
        "---\nname: a\ndescription: 'quoted'\n---\n",
        "---\nname: a\ndescription: has: a colon\n---\n",
        "---\nname: a\ndescription: a # comment\n---\n",
    ] {
        assert_eq!(front_matter(bad), None, "{bad:?}");
    }
}

/// Words of `text` that start with `prefix` and go on in `[a-z0-9_]`.
fn words_starting(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_tool_named_exists() {
    let mut named = BTreeSet::new();
    for (dir, text) in FILES {
        for tool in words_starting(text, "d365fo_") {
            assert!(
                catalogue::find(&tool).is_some(),
                "skill {dir} names {tool}, which the catalogue does not have"
            );
            named.insert(tool);
        }
    }
    assert!(
        named.len() >= 10,
        "the skills name the tools they teach: {named:?}"
    );
}

/// Every property name anywhere in `schema`.
fn properties(schema: &Value, into: &mut BTreeSet<String>) {
    match schema {
        Value::Object(node) => {
            if let Some(Value::Object(props)) = node.get("properties") {
                into.extend(props.keys().cloned());
            }
            node.values().for_each(|v| properties(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| properties(v, into)),
        _ => {}
    }
}

/// Every `snake_case` word a skill puts in backticks is an argument or a
/// result field of some tool, an error code or a batch `op`: the skills
/// cannot teach an argument the tools do not take.
#[test]
fn every_argument_and_field_named_exists() {
    let mut known = BTreeSet::new();
    for tool in catalogue::tools() {
        properties(&tool.input_schema, &mut known);
        if let Some(output) = &tool.output_schema {
            properties(output, &mut known);
        }
    }
    // The items of a schema's lists, which its output schema leaves as
    // plain objects to keep tools/list small.
    for items in [
        catalogue::output::<metadata::EntityProperty>(),
        catalogue::output::<metadata::NavigationProperty>(),
        catalogue::output::<metadata::BoundAction>(),
    ] {
        properties(&items, &mut known);
    }
    known.extend(ErrorCode::ALL.iter().map(|code| code.as_str().to_owned()));
    known.extend(OpKind::ALL.iter().map(|op| op.as_str().to_owned()));
    // MCP's own field, and D365FO values the skills quote.
    known.extend(["_meta", "usmf", "de", "fr", "es", "nl", "da", "ja"].map(str::to_owned));
    for (dir, text) in FILES {
        for quoted in text.split('`').skip(1).step_by(2) {
            let word = quoted.trim_start_matches('"').trim_end_matches('"');
            let snake = !word.is_empty()
                && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && !word.starts_with("d365fo_");
            if snake {
                assert!(
                    known.contains(word),
                    "skill {dir} names `{word}`, which no tool has"
                );
            }
        }
    }
}

/// The JSON examples are JSON.
#[test]
fn every_json_example_parses() {
    for (dir, text) in FILES {
        for block in text.split("```json\n").skip(1) {
            let json = block.split("```").next().unwrap_or_default();
            serde_json::from_str::<Value>(json)
                .unwrap_or_else(|e| panic!("skill {dir}: {e}: {json}"));
        }
    }
}
