//! The registry's biometric settings from the configuration: the sealing key (a key file, created with a random
//! key on first start when none is configured) and, when its models are present, the face engine and index.
//!
//! ```toml
//! [biometrics]
//! key_file = "/etc/dspp/biometric.key"        # "KEY-ID 64-hex-digits"; default DATA_DIR/keys/biometric.key
//! older_key_files = ["/etc/dspp/2025.key"]    # still open what they sealed (rotation)
//!
//! [biometrics.fingerprint]                   # the index; the defaults suit up to a million or so people
//! index_share = "3/4"                        # post 3 key values in 4 (17.4 GB at 10 M people; "1/1": every key)
//! list_cap = 50000                            # a list longer than this is dropped and its key no longer posted
//! hit_budget = 13500000                       # most postings a search reads per thumb (default 9000000)
//! short_list = 1000                           # candidates re-ranked with MCC per search, at least (default 200)
//! short_list_per_million = 100                # more where the registry is larger: per million people (0: fixed)
//! search_threads = 2
//!
//! [biometrics.face]
//! models = "/var/lib/dspp/models"             # face-detect-yunet.onnx and face-dlib-resnet-v1.onnx
//! onnxruntime = "/usr/lib/libonnxruntime.so"  # or ORT_DYLIB_PATH
//! photo_retention_days = 90
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::Deserialize;

/// `[biometrics]` in dspp.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiometricsConfig {
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub older_key_files: Vec<PathBuf>,
    pub face: Option<FaceConfig>,
    pub fingerprint: Option<FingerprintConfig>,
}

/// `[biometrics.fingerprint]`: the fingerprint index's layout and search (`dspp_service::FingerprintSettings`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintConfig {
    pub index_share: Option<String>,
    pub list_cap: Option<u32>,
    pub hit_budget: Option<usize>,
    pub short_list: Option<usize>,
    pub short_list_per_million: Option<usize>,
    pub search_threads: Option<usize>,
}

impl FingerprintConfig {
    /// The settings, the defaults where absent; a zero is refused by name.
    pub fn settings(&self) -> anyhow::Result<dspp_service::FingerprintSettings> {
        let defaults = dspp_service::FingerprintSettings::default();
        let positive = |name: &str, value: Option<usize>, default: usize| match value {
            Some(0) => bail!("[biometrics.fingerprint] {name} must be at least 1"),
            Some(value) => Ok(value),
            None => Ok(default),
        };
        let share = match &self.index_share {
            None => defaults.share,
            Some(text) => parse_share(text).with_context(|| {
                format!("[biometrics.fingerprint] index_share = {text:?}: KEPT/OF, 1 <= KEPT <= OF <= 255, e.g. \"1/2\"")
            })?,
        };
        Ok(dspp_service::FingerprintSettings {
            share,
            list_cap: positive(
                "list_cap",
                self.list_cap.map(|cap| cap as usize),
                defaults.list_cap as usize,
            )? as u32,
            hit_budget: positive("hit_budget", self.hit_budget, defaults.hit_budget)?,
            short_list: positive("short_list", self.short_list, defaults.short_list)?,
            short_list_per_million: self
                .short_list_per_million
                .unwrap_or(defaults.short_list_per_million),
            search_threads: positive(
                "search_threads",
                self.search_threads,
                defaults.search_threads,
            )?,
        })
    }
}

/// `[biometrics.face]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceConfig {
    pub models: PathBuf,
    pub onnxruntime: Option<PathBuf>,
    #[serde(default = "default_retention")]
    pub photo_retention_days: u32,
    /// `[biometrics.face.index]`: the embedded index's layout (`face::IndexConfig`: dimension,
    /// quantization, hnsw_m, cells, cell_probes, cell_spill, shards, ...); the defaults when absent.
    pub index: Option<face::IndexConfig>,
}

/// The dlib model's embedding size.
const DLIB_DIMENSION: usize = 128;

fn default_retention() -> u32 {
    90
}

fn read_key(path: &Path) -> anyhow::Result<dspp_vault::Key> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("while reading {}", path.display()))?;
    let mut words = text.split_whitespace();
    let (Some(id), Some(hex), None) = (words.next(), words.next(), words.next()) else {
        bail!(
            "{}: a key file holds one line, \"KEY-ID HEX\" (64 hexadecimal digits)",
            path.display()
        );
    };
    dspp_vault::Key::parse(id, hex).with_context(|| format!("in {}", path.display()))
}

/// Creates a key file with a fresh random key, readable by its owner only.
fn create_key(path: &Path) -> anyhow::Result<dspp_vault::Key> {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let id = format!("dspp-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let key = dspp_vault::Key::from_bytes(&id, bytes)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("while creating {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("while creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{id} {}\n", key.to_hex()).as_bytes())?;
    file.sync_all()?;
    Ok(key)
}

/// "KEPT/OF" (or "OF", one value in OF).
fn parse_share(text: &str) -> anyhow::Result<(u8, u8)> {
    let (kept, of) = text.split_once('/').unwrap_or(("1", text));
    let (kept, of): (u8, u8) = (kept.trim().parse()?, of.trim().parse()?);
    if kept == 0 || kept > of {
        bail!("{kept} values kept of {of}");
    }
    Ok((kept, of))
}

/// The settings, or why face captures are off (logged, not fatal: fingerprints still work).
pub fn settings(
    config: &BiometricsConfig,
    data_dir: &Path,
) -> anyhow::Result<dspp_service::BiometricSettings> {
    let key = match &config.key_file {
        Some(path) => read_key(path)?,
        None => {
            let path = data_dir.join("keys/biometric.key");
            if path.exists() {
                read_key(&path)?
            } else {
                let key = create_key(&path)?;
                tracing::warn!(
                    path = %path.display(),
                    "created a biometric sealing key; back it up: without it no template or face on record opens"
                );
                key
            }
        }
    };
    let older = config
        .older_key_files
        .iter()
        .map(|path| read_key(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let face = match &config.face {
        None => {
            tracing::info!("face captures are off: no [biometrics.face] in the configuration");
            None
        }
        Some(face) => Some(face_settings(face, data_dir)?),
    };
    let fingerprint = config.fingerprint.clone().unwrap_or_default().settings()?;
    Ok(dspp_service::BiometricSettings {
        keyring: dspp_vault::Keyring::new(key, older),
        face,
        fingerprint,
    })
}

fn face_settings(
    config: &FaceConfig,
    data_dir: &Path,
) -> anyhow::Result<dspp_service::FaceSettings> {
    let mut engine_config = face::FaceConfig::dlib(&config.models);
    engine_config.onnxruntime = config.onnxruntime.clone();
    let engine = face::FaceEngine::from_config(&engine_config)
        .context("while starting the face engine ([biometrics.face])")?;
    let index = face::EdgeIndex::open(
        &data_dir.join("faces"),
        config
            .index
            .clone()
            .unwrap_or_else(|| face::IndexConfig::new(DLIB_DIMENSION)),
    )
    .context("while opening the face index")?;
    Ok(dspp_service::FaceSettings {
        engine: Arc::new(engine),
        index: Arc::new(index),
        photo_retention: chrono::Duration::days(i64::from(
            config.photo_retention_days.clamp(1, 3650),
        )),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_file_is_created_once_then_read_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = BiometricsConfig::default();
        let first = settings(&config, dir.path()).unwrap();
        let path = dir.path().join("keys/biometric.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "only its owner reads the key");
        }
        // The second start reads the same key: what the first sealed, the second opens.
        let sealed = first.keyring.seal(b"template", b"row", [1; 12]).unwrap();
        let second = settings(&config, dir.path()).unwrap();
        assert_eq!(second.keyring.open(&sealed, b"row").unwrap(), b"template");

        std::fs::write(&path, "only-an-id\n").unwrap();
        let error = settings(&config, dir.path()).unwrap_err();
        assert!(
            format!("{error:#}").contains("holds one line, \"KEY-ID HEX\""),
            "{error:#}"
        );
        std::fs::write(&path, format!("k1 {}", "zz".repeat(32))).unwrap();
        let error = settings(&config, dir.path()).unwrap_err();
        assert!(
            format!("{error:#}").contains("not hexadecimal"),
            "{error:#}"
        );
    }

    #[test]
    fn the_fingerprint_index_settings_are_read_and_bad_ones_refused_by_name() {
        let read = |toml_text: &str| -> anyhow::Result<dspp_service::FingerprintSettings> {
            let config: BiometricsConfig = toml::from_str(toml_text)?;
            config.fingerprint.unwrap_or_default().settings()
        };
        assert_eq!(
            read("").unwrap(),
            dspp_service::FingerprintSettings::default()
        );
        let set = read(
            "[fingerprint]\nindex_share = \"2/3\"\nlist_cap = 20000\nhit_budget = 12000000\nshort_list = 1000\nshort_list_per_million = 0\nsearch_threads = 4\n",
        )
        .unwrap();
        assert_eq!(
            set,
            dspp_service::FingerprintSettings {
                share: (2, 3),
                list_cap: 20_000,
                hit_budget: 12_000_000,
                short_list: 1000,
                short_list_per_million: 0,
                search_threads: 4,
            }
        );
        assert_eq!(
            read("[fingerprint]\nindex_share = \"2\"\n").unwrap().share,
            (1, 2)
        );
        for (bad, says) in [
            ("index_share = \"3/2\"", "index_share = \"3/2\""),
            ("index_share = \"0/2\"", "KEPT/OF"),
            ("index_share = \"half\"", "KEPT/OF"),
            ("short_list = 0", "short_list must be at least 1"),
            ("list_cap = 0", "list_cap must be at least 1"),
            ("search_threads = 0", "search_threads must be at least 1"),
            ("sampling = 2", "unknown field"),
        ] {
            let error = read(&format!("[fingerprint]\n{bad}\n")).unwrap_err();
            assert!(format!("{error:#}").contains(says), "{bad}: {error:#}");
        }
    }
}
