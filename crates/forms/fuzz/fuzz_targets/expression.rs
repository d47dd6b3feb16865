//! Any text as an expression: parsing must not panic; what parses prints back to the same tree and evaluates
//! to the same value both times.
#![no_main]

use chrono::NaiveDate;
use dspp_forms::{Expr, Scope, Value};
use libfuzzer_sys::fuzz_target;

struct FixedScope;

impl Scope for FixedScope {
    fn value(&self, name: &str) -> Value {
        match name.len() % 5 {
            0 => Value::Integer(7),
            1 => Value::Text("a b".into()),
            2 => Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default()),
            3 => Value::Choices(vec!["x".into(), "y".into()]),
            _ => Value::Empty,
        }
    }
    fn current(&self) -> Value {
        Value::Decimal(2.5)
    }
    fn column(&self, _name: &str) -> Value {
        Value::Text("c".into())
    }
    fn today(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default()
    }
    fn choice_score(&self, _name: &str) -> f64 {
        3.0
    }
}

fn same(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Decimal(a), Value::Decimal(b)) => a == b || (a.is_nan() && b.is_nan()),
        _ => left == right,
    }
}

fuzz_target!(|text: &str| {
    if let Ok(expr) = Expr::parse(text) {
        let printed = expr.to_string();
        let reparsed = Expr::parse(&printed);
        assert_eq!(reparsed.as_ref(), Ok(&expr), "{printed}");
        let first = expr.evaluate(&FixedScope);
        let second = expr.evaluate(&FixedScope);
        assert!(same(&first, &second));
    }
});
