//! Toolsets: which tools an agent *sees* in `tools/list`.
//!
//! Every tool description and schema an agent lists travels with every
//! request its model makes, so the default listing is kept small (a test
//! holds it under a byte budget) and the rest is chosen in configuration:
//! the edge's `D365MCP_TOOLSETS`, a tenant's or a key's `toolsets` in the
//! API keys file. A toolset only decides what is listed. What a caller may
//! *call* is the tenant policy's `tools` rule, so a tool left out of the
//! listing still answers when a client that knows it calls it by name.
//!
//! | toolset | tools |
//! |---|---|
//! | `data` | query, read, create, update, delete, `$batch` |
//! | `metadata` | entity and enumeration search and schemas, environment, modules, connection |
//! | `labels` | one label, many labels |
//! | `execution` | OData actions (search, call), JSON services, reports |
//! | `operator` | statistics, their reset, the server's configuration |
//!
//! The default is `data`, `metadata` and `labels`: what an agent needs to
//! find, read and change records.

use std::fmt;

use super::{Group, ToolSpec, names};

/// One toolset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Toolset {
    /// Entity records: query, read, create, update, delete, batch.
    Data,
    /// Entities, enumerations, the environment, its modules.
    Metadata,
    /// Label texts.
    Labels,
    /// OData actions, JSON services and reports.
    Execution,
    /// The cluster's statistics and configuration.
    Operator,
}

impl Toolset {
    /// Every toolset, in the order they are documented.
    pub const ALL: [Toolset; 5] = [
        Toolset::Data,
        Toolset::Metadata,
        Toolset::Labels,
        Toolset::Execution,
        Toolset::Operator,
    ];

    /// The name configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            Toolset::Data => "data",
            Toolset::Metadata => "metadata",
            Toolset::Labels => "labels",
            Toolset::Execution => "execution",
            Toolset::Operator => "operator",
        }
    }

    /// The toolset `tool` is listed in.
    pub fn of(tool: &ToolSpec) -> Toolset {
        match tool.group {
            Group::Data => Toolset::Data,
            Group::Execution => Toolset::Execution,
            Group::Server => Toolset::Operator,
            Group::Metadata => match tool.name {
                names::GET_LABEL | names::GET_LABELS => Toolset::Labels,
                // Actions are found to be called: listed with the call.
                names::SEARCH_ACTIONS => Toolset::Execution,
                _ => Toolset::Metadata,
            },
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of toolsets.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Toolsets(u8);

impl Toolsets {
    /// What an agent sees unless configuration says otherwise.
    pub const DEFAULT: Toolsets = Toolsets(
        (1 << Toolset::Data as u8) | (1 << Toolset::Metadata as u8) | (1 << Toolset::Labels as u8),
    );

    /// Every tool.
    pub const ALL: Toolsets = Toolsets(0b1_1111);

    /// Whether `toolset` is in the set.
    pub fn contains(self, toolset: Toolset) -> bool {
        self.0 & toolset.bit() != 0
    }

    /// Whether `tool` is listed under this set.
    pub fn lists(self, tool: &ToolSpec) -> bool {
        self.contains(Toolset::of(tool))
    }

    /// Reads a list of toolset names (`all` for every one), as written in
    /// `D365MCP_TOOLSETS` (comma-separated) or a keys file's `toolsets`.
    /// The error says which name is unknown and which are known.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Toolsets, String> {
        let mut set = 0u8;
        let mut any = false;
        for raw in names {
            let name = raw.trim();
            if name.is_empty() {
                continue;
            }
            any = true;
            if name.eq_ignore_ascii_case("all") {
                set = Toolsets::ALL.0;
                continue;
            }
            let toolset = Toolset::ALL
                .into_iter()
                .find(|t| t.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    format!(
                        "`{}` is no toolset; known: {}, or `all`",
                        crate::clip::clip(name),
                        Toolset::ALL.map(Toolset::name).join(", ")
                    )
                })?;
            set |= toolset.bit();
        }
        if !any {
            return Err(format!(
                "no toolset named; list some of {}, or `all`",
                Toolset::ALL.map(Toolset::name).join(", ")
            ));
        }
        Ok(Toolsets(set))
    }
}

impl Default for Toolsets {
    fn default() -> Self {
        Toolsets::DEFAULT
    }
}

impl fmt::Debug for Toolsets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Toolsets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Toolset::ALL
            .into_iter()
            .filter(|t| self.contains(*t))
            .map(Toolset::name)
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::tools;

    #[test]
    fn every_toolset_lists_some_tool_and_the_operator_tools_are_out_of_the_default() {
        for toolset in Toolset::ALL {
            assert!(
                tools().iter().any(|t| Toolset::of(t) == toolset),
                "{} is empty",
                toolset.name()
            );
        }
        for tool in tools() {
            let default = Toolsets::DEFAULT.lists(tool);
            assert_eq!(
                default,
                tool.group != Group::Server
                    && tool.group != Group::Execution
                    && tool.name != names::SEARCH_ACTIONS,
                "{}",
                tool.name
            );
            assert!(Toolsets::ALL.lists(tool));
        }
    }

    #[test]
    fn parse_reads_names_and_all_and_names_what_is_wrong() {
        assert_eq!(
            Toolsets::parse("data, labels".split(',')).map(|s| s.to_string()),
            Ok("data,labels".into())
        );
        assert_eq!(Toolsets::parse(["ALL"]), Ok(Toolsets::ALL));
        assert_eq!(
            Toolsets::parse("data,metadata,labels".split(',')),
            Ok(Toolsets::DEFAULT)
        );
        let err = Toolsets::parse(["data", "reports"]).unwrap_err();
        assert!(
            err.contains("`reports`") && err.contains("execution"),
            "{err}"
        );
        assert!(Toolsets::parse(["", " "]).is_err());
    }
}
