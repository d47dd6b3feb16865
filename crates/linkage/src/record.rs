//! The person record of the `dspp link` format, its validated field types, and the CSV reader that reports bad rows
//! one by one instead of failing the run.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;

use crate::Error;
use crate::normalize::{is_mostly_khmer, normalize_khmer};

/// The exact header of the `dspp link` input format.
pub const INPUT_HEADER: [&str; 8] = [
    "record_id",
    "source",
    "name_km",
    "name_latin",
    "sex",
    "birth_date",
    "village_code",
    "national_id",
];

/// Sex as recorded. Anything else in the column is a row issue and the field is treated as missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// Accepts `M`, `F`, `male`, `female` (any case) and the Khmer `ប្រុស`, `ស្រី`.
    pub fn parse(text: &str) -> Option<Sex> {
        match text.trim().to_ascii_uppercase().as_str() {
            "M" | "MALE" => Some(Sex::Male),
            "F" | "FEMALE" => Some(Sex::Female),
            _ => match text.trim() {
                "ប្រុស" => Some(Sex::Male),
                "ស្រី" => Some(Sex::Female),
                _ => None,
            },
        }
    }
}

/// A birth date with its precision: a full date or a year alone (common for people born before 1979).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate {
    pub year: u16,
    /// `None` for a year-only date; then `day` is `None` too.
    pub month_day: Option<(u8, u8)>,
}

impl BirthDate {
    /// Parses `YYYY-MM-DD` or `YYYY`. The year must be 1000..=2100 (historical registers are linked too) and the day must exist in that month.
    pub fn parse(text: &str) -> Result<BirthDate, String> {
        let text = text.trim();
        let year_of = |digits: &str| -> Result<u16, String> {
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("birth_date {text:?} is not YYYY-MM-DD or YYYY"));
            }
            let year: u16 = digits
                .parse()
                .map_err(|_| format!("bad year in {text:?}"))?;
            if !(1000..=2100).contains(&year) {
                return Err(format!("birth year {year} out of range"));
            }
            Ok(year)
        };
        let parts: Vec<&str> = text.split('-').collect();
        match parts.as_slice() {
            [year] => Ok(BirthDate {
                year: year_of(year)?,
                month_day: None,
            }),
            [year, month, day] if month.len() == 2 && day.len() == 2 => {
                let year = year_of(year)?;
                let month: u8 = month
                    .parse()
                    .map_err(|_| format!("bad month in {text:?}"))?;
                let day: u8 = day.parse().map_err(|_| format!("bad day in {text:?}"))?;
                if !(1..=12).contains(&month) {
                    return Err(format!("month {month} does not exist in {text:?}"));
                }
                if day == 0 || day > days_in_month(year, month) {
                    return Err(format!("day {day} does not exist in {text:?}"));
                }
                Ok(BirthDate {
                    year,
                    month_day: Some((month, day)),
                })
            }
            _ => Err(format!("birth_date {text:?} is not YYYY-MM-DD or YYYY")),
        }
    }

    /// The year alone, when a full date fails to parse but its year is sound (kept as evidence at year precision).
    fn year_only_from(text: &str) -> Option<BirthDate> {
        let year = text.trim().get(0..4)?;
        BirthDate::parse(year).ok()
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.month_day {
            Some((month, day)) => write!(f, "{:04}-{month:02}-{day:02}", self.year),
            None => write!(f, "{:04}", self.year),
        }
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A Cambodian village code `PPDDCCVV`: province, district, commune, village, two digits each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VillageCode(u32);

impl VillageCode {
    /// Eight ASCII digits (a leading zero may have been lost by a spreadsheet: seven digits are accepted too).
    pub fn parse(text: &str) -> Result<VillageCode, String> {
        let text = text.trim();
        if !(7..=8).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("village_code {text:?} is not 8 digits"));
        }
        text.parse()
            .map(VillageCode)
            .map_err(|_| format!("village_code {text:?} is not 8 digits"))
    }

    pub(crate) fn from_u32(code: u32) -> VillageCode {
        VillageCode(code)
    }

    pub fn province(self) -> u32 {
        self.0 / 1_000_000
    }
    pub fn district(self) -> u32 {
        self.0 / 10_000
    }
    pub fn commune(self) -> u32 {
        self.0 / 100
    }
    pub fn village(self) -> u32 {
        self.0
    }
}

impl fmt::Display for VillageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}", self.0)
    }
}

/// A national ID number, reduced to upper-case letters and digits (spaces and hyphens are formatting).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NationalId(String);

impl NationalId {
    pub fn parse(text: &str) -> Result<NationalId, String> {
        let cleaned: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '/' | '.'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if cleaned.is_empty() || !cleaned.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "national_id {text:?} has characters other than letters and digits"
            ));
        }
        Ok(NationalId(cleaned))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The official village list, used to report unknown village codes.
#[derive(Debug, Clone, Default)]
pub struct Gazetteer {
    villages: HashSet<VillageCode>,
    /// Village names (Khmer, English) by code, in file order, for the population generator.
    pub(crate) entries: Vec<(VillageCode, String, String)>,
}

impl Gazetteer {
    /// Reads `province_code,district_code,commune_code,village_code,village_kh,village_en` (the 2025 list).
    pub fn from_csv<R: Read>(reader: R) -> Result<Gazetteer, Error> {
        let mut csv_reader = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let headers = csv_reader.headers()?.clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{FEFF}') == name)
        };
        let (Some(code_column), kh_column, en_column) = (
            column("village_code"),
            column("village_kh"),
            column("village_en"),
        ) else {
            return Err(Error::Invalid {
                what: "gazetteer",
                reason: "no village_code column".into(),
            });
        };
        let mut gazetteer = Gazetteer::default();
        for row in csv_reader.records() {
            let row = row?;
            let Some(Ok(code)) = row.get(code_column).map(VillageCode::parse) else {
                continue;
            };
            let field =
                |column: Option<usize>| column.and_then(|c| row.get(c)).unwrap_or("").to_string();
            if gazetteer.villages.insert(code) {
                gazetteer
                    .entries
                    .push((code, field(kh_column), field(en_column)));
            }
        }
        if gazetteer.villages.is_empty() {
            return Err(Error::Invalid {
                what: "gazetteer",
                reason: "no village codes".into(),
            });
        }
        Ok(gazetteer)
    }

    pub fn contains(&self, code: VillageCode) -> bool {
        self.villages.contains(&code)
    }

    pub fn len(&self) -> usize {
        self.villages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.villages.is_empty()
    }
}

/// One person record. Names are stored normalized (Khmer canonical order, Latin as written but trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub record_id: String,
    pub source: String,
    pub name_km: String,
    pub name_latin: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<BirthDate>,
    pub village_code: Option<VillageCode>,
    pub national_id: Option<NationalId>,
}

/// A problem with one input row. The row is still linked, on the fields that were valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// 1-based line number in the input (the header is line 1).
    pub line: u64,
    pub record_id: String,
    pub reason: String,
}

impl fmt::Display for RowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} (record {:?}): {}",
            self.line, self.record_id, self.reason
        )
    }
}

/// Reads records in the `dspp link` format. Only an unreadable stream or a wrong header is an error; every row
/// yields a record (a row without a record_id gets `#line-N`) and its problems are returned as [`RowIssue`]s.
pub fn read_records<R: Read>(
    reader: R,
    gazetteer: Option<&Gazetteer>,
) -> Result<(Vec<Record>, Vec<RowIssue>), Error> {
    let mut csv_reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(reader);
    let mut records = Vec::new();
    let mut issues = Vec::new();
    let mut row = csv::ByteRecord::new();
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut first = true;
    loop {
        let more = match csv_reader.read_byte_record(&mut row) {
            Ok(more) => more,
            Err(error) => {
                // A CSV syntax error other than an I/O failure concerns one row: report it and go on.
                if let csv::ErrorKind::Io(_) = error.kind() {
                    return Err(error.into());
                }
                let line = error.position().map_or(0, |p| p.line());
                issues.push(RowIssue {
                    line,
                    record_id: String::new(),
                    reason: format!("malformed CSV: {error}"),
                });
                continue;
            }
        };
        if !more {
            break;
        }
        let line = row.position().map_or(0, |p| p.line());
        if first {
            first = false;
            let found: Vec<String> = row
                .iter()
                .map(|f| {
                    String::from_utf8_lossy(f)
                        .trim_start_matches('\u{FEFF}')
                        .to_string()
                })
                .collect();
            if found != INPUT_HEADER {
                return Err(Error::Header {
                    found: found.join(","),
                    expected: INPUT_HEADER.join(","),
                });
            }
            continue;
        }
        let (record, mut row_issues) = parse_row(&row, line, gazetteer);
        if let Some(previous) = seen_ids.insert(record.record_id.clone(), line) {
            row_issues.push(format!("record_id duplicates the one on line {previous}"));
        }
        issues.extend(row_issues.into_iter().map(|reason| RowIssue {
            line,
            record_id: record.record_id.clone(),
            reason,
        }));
        records.push(record);
    }
    Ok((records, issues))
}

fn parse_row(
    row: &csv::ByteRecord,
    line: u64,
    gazetteer: Option<&Gazetteer>,
) -> (Record, Vec<String>) {
    let mut issues = Vec::new();
    let mut fields: Vec<String> = Vec::with_capacity(8);
    for (index, raw) in row.iter().enumerate() {
        let text = match std::str::from_utf8(raw) {
            Ok(text) => text.to_string(),
            Err(_) => {
                issues.push(format!(
                    "column {} is not valid UTF-8 (invalid bytes replaced)",
                    index + 1
                ));
                String::from_utf8_lossy(raw).into_owned()
            }
        };
        fields.push(text.trim().to_string());
    }
    if fields.len() != INPUT_HEADER.len() {
        issues.push(format!(
            "{} fields instead of {} (missing ones read as empty)",
            fields.len(),
            INPUT_HEADER.len()
        ));
        fields.resize(INPUT_HEADER.len(), String::new());
    }
    let mut record = Record {
        record_id: fields[0].clone(),
        source: fields[1].clone(),
        ..Record::default()
    };
    if record.record_id.is_empty() {
        record.record_id = format!("#line-{line}");
        issues.push(format!(
            "empty record_id, written as {:?}",
            record.record_id
        ));
    }
    let (mut name_km, mut name_latin) = (fields[2].clone(), fields[3].clone());
    let km_is_latin = !name_km.is_empty() && !is_mostly_khmer(&name_km);
    let latin_is_khmer = !name_latin.is_empty() && is_mostly_khmer(&name_latin);
    if km_is_latin || latin_is_khmer {
        if (km_is_latin || name_km.is_empty()) && (latin_is_khmer || name_latin.is_empty()) {
            std::mem::swap(&mut name_km, &mut name_latin);
            issues.push("names are in the wrong script columns (swapped)".to_string());
        } else if km_is_latin {
            issues.push("name_km is not in Khmer script (ignored)".to_string());
            name_km.clear();
        } else {
            issues.push("name_latin is in Khmer script (ignored)".to_string());
            name_latin.clear();
        }
    }
    record.name_km = normalize_khmer(&name_km);
    record.name_latin = name_latin;
    if !fields[4].is_empty() {
        record.sex = Sex::parse(&fields[4]);
        if record.sex.is_none() {
            issues.push(format!("sex {:?} is not M or F (ignored)", fields[4]));
        }
    }
    if !fields[5].is_empty() {
        match BirthDate::parse(&fields[5]) {
            Ok(date) => record.birth_date = Some(date),
            Err(reason) => {
                record.birth_date = BirthDate::year_only_from(&fields[5]);
                let kept = if record.birth_date.is_some() {
                    " (year kept)"
                } else {
                    " (ignored)"
                };
                issues.push(format!("{reason}{kept}"));
            }
        }
    }
    if !fields[6].is_empty() {
        match VillageCode::parse(&fields[6]) {
            Ok(code) => {
                if gazetteer.is_some_and(|g| !g.contains(code)) {
                    issues.push(format!("unknown village_code {code} (kept for comparison)"));
                }
                record.village_code = Some(code);
            }
            Err(reason) => issues.push(format!("{reason} (ignored)")),
        }
    }
    if !fields[7].is_empty() {
        match NationalId::parse(&fields[7]) {
            Ok(id) => record.national_id = Some(id),
            Err(reason) => issues.push(format!("{reason} (ignored)")),
        }
    }
    (record, issues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_dates() {
        assert_eq!(
            BirthDate::parse("1975-02-28").map(|d| d.to_string()),
            Ok("1975-02-28".to_string())
        );
        assert_eq!(
            BirthDate::parse("1976-02-29").map(|d| d.to_string()),
            Ok("1976-02-29".to_string())
        );
        assert!(BirthDate::parse("1975-02-30").is_err());
        assert!(BirthDate::parse("1975-13-01").is_err());
        assert!(BirthDate::parse("75-01-01").is_err());
        assert_eq!(BirthDate::parse("1950").map(|d| d.month_day), Ok(None));
        assert_eq!(
            BirthDate::year_only_from("1975-02-30").map(|d| d.year),
            Some(1975)
        );
    }

    #[test]
    fn village_code_levels() {
        let code = VillageCode::parse("01020101");
        assert_eq!(
            code.map(|c| (c.province(), c.district(), c.commune())),
            Ok((1, 102, 10201))
        );
        assert_eq!(
            VillageCode::parse("1020101").map(|c| c.to_string()),
            Ok("01020101".to_string())
        );
        assert!(VillageCode::parse("0102010A").is_err());
    }

    proptest::proptest! {
        #[test]
        fn birth_date_parse_roundtrips(text in "[0-9]{4}(-[0-9]{2}-[0-9]{2})?") {
            if let Ok(date) = BirthDate::parse(&text) {
                proptest::prop_assert_eq!(date.to_string(), text);
            }
        }

        #[test]
        fn reader_never_loses_a_row(rows in proptest::collection::vec("[a-z0-9,\"\u{1780}-\u{17B3} -]{0,30}", 0..8)) {
            let mut input = INPUT_HEADER.join(",");
            for row in &rows {
                input.push('\n');
                input.push_str(row);
            }
            // Every non-empty physical line is one record unless quotes join lines; never an error.
            let result = read_records(input.as_bytes(), None);
            proptest::prop_assert!(result.is_ok());
        }
    }
}
