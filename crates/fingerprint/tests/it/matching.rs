//! MCC matching and evaluation on real prints: mates outscore strangers, and the evaluation
//! counts pairs and rates as ISO/IEC 19795-1 defines them.

use fingerprint::{EvalOptions, evaluate, match_files};

fn fvc(name: &str) -> std::path::PathBuf {
    crate::shared(&format!("data/fingerprints/fvc2002-db2b/{name}"))
}

#[test]
fn mates_outscore_strangers_on_images() {
    let genuine = match_files(&fvc("101_1.tif"), &fvc("101_2.tif"), 569).unwrap();
    let impostor = match_files(&fvc("101_1.tif"), &fvc("102_1.tif"), 569).unwrap();
    assert!(
        genuine > 2.0 * impostor,
        "genuine {genuine}, impostor {impostor}"
    );
}

#[test]
fn iso_templates_match_themselves_not_strangers() {
    let sample =
        |name: &str| crate::shared(&format!("data/fingerprints/sourceafis-samples/{name}"));
    let same = match_files(&sample("iso-probe.dat"), &sample("iso-matching.dat"), 500).unwrap();
    let different = match_files(
        &sample("iso-probe.dat"),
        &sample("iso-nonmatching.dat"),
        500,
    )
    .unwrap();
    assert!(same > 0.5, "{same}");
    assert!(different < same / 4.0, "{different} vs {same}");
}

#[test]
fn evaluation_counts_pairs_and_refuses_unreadable_images() {
    let dir = std::env::temp_dir().join(format!("fingerprint-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for finger in ["101", "102"] {
        for impression in 1..=3 {
            let name = format!("{finger}_{impression}.tif");
            std::fs::copy(fvc(&name), dir.join(&name)).unwrap();
        }
    }
    // A broken capture of a third finger: it fails to acquire and that finger to enrol.
    std::fs::write(dir.join("103_1.png"), b"not a png").unwrap();
    let options = EvalOptions {
        dpi: 569,
        bootstrap_replicates: 50,
        ..EvalOptions::default()
    };
    let report = evaluate(&dir, &options).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((report.n_images, report.n_fingers), (7, 3));
    assert_eq!(report.failed_to_acquire.len(), 1);
    assert_eq!(report.failed_to_enrol, 1);
    assert_eq!(report.matchers.len(), 2);
    for matcher in &report.matchers {
        assert_eq!(matcher.genuine.len(), 6, "{}", matcher.name);
        // 9 pairs across 101 and 102, and 6 with the failed capture, which score 0.
        assert_eq!(matcher.impostor.len(), 15, "{}", matcher.name);
    }
    let mcc = &report.matchers[0];
    assert!(mcc.eer < 0.2, "MCC EER {}", mcc.eer);
    let text = report.to_string();
    assert!(text.contains("FTA 14.29 % (1), FTE 33.33 % (1)"), "{text}");
}
