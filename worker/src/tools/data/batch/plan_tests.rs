use serde_json::{Value, json};

use super::*;

fn read(ops: Value) -> Result<Vec<Operation>, String> {
    let Value::Array(values) = ops else {
        panic!("not an array")
    };
    operations(values, 5)
}

fn err(ops: Value) -> String {
    read(ops).unwrap_err()
}

const KEY: &str = r#"{"dataAreaId": "usmf", "CustomerAccount": "US-001"}"#;

fn key() -> Value {
    serde_json::from_str(KEY).unwrap()
}

#[test]
fn reads_every_kind() {
    let ops = read(json!([
        {"op": "get", "entity_set": "CustomersV3", "key": key(), "select": ["A"], "expand": ["L"], "cross_company": true},
        {"op": "create", "entity_set": "CustomersV3", "fields": {"CustomerAccount": "N"}, "changeset": "a"},
        {"op": "update", "entity_set": "CustomersV3", "key_ref": 1, "fields": {"CreditLimit": 1}, "changeset": "a", "if_match": "W/\"x\""},
        {"op": "delete", "entity_set": "CustomersV3", "key": key(), "changeset": "b"},
    ]))
    .unwrap();
    assert_eq!(
        ops.iter().map(|o| o.kind).collect::<Vec<_>>(),
        [Kind::Get, Kind::Create, Kind::Update, Kind::Delete]
    );
    assert_eq!(ops[2].target, Target::Created(1));
    assert!(matches!(&ops[3].target, Target::Key(k) if k.fields["CustomerAccount"] == "US-001"));
    assert_eq!(
        units(&ops).unwrap(),
        [
            Unit::Single(0),
            Unit::Changeset(vec![1, 2]),
            Unit::Changeset(vec![3])
        ]
    );
}

#[test]
fn bad_operations_say_which_and_why() {
    assert!(err(json!([])).contains("at least one"));
    let six: Vec<Value> = (0..6)
        .map(|_| json!({"op": "get", "entity_set": "X", "key": key()}))
        .collect();
    assert!(err(Value::Array(six)).contains("at most 5"));
    assert!(err(json!([1])).contains("operations[0]: must be an object"));
    assert!(err(json!([{"entity_set": "X"}])).contains("`op` must be"));
    assert!(err(json!([{"op": "upsert", "entity_set": "X"}])).contains("got \"upsert\""));
    assert!(err(json!([{"op": "get", "entity_set": "X"}])).contains("`key` is required"));
    assert!(
        err(json!([{"op": "get", "entity_set": "X", "key": key(), "fields": {"A": 1}}]))
            .contains("`fields` does not apply to a get")
    );
    assert!(
        err(json!([{"op": "get", "entity_set": "X", "key": key(), "changeset": "a"}]))
            .contains("a get cannot be part of a changeset")
    );
    assert!(err(json!([{"op": "create", "entity_set": "X"}])).contains("`fields` is required"));
    assert!(
        err(json!([{"op": "create", "entity_set": "X", "fields": {}}]))
            .contains("at least one field")
    );
    assert!(
        err(json!([{"op": "create", "entity_set": "X", "fields": {"A": 1}, "key": key()}]))
            .contains("takes its key fields in `fields`")
    );
    assert!(
        err(json!([{"op": "delete", "entity_set": "X", "key": key(), "select": ["A"]}]))
            .contains("`select` does not apply to a delete")
    );
    assert!(
        err(json!([{"op": "delete", "entity_set": "X", "key": key(), "colour": 1}]))
            .contains("unknown field `colour`")
    );
    assert!(
        err(json!([{"op": "get", "entity_set": 5, "key": key()}]))
            .contains("operations[0]: (get) `entity_set` must be a string")
    );
}

#[test]
fn key_refs_stay_inside_their_changeset() {
    let create =
        |cs: &str| json!({"op": "create", "entity_set": "X", "fields": {"A": 1}, "changeset": cs});
    let update = |at: Value, cs: Option<&str>, set: &str| {
        let mut op = json!({"op": "update", "entity_set": set, "key_ref": at, "fields": {"B": 2}});
        if let Some(cs) = cs {
            op["changeset"] = json!(cs);
        }
        op
    };
    assert!(
        err(json!([create("a"), update(json!(0), None, "X")])).contains("inside a changeset only")
    );
    assert!(
        err(json!([create("a"), update(json!(0), Some("b"), "X")]))
            .contains("outside changeset \"b\"")
    );
    assert!(err(json!([create("a"), update(json!(0), Some("a"), "Y")])).contains("not of `Y`"));
    assert!(err(json!([create("a"), update(json!(1), Some("a"), "X")])).contains("earlier create"));
    assert!(
        err(json!([create("a"), update(json!(-1), Some("a"), "X")])).contains("`key_ref` must be")
    );
    assert!(
        err(json!([create("a"), {"op": "update", "entity_set": "X", "key": key(), "key_ref": 0, "fields": {"A": 1}, "changeset": "a"}]))
            .contains("not both")
    );
}

#[test]
fn a_changeset_is_one_run() {
    let write = |cs: Option<&str>| {
        let mut op = json!({"op": "delete", "entity_set": "X", "key": key()});
        if let Some(cs) = cs {
            op["changeset"] = json!(cs);
        }
        op
    };
    let ops = read(json!([write(Some("a")), write(None), write(Some("a"))])).unwrap();
    assert!(
        units(&ops)
            .unwrap_err()
            .contains("changeset \"a\" must be one run")
    );
    let ops = read(json!([
        write(Some("a")),
        write(Some("b")),
        write(Some("a"))
    ]))
    .unwrap();
    assert!(units(&ops).unwrap_err().contains("operations[2]"));
    let ops = read(json!([write(None), write(None)])).unwrap();
    assert_eq!(units(&ops).unwrap(), [Unit::Single(0), Unit::Single(1)]);
}
