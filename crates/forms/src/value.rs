//! Typed values of answers, context facts and expression results, with the XPath-like coercions between them.

use std::fmt;

use chrono::NaiveDate;

/// An answer, a context fact or the result of an expression.
///
/// `Decimal(NaN)` is what XPath calls NaN: the number of an empty or non-numeric value. It never appears in
/// [`crate::Evaluation::values`], where a NaN result is stored as `Empty`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Empty,
    Text(String),
    Integer(i64),
    Decimal(f64),
    Date(NaiveDate),
    Bool(bool),
    /// The answer to a `select_multiple`: choice names in the order given.
    Choices(Vec<String>),
}

/// The day XPath/ODK counts dates from: `date(0)` is 1970-01-01.
pub(crate) fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)
}

impl Value {
    /// True for `Empty`, an empty text and an empty selection: what ODK treats as "not answered".
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Empty => true,
            Value::Text(text) => text.is_empty(),
            Value::Choices(choices) => choices.is_empty(),
            Value::Decimal(number) => number.is_nan(),
            Value::Integer(_) | Value::Date(_) | Value::Bool(_) => false,
        }
    }

    /// XPath `number()`: empty and non-numeric text are NaN, dates count days since 1970-01-01, booleans 1 and 0.
    pub fn to_number(&self) -> f64 {
        match self {
            Value::Empty => f64::NAN,
            Value::Text(text) => parse_number(text),
            Value::Integer(number) => *number as f64,
            Value::Decimal(number) => *number,
            Value::Date(date) => (*date - epoch()).num_days() as f64,
            Value::Bool(flag) => f64::from(u8::from(*flag)),
            Value::Choices(choices) => parse_number(&choices.join(" ")),
        }
    }

    /// XPath `string()`: numbers without a needless `.0`, dates as `YYYY-MM-DD`, selections space-separated.
    pub fn to_text(&self) -> String {
        match self {
            Value::Empty => String::new(),
            Value::Text(text) => text.clone(),
            Value::Integer(number) => number.to_string(),
            Value::Decimal(number) => format_decimal(*number),
            Value::Date(date) => date.format("%Y-%m-%d").to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Choices(choices) => choices.join(" "),
        }
    }

    /// XPath `boolean()`: empty, zero and NaN are false; any text, date or selection that is not empty is true.
    pub fn to_bool(&self) -> bool {
        match self {
            Value::Empty => false,
            Value::Text(text) => !text.is_empty(),
            Value::Integer(number) => *number != 0,
            Value::Decimal(number) => *number != 0.0 && !number.is_nan(),
            Value::Date(_) => true,
            Value::Bool(flag) => *flag,
            Value::Choices(choices) => !choices.is_empty(),
        }
    }

    /// A date from a date, a `YYYY-MM-DD` text, or a number of days since 1970-01-01 (fractions dropped).
    pub fn to_date(&self) -> Option<NaiveDate> {
        match self {
            Value::Date(date) => Some(*date),
            Value::Text(text) => parse_date(text),
            Value::Integer(_) | Value::Decimal(_) => {
                let days = self.to_number();
                if !days.is_finite() || days.abs() > 10_000_000.0 {
                    return None;
                }
                epoch().checked_add_signed(chrono::Duration::days(days.floor() as i64))
            }
            Value::Empty | Value::Bool(_) | Value::Choices(_) => None,
        }
    }

    /// The selected choice names: a selection as is, a text split on whitespace (XPath's space-separated list).
    pub fn to_choices(&self) -> Vec<String> {
        match self {
            Value::Choices(choices) => choices.clone(),
            other => other
                .to_text()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }

    pub(crate) fn is_number(&self) -> bool {
        matches!(self, Value::Integer(_) | Value::Decimal(_))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_text())
    }
}

/// XPath number parsing: optional sign, digits with an optional fraction, surrounding whitespace allowed.
pub(crate) fn parse_number(text: &str) -> f64 {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix('-').unwrap_or(trimmed);
    let well_formed = !digits.is_empty()
        && digits
            .chars()
            .all(|character| character.is_ascii_digit() || character == '.')
        && digits.chars().filter(|character| *character == '.').count() <= 1
        && digits != ".";
    if !well_formed {
        return f64::NAN;
    }
    trimmed.parse::<f64>().unwrap_or(f64::NAN)
}

/// A strict `YYYY-MM-DD` date (ODK's date answer format).
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let trimmed = text.trim();
    if trimmed.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").ok()
}

/// A decimal as XPath prints it: `5` not `5.0`, `NaN`, `Infinity`.
pub(crate) fn format_decimal(number: f64) -> String {
    if number.is_nan() {
        "NaN".to_owned()
    } else if number.is_infinite() {
        if number > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        }
    } else if number == number.trunc() && number.abs() < 1e15 {
        format!("{}", number as i64)
    } else {
        format!("{number}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coercions_follow_xpath() {
        assert!(Value::Empty.to_number().is_nan());
        assert_eq!(Value::Text(" 12 ".into()).to_number(), 12.0);
        assert!(Value::Text("12a".into()).to_number().is_nan());
        assert!(Value::Text("1e5".into()).to_number().is_nan());
        assert_eq!(Value::Decimal(5.0).to_text(), "5");
        assert_eq!(Value::Decimal(2.5).to_text(), "2.5");
        assert_eq!(
            Value::Choices(vec!["a".into(), "b".into()]).to_text(),
            "a b"
        );
        assert!(!Value::Decimal(f64::NAN).to_bool());
        assert_eq!(
            Value::Integer(1).to_date(),
            NaiveDate::from_ymd_opt(1970, 1, 2)
        );
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("2024-2-3"), None);
    }
}
