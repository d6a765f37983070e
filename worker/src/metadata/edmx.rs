//! The action index: every OData action of `/data/$metadata`, bound and
//! unbound, read from the CSDL document in one streaming pass.
//!
//! Why the EDMX and not `PublicEntities`' `Actions`: the metadata API lists
//! an entity's bound actions only per entity (thousands of requests for a
//! whole environment) and never the unbound ones; the EDMX has all of them
//! in one request. It is large (tens of MB on a full environment), so it is
//! parsed as a stream and only the small index is kept, in the cache, once
//! per environment version for the whole cluster.

use std::collections::HashMap;

use quick_xml::{Reader, events::Event};
use serde::{Deserialize, Serialize};

/// One action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionInfo {
    /// Action name, e.g. `GetApplicationVersion`.
    pub name: String,
    /// `Unbound`, `BoundToEntitySet` or `BoundToEntityInstance`, as the
    /// metadata API's `BindingKind` says.
    pub binding: String,
    /// The entity type it binds to (short name), for bound actions.
    pub entity: Option<String>,
    /// The entity set to call it on, when the document names one.
    pub entity_set: Option<String>,
    /// Parameters after the binding parameter.
    pub parameters: Vec<ParamInfo>,
    /// Return type (`Edm.String`, `Collection(Edm.String)`…), none for void.
    pub return_type: Option<String>,
}

/// One action parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamInfo {
    /// Name, as sent in the JSON body.
    pub name: String,
    /// EDM type.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Whether it may be left out.
    pub nullable: bool,
}

/// Longest document parsed: far above any D365FO environment's.
const MAX_ACTIONS: usize = 100_000;

/// The actions of a CSDL document, in document order.
pub fn action_index(xml: &str) -> Result<Vec<ActionInfo>, String> {
    let mut reader = Reader::from_str(xml);
    let mut actions: Vec<ActionInfo> = Vec::new();
    let mut sets: HashMap<String, String> = HashMap::new();
    let mut current: Option<(ActionInfo, bool, bool)> = None; // (action, is_bound, binding param seen)
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("$metadata is not well-formed XML: {e}"))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(e) => {
                if e.local_name().as_ref() == b"Action"
                    && let Some((action, _, _)) = current.take()
                {
                    actions.push(action);
                }
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        let Some(tag) = start else { continue };
        let mut attrs: HashMap<Vec<u8>, String> = HashMap::new();
        for attr in tag.attributes().flatten() {
            let value = attr
                .decode_and_unescape_value(reader.decoder())
                .map_err(|e| format!("$metadata has a bad attribute: {e}"))?;
            attrs.insert(attr.key.local_name().as_ref().to_vec(), value.into_owned());
        }
        let attr = |name: &[u8]| attrs.get(name).cloned();
        match tag.local_name().as_ref() {
            b"Action" => {
                if actions.len() >= MAX_ACTIONS {
                    return Err(format!(
                        "$metadata declares more than {MAX_ACTIONS} actions"
                    ));
                }
                let action = ActionInfo {
                    name: attr(b"Name").unwrap_or_default(),
                    binding: "Unbound".into(),
                    entity: None,
                    entity_set: None,
                    parameters: Vec::new(),
                    return_type: None,
                };
                let bound = attr(b"IsBound").is_some_and(|v| v == "true");
                if empty {
                    actions.push(action);
                } else {
                    current = Some((action, bound, false));
                }
            }
            b"Parameter" => {
                if let Some((action, bound, seen)) = current.as_mut() {
                    let type_name = attr(b"Type").unwrap_or_default();
                    if *bound && !*seen {
                        *seen = true;
                        let (binding, inner) = match type_name
                            .strip_prefix("Collection(")
                            .and_then(|t| t.strip_suffix(')'))
                        {
                            Some(inner) => ("BoundToEntitySet", inner),
                            None => ("BoundToEntityInstance", type_name.as_str()),
                        };
                        action.binding = binding.into();
                        action.entity = Some(short_name(inner).to_owned());
                    } else {
                        action.parameters.push(ParamInfo {
                            name: attr(b"Name").unwrap_or_default(),
                            type_name,
                            nullable: attr(b"Nullable").is_none_or(|v| v != "false"),
                        });
                    }
                }
            }
            b"ReturnType" => {
                if let Some((action, _, _)) = current.as_mut() {
                    action.return_type = attr(b"Type");
                }
            }
            b"EntitySet" => {
                if let (Some(name), Some(ty)) = (attr(b"Name"), attr(b"EntityType")) {
                    sets.insert(short_name(&ty).to_owned(), name);
                }
            }
            _ => {}
        }
    }
    for action in &mut actions {
        if let Some(entity) = &action.entity {
            action.entity_set = sets.get(entity).cloned();
        }
    }
    Ok(actions)
}

/// `Microsoft.Dynamics.DataEntities.CustomerV3` → `CustomerV3`.
pub fn short_name(qualified: &str) -> &str {
    qualified.rsplit('.').next().unwrap_or(qualified)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DOC: &str = r#"<?xml version="1.0"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices><Schema Namespace="Microsoft.Dynamics.DataEntities" xmlns="http://docs.oasis-open.org/odata/ns/edm">
<EntityType Name="CustomerV3"><Key><PropertyRef Name="dataAreaId"/></Key><Property Name="dataAreaId" Type="Edm.String"/></EntityType>
<Action Name="PrintAccountStatement" IsBound="true"><Parameter Name="CustomerV3" Type="Microsoft.Dynamics.DataEntities.CustomerV3"/><Parameter Name="FromDate" Type="Edm.DateTimeOffset" Nullable="false"/><ReturnType Type="Edm.String"/></Action>
<Action Name="GetInstalledModules" IsBound="true"><Parameter Name="SystemNotification" Type="Collection(Microsoft.Dynamics.DataEntities.SystemNotification)"/><ReturnType Type="Collection(Edm.String)"/></Action>
<Action Name="GetCompanyName"><Parameter Name="CompanyId" Type="Edm.String" Nullable="false"/><ReturnType Type="Edm.String"/></Action>
<Action Name="Ping &amp; Pong"/>
<EntityContainer Name="Resources"><EntitySet Name="CustomersV3" EntityType="Microsoft.Dynamics.DataEntities.CustomerV3"/></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>"#;

    #[test]
    fn indexes_bound_and_unbound_actions() {
        let actions = action_index(DOC).unwrap();
        assert_eq!(actions.len(), 4);
        let print = &actions[0];
        assert_eq!(print.binding, "BoundToEntityInstance");
        assert_eq!(print.entity.as_deref(), Some("CustomerV3"));
        assert_eq!(print.entity_set.as_deref(), Some("CustomersV3"));
        assert_eq!(print.parameters.len(), 1);
        assert!(!print.parameters[0].nullable);
        let modules = &actions[1];
        assert_eq!(modules.binding, "BoundToEntitySet");
        assert_eq!(modules.entity_set, None, "a host type without a set");
        assert_eq!(
            modules.return_type.as_deref(),
            Some("Collection(Edm.String)")
        );
        assert_eq!(actions[2].binding, "Unbound");
        assert_eq!(actions[2].parameters[0].name, "CompanyId");
        assert_eq!(actions[3].name, "Ping & Pong");
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(action_index("<a><b></a>").is_err());
        assert_eq!(action_index("").unwrap(), Vec::new());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = action_index(&s);
        }

        #[test]
        fn never_panics_on_tag_soup(parts in proptest::collection::vec(
            prop_oneof![
                Just("<Action Name=\"A\" IsBound=\"true\">"), Just("</Action>"),
                Just("<Parameter Name=\"p\" Type=\"Collection(X.Y)\"/>"), Just("<ReturnType/>"),
                Just("<EntitySet Name=\"S\" EntityType=\"X.Y\"/>"), Just("&amp;"), Just("<"),
            ], 0..30)) {
            let _ = action_index(&parts.concat());
        }
    }
}
