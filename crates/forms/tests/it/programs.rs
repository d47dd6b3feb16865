//! The shipped definitions under `programs/`: each parses, the acceptance household, why-not rules and IDPoor
//! scoring boundaries.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use dspp_forms::{Evaluation, Inputs, Level, ProgramDefinition, Value, parse_csv};
use expect_test::{Expect, expect};

use crate::{program_csv, programs_dir};

const CODES: &[&str] = &[
    "family_base",
    "disability",
    "elderly",
    "pregnant_women",
    "childbirth",
    "children_under_2",
    "idpoor",
];

fn load(code: &str) -> ProgramDefinition {
    parse_csv(&program_csv(code)).unwrap_or_else(|error| panic!("{code}: {error}"))
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
}

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn inputs(context: &[(&str, Value)], answers: &[(&str, Value)]) -> Inputs {
    Inputs {
        answers: answers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect(),
        context: context
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect(),
        today: today(),
    }
}

fn render(evaluation: &Evaluation) -> String {
    let mut out = format!("eligible: {}\n", evaluation.eligible);
    for problem in &evaluation.problems {
        out.push_str(&format!(
            "  problem {}: {}\n",
            problem.field, problem.message.en
        ));
    }
    for rule in &evaluation.rules {
        let mark = if rule.passed { "yes" } else { "NO " };
        out.push_str(&format!("  {mark} {} / {}\n", rule.label.en, rule.label.km));
    }
    out
}

fn check(code: &str, context: &[(&str, Value)], answers: &[(&str, Value)], expect: Expect) {
    expect.assert_eq(&render(&load(code).evaluate(&inputs(context, answers))));
}

#[test]
fn every_shipped_definition_parses_and_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(programs_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".csv"))
        .map(|name| name.trim_end_matches(".csv").to_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CODES.iter().map(|code| (*code).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    let mut embedded: Vec<String> = dspp_forms::SHIPPED
        .iter()
        .map(|(code, _)| (*code).to_owned())
        .collect();
    embedded.sort();
    assert_eq!(embedded, listed);
    for (code, text) in dspp_forms::SHIPPED {
        assert_eq!(*text, program_csv(code), "{code}");
    }
    let mut summary = String::new();
    for code in CODES {
        let definition = load(code);
        assert_eq!(definition.code, *code);
        assert!(
            !definition.title.km.is_empty() && definition.title.km != definition.title.en,
            "{code} has no Khmer title"
        );
        for question in definition.questions() {
            if question.kind.is_answerable() {
                assert_ne!(
                    question.label.km, question.label.en,
                    "{code}.{} has no Khmer label",
                    question.name
                );
            }
        }
        for rule in definition.rules() {
            assert_ne!(
                rule.label.km, rule.label.en,
                "{code} rule {} has no Khmer label",
                rule.name
            );
        }
        let steps: Vec<&str> = definition
            .approval
            .iter()
            .map(|step| step.as_str())
            .collect();
        summary.push_str(&format!(
            "{code} v{} {} {} [{}] -> {}: {} questions, rules {:?}\n",
            definition.version,
            definition.operator,
            definition.level,
            steps.join(" "),
            definition.delivery,
            definition.questions().len(),
            definition
                .rules()
                .iter()
                .map(|rule| rule.name.as_str())
                .collect::<Vec<_>>(),
        ));
    }
    expect![[r#"
        family_base v2024.1 NSAF household [commune_chief] -> nsaf: 2 questions, rules ["idpoor_household"]
        disability v2024.1 NSAF person [commune_chief] -> nsaf: 4 questions, rules ["disability_identified", "idpoor_household", "alive"]
        elderly v2024.1 NSAF person [commune_chief] -> nsaf: 2 questions, rules ["aged_60_or_over", "idpoor_household", "alive"]
        pregnant_women v2024.1 NSAF person [commune_chief] -> nsaf: 5 questions, rules ["female", "pregnant", "idpoor_household", "alive"]
        childbirth v2024.1 NSAF person [commune_chief] -> nsaf: 4 questions, rules ["female", "public_facility", "recent_delivery", "idpoor_household", "alive"]
        children_under_2 v2024.1 NSAF person [commune_chief] -> nsaf: 3 questions, rules ["under_24_months", "idpoor_household", "alive"]
        idpoor v2024.1 MoP household [commune_chief] -> mop: 22 questions, rules ["answered"]
    "#]].assert_eq(&summary);
}

#[test]
fn levels_follow_the_programs() {
    for code in CODES {
        let expected = if matches!(*code, "family_base" | "idpoor") {
            Level::Household
        } else {
            Level::Person
        };
        assert_eq!(load(code).level, expected, "{code}");
    }
}

/// The lead's acceptance household: a grandmother of 67 with a disability and her pregnant daughter, IDPoor 1.
#[test]
fn acceptance_household() {
    let grandmother = [
        ("age", Value::Integer(67)),
        ("age_months", Value::Integer(67 * 12 + 3)),
        ("sex", text("female")),
        ("is_head", Value::Bool(true)),
        ("household_size", Value::Integer(4)),
        ("idpoor_status", text("idpoor1")),
        ("children_under_2", Value::Integer(0)),
        ("deceased", Value::Bool(false)),
    ];
    let daughter = [
        ("age", Value::Integer(29)),
        ("age_months", Value::Integer(29 * 12)),
        ("sex", text("female")),
        ("is_head", Value::Bool(false)),
        ("household_size", Value::Integer(4)),
        ("idpoor_status", text("idpoor1")),
        ("children_under_2", Value::Integer(0)),
        ("deceased", Value::Bool(false)),
    ];
    check(
        "elderly",
        &grandmother,
        &[],
        expect![[r#"
        eligible: true
          yes Aged 60 or over / អាយុ ៦០ ឆ្នាំឡើងទៅ
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "disability",
        &grandmother,
        &[
            ("disability_card", text("yes")),
            ("difficulties", text("walking seeing")),
        ],
        expect![[r#"
        eligible: true
          yes Identified as a person with a disability (holds a MoSVY disability card) / ត្រូវបានកំណត់អត្តសញ្ញាណជាជនមានពិការភាព (មានប័ណ្ណសម្គាល់ពីក្រសួងសង្គមកិច្ច)
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "pregnant_women",
        &daughter,
        &[
            ("pregnant", text("yes")),
            ("pregnancy_months", Value::Integer(5)),
        ],
        expect![[r#"
        eligible: true
          yes A woman / ជាស្ត្រី
          yes Pregnant / មានផ្ទៃពោះ
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "family_base",
        &[
            ("idpoor_status", text("idpoor1")),
            ("household_size", Value::Integer(4)),
        ],
        &[],
        expect![[r#"
        eligible: true
          yes IDPoor household (Poor Level 1 or 2) / គ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
    "#]],
    );
    // And the why-nots: the daughter is too young for elderly; the grandmother is not pregnant.
    check(
        "elderly",
        &daughter,
        &[],
        expect![[r#"
        eligible: false
          NO  Aged 60 or over / អាយុ ៦០ ឆ្នាំឡើងទៅ
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "pregnant_women",
        &grandmother,
        &[("pregnant", text("no"))],
        expect![[r#"
        eligible: false
          yes A woman / ជាស្ត្រី
          NO  Pregnant / មានផ្ទៃពោះ
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
}

#[test]
fn why_not() {
    // A non-poor man of 70 and a man asked about pregnancy.
    let man = [
        ("age", Value::Integer(70)),
        ("sex", text("male")),
        ("idpoor_status", text("non_poor")),
    ];
    check(
        "elderly",
        &man,
        &[],
        expect![[r#"
        eligible: false
          yes Aged 60 or over / អាយុ ៦០ ឆ្នាំឡើងទៅ
          NO  Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "pregnant_women",
        &man,
        &[("pregnant", text("yes"))],
        expect![[r#"
        eligible: false
          problem pregnant: Answered, but this question does not apply given the other answers
          NO  A woman / ជាស្ត្រី
          NO  Pregnant / មានផ្ទៃពោះ
          NO  Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "disability",
        &man,
        &[("disability_card", text("no"))],
        expect![[r#"
        eligible: false
          NO  Identified as a person with a disability (holds a MoSVY disability card) / ត្រូវបានកំណត់អត្តសញ្ញាណជាជនមានពិការភាព (មានប័ណ្ណសម្គាល់ពីក្រសួងសង្គមកិច្ច)
          NO  Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    // A birth at home four months ago.
    let mother = [("sex", text("female")), ("idpoor_status", text("idpoor2"))];
    check(
        "childbirth",
        &mother,
        &[
            ("delivery_date", text("2024-11-01")),
            ("delivery_place", text("home")),
        ],
        expect![[r#"
            eligible: false
              yes A woman / ជាស្ត្រី
              NO  Gave birth at a public health facility / បានសម្រាលកូននៅមូលដ្ឋានសុខាភិបាលសាធារណៈ
              NO  Gave birth in the last 90 days / បានសម្រាលកូនក្នុងរយៈពេល ៩០ ថ្ងៃចុងក្រោយ
              yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
              yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
        "#]],
    );
    check(
        "childbirth",
        &mother,
        &[
            ("delivery_date", text("2025-02-10")),
            ("delivery_place", text("health_centre")),
            ("babies", Value::Integer(2)),
        ],
        expect![[r#"
            eligible: true
              yes A woman / ជាស្ត្រី
              yes Gave birth at a public health facility / បានសម្រាលកូននៅមូលដ្ឋានសុខាភិបាលសាធារណៈ
              yes Gave birth in the last 90 days / បានសម្រាលកូនក្នុងរយៈពេល ៩០ ថ្ងៃចុងក្រោយ
              yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
              yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
        "#]],
    );
    check(
        "children_under_2",
        &[
            ("age_months", Value::Integer(24)),
            ("idpoor_status", text("idpoor1")),
        ],
        &[],
        expect![[r#"
        eligible: false
          NO  Younger than 24 months / អាយុក្រោម ២៤ ខែ
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "children_under_2",
        &[
            ("age_months", Value::Integer(23)),
            ("idpoor_status", text("idpoor1")),
        ],
        &[],
        expect![[r#"
        eligible: true
          yes Younger than 24 months / អាយុក្រោម ២៤ ខែ
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          yes Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
    check(
        "family_base",
        &[("idpoor_status", text("at_risk"))],
        &[],
        expect![[r#"
        eligible: false
          NO  IDPoor household (Poor Level 1 or 2) / គ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
    "#]],
    );
    check(
        "elderly",
        &[
            ("age", Value::Integer(75)),
            ("idpoor_status", text("idpoor1")),
            ("deceased", Value::Bool(true)),
        ],
        &[],
        expect![[r#"
        eligible: false
          yes Aged 60 or over / អាយុ ៦០ ឆ្នាំឡើងទៅ
          yes Member of an IDPoor household (Poor Level 1 or 2) / សមាជិកគ្រួសារក្រីក្រ (IDPoor កម្រិត ១ ឬ ២)
          NO  Alive (not recorded as deceased) / នៅរស់ (មិនបានកត់ត្រាថាស្លាប់)
    "#]],
    );
}

/// Answers for the IDPoor questionnaire: a well-off household, with the named answers replaced.
fn idpoor_answers(changes: &[(&str, &str)]) -> BTreeMap<String, Value> {
    let mut answers: BTreeMap<String, Value> = [
        ("roof", "concrete"),
        ("walls", "brick"),
        ("house_area", "100"),
        ("toilet", "flush"),
        ("water", "piped"),
        ("light", "grid"),
        ("assets", "car motorbike"),
        ("agricultural_land", "5"),
        ("main_income", "salary"),
        ("earners", "2"),
        ("dependants", "0"),
        ("crisis", "no"),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), text(value)))
    .collect();
    for (name, value) in changes {
        answers.insert((*name).to_owned(), text(value));
    }
    answers
}

#[test]
fn idpoor_scoring_boundaries() {
    let definition = load("idpoor");
    let poorest_housing = [
        ("roof", "thatch"),
        ("walls", "thatch"),
        ("house_area", "8"),
        ("toilet", "none"),
        ("water", "surface"),
    ];
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("well off", vec![]),
        ("poorest", {
            let mut all = poorest_housing.to_vec();
            all.extend([
                ("light", "none"),
                ("assets", ""),
                ("agricultural_land", "0"),
                ("main_income", "casual_labour"),
                ("earners", "0"),
                ("dependants", "4"),
                ("crisis", "yes"),
            ]);
            all
        }),
        ("45", {
            let mut all = poorest_housing.to_vec();
            all.extend([
                ("light", "none"),
                ("assets", ""),
                ("agricultural_land", "0.7"),
            ]);
            all
        }),
        ("44", {
            let mut all = poorest_housing.to_vec();
            all.extend([
                ("water", "unprotected_well"),
                ("light", "none"),
                ("assets", ""),
                ("agricultural_land", "0.7"),
            ]);
            all
        }),
        ("35", {
            let mut all = poorest_housing.to_vec();
            all.extend([
                ("assets", "motorbike tv fridge"),
                ("agricultural_land", "1.5"),
                ("main_income", "remittances"),
                ("earners", "1"),
            ]);
            all
        }),
        ("34", {
            let mut all = poorest_housing.to_vec();
            all.extend([
                ("water", "unprotected_well"),
                ("assets", "motorbike tv fridge"),
                ("agricultural_land", "1.5"),
                ("main_income", "remittances"),
                ("earners", "1"),
            ]);
            all
        }),
        ("28", {
            let mut all = poorest_housing.to_vec();
            all.extend([("assets", "motorbike tv fridge")]);
            all
        }),
        ("27", {
            let mut all = poorest_housing.to_vec();
            all.extend([
                ("water", "unprotected_well"),
                ("assets", "motorbike tv fridge"),
            ]);
            all
        }),
    ];
    let mut actual = String::new();
    for (name, changes) in cases {
        let inputs = Inputs {
            answers: idpoor_answers(&changes),
            context: BTreeMap::from([("household_size".to_owned(), Value::Integer(4))]),
            today: today(),
        };
        let evaluation = definition.evaluate(&inputs);
        assert!(
            evaluation.problems.is_empty(),
            "{name}: {:?}",
            evaluation.problems
        );
        actual.push_str(&format!(
            "{name}: score {:?} status {:?} eligible {}\n",
            evaluation.score, evaluation.status, evaluation.eligible
        ));
    }
    expect![[r#"
        well off: score Some(0.0) status Some("non_poor") eligible true
        poorest: score Some(74.0) status Some("idpoor1") eligible true
        45: score Some(45.0) status Some("idpoor1") eligible true
        44: score Some(44.0) status Some("idpoor2") eligible true
        35: score Some(35.0) status Some("idpoor2") eligible true
        34: score Some(34.0) status Some("at_risk") eligible true
        28: score Some(28.0) status Some("at_risk") eligible true
        27: score Some(27.0) status Some("non_poor") eligible true
    "#]]
    .assert_eq(&actual);
}

#[test]
fn idpoor_with_missing_answers_reports_them_and_gives_no_score() {
    let definition = load("idpoor");
    let evaluation = definition.evaluate(&inputs(
        &[("household_size", Value::Integer(3))],
        &[("roof", text("tiles"))],
    ));
    expect![[r#"
        score None status None
        eligible: false
          problem walls: This question is required
          problem house_area: This question is required
          problem toilet: This question is required
          problem water: This question is required
          problem light: This question is required
          problem agricultural_land: This question is required
          problem main_income: This question is required
          problem earners: This question is required
          problem dependants: This question is required
          problem crisis: This question is required
          yes The household answered the questionnaire / គ្រួសារបានឆ្លើយកម្រងសំណួរ
    "#]]
    .assert_eq(&format!(
        "score {:?} status {:?}\n{}",
        evaluation.score,
        evaluation.status,
        render(&evaluation)
    ));
}

/// What a portal reads to render a form: names, types, labels, choices, required, relevance as written.
#[test]
fn questions_for_a_portal() {
    let definition = load("pregnant_women");
    let mut actual = format!("{} / {}\n", definition.title.en, definition.title.km);
    for question in definition.questions() {
        actual.push_str(&format!(
            "{} [{}{}] {} / {}{}\n",
            question.name,
            question.kind.type_text(),
            if question.required { ", required" } else { "" },
            question.label.en,
            question.label.km,
            question
                .relevant
                .as_ref()
                .map(|relevant| format!(" (if {})", relevant.text))
                .unwrap_or_default(),
        ));
        if let Some(choices) = question
            .kind
            .list()
            .and_then(|list| definition.choices(list))
        {
            for choice in choices {
                actual.push_str(&format!(
                    "    {}: {} / {}\n",
                    choice.name, choice.label.en, choice.label.km
                ));
            }
        }
    }
    expect![[r#"
        Family Package: cash transfer for pregnant women / កញ្ចប់គ្រួសារ៖ ការឧបត្ថម្ភសាច់ប្រាក់សម្រាប់ស្ត្រីមានផ្ទៃពោះ
        pregnant [select_one yes_no, required] Is the woman pregnant? / តើស្ត្រីនេះមានផ្ទៃពោះដែរឬទេ? (if ${sex} = 'female')
            yes: Yes / បាទ/ចាស
            no: No / ទេ
        pregnancy_months [integer, required] Months of pregnancy / អាយុគភ៌ (ខែ) (if ${pregnant} = 'yes')
        anc_visits [integer] Antenatal care visits so far / ចំនួនដងនៃការពិនិត្យផ្ទៃពោះរហូតមកដល់ពេលនេះ (if ${pregnant} = 'yes')
        health_centre [text] Health centre where the pregnancy is registered / មណ្ឌលសុខភាពដែលបានចុះឈ្មោះផ្ទៃពោះ (if ${pregnant} = 'yes')
        payment_phone [text] Mobile phone number for payment (optional) / លេខទូរស័ព្ទសម្រាប់ទទួលប្រាក់ (ស្រេចចិត្ត)
    "#]].assert_eq(&actual);
}
