//! Program definitions as XLSForm: parse a program's questionnaire, eligibility rules, approval chain and delivery
//! endpoint from a workbook (`.xlsx` or pyxform's single-CSV layout), and evaluate a set of answers against it.
//!
//! Pure: no IO, no async. The file format is documented in `docs/program-definitions.md`.

mod definition;
mod error;
mod evaluate;
mod expr;
mod sheet;
mod value;

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;

pub use definition::{Choice, Expression, Group, ProgramDefinition, Question, QuestionKind, Rule};
pub use error::{AnswerProblem, DefinitionError, DefinitionProblem};
pub use evaluate::{Evaluation, RuleOutcome};
pub use expr::{BinaryOp, Expr, Function, Scope, SyntaxError};
pub use value::Value;

/// Parses a program definition from the bytes of an `.xlsx` workbook.
pub fn parse_xlsx(bytes: &[u8]) -> Result<ProgramDefinition, DefinitionError> {
    let sheets = sheet::read_xlsx(bytes).map_err(|problems| DefinitionError { problems })?;
    definition::build(&sheets)
}

/// Parses a program definition from pyxform's single-CSV layout (see `docs/program-definitions.md`).
pub fn parse_csv(text: &str) -> Result<ProgramDefinition, DefinitionError> {
    let sheets = sheet::read_csv(text).map_err(|problems| DefinitionError { problems })?;
    definition::build(&sheets)
}

/// The definitions shipped in `programs/` at the repository root, embedded at compile time as (code, CSV text),
/// for a platform that starts with them. Operators' newer versions arrive as files and go through `parse_csv` or
/// `parse_xlsx` the same way.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "family_base",
        include_str!("../../../programs/family_base.csv"),
    ),
    ("elderly", include_str!("../../../programs/elderly.csv")),
    (
        "disability",
        include_str!("../../../programs/disability.csv"),
    ),
    (
        "pregnant_women",
        include_str!("../../../programs/pregnant_women.csv"),
    ),
    (
        "childbirth",
        include_str!("../../../programs/childbirth.csv"),
    ),
    (
        "children_under_2",
        include_str!("../../../programs/children_under_2.csv"),
    ),
    ("idpoor", include_str!("../../../programs/idpoor.csv")),
];

/// A text in English and Khmer. `km` falls back to `en` when a definition gives no Khmer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Localized {
    pub en: String,
    pub km: String,
}

impl Localized {
    pub fn new(en: &str, km: &str) -> Localized {
        Localized {
            en: en.to_owned(),
            km: km.to_owned(),
        }
    }
}

/// Whether a program enrols people one by one or whole households.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Person,
    Household,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Person => "person",
            Level::Household => "household",
        }
    }

    pub fn parse(text: &str) -> Option<Level> {
        match text.trim() {
            "person" => Some(Level::Person),
            "household" => Some(Level::Household),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One step of a program's approval chain: the role that must approve, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApprovalStep {
    CommuneChief,
    DistrictOfficer,
    ProvincialOfficer,
    ProgramOperator,
}

impl ApprovalStep {
    pub const ALL: &'static [ApprovalStep] = &[
        ApprovalStep::CommuneChief,
        ApprovalStep::DistrictOfficer,
        ApprovalStep::ProvincialOfficer,
        ApprovalStep::ProgramOperator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStep::CommuneChief => "commune_chief",
            ApprovalStep::DistrictOfficer => "district_officer",
            ApprovalStep::ProvincialOfficer => "provincial_officer",
            ApprovalStep::ProgramOperator => "program_operator",
        }
    }

    pub fn parse(text: &str) -> Option<ApprovalStep> {
        ApprovalStep::ALL
            .iter()
            .copied()
            .find(|step| step.as_str() == text.trim())
    }
}

impl fmt::Display for ApprovalStep {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The kind of value a context fact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextKind {
    Integer,
    Text,
    Bool,
}

/// A fact the platform supplies from the registry, referenced in expressions like a question: `${age}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextVar {
    pub name: &'static str,
    pub kind: ContextKind,
    pub description: &'static str,
}

/// The context facts every definition may reference. A survey row may not reuse one of these names.
pub const CONTEXT: &[ContextVar] = &[
    ContextVar {
        name: "age",
        kind: ContextKind::Integer,
        description: "the person's age in whole years on the evaluation date; empty if the birth date is unknown",
    },
    ContextVar {
        name: "age_months",
        kind: ContextKind::Integer,
        description: "the person's age in whole months on the evaluation date; empty if the birth date is unknown",
    },
    ContextVar {
        name: "sex",
        kind: ContextKind::Text,
        description: "the person's sex: 'male' or 'female'; empty if unknown",
    },
    ContextVar {
        name: "is_head",
        kind: ContextKind::Bool,
        description: "whether the person is the head of the household",
    },
    ContextVar {
        name: "household_size",
        kind: ContextKind::Integer,
        description: "the number of living members of the household",
    },
    ContextVar {
        name: "idpoor_status",
        kind: ContextKind::Text,
        description: "the household's IDPoor status: 'idpoor1', 'idpoor2', 'at_risk', 'non_poor', or empty when not assessed",
    },
    ContextVar {
        name: "children_under_2",
        kind: ContextKind::Integer,
        description: "the number of living household members younger than 24 months",
    },
    ContextVar {
        name: "deceased",
        kind: ContextKind::Bool,
        description: "whether the person is recorded as deceased",
    },
];

/// Looks up a context fact by name.
pub fn context_var(name: &str) -> Option<&'static ContextVar> {
    CONTEXT.iter().find(|var| var.name == name)
}

/// What an evaluation is given: the answers to the questionnaire, the registry's context facts and the date.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub answers: BTreeMap<String, Value>,
    pub context: BTreeMap<String, Value>,
    pub today: NaiveDate,
}

impl Inputs {
    pub fn new(today: NaiveDate) -> Inputs {
        Inputs {
            answers: BTreeMap::new(),
            context: BTreeMap::new(),
            today,
        }
    }
}
