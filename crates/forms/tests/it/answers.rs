//! Answer problems: every kind, all reported at once, in the order of the form.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use dspp_forms::{Inputs, ProgramDefinition, Value, parse_csv};
use expect_test::{Expect, expect};

const FORM: &str = "\
settings
,form_id,version,form_title,operator,level,approval,delivery
,sample,1,Sample,NSAF,person,commune_chief,nsaf
survey
,type,name,label::English (en),label::Khmer (km),required,required_message::English (en),required_message::Khmer (km),relevant,constraint,constraint_message::English (en),constraint_message::Khmer (km),calculation,default,choice_filter
,select_one yes_no,pregnant,Pregnant?,មានផ្ទៃពោះ?,yes,,,${sex} = 'female',,,,,,
,integer,months,Months,ខែ,yes,Say how many months,សូមប្រាប់ចំនួនខែ,${pregnant} = 'yes',. >= 1 and . <= 9,Between 1 and 9,ចន្លោះពី ១ ដល់ ៩,,,
,date,visit,Visit,ការពិនិត្យ,,,,,. <= today(),Not in the future,មិនអាចនៅថ្ងៃអនាគត,,,
,decimal,land,Land,ដី,,,,,,,,,,
,select_multiple crops,crops,Crops,ដំណាំ,,,,,,,,,,
,select_one province,province,Province,ខេត្ត,,,,,,,,,,
,select_one district,district,District,ស្រុក,,,,,,,,,,province = ${province}
,begin_group,farm,Farm,កសិដ្ឋាន,,,,${land} > 0,,,,,,
,integer,plots,Plots,ដីឡូតិ៍,,,,,,,,,1,
,end_group
,calculate,plots_left,,,,,,,,,,${plots} - 1,,
,acknowledge,consent,I agree,ខ្ញុំយល់ព្រម,yes,,,,,,,,,
,note,thanks,Thank you,អរគុណ,,,,,,,,,,
choices
,list_name,name,label,province
,yes_no,yes,Yes,
,yes_no,no,No,
,crops,rice,Rice,
,crops,cassava,Cassava,
,province,kampot,Kampot,
,province,takeo,Takeo,
,district,chhuk,Chhuk,kampot
,district,bati,Bati,takeo
eligibility
,name,rule,label::English (en),label::Khmer (km)
,pregnant,${pregnant} = 'yes',Pregnant,មានផ្ទៃពោះ
";

fn form() -> ProgramDefinition {
    parse_csv(FORM).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
}

/// Evaluates `answers` for a woman; prints values, problems (both languages) and rule outcomes.
fn check(answers: &[(&str, Value)], expect: Expect) {
    let inputs = Inputs {
        answers: answers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect(),
        context: BTreeMap::from([("sex".to_owned(), Value::Text("female".into()))]),
        today: today(),
    };
    let evaluation = form().evaluate(&inputs);
    let mut actual = String::new();
    for (name, value) in &evaluation.values {
        actual.push_str(&format!("{name} = {value:?}\n"));
    }
    for problem in &evaluation.problems {
        actual.push_str(&format!(
            "problem {}: {} / {}\n",
            problem.field, problem.message.en, problem.message.km
        ));
    }
    for rule in &evaluation.rules {
        actual.push_str(&format!(
            "rule {}: {}\n",
            rule.name,
            if rule.passed { "passed" } else { "failed" }
        ));
    }
    actual.push_str(&format!("eligible: {}\n", evaluation.eligible));
    expect.assert_eq(&actual);
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

#[test]
fn a_complete_consistent_form_is_eligible() {
    check(
        &[
            ("pregnant", text("yes")),
            ("months", Value::Integer(4)),
            ("visit", text("2025-02-01")),
            ("land", text("1.5")),
            ("crops", text("rice cassava")),
            ("province", text("kampot")),
            ("district", text("chhuk")),
            ("consent", Value::Bool(true)),
        ],
        expect![[r#"
            consent = Text("OK")
            crops = Choices(["rice", "cassava"])
            district = Text("chhuk")
            land = Decimal(1.5)
            months = Integer(4)
            plots = Integer(1)
            plots_left = Integer(0)
            pregnant = Text("yes")
            province = Text("kampot")
            visit = Date(2025-02-01)
            rule pregnant: passed
            eligible: true
        "#]],
    );
}

#[test]
fn missing_required_answers_use_the_required_message() {
    check(
        &[("pregnant", text("yes"))],
        expect![[r#"
        pregnant = Text("yes")
        problem months: Say how many months / សូមប្រាប់ចំនួនខែ
        problem consent: This question is required / សំណួរនេះត្រូវតែឆ្លើយ
        rule pregnant: passed
        eligible: false
    "#]],
    );
}

#[test]
fn constraint_failures_use_the_constraint_message() {
    check(
        &[
            ("pregnant", text("yes")),
            ("months", Value::Integer(11)),
            ("visit", text("2025-12-31")),
            ("consent", text("OK")),
        ],
        expect![[r#"
            consent = Text("OK")
            months = Integer(11)
            pregnant = Text("yes")
            visit = Date(2025-12-31)
            problem months: Between 1 and 9 / ចន្លោះពី ១ ដល់ ៩
            problem visit: Not in the future / មិនអាចនៅថ្ងៃអនាគត
            rule pregnant: passed
            eligible: false
        "#]],
    );
}

#[test]
fn wrong_types_are_reported_not_coerced() {
    check(
        &[
            ("pregnant", text("maybe")),
            ("months", text("four")),
            ("visit", text("01/02/2025")),
            ("land", text("lots")),
            ("crops", text("rice wheat")),
            ("province", Value::Integer(3)),
            ("plots", Value::Decimal(1.5)),
            ("consent", Value::Date(today())),
        ],
        expect![[r#"
            problem pregnant: 'maybe' is not one of the choices / 'maybe' មិនមែនជាជម្រើសមួយក្នុងបញ្ជីទេ
            problem months: 'four' is not a whole number / 'four' មិនមែនជាចំនួនគត់ទេ
            problem visit: '01/02/2025' is not a date written YYYY-MM-DD / '01/02/2025' មិនមែនជាកាលបរិច្ឆេទ (YYYY-MM-DD) ទេ
            problem land: 'lots' is not a number / 'lots' មិនមែនជាលេខទេ
            problem crops: 'wheat' is not one of the choices / 'wheat' មិនមែនជាជម្រើសមួយក្នុងបញ្ជីទេ
            problem province: '3' is not one of the choices / '3' មិនមែនជាជម្រើសមួយក្នុងបញ្ជីទេ
            problem plots: '1.5' is not a whole number / '1.5' មិនមែនជាចំនួនគត់ទេ
            problem consent: Expected acknowledge / ត្រូវការ acknowledge
            rule pregnant: failed
            eligible: false
        "#]],
    );
}

#[test]
fn unknown_calculated_and_irrelevant_answers_are_errors() {
    check(
        &[
            ("pregnant", text("no")),
            ("months", Value::Integer(5)),
            ("plots", Value::Integer(2)),
            ("plots_left", Value::Integer(1)),
            ("thanks", text("hi")),
            ("shoe_size", Value::Integer(40)),
            ("consent", Value::Bool(true)),
        ],
        expect![[r#"
            consent = Text("OK")
            pregnant = Text("no")
            problem months: Answered, but this question does not apply given the other answers / បានឆ្លើយ ប៉ុន្តែសំណួរនេះមិនពាក់ព័ន្ធទេ តាមចម្លើយផ្សេងទៀត
            problem plots: Answered, but this question does not apply given the other answers / បានឆ្លើយ ប៉ុន្តែសំណួរនេះមិនពាក់ព័ន្ធទេ តាមចម្លើយផ្សេងទៀត
            problem plots_left: This is calculated or shown by the form and cannot be answered / ផ្នែកនេះគណនា ឬបង្ហាញដោយទម្រង់ មិនអាចឆ្លើយបានទេ
            problem thanks: This is calculated or shown by the form and cannot be answered / ផ្នែកនេះគណនា ឬបង្ហាញដោយទម្រង់ មិនអាចឆ្លើយបានទេ
            problem shoe_size: There is no such question in this form / មិនមានសំណួរនេះក្នុងទម្រង់នេះទេ
            rule pregnant: failed
            eligible: false
        "#]],
    );
}

#[test]
fn choice_filters_and_group_defaults() {
    check(
        &[
            ("pregnant", text("yes")),
            ("months", Value::Integer(2)),
            ("land", Value::Decimal(0.5)),
            ("province", text("kampot")),
            ("district", text("bati")),
            ("consent", Value::Bool(true)),
        ],
        expect![[r#"
            consent = Text("OK")
            district = Text("bati")
            land = Decimal(0.5)
            months = Integer(2)
            plots = Integer(1)
            plots_left = Integer(0)
            pregnant = Text("yes")
            province = Text("kampot")
            problem district: 'bati' is not offered given the other answers / 'bati' មិនអាចជ្រើសរើសបានទេ តាមចម្លើយផ្សេងទៀត
            rule pregnant: passed
            eligible: false
        "#]],
    );
}

#[test]
fn answer_from_text_reads_each_type() {
    let form = form();
    let mut actual = String::new();
    for (field, input) in [
        ("months", "7"),
        ("months", " 7 "),
        ("months", "7.5"),
        ("land", "0.25"),
        ("land", "-1"),
        ("visit", "2025-02-28"),
        ("visit", "2025-02-30"),
        ("pregnant", "yes"),
        ("pregnant", "Yes"),
        ("crops", "rice rice cassava"),
        ("crops", ""),
        ("consent", "ok"),
        ("consent", "no"),
        ("plots_left", "3"),
        ("nobody", "3"),
    ] {
        let result = match form.answer_from_text(field, input) {
            Ok(value) => format!("{value:?}"),
            Err(problem) => format!("problem: {}", problem.message.en),
        };
        actual.push_str(&format!("{field} {input:?} => {result}\n"));
    }
    expect![[r#"
        months "7" => Integer(7)
        months " 7 " => Integer(7)
        months "7.5" => problem: '7.5' is not a whole number
        land "0.25" => Decimal(0.25)
        land "-1" => Decimal(-1.0)
        visit "2025-02-28" => Date(2025-02-28)
        visit "2025-02-30" => problem: '2025-02-30' is not a date written YYYY-MM-DD
        pregnant "yes" => Text("yes")
        pregnant "Yes" => problem: 'Yes' is not one of the choices
        crops "rice rice cassava" => Choices(["rice", "cassava"])
        crops "" => Empty
        consent "ok" => Text("OK")
        consent "no" => problem: Acknowledge with OK
        plots_left "3" => problem: This is calculated or shown by the form and cannot be answered
        nobody "3" => problem: There is no such question in this form
    "#]]
    .assert_eq(&actual);
}

#[test]
fn context_facts_are_checked() {
    let inputs = Inputs {
        answers: BTreeMap::new(),
        context: BTreeMap::from([
            ("age".to_owned(), text("sixty")),
            ("sex".to_owned(), text("female")),
            ("shoe_size".to_owned(), Value::Integer(40)),
        ]),
        today: today(),
    };
    let problems: Vec<String> = form()
        .evaluate(&inputs)
        .problems
        .iter()
        .map(ToString::to_string)
        .collect();
    expect![[r#"
        pregnant: This question is required
        consent: This question is required
        age: Expected integer
        shoe_size: Not a context fact the platform supplies"#]]
    .assert_eq(&problems.join("\n"));
}
