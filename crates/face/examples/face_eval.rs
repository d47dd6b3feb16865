//! `dspp face eval` without the rest of the platform: evaluate a labelled folder (`PERSON/IMAGE.jpg`),
//! print the report, write the DET curve.
//!
//! ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime) cargo run --release -p face --example face_eval -- DIR [MODELS] [DET.png]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: face_eval DIR [MODELS] [DET.png]"),
    );
    let models = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "../shared/models".to_string()),
    );
    let det = PathBuf::from(args.next().unwrap_or_else(|| "face-det.png".to_string()));
    let engine = face::FaceEngine::from_config(&face::FaceConfig::dlib(&models)).unwrap();
    let report = face::evaluate(&engine, &dir, &face::DEFAULT_THRESHOLDS).unwrap();
    println!("{report}");
    report.write_det_png(&det).unwrap();
    println!("DET curve written to {}", det.display());
}
