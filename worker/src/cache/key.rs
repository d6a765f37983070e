//! Cache keys: `d365mcp:meta:v1:{version}:{kind}:{id}`.
//!
//! The version hash comes first so that environments on the same release
//! share entries and a new release starts on fresh ones; `v1` is the layout
//! of the values, bumped when it changes so old workers and new ones never
//! read each other's entries. Ids are escaped into a small alphabet: the
//! store's keys then never carry spaces, control characters or Redis
//! Cluster hash tags (`{…}`) that a caller typed.

use std::fmt::Write as _;

/// Prefix of every metadata cache key.
pub const PREFIX: &str = "d365mcp:meta:v1:";

/// Longest id kept readable in a key; longer ids are cut and suffixed with
/// a hash of the whole, so keys stay short and still distinct.
const MAX_ID_CHARS: usize = 200;

/// What a cache entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One label text: id is `{language}:{label id}`.
    Label,
    /// One entity's schema (`PublicEntities`), by public entity name.
    Entity,
    /// One enumeration (`PublicEnumerations`), by name.
    Enum,
    /// The whole `DataEntities` list; id is empty.
    Entities,
    /// The whole `PublicEnumerations` list (names and labels); id is empty.
    Enums,
    /// The action index; id is empty.
    Actions,
}

impl Kind {
    /// Every kind: the bounded `kind` label of the cache's metrics.
    pub const ALL: [Self; 6] = [
        Self::Label,
        Self::Entity,
        Self::Enum,
        Self::Entities,
        Self::Enums,
        Self::Actions,
    ];

    /// The kind's segment in a key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Label => "label",
            Self::Entity => "entity",
            Self::Enum => "enum",
            Self::Entities => "entities",
            Self::Enums => "enums",
            Self::Actions => "actions",
        }
    }
}

/// A cache key. Built only by [`CacheKey::new`] and the shortcuts, so every
/// key has the prefix, a version and an escaped id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    key: String,
    /// Also in `key`; kept apart for the metrics' `kind` label.
    kind: Kind,
}

impl CacheKey {
    /// The key of `kind`/`id` in environment version `version`.
    pub fn new(version: &str, kind: Kind, id: &str) -> Self {
        let mut key = String::with_capacity(PREFIX.len() + version.len() + id.len() + 16);
        key.push_str(PREFIX);
        escape_into(&mut key, version);
        key.push(':');
        key.push_str(kind.as_str());
        if !id.is_empty() {
            key.push(':');
            escape_into(&mut key, id);
        }
        Self { key, kind }
    }

    /// `label:{language}:{id}`; the language lower-cased, as D365FO treats
    /// `en-US` and `en-us` alike.
    pub fn label(version: &str, language: &str, id: &str) -> Self {
        Self::new(
            version,
            Kind::Label,
            &format!("{}:{id}", language.to_ascii_lowercase()),
        )
    }

    /// The key as the store sees it.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// What the entry holds.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The key of the lock held while this entry is filled.
    pub fn lock_key(&self) -> String {
        let rest = self.key.strip_prefix(PREFIX).unwrap_or(&self.key);
        format!("{PREFIX}fill:{rest}")
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key)
    }
}

/// Appends `id`, with every character outside `[A-Za-z0-9@_.:-]` written as
/// `%XX` per UTF-8 byte, and cut with a hash suffix past [`MAX_ID_CHARS`].
fn escape_into(out: &mut String, id: &str) {
    let start = out.len();
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '.' | ':' | '-') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    if out.len() - start > MAX_ID_CHARS {
        // Escapes are ASCII, so any byte offset is a char boundary.
        out.truncate(start + MAX_ID_CHARS);
        let digest = super::version::short_hash(id.as_bytes());
        let _ = write!(out, "~{digest}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        assert_eq!(
            CacheKey::label("ab12", "en-US", "@SYS1234").as_str(),
            "d365mcp:meta:v1:ab12:label:en-us:@SYS1234"
        );
        assert_eq!(
            CacheKey::new("ab12", Kind::Entity, "CustomersV3").as_str(),
            "d365mcp:meta:v1:ab12:entity:CustomersV3"
        );
        assert_eq!(
            CacheKey::new("ab12", Kind::Entities, "").as_str(),
            "d365mcp:meta:v1:ab12:entities"
        );
        assert_eq!(
            CacheKey::new("ab12", Kind::Enum, "NoYes").lock_key(),
            "d365mcp:meta:v1:fill:ab12:enum:NoYes"
        );
    }

    #[test]
    fn ids_are_escaped_and_bounded() {
        let key = CacheKey::new("v", Kind::Entity, "a b{x}/é");
        assert_eq!(
            key.as_str(),
            "d365mcp:meta:v1:v:entity:a%20b%7Bx%7D%2F%C3%A9"
        );
        let long_a = CacheKey::new("v", Kind::Label, &"a".repeat(500));
        let long_b = CacheKey::new("v", Kind::Label, &format!("{}b", "a".repeat(499)));
        assert_ne!(long_a, long_b);
        assert!(long_a.as_str().len() < 260, "{}", long_a.as_str().len());
    }
}
