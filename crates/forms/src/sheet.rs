//! Reading a workbook's sheets as text tables: from `.xlsx` bytes (calamine) or from pyxform's single-CSV layout.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;

use crate::error::DefinitionProblem;

/// One sheet: its header cells and data rows, every cell as trimmed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sheet {
    pub name: String,
    pub header: Vec<String>,
    pub header_row: u32,
    pub rows: Vec<SheetRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SheetRow {
    /// The row number a person sees: the spreadsheet row (xlsx) or the line of the file (CSV), 1-based.
    pub number: u32,
    pub cells: Vec<String>,
}

impl Sheet {
    /// The index of a column by its header, compared without case on the part before `::`.
    pub fn column(&self, wanted: &str) -> Option<usize> {
        self.header
            .iter()
            .position(|header| normalize_header(header) == normalize_header(wanted))
    }

    pub fn cell<'a>(&self, row: &'a SheetRow, column: Option<usize>) -> &'a str {
        column
            .and_then(|index| row.cells.get(index))
            .map_or("", String::as_str)
    }
}

/// `Label::English (en)` and `label::English (en)` are the same column; spaces around `::` do not matter.
pub(crate) fn normalize_header(header: &str) -> String {
    match header.split_once("::") {
        Some((base, language)) => format!("{}::{}", base.trim().to_lowercase(), language.trim()),
        None => header.trim().to_lowercase(),
    }
}

/// Reads pyxform's CSV layout: a row whose first cell is not empty starts the sheet it names (the rest of that
/// row, if any, is its header); in a sheet, the first row with content after the empty first cell is the header
/// and the rest are data. Rows with no content are skipped. This is what pyxform's `csv_to_dict` does.
pub(crate) fn read_csv(text: &str) -> Result<Vec<Sheet>, Vec<DefinitionProblem>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut sheets: Vec<Sheet> = Vec::new();
    let mut problems = Vec::new();
    let mut current: Option<usize> = None;
    let mut has_header = false;
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |position| position.line());
                problems.push(DefinitionProblem::file(format!(
                    "CSV line {line} cannot be read: {error}"
                )));
                continue;
            }
        };
        let line = record.position().map_or(0, |position| position.line());
        let number = u32::try_from(line).unwrap_or(u32::MAX);
        let first = record.get(0).unwrap_or("").trim();
        let content: Vec<String> = record
            .iter()
            .skip(1)
            .map(|cell| cell.trim().to_owned())
            .collect();
        if !first.is_empty() {
            let name = first.to_lowercase();
            current = match sheets.iter().position(|sheet| sheet.name == name) {
                Some(index) => {
                    problems.push(DefinitionProblem::at(
                        &name,
                        number,
                        None,
                        format!(
                            "sheet '{name}' appears twice in the file (first at line {})",
                            sheets[index].header_row
                        ),
                    ));
                    None
                }
                None => {
                    sheets.push(Sheet {
                        name,
                        header: Vec::new(),
                        header_row: number,
                        rows: Vec::new(),
                    });
                    Some(sheets.len() - 1)
                }
            };
            has_header = false;
        }
        if content.iter().all(String::is_empty) {
            continue;
        }
        let Some(index) = current else {
            if first.is_empty() {
                problems.push(DefinitionProblem::at(
                    "",
                    number,
                    None,
                    "this row belongs to no sheet: a row whose first cell names the sheet (survey, choices, settings, \
                     eligibility) must come before it"
                        .to_owned(),
                ));
            }
            continue;
        };
        let sheet = &mut sheets[index];
        if has_header {
            sheet.rows.push(SheetRow {
                number,
                cells: content,
            });
        } else {
            sheet.header = content;
            sheet.header_row = number;
            has_header = true;
        }
    }
    if problems.is_empty() {
        Ok(sheets)
    } else {
        Err(problems)
    }
}

/// Reads every worksheet of an `.xlsx` workbook; the first row of each is its header.
pub(crate) fn read_xlsx(bytes: &[u8]) -> Result<Vec<Sheet>, Vec<DefinitionProblem>> {
    let mut workbook = match Xlsx::new(Cursor::new(bytes)) {
        Ok(workbook) => workbook,
        Err(error) => {
            return Err(vec![DefinitionProblem::file(format!(
                "not a readable .xlsx workbook: {error}"
            ))]);
        }
    };
    let mut sheets: Vec<Sheet> = Vec::new();
    let mut problems = Vec::new();
    for name in workbook.sheet_names() {
        let range = match workbook.worksheet_range(&name) {
            Ok(range) => range,
            Err(error) => {
                problems.push(DefinitionProblem::file(format!(
                    "sheet '{name}' cannot be read: {error}"
                )));
                continue;
            }
        };
        let lower = name.trim().to_lowercase();
        if sheets.iter().any(|sheet| sheet.name == lower) {
            problems.push(DefinitionProblem::file(format!(
                "two sheets are named '{lower}'"
            )));
            continue;
        }
        let (first_row, first_column) = range.start().unwrap_or((0, 0));
        let mut sheet = Sheet {
            name: lower,
            header: Vec::new(),
            header_row: first_row.saturating_add(1),
            rows: Vec::new(),
        };
        let mut has_header = false;
        for (offset, row) in range.rows().enumerate() {
            let number = first_row
                .saturating_add(u32::try_from(offset).unwrap_or(u32::MAX))
                .saturating_add(1);
            // Columns left of the used range are empty; keep positions aligned with the header's.
            let mut cells: Vec<String> = vec![String::new(); first_column as usize];
            for cell in row {
                match cell_text(cell) {
                    Ok(text) => cells.push(text),
                    Err(message) => {
                        problems.push(DefinitionProblem::at(&sheet.name, number, None, message));
                        cells.push(String::new());
                    }
                }
            }
            if cells.iter().all(String::is_empty) {
                continue;
            }
            if has_header {
                sheet.rows.push(SheetRow { number, cells });
            } else {
                sheet.header = cells;
                sheet.header_row = number;
                has_header = true;
            }
        }
        sheets.push(sheet);
    }
    if problems.is_empty() {
        Ok(sheets)
    } else {
        Err(problems)
    }
}

/// A cell as the text a person typed: whole numbers without `.0`, dates as `YYYY-MM-DD`.
fn cell_text(cell: &Data) -> Result<String, String> {
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => {
            text.trim().to_owned()
        }
        Data::Int(number) => number.to_string(),
        Data::Float(number) => crate::value::format_decimal(*number),
        Data::Bool(flag) => if *flag { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(date_time) => {
            let serial = date_time.as_f64();
            // Excel counts days from 1899-12-30 (its 1900 leap-year bug included).
            let base = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or(NaiveDate::MIN);
            if !serial.is_finite() || !(0.0..3_000_000.0).contains(&serial) {
                return Err(format!(
                    "date cell holds an out-of-range serial number {serial}"
                ));
            }
            match base.checked_add_signed(chrono::Duration::days(serial.floor() as i64)) {
                Some(date) => date.format("%Y-%m-%d").to_string(),
                None => {
                    return Err(format!(
                        "date cell holds an out-of-range serial number {serial}"
                    ));
                }
            }
        }
        Data::Error(error) => return Err(format!("cell holds a spreadsheet error: {error}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyxform_csv_layout() {
        let sheets =
            read_csv("\u{feff}survey,type,name\n,text, a \n\n,,\nchoices\n,list_name,name\n,l,x\n")
                .unwrap();
        assert_eq!(sheets.len(), 2);
        assert_eq!(sheets[0].header, vec!["type", "name"]);
        assert_eq!(
            sheets[0].rows,
            vec![SheetRow {
                number: 2,
                cells: vec!["text".into(), "a".into()]
            }]
        );
        assert_eq!(sheets[1].header_row, 6);
        assert_eq!(sheets[1].rows[0].number, 7);
    }

    #[test]
    fn headers_compare_without_case_before_the_language() {
        assert_eq!(normalize_header("Label :: Khmer (km)"), "label::Khmer (km)");
        assert_eq!(normalize_header(" TYPE "), "type");
    }
}
