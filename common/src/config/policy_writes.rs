//! `writes`: whether a change to existing data (an update, a delete, a batch
//! with writes, an action, a JSON service call: `catalogue::asks_confirmation`)
//! runs only after the client's user confirms it.
//!
//! | value | a client that can ask its user | a client that cannot |
//! |---|---|---|
//! | `auto` (default) | asked | runs |
//! | `confirm` | asked | refused, with an error saying why |
//! | `allow` | runs | runs |
//! | `refuse` | refused | refused |
//!
//! `auto` is `confirm` for interactive clients (those that declare
//! elicitation) and `allow` for autonomous agents, which have no one to ask.
//! A key's value narrows its tenant's: the stricter of the two holds
//! (`refuse` > `confirm` > `auto` > `allow`).

/// One `writes` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Writes {
    /// Never asked.
    Allow,
    /// Asked when the client can answer, else run.
    #[default]
    Auto,
    /// Asked; refused when the client cannot answer.
    Confirm,
    /// Never run.
    Refuse,
}

impl Writes {
    /// Every value, as written.
    pub const NAMES: [&str; 4] = ["auto", "confirm", "allow", "refuse"];

    /// Reads a value as written in a keys file or `D365MCP_CONFIRM_WRITES`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "confirm" => Ok(Self::Confirm),
            "allow" => Ok(Self::Allow),
            "refuse" => Ok(Self::Refuse),
            other => Err(format!(
                "`{}` is none of {}",
                crate::clip::clip(other),
                Self::NAMES.join(", ")
            )),
        }
    }

    /// The stricter of `self` and `other`.
    pub fn stricter(self, other: Self) -> Self {
        self.max(other)
    }

    /// The name as written.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Confirm => "confirm",
            Self::Allow => "allow",
            Self::Refuse => "refuse",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_and_the_stricter_one_wins() {
        assert_eq!(Writes::parse(" Confirm "), Ok(Writes::Confirm));
        assert!(Writes::parse("ask").unwrap_err().contains("refuse"));
        assert_eq!(Writes::Allow.stricter(Writes::Auto), Writes::Auto);
        assert_eq!(Writes::Refuse.stricter(Writes::Confirm), Writes::Refuse);
        assert_eq!(Writes::default(), Writes::Auto);
        for name in Writes::NAMES {
            assert_eq!(Writes::parse(name).map(Writes::name), Ok(name));
        }
    }
}
