use serde_json::json;

use super::*;

fn answer(value: Value) -> ElicitResult {
    serde_json::from_value(value).unwrap()
}

#[test]
fn only_an_accepted_answer_that_does_not_say_no_is_a_yes() {
    assert!(says_yes(&answer(
        json!({"action": "accept", "content": {"confirm": true}})
    )));
    assert!(says_yes(&answer(json!({"action": "accept"}))));
    assert!(!says_yes(&answer(
        json!({"action": "accept", "content": {"confirm": false}})
    )));
    assert!(!says_yes(&answer(json!({"action": "decline"}))));
    assert!(!says_yes(&answer(json!({"action": "cancel"}))));
}

#[test]
fn the_form_asks_one_yes_or_no() {
    let params = request_params("Delete it?".into()).unwrap();
    let wire = serde_json::to_value(&params).unwrap();
    assert_eq!(wire["mode"], "form");
    assert_eq!(wire["message"], "Delete it?");
    assert_eq!(
        wire["requestedSchema"]["properties"]["confirm"]["type"],
        "boolean"
    );
}

#[test]
fn a_record_matches_only_its_own_call() {
    let caller = Principal {
        subject: "alice".into(),
        tenant: "contoso".into(),
        issuer: String::new(),
        grant: None,
    };
    let tool = catalogue::find(catalogue::names::DELETE_ENTITY_RECORD).unwrap();
    let arguments = |account: &str| {
        json!({"entity_set": "CustomersV3", "key": {"CustomerAccount": account}})
            .as_object()
            .cloned()
            .unwrap()
    };
    let asked = Asked::of(&caller, tool, &arguments("US-1"));
    assert_eq!(asked, Asked::of(&caller, tool, &arguments("US-1")));
    assert_ne!(asked, Asked::of(&caller, tool, &arguments("US-2")));
    let bob = Principal {
        subject: "bob".into(),
        ..caller.clone()
    };
    assert_ne!(asked, Asked::of(&bob, tool, &arguments("US-1")));
}
