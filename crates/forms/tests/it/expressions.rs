//! Expression parsing and evaluation, one line per case.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use dspp_forms::{Expr, Scope, Value};
use expect_test::{Expect, expect};

struct TestScope {
    values: BTreeMap<&'static str, Value>,
    current: Value,
}

impl Scope for TestScope {
    fn value(&self, name: &str) -> Value {
        self.values.get(name).cloned().unwrap_or(Value::Empty)
    }
    fn current(&self) -> Value {
        self.current.clone()
    }
    fn column(&self, name: &str) -> Value {
        if name == "region" {
            Value::Text("north".into())
        } else {
            Value::Empty
        }
    }
    fn today(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
    }
    fn choice_score(&self, name: &str) -> f64 {
        if name == "m" { 7.0 } else { 0.0 }
    }
}

fn scope() -> TestScope {
    let values = BTreeMap::from([
        ("a", Value::Integer(5)),
        ("x", Value::Decimal(2.5)),
        ("t", Value::Text("hello".into())),
        ("n", Value::Text("12".into())),
        (
            "d",
            Value::Date(NaiveDate::from_ymd_opt(2024, 1, 15).unwrap()),
        ),
        ("e", Value::Empty),
        ("m", Value::Choices(vec!["rice".into(), "fish".into()])),
        ("flag", Value::Bool(true)),
    ]);
    TestScope {
        values,
        current: Value::Integer(7),
    }
}

/// Each line of `input` is an expression; prints what it evaluates to (or why it does not parse).
fn check(input: &str, expect: Expect) {
    let scope = scope();
    let mut actual = String::new();
    for line in input.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let result = match Expr::parse(line) {
            Ok(expr) => format!("{:?}", expr.evaluate(&scope)),
            Err(error) => format!("error: {error}"),
        };
        actual.push_str(&format!("{line}  =>  {result}\n"));
    }
    expect.assert_eq(&actual);
}

#[test]
fn arithmetic_and_precedence() {
    check(
        r"
        1 + 2 * 3
        (1 + 2) * 3
        7 div 2
        7 mod 3
        -7 mod 3
        7.5 mod 2
        10 - 2 - 3
        2 * -3
        - - 4
        ${a} + ${x}
        ${a} * ${n}
        ${a} + ${t}
        ${a} + ${e}
        1 div 0
        9223372036854775807 + 1
        ",
        expect![[r#"
            1 + 2 * 3  =>  Integer(7)
            (1 + 2) * 3  =>  Integer(9)
            7 div 2  =>  Decimal(3.5)
            7 mod 3  =>  Integer(1)
            -7 mod 3  =>  Integer(-1)
            7.5 mod 2  =>  Decimal(1.5)
            10 - 2 - 3  =>  Integer(5)
            2 * -3  =>  Integer(-6)
            - - 4  =>  Integer(4)
            ${a} + ${x}  =>  Decimal(7.5)
            ${a} * ${n}  =>  Decimal(60.0)
            ${a} + ${t}  =>  Decimal(NaN)
            ${a} + ${e}  =>  Decimal(NaN)
            1 div 0  =>  Decimal(inf)
            9223372036854775807 + 1  =>  Decimal(9.223372036854776e18)
        "#]],
    );
}

#[test]
fn comparisons_and_logic() {
    check(
        r"
        ${a} = 5
        ${a} = '5'
        ${n} = 12
        ${t} = 'hello'
        ${t} != 'hello'
        ${e} = ''
        ${e} = 0
        ${e} != 0
        ${e} < 1
        ${e} >= 1
        ${a} > 4 and ${a} < 6
        ${a} < 4 or ${t} = 'hello'
        not(${e})
        ${flag} = 'anything'
        ${d} = '2024-01-15'
        ${d} < '2024-02-01'
        ${d} > date('2024-01-20')
        1 < 2 = 1
        ",
        expect![[r#"
            ${a} = 5  =>  Bool(true)
            ${a} = '5'  =>  Bool(true)
            ${n} = 12  =>  Bool(true)
            ${t} = 'hello'  =>  Bool(true)
            ${t} != 'hello'  =>  Bool(false)
            ${e} = ''  =>  Bool(true)
            ${e} = 0  =>  Bool(false)
            ${e} != 0  =>  Bool(true)
            ${e} < 1  =>  Bool(false)
            ${e} >= 1  =>  Bool(false)
            ${a} > 4 and ${a} < 6  =>  Bool(true)
            ${a} < 4 or ${t} = 'hello'  =>  Bool(true)
            not(${e})  =>  Bool(true)
            ${flag} = 'anything'  =>  Bool(true)
            ${d} = '2024-01-15'  =>  Bool(true)
            ${d} < '2024-02-01'  =>  Bool(true)
            ${d} > date('2024-01-20')  =>  Bool(false)
            1 < 2 = 1  =>  Bool(true)
        "#]],
    );
}

#[test]
fn functions() {
    check(
        r"
        if(${a} > 3, 'big', 'small')
        selected(${m}, 'fish')
        selected(${m}, 'pork')
        count-selected(${m})
        count-selected(${e})
        string-length(${t})
        string-length('អាយុ')
        regex(${t}, '^h.*o$')
        regex('0812345678', '^0[1-9][0-9]{7,8}$')
        today()
        today() - ${d}
        date(today() - 30)
        decimal-date-time('2024-01-15')
        int(-3.7)
        int(${e})
        number('3.25')
        round(2.5)
        round(3.14159, 2)
        floor(-1.5)
        ceiling(1.2)
        abs(-4)
        coalesce(${e}, 'fallback')
        coalesce(${t}, 'fallback')
        concat(${t}, ' ', ${a})
        min(3, ${a}, 1.5)
        max(3, ${a})
        max(3, ${e})
        contains(${t}, 'ell')
        starts-with(${t}, 'he')
        substr(${t}, 2, 3)
        string(${x})
        choice-score(${m})
        . > 5
        region = 'north'
        true() and not(false())
        ",
        expect![[r#"
            if(${a} > 3, 'big', 'small')  =>  Text("big")
            selected(${m}, 'fish')  =>  Bool(true)
            selected(${m}, 'pork')  =>  Bool(false)
            count-selected(${m})  =>  Integer(2)
            count-selected(${e})  =>  Integer(0)
            string-length(${t})  =>  Integer(5)
            string-length('អាយុ')  =>  Integer(4)
            regex(${t}, '^h.*o$')  =>  Bool(true)
            regex('0812345678', '^0[1-9][0-9]{7,8}$')  =>  Bool(true)
            today()  =>  Date(2025-03-01)
            today() - ${d}  =>  Decimal(411.0)
            date(today() - 30)  =>  Date(2025-01-30)
            decimal-date-time('2024-01-15')  =>  Decimal(19737.0)
            int(-3.7)  =>  Integer(-3)
            int(${e})  =>  Decimal(NaN)
            number('3.25')  =>  Decimal(3.25)
            round(2.5)  =>  Integer(3)
            round(3.14159, 2)  =>  Decimal(3.14)
            floor(-1.5)  =>  Integer(-2)
            ceiling(1.2)  =>  Integer(2)
            abs(-4)  =>  Integer(4)
            coalesce(${e}, 'fallback')  =>  Text("fallback")
            coalesce(${t}, 'fallback')  =>  Text("hello")
            concat(${t}, ' ', ${a})  =>  Text("hello 5")
            min(3, ${a}, 1.5)  =>  Decimal(1.5)
            max(3, ${a})  =>  Integer(5)
            max(3, ${e})  =>  Decimal(NaN)
            contains(${t}, 'ell')  =>  Bool(true)
            starts-with(${t}, 'he')  =>  Bool(true)
            substr(${t}, 2, 3)  =>  Text("ell")
            string(${x})  =>  Text("2.5")
            choice-score(${m})  =>  Decimal(7.0)
            . > 5  =>  Bool(true)
            region = 'north'  =>  Bool(true)
            true() and not(false())  =>  Bool(true)
        "#]],
    );
}

#[test]
fn syntax_errors() {
    check(
        r"
        1 +
        (1 + 2
        ${a
        ${1a} = 2
        'open
        foo(1)
        if(1, 2)
        today(1)
        choice-score('x')
        1 2
        $a
        ! 1
        a = = 1
        3abc
        ../x
        #
        1e5
        99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999.5
        ",
        expect![[r#"
            1 +  =>  error: expression ends too early (at character 4)
            (1 + 2  =>  error: expected ')' (at character 7)
            ${a  =>  error: reference '${' is not closed with '}' (at character 1)
            ${1a} = 2  =>  error: '1a' is not a valid name in ${1a} (at character 1)
            'open  =>  error: text starting with ' is not closed (at character 1)
            foo(1)  =>  error: unknown function 'foo' (at character 1)
            if(1, 2)  =>  error: if() takes 3 argument(s), not 2 (at character 1)
            today(1)  =>  error: today() takes 0 argument(s), not 1 (at character 1)
            choice-score('x')  =>  error: choice-score() takes a question reference like ${name} (at character 1)
            1 2  =>  error: unexpected number 2 after the end of the expression (at character 3)
            $a  =>  error: '$' must start a reference like ${name} (at character 1)
            ! 1  =>  error: '!' must be followed by '=' (use not() to negate) (at character 1)
            a = = 1  =>  error: unexpected '=' (at character 5)
            3abc  =>  error: a number must not run into a name (at character 2)
            ../x  =>  error: unexpected character '/' (at character 3)
            #  =>  error: unexpected character '#' (at character 1)
            1e5  =>  error: a number must not run into a name (at character 2)
            99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999.5  =>  error: number 99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999.5 is too large (at character 1)
        "#]],
    );
}

#[test]
fn printing_round_trips() {
    let samples = [
        "1 + 2 * 3 - -4",
        "if(${a} >= 60 and not(${d}), 'yes', \"it's\")",
        "10 div 4 mod 3",
        "1.5 + 100000000000000000000000",
        "concat('a', 'b', ${t})",
    ];
    for sample in samples {
        let parsed = Expr::parse(sample).unwrap();
        let printed = parsed.to_string();
        assert_eq!(
            Expr::parse(&printed).unwrap(),
            parsed,
            "{sample} printed as {printed}"
        );
    }
    assert_eq!(
        Expr::parse("1 + 2 * 3").unwrap().to_string(),
        "(1 + (2 * 3))"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let error = Expr::parse(&deep).unwrap_err();
    assert!(error.message.contains("nests more than 128"), "{error}");
    let long_chain = vec!["1"; 300].join(" + ");
    assert!(
        Expr::parse(&long_chain)
            .unwrap_err()
            .message
            .contains("nests more than")
    );
    let long_and = vec!["${a}"; 100].join(" and ");
    assert!(Expr::parse(&long_and).is_ok());
}
