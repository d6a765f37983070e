//! Skills (SEP-2640, the `io.modelcontextprotocol/skills` extension): short
//! guides that teach a model the D365FO way of using this server's tools,
//! loaded by an agent when it needs one instead of riding in every
//! `tools/list`.
//!
//! | skill | teaches |
//! |---|---|
//! | `find-entity` | search an entity, read its schema, keys as objects led by `dataAreaId` |
//! | `company-scope` | the default company, `cross_company`, filtering on `dataAreaId` |
//! | `paging` | `next_cursor` / `cursor`, D365FO's own 10,000-row pages, counting |
//! | `writing-with-etags` | `if_match`, a 412 conflict, idempotency keys, batches |
//! | `labels` | label ids, `d365fo_get_label` / `d365fo_get_labels`, languages |
//!
//! Each is one `SKILL.md` compiled into the binary, so its digest and size
//! are computed once and only change with a release; every edge serves the
//! same bytes and the edge needs no worker call to serve them.
//!
//! Decisions:
//! - URIs are `skill://d365fo/<name>/SKILL.md`: the `skill://` scheme the
//!   SEP recommends, with a `d365fo` prefix so a host that merges several
//!   servers' skills can tell ours apart (the name stays the last segment,
//!   as the SEP requires).
//! - The `SKILL.md` files are also in `resources/list`: a client without the
//!   extension (the Python SDK 2.3 has no skills API) still finds and reads
//!   them as resources, and the SEP lets skills be ordinary resources. They
//!   are five short entries, and `resources/list` is not carried on every
//!   turn as `tools/list` is.
//! - No `directoryRead`: a skill is a single file, so there is no directory
//!   for `resources/directory/read` to list.
//! - The front matter is two single-line fields (`name`, `description`), read
//!   by [`front_matter`] rather than a YAML crate; the tests hold every file
//!   to that form, so `skills/list` shows exactly what the file says.

use std::sync::OnceLock;

use common::{ErrorCode, Failure};
use rmcp::model::{
    ErrorData, ReadResourceResult, Resource, ResourceContents, Skill, SkillFrontmatter,
    SkillResource, SkillResources,
};

use crate::convert;

/// Where this server's skills live: `skill://d365fo/<name>/SKILL.md`.
pub const ROOT: &str = "skill://d365fo/";

/// The scheme of every skill URI, ours or not.
const SCHEME: &str = "skill://";

/// What a skill file is, for `resources/list` and `resources/read`.
const MARKDOWN: &str = "text/markdown";

/// Every skill's directory name and `SKILL.md`, in listing order.
const FILES: [(&str, &str); 5] = [
    ("find-entity", include_str!("find-entity/SKILL.md")),
    ("company-scope", include_str!("company-scope/SKILL.md")),
    ("paging", include_str!("paging/SKILL.md")),
    (
        "writing-with-etags",
        include_str!("writing-with-etags/SKILL.md"),
    ),
    ("labels", include_str!("labels/SKILL.md")),
];

/// One skill, its manifest worked out once.
struct Entry {
    uri: String,
    name: &'static str,
    description: &'static str,
    text: &'static str,
    file: SkillResource,
}

/// The skills, each read once. A file whose front matter does not parse is
/// left out (and logged) rather than served half-described; the tests
/// fail on it long before a release.
fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        FILES
            .iter()
            .filter_map(|&(dir, text)| match front_matter(text) {
                Some((name, description)) if name == dir => {
                    let uri = format!("{ROOT}{dir}/SKILL.md");
                    let file = SkillResource::from_bytes(uri.clone(), text.as_bytes());
                    Some(Entry {
                        uri,
                        name,
                        description,
                        text,
                        file,
                    })
                }
                _ => {
                    tracing::error!(skill = dir, "skill left out: its front matter is malformed");
                    None
                }
            })
            .collect()
    })
}

/// `name` and `description` of a `SKILL.md` that opens with front matter
/// of exactly those two single-line fields.
pub fn front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("---\n")?;
    let (block, _) = rest.split_once("\n---\n")?;
    let mut name = None;
    let mut description = None;
    for line in block.lines() {
        let (key, value) = line.split_once(": ")?;
        let slot = match key {
            "name" => &mut name,
            "description" => &mut description,
            _ => return None,
        };
        if slot.is_some() || !is_plain_scalar(value) {
            return None;
        }
        *slot = Some(value);
    }
    Some((name?, description?))
}

/// Whether YAML reads `value` as the same text, unquoted: no indicator
/// first, no `: ` or ` #` inside, no surrounding space.
fn is_plain_scalar(value: &str) -> bool {
    const INDICATORS: &str = "-?:,[]{}#&*!|>'\"%@`";
    let Some(first) = value.chars().next() else {
        return false;
    };
    !INDICATORS.contains(first)
        && !value.contains(": ")
        && !value.contains(" #")
        && value.trim() == value
}

impl Entry {
    fn skill(&self) -> Skill {
        let frontmatter = SkillFrontmatter::new(self.name, self.description);
        Skill::new(
            self.uri.clone(),
            frontmatter,
            SkillResources::Files(vec![self.file.clone()]),
        )
    }
}

/// `skills/list`: every skill, with its manifest.
pub fn list() -> Vec<Skill> {
    entries().iter().map(Entry::skill).collect()
}

/// `skills/get`: the skill whose `SKILL.md` is at `uri`. Another URI is
/// invalid params (`-32602`), as the SEP requires.
pub fn get(uri: &str) -> Result<Skill, ErrorData> {
    find(uri).map(Entry::skill).ok_or_else(|| {
        convert::error_data(&Failure::new(
            ErrorCode::InvalidArguments,
            format!(
                "no skill at {}: this server's skills are {} (skills/list describes them)",
                crate::resources::shown(uri),
                names()
            ),
        ))
    })
}

/// The skill files as resources, for `resources/list`.
pub fn resources() -> Vec<Resource> {
    entries()
        .iter()
        .map(|entry| {
            Resource::new(entry.uri.clone(), entry.name)
                .with_description(entry.description)
                .with_mime_type(MARKDOWN)
                .with_size(entry.file.size)
        })
        .collect()
}

/// `resources/read` of a `skill://` URI: `None` for any other scheme,
/// which the `d365fo://` resources answer. An unknown skill file is
/// resource-not-found, as an unknown `d365fo://` URI is.
pub fn read(uri: &str) -> Option<Result<ReadResourceResult, ErrorData>> {
    if !uri.starts_with(SCHEME) {
        return None;
    }
    let Some(entry) = find(uri) else {
        return Some(Err(convert::error_data(&Failure::new(
            ErrorCode::NotFound,
            format!(
                "no resource at {}: this server's skill files are {ROOT}<name>/SKILL.md for \
                 the skills {} (skills/list and resources/list name them)",
                crate::resources::shown(uri),
                names()
            ),
        ))));
    };
    let contents = ResourceContents::text(entry.text, entry.uri.clone()).with_mime_type(MARKDOWN);
    Some(Ok(ReadResourceResult::new(vec![contents])))
}

fn find(uri: &str) -> Option<&'static Entry> {
    entries().iter().find(|entry| entry.uri == uri)
}

/// The skill names, for error messages.
fn names() -> String {
    let names: Vec<&str> = entries().iter().map(|entry| entry.name).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests;
