use super::*;
use crate::data::Dataset;
use crate::odata::parse_filter;

fn customers() -> Dataset {
    Dataset::seeded(42)
}

fn run(d: &Dataset, filter: &str) -> Result<usize, String> {
    let set = d.get("CustomersV3").ok_or("no set")?;
    let pred = bind(&parse_filter(filter)?, set)?;
    Ok(set.rows().iter().filter(|r| pred.eval(&r.values)).count())
}

#[test]
fn like_matches_globs() {
    let parts = |p: &str| p.split('*').map(str::to_lowercase).collect::<Vec<_>>();
    assert!(like("Contoso Retail", &parts("*contoso*")));
    assert!(like("Contoso Retail", &parts("Contoso*")));
    assert!(like("Contoso Retail", &parts("*Retail")));
    assert!(like("Contoso Retail", &parts("C*o*l")));
    assert!(!like("Contoso Retail", &parts("*Fabrikam*")));
    assert!(!like("ab", &parts("ab*b")));
    assert!(like("abb", &parts("ab*b")));
}

#[test]
fn eq_and_wildcard_agree_with_a_scan() {
    let d = customers();
    let all = run(&d, "dataAreaId eq 'usmf'").unwrap();
    assert_eq!(all, 50);
    let set = d.get("CustomersV3").unwrap();
    let name = set.field_index("OrganizationName").unwrap();
    let expected = set
        .rows()
        .iter()
        .filter(
            |r| matches!(&r.values[name], Value::Str(s) if s.to_lowercase().contains("contoso")),
        )
        .count();
    assert_eq!(
        run(&d, "OrganizationName eq '*contoso*'").unwrap(),
        expected
    );
    assert_eq!(
        run(&d, "not (OrganizationName eq '*contoso*')").unwrap(),
        set.rows().len() - expected
    );
}

#[test]
fn enum_literals_and_strings_bind() {
    let d = customers();
    let a = run(
        &d,
        "CreditLimitIsMandatory eq Microsoft.Dynamics.DataEntities.NoYes'Yes'",
    )
    .unwrap();
    let b = run(&d, "CreditLimitIsMandatory eq 'Yes'").unwrap();
    let c = run(
        &d,
        "CreditLimitIsMandatory eq Microsoft.Dynamics.DataEntities.NoYes'No'",
    )
    .unwrap();
    assert_eq!(a, b);
    assert!(a > 0);
    assert_eq!(a + c, d.get("CustomersV3").unwrap().rows().len());
    let err = run(
        &d,
        "CreditLimitIsMandatory eq Microsoft.Dynamics.DataEntities.NoYes'Maybe'",
    );
    assert_eq!(
        err,
        Err("The string 'Maybe' is not a valid enumeration type constant.".into())
    );
}

#[test]
fn numbers_compare_numerically() {
    let d = customers();
    let big = run(&d, "CreditLimit gt 50000").unwrap();
    let small = run(&d, "CreditLimit le 50000").unwrap();
    assert_eq!(big + small, d.get("CustomersV3").unwrap().rows().len());
    assert_eq!(run(&d, "50000 lt CreditLimit").unwrap(), big);
}

#[test]
fn errors_use_odata_wording() {
    let d = customers();
    assert_eq!(
        run(&d, "Nope eq 1"),
        Err("Could not find a property named 'Nope' on type 'Microsoft.Dynamics.DataEntities.CustomerV3'.".into())
    );
    assert_eq!(
        run(&d, "CreditLimit eq 'x'"),
        Err("A binary operator with incompatible types was detected. Found operand types 'Edm.Decimal' and 'Edm.String' for operator kind 'Equal'.".into())
    );
    assert_eq!(
        run(&d, "CustomerAccount"),
        Err("The $filter expression must evaluate to a single boolean value.".into())
    );
    assert!(run(&d, "contains(OrganizationName,'x')").is_err_and(|e| e.contains("wildcard")));
    assert!(run(&d, "not CustomerAccount eq 'x'").is_err_and(|e| e.contains("unary operator")));
}

#[test]
fn null_comparisons() {
    let d = customers();
    assert_eq!(run(&d, "CustomerAccount eq null").unwrap(), 0);
    assert_eq!(
        run(&d, "CustomerAccount ne null").unwrap(),
        d.get("CustomersV3").unwrap().rows().len()
    );
    assert_eq!(run(&d, "CreditLimit gt null").unwrap(), 0);
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn arb_condition() -> impl Strategy<Value = String> {
        let ops = prop::sample::select(vec!["eq", "ne", "gt", "ge", "lt", "le"]);
        prop_oneof![
            (ops.clone(), 0u32..120).prop_map(|(op, n)| format!("CreditLimit {op} {}", n * 500)),
            (ops.clone(), "[A-Z]{2}-0[0-9]{2}")
                .prop_map(|(op, a)| format!("CustomerAccount {op} '{a}'")),
            "[a-z]{0,4}".prop_map(|w| format!("OrganizationName eq '*{w}*'")),
            prop::sample::select(vec!["Person", "Organization"]).prop_map(|m| format!(
                "CustomerType eq Microsoft.Dynamics.DataEntities.CustomerType'{m}'"
            )),
        ]
    }

    proptest! {
        #[test]
        fn not_partitions_the_rows(a in arb_condition(), b in arb_condition()) {
            let d = customers();
            let total = d.get("CustomersV3").unwrap().rows().len();
            let x = run(&d, &a).unwrap();
            let not_x = run(&d, &format!("not ({a})")).unwrap();
            prop_assert_eq!(x + not_x, total);
            let y = run(&d, &b).unwrap();
            let and = run(&d, &format!("{a} and {b}")).unwrap();
            let or = run(&d, &format!("{a} or {b}")).unwrap();
            prop_assert!(and <= x.min(y));
            prop_assert_eq!(and + or, x + y);
        }
    }
}
