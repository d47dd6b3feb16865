//! Problems: what is wrong with a definition file (all of it at once) and what is wrong with a set of answers.

use std::fmt;

use crate::Localized;

/// One thing wrong with a definition file, located as the person editing the spreadsheet sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionProblem {
    /// The sheet (`survey`, `choices`, `settings`, `eligibility`); empty for the file as a whole.
    pub sheet: String,
    /// The spreadsheet row (xlsx) or file line (CSV), 1-based; `None` for a sheet or the file as a whole.
    pub row: Option<u32>,
    /// The column header, when one column is at fault.
    pub column: Option<String>,
    pub message: String,
}

impl DefinitionProblem {
    pub(crate) fn file(message: String) -> DefinitionProblem {
        DefinitionProblem {
            sheet: String::new(),
            row: None,
            column: None,
            message,
        }
    }

    pub(crate) fn sheet(sheet: &str, message: String) -> DefinitionProblem {
        DefinitionProblem {
            sheet: sheet.to_owned(),
            row: None,
            column: None,
            message,
        }
    }

    pub(crate) fn at(
        sheet: &str,
        row: u32,
        column: Option<&str>,
        message: String,
    ) -> DefinitionProblem {
        DefinitionProblem {
            sheet: sheet.to_owned(),
            row: Some(row),
            column: column.map(str::to_owned),
            message,
        }
    }
}

impl fmt::Display for DefinitionProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.sheet.is_empty() {
            write!(formatter, "{}", self.sheet)?;
            if let Some(row) = self.row {
                write!(formatter, " row {row}")?;
            }
            if let Some(column) = &self.column {
                write!(formatter, " column {column}")?;
            }
            write!(formatter, ": ")?;
        } else if let Some(row) = self.row {
            write!(formatter, "row {row}: ")?;
        }
        write!(formatter, "{}", self.message)
    }
}

/// Every problem found in a definition file; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionError {
    pub problems: Vec<DefinitionProblem>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            formatter,
            "the program definition has {count} problem{}",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(formatter, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// One thing wrong with a set of answers, in words an officer can read in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerProblem {
    /// The question (or context fact) at fault.
    pub field: String,
    pub message: Localized,
}

impl fmt::Display for AnswerProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.field, self.message.en)
    }
}
