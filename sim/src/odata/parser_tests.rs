use proptest::prelude::*;

use super::*;

fn field(n: &str) -> Box<Expr> {
    Box::new(Expr::Field(n.into()))
}

fn lit(l: Literal) -> Box<Expr> {
    Box::new(Expr::Lit(l))
}

#[test]
fn precedence_and_binds_tighter_than_or() {
    let e = parse_filter("A eq 1 or B eq 2 and C eq 3").ok();
    let expected = Expr::Or(vec![
        Expr::Cmp(CmpOp::Eq, field("A"), lit(Literal::Int(1))),
        Expr::And(vec![
            Expr::Cmp(CmpOp::Eq, field("B"), lit(Literal::Int(2))),
            Expr::Cmp(CmpOp::Eq, field("C"), lit(Literal::Int(3))),
        ]),
    ]);
    assert_eq!(e, Some(expected));
}

#[test]
fn parentheses_and_not() {
    let e = parse_filter("not (A eq 'x' or B ne null)").ok();
    let expected = Expr::Not(Box::new(Expr::Or(vec![
        Expr::Cmp(CmpOp::Eq, field("A"), lit(Literal::Str("x".into()))),
        Expr::Cmp(CmpOp::Ne, field("B"), lit(Literal::Null)),
    ])));
    assert_eq!(e, Some(expected));
}

#[test]
fn enum_literal_and_call() {
    let e = parse_filter("OnHoldStatus eq Microsoft.Dynamics.DataEntities.NoYes'Yes'").ok();
    assert!(
        matches!(e, Some(Expr::Cmp(CmpOp::Eq, _, r)) if matches!(*r, Expr::Lit(Literal::Enum { .. })))
    );
    let c = parse_filter("contains(Name,'x')").ok();
    assert!(matches!(c, Some(Expr::Call(n, a)) if n == "contains" && a.len() == 2));
}

#[test]
fn error_messages_name_the_position() {
    assert_eq!(
        parse_filter("Name eq").err().as_deref(),
        Some("Expression expected at position 7 in 'Name eq'.")
    );
    assert_eq!(
        parse_filter("(A eq 1").err().as_deref(),
        Some("')' or operator expected at position 7 in '(A eq 1'.")
    );
    assert_eq!(
        parse_filter("A eq 1 B").err().as_deref(),
        Some("Syntax error at position 7 in 'A eq 1 B'.")
    );
}

#[test]
fn deep_nesting_is_rejected_not_overflowed() {
    let deep = format!("{}A eq 1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_filter(&deep).is_err());
    let nots = format!("{}A", "not ".repeat(10_000));
    assert!(parse_filter(&nots).is_err());
}

#[test]
fn chains_are_flat_and_parentheses_nest() {
    let a = || Expr::Cmp(CmpOp::Eq, field("A"), lit(Literal::Int(1)));
    assert_eq!(
        parse_filter("A eq 1 and A eq 1 and A eq 1"),
        Ok(Expr::And(vec![a(), a(), a()]))
    );
    assert_eq!(
        parse_filter("(A eq 1 or A eq 1) or A eq 1"),
        Ok(Expr::Or(vec![Expr::Or(vec![a(), a()]), a()]))
    );
    let e = Expr::And(vec![Expr::Or(vec![a(), a()]), a(), a()]);
    assert_eq!(
        e.to_string(),
        "(((A eq 1) or (A eq 1)) and (A eq 1) and (A eq 1))"
    );
    assert_eq!(parse_filter(&e.to_string()), Ok(e));
}

#[test]
fn node_budget_allows_long_filters_and_rejects_absurd_ones() {
    // 1 + 2 * 499 = 999 nodes: accepted, as one flat chain.
    let ok = vec!["true"; 500].join(" and ");
    assert!(matches!(parse_filter(&ok), Ok(Expr::And(v)) if v.len() == 500));
    // 3 * 250 + 249 = 999 nodes.
    let ok = vec!["A eq 'x'"; 250].join(" or ");
    assert!(matches!(parse_filter(&ok), Ok(Expr::Or(v)) if v.len() == 250));
    let over = vec!["A eq 'x'"; 251].join(" or ");
    assert_eq!(parse_filter(&over), Err(too_many_nodes_message()));
    assert!(
        too_many_nodes_message().starts_with("The node count limit of '1000' has been exceeded.")
    );
}

fn arb_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        (-1e12f64..1e12)
            .prop_filter("non-integral", |f| f.fract() != 0.0)
            .prop_map(Literal::Num),
        "[a-zA-Z0-9 '*%&/-]{0,12}".prop_map(Literal::Str),
        ("[A-Z][a-z]{1,6}", "[A-Za-z ']{0,6}").prop_map(|(t, m)| Literal::Enum {
            ty: format!("Microsoft.Dynamics.DataEntities.{t}"),
            member: m
        }),
        (-62_000_000_000_000i64..253_000_000_000_000).prop_map(Literal::DateTime),
    ]
}

fn arb_field() -> impl Strategy<Value = String> {
    "[A-Z][A-Za-z0-9_]{0,10}".prop_filter("keyword", |s| {
        !matches!(
            s.as_str(),
            "and"
                | "or"
                | "not"
                | "eq"
                | "ne"
                | "gt"
                | "ge"
                | "lt"
                | "le"
                | "null"
                | "true"
                | "false"
        )
    })
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    let leaf = (
        arb_field(),
        prop::sample::select(vec![
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Gt,
            CmpOp::Ge,
            CmpOp::Lt,
            CmpOp::Le,
        ]),
        arb_literal(),
    )
        .prop_map(|(f, op, l)| Expr::Cmp(op, Box::new(Expr::Field(f)), Box::new(Expr::Lit(l))));
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::Or),
            inner.prop_map(|a| Expr::Not(Box::new(a))),
        ]
    })
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,80}") {
        let _ = parse_filter(&s);
    }

    #[test]
    fn never_panics_on_filter_like_text(s in "[A-Za-z0-9 ()'.,*=-]{0,60}") {
        let _ = parse_filter(&s);
    }

    #[test]
    fn printing_round_trips(e in arb_expr()) {
        let printed = e.to_string();
        prop_assert_eq!(parse_filter(&printed), Ok(e), "printed: {}", printed);
    }
}
