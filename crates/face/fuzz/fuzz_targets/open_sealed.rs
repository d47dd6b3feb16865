//! Fuzz what reads a stored face: the sealed value (`dspp_vault`, as the registry stores embeddings) and the
//! embedding byte decoder. Any bytes give an embedding or an error, never a panic; an embedding that decodes
//! re-seals and re-opens to itself.
#![no_main]

use dspp_vault::{Key, Keyring};
use face::Embedding;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = Key::parse("fuzz", &"5a".repeat(32)) else {
        return;
    };
    let keyring = Keyring::new(key, Vec::new());
    if let Ok(plain) = keyring.open(data, b"record") {
        let _ = Embedding::from_bytes(&plain);
    }
    if let Ok(embedding) = Embedding::from_bytes(data) {
        if let Ok(sealed) = keyring.seal(&embedding.to_bytes(), b"record", [3; 12]) {
            let opened = keyring.open(&sealed, b"record").ok();
            assert_eq!(opened.and_then(|plain| Embedding::from_bytes(&plain).ok()), Some(embedding));
        }
    }
});
