//! Bad rows are reported with their line and reason, never fatal, and every record gets a cluster.

use expect_test::{Expect, expect};
use linkage::{Gazetteer, LinkOptions, link, read_clusters};

use crate::test_options;

const VILLAGES: &str = "province_code,district_code,commune_code,village_code,village_kh,village_en
01,0102,010201,01020101,អូរធំ,Ou Thum
01,0102,010201,01020102,ភ្នំ,Phnum
";

fn check(input: &str, expected: Expect) {
    let options = LinkOptions {
        gazetteer: Gazetteer::from_csv(VILLAGES.as_bytes()).ok(),
        ..test_options()
    };
    let mut output = Vec::new();
    let report = match link(input.as_bytes(), &mut output, &options) {
        Ok(report) => report,
        Err(error) => {
            expected.assert_eq(&format!("error: {error}"));
            return;
        }
    };
    let clusters = read_clusters(output.as_slice()).unwrap_or_default();
    let mut actual = String::new();
    for issue in &report.issues {
        actual.push_str(&format!("{issue}\n"));
    }
    for (record, cluster) in clusters {
        actual.push_str(&format!("{record} -> {cluster}\n"));
    }
    expected.assert_eq(&actual);
}

#[test]
fn bad_rows_are_reported_and_still_clustered() {
    check(
        "record_id,source,name_km,name_latin,sex,birth_date,village_code,national_id
a1,idpoor,ជា សុភា,CHEA SOPHEA,F,1980-03-12,01020101,010203040
a2,cct,ជា សុភា,CHIA SOPHEA,F,1975-02-30,01020101,010203040
a3,cct,CHEA SOPHEA,ជា សុភា,X,1980-03-12,99999999,
a4,hef,,\"SOK, DARA\",M,19xx,0102,12-34
,hef,,SOK DARA,M
a6,hef,ជា សុភា,CHEA SOPHEA,F,1980-03-12,01020101,010203040,extra
a1,hef,,KEO MALY,F,1990,01020102,
",
        expect![[r##"
            line 3 (record "a2"): day 30 does not exist in "1975-02-30" (year kept)
            line 4 (record "a3"): names are in the wrong script columns (swapped)
            line 4 (record "a3"): sex "X" is not M or F (ignored)
            line 4 (record "a3"): unknown village_code 99999999 (kept for comparison)
            line 5 (record "a4"): birth_date "19xx" is not YYYY-MM-DD or YYYY (ignored)
            line 5 (record "a4"): village_code "0102" is not 8 digits (ignored)
            line 6 (record "#line-6"): 5 fields instead of 8 (missing ones read as empty)
            line 6 (record "#line-6"): empty record_id, written as "#line-6"
            line 7 (record "a6"): 9 fields instead of 8 (missing ones read as empty)
            line 8 (record "a1"): record_id duplicates the one on line 2
            a1 -> a1
            a2 -> a1
            a3 -> a1
            a4 -> a4
            #line-6 -> a4
            a6 -> a1
            a1 -> a1
        "##]],
    );
}

#[test]
fn a_wrong_header_is_an_error() {
    check(
        "id,name\n1,SOK\n",
        expect![[
            r#"error: unexpected header "id,name", expected "record_id,source,name_km,name_latin,sex,birth_date,village_code,national_id""#
        ]],
    );
}

#[test]
fn an_empty_file_links_to_nothing() {
    check(
        "record_id,source,name_km,name_latin,sex,birth_date,village_code,national_id\n",
        expect![[""]],
    );
}
