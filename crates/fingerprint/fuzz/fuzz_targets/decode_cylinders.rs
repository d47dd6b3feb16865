//! Fuzz the stored-cylinders reader (`MccTemplate::from_bytes`): it must never panic; what it accepts must write back
//! to the same bytes and compare with a real template (both ways, the same score, within [0, 1]).
#![no_main]

use std::sync::LazyLock;

use fingerprint::synth::{SynthParams, finger};
use fingerprint::{MccMatcher, MccTemplate};
use libfuzzer_sys::fuzz_target;

static OTHER: LazyLock<MccTemplate> = LazyLock::new(|| {
    MccTemplate::new(&finger(3, &SynthParams::default()).expect("a synthetic finger"))
});

fuzz_target!(|data: &[u8]| {
    let Ok(template) = MccTemplate::from_bytes(data) else {
        return;
    };
    assert_eq!(template.to_bytes(), data);
    let mut matcher = MccMatcher::new();
    let score = matcher.similarity(&template, &OTHER);
    assert!((0.0..=1.0).contains(&score), "{score}");
    let _ = matcher.similarity(&OTHER, &template);
    let _ = matcher.similarity(&template, &template);
});
