//! Birth dates as people know them: to the day, the month, the year, or not at all. Many elderly people
//! know only the year of their birth; recording "1950-01-01" for them would invent data and break
//! matching, so the precision is part of the value.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::DomainError;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DatePrecision {
    Day,
    Month,
    Year,
    Unknown,
}

/// A birth date with its precision. Invariant: the parts finer than `precision` are absent, and the
/// parts present form a real calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BirthDate {
    year: Option<u16>,
    month: Option<u8>,
    day: Option<u8>,
}

/// The earliest birth year the registry accepts; older claims are typing errors.
pub const EARLIEST_YEAR: i32 = 1900;

impl BirthDate {
    pub const UNKNOWN: BirthDate = BirthDate {
        year: None,
        month: None,
        day: None,
    };

    /// Reads `YYYY-MM-DD`, `YYYY-MM`, `YYYY` or the empty string (unknown), refusing impossible dates
    /// (`1975-02-30`), years before 1900 and dates after `today`.
    pub fn parse(text: &str, today: NaiveDate) -> Result<BirthDate, DomainError> {
        let text = text.trim();
        let err = |reason: String| DomainError::new("birth_date", reason);
        if text.is_empty() {
            return Ok(BirthDate::UNKNOWN);
        }
        let parts: Vec<&str> = text.split('-').collect();
        let number = |part: &str, len: usize, what: &str| -> Result<u32, DomainError> {
            if part.len() != len || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(format!(
                    "{text:?}: the {what} must be {len} digits (YYYY, YYYY-MM or YYYY-MM-DD)"
                )));
            }
            part.parse::<u32>()
                .map_err(|_| err(format!("{text:?}: unreadable {what}")))
        };
        if parts.len() > 3 {
            return Err(err(format!(
                "{text:?} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"
            )));
        }
        let year = number(parts[0], 4, "year")?;
        let month = parts.get(1).map(|m| number(m, 2, "month")).transpose()?;
        let day = parts.get(2).map(|d| number(d, 2, "day")).transpose()?;
        let year_i =
            i32::try_from(year).map_err(|_| err(format!("{text:?}: year out of range")))?;
        if year_i < EARLIEST_YEAR {
            return Err(err(format!("{text:?}: year before {EARLIEST_YEAR}")));
        }
        if let Some(month) = month
            && !(1..=12).contains(&month)
        {
            return Err(err(format!("{text:?}: month {month} does not exist")));
        }
        // The earliest day the value could mean must not be after today.
        let earliest = NaiveDate::from_ymd_opt(year_i, month.unwrap_or(1), day.unwrap_or(1))
            .ok_or_else(|| err(format!("{text:?} does not exist in the calendar")))?;
        if earliest > today {
            return Err(err(format!("{text:?} is in the future")));
        }
        Ok(BirthDate {
            year: Some(year as u16),
            month: month.map(|m| m as u8),
            day: day.map(|d| d as u8),
        })
    }

    /// A birth date known to the day.
    pub fn from_date(date: NaiveDate) -> BirthDate {
        BirthDate {
            year: u16::try_from(date.year()).ok(),
            month: Some(date.month() as u8),
            day: Some(date.day() as u8),
        }
    }

    pub fn precision(&self) -> DatePrecision {
        match (self.year, self.month, self.day) {
            (Some(_), Some(_), Some(_)) => DatePrecision::Day,
            (Some(_), Some(_), None) => DatePrecision::Month,
            (Some(_), None, _) => DatePrecision::Year,
            (None, _, _) => DatePrecision::Unknown,
        }
    }

    pub fn year(&self) -> Option<u16> {
        self.year
    }
    pub fn month(&self) -> Option<u8> {
        self.month
    }
    pub fn day(&self) -> Option<u8> {
        self.day
    }

    /// Age in whole years on `on`, when it can be known. With year precision the answer is the age the
    /// person reaches during `on`'s year, which is how programs read "60 or over this year".
    pub fn age_on(&self, on: NaiveDate) -> Option<u32> {
        let year = i32::from(self.year?);
        let mut age = on.year() - year;
        if let (Some(month), Some(day)) = (self.month, self.day) {
            if (on.month(), on.day()) < (u32::from(month), u32::from(day)) {
                age -= 1;
            }
        } else if let Some(month) = self.month
            && on.month() < u32::from(month)
        {
            age -= 1;
        }
        u32::try_from(age).ok()
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.year, self.month, self.day) {
            (Some(y), Some(m), Some(d)) => write!(f, "{y:04}-{m:02}-{d:02}"),
            (Some(y), Some(m), None) => write!(f, "{y:04}-{m:02}"),
            (Some(y), None, _) => write!(f, "{y:04}"),
            (None, _, _) => Ok(()),
        }
    }
}

impl TryFrom<String> for BirthDate {
    type Error = DomainError;
    /// Deserialising stored values: they were checked against "today" when first accepted, so only the
    /// calendar is checked again here.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        BirthDate::parse(&s, NaiveDate::MAX)
    }
}

impl From<BirthDate> for String {
    fn from(date: BirthDate) -> String {
        date.to_string()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()
    }

    fn check(input: &str, expect: expect_test::Expect) {
        let got = match BirthDate::parse(input, today()) {
            Ok(date) => format!("{date} {:?}", date.precision()),
            Err(e) => format!("error: {e}"),
        };
        expect.assert_eq(&got);
    }

    #[test]
    fn parsing() {
        use expect_test::expect;
        check("1975-02-14", expect!["1975-02-14 Day"]);
        check("1975-02", expect!["1975-02 Month"]);
        check("1950", expect!["1950 Year"]);
        check("", expect![" Unknown"]);
        check(
            "1975-02-30",
            expect![[r#"error: birth_date: "1975-02-30" does not exist in the calendar"#]],
        );
        check(
            "2023-02-29",
            expect![[r#"error: birth_date: "2023-02-29" does not exist in the calendar"#]],
        );
        check("2024-02-29", expect!["2024-02-29 Day"]);
        check(
            "1975-13",
            expect![[r#"error: birth_date: "1975-13": month 13 does not exist"#]],
        );
        check(
            "2027",
            expect![[r#"error: birth_date: "2027" is in the future"#]],
        );
        check(
            "2026-11-24",
            expect![[r#"error: birth_date: "2026-11-24" is in the future"#]],
        );
        check("2026-11-23", expect!["2026-11-23 Day"]);
        check(
            "1899-12-31",
            expect![[r#"error: birth_date: "1899-12-31": year before 1900"#]],
        );
        check(
            "75-02-14",
            expect![[
                r#"error: birth_date: "75-02-14": the year must be 4 digits (YYYY, YYYY-MM or YYYY-MM-DD)"#
            ]],
        );
        check(
            "14/02/1975",
            expect![[
                r#"error: birth_date: "14/02/1975": the year must be 4 digits (YYYY, YYYY-MM or YYYY-MM-DD)"#
            ]],
        );
        check(
            "1975-2-14",
            expect![[
                r#"error: birth_date: "1975-2-14": the month must be 2 digits (YYYY, YYYY-MM or YYYY-MM-DD)"#
            ]],
        );
        check(
            "1975-02-14-01",
            expect![[
                r#"error: birth_date: "1975-02-14-01" is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"#
            ]],
        );
    }

    #[test]
    fn age_respects_precision() -> Result<(), DomainError> {
        let on = today();
        assert_eq!(BirthDate::parse("1959", on)?.age_on(on), Some(67));
        assert_eq!(BirthDate::parse("1959-12-01", on)?.age_on(on), Some(66));
        assert_eq!(BirthDate::parse("1959-11-23", on)?.age_on(on), Some(67));
        assert_eq!(BirthDate::parse("1959-12", on)?.age_on(on), Some(66));
        assert_eq!(BirthDate::UNKNOWN.age_on(on), None);
        Ok(())
    }

    proptest! {
        #[test]
        fn every_real_past_day_round_trips(days in 0i64..(126 * 366)) {
            let date = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default() + chrono::Days::new(days as u64);
            prop_assume!(date <= today());
            let parsed = BirthDate::parse(&date.to_string(), today());
            prop_assert_eq!(parsed.clone(), Ok(BirthDate::from_date(date)));
            prop_assert_eq!(parsed.map(|d| d.to_string()), Ok(date.to_string()));
        }

        #[test]
        fn arbitrary_text_never_panics_and_accepted_text_round_trips(text in "\\PC{0,12}") {
            if let Ok(date) = BirthDate::parse(&text, today()) {
                prop_assert_eq!(BirthDate::parse(&date.to_string(), today()), Ok(date));
            }
        }

        #[test]
        fn out_of_range_days_are_refused(year in 1900u16..2026, month in 1u8..=12, day in 29u8..=40) {
            let text = format!("{year:04}-{month:02}-{day:02}");
            let real = NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day)).is_some();
            prop_assert_eq!(BirthDate::parse(&text, today()).is_ok(), real);
        }
    }
}
