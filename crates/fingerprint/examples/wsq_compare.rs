//! Compare our WSQ decoding with reference decodings: for each `NAME.wsq` given, `NAME.png`
//! beside it (another decoder's output) must match.
//!
//! `cargo run --release -p fingerprint --example wsq_compare -- DIR/*.wsq`

use std::path::PathBuf;

use fingerprint::FingerImage;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for wsq_path in std::env::args_os().skip(1).map(PathBuf::from) {
        let png_path = wsq_path.with_extension("png");
        let wsq = FingerImage::open(&wsq_path, 500);
        let png = FingerImage::open(&png_path, 500);
        match (wsq, png) {
            (Ok(wsq), Ok(png)) if (wsq.width(), wsq.height()) == (png.width(), png.height()) => {
                let diffs: Vec<u8> = wsq
                    .pixels()
                    .iter()
                    .zip(png.pixels())
                    .map(|(a, b)| a.abs_diff(*b))
                    .collect();
                let off = diffs.iter().filter(|&&d| d > 0).count();
                let worst = diffs.iter().copied().max().unwrap_or(0);
                println!(
                    "{}: {}x{}, {off} of {} pixels differ, by at most {worst}",
                    wsq_path.display(),
                    wsq.width(),
                    wsq.height(),
                    diffs.len()
                );
            }
            (Ok(wsq), Ok(png)) => println!(
                "{}: size differs: ours {}x{}, reference {}x{}",
                wsq_path.display(),
                wsq.width(),
                wsq.height(),
                png.width(),
                png.height()
            ),
            (Ok(wsq), Err(e)) => println!(
                "{}: {wsq:?} decoded; no reference ({e})",
                wsq_path.display()
            ),
            (Err(e), _) => println!("{}: {e}", wsq_path.display()),
        }
    }
    Ok(())
}
