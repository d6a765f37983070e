//! Create, update and delete against the simulator, checked against its own
//! state, and the error each kind of bad input gets (changing nothing).

use reqwest::StatusCode;
use serde_json::json;

use super::{CREATE, DELETE, GET, SimEnv, UPDATE, assert_failure, customer_key, customer_path};
use crate::request;

#[tokio::test]
async fn create_get_update_delete() {
    let env = SimEnv::start().await;
    let created = env
        .call(
            CREATE,
            json!({"entity_set": "CustomersV3", "fields": {
                "dataAreaId": "usmf", "CustomerAccount": "US-900",
                "OrganizationName": "Contoso Retail", "CustomerGroupId": "10"}}),
        )
        .await;
    let out = created.ok();
    assert_eq!(out["key"], customer_key("usmf", "US-900"));
    assert_eq!(out["record"]["OrganizationName"], "Contoso Retail");
    let etag = out["etag"].as_str().unwrap().to_owned();
    assert_eq!(out["record"]["@odata.etag"], etag.as_str());
    let (status, stored) = env.sim_get(&customer_path("usmf", "US-900")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["CustomerGroupId"], "10");

    // The key the create returned reads the record back.
    let read = env
        .call(GET, json!({"entity_set": "CustomersV3", "key": out["key"]}))
        .await;
    assert_eq!(read.ok()["record"]["@odata.etag"], etag.as_str());

    let updated = env
        .call(
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-900"),
                   "fields": {"CreditLimit": 2500}, "if_match": etag}),
        )
        .await;
    let out = updated.ok();
    assert_eq!(out["key"], customer_key("usmf", "US-900"));
    assert_eq!(out["record"]["CreditLimit"].as_f64(), Some(2500.0));
    let new_etag = out["etag"].as_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let (_, stored) = env.sim_get(&customer_path("usmf", "US-900")).await;
    assert_eq!(stored["CreditLimit"].as_f64(), Some(2500.0));
    assert_eq!(
        stored["OrganizationName"], "Contoso Retail",
        "fields not named keep their values"
    );

    // A stale ETag is a conflict that says what to do, and changes nothing.
    let stale = env
        .call(
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-900"),
                   "fields": {"CreditLimit": 1}, "if_match": etag}),
        )
        .await;
    assert_failure(&stale, "conflict", &["conflict", "HTTP 412", "if_match"]);
    let stale = env
        .call(
            DELETE,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-900"), "if_match": etag}),
        )
        .await;
    assert_failure(&stale, "conflict", &["HTTP 412"]);
    let (status, stored) = env.sim_get(&customer_path("usmf", "US-900")).await;
    assert_eq!(
        (status, stored["CreditLimit"].as_f64()),
        (StatusCode::OK, Some(2500.0))
    );

    let deleted = env
        .call(
            DELETE,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-900"), "if_match": new_etag}),
        )
        .await;
    assert_eq!(
        deleted.ok(),
        &json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-900"), "deleted": true})
    );
    let (status, _) = env.sim_get(&customer_path("usmf", "US-900")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let again = env
        .call(
            DELETE,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-900")}),
        )
        .await;
    // D365FO's 400 for a key no record has, as a not-found with the hint.
    assert_failure(
        &again,
        "not_found",
        &[
            "No resources were found when selecting for update.",
            "No record of `CustomersV3` has that key",
            "cross_company: true",
        ],
    );
    let update = env
        .call(
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-900"), "fields": {"CreditLimit": 1}}),
        )
        .await;
    assert_failure(
        &update,
        "not_found",
        &["No resources were found when selecting for update."],
    );
}

#[tokio::test]
async fn another_company_needs_cross_company_for_keyed_writes() {
    let env = SimEnv::start().await;
    let created = env
        .call(
            CREATE,
            json!({"entity_set": "CustomersV3", "fields": {
                "dataAreaId": "demf", "CustomerAccount": "DE-900", "CustomerGroupId": "10"}}),
        )
        .await;
    assert_eq!(created.ok()["key"], customer_key("demf", "DE-900"));
    let key = customer_key("demf", "DE-900");
    let called = env
        .call(
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": key, "fields": {"CreditLimit": 7}}),
        )
        .await;
    assert_failure(&called, "not_found", &["cross_company: true"]);
    let called = env
        .call(
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": key, "fields": {"CreditLimit": 7}, "cross_company": true}),
        )
        .await;
    assert_eq!(called.ok()["record"]["CreditLimit"].as_f64(), Some(7.0));
    let called = env
        .call(
            DELETE,
            json!({"entity_set": "CustomersV3", "key": key, "cross_company": true}),
        )
        .await;
    assert_eq!(called.ok()["deleted"], true);
    let (status, _) = env
        .sim_get(&format!(
            "{}?cross-company=true",
            customer_path("demf", "DE-900")
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn d365fo_refusals_pass_through_and_change_nothing() {
    let env = SimEnv::start().await;
    let create = |fields: serde_json::Value| json!({"entity_set": "CustomersV3", "fields": fields});
    let cases = [
        // Duplicate key: a conflict.
        (
            create(json!({"CustomerAccount": "US-001", "CustomerGroupId": "10"})),
            "conflict",
            vec!["conflict", "already exists", "d365fo_update_entity_record"],
        ),
        // Unknown field: D365FO's message.
        (
            create(json!({"CustomerAccount": "US-901", "CustomerGroupId": "10", "Colour": "red"})),
            "upstream_rejected",
            vec!["The property 'Colour' does not exist"],
        ),
        // Wrong value type.
        (
            create(
                json!({"CustomerAccount": "US-901", "CustomerGroupId": "10", "CreditLimit": "lots"}),
            ),
            "upstream_rejected",
            vec!["Cannot convert the literal 'lots'"],
        ),
        // Missing mandatory field.
        (
            create(json!({"CustomerAccount": "US-901"})),
            "upstream_rejected",
            vec!["Field 'CustomerGroupId' must be filled in."],
        ),
    ];
    for (args, code, parts) in cases {
        assert_failure(&env.call(CREATE, args).await, code, &parts);
    }
    let (status, _) = env.sim_get(&customer_path("usmf", "US-901")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was created");

    let called = env
        .call(
            CREATE,
            json!({"entity_set": "CustomerV3", "fields": {"A": 1}}),
        )
        .await;
    assert_failure(&called, "not_found", &["d365fo_search_entities"]);

    // Missing key fields and key changes: D365FO's messages.
    let called = env
        .call(
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": {"dataAreaId": "usmf"}, "fields": {"CreditLimit": 1}}),
        )
        .await;
    assert_failure(
        &called,
        "upstream_rejected",
        &["key in the request URI is not valid"],
    );
    let called = env
        .call(
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-001"),
                   "fields": {"CustomerAccount": "US-002"}}),
        )
        .await;
    assert_failure(&called, "upstream_rejected", &["cannot be changed"]);
    let (_, stored) = env.sim_get(&customer_path("usmf", "US-001")).await;
    assert_eq!(stored["CustomerAccount"], "US-001");
}

#[tokio::test]
async fn bad_arguments_never_reach_d365fo() {
    let env = SimEnv::start().await;
    let key = customer_key("usmf", "US-001");
    let cases = [
        (
            CREATE,
            json!({"entity_set": "CustomersV3"}),
            "missing field `fields`",
        ),
        (
            CREATE,
            json!({"entity_set": "CustomersV3", "fields": {}}),
            "at least one field",
        ),
        (
            CREATE,
            json!({"entity_set": "CustomersV3", "fields": "CreditLimit=1"}),
            "`fields` must be an object",
        ),
        (
            CREATE,
            json!({"entity_set": "CustomersV3", "fields": {"Credit Limit": 1}}),
            "`fields` name",
        ),
        (
            CREATE,
            json!({"entity_set": "CustomersV3", "fields": {"A": 1}, "key": key}),
            "unknown field `key`",
        ),
        (
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": key}),
            "missing field `fields`",
        ),
        (
            UPDATE,
            json!({"entity_set": "CustomersV3", "fields": {"A": 1}}),
            "missing field `key`",
        ),
        (
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": {}, "fields": {"A": 1}}),
            "at least one key field",
        ),
        (
            UPDATE,
            json!({"entity_set": "CustomersV3", "key": key, "fields": {"A": 1}, "if_match": 3}),
            "`if_match` must be",
        ),
        (
            DELETE,
            json!({"entity_set": "CustomersV3", "key": [1]}),
            "`key` must be an object",
        ),
        (
            DELETE,
            json!({"entity_set": "Customers V3", "key": key}),
            "`entity_set` must be a plain name",
        ),
        (
            DELETE,
            json!({"entity_set": "CustomersV3", "key": key, "cross_company": "yes"}),
            "`cross_company` must be true or false",
        ),
    ];
    for (tool, args, part) in cases {
        assert_failure(&env.call(tool, args).await, "invalid_arguments", &[part]);
    }
    let (status, stored) = env.sim_get(&customer_path("usmf", "US-001")).await;
    assert_eq!(
        (status, &stored["CustomerAccount"]),
        (StatusCode::OK, &json!("US-001"))
    );
}

#[tokio::test]
async fn a_written_record_past_the_result_bound_is_left_out_and_the_write_stands() {
    let env = SimEnv::start().await;
    let read = env
        .call(
            GET,
            json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-001")}),
        )
        .await;
    let limit = read.ok()["record"].to_string().len() / 2;
    let small = env.worker_with_max_result_bytes(limit);
    let left_out = |out: &serde_json::Value| {
        assert!(out.get("record").is_none(), "{out}");
        assert_eq!(out["record_omitted"], true, "{out}");
        let note = out["note"].as_str().unwrap();
        assert!(
            note.contains(&format!("{limit} bytes")) && note.contains("d365fo_get_entity_record"),
            "{note}"
        );
        assert!(out["etag"].is_string(), "{out}");
    };

    let updated = env
        .call_with(
            &small,
            request(
                UPDATE,
                json!({"entity_set": "CustomersV3", "key": customer_key("usmf", "US-001"),
                       "fields": {"CreditLimit": 777}}),
            ),
        )
        .await;
    left_out(updated.ok());
    assert_eq!(updated.ok()["key"], customer_key("usmf", "US-001"));
    let (_, stored) = env.sim_get(&customer_path("usmf", "US-001")).await;
    assert_eq!(stored["CreditLimit"].as_f64(), Some(777.0));

    let created = env
        .call_with(
            &small,
            request(
                CREATE,
                json!({"entity_set": "CustomersV3",
                       "fields": {"CustomerAccount": "US-980", "CustomerGroupId": "10"}}),
            ),
        )
        .await;
    left_out(created.ok());
    assert_eq!(created.ok()["key"], customer_key("usmf", "US-980"));
    let (status, _) = env.sim_get(&customer_path("usmf", "US-980")).await;
    assert_eq!(status, StatusCode::OK);
}
