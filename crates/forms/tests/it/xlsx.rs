//! The xlsx path: a real workbook written from a shipped CSV reads back as the same definition.

use dspp_forms::{parse_csv, parse_xlsx};
use rust_xlsxwriter::Workbook;

use crate::program_csv;

/// Writes pyxform-layout CSV as an xlsx workbook with one worksheet per sheet (numbers typed as numbers, as a
/// person's spreadsheet would hold them).
fn csv_to_xlsx(text: &str) -> Vec<u8> {
    let mut workbook = Workbook::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut current: Option<String> = None;
    let mut sheets: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        let first = record.get(0).unwrap_or("");
        if !first.is_empty() {
            current = Some(first.to_owned());
            sheets.push((first.to_owned(), Vec::new()));
        }
        let content: Vec<String> = record.iter().skip(1).map(str::to_owned).collect();
        if content.iter().all(String::is_empty) {
            continue;
        }
        assert!(current.is_some());
        sheets.last_mut().unwrap().1.push(content);
    }
    for (name, rows) in sheets {
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(&name).unwrap();
        let mut row_in_sheet: u32 = 0;
        for row in rows {
            for (column, cell) in row.iter().enumerate() {
                let column = u16::try_from(column).unwrap();
                if cell.is_empty() {
                    continue;
                }
                match cell.parse::<f64>() {
                    Ok(number)
                        if !cell.starts_with('0') || cell == "0" || cell.starts_with("0.") =>
                    {
                        worksheet
                            .write_number(row_in_sheet, column, number)
                            .unwrap();
                    }
                    _ => {
                        worksheet.write_string(row_in_sheet, column, cell).unwrap();
                    }
                }
            }
            row_in_sheet += 1;
        }
    }
    workbook.save_to_buffer().unwrap()
}

#[test]
fn every_shipped_csv_reads_the_same_as_xlsx() {
    for (code, _) in dspp_forms::SHIPPED {
        let text = program_csv(code);
        let from_csv = parse_csv(&text).unwrap();
        let bytes = csv_to_xlsx(&text);
        // `DSPP_FORMS_XLSX_SEED_DIR=fuzz/corpus/parse_xlsx cargo test -p dspp-forms xlsx` seeds the fuzzer with
        // real workbooks (random bytes almost never make a valid zip).
        if let Some(directory) = std::env::var_os("DSPP_FORMS_XLSX_SEED_DIR") {
            std::fs::create_dir_all(&directory).unwrap();
            std::fs::write(
                std::path::Path::new(&directory).join(format!("{code}.xlsx")),
                &bytes,
            )
            .unwrap();
        }
        let from_xlsx = parse_xlsx(&bytes).unwrap_or_else(|error| panic!("{code}: {error}"));
        assert_eq!(from_xlsx, from_csv, "{code}");
    }
}

#[test]
fn xlsx_problems_name_spreadsheet_rows() {
    let text = program_csv("elderly").replace("${age} >= 60", "${age} >=");
    let error = parse_xlsx(&csv_to_xlsx(&text)).unwrap_err();
    expect_test::expect![[r#"
        the program definition has 1 problem
          eligibility row 2 column rule: '${age} >=' does not parse: expression ends too early (at character 10)"#]].assert_eq(&error.to_string());
}

#[test]
fn garbage_is_not_a_workbook() {
    let error = parse_xlsx(b"PK\x03\x04 not really a zip").unwrap_err();
    assert_eq!(error.problems.len(), 1);
    assert!(
        error.problems[0]
            .message
            .starts_with("not a readable .xlsx workbook"),
        "{error}"
    );
}
