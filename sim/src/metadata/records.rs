//! The JSON records of the metadata API, in the shapes D365FO returns and
//! the `d365fo-client` package parses: `DataEntities`, `PublicEntities`
//! (properties, navigation properties, property groups, actions) and
//! `PublicEnumerations` (members).

use serde_json::{Value as Json, json};

use super::operations::{self, ActionDef, Binding, NS};
use super::{Catalogue, EntityMeta, EnumMeta, PropMeta};
use crate::data::{FieldType, Navigation};

/// A `/Metadata/DataEntities` record.
pub fn data_entity(e: &EntityMeta) -> Json {
    json!({
        "Name": e.aot_name,
        "PublicEntityName": e.name,
        "PublicCollectionName": e.set,
        "LabelId": e.label,
        "EntityCategory": e.category,
        "DataServiceEnabled": true,
        "DataManagementEnabled": e.served,
        "IsReadOnly": e.read_only,
    })
}

/// A `/Metadata/PublicEntities` record, with everything nested.
pub fn public_entity(cat: &Catalogue, e: &EntityMeta) -> Json {
    let identification: Vec<&str> = e
        .props
        .iter()
        .filter(|p| p.is_key && p.name != "dataAreaId")
        .map(|p| p.name)
        .collect();
    json!({
        "Name": e.name,
        "EntitySetName": e.set,
        "LabelId": e.label,
        "IsReadOnly": e.read_only,
        "ConfigurationEnabled": true,
        "Properties": e.props.iter().map(property).collect::<Vec<_>>(),
        "NavigationProperties": e.navs.iter().map(|n| navigation(cat, n)).collect::<Vec<_>>(),
        "PropertyGroups": [{"Name": "AutoIdentification", "Properties": identification}],
        "Actions": operations::bound_to(e.set).map(|a| action(e, a)).collect::<Vec<_>>(),
    })
}

/// A `/Metadata/PublicEnumerations` record.
pub fn public_enumeration(e: &EnumMeta) -> Json {
    json!({
        "Name": e.name,
        "LabelId": e.label,
        "Members": e.members.iter().map(|(name, value, label)| json!({
            "Name": name,
            "Value": value,
            "LabelId": label,
            "ConfigurationEnabled": true,
        })).collect::<Vec<_>>(),
    })
}

/// Every record of one metadata collection, by collection name.
pub fn collection(cat: &Catalogue, name: &str) -> Option<Vec<Json>> {
    match name {
        "DataEntities" => Some(cat.entities.iter().map(data_entity).collect()),
        "PublicEntities" => Some(cat.entities.iter().map(|e| public_entity(cat, e)).collect()),
        "PublicEnumerations" => Some(cat.enums.iter().map(public_enumeration).collect()),
        _ => None,
    }
}

/// One record of a metadata collection by its string key.
pub fn single(cat: &Catalogue, collection: &str, key: &str) -> Option<Json> {
    match collection {
        "DataEntities" => cat.data_entity(key).map(data_entity),
        "PublicEntities" => cat.entity(key).map(|e| public_entity(cat, e)),
        "PublicEnumerations" => cat.enumeration(key).map(public_enumeration),
        _ => None,
    }
}

/// The X++ type D365FO reports as `DataType` (its `ODataXppType`).
pub fn xpp_type(ty: FieldType) -> &'static str {
    if matches!(ty, FieldType::Enum(_)) {
        return "Enum";
    }
    match ty.edm_name() {
        "Edm.Int32" => "Int32",
        "Edm.Int64" => "Int64",
        "Edm.Decimal" | "Edm.Double" => "Real",
        "Edm.DateTimeOffset" => "UtcDateTime",
        "Edm.Date" => "Date",
        "Edm.Guid" => "Guid",
        // X++ has no boolean: NoYes-style enums stand in for it.
        "Edm.Boolean" => "Enum",
        _ => "String",
    }
}

fn property(p: &PropMeta) -> Json {
    json!({
        "Name": p.name,
        "TypeName": p.ty.edm_name(),
        "DataType": xpp_type(p.ty),
        "LabelId": p.label,
        "IsKey": p.is_key,
        "IsMandatory": p.mandatory,
        "ConfigurationEnabled": true,
        // Key fields are fixed once a record exists.
        "AllowEdit": !p.is_key,
        "AllowEditOnCreate": true,
        "IsDimension": false,
        "DimensionRelation": "",
        "IsDynamicDimension": false,
        "DimensionLegalEntityProperty": "",
        "DimensionTypeProperty": "",
    })
}

fn navigation(cat: &Catalogue, n: &Navigation) -> Json {
    let related = cat.by_set(n.target).map_or(n.target, |t| t.name.as_str());
    json!({
        "Name": n.name,
        "RelatedEntity": related,
        "RelatedRelationName": n.partner.unwrap_or_default(),
        "Cardinality": if n.collection { "Multiple" } else { "Single" },
        "Constraints": n.constraints.iter().map(|(this, other)| json!({
            "@odata.type": "#Microsoft.Dynamics.Metadata.ReferentialConstraint",
            "Property": this,
            "ReferencedProperty": other,
        })).collect::<Vec<_>>(),
    })
}

fn action(e: &EntityMeta, a: &ActionDef) -> Json {
    let mut params = vec![json!({
        "Name": e.name,
        "Type": {
            "TypeName": format!("{NS}.{}", e.name),
            "IsCollection": matches!(a.binding, Binding::Set(_)),
        },
    })];
    params.extend(
        a.params
            .iter()
            .map(|p| json!({"Name": p.name, "Type": {"TypeName": p.edm, "IsCollection": false}})),
    );
    json!({
        "Name": a.name,
        "BindingKind": a.binding.kind(),
        "Parameters": params,
        "ReturnType": a.returns.map(|(ty, many)| json!({"TypeName": ty, "IsCollection": many})),
        "FieldLookup": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn records_have_the_client_fields() {
        let cat = Catalogue::build(&Dataset::seeded(1));
        let e = single(&cat, "PublicEntities", "DataManagementEntity").unwrap();
        assert_eq!(e["EntitySetName"], "DataManagementEntities");
        let action = &e["Actions"][0];
        assert_eq!(action["BindingKind"], "BoundToEntitySet");
        assert_eq!(action["Parameters"][0]["Type"]["IsCollection"], true);
        assert_eq!(action["ReturnType"]["TypeName"], "Edm.String");
        let c = single(&cat, "PublicEntities", "CustomerV3").unwrap();
        let account = c["Properties"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["Name"] == "CustomerAccount"))
            .cloned()
            .unwrap();
        assert_eq!(account["IsKey"], true);
        assert_eq!(account["DataType"], "String");
        assert_eq!(c["Actions"][0]["BindingKind"], "BoundToEntityInstance");
        let d = single(&cat, "DataEntities", "custcustomerv3entity").unwrap();
        assert_eq!(d["PublicCollectionName"], "CustomersV3");
        assert!(single(&cat, "PublicEnumerations", "nope").is_none());
        assert!(collection(&cat, "Labels").is_none());
    }
}
