//! Fuzz the reader of sealed (encrypted) embeddings and the embedding byte decoder: any bytes give
//! an embedding or an error, never a panic; a sealed embedding that opens re-seals and re-opens.
#![no_main]

use face::{Embedding, EmbeddingKey, Keyring};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = EmbeddingKey::parse("fuzz", &"5a".repeat(32)) else {
        return;
    };
    let keyring = Keyring::new(key, Vec::new());
    let _ = keyring.open(data, b"record");
    if let Ok(embedding) = Embedding::from_bytes(data) {
        let sealed = keyring.seal(&embedding, b"record", [3; 12]);
        if let Ok(sealed) = sealed {
            assert_eq!(keyring.open(&sealed, b"record").ok(), Some(embedding));
        }
    }
});
