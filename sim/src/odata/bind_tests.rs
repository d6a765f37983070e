use super::*;
use crate::SimError;
use crate::data::Dataset;
use crate::odata::QueryOptions;
use crate::odata::parse_filter;
use crate::odata::parser::too_many_nodes_message;

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

/// Runs `f` on a thread with a small stack, so a test proves the code does
/// not recurse once per clause: a stack overflow aborts the whole test run.
fn on_small_stack<F: FnOnce() + Send + 'static>(f: F) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// Goes the whole way a request does: query string → parse → bind/plan →
/// evaluate every row. `Ok` is the match count, `Err` a 400's message.
fn through_plan(d: &Dataset, filter: &str) -> Result<usize, SimError> {
    let set = d.get("CustomersV3").unwrap();
    let raw = format!("$filter={}", filter.replace(' ', "%20"));
    let plan = QueryOptions::parse(Some(&raw))?.plan(set)?;
    let pred = plan.predicate.unwrap();
    Ok(set.rows().iter().filter(|r| pred.eval(&r.values)).count())
}

fn accounts(d: &Dataset) -> Vec<String> {
    let set = d.get("CustomersV3").unwrap();
    let i = set.field_index("CustomerAccount").unwrap();
    set.rows()
        .iter()
        .map(|r| match &r.values[i] {
            Value::Str(s) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn ten_thousand_and_clauses_do_not_overflow() {
    on_small_stack(|| {
        let d = customers();
        let total = d.get("CustomersV3").unwrap().rows().len();
        let filter = vec!["true"; 10_000].join(" and ");
        match through_plan(&d, &filter) {
            Ok(n) => assert_eq!(n, total),
            Err(e) => {
                assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
                assert_eq!(e, SimError::InvalidQuery(too_many_nodes_message()));
            }
        }
    });
}

#[test]
fn ten_thousand_or_clauses_do_not_overflow() {
    on_small_stack(|| {
        let d = customers();
        let accounts = accounts(&d);
        let filter = (0..10_000)
            .map(|i| format!("CustomerAccount eq '{}'", accounts[i % accounts.len()]))
            .collect::<Vec<_>>()
            .join(" or ");
        match through_plan(&d, &filter) {
            Ok(n) => assert_eq!(n, accounts.len()),
            Err(e) => assert_eq!(e, SimError::InvalidQuery(too_many_nodes_message())),
        }
    });
}

#[test]
fn chains_under_the_budget_evaluate_correctly_on_a_small_stack() {
    on_small_stack(|| {
        let d = customers();
        let accounts = accounts(&d);
        let wanted: Vec<&String> = accounts.iter().step_by(3).take(250).collect();
        let filter = wanted
            .iter()
            .map(|a| format!("CustomerAccount eq '{a}'"))
            .collect::<Vec<_>>()
            .join(" or ");
        let expected = accounts.iter().filter(|a| wanted.contains(a)).count();
        assert_eq!(through_plan(&d, &filter), Ok(expected));

        let total = accounts.len();
        let all_true = vec!["CreditLimit ge 0"; 249].join(" and ");
        let pos = through_plan(&d, "CreditLimit ge 0").unwrap();
        assert_eq!(through_plan(&d, &all_true), Ok(pos));
        let one_false = format!("{all_true} and false");
        assert_eq!(through_plan(&d, &one_false), Ok(0));
        assert!(pos <= total);
    });
}

#[test]
fn huge_trees_built_directly_bind_evaluate_print_and_drop() {
    // The parser would reject these; the tree itself must still be safe to
    // walk, since chains are n-ary rather than nested.
    on_small_stack(|| {
        let d = customers();
        let set = d.get("CustomersV3").unwrap();
        let accounts = accounts(&d);
        let cmp = |a: &str| {
            Expr::Cmp(
                CmpOp::Eq,
                Box::new(Expr::Field("CustomerAccount".into())),
                Box::new(Expr::Lit(Literal::Str(a.into()))),
            )
        };
        let or = Expr::Or(
            (0..10_000)
                .map(|i| cmp(&accounts[i % accounts.len()]))
                .collect(),
        );
        let pred = bind(&or, set).unwrap();
        let n = set.rows().iter().filter(|r| pred.eval(&r.values)).count();
        assert_eq!(n, accounts.len());

        let and = Expr::And(vec![Expr::Lit(Literal::Bool(true)); 10_000]);
        let pred = bind(&and, set).unwrap();
        assert!(set.rows().iter().all(|r| pred.eval(&r.values)));
        let printed = and.to_string();
        assert!(printed.starts_with("(true and true"));
        assert_eq!(
            parse_filter(&printed),
            Err(too_many_nodes_message()),
            "over the node budget"
        );
        let mixed = bind(&Expr::And(vec![or, cmp("nobody")]), set).unwrap();
        assert!(!set.rows().iter().any(|r| mixed.eval(&r.values)));
    });
}

#[test]
fn maximum_nesting_is_bounded() {
    // Nesting is the parser's only recursion and is capped at MAX_DEPTH;
    // at that cap a whole request stays well inside a tokio worker's 2 MiB
    // stack even in a debug build (about 7 KiB per level there).
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            let d = customers();
            let depth = crate::odata::parser::MAX_DEPTH;
            let total = d.get("CustomersV3").unwrap().rows().len();
            let parens = format!(
                "{}CustomerAccount ne null{}",
                "(".repeat(depth),
                ")".repeat(depth)
            );
            assert_eq!(through_plan(&d, &parens), Ok(total));
            let nots = format!("{}(CustomerAccount ne null)", "not ".repeat(depth - 1));
            let expected = if (depth - 1).is_multiple_of(2) {
                total
            } else {
                0
            };
            assert_eq!(through_plan(&d, &nots), Ok(expected));
            let too_deep = format!("{}true{}", "(".repeat(depth + 1), ")".repeat(depth + 1));
            assert!(through_plan(&d, &too_deep).is_err());
            let calls = format!("{}true{}", "f(".repeat(depth + 1), ")".repeat(depth + 1));
            assert!(through_plan(&d, &calls).is_err());
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn type_errors_in_chains_name_the_offending_operand() {
    let d = customers();
    assert_eq!(
        run(&d, "CustomerAccount and true"),
        Err("A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Boolean' for operator kind 'And'.".into())
    );
    assert_eq!(
        run(&d, "true or false or 5"),
        Err("A binary operator with incompatible types was detected. Found operand types 'Edm.Int32' and 'Edm.Boolean' for operator kind 'Or'.".into())
    );
    let total = d.get("CustomersV3").unwrap().rows().len();
    assert_eq!(run(&d, "true and false or true"), Ok(total));
    assert_eq!(run(&d, "true and (false or true) and false"), Ok(0));
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
