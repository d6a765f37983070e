//! The metadata catalogue: what `/Metadata/*` and `/data/$metadata` describe.
//!
//! It is built once, at start-up, from the entity sets the data plane serves
//! (whatever they are: a set added to `data` appears here with no change),
//! plus the action-host sets of [`operations::HOSTS`]. Each entity, field,
//! enum and member gets a label id ([`labels`]); the EDMX document
//! ([`edmx`]) and the JSON records of the metadata API ([`records`]) are
//! both rendered from this one catalogue, so they cannot disagree.
//!
//! - [`labels`]: label ids and their `en-US`/`de` texts.
//! - [`operations`]: the actions served and their parameters.
//! - [`params`]: checking an action's JSON body against them.
//! - [`records`]: `DataEntities`, `PublicEntities`, `PublicEnumerations` JSON.
//! - [`edmx`]: the CSDL document of `/data/$metadata`.
//! - [`query`]: `$filter`/`$select`/`$top`/`$skip`/`$count` over those records.

pub mod edmx;
mod label_texts;
pub mod labels;
pub mod operations;
pub mod params;
pub mod query;
pub mod records;

use crate::data::{Dataset, FieldType, Navigation};
use labels::{LabelOf, Labels};

/// One property of a catalogued entity.
#[derive(Debug, Clone)]
pub struct PropMeta {
    /// Property name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Its label id.
    pub label: String,
    /// Part of the entity key.
    pub is_key: bool,
    /// Must be given on create (keys are).
    pub mandatory: bool,
}

/// One public data entity.
#[derive(Debug, Clone)]
pub struct EntityMeta {
    /// Public entity name (`CustomerV3`), the entity type's short name.
    pub name: String,
    /// The AOT name of the entity (`CustCustomerV3Entity`).
    pub aot_name: String,
    /// Entity set name (`CustomersV3`).
    pub set: &'static str,
    /// Label id of the entity.
    pub label: String,
    /// `EntityCategory`: Master, Transaction, Reference, Document, Parameters…
    pub category: &'static str,
    /// Whether the entity refuses writes.
    pub read_only: bool,
    /// Properties, in declaration order.
    pub props: Vec<PropMeta>,
    /// Navigation properties (empty for action hosts).
    pub navs: &'static [Navigation],
    /// Whether `/data/{set}` serves rows (false for action hosts).
    pub served: bool,
}

/// One public enumeration.
#[derive(Debug, Clone)]
pub struct EnumMeta {
    /// Short name (`NoYes`).
    pub name: String,
    /// Label id of the enumeration.
    pub label: String,
    /// Members: name, value, label id.
    pub members: Vec<(&'static str, i64, String)>,
}

/// Everything the metadata endpoints describe, built once.
#[derive(Debug)]
pub struct Catalogue {
    /// Entities: served sets first, in service-document order, then hosts.
    pub entities: Vec<EntityMeta>,
    /// Enumerations used by any property, in first-use order.
    pub enums: Vec<EnumMeta>,
    /// Every label id assigned above.
    pub labels: Labels,
    /// `/data/$metadata`, rendered once and shared by every response.
    pub edmx: axum::body::Bytes,
}

/// `(set, AOT name, category)` of known entities. The data plane names the
/// AOT entity of its own sets; hosts use the name here, and anything
/// unlisted is categorised `Master`.
const KNOWN: &[(&str, &str, &str)] = &[
    ("LegalEntities", "OMLegalEntity", "Reference"),
    ("Currencies", "LedgerCurrencyEntity", "Reference"),
    ("CustomerGroups", "CustCustomerGroupEntity", "Reference"),
    ("CustomersV3", "CustCustomerV3Entity", "Master"),
    ("VendorsV2", "VendVendorV2Entity", "Master"),
    (
        "ReleasedProductsV2",
        "EcoResReleasedProductV2Entity",
        "Master",
    ),
    (
        "SalesOrderHeadersV2",
        "SalesOrderHeaderV2Entity",
        "Document",
    ),
    ("SalesOrderLines", "SalesOrderLineEntity", "Document"),
    ("MainAccounts", "MainAccountEntity", "Master"),
    (
        "DataManagementEntities",
        "DataManagementEntity",
        "Parameters",
    ),
    (
        "DataManagementDefinitionGroups",
        "DMFDefinitionGroupEntity",
        "Parameters",
    ),
    (
        "SystemNotifications",
        "SystemNotificationEntity",
        "Reference",
    ),
    ("SrsFinanceCopilots", "SrsFinanceCopilotEntity", "Reference"),
];

/// The last dotted segment: `Microsoft.Dynamics.DataEntities.NoYes` → `NoYes`.
pub fn short_name(qualified: &str) -> &str {
    qualified.rsplit('.').next().unwrap_or(qualified)
}

impl Catalogue {
    /// Catalogues every set of `data` and every action host.
    pub fn build(data: &Dataset) -> Self {
        let mut labels = Labels::default();
        let mut entities = Vec::new();
        let mut enums: Vec<EnumMeta> = Vec::new();
        for &set_name in data.names() {
            let Some(set) = data.get(set_name) else {
                continue;
            };
            let mut props = Vec::with_capacity(set.fields.len());
            for (i, field) in set.fields.iter().enumerate() {
                let is_key = set.keys.contains(&i);
                if let FieldType::Enum(e) = field.ty {
                    let name = short_name(e.name);
                    if !enums.iter().any(|m| m.name == name) {
                        enums.push(EnumMeta {
                            name: name.to_owned(),
                            label: labels.assign(LabelOf::Enum(name)),
                            members: (0i64..)
                                .zip(e.members)
                                .map(|(v, m)| (*m, v, labels.assign(LabelOf::Member(name, m))))
                                .collect(),
                        });
                    }
                }
                props.push(PropMeta {
                    name: field.name,
                    ty: field.ty,
                    label: labels.assign(LabelOf::Field(field.name)),
                    is_key,
                    mandatory: is_key || set.mandatory.contains(&i),
                });
            }
            let mut meta = entity(
                &mut labels,
                set_name,
                short_name(set.type_name),
                props,
                true,
            );
            meta.aot_name = set.aot_name.to_owned();
            meta.navs = set.navigations();
            entities.push(meta);
        }
        for &(set, entity_name, key) in operations::HOSTS {
            let props = vec![PropMeta {
                name: key,
                ty: FieldType::String,
                label: labels.assign(LabelOf::Field(key)),
                is_key: true,
                mandatory: true,
            }];
            entities.push(entity(&mut labels, set, entity_name, props, false));
        }
        let mut catalogue = Self {
            entities,
            enums,
            labels,
            edmx: axum::body::Bytes::new(),
        };
        catalogue.edmx = edmx::render(&catalogue).into();
        catalogue
    }

    /// The entity served as entity set `set`.
    pub fn by_set(&self, set: &str) -> Option<&EntityMeta> {
        self.entities.iter().find(|e| e.set == set)
    }

    /// The entity whose public name is `name` (case-insensitive, as the
    /// metadata service's string keys are).
    pub fn entity(&self, name: &str) -> Option<&EntityMeta> {
        self.entities
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// The data entity whose AOT name is `name` (case-insensitive).
    pub fn data_entity(&self, name: &str) -> Option<&EntityMeta> {
        self.entities
            .iter()
            .find(|e| e.aot_name.eq_ignore_ascii_case(name))
    }

    /// The enumeration called `name` (case-insensitive).
    pub fn enumeration(&self, name: &str) -> Option<&EnumMeta> {
        self.enums
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }
}

fn entity(
    labels: &mut Labels,
    set: &'static str,
    name: &str,
    props: Vec<PropMeta>,
    served: bool,
) -> EntityMeta {
    let known = KNOWN.iter().find(|k| k.0 == set);
    EntityMeta {
        name: name.to_owned(),
        aot_name: known.map_or_else(|| format!("{name}Entity"), |k| k.1.to_owned()),
        set,
        label: labels.assign(LabelOf::Entity(set)),
        category: known.map_or("Master", |k| k.2),
        read_only: !served,
        props,
        navs: &[],
        served,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_every_served_set_and_the_hosts() {
        let data = Dataset::seeded(1);
        let cat = Catalogue::build(&data);
        for name in data.names() {
            assert!(
                cat.entities.iter().any(|e| e.set == *name && e.served),
                "{name}"
            );
        }
        let customer = cat.entity("customerv3").unwrap();
        assert_eq!(customer.aot_name, "CustCustomerV3Entity");
        assert!(
            customer
                .props
                .iter()
                .any(|p| p.name == "dataAreaId" && p.is_key)
        );
        assert!(
            cat.entity("DataManagementEntity")
                .is_some_and(|e| !e.served)
        );
        let no_yes = cat.enumeration("NOYES").unwrap();
        assert_eq!(no_yes.members[1].0, "Yes");
        assert_eq!(no_yes.members[1].1, 1);
        assert!(cat.labels.get(&customer.label, "de").is_some());
    }
}
