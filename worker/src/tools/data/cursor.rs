//! The opaque `next_cursor` of `d365fo_query_entities`.
//!
//! A cursor is the base64url text of a small JSON object holding the
//! original query and how many rows were already returned. Keeping the query
//! (not a server `$skiptoken` link) lets the next call ask for exactly the
//! rows it needs. A cursor comes back from outside, so everything in it is
//! validated again as if it were fresh arguments, and it must name this
//! environment's base URL: a forged cursor can never point the worker, and
//! its token, anywhere else.
//!
//! `expand` joined the format after version 1 shipped, as an optional field:
//! cursors written before it still read, and a cursor carrying `expand`
//! is refused (not misread) by a worker that predates it, since unknown
//! fields are refused.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    d365::odata::{self, ExpandItem},
    error::WorkerError,
};
use common::catalogue::args::de::MAX_TOP;

/// Current cursor format.
pub const VERSION: u8 = 1;

/// Longest cursor accepted; real ones are a few hundred bytes.
const MAX_LEN: usize = 16 * 1024;

/// Most rows a cursor may skip, far beyond what anyone pages through.
const MAX_SKIP: usize = 100_000_000;

/// A position in a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Format version.
    pub v: u8,
    /// The environment's base URL.
    pub base: String,
    /// Entity set queried.
    pub entity_set: String,
    /// `$filter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// `$select`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
    /// `$expand`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expand: Vec<ExpandItem>,
    /// `$orderby`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orderby: Option<String>,
    /// Whether the total count was asked for.
    #[serde(default)]
    pub count: bool,
    /// `cross-company=true`.
    #[serde(default)]
    pub cross_company: bool,
    /// Rows per call.
    pub top: usize,
    /// Rows already returned.
    pub skip: usize,
}

impl Cursor {
    /// The opaque text.
    pub fn encode(&self) -> String {
        // Serializing plain strings and numbers cannot fail; an empty cursor
        // would be refused on the way back in, never misread.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads and validates `text` for the environment at `base`.
    pub fn decode(tool: &str, text: &str, base: &Url) -> Result<Self, WorkerError> {
        let bad = |why: &str| {
            WorkerError::invalid_args(
                tool,
                format!(
                    "`cursor` is not a valid cursor ({why}); pass `next_cursor` of a previous \
                     result unchanged, or omit `cursor` to start over"
                ),
            )
        };
        let text = text.trim();
        if text.len() > MAX_LEN {
            return Err(bad("too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad("not base64url text"))?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad("unreadable"))?;
        if cursor.v != VERSION {
            return Err(bad("from an incompatible worker version"));
        }
        if cursor.base != base_str(base) {
            return Err(bad("it belongs to a different environment"));
        }
        odata::check_identifier("the cursor's entity set", &cursor.entity_set)
            .map_err(|_| bad("bad entity set"))?;
        if cursor
            .select
            .iter()
            .any(|s| odata::check_identifier("", s).is_err())
        {
            return Err(bad("bad select"));
        }
        let expand_ok = cursor.expand.len() <= common::catalogue::data::MAX_EXPAND
            && cursor.expand.iter().all(|item| {
                odata::check_identifier("", &item.name).is_ok()
                    && item
                        .select
                        .iter()
                        .all(|s| odata::check_identifier("", s).is_ok())
            });
        if !expand_ok {
            return Err(bad("bad expand"));
        }
        let top_ok = u64::try_from(cursor.top).is_ok_and(|t| (1..=MAX_TOP).contains(&t));
        if !top_ok || cursor.skip > MAX_SKIP {
            return Err(bad("out of range"));
        }
        Ok(cursor)
    }
}

/// `base` as stored in cursors: no trailing slash.
pub fn base_str(base: &Url) -> String {
    base.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn base() -> Url {
        Url::parse("https://h.example/").unwrap()
    }

    fn sample() -> Cursor {
        Cursor {
            v: VERSION,
            base: base_str(&base()),
            entity_set: "CustomersV3".into(),
            filter: Some("Name eq 'A'".into()),
            select: vec!["CustomerAccount".into()],
            expand: vec![ExpandItem {
                name: "Lines".into(),
                select: vec!["ItemNumber".into()],
            }],
            orderby: None,
            count: true,
            cross_company: false,
            top: 100,
            skip: 200,
        }
    }

    fn decode(text: &str) -> Result<Cursor, WorkerError> {
        Cursor::decode("t", text, &base())
    }

    #[test]
    fn round_trip() {
        let c = sample();
        let text = c.encode();
        assert!(
            text.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
        );
        assert_eq!(decode(&text).unwrap(), c);
    }

    #[test]
    fn forged_or_foreign_cursors_are_refused() {
        let other_env = Cursor {
            base: "https://evil.example".into(),
            ..sample()
        };
        let e = decode(&other_env.encode()).unwrap_err();
        assert!(e.to_string().contains("different environment"), "{e}");
        for bad in [
            Cursor {
                entity_set: "X(1)/Y".into(),
                ..sample()
            },
            Cursor {
                select: vec!["a,b".into()],
                ..sample()
            },
            Cursor {
                expand: vec![ExpandItem {
                    name: "Lines($top=1)".into(),
                    select: vec![],
                }],
                ..sample()
            },
            Cursor {
                expand: vec![ExpandItem {
                    name: "Lines".into(),
                    select: vec!["a,b".into()],
                }],
                ..sample()
            },
            Cursor { top: 0, ..sample() },
            Cursor {
                top: 10_001,
                ..sample()
            },
            Cursor { v: 9, ..sample() },
        ] {
            assert!(decode(&bad.encode()).is_err(), "{bad:?}");
        }
        for text in ["", "!!!", "e30", &"A".repeat(MAX_LEN + 1)] {
            let e = decode(text).unwrap_err();
            assert_eq!(e.code(), common::ErrorCode::InvalidArguments);
        }
        let extra = URL_SAFE_NO_PAD.encode(br#"{"v":1,"base":"https://h.example","entity_set":"X","top":1,"skip":0,"link":"https://evil.example"}"#);
        assert!(decode(&extra).is_err(), "unknown fields are refused");
    }

    #[test]
    fn cursors_from_before_expand_still_read() {
        let old = URL_SAFE_NO_PAD.encode(
            br#"{"v":1,"base":"https://h.example","entity_set":"X","count":false,"cross_company":false,"top":5,"skip":10}"#,
        );
        let cursor = decode(&old).unwrap();
        assert!(cursor.expand.is_empty());
        assert_eq!((cursor.top, cursor.skip), (5, 10));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(s in "\\PC{0,200}") {
            let _ = decode(&s);
        }
    }
}
