//! Fuzz the fingerprint index loader (`ThumbIndex::read_from`): it must never panic; what it accepts must save to a
//! file that loads again and saves to the same bytes, and must answer a search.
#![no_main]

use std::sync::LazyLock;

use fingerprint::synth::{SynthParams, finger};
use fingerprint::{MccTemplate, ThumbCodes, ThumbIndex, ThumbKeys};
use libfuzzer_sys::fuzz_target;

/// A probe of two synthetic thumbs, so that a search reads whatever lists of the loaded index its keys name.
static PROBE: LazyLock<ThumbCodes> = LazyLock::new(|| {
    let keys = |seed| {
        let template = finger(seed, &SynthParams::default()).expect("a synthetic finger");
        Some(ThumbKeys::from_mcc(&MccTemplate::new(&template)))
    };
    ThumbCodes {
        right: keys(1),
        left: keys(2),
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(index) = ThumbIndex::read_from(&mut &data[..]) else {
        return;
    };
    let mut saved = Vec::new();
    index.write_to(&mut saved).expect("an accepted index saves");
    let again = ThumbIndex::read_from(&mut saved.as_slice()).expect("a saved index loads");
    let mut resaved = Vec::new();
    again.write_to(&mut resaved).expect("an accepted index saves");
    assert_eq!(saved, resaved);
    let _ = again.search(&PROBE, 5, 1);
});
