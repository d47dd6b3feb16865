//! Evaluating a set of answers against a definition: relevance, calculations, required answers, constraints,
//! choice filters, eligibility rules, score and status.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::definition::{Choice, ProgramDefinition, Question, QuestionKind, parse_answer};
use crate::error::AnswerProblem;
use crate::expr::Scope;
use crate::sheet::normalize_header;
use crate::value::Value;
use crate::{ContextKind, Inputs, Localized, context_var};

/// The outcome of evaluating one set of answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Relevant, non-empty answers (typed) and calculated values, by name.
    pub values: BTreeMap<String, Value>,
    /// Everything wrong with the answers; empty when the form is complete and consistent.
    pub problems: Vec<AnswerProblem>,
    /// Every rule passed and there are no problems.
    pub eligible: bool,
    /// Each eligibility rule with whether it held: the reasons why and why not.
    pub rules: Vec<RuleOutcome>,
    /// The value of the definition's `score_field`, when it is a number and there are no problems.
    pub score: Option<f64>,
    /// The value of the definition's `status_field`, when it is not empty and there are no problems.
    pub status: Option<String>,
}

/// One eligibility rule's outcome, with the rule's own explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOutcome {
    pub name: String,
    pub passed: bool,
    pub label: Localized,
}

/// Generic answer messages in English and Khmer.
pub(crate) mod messages {
    use crate::Localized;

    pub fn required() -> Localized {
        Localized::new("This question is required", "សំណួរនេះត្រូវតែឆ្លើយ")
    }
    pub fn constraint() -> Localized {
        Localized::new("This answer is not allowed", "ចម្លើយនេះមិនត្រូវបានអនុញ្ញាតទេ")
    }
    pub fn unknown_field() -> Localized {
        Localized::new(
            "There is no such question in this form",
            "មិនមានសំណួរនេះក្នុងទម្រង់នេះទេ",
        )
    }
    pub fn not_answerable() -> Localized {
        Localized::new(
            "This is calculated or shown by the form and cannot be answered",
            "ផ្នែកនេះគណនា ឬបង្ហាញដោយទម្រង់ មិនអាចឆ្លើយបានទេ",
        )
    }
    pub fn not_relevant() -> Localized {
        Localized::new(
            "Answered, but this question does not apply given the other answers",
            "បានឆ្លើយ ប៉ុន្តែសំណួរនេះមិនពាក់ព័ន្ធទេ តាមចម្លើយផ្សេងទៀត",
        )
    }
    pub fn not_integer(text: &str) -> Localized {
        Localized {
            en: format!("'{text}' is not a whole number"),
            km: format!("'{text}' មិនមែនជាចំនួនគត់ទេ"),
        }
    }
    pub fn not_number(text: &str) -> Localized {
        Localized {
            en: format!("'{text}' is not a number"),
            km: format!("'{text}' មិនមែនជាលេខទេ"),
        }
    }
    pub fn not_date(text: &str) -> Localized {
        Localized {
            en: format!("'{text}' is not a date written YYYY-MM-DD"),
            km: format!("'{text}' មិនមែនជាកាលបរិច្ឆេទ (YYYY-MM-DD) ទេ"),
        }
    }
    pub fn not_a_choice(text: &str) -> Localized {
        Localized {
            en: format!("'{text}' is not one of the choices"),
            km: format!("'{text}' មិនមែនជាជម្រើសមួយក្នុងបញ្ជីទេ"),
        }
    }
    pub fn not_offered(text: &str) -> Localized {
        Localized {
            en: format!("'{text}' is not offered given the other answers"),
            km: format!("'{text}' មិនអាចជ្រើសរើសបានទេ តាមចម្លើយផ្សេងទៀត"),
        }
    }
    pub fn not_acknowledged() -> Localized {
        Localized::new("Acknowledge with OK", "សូមទទួលស្គាល់ដោយ OK")
    }
    pub fn wrong_type(expected: &str) -> Localized {
        Localized {
            en: format!("Expected {expected}"),
            km: format!("ត្រូវការ {expected}"),
        }
    }
    pub fn unknown_context() -> Localized {
        Localized::new(
            "Not a context fact the platform supplies",
            "មិនមែនជាព័ត៌មានបរិបទដែលប្រព័ន្ធផ្តល់ទេ",
        )
    }
}

/// Reads a typed answer as the value the question's type calls for; text goes through [`parse_answer`] so that
/// callers may pass strings.
fn coerce_answer(
    kind: &QuestionKind,
    choices: &[Choice],
    value: &Value,
) -> Result<Value, Localized> {
    let expected = || messages::wrong_type(&kind.type_text());
    match (kind, value) {
        (_, Value::Empty) => Ok(Value::Empty),
        (_, Value::Text(text)) => parse_answer(kind, choices, text),
        (QuestionKind::Integer, Value::Integer(_)) | (QuestionKind::Date, Value::Date(_)) => {
            Ok(value.clone())
        }
        (QuestionKind::Integer, Value::Decimal(number)) => {
            if number.fract() == 0.0 && number.abs() < 9.0e18 {
                Ok(Value::Integer(*number as i64))
            } else {
                Err(messages::not_integer(&value.to_text()))
            }
        }
        (QuestionKind::Decimal, Value::Integer(number)) => Ok(Value::Decimal(*number as f64)),
        (QuestionKind::Decimal, Value::Decimal(number)) => {
            if number.is_finite() {
                Ok(value.clone())
            } else {
                Err(messages::not_number(&value.to_text()))
            }
        }
        (
            QuestionKind::Text | QuestionKind::SelectOne { .. },
            Value::Integer(_) | Value::Decimal(_) | Value::Date(_),
        ) => parse_answer(kind, choices, &value.to_text()),
        (QuestionKind::Acknowledge, Value::Bool(true)) => Ok(Value::Text("OK".to_owned())),
        (QuestionKind::Acknowledge, Value::Bool(false)) => Ok(Value::Empty),
        (
            QuestionKind::SelectMultiple { .. } | QuestionKind::SelectOne { .. },
            Value::Choices(names),
        ) => {
            if matches!(kind, QuestionKind::SelectOne { .. }) && names.len() > 1 {
                return Err(expected());
            }
            parse_answer(kind, choices, &names.join(" "))
        }
        _ => Err(expected()),
    }
}

fn context_matches(kind: ContextKind, value: &Value) -> bool {
    matches!(
        (kind, value),
        (_, Value::Empty)
            | (ContextKind::Integer, Value::Integer(_))
            | (ContextKind::Text, Value::Text(_))
            | (ContextKind::Bool, Value::Bool(_))
    )
}

struct Environment<'a> {
    definition: &'a ProgramDefinition,
    values: &'a BTreeMap<String, Value>,
    current: Option<&'a Value>,
    choice: Option<&'a Choice>,
    today: NaiveDate,
}

impl Scope for Environment<'_> {
    fn value(&self, name: &str) -> Value {
        self.values.get(name).cloned().unwrap_or(Value::Empty)
    }

    fn current(&self) -> Value {
        self.current.cloned().unwrap_or(Value::Empty)
    }

    fn column(&self, name: &str) -> Value {
        let Some(choice) = self.choice else {
            return Value::Empty;
        };
        if name == "name" {
            return Value::Text(choice.name.clone());
        }
        choice
            .columns
            .iter()
            .find(|(header, _)| normalize_header(header) == normalize_header(name))
            .map_or(Value::Empty, |(_, text)| Value::Text(text.clone()))
    }

    fn today(&self) -> NaiveDate {
        self.today
    }

    fn choice_score(&self, name: &str) -> f64 {
        let Some(question) = self.definition.question(name) else {
            return 0.0;
        };
        let Some(choices) = question
            .kind
            .list()
            .and_then(|list| self.definition.choices(list))
        else {
            return 0.0;
        };
        self.value(name)
            .to_choices()
            .iter()
            .filter_map(|selected| choices.iter().find(|choice| &choice.name == selected))
            .map(|choice| choice.score.unwrap_or(0.0))
            .sum()
    }
}

impl ProgramDefinition {
    fn list_choices(&self, question: &Question) -> &[Choice] {
        question
            .kind
            .list()
            .and_then(|list| self.choices(list))
            .unwrap_or(&[])
    }

    /// Evaluates answers and context: which questions apply, what the calculations give, what is wrong with the
    /// answers, and whether (and why or why not) the eligibility rules hold.
    pub fn evaluate(&self, inputs: &Inputs) -> Evaluation {
        let mut problems: Vec<AnswerProblem> = Vec::new();
        let mut environment_values: BTreeMap<String, Value> = BTreeMap::new();
        for (name, value) in &inputs.context {
            match context_var(name) {
                None => problems.push(AnswerProblem {
                    field: name.clone(),
                    message: messages::unknown_context(),
                }),
                Some(var) if !context_matches(var.kind, value) => {
                    let kind = match var.kind {
                        ContextKind::Integer => "integer",
                        ContextKind::Text => "text",
                        ContextKind::Bool => "true/false",
                    };
                    problems.push(AnswerProblem {
                        field: name.clone(),
                        message: messages::wrong_type(kind),
                    });
                }
                Some(_) => {
                    environment_values.insert(name.clone(), value.clone());
                }
            }
        }

        // Answers read as their questions' types; a bad answer is reported once and then treated as unanswered.
        let mut answers: BTreeMap<&str, Value> = BTreeMap::new();
        let mut bad: BTreeSet<&str> = BTreeSet::new();
        for (name, value) in &inputs.answers {
            let Some(question) = self.question(name) else {
                problems.push(AnswerProblem {
                    field: name.clone(),
                    message: messages::unknown_field(),
                });
                continue;
            };
            if !question.kind.is_answerable() {
                if !value.is_empty() {
                    problems.push(AnswerProblem {
                        field: name.clone(),
                        message: messages::not_answerable(),
                    });
                }
                continue;
            }
            match coerce_answer(&question.kind, self.list_choices(question), value) {
                Ok(value) => {
                    answers.insert(question.name.as_str(), value);
                }
                Err(message) => {
                    problems.push(AnswerProblem {
                        field: name.clone(),
                        message,
                    });
                    bad.insert(question.name.as_str());
                }
            }
        }

        let mut relevant: BTreeSet<&str> = BTreeSet::new();
        for question in self.evaluation_order() {
            let environment = Environment {
                definition: self,
                values: &environment_values,
                current: None,
                choice: None,
                today: inputs.today,
            };
            let applies = question
                .conditions
                .iter()
                .all(|condition| condition.evaluate(&environment).to_bool());
            let name = question.name.as_str();
            if !applies {
                if answers.get(name).is_some_and(|value| !value.is_empty()) {
                    problems.push(AnswerProblem {
                        field: name.to_owned(),
                        message: messages::not_relevant(),
                    });
                }
                environment_values.insert(name.to_owned(), Value::Empty);
                continue;
            }
            relevant.insert(name);
            let value = match &question.kind {
                QuestionKind::Calculate => {
                    let result = question
                        .calculation
                        .as_ref()
                        .map_or(Value::Empty, |calculation| {
                            calculation.tree.evaluate(&environment)
                        });
                    if result.is_empty() {
                        Value::Empty
                    } else {
                        result
                    }
                }
                QuestionKind::Note => Value::Empty,
                _ => match answers.get(name) {
                    Some(value) => value.clone(),
                    None if bad.contains(name) => Value::Empty,
                    None => question.default.clone().unwrap_or(Value::Empty),
                },
            };
            if question.required && value.is_empty() && !bad.contains(name) {
                let message = question
                    .required_message
                    .clone()
                    .unwrap_or_else(messages::required);
                problems.push(AnswerProblem {
                    field: name.to_owned(),
                    message,
                });
            }
            environment_values.insert(name.to_owned(), value);
        }

        for question in self.questions() {
            let name = question.name.as_str();
            let value = environment_values
                .get(name)
                .cloned()
                .unwrap_or(Value::Empty);
            if !relevant.contains(name) || value.is_empty() {
                continue;
            }
            if let Some(constraint) = &question.constraint {
                let environment = Environment {
                    definition: self,
                    values: &environment_values,
                    current: Some(&value),
                    choice: None,
                    today: inputs.today,
                };
                if !constraint.tree.evaluate(&environment).to_bool() {
                    let message = question
                        .constraint_message
                        .clone()
                        .unwrap_or_else(messages::constraint);
                    problems.push(AnswerProblem {
                        field: name.to_owned(),
                        message,
                    });
                }
            }
            if let Some(filter) = &question.choice_filter {
                for selected in value.to_choices() {
                    let choice = self
                        .list_choices(question)
                        .iter()
                        .find(|choice| choice.name == selected);
                    let environment = Environment {
                        definition: self,
                        values: &environment_values,
                        current: None,
                        choice,
                        today: inputs.today,
                    };
                    if choice.is_some() && !filter.tree.evaluate(&environment).to_bool() {
                        problems.push(AnswerProblem {
                            field: name.to_owned(),
                            message: messages::not_offered(&selected),
                        });
                    }
                }
            }
        }

        let environment = Environment {
            definition: self,
            values: &environment_values,
            current: None,
            choice: None,
            today: inputs.today,
        };
        let rules: Vec<RuleOutcome> = self
            .rules()
            .iter()
            .map(|rule| RuleOutcome {
                name: rule.name.clone(),
                passed: rule.rule.tree.evaluate(&environment).to_bool(),
                label: rule.label.clone(),
            })
            .collect();
        let score = self
            .score_field
            .as_ref()
            .map(|field| environment.value(field).to_number())
            .filter(|score| score.is_finite());
        let status = self
            .status_field
            .as_ref()
            .map(|field| environment.value(field).to_text())
            .filter(|status| !status.is_empty());

        // Problems in the order of the form, then those about names the form does not know.
        let position = |field: &str| {
            self.questions()
                .iter()
                .position(|question| question.name == field)
                .unwrap_or(usize::MAX)
        };
        problems.sort_by_key(|problem| position(&problem.field));
        let values: BTreeMap<String, Value> = self
            .questions()
            .iter()
            .filter(|question| relevant.contains(question.name.as_str()))
            .filter_map(|question| {
                let value = environment_values.get(&question.name)?;
                (!value.is_empty()).then(|| (question.name.clone(), value.clone()))
            })
            .collect();
        let eligible = problems.is_empty() && rules.iter().all(|rule| rule.passed);
        // A score over an incomplete or inconsistent questionnaire would be a wrong score, not a partial one.
        let (score, status) = if problems.is_empty() {
            (score, status)
        } else {
            (None, None)
        };
        Evaluation {
            values,
            problems,
            eligible,
            rules,
            score,
            status,
        }
    }
}
