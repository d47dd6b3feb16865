//! Embeddings at rest: AES-256-GCM with a key from the configuration; the key id travels with the
//! ciphertext so keys can be rotated (new writes use the current key, old rows still open with
//! theirs), and the record's identifier is bound as associated data so a ciphertext moved to another
//! person's row does not open.
//!
//! Layout: `0x01 | key id length (1 byte) | key id (UTF-8) | nonce (12 bytes) | ciphertext and tag`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::{Embedding, FaceError};

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// A 256-bit key with its identifier. Its `Debug` shows the id only.
#[derive(Clone)]
pub struct EmbeddingKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for EmbeddingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl EmbeddingKey {
    /// A key from its id (1-64 characters: letters, digits, `-`, `_`, `.`) and 64 hexadecimal digits.
    pub fn parse(id: &str, hex: &str) -> Result<EmbeddingKey, FaceError> {
        let bad = |reason: String| FaceError::Crypto { reason };
        let id_ok = (1..=64).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !id_ok {
            return Err(bad(format!(
                "key id {id:?} must be 1 to 64 letters, digits, '-', '_' or '.'"
            )));
        }
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(bad(format!(
                "key {id}: {} hexadecimal digits given, 64 needed (256 bits)",
                hex.len()
            )));
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| bad(format!("key {id}: not hexadecimal at digit {}", 2 * i)))?;
        }
        Ok(EmbeddingKey {
            id: id.to_string(),
            key,
        })
    }

    /// The key's identifier.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The keys in use: the current one encrypts, any of them decrypts.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: EmbeddingKey,
    older: Vec<EmbeddingKey>,
}

impl Keyring {
    /// A keyring whose `current` key encrypts; `older` keys only decrypt.
    pub fn new(current: EmbeddingKey, older: Vec<EmbeddingKey>) -> Keyring {
        Keyring { current, older }
    }

    fn key(&self, id: &str) -> Option<&EmbeddingKey> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
    }

    /// Encrypt with the current key. `nonce` must never repeat under one key: pass 12 random
    /// bytes (the caller owns randomness); `record` is bound as associated data.
    pub fn seal(
        &self,
        embedding: &Embedding,
        record: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, FaceError> {
        let cipher = Aes256Gcm::new((&self.current.key).into());
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &embedding.to_bytes(),
                    aad: record,
                },
            )
            .map_err(|_| FaceError::Crypto {
                reason: "encryption failed".to_string(),
            })?;
        let id = self.current.id.as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        out.push(id.len() as u8);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypt what [`Keyring::seal`] wrote for the same `record`.
    pub fn open(&self, sealed: &[u8], record: &[u8]) -> Result<Embedding, FaceError> {
        let bad = |reason: String| FaceError::Crypto { reason };
        let [version, id_len, rest @ ..] = sealed else {
            return Err(bad(format!(
                "{} bytes is too short for a sealed embedding",
                sealed.len()
            )));
        };
        if *version != FORMAT_VERSION {
            return Err(bad(format!("unknown format version {version}")));
        }
        let id_len = usize::from(*id_len);
        if rest.len() < id_len + NONCE_LEN + 16 {
            return Err(bad("sealed embedding truncated".to_string()));
        }
        let (id, rest) = rest.split_at(id_len);
        let id = std::str::from_utf8(id).map_err(|_| bad("key id is not UTF-8".to_string()))?;
        let key = self
            .key(id)
            .ok_or_else(|| bad(format!("key {id:?} is not in the keyring")))?;
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new((&key.key).into());
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: record,
                },
            )
            .map_err(|_| {
                bad(format!(
                    "does not open with key {id:?}: tampered, or sealed for another record"
                ))
            })?;
        Embedding::from_bytes(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(
            EmbeddingKey::parse("k2026", &"ab".repeat(32)).unwrap(),
            vec![EmbeddingKey::parse("k2025", &"01".repeat(32)).unwrap()],
        )
    }

    #[test]
    fn round_trip_with_key_id_and_record_binding() {
        let embedding = Embedding::parse(vec![0.5, -0.25, 1.0]).unwrap();
        let sealed = keyring().seal(&embedding, b"person-1", [7; 12]).unwrap();
        assert_eq!(&sealed[2..7], b"k2026");
        assert_eq!(keyring().open(&sealed, b"person-1").unwrap(), embedding);
        let moved = keyring().open(&sealed, b"person-2").unwrap_err();
        assert!(
            moved.to_string().contains("sealed for another record"),
            "{moved}"
        );
    }

    #[test]
    fn older_key_still_opens_after_rotation() {
        let embedding = Embedding::parse(vec![3.0; 128]).unwrap();
        let old = Keyring::new(
            EmbeddingKey::parse("k2025", &"01".repeat(32)).unwrap(),
            vec![],
        );
        let sealed = old.seal(&embedding, b"p", [1; 12]).unwrap();
        assert_eq!(keyring().open(&sealed, b"p").unwrap(), embedding);
    }

    #[test]
    fn tampering_and_truncation_are_errors() {
        let embedding = Embedding::parse(vec![1.0; 4]).unwrap();
        let mut sealed = keyring().seal(&embedding, b"p", [2; 12]).unwrap();
        for cut in 0..sealed.len() {
            assert!(keyring().open(&sealed[..cut], b"p").is_err());
        }
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(keyring().open(&sealed, b"p").is_err());
    }

    #[test]
    fn key_parse_errors_are_precise() {
        assert_eq!(
            EmbeddingKey::parse("k", "abcd").unwrap_err().to_string(),
            "embedding encryption: key k: 4 hexadecimal digits given, 64 needed (256 bits)"
        );
        assert!(EmbeddingKey::parse("bad id", &"00".repeat(32)).is_err());
        assert!(EmbeddingKey::parse("k", &"zz".repeat(32)).is_err());
        assert!(!format!("{:?}", keyring()).contains("ab"));
    }
}
