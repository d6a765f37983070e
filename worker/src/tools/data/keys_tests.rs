use proptest::prelude::*;
use serde_json::json;

use super::*;

const NO_YES: &str = "Microsoft.Dynamics.DataEntities.NoYes";

fn types() -> HashMap<String, String> {
    [
        ("Name", "Edm.String"),
        ("RecId", "Edm.Int64"),
        ("Line", "Edm.Int32"),
        ("Rate", "Edm.Decimal"),
        ("Active", "Edm.Boolean"),
        ("Id", "Edm.Guid"),
        ("Day", "Edm.Date"),
        ("StartDate", "Edm.DateTimeOffset"),
        ("Blocked", NO_YES),
        ("Span", "Edm.Duration"),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_owned(), t.to_owned()))
    .collect()
}

fn render(fields: Value) -> Result<String, String> {
    let Value::Object(fields) = fields else {
        panic!("not an object");
    };
    predicate("Rates", &fields, &types())
}

/// The literal for one field, without the `(Field=…)` around it.
fn one(field: &str, value: Value) -> Result<String, String> {
    let predicate = render(json!({ field: value }))?;
    Ok(predicate[field.len() + 2..predicate.len() - 1].to_owned())
}

#[test]
fn strings_are_quoted_doubled_and_encoded() {
    assert_eq!(one("Name", json!("O'Brien")).unwrap(), "'O''Brien'");
    assert_eq!(
        one("Name", json!("a/b c?d#e%f&")).unwrap(),
        "'a%2Fb%20c%3Fd%23e%25f%26'"
    );
    assert_eq!(one("Name", json!(1001)).unwrap(), "'1001'");
    let err = one("Name", json!(true)).unwrap_err();
    assert!(
        err.contains("`key.Name` of Rates has type Edm.String; give a text"),
        "{err}"
    );
}

#[test]
fn numbers_are_bare_and_numeric_strings_accepted() {
    assert_eq!(one("RecId", json!(5637144576_u64)).unwrap(), "5637144576");
    assert_eq!(one("RecId", json!("5637144576")).unwrap(), "5637144576");
    assert_eq!(one("RecId", json!("-7")).unwrap(), "-7");
    assert_eq!(one("Line", json!(2147483647)).unwrap(), "2147483647");
    assert_eq!(one("Rate", json!(1.5)).unwrap(), "1.5");
    assert_eq!(one("Rate", json!("-1.25")).unwrap(), "-1.25");
    assert_eq!(one("Rate", json!("2e+3")).unwrap(), "2e%2B3");
    for (field, bad) in [
        ("RecId", json!("12a")),
        ("RecId", json!("+5")),
        ("RecId", json!(1.5)),
        ("RecId", json!("")),
        ("Line", json!(2147483648_u64)),
        ("Rate", json!("1.")),
        ("Rate", json!("NaN")),
        ("Rate", json!("1,5")),
        ("Rate", json!(true)),
    ] {
        let err = one(field, bad.clone()).unwrap_err();
        assert!(
            err.starts_with(&format!("`key.{field}` of Rates has type Edm."))
                && err.contains("such as"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn booleans() {
    assert_eq!(one("Active", json!(true)).unwrap(), "true");
    assert_eq!(one("Active", json!("False")).unwrap(), "false");
    let err = one("Active", json!("yes")).unwrap_err();
    assert!(err.contains("give true or false, got \"yes\""), "{err}");
}

#[test]
fn guids_are_bare_and_checked() {
    let id = "1b4e28ba-2fa1-11d2-883f-0016D3CCA427";
    assert_eq!(one("Id", json!(id)).unwrap(), id);
    for bad in [
        "1b4e28ba2fa111d2883f0016d3cca427",
        "1b4e28ba-2fa1-11d2-883f-0016d3cca42",
        "1b4e28ba-2fa1-11d2-883f-0016d3cca42g",
        "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}",
    ] {
        let err = one("Id", json!(bad)).unwrap_err();
        assert!(err.contains("a GUID such as"), "{bad}: {err}");
    }
}

#[test]
fn dates_are_bare_and_checked() {
    assert_eq!(one("Day", json!("2019-10-04")).unwrap(), "2019-10-04");
    assert_eq!(one("Day", json!("2024-02-29")).unwrap(), "2024-02-29");
    for bad in [
        "2023-02-29",
        "2019-13-01",
        "2019-10-4",
        "2019-10-04T00:00:00Z",
        "04.10.2019",
    ] {
        let err = one("Day", json!(bad)).unwrap_err();
        assert!(
            err.contains("a date such as \"2019-10-04\""),
            "{bad}: {err}"
        );
    }
}

#[test]
fn date_times_are_bare_with_plus_encoded() {
    for (given, sent) in [
        ("2019-10-04T12:00:00Z", "2019-10-04T12:00:00Z"),
        ("2019-10-04T12:00Z", "2019-10-04T12:00Z"),
        (
            "2019-10-04T12:00:00.1234567Z",
            "2019-10-04T12:00:00.1234567Z",
        ),
        ("2019-10-04T14:00:00+02:00", "2019-10-04T14:00:00%2B02:00"),
        ("2019-10-04T07:00:00-05:00", "2019-10-04T07:00:00-05:00"),
        ("2019-10-04T12:00:00+14:00", "2019-10-04T12:00:00%2B14:00"),
    ] {
        assert_eq!(one("StartDate", json!(given)).unwrap(), sent, "{given}");
    }
    for bad in [
        "2019-10-04",
        "2019-10-04T12:00:00",
        "2019-10-04 12:00:00Z",
        "2019-10-04T24:00:00Z",
        "2019-10-04T12:60:00Z",
        "2019-10-04T12:00.5Z",
        "2019-10-04T12:00:00.Z",
        "2019-10-04T12:00:00+14:30",
        "2019-10-04T12:00:00+0200",
        "2019-02-30T12:00:00Z",
        "2019-10-04T12:00:00Zé",
        "'2019-10-04T12:00:00Z'",
    ] {
        let err = one("StartDate", json!(bad)).unwrap_err();
        assert!(
            err.contains("`key.StartDate` of Rates has type Edm.DateTimeOffset")
                && err.contains("\"2019-10-04T12:00:00Z\""),
            "{bad}: {err}"
        );
    }
    assert!(one("StartDate", json!(1570190400)).is_err());
}

#[test]
fn enums_take_the_qualified_literal_form() {
    let yes = format!("{NO_YES}'Yes'");
    assert_eq!(one("Blocked", json!("Yes")).unwrap(), yes);
    assert_eq!(one("Blocked", json!(yes)).unwrap(), yes);
    assert_eq!(one("Blocked", json!(1)).unwrap(), format!("{NO_YES}'1'"));
    for bad in [
        json!("Other.Type'Yes'"),
        json!("Ye s"),
        json!(format!("{NO_YES}'Yes")),
        json!("x'); drop"),
        json!(true),
    ] {
        let err = one("Blocked", bad.clone()).unwrap_err();
        assert!(
            err.contains(&format!("{GET_ENUMERATION} NoYes")),
            "{bad}: {err}"
        );
    }
}

#[test]
fn composite_keys_and_unknown_fields() {
    assert_eq!(
        render(json!({
            "RateTypeName": "Default", "FromCurrency": "EUR",
            "StartDate": "2019-10-04T12:00:00Z", "Name": "x"
        }))
        .unwrap(),
        "(FromCurrency='EUR',Name='x',RateTypeName='Default',StartDate=2019-10-04T12:00:00Z)",
        "fields the metadata does not know keep the untyped rendering"
    );
    assert_eq!(one("Span", json!("PT1H")).unwrap(), "'PT1H'");
}

#[test]
fn reads_property_types_from_public_entities() {
    let public = json!({"Properties": [
        {"Name": "StartDate", "TypeName": "Edm.DateTimeOffset", "IsKey": true},
        {"Name": "Flag", "TypeName": NO_YES},
        {"TypeName": "Edm.String"}
    ]});
    let types = property_types(&public);
    assert_eq!(types.len(), 2);
    assert_eq!(types["StartDate"], "Edm.DateTimeOffset");
    assert_eq!(types["Flag"], NO_YES);
    assert!(property_types(&json!({})).is_empty());
}

#[test]
fn only_dotted_identifiers_are_enum_types() {
    assert_eq!(Form::of(NO_YES), Form::Enum);
    assert_eq!(Form::of("NoYes"), Form::Untyped);
    assert_eq!(Form::of("Ns.Bad'Name"), Form::Untyped);
    assert_eq!(Form::of("Edm.TimeOfDay"), Form::Untyped);
}

proptest! {
    #[test]
    fn literals_never_break_out(s in "\\PC{0,32}", field in 0usize..9) {
        let names = ["Name", "RecId", "Line", "Rate", "Active", "Id", "Day", "StartDate", "Blocked"];
        if let Ok(literal) = one(names[field], json!(s)) {
            // Only a string's quotes and an enum literal's may appear, doubled inside.
            let inner = literal.trim_start_matches(NO_YES).trim_matches('\'');
            prop_assert!(!inner.replace("''", "").contains('\''));
            prop_assert!(!literal.contains(['/', '?', '#', ' ', '(', ')', ',', '+', '&']));
        }
    }
}
