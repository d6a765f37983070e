//! Each metadata tool against the simulator: its happy path, and the error
//! each kind of bad input gets. `metadata_stubs` covers what D365FO or a
//! gateway may answer that the simulator never does.

use serde_json::{Value, json};

use super::{
    call, request,
    simulator::{Sim, store, worker_on},
};

pub async fn run(sim: &Sim, tool: &str, args: Value) -> super::Called {
    let worker = worker_on(&sim.base, &store());
    let called = call(&worker, request(tool, args)).await;
    if let Ok((_, out)) = &called.result {
        conforms(tool, out);
    }
    called
}

/// Asserts that `out` matches `tool`'s output schema, in the part of JSON
/// Schema the catalogue uses: `type` (one or several), `properties`,
/// `required`, `items`.
pub fn conforms(tool: &str, out: &Value) {
    let spec = common::catalogue::find(tool).unwrap();
    let Some(schema) = &spec.output_schema else {
        return;
    };
    let mut wrong = Vec::new();
    violations(out, schema, "$", &mut wrong);
    assert!(
        wrong.is_empty(),
        "{tool}'s output breaks its schema: {wrong:#?}"
    );
}

fn violations(value: &Value, schema: &Value, at: &str, wrong: &mut Vec<String>) {
    if let Some(declared) = schema.get("type") {
        let types: Vec<&str> = match declared {
            Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        let fits = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => true,
        });
        if !fits {
            wrong.push(format!("{at} is {value}, not {declared}"));
            return;
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, property) in properties.into_iter().flatten() {
            if let Some(v) = object.get(name) {
                violations(v, property, &format!("{at}.{name}"), wrong);
            }
        }
        let required = schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                wrong.push(format!("{at}.{name} is required but absent"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (n, item) in array.iter().enumerate() {
            violations(item, items, &format!("{at}[{n}]"), wrong);
        }
    }
}

/// Asserts a failure with `code` whose message contains `needle`.
pub async fn fails(sim: &Sim, tool: &str, args: Value, code: &str, needle: &str) {
    let called = run(sim, tool, args.clone()).await;
    let failure = called.failure();
    assert_eq!(failure.code, code, "{tool} {args}: {}", failure.message);
    assert!(
        failure.message.contains(needle),
        "{tool} {args}: {:?} lacks {needle:?}",
        failure.message
    );
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn search_entities_ranks_filters_and_pages() {
    let sim = Sim::start().await;
    let called = run(&sim, "d365fo_search_entities", json!({"query": "customer"})).await;
    let out = called.ok();
    let sets = names(&out["entities"], "entity_set");
    assert_eq!(sets[0], "CustomersV3", "{sets:?}");
    assert!(sets.contains(&"CustomerGroups".to_owned()));
    assert_eq!(out["entities"][0]["label"], "Customers V3");
    assert_eq!(out["more"], false);
    // Label text ranks too: the German label of sales orders.
    let out = run(
        &sim,
        "d365fo_search_entities",
        json!({"query": "Verkaufsauftragsköpfe", "language": "de"}),
    )
    .await;
    assert_eq!(out.ok()["entities"][0]["entity_set"], "SalesOrderHeadersV2");
    // Filters, then a page of one with a continuation.
    let out = run(
        &sim,
        "d365fo_search_entities",
        json!({"category": "reference", "read_only": false, "top": 1}),
    )
    .await;
    let out = out.ok();
    assert_eq!(out["returned"], 1);
    assert_eq!(out["more"], true);
    assert_eq!(out["next_skip"], 1);
    assert_eq!(out["entities"][0]["category"], "Reference");
    let bad = [
        (
            json!({"top": "ten"}),
            "`top` must be an integer between 1 and 200",
        ),
        (json!({"top": 0}), "`top`"),
        (json!({"top": 201}), "`top`"),
        (json!({"skip": -1}), "`skip`"),
        (json!({"read_only": "yes"}), "true or false"),
        (json!({"query": 5}), "`query` must be text"),
        (
            json!({"language": "english"}),
            "`language` must be a language tag",
        ),
        (json!({"qeury": "x"}), "unknown field `qeury`"),
        (json!({"environment": "elsewhere"}), "not configured"),
    ];
    for (args, needle) in bad {
        fails(
            &sim,
            "d365fo_search_entities",
            args,
            "invalid_arguments",
            needle,
        )
        .await;
    }
}

#[tokio::test]
async fn entity_schema_has_keys_enums_navigation_and_labels() {
    let sim = Sim::start().await;
    for name in ["CustomersV3", "customerv3", "CustCustomerV3Entity"] {
        let called = run(&sim, "d365fo_get_entity_schema", json!({"entity": name})).await;
        assert_eq!(called.ok()["entity_set"], "CustomersV3", "{name}");
    }
    let called = run(
        &sim,
        "d365fo_get_entity_schema",
        json!({"entity": "SalesOrderHeadersV2", "language": "de"}),
    )
    .await;
    let out = called.ok();
    assert_eq!(out["public_entity_name"], "SalesOrderHeaderV2");
    assert_eq!(out["label"], "Verkaufsauftragsköpfe V2");
    assert!(
        out.get("unresolved_labels").is_none(),
        "every label resolved"
    );
    assert!(
        out["keys"]
            .as_array()
            .unwrap()
            .contains(&json!("dataAreaId"))
    );
    let props = out["properties"].as_array().unwrap();
    let area = props.iter().find(|p| p["name"] == "dataAreaId").unwrap();
    assert_eq!(
        (area["is_key"].clone(), area["label"].clone()),
        (json!(true), json!("Unternehmen"))
    );
    let status = props
        .iter()
        .find(|p| p["enum"]["name"] == "SalesStatus")
        .unwrap_or_else(|| panic!("no SalesStatus field: {props:?}"));
    let members = status["enum"]["members"].as_array().unwrap();
    assert_eq!(members[3]["name"], "Invoiced");
    assert_eq!(members[3]["value"], 3);
    assert!(members[3]["label"].is_string());
    assert!(!out["navigation_properties"].as_array().unwrap().is_empty());
    let customers = run(
        &sim,
        "d365fo_get_entity_schema",
        json!({"entity": "CustomersV3"}),
    )
    .await;
    assert_eq!(
        customers.ok()["actions"][0]["name"],
        "PrintAccountStatement"
    );

    fails(
        &sim,
        "d365fo_get_entity_schema",
        json!({"entity": "CustomersV9"}),
        "not_found",
        "Did you mean CustomersV3",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_entity_schema",
        json!({"entity": "Nothing"}),
        "not_found",
        "d365fo_search_entities",
    )
    .await;
    for (args, needle) in [
        (json!({}), "missing field `entity`"),
        (json!({"entity": 5}), "`entity` must be a name"),
        (json!({"entity": "Customers/../x"}), "plain name"),
        (
            json!({"entity": "CustomersV3", "language": "en_US!"}),
            "`language`",
        ),
    ] {
        fails(
            &sim,
            "d365fo_get_entity_schema",
            args,
            "invalid_arguments",
            needle,
        )
        .await;
    }
}

#[tokio::test]
async fn search_actions_over_the_edmx() {
    let sim = Sim::start().await;
    let called = run(
        &sim,
        "d365fo_search_actions",
        json!({"query": "application version"}),
    )
    .await;
    let out = called.ok();
    let first = &out["actions"][0];
    assert_eq!(first["name"], "GetApplicationVersion");
    assert_eq!(first["binding"], "BoundToEntitySet");
    assert_eq!(first["entity_set"], "DataManagementEntities");
    assert_eq!(
        first["path"],
        "DataManagementEntities/Microsoft.Dynamics.DataEntities.GetApplicationVersion"
    );
    let bound = run(
        &sim,
        "d365fo_search_actions",
        json!({"entity": "CustomersV3"}),
    )
    .await;
    assert_eq!(
        names(&bound.ok()["actions"], "name"),
        ["PrintAccountStatement"]
    );
    assert_eq!(
        bound.ok()["actions"][0]["path"],
        "CustomersV3({key})/Microsoft.Dynamics.DataEntities.PrintAccountStatement"
    );
    let unbound = run(&sim, "d365fo_search_actions", json!({"binding": "unbound"})).await;
    assert_eq!(names(&unbound.ok()["actions"], "name"), ["GetCompanyName"]);
    fails(
        &sim,
        "d365fo_search_actions",
        json!({"binding": "Sideways"}),
        "invalid_arguments",
        "`binding` must be one of",
    )
    .await;
    fails(
        &sim,
        "d365fo_search_actions",
        json!({"entity": "Nope"}),
        "not_found",
        "entity \"Nope\" not found",
    )
    .await;
    fails(
        &sim,
        "d365fo_search_actions",
        json!({"top": [1]}),
        "invalid_arguments",
        "`top`",
    )
    .await;
}

#[tokio::test]
async fn enumerations_search_and_members() {
    let sim = Sim::start().await;
    let called = run(
        &sim,
        "d365fo_search_enumerations",
        json!({"query": "sales status"}),
    )
    .await;
    assert_eq!(called.ok()["enumerations"][0]["name"], "SalesStatus");
    let all = run(&sim, "d365fo_search_enumerations", json!({})).await;
    assert!(all.ok()["total"].as_u64().unwrap() >= 5);
    let called = run(
        &sim,
        "d365fo_get_enumeration",
        json!({"name": "NoYes", "language": "de"}),
    )
    .await;
    let out = called.ok();
    assert_eq!(out["members"][1]["name"], "Yes");
    assert_eq!(out["members"][1]["value"], 1);
    assert_eq!(out["members"][1]["label"], "Ja");
    fails(
        &sim,
        "d365fo_get_enumeration",
        json!({"name": "MaybeSo"}),
        "not_found",
        "d365fo_search_enumerations",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_enumeration",
        json!({"name": "No Yes"}),
        "invalid_arguments",
        "plain name",
    )
    .await;
    fails(
        &sim,
        "d365fo_get_enumeration",
        json!({}),
        "invalid_arguments",
        "missing field `name`",
    )
    .await;
    fails(
        &sim,
        "d365fo_search_enumerations",
        json!({"top": 1000}),
        "invalid_arguments",
        "`top`",
    )
    .await;
}

#[tokio::test]
async fn a_cold_schema_reports_its_label_lookups_as_progress() {
    let sim = Sim::start().await;
    let worker = worker_on(&sim.base, &store());
    let mut req = request("d365fo_get_entity_schema", json!({"entity": "CustomersV3"}));
    req.want_progress = true;
    let cold = call(&worker, req.clone()).await;
    cold.ok();
    let last = cold.progress.last().expect("progress while labels resolve");
    assert_eq!(Some(last.progress), last.total, "{:?}", cold.progress);
    assert!(last.message.contains("labels resolved"), "{last:?}");
    assert!(
        cold.progress
            .windows(2)
            .all(|w| w[0].progress < w[1].progress),
        "{:?}",
        cold.progress
    );
    // Without asking for progress, none is sent.
    let quiet = call(
        &worker,
        request("d365fo_get_entity_schema", json!({"entity": "VendorsV2"})),
    )
    .await;
    quiet.ok();
    assert!(quiet.progress.is_empty());
}
