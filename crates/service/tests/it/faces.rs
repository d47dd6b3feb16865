//! Faces end to end with the real engine (YuNet and dlib's ResNet from ../shared/models through ONNX Runtime) and
//! the embedded Qdrant Edge index: a face enrolled twice opens a face case; a photo the engine cannot use is
//! refused with the reason; 1:1 verification is recorded; the photo is deleted at its retention deadline while the
//! sealed embedding stays and still verifies.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use dspp_domain::BiometricStatus;
use dspp_service::{BiometricSettings, FaceSettings, PersonInput, Registry, ServiceError};
use dspp_testkit::on_both_stores;
use image::{Rgb, RgbImage};

use crate::enrolment::the_family;
use crate::support::{Harness, VILLAGE, officer};

fn runtime() -> PathBuf {
    if let Some(path) = face::default_runtime_path() {
        return path;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-onnxruntime");
    let output = Command::new(&script).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// One engine per test process (ONNX Runtime allows one environment per process).
fn engine() -> Arc<face::FaceEngine> {
    static ENGINE: OnceLock<Arc<face::FaceEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = face::FaceConfig::dlib(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models"),
            );
            config.onnxruntime = Some(runtime());
            Arc::new(face::FaceEngine::from_config(&config).unwrap())
        })
        .clone()
}

fn astronaut() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../face/tests/data/astronaut.jpg"))
        .unwrap()
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// The same face in another photo: mirrored and framed differently.
fn astronaut_again() -> Vec<u8> {
    let original = image::load_from_memory(&astronaut()).unwrap().to_rgb8();
    let mirrored = image::imageops::flip_horizontal(&original);
    let (width, height) = mirrored.dimensions();
    jpeg(&image::imageops::crop_imm(&mirrored, 16, 8, width - 40, height - 24).to_image())
}

fn with_faces(h: &Harness, folder: &Path) -> Registry {
    let index = face::EdgeIndex::open(folder, face::IndexConfig::new(128)).unwrap();
    h.registry
        .clone()
        .with_biometrics(BiometricSettings {
            fingerprint: Default::default(),
            keyring: dspp_vault::Keyring::new(
                dspp_vault::Key::parse("faces", &"5c".repeat(32)).unwrap(),
                vec![],
            ),
            face: Some(FaceSettings {
                engine: engine(),
                index: Arc::new(index),
                photo_retention: chrono::Duration::days(30),
            }),
        })
        .unwrap()
}

async fn a_face_enrolled_twice_opens_a_case_and_photos_expire(h: Harness) {
    let folder = tempfile::tempdir().unwrap();
    let registry = with_faces(&h, folder.path());
    let (_, grandmother, _, _) = the_family(&h).await;

    let first = registry
        .record_face(&officer(), grandmother, astronaut(), "enrolment")
        .await
        .unwrap();
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert!(matches!(first.status, BiometricStatus::Unique { .. }));
    let part = &first.parts[0];
    assert_eq!(part.part, "face");
    assert_eq!(part.format.as_deref(), Some("face-dlib-resnet-v1.onnx"));
    let kept_until = part.photo_kept_until.unwrap();
    assert_eq!(kept_until, h.registry.now() + chrono::Duration::days(30));
    // The indexes' paths read captures without their photos (tens of kilobytes each); the person's own has it.
    let mut tx = h.registry.store().begin().await.unwrap();
    let changed = tx
        .biometrics_changed_since(&["face"], None, 10)
        .await
        .unwrap();
    let person = tx.person_by_spid(grandmother).await.unwrap().unwrap();
    let own = tx.current_biometrics(&person.id.to_string()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(changed[0].photo.is_none() && changed[0].sealed.is_some());
    assert!(own[0].photo.is_some());

    // The same woman registered again under another name: her face finds her.
    let input = PersonInput {
        family_km: "ម៉ៅ".into(),
        given_km: "សុផាត".into(),
        family_latin: "MAO".into(),
        given_latin: "SOPHAT".into(),
        sex: "female".into(),
        birth_date: "1962".into(),
        village: Some(VILLAGE.into()),
        ..PersonInput::default()
    };
    let (again, _) = registry
        .register_person(&officer(), &input, None)
        .await
        .unwrap();
    let again = again.person.spid;
    let second = registry
        .record_face(&officer(), again, astronaut_again(), "enrolment")
        .await
        .unwrap();
    assert_eq!(second.warnings.len(), 1, "{:?}", second.warnings);
    assert_eq!(second.warnings[0].spids, vec![grandmother]);
    let hint = second.warnings[0].duplicate.clone().unwrap();
    assert_eq!(hint.evidence.fields[0].field, "face");
    let case = registry
        .duplicate_case(&crate::enrolment::council(), &hint.case_id)
        .await
        .unwrap();
    assert_eq!(case.source, "face");

    // 1:1 at a service point, recorded.
    let verified = registry
        .verify_face(&officer(), grandmother, astronaut_again())
        .await
        .unwrap();
    assert!(verified.matched, "{verified:?}");
    assert!(verified.score < verified.threshold);

    // A photo without a face is refused with the reason.
    let pattern = RgbImage::from_fn(320, 240, |x, y| Rgb([(x % 200) as u8, (y % 150) as u8, 90]));
    let error = registry
        .record_face(&officer(), grandmother, jpeg(&pattern), "re-capture")
        .await
        .unwrap_err();
    let ServiceError::Invalid(problems) = &error else {
        panic!("{error}")
    };
    assert_eq!(problems[0].field, "photo");
    assert!(problems[0].reason.contains("no face"), "{problems:?}");

    // Retention: nothing is due before the deadline; at it the photo goes, the embedding stays and verifies.
    assert_eq!(registry.purge_expired_photos().await.unwrap(), 0);
    h.clock.advance(chrono::Duration::days(30));
    assert_eq!(registry.purge_expired_photos().await.unwrap(), 2);
    let parts = registry
        .biometrics_of(&officer(), grandmother)
        .await
        .unwrap();
    assert_eq!(parts[0].photo_kept_until, None);
    let mut tx = h.registry.store().begin().await.unwrap();
    let person = tx.person_by_spid(grandmother).await.unwrap().unwrap();
    let rows = tx.current_biometrics(&person.id.to_string()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(rows[0].photo.is_none() && rows[0].sealed.is_some());
    assert!(
        registry
            .verify_face(&officer(), grandmother, astronaut())
            .await
            .unwrap()
            .matched
    );

    // A restart: the face index's points persist in its folder and the saved keys say whose they are, so nothing is
    // upserted again, and a third enrolment of the same face still finds her.
    let mut saved = Vec::new();
    registry.save_face_keys(&mut saved).await.unwrap();
    drop(registry);
    let restarted = with_faces(&h, folder.path());
    assert_eq!(
        restarted
            .load_face_keys(&mut saved.as_slice())
            .await
            .unwrap(),
        2
    );
    let third = PersonInput {
        given_km: "សុភា".into(),
        given_latin: "SOPHEA".into(),
        birth_date: "1966".into(),
        ..input
    };
    let (third, _) = restarted
        .register_person(&officer(), &third, None)
        .await
        .unwrap();
    let found = restarted
        .record_face(
            &officer(),
            third.person.spid,
            astronaut_again(),
            "enrolment",
        )
        .await
        .unwrap();
    let others: Vec<_> = found
        .warnings
        .iter()
        .flat_map(|w| w.spids.clone())
        .collect();
    assert!(others.contains(&grandmother), "{:?}", found.warnings);
}

/// Two offices (two registries on one database, each with its own face index) capture the same face under two
/// records at the same moment: both have searched their index before either has committed, so neither index holds
/// the other's face; the capture that commits second must still see the first. The test holds the store's
/// serialisation point (PostgreSQL: the advisory lock; SQLite: its one connection) while both captures get there,
/// so that they are in flight together.
async fn two_face_captures_of_one_person_at_once_do_not_miss_each_other(h: Harness) {
    let (folder_one, folder_two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, two) = (
        with_faces(&h, folder_one.path()),
        with_faces(&h, folder_two.path()),
    );
    let spids = crate::support::register_strangers(
        &one,
        &[
            ("សុខ", "SOK", "ដារ៉ា", "DARA", "female", "1950-01-11"),
            ("ឈឹម", "CHHIM", "សុភា", "SOPHEA", "female", "1961-03-22"),
            ("ម៉ៅ", "MAO", "វណ្ណា", "VANNA", "female", "1972-05-03"),
            ("គង់", "KONG", "ចន្ថា", "CHANTHA", "female", "1983-07-14"),
        ],
    )
    .await;
    for round in spids.chunks(2) {
        let (a, b) = (round[0], round[1]);
        let mut held = h.registry.store().begin().await.unwrap();
        held.serialize_biometric_checks().await.unwrap();
        let (first, second) = (one.clone(), two.clone());
        let at_a = tokio::spawn(async move {
            first
                .record_face(&officer(), a, astronaut(), "enrolment")
                .await
        });
        let at_b = tokio::spawn(async move {
            second
                .record_face(&officer(), b, astronaut_again(), "enrolment")
                .await
        });
        // Long enough for both photos to go through the engine and both captures to reach the point held.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        held.commit().await.unwrap();
        let (at_a, at_b) = (at_a.await.unwrap().unwrap(), at_b.await.unwrap().unwrap());
        crate::support::assert_one_saw_the_other((&at_a, a), (&at_b, b), "faces");
    }
}

on_both_stores!(
    a_face_enrolled_twice_opens_a_case_and_photos_expire,
    two_face_captures_of_one_person_at_once_do_not_miss_each_other,
);
