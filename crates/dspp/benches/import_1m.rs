//! Import speed for issue 2: writes a CSV of N people in households of four (default 1,000,000) in the
//! documented format, then times `dspp import` of it into a fresh embedded store, and reports rows/s and
//! the peak memory of the import process.
//!
//!     cargo bench -p dspp --bench import_1m -- [N]

use std::io::{BufWriter, Write};
use std::process::Command;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("people.csv");
    let mut out = BufWriter::new(std::fs::File::create(&csv)?);
    writeln!(
        out,
        "household_ref,relationship,family_km,given_km,family_latin,given_latin,sex,birth_date,birth_village,phone,village,address_detail,documents"
    )?;
    let families = [
        ("សុខ", "SOK"),
        ("ចាន់", "CHAN"),
        ("ហេង", "HENG"),
        ("លី", "LY"),
        ("គឹម", "KIM"),
        ("ជា", "CHEA"),
    ];
    let given = [
        ("ដារ៉ា", "DARA"),
        ("ស្រីមុំ", "SREYMOM"),
        ("សុផល", "SOPHAL"),
        ("ចាន់ធី", "CHANTHY"),
    ];
    let villages = ["12010101", "12010102", "12010103", "02010101", "02010102"];
    for i in 0..n {
        let household = i / 4;
        let (relationship, sex, born) = match i % 4 {
            0 => ("head", "M", format!("{}", 1950 + household % 40)),
            1 => (
                "spouse",
                "F",
                format!(
                    "{}-0{}-1{}",
                    1955 + household % 40,
                    1 + household % 9,
                    household % 10
                ),
            ),
            _ => (
                "child",
                if i % 2 == 0 { "M" } else { "F" },
                format!(
                    "{}-1{}-2{}",
                    1990 + household % 30,
                    household % 3,
                    household % 8
                ),
            ),
        };
        let (fk, fl) = families[household % families.len()];
        let (gk, gl) = given[i % given.len()];
        let village = villages[household % villages.len()];
        let document = if i % 3 == 0 {
            format!("khmer_id_card:{:09}", i)
        } else {
            String::new()
        };
        writeln!(
            out,
            "H{household},{relationship},{fk},{gk},{fl},{gl},{sex},{born},,,{village},,{document}"
        )?;
    }
    out.flush()?;
    drop(out);
    let size = std::fs::metadata(&csv)?.len();
    eprintln!(
        "wrote {n} rows ({:.1} MB) to {}",
        size as f64 / 1e6,
        csv.display()
    );

    let data = dir.path().join("data");
    let binary = env!("CARGO_BIN_EXE_dspp");
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "peak_rss_kb=%M"])
        .arg(binary)
        .args(["--data-dir", data.to_str().unwrap_or_default(), "import"])
        .arg(&csv)
        .env("DSPP_LOG", "warn")
        .output()
        .or_else(|_| {
            Command::new(binary)
                .args(["--data-dir", data.to_str().unwrap_or_default(), "import"])
                .arg(&csv)
                .output()
        })?;
    let elapsed = started.elapsed();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Some(peak) = stderr.lines().find(|l| l.starts_with("peak_rss_kb=")) {
        println!("{peak}");
    }
    anyhow::ensure!(output.status.success(), "import failed: {stderr}");
    println!(
        "wall time including start-up and gazetteer load: {:.1} s, {:.0} rows/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
