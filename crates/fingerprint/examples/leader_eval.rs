//! Evaluate MCC and Bozorth3 on LEADER minutiae instead of MINDTCT's, for the extractor choice.
//!
//! `ORT_DYLIB=/path/libonnxruntime.so cargo run --release -p fingerprint --features leader --example leader_eval -- [DIR] [DPI]`

use std::path::PathBuf;

use fingerprint::{EvalOptions, LeaderExtractor, ViewInfo, evaluate_with};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/data/fingerprints/fvc2002-db2b"
            ))
        },
        PathBuf::from,
    );
    let dpi = args.next().map_or(Ok(569), |d| d.parse())?;
    let runtime = std::env::var("ORT_DYLIB").map_err(|_| "set ORT_DYLIB to libonnxruntime.so")?;
    let model = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/models/finger-minutiae-leader.onnx"
    ));
    let mut leader = LeaderExtractor::new(runtime.as_ref(), &model)?;
    let options = EvalOptions {
        dpi,
        ..EvalOptions::default()
    };
    let report = evaluate_with(&dir, &options, &mut |image| {
        leader.extract(image, ViewInfo::default())
    })?;
    print!("{report}");
    Ok(())
}
