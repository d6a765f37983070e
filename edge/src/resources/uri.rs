//! `d365fo://` resource URIs: parsed strictly, written back canonically.
//!
//! A URI is outside input that ends up as tool arguments, so nothing is
//! guessed: no percent-decoding, no case folding, no trailing slash, no query
//! or fragment. Every accepted URI is exactly what [`Address::uri`] writes,
//! which is what the templates promise and what a client's cache keys on.
//!
//! Two kinds of wrong URI get two codes (see the edge README): one that names
//! no resource of ours is *not found*; one that has the shape of a template
//! but a malformed part (an entity that is not an identifier, an environment
//! name a config file could not hold) is *invalid arguments*, naming the part.

use common::{ErrorCode, Failure, config::environments};

/// Every resource URI starts with this.
pub const SCHEME: &str = "d365fo://";

/// Longest URI looked at: far above any valid one (64-byte environment,
/// 128-byte entity), low enough that no error message repeats a huge input.
const MAX_URI_BYTES: usize = 512;

/// Longest entity name accepted; D365FO names are far shorter.
const MAX_ENTITY_CHARS: usize = 128;

/// What a `d365fo://` URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// URL and versions of an environment; `None` is the default one.
    Environment { environment: Option<String> },
    /// One data entity's schema, by public entity or entity set name.
    EntitySchema {
        environment: Option<String>,
        entity: String,
    },
    /// One enumeration's members, by name.
    Enumeration {
        environment: Option<String>,
        name: String,
    },
}

impl Address {
    /// Parses `uri`, refusing anything that is not exactly one of ours.
    pub fn parse(uri: &str) -> Result<Self, Failure> {
        if uri.len() > MAX_URI_BYTES {
            return Err(Failure::new(
                ErrorCode::InvalidArguments,
                format!(
                    "the resource URI is {} bytes long; d365fo:// URIs are at most {MAX_URI_BYTES}",
                    uri.len()
                ),
            ));
        }
        let Some(path) = uri.strip_prefix(SCHEME) else {
            return Err(not_found(uri));
        };
        if path.contains(['?', '#']) {
            return Err(bad_part(
                uri,
                "query or fragment",
                "d365fo:// URIs take no query string or fragment",
            ));
        }
        let segments: Vec<&str> = path.split('/').collect();
        match segments.as_slice() {
            ["environment"] => Ok(Self::Environment { environment: None }),
            ["environments", name] => Ok(Self::Environment {
                environment: Some(environment(uri, name)?),
            }),
            ["entities", entity, "schema"] => Ok(Self::EntitySchema {
                environment: None,
                entity: entity_name(uri, entity)?,
            }),
            ["environments", name, "entities", entity, "schema"] => Ok(Self::EntitySchema {
                environment: Some(environment(uri, name)?),
                entity: entity_name(uri, entity)?,
            }),
            ["enumerations", enumeration] => Ok(Self::Enumeration {
                environment: None,
                name: enumeration_name(uri, enumeration)?,
            }),
            ["environments", name, "enumerations", enumeration] => Ok(Self::Enumeration {
                environment: Some(environment(uri, name)?),
                name: enumeration_name(uri, enumeration)?,
            }),
            _ => Err(not_found(uri)),
        }
    }

    /// The canonical URI: what [`Address::parse`] reads back unchanged.
    pub fn uri(&self) -> String {
        match self {
            Self::Environment { environment: None } => format!("{SCHEME}environment"),
            Self::Environment {
                environment: Some(name),
            } => format!("{SCHEME}environments/{name}"),
            Self::EntitySchema {
                environment: None,
                entity,
            } => format!("{SCHEME}entities/{entity}/schema"),
            Self::EntitySchema {
                environment: Some(name),
                entity,
            } => format!("{SCHEME}environments/{name}/entities/{entity}/schema"),
            Self::Enumeration {
                environment: None,
                name,
            } => format!("{SCHEME}enumerations/{name}"),
            Self::Enumeration {
                environment: Some(environment),
                name,
            } => format!("{SCHEME}environments/{environment}/enumerations/{name}"),
        }
    }
}

/// Whether `name` is a plain identifier: an ASCII letter or `_`, then
/// letters, digits or `_`, as D365FO entity and entity set names are.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= MAX_ENTITY_CHARS
}

/// Whether `name` could name a configured environment (the same rule the
/// environments file is checked against).
pub fn is_environment_name(name: &str) -> bool {
    environments::check_name("environment", name).is_ok()
}

fn environment(uri: &str, name: &str) -> Result<String, Failure> {
    if is_environment_name(name) {
        Ok(name.to_owned())
    } else {
        Err(bad_part(
            uri,
            "environment",
            "environment names are 1 to 64 letters, digits, `-`, `_` or `.`",
        ))
    }
}

fn entity_name(uri: &str, entity: &str) -> Result<String, Failure> {
    if is_identifier(entity) {
        Ok(entity.to_owned())
    } else {
        Err(bad_part(
            uri,
            "entity",
            "an entity is named by its public entity or entity set name, a plain identifier \
             (letters, digits and `_`, not starting with a digit), e.g. CustomersV3",
        ))
    }
}

fn enumeration_name(uri: &str, name: &str) -> Result<String, Failure> {
    if is_identifier(name) {
        Ok(name.to_owned())
    } else {
        Err(bad_part(
            uri,
            "enumeration",
            "an enumeration is named by a plain identifier (letters, digits and `_`, not \
             starting with a digit), e.g. SalesStatus",
        ))
    }
}

fn bad_part(uri: &str, part: &str, rule: &str) -> Failure {
    Failure::new(
        ErrorCode::InvalidArguments,
        format!("invalid resource URI {}: bad {part}; {rule}", shown(uri)),
    )
}

fn not_found(uri: &str) -> Failure {
    Failure::new(
        ErrorCode::NotFound,
        format!(
            "no resource at {}: this server serves {SCHEME}environment, \
             {SCHEME}environments/{{name}}, {SCHEME}entities/{{entity}}/schema and \
             {SCHEME}environments/{{environment}}/entities/{{entity}}/schema \
             (resources/list and resources/templates/list describe them)",
            shown(uri)
        ),
    )
}

/// `uri` quoted for a message: bounded, control characters escaped.
pub fn shown(uri: &str) -> String {
    let mut shown: String = uri.chars().take(200).flat_map(char::escape_debug).collect();
    if uri.chars().count() > 200 {
        shown.push('…');
    }
    format!("`{shown}`")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn env(name: Option<&str>) -> Option<String> {
        name.map(str::to_owned)
    }

    #[test]
    fn reads_each_form() {
        let cases = [
            (
                "d365fo://environment",
                Address::Environment { environment: None },
            ),
            (
                "d365fo://environments/prod-eu.1",
                Address::Environment {
                    environment: env(Some("prod-eu.1")),
                },
            ),
            (
                "d365fo://entities/CustomersV3/schema",
                Address::EntitySchema {
                    environment: None,
                    entity: "CustomersV3".into(),
                },
            ),
            (
                "d365fo://environments/test/entities/_Custom_2/schema",
                Address::EntitySchema {
                    environment: env(Some("test")),
                    entity: "_Custom_2".into(),
                },
            ),
        ];
        for (uri, address) in cases {
            assert_eq!(Address::parse(uri).as_ref(), Ok(&address), "{uri}");
            assert_eq!(address.uri(), uri);
        }
    }

    #[test]
    fn foreign_or_unknown_uris_are_not_found() {
        for uri in [
            "",
            "file:///etc/passwd",
            "D365FO://environment",
            "d365fo:/environment",
            "d365fo://",
            "d365fo://environment/",
            "d365fo://environments",
            "d365fo://entities/CustomersV3",
            "d365fo://entities/CustomersV3/schema/",
            "d365fo://entities/CustomersV3/rows",
            "d365fo://environments/prod/environment",
            "d365fo://environments/prod/entities/X/schema/extra",
        ] {
            let e = Address::parse(uri).unwrap_err();
            assert_eq!(e.code, ErrorCode::NotFound, "{uri}: {e}");
            assert!(e.message.contains("resources/templates/list"), "{e}");
        }
    }

    #[test]
    fn malformed_parts_are_invalid_and_named() {
        for (uri, part) in [
            ("d365fo://entities//schema", "entity"),
            ("d365fo://entities/Cust%20omers/schema", "entity"),
            ("d365fo://entities/1Customers/schema", "entity"),
            ("d365fo://entities/Customers'V3/schema", "entity"),
            ("d365fo://entities/Custömers/schema", "entity"),
            ("d365fo://environments/pr od", "environment"),
            (
                "d365fo://environments/a%2Fb/entities/X/schema",
                "environment",
            ),
            ("d365fo://environments//entities/X/schema", "environment"),
            ("d365fo://environments/", "environment"),
            (
                "d365fo://entities/X/schema?language=de",
                "query or fragment",
            ),
            ("d365fo://environment#top", "query or fragment"),
        ] {
            let e = Address::parse(uri).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArguments, "{uri}: {e}");
            assert!(e.message.contains(&format!("bad {part}")), "{uri}: {e}");
        }
        let long = format!("d365fo://entities/{}/schema", "A".repeat(200));
        let e = Address::parse(&long).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArguments);
        let huge = format!("d365fo://{}", "x".repeat(10_000));
        let e = Address::parse(&huge).unwrap_err();
        assert!(e.message.len() < 200, "{e}");
    }

    #[test]
    fn messages_do_not_echo_control_characters() {
        let e = Address::parse("d365fo://entities/a\nb/schema").unwrap_err();
        assert!(!e.message.contains('\n'), "{e}");
        assert!(e.message.contains("a\\nb"), "{e}");
    }

    fn environment_name() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[A-Za-z0-9._-]{1,64}")
    }

    fn address() -> impl Strategy<Value = Address> {
        prop_oneof![
            environment_name().prop_map(|environment| Address::Environment { environment }),
            (environment_name(), "[A-Za-z_][A-Za-z0-9_]{0,127}").prop_map(
                |(environment, entity)| Address::EntitySchema {
                    environment,
                    entity
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn every_address_round_trips(address in address()) {
            prop_assert_eq!(Address::parse(&address.uri()), Ok(address));
        }

        #[test]
        fn any_input_is_refused_or_canonical(uri in "(d365fo://)?[a-zA-Z0-9/%?#._ -]{0,80}") {
            // Never panics; whatever it accepts, it accepts in canonical form.
            if let Ok(address) = Address::parse(&uri) {
                prop_assert_eq!(address.uri(), uri);
            }
        }
    }
}
