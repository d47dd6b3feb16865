//! CSV import and export: bad rows are reported by line and do not stop or corrupt the rest; an export
//! imports again into an empty registry with the same SPIDs.

use dspp_service::{CSV_HEADER, RowProblem};

use crate::people::household_of_three;
use crate::support::{Harness, actor, harness_like, officer};
use dspp_testkit::on_both_stores;

const INPUT: &str = "\
household_ref,relationship,family_km,given_km,family_latin,given_latin,sex,birth_date,birth_village,phone,village,address_detail,documents
H1,head,សុខ,ស្រីមុំ,SOK,SREYMOM,F,1959,,012345678,12010101,House 1,family_book:FB-1|khmer_id_card:010101010
H1,child,សុខ,ដារ៉ា,SOK,DARA,M,1990-02-14,,,12010101,,
H2,head,ហេង,បូរ៉ា,HENG,BORA,M,1975-02-30,,,12010101,,
H2,spouse,ហេង,ធីតា,HENG,THIDA,F,1977,,,12010101,,
H3,head,ចាន់,សុភាព,CHAN,SOPHEAP,F,1980,,,12019999,,
,,ម៉ៅ,វណ្ណា,MAO,VANNA,F,2001,,,12010102,,birth_certificate:BC-9
H4,head,Kim,វិសាល,KIM,VISAL,M,1968,,,12010101,,
H5,head,លី,ម៉ាលី,LY,MALY,F,1988,,,12010103,House 9,
H5,child,លី,បុប្ផា,LY,BOPHA,F,2012,,,12010103,,
H1,child,សុខ,ផល្លា,SOK,PHALLA,F,1993,,,12010101,,
";

async fn import_reports_bad_rows_and_keeps_the_rest(h: Harness) {
    let mut problems: Vec<RowProblem> = Vec::new();
    let summary = h
        .registry
        .import_csv(&officer(), INPUT.as_bytes(), &mut |p| problems.push(p))
        .await
        .unwrap();
    let lines: Vec<(u64, &str)> = problems
        .iter()
        .map(|p| (p.line, p.reason.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (
                4,
                "birth_date: \"1975-02-30\" does not exist in the calendar"
            ),
            (
                5,
                "not imported: another row of household \"H2\" was refused (line 4)"
            ),
            (6, "village: 12019999 is not a village of the gazetteer"),
            (
                8,
                "name.family_km: contains 'K', which is not Khmer script; Latin spelling goes in the _latin fields"
            ),
            (
                11,
                "household_ref \"H1\" appeared earlier; a household's rows must be together"
            ),
        ]
    );
    assert_eq!(summary.rows, 10);
    assert_eq!(summary.people, 5, "H1 (2), the single person, H5 (2)");
    assert_eq!(summary.households, 2);
    assert_eq!(summary.rejected_rows, 5);

    let mut exported = Vec::new();
    let written = h
        .registry
        .export_csv(&officer(), None, &mut exported)
        .await
        .unwrap();
    assert_eq!(written, 5);
    let text = String::from_utf8(exported).unwrap();
    assert_eq!(text.lines().next().unwrap(), CSV_HEADER.join(","));
    assert!(text.contains("សុខ,ស្រីមុំ,SOK,SREYMOM,female,1959,,012345678,12010101,House 1,family_book:FB-1|khmer_id_card:010101010,,3"));

    // The export imports into an empty registry with the same SPIDs and households.
    let other = harness_like(&h).await;
    let mut problems = Vec::new();
    let again = other
        .registry
        .import_csv(&officer(), text.as_bytes(), &mut |p| problems.push(p))
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!((again.people, again.households), (5, 2));
    let mut round_trip = Vec::new();
    other
        .registry
        .export_csv(&officer(), None, &mut round_trip)
        .await
        .unwrap();
    let sorted = |t: &str| {
        let mut lines: Vec<String> = t
            .lines()
            .map(|l| {
                l.split_once(',')
                    .map(|(_, rest)| rest.to_string())
                    .unwrap_or_default()
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&String::from_utf8(round_trip).unwrap()),
        sorted(&text),
        "same people, same SPIDs"
    );

    // Importing the same export again: every SPID is taken, every row refused, nothing duplicated.
    let mut problems = Vec::new();
    let third = other
        .registry
        .import_csv(&officer(), text.as_bytes(), &mut |p| problems.push(p))
        .await
        .unwrap();
    assert_eq!(third.people, 0);
    assert!(
        problems
            .iter()
            .any(|p| p.reason.contains("already in the registry")),
        "{problems:?}"
    );

    // A CSV without the needed columns is refused as a whole with the names of what is missing.
    let err = h
        .registry
        .import_csv(&officer(), "name,age\nx,1\n".as_bytes(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("missing column(s): household_ref, relationship, family_km"),
        "{err}"
    );
    // And an officer cannot import into another commune.
    let elsewhere = actor("officer.dara", dspp_domain::Role::Officer, "commune:020101");
    let mut problems = Vec::new();
    let none = h
        .registry
        .import_csv(&elsewhere, INPUT.as_bytes(), &mut |p| problems.push(p))
        .await
        .unwrap();
    assert_eq!(none.people, 0);
    let _ = household_of_three();
}

/// A legacy program database names the same woman twice (two spellings, the second with her ID card), and
/// a man the registry already holds: each likely pair becomes one case in the queue.
const LEGACY: &str = "\
household_ref,relationship,family_km,given_km,family_latin,given_latin,sex,birth_date,birth_village,phone,village,address_detail,documents
L1,head,ជា,សុភា,CHEA,SOPHEA,F,1980-03-12,,,12010101,,
L1,child,ជា,រតនា,CHEA,RATANA,F,2004-11-02,,,12010101,,
L2,head,ជា,សុភា,CHIA,SOPHEA,F,1980-03-12,,,12010101,,khmer_id_card:120304056
L3,head,សុខ,ស្រីមុំ,SOK,SREYMOM,F,1959,,,12010101,,
L4,head,ប៉ែន,បុប្ផា,PEN,BOPHA,F,1971-08-30,,,12010102,,
";

async fn an_imported_legacy_database_is_checked_for_duplicates(h: Harness) {
    h.registry
        .register_household(&officer(), &household_of_three())
        .await
        .unwrap();
    let summary = h
        .registry
        .import_csv(&officer(), LEGACY.as_bytes(), &mut |p| {
            panic!("no bad rows: {p:?}")
        })
        .await
        .unwrap();
    assert_eq!(summary.people, 5);
    assert_eq!(summary.possible_duplicates, 2, "{summary:?}");
    let cases = h
        .registry
        .duplicate_cases(
            &officer(),
            &dspp_service::CaseFilter {
                limit: 50,
                ..dspp_service::CaseFilter::default()
            },
        )
        .await
        .unwrap();
    let name = |view: &dspp_service::PersonView| {
        let name = &view.person.record.name;
        format!("{} {}", name.family_latin, name.given_latin)
    };
    let mut pairs: Vec<[String; 2]> = cases
        .iter()
        .map(|case| {
            let mut pair = [name(&case.a), name(&case.b)];
            pair.sort();
            pair
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ["CHEA SOPHEA".to_string(), "CHIA SOPHEA".to_string()],
            ["SOK SREYMOM".to_string(), "SOK SREYMOM".to_string()],
        ],
        "the two spellings of one woman, and the grandmother the registry already had"
    );
}

on_both_stores!(
    import_reports_bad_rows_and_keeps_the_rest,
    an_imported_legacy_database_is_checked_for_duplicates
);

mod every_row_is_accounted_for {
    //! Whatever the input, the importer never stops early and never loses a row: each row is imported
    //! or reported, and the counts add up.
    use proptest::prelude::*;

    use crate::support::officer;

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("សុខ".to_string()),
            Just("SOK".to_string()),
            Just("head".to_string()),
            Just("child".to_string()),
            Just("F".to_string()),
            Just("1959".to_string()),
            Just("1975-02-30".to_string()),
            Just("12010101".to_string()),
            Just("99999999".to_string()),
            Just("family_book:FB-1".to_string()),
            Just("\"quoted, with comma\"".to_string()),
            Just("\"unterminated".to_string()),
            "\\PC{0,12}",
        ]
    }

    fn row() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(field(), 13).prop_map(|fields| fields.join(",")),
            proptest::collection::vec(field(), 0..16).prop_map(|fields| fields.join(",")),
            Just("H1,head,សុខ,ស្រីមុំ,SOK,SREYMOM,F,1959,,,12010101,,".to_string()),
            Just("H1,child,សុខ,ដារ៉ា,SOK,DARA,M,1990,,,12010101,,".to_string()),
            Just(",,ម៉ៅ,វណ្ណា,MAO,VANNA,F,2001,,,12010102,,".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn on_any_input(rows in proptest::collection::vec(row(), 0..12), garbage in proptest::collection::vec(any::<u8>(), 0..40)) {
            let header = "household_ref,relationship,family_km,given_km,family_latin,given_latin,sex,birth_date,birth_village,phone,village,address_detail,documents";
            let mut input = format!("{header}\n{}\n", rows.join("\n")).into_bytes();
            input.extend_from_slice(&garbage);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let (summary, problems) = runtime.block_on(async {
                let h = dspp_testkit::harness(dspp_testkit::Backend::Sqlite).await;
                let mut problems = Vec::new();
                let summary = h.registry.import_csv(&officer(), input.as_slice(), &mut |p| problems.push(p)).await.unwrap();
                (summary, problems)
            });
            prop_assert_eq!(summary.people + summary.rejected_rows, summary.rows, "{:?}", problems);
            let mut rows: Vec<u64> = problems.iter().map(|p| p.row).collect();
            rows.sort();
            rows.dedup();
            prop_assert_eq!(rows.len() as u64, summary.rejected_rows);
            prop_assert!(rows.iter().all(|r| (1..=summary.rows).contains(r)));
        }
    }
}
