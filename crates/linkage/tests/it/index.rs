//! The real-time check: an index built incrementally answers with candidates, outcomes and per-field reasons.

use expect_test::{Expect, expect};
use linkage::{BirthDate, Index, NationalId, Record, Sex, VillageCode, link_records, read_records};

use crate::test_options;

const REGISTER: &str = "record_id,source,name_km,name_latin,sex,birth_date,village_code,national_id
r1,idpoor,ជា សុភា,CHEA SOPHEA,F,1980-03-12,01020101,010203040
r2,cct,ជា សុភា,CHIA SOPHEA,F,1980-03-12,01020101,
r3,idpoor,សុខ ដារ៉ា,SOK DARA,M,1975,01020102,
r4,idpoor,សុខ ដារ៉ា,SOK DARA,M,2001-06-01,01020102,
r5,hef,កែវ ម៉ាលី,KEO MALY,F,1990-01-01,01020101,110000001
r6,hef,ខៀវ ស្រីមុំ,KHIEU SREYMOM,F,1962,01020101,
";

fn record(
    name_km: &str,
    name_latin: &str,
    sex: &str,
    birth_date: &str,
    village: &str,
    id: &str,
) -> Record {
    Record {
        record_id: "query".to_string(),
        name_km: linkage::normalize::normalize_khmer(name_km),
        name_latin: name_latin.to_string(),
        sex: Sex::parse(sex),
        birth_date: BirthDate::parse(birth_date).ok(),
        village_code: VillageCode::parse(village).ok(),
        national_id: NationalId::parse(id).ok(),
        ..Record::default()
    }
}

fn check(query: &Record, expected: Expect) {
    let (records, _) = read_records(REGISTER.as_bytes(), None).expect("register");
    // Train on the register (tiny here: the model is still a real EM fit), then index it record by record.
    let linkage = link_records(&records, &test_options()).expect("link");
    let mut index = Index::new(linkage.report.model.clone(), test_options());
    for record in &records {
        index.insert(record);
    }
    assert_eq!(index.len(), records.len());
    let described: Vec<String> = index
        .candidates(query)
        .iter()
        .map(|candidate| {
            let reasons: Vec<String> = candidate
                .reasons
                .iter()
                .map(|reason| format!("{}={}", reason.field, reason.level))
                .collect();
            let swapped = if candidate.names_swapped {
                " (swapped)"
            } else {
                ""
            };
            format!(
                "{} {}: {}{swapped}",
                candidate.record_id,
                candidate.outcome,
                reasons.join(", ")
            )
        })
        .collect();
    expected.assert_eq(&described.join("\n"));
}

#[test]
fn a_khmer_only_enrolment_finds_the_latin_and_khmer_records() {
    check(
        &record("ជា សុភា", "", "F", "1980-03-12", "01020101", ""),
        expect![[r#"
        r1 same person: family=same phonetic key, given=same phonetic key, name_km=exact, birth_date=exact, village=same village, sex=same
        r2 same person: family=same phonetic key, given=same phonetic key, name_km=exact, birth_date=exact, village=same village, sex=same"#]],
    );
}

#[test]
fn a_latin_only_enrolment_with_swapped_names_finds_the_khmer_record() {
    check(
        &record("", "SREYMOM KHIEV", "F", "1962", "01020101", ""),
        expect![
            "r6 same person: family=exact, given=same phonetic key, birth_date=same year, village=same village, sex=same (swapped)"
        ],
    );
}

#[test]
fn a_stranger_has_no_candidates() {
    check(
        &record("", "PEN BOPHA", "F", "1999-09-09", "01020102", ""),
        expect![[r#""#]],
    );
}

#[test]
fn a_corrected_record_replaces_its_old_version_and_a_removed_one_is_gone() {
    let (records, _) = read_records(REGISTER.as_bytes(), None).expect("register");
    // The shipped model: EM on six records is too weak a fit to tell a corrected record apart.
    let mut index = Index::new(linkage::Model::shipped().unwrap(), test_options());
    for record in &records {
        index.insert(record);
    }
    let ids = |index: &Index, query: &Record| -> Vec<String> {
        index
            .candidates(query)
            .into_iter()
            .map(|c| c.record_id)
            .collect()
    };
    // r1 checked against the index it is in: it finds r2, never itself.
    assert_eq!(ids(&index, &records[0]), ["r2"]);
    // r2 corrected to another person: r1 no longer finds it, and the index still counts it once.
    let mut corrected = records[1].clone();
    corrected.name_km = linkage::normalize::normalize_khmer("កែវ ម៉ាលី");
    corrected.name_latin = "KEO MALY".into();
    corrected.birth_date = BirthDate::parse("1990-01-01").ok();
    index.insert(&corrected);
    assert_eq!(index.len(), records.len());
    assert!(ids(&index, &records[0]).is_empty());
    assert_eq!(ids(&index, &records[4]), ["r2"]);
    // Removed (merged away): gone from every answer.
    assert!(index.remove("r2"));
    assert!(!index.remove("r2"));
    assert!(!index.contains("r2"));
    assert!(ids(&index, &records[4]).is_empty());
    assert_eq!(index.len(), records.len() - 1);
}

#[test]
fn the_prior_follows_the_size_of_the_index() {
    let (records, _) = read_records(REGISTER.as_bytes(), None).expect("register");
    let model = linkage::Model::shipped().unwrap();
    let mut index = Index::new(model.clone(), test_options());
    for record in &records {
        index.insert(record);
    }
    let weight = |index: &Index| {
        let candidates = index.candidates(&records[0]);
        assert_eq!(candidates.len(), 1, "{candidates:?}");
        candidates[0].match_weight
    };
    let small = weight(&index);
    // More people than the model was trained on, each without names or a date (so no block and no name frequency
    // changes): only the size of the index changes, and with it the prior of every pair. (Below the training
    // population the prior stays the trained one.)
    let extra = model.training_records() + 20_000;
    for n in 0..extra {
        index.insert(&Record {
            record_id: format!("other{n}"),
            ..Record::default()
        });
    }
    let large = weight(&index);
    let odds = |p: f64| (p / (1.0 - p)).log2();
    let expected =
        odds(model.prior_for(index.len() as u64)) - odds(model.prior_for(records.len() as u64));
    assert!(expected < -0.5, "{expected}");
    assert!(
        (large - small - expected).abs() < 1e-9,
        "{small} -> {large}, expected a shift of {expected}"
    );
}
