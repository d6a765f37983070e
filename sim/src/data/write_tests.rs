//! Unit tests of body conversion and validation.

use serde_json::json;

use super::*;
use crate::data::Dataset;

fn body(v: Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap_or_default()
}

#[test]
fn create_fills_defaults_company_and_converts_types() {
    let d = Dataset::seeded(1);
    let set = d.get("CustomersV3").unwrap();
    let b = body(json!({"CustomerAccount": "X-1", "CreditLimit": "12.5",
        "CustomerType": "person", "CreatedDateTime": "2024-02-01T10:00:00Z", "@odata.type": "x"}));
    let v = row_values(set, &b, None, Mode::Create, "USMF").unwrap();
    assert_eq!(v[0], Value::Str("usmf".into()));
    assert_eq!(v[6], Value::Decimal(12.5));
    assert_eq!(v[3], Value::Str("Person".into()));
    assert_eq!(
        v[8],
        Value::Str("No".into()),
        "enum default is the first member"
    );
    assert_eq!(
        missing_mandatory(set, &v),
        vec!["Field 'CustomerGroupId' must be filled in."]
    );
}

#[test]
fn unknown_property_and_wrong_type_are_reader_errors() {
    let d = Dataset::seeded(1);
    let set = d.get("CustomersV3").unwrap();
    let e = row_values(set, &body(json!({"Nope": 1})), None, Mode::Create, "usmf").unwrap_err();
    assert!(
        e.body()
            .contains("The property 'Nope' does not exist on type"),
        "{}",
        e.body()
    );
    for bad in [
        json!({"CreditLimit": "lots"}),
        json!({"CreditLimit": true}),
        json!({"CustomerAccount": 5}),
        json!({"CreatedDateTime": "yesterday"}),
        json!({"CustomerType": "Robot"}),
        json!({"CustomerAccount": {"a": 1}}),
    ] {
        let e = row_values(set, &body(bad.clone()), None, Mode::Create, "usmf").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[test]
fn merge_keeps_and_replace_resets_but_keys_stay() {
    let d = Dataset::seeded(1);
    let set = d.get("CustomersV3").unwrap();
    let cur = set.rows().iter().next().unwrap().values.clone();
    let merged = row_values(
        set,
        &body(json!({"CreditLimit": 1})),
        Some(&cur),
        Mode::Merge,
        "usmf",
    )
    .unwrap();
    assert_eq!(merged[2], cur[2]);
    let replaced = row_values(
        set,
        &body(json!({"CreditLimit": 1})),
        Some(&cur),
        Mode::Replace,
        "usmf",
    )
    .unwrap();
    assert_eq!(replaced[1], cur[1]);
    assert_eq!(replaced[2], Value::Str(String::new()));
    let rekey = body(json!({"CustomerAccount": "OTHER"}));
    assert!(row_values(set, &rekey, Some(&cur), Mode::Merge, "usmf").is_err());
}

#[test]
fn date_times_follow_edm() {
    for ok in [
        "2024-01-31T12:00:00Z",
        "2024-01-31T12:00Z",
        "2024-01-31T12:00:00.123Z",
        "2024-01-31T12:00:00+02:00",
    ] {
        assert!(datetime::parse(ok).is_some(), "{ok}");
    }
    for bad in [
        "",
        "2024-01-31",
        "2024-01-31T12:00:00",
        "2024-01-31T12:00:00.Z",
        "x024-01-31T12:00:00Z",
        "2024-01-31T12:00:00+0200",
    ] {
        assert!(datetime::parse(bad).is_none(), "{bad}");
    }
}
