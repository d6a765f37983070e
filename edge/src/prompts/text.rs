//! The prompts' text. Examples are built from JSON values, so they are valid
//! arguments whatever the caller passed, and carry `environment` whenever
//! the prompt names one (a model copies examples as they are).

use rmcp::model::{GetPromptResult, PromptMessage, Resource, Role};
use serde_json::{Value, json};

use super::ENTITY_ANALYSIS;
use crate::resources::Address;

/// Tool arguments as the model should type them: in this order, and with
/// `environment` whenever the prompt names one.
fn call_args(pairs: &[(&str, Value)], environment: Option<&str>) -> String {
    let mut parts: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    if let Some(name) = environment {
        parts.push(format!("\"environment\": {}", json!(name)));
    }
    format!("{{{}}}", parts.join(", "))
}

/// How the text names the environment.
fn place(environment: Option<&str>) -> String {
    environment.map_or_else(
        || "the default D365FO environment".to_owned(),
        |name| format!("the D365FO environment `{name}`"),
    )
}

/// Steps from the schema to a data-quality report on one entity, with the
/// schema resource linked.
pub fn entity_analysis(
    entity: &str,
    environment: Option<&str>,
    focus: Option<&str>,
) -> GetPromptResult {
    let args = |pairs: &[(&str, Value)]| call_args(pairs, environment);
    let set = json!("<entity set>");
    let schema = args(&[("entity", json!(entity))]);
    let total = args(&[
        ("entity_set", set.clone()),
        ("top", json!(1)),
        ("count", json!(true)),
        ("cross_company", json!(true)),
    ]);
    let sample = args(&[
        ("entity_set", set.clone()),
        ("top", json!(10)),
        (
            "select",
            json!(["<key fields>", "<a few descriptive fields>"]),
        ),
    ]);
    let distribution = args(&[
        ("entity_set", set.clone()),
        ("filter", json!("<Field> eq '<value>'")),
        ("top", json!(1)),
        ("count", json!(true)),
    ]);
    let record = args(&[
        ("entity_set", set),
        (
            "key",
            json!({"dataAreaId": "<company>", "<key field>": "<value>"}),
        ),
    ]);
    let focus = focus.map_or_else(String::new, |focus| {
        format!(
            "\nThe analyst cares most about: {}. Weigh the steps and the report toward it.\n",
            focus.trim_end_matches('.')
        )
    });
    let text = format!(
        "Analyze the Dynamics 365 Finance & Operations (D365FO) data entity `{entity}` in {place} \
for an ERP analyst.

Work through these steps with the d365fo_* tools. The arguments shown can be copied as they \
are; replace each <placeholder> with what an earlier step returned.

1. Schema: call d365fo_get_entity_schema with {schema}. Note the entity set name (the public \
collection name the data tools take), the key fields, the mandatory fields, the field types, \
enumerations and relations to other entities. If the entity is not found, look for the right \
name with d365fo_search_entities and go on with that one.
2. Volume: call d365fo_query_entities with {total} for the rows of all companies, then again \
without \"cross_company\" for the default company. An entity whose key has no dataAreaId is \
shared by all companies.
3. Sample: call d365fo_query_entities with {sample} to see typical values. Select only the \
fields you need.
4. Distribution: for one or two fields that classify the rows (a group, a status, a type), count \
the rows of each common value, e.g. {distribution}. Enumeration values are written \
Microsoft.Dynamics.DataEntities.<Enum>'<Value>'.
5. Detail: read one representative record in full with d365fo_get_entity_record, e.g. {record}.
6. Labels: where the schema shows label ids such as @SYS12345 instead of text, resolve them with \
d365fo_get_label.
{focus}
Then report:
- what the entity represents and which business processes use it;
- its key, and whether its rows belong to a company (dataAreaId) or are shared;
- the important fields: type, meaning and example values;
- volumes: all companies, the default company, and notable distributions;
- data-quality findings (empty fields that look mandatory, unusual or inconsistent values, likely \
duplicates), each with the query that shows it;
- related entities worth analyzing next.

Only read: do not create, change or delete records. Keep each query small with \"top\" and \
\"select\"; when a result says \"more\": true, say that the sample is partial rather than paging \
through everything. When a call fails, its error message says what to change.",
        place = place(environment),
    );
    let schema_uri = Address::EntitySchema {
        environment: environment.map(str::to_owned),
        entity: entity.to_owned(),
    }
    .uri();
    let link = Resource::new(schema_uri, format!("{entity} schema"))
        .with_description("The entity's schema, as d365fo_get_entity_schema returns it.")
        .with_mime_type("application/json");
    GetPromptResult::new(vec![
        PromptMessage::new_text(Role::User, text),
        PromptMessage::new_resource_link(Role::User, link),
    ])
    .with_description(format!(
        "Analysis of the entity {entity} in {}",
        place(environment)
    ))
}

/// Steps from the connection check to volumes per master entity, with the
/// environment resource linked.
pub fn environment_summary(environment: Option<&str>) -> GetPromptResult {
    let args = |pairs: &[(&str, Value)]| call_args(pairs, environment);
    let counted = |set: &str| {
        vec![
            ("entity_set", json!(set)),
            ("select", json!(["dataAreaId"])),
            ("top", json!(1)),
            ("count", json!(true)),
            ("cross_company", json!(true)),
        ]
    };
    let none = args(&[]);
    let companies = args(&[
        ("entity_set", json!("LegalEntities")),
        (
            "select",
            json!([
                "LegalEntityId",
                "Name",
                "AccountingCurrency",
                "AddressCountryRegionId"
            ]),
        ),
        ("top", json!(100)),
        ("count", json!(true)),
    ]);
    let customers = args(&counted("CustomersV3"));
    let orders = args(&counted("SalesOrderHeadersV2"));
    let mut open = counted("SalesOrderHeadersV2");
    open.insert(
        1,
        (
            "filter",
            json!("SalesOrderStatus eq Microsoft.Dynamics.DataEntities.SalesStatus'Backorder'"),
        ),
    );
    let open = args(&open);
    let resource_uri = Address::Environment {
        environment: environment.map(str::to_owned),
    }
    .uri();
    let text = format!(
        "Summarize {place} (Dynamics 365 Finance & Operations) for an ERP analyst or \
administrator.

Work through these steps with the d365fo_* tools; the arguments shown can be copied as they are.

1. Connection: call d365fo_test_connection with {none}. If \"ok\" is false, report its message \
and stop: the other calls would fail the same way.
2. Versions: call d365fo_get_environment_info with {none} for the environment URL, the \
application version and the platform build (the same facts are the resource {resource_uri}). \
D365FO releases are numbered 10.0.x; a higher x is newer.
3. Companies: call d365fo_query_entities with {companies}.
4. Master data: count the rows of all companies of CustomersV3, VendorsV2 and \
ReleasedProductsV2 with d365fo_query_entities, e.g. {customers}, changing \"entity_set\" for \
each.
5. Sales: count all sales orders with {orders}, and the open ones (status Backorder, \
\"Open order\" in the D365FO client) with {open}.

Then report:
- the environment URL, application version and platform build;
- the companies: id, name, accounting currency and country;
- the row counts of customers, vendors, released products and sales orders (all and open);
- anything that failed, with its error message;
- suggested next steps, such as the prompt {ENTITY_ANALYSIS} for an entity that stands out.

Only read: do not create, change or delete records. When a call fails, its error message says \
what to change; an entity this environment does not have is worth reporting, not retrying.",
        place = place(environment),
    );
    let link = Resource::new(resource_uri, "environment")
        .with_description("The environment's URL and versions.")
        .with_mime_type("application/json");
    GetPromptResult::new(vec![
        PromptMessage::new_text(Role::User, text),
        PromptMessage::new_resource_link(Role::User, link),
    ])
    .with_description(format!("Summary of {}", place(environment)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_keep_their_order_and_add_the_environment_last() {
        let args = call_args(
            &[("entity_set", json!("CustomersV3")), ("top", json!(1))],
            Some("prod"),
        );
        assert_eq!(
            args,
            r#"{"entity_set": "CustomersV3", "top": 1, "environment": "prod"}"#
        );
        assert_eq!(call_args(&[], None), "{}");
    }
}
