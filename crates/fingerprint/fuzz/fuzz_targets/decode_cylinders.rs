//! Fuzz the stored-cylinders reader (`MccTemplate::from_bytes`): it must never panic; what it accepts must write back
//! to the same bytes and compare with a real template (both ways, the same score, within [0, 1]). The same bytes read
//! into one template kept from input to input (`MccTemplate::read_bytes`, as the registry re-ranks) must give the
//! same template, and an input it refuses must leave it empty.
#![no_main]

use std::cell::RefCell;
use std::sync::LazyLock;

use fingerprint::synth::{SynthParams, finger};
use fingerprint::{MccMatcher, MccTemplate};
use libfuzzer_sys::fuzz_target;

static OTHER: LazyLock<MccTemplate> = LazyLock::new(|| {
    MccTemplate::new(&finger(3, &SynthParams::default()).expect("a synthetic finger"))
});

thread_local! {
    static REUSED: RefCell<MccTemplate> = RefCell::new(OTHER.clone());
}

fuzz_target!(|data: &[u8]| {
    let read = REUSED.with_borrow_mut(|reused| {
        let read = reused.read_bytes(data).map(|()| format!("{reused:?}"));
        if read.is_err() {
            assert!(reused.is_empty());
        }
        read
    });
    let Ok(template) = MccTemplate::from_bytes(data) else {
        assert!(read.is_err());
        return;
    };
    assert_eq!(read.ok(), Some(format!("{template:?}")));
    assert_eq!(template.to_bytes(), data);
    let mut matcher = MccMatcher::new();
    let score = matcher.similarity(&template, &OTHER);
    assert!((0.0..=1.0).contains(&score), "{score}");
    let _ = matcher.similarity(&OTHER, &template);
    let _ = matcher.similarity(&template, &template);
});
