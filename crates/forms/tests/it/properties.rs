//! Property tests: the parsers never panic, printing round-trips, evaluation is consistent.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use dspp_forms::{Expr, Scope, Value, parse_csv};
use proptest::prelude::*;

struct FixedScope;

impl Scope for FixedScope {
    fn value(&self, name: &str) -> Value {
        match name {
            "a" => Value::Integer(3),
            "b" => Value::Text("x y".into()),
            "c" => Value::Date(NaiveDate::from_ymd_opt(2020, 2, 29).unwrap()),
            _ => Value::Empty,
        }
    }
    fn current(&self) -> Value {
        Value::Decimal(1.5)
    }
    fn column(&self, _name: &str) -> Value {
        Value::Text("k".into())
    }
    fn today(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
    }
    fn choice_score(&self, _name: &str) -> f64 {
        2.0
    }
}

/// The IDPoor definition's text, read once.
fn idpoor_csv() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| crate::program_csv("idpoor"))
}

/// Values compare equal, NaN included.
fn same(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Decimal(a), Value::Decimal(b)) => a == b || (a.is_nan() && b.is_nan()),
        _ => left == right,
    }
}

/// Expression-like text: tokens the grammar knows, glued in random order.
fn expression_text() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "${a}",
        "${b}",
        "${c}",
        "${zz}",
        ".",
        "1",
        "2.5",
        "0",
        "'t'",
        "\"u\"",
        "+",
        "-",
        "*",
        "div",
        "mod",
        "=",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "(",
        ")",
        ",",
        "not(",
        "if(",
        "selected(",
        "count-selected(",
        "string-length(",
        "regex(",
        "today()",
        "int(",
        "number(",
        "round(",
        "coalesce(",
        "concat(",
        "min(",
        "max(",
        "date(",
        "decimal-date-time(",
        "choice-score(",
        "substr(",
        "region",
    ]);
    prop::collection::vec(token, 1..24).prop_map(|tokens| tokens.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,80}") {
        let _ = Expr::parse(&text);
    }

    #[test]
    fn parsed_expressions_print_round_trip_and_evaluate_the_same(text in expression_text()) {
        if let Ok(expr) = Expr::parse(&text) {
            let printed = expr.to_string();
            let reparsed = Expr::parse(&printed).unwrap_or_else(|error| panic!("{printed}: {error}"));
            prop_assert_eq!(&reparsed, &expr);
            let first = expr.evaluate(&FixedScope);
            let second = reparsed.evaluate(&FixedScope);
            prop_assert!(same(&first, &second), "{} gave {:?} then {:?}", text, first, second);
        }
    }

    #[test]
    fn parse_csv_never_panics(text in "(\\PC|\n|,|\"){0,300}") {
        let _ = parse_csv(&text);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn parse_csv_never_panics_on_mangled_definitions(cut in 0usize..2000, insert in "(\\PC|\n|,){0,20}") {
        let original = idpoor_csv();
        let mut position = cut.min(original.len());
        while !original.is_char_boundary(position) {
            position -= 1;
        }
        let mangled = format!("{}{insert}{}", &original[..position], &original[position..]);
        let _ = parse_csv(&mangled);
    }

    #[test]
    fn evaluation_never_panics_on_arbitrary_answers(
        answers in prop::collection::btree_map(
            prop::sample::select(vec!["roof", "walls", "house_area", "assets", "earners", "crisis", "junk", "pmt_score"]),
            "\\PC{0,12}",
            0..8,
        ),
        size in prop::option::of(-3i64..12),
    ) {
        let definition = parse_csv(idpoor_csv()).unwrap();
        let mut context = BTreeMap::new();
        if let Some(size) = size {
            context.insert("household_size".to_owned(), Value::Integer(size));
        }
        let inputs = dspp_forms::Inputs {
            answers: answers.into_iter().map(|(name, value)| (name.to_owned(), Value::Text(value))).collect(),
            context,
            today: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        };
        let evaluation = definition.evaluate(&inputs);
        prop_assert!(!evaluation.eligible || evaluation.problems.is_empty());
    }
}
