//! The OData actions the simulator serves: their binding, parameters and
//! return type, in one table that the action route executes, and that
//! `/Metadata/PublicEntities` and `/data/$metadata` advertise.
//!
//! Their JSON bodies are checked by [`params`](super::params).

/// Namespace of D365FO's entity types and actions.
pub const NS: &str = "Microsoft.Dynamics.DataEntities";

/// How an action is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// `POST /data/Microsoft.Dynamics.DataEntities.{Action}`.
    Unbound,
    /// `POST /data/{set}/Microsoft.Dynamics.DataEntities.{Action}`.
    Set(&'static str),
    /// `POST /data/{set}({key})/Microsoft.Dynamics.DataEntities.{Action}`.
    Instance(&'static str),
}

impl Binding {
    /// The `BindingKind` of `/Metadata/PublicEntities`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Unbound => "Unbound",
            Self::Set(_) => "BoundToEntitySet",
            Self::Instance(_) => "BoundToEntityInstance",
        }
    }

    /// The entity set the action is bound to.
    pub fn set(self) -> Option<&'static str> {
        match self {
            Self::Unbound => None,
            Self::Set(s) | Self::Instance(s) => Some(s),
        }
    }
}

/// One action parameter: name, EDM type, whether it may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Parameter name, as sent in the JSON body.
    pub name: &'static str,
    /// `Edm.String`, `Edm.Int32`, `Edm.DateTimeOffset`, ….
    pub edm: &'static str,
    /// Whether the body may leave it out (EDMX `Nullable`).
    pub nullable: bool,
}

/// An action the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionDef {
    /// Action name, without the namespace.
    pub name: &'static str,
    /// Its binding.
    pub binding: Binding,
    /// Parameters after the binding parameter.
    pub params: &'static [Param],
    /// Return type and whether it is a collection; `None` for void.
    pub returns: Option<(&'static str, bool)>,
}

const fn p(name: &'static str, edm: &'static str) -> Param {
    Param {
        name,
        edm,
        nullable: false,
    }
}

const STRING: Option<(&str, bool)> = Some(("Edm.String", false));

/// Entity sets that exist only to host actions: set, entity type, key field.
/// D365FO serves them as ordinary sets; the simulator serves only their
/// actions, so they appear in `PublicEntities` and as EDMX entity types but
/// not as `/data` entity sets.
pub const HOSTS: &[(&str, &str, &str)] = &[
    (
        "DataManagementEntities",
        "DataManagementEntity",
        "EntityName",
    ),
    (
        "DataManagementDefinitionGroups",
        "DataManagementDefinitionGroup",
        "DefinitionGroupId",
    ),
    ("SystemNotifications", "SystemNotification", "Id"),
    ("SrsFinanceCopilots", "SrsFinanceCopilot", "Id"),
];

/// Every action served.
pub const ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "GetApplicationVersion",
        binding: Binding::Set("DataManagementEntities"),
        params: &[],
        returns: STRING,
    },
    ActionDef {
        name: "GetApplicationBuildVersion",
        binding: Binding::Set("DataManagementEntities"),
        params: &[],
        returns: STRING,
    },
    ActionDef {
        name: "GetPlatformBuildVersion",
        binding: Binding::Set("DataManagementEntities"),
        params: &[],
        returns: STRING,
    },
    ActionDef {
        name: "GetInstalledModules",
        binding: Binding::Set("SystemNotifications"),
        params: &[],
        returns: Some(("Edm.String", true)),
    },
    ActionDef {
        name: "GetAzureWriteUrl",
        binding: Binding::Set("DataManagementDefinitionGroups"),
        params: &[p("uniqueFileName", "Edm.String")],
        returns: STRING,
    },
    ActionDef {
        name: "RunCopilotReport",
        binding: Binding::Set("SrsFinanceCopilots"),
        params: &[
            p("_contractName", "Edm.String"),
            p("_controllerArgsJson", "Edm.String"),
            p("_controllerName", "Edm.String"),
            p("_legalEntityName", "Edm.String"),
            p("_reportParameterJson", "Edm.String"),
        ],
        returns: STRING,
    },
    ActionDef {
        name: "PrintAccountStatement",
        binding: Binding::Instance("CustomersV3"),
        params: &[
            p("FromDate", "Edm.DateTimeOffset"),
            p("ToDate", "Edm.DateTimeOffset"),
        ],
        returns: STRING,
    },
    ActionDef {
        name: "GetCompanyName",
        binding: Binding::Unbound,
        params: &[p("CompanyId", "Edm.String")],
        returns: STRING,
    },
];

/// The action called `name` with `binding` (set or instance on `set`).
pub fn find(name: &str, binding: Binding) -> Option<&'static ActionDef> {
    ACTIONS
        .iter()
        .find(|a| a.name == name && a.binding == binding)
}

/// Actions bound to `set`, in table order.
pub fn bound_to(set: &str) -> impl Iterator<Item = &'static ActionDef> + '_ {
    ACTIONS.iter().filter(move |a| a.binding.set() == Some(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_name_and_binding() {
        assert!(
            find(
                "GetApplicationVersion",
                Binding::Set("DataManagementEntities")
            )
            .is_some()
        );
        assert!(find("GetApplicationVersion", Binding::Unbound).is_none());
        assert!(bound_to("DataManagementEntities").count() >= 3);
        assert_eq!(
            Binding::Instance("CustomersV3").kind(),
            "BoundToEntityInstance"
        );
    }
}
