//! Shared by the index examples: the shared FVC2002 DB2_B images as MINDTCT templates, extracted
//! once and cached as ISO/IEC 19794-2 records under the system's temporary folder.

#[allow(dead_code)]
pub mod population;

use std::path::{Path, PathBuf};

use fingerprint::{FingerImage, MinutiaeRecord, RecordFormat, Template, ViewInfo, extract};

/// A share of key values, `N` (one in N) or `K/N` (K in N), as `ThumbIndex::with_share` takes it.
#[allow(dead_code)]
pub fn parse_share(share: &str) -> Result<(u8, u8), Box<dyn std::error::Error>> {
    Ok(match share.split_once('/') {
        Some((kept, of)) => (kept.parse()?, of.parse()?),
        None => (1, share.parse()?),
    })
}

/// The shared DB2_B folder.
pub fn db2b() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fingerprints/fvc2002-db2b"
    ))
}

/// Every image of `dir` as (finger, template): the finger is the file name up to its last `_`;
/// templates cached by file name and size. Images MINDTCT refuses are left out with a message.
pub fn load_keyed(
    dir: &Path,
    dpi: u16,
) -> Result<Vec<(String, Template)>, Box<dyn std::error::Error>> {
    let cache = std::env::temp_dir().join("dspp-fingerprint-cache");
    std::fs::create_dir_all(&cache)?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| {
        p.extension().is_some_and(|e| {
            let e = e.to_string_lossy().to_ascii_lowercase();
            e == "tif" || e == "tiff" || e == "png" || e == "bmp" || e == "wsq"
        })
    });
    paths.sort();
    let dir_tag: String = dir
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut out = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((finger, _)) = stem.rsplit_once('_') else {
            continue;
        };
        let size = std::fs::metadata(&path)?.len();
        let cached = cache.join(format!("{dir_tag}-{name}-{size}-{dpi}.iso"));
        let template = match std::fs::read(&cached)
            .ok()
            .and_then(|bytes| MinutiaeRecord::decode_iso(&bytes).ok())
            .and_then(|record| record.into_views().into_iter().next())
        {
            Some(template) => template,
            None => {
                let extracted = FingerImage::open(&path, dpi)
                    .and_then(|image| extract(&image, ViewInfo::default()));
                let template = match extracted {
                    Ok(template) => template,
                    Err(e) => {
                        eprintln!("{}: {e}", path.display());
                        continue;
                    }
                };
                let record = MinutiaeRecord::parse(0, 0, vec![template.clone()])?;
                std::fs::write(&cached, record.encode(RecordFormat::Iso19794_2_2005))?;
                template
            }
        };
        out.push((finger.to_owned(), template));
    }
    Ok(out)
}
