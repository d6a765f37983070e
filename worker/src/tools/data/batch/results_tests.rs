use serde_json::json;

use super::*;
use crate::tools::data::batch::plan::{operations, units};

impl Built {
    /// The result as the tool sends it.
    fn json(self) -> Value {
        serde_json::to_value(self.result).unwrap()
    }
}

fn ops() -> Vec<Operation> {
    let key = json!({"dataAreaId": "usmf", "CustomerAccount": "US-001"});
    let values = vec![
        json!({"op": "get", "entity_set": "CustomersV3", "key": key}),
        json!({"op": "create", "entity_set": "CustomersV3", "fields": {"CustomerAccount": "N-1"}, "changeset": "a"}),
        json!({"op": "update", "entity_set": "CustomersV3", "key_ref": 1, "fields": {"CreditLimit": 1}, "changeset": "a"}),
        json!({"op": "delete", "entity_set": "CustomersV3", "key": key, "changeset": "a"}),
    ];
    operations(values, 10).unwrap()
}

fn response(id: Option<&str>, status: u16, headers: &[(&str, &str)], body: &str) -> PartResponse {
    PartResponse {
        content_id: id.map(str::to_owned),
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_owned(),
    }
}

fn record(account: &str) -> String {
    json!({"@odata.etag": "W/\"e1\"", "CustomerAccount": account}).to_string()
}

#[test]
fn applied_changesets_map_one_to_one() {
    let ops = ops();
    let units = units(&ops).unwrap();
    let location = "http://h/data/CustomersV3(dataAreaId='usmf',CustomerAccount='N-1')";
    let answer = vec![
        Unit::Single(response(Some("1"), 200, &[], &record("US-001"))),
        Unit::Changeset(vec![
            response(Some("2"), 201, &[("Location", location)], &record("N-1")),
            response(Some("3"), 204, &[("ETag", "W/\"e2\"")], ""),
            response(Some("4"), 204, &[], ""),
        ]),
    ];
    let built = build(&ops, &units, answer, 1 << 20);
    assert_eq!(built.settled, Settled::Applied);
    let out = built.json();
    assert_eq!(
        (out["succeeded"].as_u64(), out["failed"].as_u64()),
        (Some(4), Some(0))
    );
    let r = &out["results"];
    assert_eq!(r[0]["record"]["CustomerAccount"], "US-001");
    assert_eq!(r[0]["etag"], "W/\"e1\"");
    assert_eq!(
        r[1]["key"],
        json!({"dataAreaId": "usmf", "CustomerAccount": "N-1"})
    );
    assert_eq!(r[1]["changeset"], "a");
    assert_eq!(r[2]["etag"], "W/\"e2\"");
    assert!(r[2].get("record").is_none());
    assert_eq!(
        (r[3]["status"].as_u64(), r[3].get("etag")),
        (Some(204), None)
    );
}

#[test]
fn a_failed_changeset_names_its_failure_and_rolls_back_the_rest() {
    let ops = ops();
    let units = units(&ops).unwrap();
    let error = r#"{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Cannot edit a record. The record does not exist.","type":"X"}}}"#;
    let answer = vec![
        Unit::Single(response(
            Some("1"),
            404,
            &[],
            r#"{"error":{"code":"","message":"No resources were found for the key."}}"#,
        )),
        Unit::Single(response(Some("3"), 400, &[], error)),
    ];
    let built = build(&ops, &units, answer.clone(), 1 << 20);
    assert_eq!(built.settled, Settled::Refused);
    let out = built.json();
    assert_eq!(
        (out["succeeded"].as_u64(), out["failed"].as_u64()),
        (Some(0), Some(4))
    );
    let r = &out["results"];
    assert_eq!(r[0]["error"]["code"], "not_found");
    assert_eq!(r[2]["error"]["code"], "not_found", "{}", r[2]);
    assert_eq!(r[2]["status"], 400);
    for i in [1, 3] {
        assert_eq!(r[i]["rolled_back"], true, "{}", r[i]);
        assert_eq!(r[i]["error"]["code"], "rolled_back");
        assert!(
            r[i]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("operation 2")
        );
    }

    // Without a Content-ID every operation of the changeset carries the error.
    let mut anonymous = answer;
    if let Some(Unit::Single(r)) = anonymous.get_mut(1) {
        r.content_id = None;
    }
    let built = build(&ops, &units, anonymous, 1 << 20);
    assert_eq!(built.settled, Settled::Refused);
    let out = built.json();
    for i in 1..4 {
        assert_eq!(out["results"][i]["status"], 400);
        assert!(out["results"][i].get("rolled_back").is_none());
    }
}

/// D365FO's own shape (recorded): the changeset answered by a changeset
/// response holding the failing request's part alone, a 500 with an
/// `AxODataWriteException`. Read as the failure of that request, the
/// others rolled back, nothing unknown, D365FO's message kept.
#[test]
fn d365fos_one_part_changeset_answer_is_a_refusal_not_an_unknown() {
    let ops = ops();
    let units = units(&ops).unwrap();
    let refused = r#"{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"Write failed for table row of type 'CustCustomerV3Entity'. Infolog: Warning: Cannot create a record in Customers (CustTable). Customer account: N-1. The record already exists..","type":"Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException","stacktrace":""}}}"#;
    let answer = vec![
        Unit::Single(response(Some("1"), 200, &[], &record("US-001"))),
        Unit::Changeset(vec![response(Some("2"), 500, &[], refused)]),
    ];
    let built = build(&ops, &units, answer, 1 << 20);
    assert_eq!(built.settled, Settled::Refused);
    let out = built.json();
    let r = &out["results"];
    assert_eq!(r[0]["ok"], true);
    assert_eq!(r[1]["status"], 500);
    let failed = |i: usize, code: &str, words: &str| {
        assert_eq!(r[i]["error"]["code"], code, "{}", r[i]);
        let message = r[i]["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{}", r[i]);
    };
    failed(1, "conflict", "The record already exists");
    failed(2, "rolled_back", "operation 1");
    failed(3, "rolled_back", "operation 1");

    // One successful part for a changeset of three is not an answer to it.
    let answer = vec![
        Unit::Single(response(Some("1"), 200, &[], &record("US-001"))),
        Unit::Changeset(vec![response(Some("2"), 201, &[], &record("N-1"))]),
    ];
    let built = build(&ops, &units, answer, 1 << 20);
    assert_eq!(built.settled, Settled::Unknown);
}

#[test]
fn answers_that_do_not_match_are_reported_per_operation() {
    let ops = ops();
    let units = units(&ops).unwrap();
    let answer = vec![Unit::Single(response(None, 200, &[], &record("US-001")))];
    let built = build(&ops, &units, answer, 1 << 20);
    assert_eq!(built.settled, Settled::Unknown);
    let out = built.json();
    assert_eq!(out["results"].as_array().unwrap().len(), 4);
    assert_eq!(out["results"][0]["ok"], true);
    for i in 1..4 {
        assert_eq!(out["results"][i]["error"]["code"], "outcome_unknown");
        assert!(
            out["results"][i]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("outcome of this write is unknown")
        );
    }
}

#[test]
fn records_past_the_budget_are_left_out_with_a_note() {
    let key = json!({"dataAreaId": "usmf", "CustomerAccount": "US-001"});
    let values: Vec<_> = (0..3)
        .map(|_| json!({"op": "get", "entity_set": "CustomersV3", "key": key}))
        .collect();
    let ops = operations(values, 10).unwrap();
    let units = units(&ops).unwrap();
    let big = json!({"Blob": "x".repeat(1000)}).to_string();
    let answer = (0..3)
        .map(|_| Unit::Single(response(None, 200, &[], &big)))
        .collect();
    let built = build(&ops, &units, answer, 2500);
    assert_eq!(built.settled, Settled::Refused);
    let out = built.json();
    let r = out["results"].as_array().unwrap();
    assert!(r[0].get("record").is_some() && r[1].get("record").is_some());
    assert_eq!(r[2]["record_omitted"], true);
    assert!(
        out["note"]
            .as_str()
            .unwrap()
            .contains("1 records were left out")
    );
    assert_eq!(out["succeeded"], 3);
}

#[test]
fn writes_settle_the_request_id_by_what_d365fo_did_with_them() {
    let key = json!({"dataAreaId": "usmf", "CustomerAccount": "US-001"});
    let values = vec![
        json!({"op": "delete", "entity_set": "CustomersV3", "key": key}),
        json!({"op": "create", "entity_set": "CustomersV3", "fields": {"CustomerAccount": "N-1"}}),
        json!({"op": "get", "entity_set": "CustomersV3", "key": key}),
    ];
    let ops = operations(values, 10).unwrap();
    let units = units(&ops).unwrap();
    let refused = || response(Some("1"), 404, &[], "");
    let applied = || response(Some("2"), 201, &[], &record("N-1"));
    let read = || response(Some("3"), 200, &[], &record("US-001"));
    let settled = |answer: Vec<PartResponse>| {
        let answer = answer.into_iter().map(Unit::Single).collect();
        build(&ops, &units, answer, 1 << 20).settled
    };
    // A read that succeeds changes nothing: refused when every write was.
    let conflict = response(Some("2"), 409, &[], "");
    assert_eq!(settled(vec![refused(), conflict, read()]), Settled::Refused);
    assert_eq!(
        settled(vec![refused(), applied(), read()]),
        Settled::Applied
    );
    // The create's answer is missing: its outcome is unknown, whatever
    // else applied.
    assert_eq!(settled(vec![applied()]), Settled::Unknown);
    assert_eq!(settled(vec![refused()]), Settled::Unknown);
}

#[test]
fn results_with_records_left_out_stay_within_the_budget() {
    let key = json!({"dataAreaId": "usmf", "CustomerAccount": "US-001"});
    let values: Vec<_> = (0..4)
        .map(|_| json!({"op": "get", "entity_set": "CustomersV3", "key": key}))
        .collect();
    let ops = operations(values, 10).unwrap();
    let units = units(&ops).unwrap();
    let big = json!({"Blob": "x".repeat(200)}).to_string();
    let answer: Vec<_> = (0..4)
        .map(|_| Unit::Single(response(None, 200, &[], &big)))
        .collect();
    let size = |out: &Value| -> usize {
        out["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.to_string().len())
            .sum()
    };
    let bare = {
        let out = build(&ops, &units, answer.clone(), 0).json();
        assert_eq!(out["results"][0]["record_omitted"], true);
        size(&out)
    };
    // Every budget that the results without records fit in is kept,
    // the notes that replace the records counted.
    for budget in bare..bare + 1200 {
        let out = build(&ops, &units, answer.clone(), budget).json();
        assert!(size(&out) <= budget, "{} > {budget}", size(&out));
    }
}
