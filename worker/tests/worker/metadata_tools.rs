//! Each metadata tool against the simulator: its happy path, and the error
//! each kind of bad input gets; against the [`Stub`], what D365FO or a
//! gateway may answer that the simulator never does.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};
use worker::Worker;

use super::{
    call, request,
    simulator::{Sim, Stub, label_path, modules_path, store, worker_on},
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

#[tokio::test]
async fn only_d365fos_own_404_is_remembered_as_missing() {
    let stub = Stub::start().await;
    stub.value(
        &modules_path("a"),
        json!(["Name: ApplicationSuite | Version: 10.0.1"]),
    );
    let worker = worker_on(&stub.env("a"), &store());
    // A gateway's HTML 404 says nothing about the label: an error, asked
    // again next time.
    let gateway = label_path("a", "@GW1", "en-us");
    stub.answer(
        &gateway,
        404,
        "<html><head><title>404 - File or directory not found.</title></head></html>",
    );
    for n in 1..=2 {
        let called = call(
            &worker,
            request("d365fo_get_label", json!({"label_id": "@GW1"})),
        )
        .await;
        let failure = called.failure();
        assert_eq!(failure.code, "upstream_unavailable", "{}", failure.message);
        assert!(
            failure.message.contains("File or directory not found"),
            "{}",
            failure.message
        );
        assert_eq!(stub.hits(&gateway), n, "not cached");
    }
    // D365FO's own 404 (its OData error JSON) is remembered.
    let missing = label_path("a", "@NOPE1", "en-us");
    for _ in 0..2 {
        let called = call(
            &worker,
            request("d365fo_get_label", json!({"label_id": "@NOPE1"})),
        )
        .await;
        assert_eq!(called.failure().code, "not_found");
    }
    assert_eq!(stub.hits(&missing), 1);
}

#[tokio::test]
async fn environments_never_share_entries_through_an_unreadable_module_list() {
    let stub = Stub::start().await;
    let shared = store();
    // The same label id means something else in each environment.
    for (env, text) in [("a", "Alpha"), ("b", "Beta")] {
        stub.answer(
            &label_path(env, "@SYS1", "en-us"),
            200,
            json!({"Id": "@SYS1", "Language": "en-us", "Value": text}),
        );
    }
    let a = worker_on(&stub.env("a"), &shared);
    let b = worker_on(&stub.env("b"), &shared);
    let label = || request("d365fo_get_label", json!({"label_id": "@SYS1"}));
    // Module lists nothing can be read from: every call fails, saying which
    // environment answered what, and nothing is read or cached.
    for answer in [json!([]), json!([{"Id": 1}, 7]), json!([null, ""])] {
        for (env, worker) in [("a", &a), ("b", &b)] {
            stub.value(&modules_path(env), answer.clone());
            let called = call(worker, label()).await;
            let failure = called.failure();
            assert_eq!(failure.code, "upstream_unavailable", "{}", failure.message);
            for needle in [
                stub.env(env).as_str().trim_end_matches('/'),
                "GetInstalledModules",
                &answer.to_string(),
            ] {
                assert!(
                    failure.message.contains(needle),
                    "{answer}: {:?} lacks {needle:?}",
                    failure.message
                );
            }
        }
    }
    for env in ["a", "b"] {
        assert_eq!(stub.hits(&label_path(env, "@SYS1", "en-us")), 0);
    }
    // Modules as objects with name and version fields are read, and two
    // versions key two sets of entries.
    stub.value(
        &modules_path("a"),
        json!([{"Name": "ApplicationSuite", "Version": "10.0.1", "Publisher": "Microsoft"}]),
    );
    stub.value(
        &modules_path("b"),
        json!([{"name": "ApplicationSuite", "version": "10.0.2"}]),
    );
    for (worker, text) in [(&a, "Alpha"), (&b, "Beta"), (&a, "Alpha")] {
        assert_eq!(call(worker, label()).await.ok()["text"], text);
    }
    let modules = call(&b, request("d365fo_get_installed_modules", json!({}))).await;
    assert_eq!(modules.ok()["modules"][0]["version"], "10.0.2");
}

/// Environment `env` on the stub: entity `Things` (a key and an enum-typed
/// field) and enumeration `Mood`, whose labels answer, except `@BAD`,
/// whose lookup fails with HTTP 500 every time.
fn one_entity(stub: &Stub, env: &str) {
    stub.value(
        &modules_path(env),
        json!(["Name: ApplicationSuite | Version: 10.0.1"]),
    );
    stub.value(
        &format!("/{env}/Metadata/DataEntities"),
        json!([{"Name": "ThingEntity", "PublicEntityName": "Thing",
                "PublicCollectionName": "Things", "LabelId": "@L1", "EntityCategory": "Master",
                "DataServiceEnabled": true, "DataManagementEnabled": true, "IsReadOnly": false}]),
    );
    stub.answer(
        &format!("/{env}/Metadata/PublicEntities('Thing')"),
        200,
        json!({"Name": "Thing", "EntitySetName": "Things", "LabelId": "@L1", "IsReadOnly": false,
               "Properties": [
                   {"Name": "Id", "TypeName": "Edm.String", "DataType": "String",
                    "LabelId": "@L2", "IsKey": true, "IsMandatory": true},
                   {"Name": "Mood", "TypeName": "Microsoft.Dynamics.DataEntities.Mood",
                    "DataType": "Enum", "LabelId": "@BAD", "IsKey": false, "IsMandatory": false}],
               "NavigationProperties": [], "Actions": []}),
    );
    stub.answer(
        &format!("/{env}/Metadata/PublicEnumerations('Mood')"),
        200,
        json!({"Name": "Mood", "LabelId": "@L3", "Members": [
            {"Name": "Glad", "Value": 0, "LabelId": "@L4"},
            // No value: D365FO's records are not always whole.
            {"Name": "Odd", "LabelId": "@BAD"}]}),
    );
    for (id, text) in [
        ("@L1", "Things"),
        ("@L2", "Thing id"),
        ("@L3", "Mood"),
        ("@L4", "Glad"),
    ] {
        stub.answer(
            &label_path(env, id, "en-us"),
            200,
            json!({"Id": id, "Language": "en-us", "Value": text}),
        );
    }
    stub.answer(
        &label_path(env, "@BAD", "en-us"),
        500,
        json!({"error": {"code": "", "message": "An error has occurred.",
                         "innererror": {"message": "Label service failed.", "type": "X"}}}),
    );
}

#[tokio::test]
async fn a_label_that_fails_is_a_null_with_a_note_not_a_failed_call() {
    let stub = Stub::start().await;
    one_entity(&stub, "a");
    let worker = worker_on(&stub.env("a"), &store());
    let noted = |out: &Value| {
        assert_eq!(out["unresolved_labels"]["count"], 1, "{out}");
        let why = out["unresolved_labels"]["first_error"].as_str().unwrap();
        assert!(why.contains("Label service failed."), "{why}");
    };

    let schema = call(
        &worker,
        request("d365fo_get_entity_schema", json!({"entity": "Things"})),
    )
    .await;
    let out = schema.ok();
    conforms("d365fo_get_entity_schema", out);
    assert_eq!(out["label"], "Things");
    assert_eq!(out["properties"][0]["label"], "Thing id");
    let mood = &out["properties"][1];
    assert_eq!(mood["label"], Value::Null);
    assert_eq!(mood["enum"]["members"][0]["label"], "Glad");
    assert_eq!(mood["enum"]["members"][1]["label"], Value::Null);
    noted(out);

    let enumeration = call(
        &worker,
        request("d365fo_get_enumeration", json!({"name": "Mood"})),
    )
    .await;
    let out = enumeration.ok();
    assert_eq!(out["label"], "Mood");
    assert_eq!(out["members"][1]["label"], Value::Null);
    assert_eq!(out["members"][1]["value"], Value::Null);
    noted(out);
    conforms("d365fo_get_enumeration", out);

    // d365fo_get_labels answers per id: the failed one says why.
    let many = call(
        &worker,
        request(
            "d365fo_get_labels",
            json!({"label_ids": ["@L1", "@BAD", "@NOPE"]}),
        ),
    )
    .await;
    let out = many.ok();
    conforms("d365fo_get_labels", out);
    assert_eq!(
        (&out["found"], &out["missing"], &out["failed"]),
        (&json!(1), &json!(1), &json!(1)),
        "{out}"
    );
    let bad = &out["labels"][1];
    assert_eq!((&bad["found"], &bad["text"]), (&json!(false), &Value::Null));
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("Label service failed."),
        "{bad}"
    );
    assert!(out["labels"][2].get("error").is_none(), "{out}");
    // When every lookup fails there is nothing to return but why.
    let none = call(
        &worker,
        request("d365fo_get_labels", json!({"label_ids": ["@BAD"]})),
    )
    .await;
    assert_eq!(none.failure().code, "upstream_unavailable");
}

#[tokio::test]
async fn a_label_that_times_out_is_a_null_but_the_calls_deadline_fails_the_call() {
    let stub = Stub::start().await;
    one_entity(&stub, "a");
    stub.answer_after(
        &label_path("a", "@L4", "en-us"),
        Duration::from_secs(3),
        200,
        json!({"Id": "@L4", "Language": "en-us", "Value": "Glad"}),
    );
    // One request timing out is one label's failure…
    let mut config = super::config(&stub.env("a"));
    config.request_timeout = Duration::from_millis(300);
    let hurried = Arc::new(Worker::new(config, store()).unwrap());
    let called = call(
        &hurried,
        request("d365fo_get_enumeration", json!({"name": "Mood"})),
    )
    .await;
    let out = called.ok();
    assert_eq!(out["members"][0]["label"], Value::Null);
    assert_eq!(out["unresolved_labels"]["count"], 2, "{out}");
    // …while the call's own deadline passing fails the call.
    let worker = worker_on(&stub.env("a"), &store());
    let mut req = request("d365fo_get_enumeration", json!({"name": "Mood"}));
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    req.deadline_unix_ms = u64::try_from(now_ms).unwrap() + 1000;
    let called = call(&worker, req).await;
    assert_eq!(called.failure().code, "deadline_exceeded");
}
