//! Sealing personal data at rest (fingerprint templates, face embeddings, photos): AES-256-GCM with a
//! key from the configuration. The key id travels with the ciphertext so keys can be rotated (new
//! writes use the current key, old rows still open with theirs), and the record's identifier is bound
//! as associated data, so a ciphertext copied into another person's row does not open.
//!
//! Layout: `0x01 | key id length (1 byte) | key id (UTF-8) | nonce (12 bytes) | ciphertext and tag`.
//! The caller owns randomness: it passes a fresh 12-byte nonce for every seal.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

const FORMAT_VERSION: u8 = 1;
/// Bytes of the nonce a seal takes.
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a key could not be read or a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("key {id:?}: {reason}")]
    BadKey { id: String, reason: String },
    #[error("sealed value: {0}")]
    Unreadable(String),
    #[error("encryption failed")]
    Encryption,
}

/// A 256-bit key with its identifier. Its `Debug` shows the id only.
#[derive(Clone)]
pub struct Key {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A key from its id (1-64 characters: letters, digits, `-`, `_`, `.`) and 64 hexadecimal digits.
    pub fn parse(id: &str, hex: &str) -> Result<Key, VaultError> {
        let bad = |reason: String| VaultError::BadKey {
            id: id.to_string(),
            reason,
        };
        let id_ok = (1..=64).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !id_ok {
            return Err(bad(
                "the id must be 1 to 64 letters, digits, '-', '_' or '.'".to_string(),
            ));
        }
        let hex = hex.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad(format!(
                "{} characters given, 64 hexadecimal digits needed (256 bits)",
                hex.chars().count()
            )));
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| bad(format!("not hexadecimal at digit {}", 2 * i + 1)))?;
        }
        Ok(Key {
            id: id.to_string(),
            key,
        })
    }

    /// A key from 32 random bytes the caller drew.
    pub fn from_bytes(id: &str, bytes: [u8; 32]) -> Result<Key, VaultError> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Key::parse(id, &hex)
    }

    /// The key's identifier.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as 64 hexadecimal digits, to write into a key file.
    pub fn to_hex(&self) -> String {
        self.key.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The keys in use: the current one seals, any of them opens.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: Key,
    older: Vec<Key>,
}

impl Keyring {
    /// A keyring whose `current` key seals; `older` keys only open.
    pub fn new(current: Key, older: Vec<Key>) -> Keyring {
        Keyring { current, older }
    }

    /// The id of the key new seals use.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    fn key(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
    }

    /// Encrypts `plain` with the current key, binding `record` (e.g. the person's id and what the value
    /// is) as associated data. `nonce` must never repeat under one key: pass 12 fresh random bytes.
    pub fn seal(
        &self,
        plain: &[u8],
        record: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, VaultError> {
        let cipher = Aes256Gcm::new((&self.current.key).into());
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: record,
                },
            )
            .map_err(|_| VaultError::Encryption)?;
        let id = self.current.id.as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        // The id is at most 64 bytes (checked by `Key::parse`).
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`Keyring::seal`] wrote for the same `record`.
    pub fn open(&self, sealed: &[u8], record: &[u8]) -> Result<Vec<u8>, VaultError> {
        let bad = |reason: String| VaultError::Unreadable(reason);
        let [version, id_len, rest @ ..] = sealed else {
            return Err(bad(format!(
                "{} bytes is too short for a sealed value",
                sealed.len()
            )));
        };
        if *version != FORMAT_VERSION {
            return Err(bad(format!("unknown format version {version}")));
        }
        let id_len = usize::from(*id_len);
        if rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(bad(format!(
                "truncated: {} bytes after the header, at least {} needed",
                rest.len(),
                id_len + NONCE_LEN + TAG_LEN
            )));
        }
        let (id, rest) = rest.split_at(id_len);
        let id = std::str::from_utf8(id).map_err(|_| bad("the key id is not UTF-8".to_string()))?;
        let key = self
            .key(id)
            .ok_or_else(|| bad(format!("key {id:?} is not in the keyring")))?;
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Aes256Gcm::new((&key.key).into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: record,
                },
            )
            .map_err(|_| {
                bad(format!(
                    "does not open with key {id:?}: tampered with, or sealed for another record"
                ))
            })
    }

    /// The id of the key a sealed value was sealed with (to find rows to re-seal after a rotation).
    pub fn key_id_of(sealed: &[u8]) -> Option<&str> {
        let [FORMAT_VERSION, id_len, rest @ ..] = sealed else {
            return None;
        };
        rest.get(..usize::from(*id_len))
            .and_then(|id| std::str::from_utf8(id).ok())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(
            Key::parse("k2026", &"ab".repeat(32)).unwrap(),
            vec![Key::parse("k2025", &"01".repeat(32)).unwrap()],
        )
    }

    #[test]
    fn round_trip_binds_the_record() {
        let sealed = keyring().seal(b"template", b"person-1", [7; 12]).unwrap();
        assert_eq!(Keyring::key_id_of(&sealed), Some("k2026"));
        assert_eq!(keyring().open(&sealed, b"person-1").unwrap(), b"template");
        let moved = keyring().open(&sealed, b"person-2").unwrap_err();
        assert!(
            moved.to_string().contains("sealed for another record"),
            "{moved}"
        );
    }

    #[test]
    fn an_older_key_still_opens_after_rotation() {
        let old = Keyring::new(Key::parse("k2025", &"01".repeat(32)).unwrap(), vec![]);
        let sealed = old.seal(b"x", b"p", [1; 12]).unwrap();
        assert_eq!(keyring().open(&sealed, b"p").unwrap(), b"x");
        let unknown = Keyring::new(Key::parse("k2027", &"02".repeat(32)).unwrap(), vec![]);
        assert_eq!(
            unknown.open(&sealed, b"p").unwrap_err().to_string(),
            "sealed value: key \"k2025\" is not in the keyring"
        );
    }

    #[test]
    fn tampering_and_truncation_are_errors() {
        let mut sealed = keyring().seal(b"abc", b"p", [2; 12]).unwrap();
        for cut in 0..sealed.len() {
            assert!(keyring().open(&sealed[..cut], b"p").is_err(), "cut {cut}");
        }
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(keyring().open(&sealed, b"p").is_err());
    }

    proptest::proptest! {
        /// Whatever bytes a row holds, opening them is an answer or an error, never a panic, and never opens
        /// under the wrong record.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = keyring().open(&bytes, b"p");
            let _ = Keyring::key_id_of(&bytes);
        }

        #[test]
        fn any_value_round_trips(plain in proptest::collection::vec(proptest::num::u8::ANY, 0..500), nonce in proptest::array::uniform12(proptest::num::u8::ANY)) {
            let sealed = keyring().seal(&plain, b"row", nonce).unwrap();
            proptest::prop_assert_eq!(keyring().open(&sealed, b"row").unwrap(), plain);
            proptest::prop_assert!(keyring().open(&sealed, b"other").is_err());
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(Key::parse("", &"00".repeat(32)).is_err());
        assert!(Key::parse("a b", &"00".repeat(32)).is_err());
        assert_eq!(
            Key::parse("k", "abc").unwrap_err().to_string(),
            "key \"k\": 3 characters given, 64 hexadecimal digits needed (256 bits)"
        );
        assert_eq!(
            Key::parse("k", &format!("{}zz", "0".repeat(62)))
                .unwrap_err()
                .to_string(),
            "key \"k\": not hexadecimal at digit 63"
        );
        let key = Key::from_bytes("k", [0x5a; 32]).unwrap();
        assert_eq!(key.to_hex(), "5a".repeat(32));
        assert!(!format!("{key:?}").contains("5a"));
    }
}
