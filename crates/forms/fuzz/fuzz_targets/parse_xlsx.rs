//! Any bytes as an .xlsx workbook: parsing must not panic (calamine and zip included).
#![no_main]

use dspp_forms::parse_xlsx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = parse_xlsx(bytes);
});
