//! The `toolsets` of a keys file: which tools a tenant's or a key's
//! callers *see* listed (`crate::catalogue::toolsets`).
//!
//! Unlike the rules of [`super::policy`], a toolset restricts nothing: a
//! tool outside it is still called when the policy allows it. So `toolsets`
//! alone configures no policy, and a key's `toolsets` replaces its tenant's
//! rather than narrowing it (a key may be given more to see).

use std::collections::BTreeMap;

use super::ConfigError;
use crate::catalogue::Toolsets;

/// The toolsets written in a keys file, per tenant and per key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Listed {
    tenants: BTreeMap<String, Toolsets>,
    keys: BTreeMap<String, Toolsets>,
}

impl Listed {
    /// Reads `toolsets` of a tenant table (`at` = `tenants.<name>`) or a
    /// key entry (`keys.<name>`); `key` names the file's setting in errors.
    pub(super) fn parse(
        key: &str,
        at: &str,
        names: Option<&[String]>,
    ) -> Result<Option<Toolsets>, ConfigError> {
        names
            .map(|names| {
                Toolsets::parse(names.iter().map(String::as_str))
                    .map_err(|reason| ConfigError::new(key, format!("{at}.toolsets: {reason}")))
            })
            .transpose()
    }

    pub(super) fn set_tenant(&mut self, tenant: &str, toolsets: Option<Toolsets>) {
        if let Some(toolsets) = toolsets {
            self.tenants.insert(tenant.to_owned(), toolsets);
        }
    }

    pub(super) fn set_key(&mut self, key: &str, toolsets: Option<Toolsets>) {
        if let Some(toolsets) = toolsets {
            self.keys.insert(key.to_owned(), toolsets);
        }
    }

    /// What `subject` of `tenant` sees: its key's toolsets, else its
    /// tenant's, else `None` (the edge's default).
    pub(super) fn of(&self, subject: &str, tenant: &str) -> Option<Toolsets> {
        self.keys
            .get(subject)
            .or_else(|| self.tenants.get(tenant))
            .copied()
    }
}
