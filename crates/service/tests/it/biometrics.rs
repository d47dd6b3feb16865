//! Biometrics end to end on real fingerprints (FVC2002 DB2_B from ../shared): two thumbs captured as images or as
//! ISO templates, or recorded as an exception; the 1:N check finds a person enrolled twice under another name and
//! opens a fingerprint case in the adjudication queue; 1:1 verification at a service point, recorded; templates are
//! sealed at rest; bad captures are refused with what to do.

use std::path::PathBuf;

use dspp_domain::{BiometricStatus, Spid};
use dspp_service::{
    BiometricSettings, CaseFilter, CaseStatus, ExceptionReason, FingerprintSettings, PersonInput,
    Registry, ServiceError, Thumb, ThumbInput, ThumbsInput,
};
use dspp_testkit::on_both_stores;
use fingerprint::{FingerImage, MinutiaeRecord, RecordFormat, ViewInfo};

use crate::enrolment::the_family;
use crate::support::{Harness, VILLAGE, officer};

fn image_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/fingerprints/fvc2002-db2b")
        .join(format!("{name}.tif"))
}

/// A capture as the scanner sends it: the TIFF image at the sensor's 569 dpi.
fn image(name: &str) -> ThumbInput {
    ThumbInput::Images {
        images: vec![std::fs::read(image_path(name)).unwrap()],
        dpi: 569,
    }
}

/// A capture as a scanner SDK sends it: an ISO/IEC 19794-2 template of the image's minutiae.
fn template(name: &str) -> ThumbInput {
    let view = fingerprint::extract(
        &FingerImage::open(&image_path(name), 569).unwrap(),
        ViewInfo::default(),
    )
    .unwrap();
    ThumbInput::Template {
        format: RecordFormat::Iso19794_2_2005,
        bytes: MinutiaeRecord::parse(0, 0, vec![view])
            .unwrap()
            .encode(RecordFormat::Iso19794_2_2005),
    }
}

fn keyring() -> dspp_vault::Keyring {
    dspp_vault::Keyring::new(
        dspp_vault::Key::parse("test-2026", &"4b".repeat(32)).unwrap(),
        vec![],
    )
}

fn with_biometrics(h: &Harness) -> Registry {
    h.registry
        .clone()
        .with_biometrics(BiometricSettings {
            fingerprint: Default::default(),
            keyring: keyring(),
            face: None,
        })
        .unwrap()
}

/// Another server on the harness's database (with in-memory indexes of its own), as configured.
fn another_server(
    h: &Harness,
    seed: u64,
    keyring: dspp_vault::Keyring,
    fingerprint: FingerprintSettings,
) -> Registry {
    Registry::new(h.registry.store().clone(), h.clock.clone(), Some(seed))
        .with_biometrics(BiometricSettings {
            fingerprint,
            keyring,
            face: None,
        })
        .unwrap()
}

/// Why `registry` refuses to load the saved index `saved`.
async fn load_refused(registry: &Registry, saved: &[u8]) -> String {
    registry
        .load_fingerprint_index(&mut &saved[..])
        .await
        .unwrap_err()
        .to_string()
}

async fn stranger(registry: &Registry, given_km: &str, given_latin: &str) -> Spid {
    let input = PersonInput {
        family_km: "ចាន់".into(),
        given_km: given_km.into(),
        family_latin: "CHAN".into(),
        given_latin: given_latin.into(),
        sex: "male".into(),
        birth_date: "1971-06-02".into(),
        village: Some(VILLAGE.into()),
        ..PersonInput::default()
    };
    let (view, warnings) = registry
        .register_person(&officer(), &input, None)
        .await
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    view.person.spid
}

async fn a_person_enrolled_twice_under_another_name_is_found_by_fingerprints(h: Harness) {
    let registry = with_biometrics(&h);
    let (_, grandmother, daughter, _) = the_family(&h).await;

    // The grandmother gives both thumbs as images: the best capture is kept, its minutiae extracted.
    let first = registry
        .record_fingerprints(
            &officer(),
            grandmother,
            ThumbsInput {
                right: image("101_1"),
                left: image("102_1"),
            },
            "enrolment",
        )
        .await
        .unwrap();
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert!(matches!(first.status, BiometricStatus::Unique { .. }));
    assert_eq!(first.parts.len(), 2);
    assert!(first.parts.iter().all(|p| p.status == "captured"
        && p.format.as_deref() == Some("iso-19794-2:2005")
        && p.quality.is_some_and(|q| q > 0)));

    // Her daughter's left thumb cannot be read: an exception, and she still enrols.
    let second = registry
        .record_fingerprints(
            &officer(),
            daughter,
            ThumbsInput {
                right: template("103_1"),
                left: ThumbInput::Exception {
                    reason: ExceptionReason::Unreadable,
                    note: "ridges worn flat; six attempts".into(),
                },
            },
            "enrolment",
        )
        .await
        .unwrap();
    assert!(second.warnings.is_empty(), "{:?}", second.warnings);
    let left = second
        .parts
        .iter()
        .find(|p| p.part == "left_thumb")
        .unwrap();
    assert_eq!(left.status, "exception");
    assert_eq!(left.exception_reason.as_deref(), Some("unreadable"));
    // The grandmother was compared (her thumbs were in the registry).
    assert!(second.compared >= 1, "{}", second.compared);

    // Someone else, different fingers: no case.
    let other = stranger(&registry, "វិចិត្រ", "VICHET").await;
    let clean = registry
        .record_fingerprints(
            &officer(),
            other,
            ThumbsInput {
                right: template("104_1"),
                left: template("105_1"),
            },
            "enrolment",
        )
        .await
        .unwrap();
    assert!(clean.warnings.is_empty(), "{:?}", clean.warnings);

    // The grandmother again, under another name in a new record: her other impressions find her.
    let again = stranger(&registry, "សុភាព", "SOPHEAP").await;
    let found = registry
        .record_fingerprints(
            &officer(),
            again,
            ThumbsInput {
                right: template("101_2"),
                left: template("102_2"),
            },
            "enrolment",
        )
        .await
        .unwrap();
    assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
    let warning = &found.warnings[0];
    assert_eq!(warning.code, "possible_duplicate");
    assert_eq!(warning.spids, vec![grandmother]);
    let hint = warning.duplicate.clone().unwrap();
    assert_eq!(hint.proposal, "same_person", "{hint:?}");
    let thumbs: Vec<&str> = hint
        .evidence
        .fields
        .iter()
        .map(|l| l.field.as_str())
        .collect();
    assert_eq!(thumbs, ["right_thumb", "left_thumb"]);
    assert!(matches!(
        found.status,
        BiometricStatus::PossibleDuplicate { .. }
    ));

    // The case is in the same queue as biographic ones, from the fingerprint engine.
    let cases = registry
        .duplicate_cases(
            &crate::enrolment::council(),
            &CaseFilter {
                status: Some(CaseStatus::Open),
                limit: 50,
                ..CaseFilter::default()
            },
        )
        .await
        .unwrap();
    let case = cases.iter().find(|c| c.id == hint.case_id).unwrap();
    assert_eq!(case.source, "fingerprint");
    assert!(
        [case.a.person.spid, case.b.person.spid].contains(&grandmother)
            && [case.a.person.spid, case.b.person.spid].contains(&again)
    );

    // Suppose the reviewer finds two people (twins, say): the new record is unique again, its assurance follows.
    registry
        .decide_duplicate(
            &crate::enrolment::chief(),
            &hint.case_id,
            &dspp_service::CaseDecision::DifferentPeople,
            "twins, seen together at the commune office",
        )
        .await
        .unwrap();
    let record = registry
        .person(&officer(), again)
        .await
        .unwrap()
        .person
        .record;
    assert!(
        matches!(record.biometric_status, BiometricStatus::Unique { .. }),
        "{:?}",
        record.biometric_status
    );

    // Templates are sealed at rest: no ISO record in the clear, and a sealed value moved to another person's row
    // does not open.
    let mut tx = h.registry.store().begin().await.unwrap();
    let person = tx.person_by_spid(grandmother).await.unwrap().unwrap();
    let rows = tx.current_biometrics(&person.id.to_string()).await.unwrap();
    tx.commit().await.unwrap();
    for row in &rows {
        let sealed = row.sealed.as_ref().unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"FMR\0"));
        assert!(!sealed.windows(8).any(|w| w == b"DSPPMCC1"));
        // Opened: the ISO record (after the layout's magic and the record's length), then its cylinders.
        let plain = keyring()
            .open(
                sealed,
                format!("biometric/{}/{}", person.id, row.part).as_bytes(),
            )
            .unwrap();
        assert!(plain.starts_with(b"DSPPTHM1"));
        assert_eq!(&plain[12..16], b"FMR\0");
        let length = u32::from_le_bytes(plain[8..12].try_into().unwrap()) as usize;
        let cylinders = fingerprint::MccTemplate::from_bytes(&plain[12 + length..]).unwrap();
        assert!(cylinders.len() >= 10, "{} cylinders", cylinders.len());
        assert!(
            keyring()
                .open(sealed, b"biometric/someone-else/right_thumb")
                .is_err()
        );
    }
}

async fn verification_at_a_service_point_is_decided_and_recorded(h: Harness) {
    let registry = with_biometrics(&h);
    let (_, grandmother, daughter, _) = the_family(&h).await;
    for (spid, right, left) in [(grandmother, "106_1", "107_1"), (daughter, "108_1", "")] {
        let left = if left.is_empty() {
            ThumbInput::Exception {
                reason: ExceptionReason::Amputated,
                note: "left thumb amputated after a farm accident".into(),
            }
        } else {
            template(left)
        };
        registry
            .record_fingerprints(
                &officer(),
                spid,
                ThumbsInput {
                    right: template(right),
                    left,
                },
                "enrolment",
            )
            .await
            .unwrap();
    }
    let same = registry
        .verify_fingerprint(&officer(), grandmother, Thumb::Right, template("106_4"))
        .await
        .unwrap();
    assert!(same.matched, "{same:?}");
    assert!(same.false_match_rate.unwrap() < 1e-3, "{same:?}");
    let impostor = registry
        .verify_fingerprint(&officer(), grandmother, Thumb::Right, template("108_2"))
        .await
        .unwrap();
    assert!(!impostor.matched, "{impostor:?}");
    assert!(impostor.score < same.score);

    // The daughter's left thumb is an exception: verification says so and points elsewhere.
    let error = registry
        .verify_fingerprint(&officer(), daughter, Thumb::Left, template("108_2"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ServiceError::Conflict(m) if m.contains("amputated") && m.contains("other thumb")),
        "{error}"
    );

    // The exception is in the audit report of the commune, with who recorded it; a program operator may not read it.
    let (items, counts) = registry
        .biometric_exceptions(&officer(), None)
        .await
        .unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].spid, daughter.to_string());
    assert_eq!(
        (items[0].part.as_str(), items[0].reason.as_str()),
        ("left_thumb", "amputated")
    );
    assert_eq!(items[0].recorded_by, "officer.sokha");
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].people, 1);
    let operator = crate::support::actor(
        "nsaf.operator",
        dspp_domain::Role::ProgramOperator,
        "program:nsaf",
    );
    assert!(matches!(
        registry.biometric_exceptions(&operator, None).await,
        Err(ServiceError::Forbidden(_))
    ));

    // Both checks are on record.
    let mut tx = h.registry.store().begin().await.unwrap();
    let person = tx.person_by_spid(grandmother).await.unwrap().unwrap();
    let checks = tx
        .biometric_checks(&person.id.to_string(), 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks.iter().filter(|c| c.matched).count(), 1, "{checks:?}");
}

async fn bad_captures_are_refused_with_what_to_do(h: Harness) {
    let registry = with_biometrics(&h);
    let (_, grandmother, _, _) = the_family(&h).await;
    let ThumbInput::Template { bytes, format } = template("101_1") else {
        unreachable!()
    };
    let error = registry
        .record_fingerprints(
            &officer(),
            grandmother,
            ThumbsInput {
                right: ThumbInput::Template {
                    format,
                    bytes: bytes[..40].to_vec(),
                },
                left: ThumbInput::Exception {
                    reason: ExceptionReason::Missing,
                    note: "  ".into(),
                },
            },
            "enrolment",
        )
        .await
        .unwrap_err();
    let ServiceError::Invalid(problems) = error else {
        panic!("{error}")
    };
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["right_thumb", "left_thumb"], "{problems:?}");
    assert!(problems[0].reason.starts_with("template: "), "{problems:?}");
    assert!(problems[1].reason.contains("needs a note"), "{problems:?}");

    // An image that is not a fingerprint image, and too many captures.
    let error = registry
        .record_fingerprints(
            &officer(),
            grandmother,
            ThumbsInput {
                right: ThumbInput::Images {
                    images: vec![b"not an image".to_vec()],
                    dpi: 500,
                },
                left: ThumbInput::Images {
                    images: vec![vec![0; 10]; 7],
                    dpi: 500,
                },
            },
            "enrolment",
        )
        .await
        .unwrap_err();
    let ServiceError::Invalid(problems) = error else {
        panic!("{error}")
    };
    assert!(problems[0].reason.starts_with("image 1: "), "{problems:?}");
    assert!(problems[1].reason.contains("send 1 to 6"), "{problems:?}");

    // Nothing was stored.
    assert!(
        registry
            .biometrics_of(&officer(), grandmother)
            .await
            .unwrap()
            .is_empty()
    );

    // A registry without a biometric key says so.
    let error = h
        .registry
        .record_fingerprints(
            &officer(),
            grandmother,
            ThumbsInput {
                right: template("101_1"),
                left: template("102_1"),
            },
            "enrolment",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::NotConfigured(_)), "{error}");
}

async fn the_fingerprint_index_is_saved_sealed_and_loaded_again(h: Harness) {
    let registry = with_biometrics(&h);
    let (_, grandmother, daughter, _) = the_family(&h).await;
    for (spid, right, left) in [
        (grandmother, "101_1", "102_1"),
        (daughter, "103_1", "104_1"),
    ] {
        registry
            .record_fingerprints(
                &officer(),
                spid,
                ThumbsInput {
                    right: template(right),
                    left: template(left),
                },
                "enrolment",
            )
            .await
            .unwrap();
    }
    let mut saved = Vec::new();
    registry.save_fingerprint_index(&mut saved).await.unwrap();
    // Sealed: no code word of the index in the clear (the magic of the engine's format is not visible either).
    assert!(!saved.windows(8).any(|w| w == b"DSPPFIX6"));

    // A restarted server loads it and finds the grandmother enrolled again.
    let restarted = another_server(&h, 5, keyring(), FingerprintSettings::default());
    assert_eq!(
        restarted
            .load_fingerprint_index(&mut saved.as_slice())
            .await
            .unwrap(),
        2
    );
    let again = stranger(&restarted, "សុភាព", "SOPHEAP").await;
    let found = restarted
        .record_fingerprints(
            &officer(),
            again,
            ThumbsInput {
                right: template("101_2"),
                left: template("102_2"),
            },
            "enrolment",
        )
        .await
        .unwrap();
    assert_eq!(
        found.warnings[0].spids,
        vec![grandmother],
        "{:?}",
        found.warnings
    );

    // Refused: a damaged file, another key, another database.
    let mut damaged = saved.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    assert!(
        restarted
            .load_fingerprint_index(&mut damaged.as_slice())
            .await
            .is_err()
    );
    let other_key = another_server(
        &h,
        6,
        dspp_vault::Keyring::new(
            dspp_vault::Key::parse("other", &"99".repeat(32)).unwrap(),
            vec![],
        ),
        FingerprintSettings::default(),
    );
    assert!(
        other_key
            .load_fingerprint_index(&mut saved.as_slice())
            .await
            .is_err()
    );
    let elsewhere = crate::support::harness_like(&h).await;
    let error = load_refused(&with_biometrics(&elsewhere), &saved).await;
    assert!(error.contains("another database"), "{error}");

    // Configured to post one key value in 2: the saved index (every key) is not loaded, and the index built from the
    // store with that share finds her as well.
    let sampled = another_server(
        &h,
        7,
        keyring(),
        FingerprintSettings {
            share: (1, 2),
            ..Default::default()
        },
    );
    let error = load_refused(&sampled, &saved).await;
    assert!(
        error.contains("1 key values in 1, the configuration 1 in 2"),
        "{error}"
    );
    // Configured with another list cap: not loaded either.
    let capped = another_server(
        &h,
        8,
        keyring(),
        FingerprintSettings {
            list_cap: 1_000,
            ..Default::default()
        },
    );
    let error = load_refused(&capped, &saved).await;
    assert!(
        error.contains("lists grow to 50000 postings, the configuration's to 1000"),
        "{error}"
    );
    let third = stranger(&sampled, "វិចិត្រ", "VICHET").await;
    let found = sampled
        .record_fingerprints(
            &officer(),
            third,
            ThumbsInput {
                right: template("101_3"),
                left: template("102_3"),
            },
            "enrolment",
        )
        .await
        .unwrap();
    assert!(
        found
            .warnings
            .iter()
            .any(|w| w.spids.contains(&grandmother)),
        "{:?}",
        found.warnings
    );
}

/// Two servers on one database (two registries, each with its own in-memory index) capture the same person's
/// thumbs under two records at the same moment: whatever the interleaving, the later capture sees the earlier one
/// (in its write transaction, past the store's serialisation point), so a duplicate never passes unseen. Each round
/// a fresh pair; both captures start together.
async fn two_captures_of_one_person_at_once_do_not_miss_each_other(h: Harness) {
    let (one, two) = (with_biometrics(&h), with_biometrics(&h));
    let fingers = [
        ("101", "102"),
        ("103", "104"),
        ("105", "106"),
        ("107", "108"),
        ("109", "110"),
    ];
    // Ten people nothing biographic links: other families, sexes, years, names.
    let people = [
        ("សុខ", "SOK", "ដារ៉ា", "DARA", "male", "1950-01-11"),
        ("ឈឹម", "CHHIM", "សុភា", "SOPHEA", "female", "1961-03-22"),
        ("ម៉ៅ", "MAO", "វណ្ណា", "VANNA", "male", "1972-05-03"),
        ("គង់", "KONG", "ចន្ថា", "CHANTHA", "female", "1983-07-14"),
        ("ហេង", "HENG", "ពិសិដ្ឋ", "PISETH", "male", "1994-09-25"),
        ("លី", "LY", "បុប្ផា", "BOPHA", "female", "1955-11-06"),
        ("ទេព", "TEP", "វិសាល", "VISAL", "male", "1966-02-17"),
        ("នួន", "NUON", "រតនា", "RATANA", "female", "1977-04-28"),
        ("ស៊ុន", "SUN", "កុសល", "KOSAL", "male", "1988-06-09"),
        ("យឹម", "YIM", "ស្រីពៅ", "SREYPOV", "female", "1999-08-20"),
    ];
    let spids = crate::support::register_strangers(&one, &people).await;
    for (k, (right, left)) in fingers.into_iter().enumerate() {
        let (a, b) = (spids[2 * k], spids[2 * k + 1]);
        let (first, second) = (
            ThumbsInput {
                right: template(&format!("{right}_1")),
                left: template(&format!("{left}_1")),
            },
            ThumbsInput {
                right: template(&format!("{right}_4")),
                left: template(&format!("{left}_4")),
            },
        );
        let (officer_one, officer_two) = (officer(), officer());
        let (at_a, at_b) = tokio::join!(
            one.record_fingerprints(&officer_one, a, first, "enrolment"),
            two.record_fingerprints(&officer_two, b, second, "enrolment"),
        );
        let (at_a, at_b) = (at_a.unwrap(), at_b.unwrap());
        crate::support::assert_one_saw_the_other(
            (&at_a, a),
            (&at_b, b),
            &format!("fingers {right}/{left}"),
        );
    }
}

on_both_stores!(
    two_captures_of_one_person_at_once_do_not_miss_each_other,
    the_fingerprint_index_is_saved_sealed_and_loaded_again,
    a_person_enrolled_twice_under_another_name_is_found_by_fingerprints,
    verification_at_a_service_point_is_decided_and_recorded,
    bad_captures_are_refused_with_what_to_do,
);
