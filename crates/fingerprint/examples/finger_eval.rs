//! Evaluate MCC and Bozorth3 on a folder of FINGER_IMPRESSION images (default: the shared
//! FVC2002 DB2_B at 569 dpi) and print the ISO/IEC 19795-style report.
//!
//! `cargo run --release -p fingerprint --example finger_eval -- [DIR] [DPI]`

use std::path::PathBuf;

use fingerprint::{EvalOptions, evaluate};

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
    let options = EvalOptions {
        dpi,
        ..EvalOptions::default()
    };
    let report = evaluate(&dir, &options)?;
    print!("{report}");
    let det = std::env::temp_dir().join("fingerprint-det.png");
    report.write_det_png(&det)?;
    println!(
        "DET curve (MCC red, Bozorth3 blue; FMR 1e-4..1 across, FNMR 1e-4..1 up): {}",
        det.display()
    );
    Ok(())
}
