//! Sample results of the metadata tools besides the connection tools':
//! searches (a page with more and the last page), schemas and enumerations
//! (labels read and not), labels (found, missing, failed), modules.

use serde_json::Value;

use super::value;
use crate::catalogue::{metadata::*, names};

pub(super) fn samples() -> Vec<(&'static str, Value)> {
    let label = |found: bool| found.then(|| "Customers".to_owned());
    let page = |more: bool| Paging::new(if more { 3 } else { 1 }, 0, 1);
    let entity = |found| EntityHit {
        entity_set: "CustomersV3".into(),
        public_entity_name: "CustomerV3".into(),
        name: "CustCustomerV3Entity".into(),
        label_id: "@SYS1".into(),
        label: label(found),
        category: "Master".into(),
        data_service_enabled: true,
        data_management_enabled: true,
        read_only: false,
        score: 100,
    };
    let unresolved = |found: bool| {
        (!found).then(|| UnresolvedLabels {
            count: 1,
            first_error: "upstream_unavailable: label service failed".into(),
        })
    };
    let schema = |found: bool| EntitySchemaResult {
        entity_set: "CustomersV3".into(),
        public_entity_name: "CustomerV3".into(),
        name: "CustCustomerV3Entity".into(),
        label_id: "@SYS1".into(),
        label: label(found),
        category: "Master".into(),
        read_only: false,
        language: "en-us".into(),
        keys: vec!["dataAreaId".into()],
        properties: vec![EntityProperty {
            name: "Blocked".into(),
            type_name: "Microsoft.Dynamics.DataEntities.CustVendorBlocked".into(),
            data_type: "Enum".into(),
            label_id: "@SYS2".into(),
            label: label(found),
            is_key: false,
            mandatory: false,
            allow_edit: found.then_some(true),
            allow_edit_on_create: found.then_some(true),
            enumeration: found.then(|| PropertyEnum {
                name: "CustVendorBlocked".into(),
                members: vec![PropertyEnumMember {
                    name: "No".into(),
                    value: Some(0),
                    label: None,
                }],
            }),
        }],
        navigation_properties: vec![NavigationProperty {
            name: "SalesOrders".into(),
            related_entity: "SalesOrderHeaderV2".into(),
            cardinality: "Multiple".into(),
            constraints: vec![NavigationConstraint {
                property: "CustomerAccount".into(),
                referenced_property: "OrderingCustomerAccountNumber".into(),
            }],
        }],
        actions: vec![BoundAction {
            name: "Approve".into(),
            binding: "BoundToEntityInstance".into(),
            parameters: vec![BoundActionParameter {
                name: "note".into(),
                type_name: found.then(|| "Edm.String".into()),
            }],
            return_type: found.then(|| "Edm.Boolean".into()),
        }],
        unresolved_labels: unresolved(found),
    };
    let action = |bound: bool| ActionHit {
        name: "GetApplicationVersion".into(),
        binding: if bound { "BoundToEntitySet" } else { "Unbound" }.into(),
        entity: bound.then(|| "CustomerV3".into()),
        entity_set: bound.then(|| "CustomersV3".into()),
        parameters: vec![ActionParameter {
            name: "n".into(),
            type_name: "Edm.Int32".into(),
            nullable: bound,
        }],
        return_type: bound.then(|| "Edm.String".into()),
        path: bound.then(|| "CustomersV3/Microsoft.Dynamics.DataEntities.X".into()),
        score: 7,
    };
    let enumeration = |found: bool| EnumResult {
        name: "NoYes".into(),
        label_id: "@SYS3".into(),
        label: label(found),
        language: "de".into(),
        members: vec![EnumMember {
            name: "Yes".into(),
            value: found.then_some(1),
            label_id: "@SYS4".into(),
            label: label(found),
        }],
        unresolved_labels: unresolved(found),
    };
    let label_text = |found: bool, error: Option<&str>| LabelText {
        label_id: "@SYS13342".into(),
        found,
        text: label(found),
        error: error.map(str::to_owned),
    };
    let mut samples = Vec::new();
    for more in [true, false] {
        let entities = SearchEntitiesResult {
            query: "customer".into(),
            language: "en-us".into(),
            page: page(more),
            entities: vec![entity(more), entity(!more)],
        };
        samples.push((names::SEARCH_ENTITIES, value(&entities)));
        samples.push((names::GET_ENTITY_SCHEMA, value(&schema(more))));
        let actions = SearchActionsResult {
            query: "version".into(),
            page: page(more),
            actions: vec![action(more), action(!more)],
        };
        samples.push((names::SEARCH_ACTIONS, value(&actions)));
        let enums = SearchEnumsResult {
            query: "sales status".into(),
            language: "en-us".into(),
            page: page(more),
            enumerations: vec![EnumHit {
                name: "SalesStatus".into(),
                label_id: "@SYS5".into(),
                label: label(more),
                score: 90,
            }],
        };
        samples.push((names::SEARCH_ENUMERATIONS, value(&enums)));
        samples.push((names::GET_ENUMERATION, value(&enumeration(more))));
    }
    let one = LabelResult {
        label_id: "@SYS13342".into(),
        language: "en-us".into(),
        text: "Company".into(),
    };
    samples.push((names::GET_LABEL, value(&one)));
    let many = LabelsResult {
        language: "de".into(),
        found: 1,
        missing: 1,
        failed: 1,
        labels: vec![
            label_text(true, None),
            label_text(false, None),
            label_text(false, Some("upstream_unavailable: label service failed")),
        ],
    };
    samples.push((names::GET_LABELS, value(&many)));
    let modules = InstalledModulesResult {
        version_hash: "3f2a".into(),
        count: 1,
        modules: vec![InstalledModule {
            name: "ApplicationSuite".into(),
            version: "10.0.2015.54".into(),
            module: "ApplicationSuite".into(),
            publisher: "Microsoft Corporation".into(),
            display_name: "Application Suite".into(),
        }],
    };
    samples.push((names::GET_INSTALLED_MODULES, value(&modules)));
    samples
}
