//! The fingerprint duplicate check in the registry path (issue 5, "plugged into the registry"): N people are
//! imported into a fresh embedded store, each then gets two thumbs recorded through `Registry::record_fingerprints`,
//! and the latency of every capture is reported by registry size. A capture is the whole use case: the template
//! checked and re-encoded, sealed, the in-memory index catching up with the store, the index search, the short list
//! re-ranked with MCC on templates read from the store and opened, the case check, the status update and the commit.
//!
//! The enrolled thumbs are synthetic (40 minutiae at random positions and directions on a 300×500 print, so no two
//! people match); at the end five real people from FVC2002 DB2_B (`../shared`) are enrolled and enrolled again under
//! new records with other impressions of the same thumbs, and the bench reports how many of the five were found.
//!
//!     cargo bench -p dspp-service --bench fingerprint_check -- [N]
//!
//! After the sequential captures, a second registry opened on the same store rebuilds its fingerprint index from every
//! stored thumb (a restart without a saved index), and the bench reports how long that took.
//!
//! `CLIENTS=k`: officers capturing at once in the peak part (8); `SHORT_LIST=k`: candidates re-ranked per search
//! (`FingerprintSettings::short_list`, 200).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dspp_domain::{Actor, ActorKind, Purpose, Role, Scope};
use dspp_service::{BiometricSettings, Registry, Store, SystemClock, ThumbInput, ThumbsInput};
use fingerprint::{
    Angle, FingerImage, ImageGeometry, Minutia, MinutiaKind, MinutiaeRecord, RecordFormat,
    Template, ViewInfo,
};
use rand::{Rng, SeedableRng};

fn officer() -> Actor {
    Actor {
        kind: ActorKind::User,
        subject: "bench.officer".into(),
        role: Role::NationalAdministrator,
        scope: Scope::National,
        delegation: None,
        purpose: Purpose::Enrolment,
    }
}

fn iso(template: Template) -> ThumbInput {
    ThumbInput::Template {
        format: RecordFormat::Iso19794_2_2005,
        bytes: MinutiaeRecord::parse(0, 0, vec![template])
            .expect("record")
            .encode(RecordFormat::Iso19794_2_2005),
    }
}

fn random_thumb(rng: &mut rand::rngs::StdRng) -> ThumbInput {
    let minutiae = (0..40)
        .map(|_| Minutia {
            x: rng.gen_range(20..280),
            y: rng.gen_range(20..480),
            angle: Angle::from_degrees(rng.gen_range(0.0..360.0)),
            kind: if rng.r#gen() {
                MinutiaKind::RidgeEnding
            } else {
                MinutiaKind::Bifurcation
            },
            quality: rng.gen_range(40..100),
        })
        .collect();
    let geometry = ImageGeometry::from_dpi(300, 500, 500).expect("geometry");
    iso(Template::parse(geometry, ViewInfo::default(), minutiae, vec![]).expect("template"))
}

fn real_thumb(name: &str) -> ThumbInput {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/fingerprints/fvc2002-db2b")
        .join(format!("{name}.tif"));
    let image = FingerImage::open(&path, 569).expect("the shared FVC2002 DB2_B images");
    iso(fingerprint::extract(&image, ViewInfo::default()).expect("minutiae"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.sqlite").display()
    ))
    .await?;
    store.migrate().await?;
    let keyring =
        dspp_vault::Keyring::new(dspp_vault::Key::parse("bench", &"3e".repeat(32))?, vec![]);
    let short_list: usize = std::env::var("SHORT_LIST")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(dspp_service::FingerprintSettings::default().short_list);
    let settings = BiometricSettings {
        fingerprint: dspp_service::FingerprintSettings {
            short_list,
            ..Default::default()
        },
        keyring,
        face: None,
    };
    let registry =
        Registry::new(store, Arc::new(SystemClock), Some(7)).with_biometrics(settings.clone())?;
    registry.load_gazetteer().await?;

    // N + 10 people, one per household, spread over the villages of one commune.
    let mut csv = Vec::new();
    writeln!(csv, "{}", dspp_service::CSV_HEADER[..14].join(","))?;
    for i in 0..n + 10 {
        // A distinct Latin given name per person (names carry no digits).
        let mut given = String::new();
        let mut rest = i;
        for _ in 0..6 {
            given.push(char::from(b'A' + (rest % 26) as u8));
            rest /= 26;
        }
        writeln!(
            csv,
            "h{i},head,,សុខ,ដារ៉ា,SOK,{given},M,{},,,1201010{},,",
            1940 + i % 60,
            1 + i % 5
        )?;
    }
    let started = Instant::now();
    let summary = registry
        .import_csv(&officer(), csv.as_slice(), &mut |problem| {
            eprintln!("import: {problem:?}")
        })
        .await?;
    eprintln!(
        "imported {} people in {:.1} s",
        summary.people,
        started.elapsed().as_secs_f64()
    );
    let mut spids = Vec::new();
    let mut after = None;
    loop {
        let page = registry
            .list_people(&officer(), Some("120101"), None, after, 500)
            .await?;
        spids.extend(page.items.iter().map(|view| view.person.spid));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(spids.len() >= n + 10, "{} people listed", spids.len());

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut bucket = Vec::new();
    let mut cases = 0;
    let buckets = [n / 10, n / 2, n];
    println!("registry size | captures | p50 | p99 | max | compared (last)");
    for (i, spid) in spids.iter().take(n).enumerate() {
        let input = ThumbsInput {
            right: random_thumb(&mut rng),
            left: random_thumb(&mut rng),
        };
        let started = Instant::now();
        let outcome = registry
            .record_fingerprints(&officer(), *spid, input, "bench")
            .await?;
        bucket.push(started.elapsed());
        cases += outcome.warnings.len();
        if buckets.contains(&(i + 1)) {
            bucket.sort();
            println!(
                "{} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {}",
                i + 1,
                bucket.len(),
                percentile(&bucket, 0.5).as_secs_f64() * 1e3,
                percentile(&bucket, 0.99).as_secs_f64() * 1e3,
                bucket.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
                outcome.compared
            );
            bucket.clear();
        }
    }
    println!("cases opened among the synthetic people: {cases}");

    // A registry opened on the same store without a saved index (a restart after a crash, or a new index layout):
    // its fingerprint index is rebuilt from every stored thumb before it answers.
    let reopened = Registry::new(registry.store().clone(), Arc::new(SystemClock), Some(8))
        .with_biometrics(settings.clone())?;
    let started = Instant::now();
    let (indexed, _) = reopened.biometric_index_sizes().await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "index rebuilt from the store: {indexed} people ({} thumbs) in {seconds:.2} s, {:.1} µs a thumb",
        2 * indexed,
        seconds * 1e6 / (2 * indexed).max(1) as f64
    );
    drop(reopened);

    // Officers capturing at once (the 8-9 a.m. peak): CLIENTS tasks (8 unless set) capture again the first
    // people's thumbs, one after another each, all against the full registry.
    let clients: usize = std::env::var("CLIENTS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8);
    let per_client = (n / clients).min(50);
    let registry = Arc::new(registry);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let registry = Arc::clone(&registry);
        let people: Vec<_> = spids[client * per_client..(client + 1) * per_client].to_vec();
        let mut rng = rand::rngs::StdRng::seed_from_u64(100 + client as u64);
        let inputs: Vec<_> = people
            .iter()
            .map(|_| ThumbsInput {
                right: random_thumb(&mut rng),
                left: random_thumb(&mut rng),
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut timings = Vec::new();
            for (spid, input) in people.into_iter().zip(inputs) {
                let started = Instant::now();
                registry
                    .record_fingerprints(&officer(), spid, input, "bench")
                    .await
                    .expect("capture");
                timings.push(started.elapsed());
            }
            timings
        }));
    }
    let mut timings = Vec::new();
    for task in tasks {
        timings.extend(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    timings.sort();
    println!(
        "{clients} officers at once, {} captures against {n} people: {:.1} captures/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        timings.len(),
        timings.len() as f64 / seconds,
        percentile(&timings, 0.5).as_secs_f64() * 1e3,
        percentile(&timings, 0.99).as_secs_f64() * 1e3,
        timings.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );

    // Five real people, then the same five under new records with other impressions.
    let fingers = ["101", "103", "105", "107", "109"];
    for (k, finger) in fingers.iter().enumerate() {
        let other = format!("{}", finger.parse::<u32>()? + 1);
        registry
            .record_fingerprints(
                &officer(),
                spids[n + k],
                ThumbsInput {
                    right: real_thumb(&format!("{finger}_1")),
                    left: real_thumb(&format!("{other}_1")),
                },
                "bench",
            )
            .await?;
    }
    let mut found = 0;
    let mut timings = Vec::new();
    for (k, finger) in fingers.iter().enumerate() {
        let other = format!("{}", finger.parse::<u32>()? + 1);
        let started = Instant::now();
        let outcome = registry
            .record_fingerprints(
                &officer(),
                spids[n + 5 + k],
                ThumbsInput {
                    right: real_thumb(&format!("{finger}_4")),
                    left: real_thumb(&format!("{other}_4")),
                },
                "bench",
            )
            .await?;
        timings.push(started.elapsed());
        if outcome
            .warnings
            .iter()
            .any(|w| w.spids.contains(&spids[n + k]))
        {
            found += 1;
        }
    }
    println!(
        "real people enrolled twice: {found} of 5 found (captures {:.1}-{:.1} ms incl. nothing else)",
        timings
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        timings
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    );
    Ok(())
}
