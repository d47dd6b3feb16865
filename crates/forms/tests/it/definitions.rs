//! Definition problems: every kind, located by sheet, row and column, all reported at once.

use dspp_forms::parse_csv;
use expect_test::{Expect, expect};

/// A small valid definition; tests replace parts of it.
const VALID: &str = "\
settings
,form_id,version,form_title,operator,level,approval,delivery
,sample,1,Sample program,NSAF,person,commune_chief program_operator,nsaf
survey
,type,name,label,required,relevant,constraint,calculation
,select_one yes_no,member,Member?,yes,,,
,integer,months,Months,,${member} = 'yes',. >= 1 and . <= 9,
,calculate,double,,,,,${months} * 2
choices
,list_name,name,label
,yes_no,yes,Yes
,yes_no,no,No
eligibility
,name,rule,label
,is_member,${member} = 'yes',A member
";

/// Parses a definition and prints its summary or every problem.
fn check(input: &str, expect: Expect) {
    let actual = match parse_csv(input) {
        Ok(definition) => format!(
            "ok: {} v{} ({}, {}), {} questions, {} rules, approval {:?}",
            definition.code,
            definition.version,
            definition.operator,
            definition.level,
            definition.questions().len(),
            definition.rules().len(),
            definition
                .approval
                .iter()
                .map(|step| step.as_str())
                .collect::<Vec<_>>()
        ),
        Err(error) => error.to_string(),
    };
    expect.assert_eq(&actual);
}

fn replace(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from}");
    VALID.replace(from, to)
}

#[test]
fn the_valid_sample_parses() {
    check(
        VALID,
        expect![[
            r#"ok: sample v1 (NSAF, person), 3 questions, 1 rules, approval ["commune_chief", "program_operator"]"#
        ]],
    );
}

#[test]
fn settings_problems() {
    check(
        &replace(
            ",sample,1,Sample program,NSAF,person,commune_chief program_operator,nsaf",
            ",Sample Program,,Sample,NSAF,village,mayor commune_chief commune_chief,",
        ),
        expect![[r#"
            the program definition has 6 problems
              settings row 3 column version: version is required
              settings row 3 column delivery: delivery is required
              settings row 3 column form_id: 'Sample Program' is not a program code: use lower-case letters, digits and '_', starting with a letter
              settings row 3 column level: 'village' is not a level: write person or household
              settings row 3 column approval: 'mayor' is not an approval step; use commune_chief, district_officer, provincial_officer, program_operator
              settings row 3 column approval: approval step 'commune_chief' appears twice"#]],
    );
    check(
        &replace(
            ",form_id,version,form_title,operator,level,approval,delivery\n,sample,1,Sample program,NSAF,person,commune_chief program_operator,nsaf",
            ",form_id,version,form_title,level,approval\n,sample,1,Sample program,person,commune_chief",
        ),
        expect![[r#"
            the program definition has 2 problems
              settings row 2: the 'settings' sheet has no 'operator' column
              settings row 2: the 'settings' sheet has no 'delivery' column"#]],
    );
}

#[test]
fn missing_sheets_and_rules() {
    check(
        "survey\n,type,name,label\n,text,a,A\n",
        expect![[r#"
        the program definition has 2 problems
          the workbook has no 'settings' sheet
          the workbook has no 'eligibility' sheet"#]],
    );
    check(
        &replace(",is_member,${member} = 'yes',A member\n", ""),
        expect![[r#"
        the program definition has 1 problem
          eligibility: the eligibility sheet has no rules; a program needs at least one"#]],
    );
    check(
        ",text,a,A\n",
        expect![[r#"
        the program definition has 1 problem
          row 1: this row belongs to no sheet: a row whose first cell names the sheet (survey, choices, settings, eligibility) must come before it"#]],
    );
}

#[test]
fn survey_row_problems() {
    check(
        &replace(
            ",calculate,double,,,,,${months} * 2\n",
            ",geopoint,where,Where\n\
             ,begin_repeat,people,People\n\
             ,text,member,Again\n\
             ,text,age,Age\n\
             ,text,9lives,Nine\n\
             ,integer,no_label,,maybe\n\
             ,select_one colours,colour,Colour\n\
             ,select_one,bare,Bare\n\
             ,,untyped,Untyped\n\
             ,text,sum,Sum,,,,1 + 1\n\
             ,calculate,nothing\n\
             ,integer,dflt,Default,,,,,\n\
             ,end_group\n\
             ,begin_group,open,Open\n",
        ),
        expect![[r#"
            the program definition has 14 problems
              survey row 8 column type: type 'geopoint' is not supported; use one of: integer, decimal, text, date, select_one LIST, select_multiple LIST, calculate, note, acknowledge, begin_group, end_group
              survey row 9 column type: type 'begin_repeat' is not supported: repeats are not supported in program definitions (one application line is one person or one household; the platform supplies household facts as context)
              survey row 10 column name: name 'member' is used twice (first on row 6)
              survey row 11 column name: 'age' is a context fact the platform supplies; choose another name
              survey row 12 column name: '9lives' is not a valid name: start with a letter or '_', then letters, digits, '_', '-' or '.'
              survey row 13 column label: 'no_label' has no label
              survey row 13 column required: 'maybe' is not yes or no (write yes, no, true, false, 1 or 0)
              survey row 14 column type: choice list 'colours' does not exist in the choices sheet
              survey row 15 column type: type 'select_one' needs a choice list name, e.g. 'select_one yes_no'
              survey row 16 column type: row 'untyped' has no type
              survey row 17 column calculation: 'sum' is a text: only calculate rows have a calculation
              survey row 18 column calculation: calculate 'nothing' has no calculation
              survey row 20 column type: end_group without a begin_group before it
              survey row 21 column type: group 'open' is never closed with end_group"#]],
    );
}

#[test]
fn expression_problems() {
    check(
        &replace(
            ",calculate,double,,,,,${months} * 2\n",
            ",calculate,double,,,,,${months} * \n\
             ,calculate,unknown,,,,,${nobody} + 1\n\
             ,calculate,function,,,,,frobnicate(1)\n\
             ,calculate,arity,,,,,if(1)\n\
             ,calculate,dot,,,,,. + 1\n\
             ,calculate,bare,,,,,months + 1\n\
             ,integer,pattern,Pattern,,,\"regex(., '[')\"\n\
             ,begin_group,block,Block\n\
             ,calculate,group_ref,,,,,${block}\n\
             ,end_group\n",
        ),
        expect![[r#"
            the program definition has 8 problems
              survey row 8 column calculation: '${months} *' does not parse: expression ends too early (at character 12)
              survey row 9 column calculation: ${nobody} is not a question, a calculation or a context fact
              survey row 10 column calculation: 'frobnicate(1)' does not parse: unknown function 'frobnicate' (at character 1)
              survey row 11 column calculation: 'if(1)' does not parse: if() takes 3 argument(s), not 1 (at character 1)
              survey row 12 column calculation: '.' (the current answer) is only meaningful in a constraint
              survey row 13 column calculation: bare name 'months': write ${months} to refer to a question
              survey row 14 column constraint: regex pattern '[' is invalid: unclosed character class
              survey row 16 column calculation: ${block} is a group, which has no value"#]],
    );
}

#[test]
fn cycles_are_reported_once_with_their_path() {
    check(
        &replace(
            ",calculate,double,,,,,${months} * 2\n",
            ",calculate,double,,,,,${triple} * 2\n,calculate,triple,,,,,${double} * 3\n,integer,self,Self,,${self} > 1\n",
        ),
        expect![[r#"
            the program definition has 2 problems
              survey row 8 column calculation: these rows depend on each other in a cycle: double → triple → double
              survey row 10 column relevant: these rows depend on each other in a cycle: self → self"#]],
    );
}

#[test]
fn choices_and_eligibility_problems() {
    check(
        &replace(
            ",yes_no,no,No\n",
            ",yes_no,no,No\n,yes_no,yes,Yes again\n,yes_no,,Nameless\n,yes_no,not sure,Not sure\n,,orphan,Orphan\n,yes_no,maybe\n",
        )
        .replace(
            ",is_member,${member} = 'yes',A member\n",
            ",is_member,${member} = 'yes',A member\n,is_member,1 = 1,Again\n,unexplained,1 = 1,\n,empty,,Empty\n,broken,${member} =,Broken\n",
        ),
        expect![[r#"
            the program definition has 9 problems
              choices row 13 column name: choice 'yes' appears twice in list 'yes_no' (first on row 11)
              choices row 14 column name: a choice of list 'yes_no' has no name
              choices row 15 column name: choice name 'not sure' contains a space (select_multiple answers are space-separated)
              choices row 16 column list_name: list_name is empty
              choices row 17 column label: choice 'maybe' of list 'yes_no' has no label
              eligibility row 21 column name: rule 'is_member' appears twice (first on row 20)
              eligibility row 22 column label: rule 'unexplained' has no label explaining it
              eligibility row 23 column rule: rule 'empty' has no expression
              eligibility row 24 column rule: '${member} =' does not parse: expression ends too early (at character 12)"#]],
    );
}

#[test]
fn score_and_status_fields_must_be_calculations() {
    check(
        &replace(
            ",form_id,version,form_title,operator,level,approval,delivery\n,sample,1,Sample program,NSAF,person,commune_chief program_operator,nsaf",
            ",form_id,version,form_title,operator,level,approval,delivery,score_field,status_field\n,sample,1,Sample program,NSAF,person,commune_chief program_operator,nsaf,months,missing",
        ),
        expect![[r#"
            the program definition has 2 problems
              settings row 3 column score_field: 'months' is not the name of a calculate row in the survey
              settings row 3 column status_field: 'missing' is not the name of a calculate row in the survey"#]],
    );
}

#[test]
fn pyxform_layout_details() {
    // The sheet name may share its row with the header; blank rows are skipped; headers ignore case.
    let compact = "\
settings,form_id,version,operator,level,approval,delivery
,compact,2,MoP,household,program_operator,mop

SURVEY,Type,Name,Label::English (en),Label::Khmer (km)
,text,note_taker,Who took notes,អ្នកកត់ត្រា
eligibility,name,rule,label
,always,true(),Always
";
    check(
        compact,
        expect![[
            r#"ok: compact v2 (MoP, household), 1 questions, 1 rules, approval ["program_operator"]"#
        ]],
    );
}

#[test]
fn duplicate_columns_are_reported() {
    check(
        &replace(
            ",type,name,label,required,relevant,constraint,calculation",
            ",type,name,label,required,relevant,constraint,Relevant",
        ),
        expect![[r#"
            the program definition has 2 problems
              survey row 5 column Relevant: column 'Relevant' appears twice; only the first would be read
              survey row 8 column calculation: calculate 'double' has no calculation"#]],
    );
}
