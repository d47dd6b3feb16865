//! Fuzzes the CSV importer end to end against an embedded store: it must never panic, never stop
//! early on bad input, and account for every row (imported or reported).
//!
//!     cargo fuzz run csv_import        (from the repository root; needs cargo-fuzz)
#![no_main]

use std::sync::{Arc, OnceLock};

use dspp_domain::{Actor, Purpose};
use dspp_service::{FixedClock, Registry, Store};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    registry: Registry,
    _dir: std::path::PathBuf,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = std::env::temp_dir().join(format!("dspp-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let registry = runtime.block_on(async {
            let store = Store::open_sqlite(&dir.join("registry.sqlite")).await.unwrap();
            store.migrate().await.unwrap();
            let registry = Registry::new(store, Arc::new(FixedClock::new(chrono::Utc::now())), Some(1));
            registry.load_gazetteer().await.unwrap();
            registry
        });
        Fixture { runtime, registry, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let header = b"household_ref,relationship,family_km,given_km,family_latin,given_latin,sex,birth_date,birth_village,phone,village,address_detail,documents\n";
    let mut input = header.to_vec();
    input.extend_from_slice(data);
    let actor = Actor::system(Purpose::Administration);
    let mut reported = Vec::new();
    let summary = fixture
        .runtime
        .block_on(fixture.registry.import_csv(&actor, input.as_slice(), &mut |p| reported.push(p.line)))
        .expect("bad input is reported per row, never fatal");
    assert_eq!(summary.people + summary.rejected_rows, summary.rows, "every row is imported or reported");
});
