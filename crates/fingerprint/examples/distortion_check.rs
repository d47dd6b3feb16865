//! How realistic are the synthetic impressions of `synth::impression`? For every real finger of
//! the collection, its first impression is compared by MCC (and by the index's consistent-vote
//! score) with each of its real later impressions and with as many synthetic impressions made
//! from the first: per folder, the genuine score distributions side by side and the share of
//! genuine pairs under the impostor score that 1 in 1,000 stranger pairs of that folder reach.
//! Synthetic mates that scored higher than real ones would make the scale benchmark optimistic.
//!
//! `cargo run --release -p fingerprint --example distortion_check -- [COLLECTION]`
//! (`DISTORT=field=value,...` overrides the distortion settings, e.g. `missed=0.3`)

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use fingerprint::synth::{Distortion, impression};
use fingerprint::{MccMatcher, MccTemplate, ThumbKeys, thumb_score};
use support::population::load_collection;

fn distortion() -> Result<Distortion, Box<dyn std::error::Error>> {
    let mut d = Distortion::default();
    if let Ok(spec) = std::env::var("DISTORT") {
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or("DISTORT: name=value")?;
            let value: f32 = value.parse()?;
            let field = match name {
                "rotation" => &mut d.rotation,
                "translation" => &mut d.translation,
                "plastic_rotation" => &mut d.plastic_rotation,
                "plastic_shift" => &mut d.plastic_shift,
                "contact_radius" => &mut d.contact_radius,
                "free_radius" => &mut d.free_radius,
                "position_sd" => &mut d.position_sd,
                "direction_sd" => &mut d.direction_sd,
                "missed" => &mut d.missed,
                "spurious" => &mut d.spurious,
                "kind_flip" => &mut d.kind_flip,
                _ => return Err(format!("DISTORT: unknown setting {name}").into()),
            };
            *field = value;
        }
    }
    Ok(d)
}

fn quantiles(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((p * v.len() as f64) as usize).min(v.len() - 1)];
    format!(
        "p10 {:.4} p25 {:.4} p50 {:.4} mean {:.4}",
        q(0.1),
        q(0.25),
        q(0.5),
        v.iter().sum::<f64>() / v.len() as f64
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let list = std::env::args().nth(1);
    let d = distortion()?;
    println!("{d:?}");
    let all = load_collection(list.as_deref().map(std::path::Path::new))?;
    // Impressions by folder and finger, in file order.
    let mut by_folder: BTreeMap<String, BTreeMap<String, Vec<MccTemplate>>> = BTreeMap::new();
    let mut synthetic: BTreeMap<String, Vec<(MccTemplate, MccTemplate)>> = BTreeMap::new();
    // Each finger's first impression as a template, for making the synthetic ones.
    let mut first_of: BTreeMap<&str, &fingerprint::Template> = BTreeMap::new();
    let mut seed = 0u64;
    for imp in &all {
        let (folder, _) = imp.finger.split_once(':').unwrap_or(("", ""));
        let fingers = by_folder.entry(folder.to_owned()).or_default();
        let impressions = fingers.entry(imp.finger.clone()).or_default();
        let template = *first_of.entry(&imp.finger).or_insert(&imp.template);
        if let Some(first) = impressions.first() {
            // One synthetic impression of the first per real later impression.
            seed += 1;
            if let Ok(synth) = impression(template, seed, &d) {
                synthetic
                    .entry(folder.to_owned())
                    .or_default()
                    .push((first.clone(), MccTemplate::new(&synth)));
            }
        }
        impressions.push(MccTemplate::new(&imp.template));
    }
    let mut matcher = MccMatcher::new();
    let (mut all_real, mut all_synth) = (Vec::new(), Vec::new());
    for (folder, fingers) in &by_folder {
        // Impostor threshold: first impressions of different fingers of the folder.
        let firsts: Vec<&MccTemplate> = fingers.values().map(|v| &v[0]).collect();
        let mut impostor = Vec::new();
        for (i, a) in firsts.iter().enumerate() {
            for b in &firsts[i + 1..] {
                impostor.push(matcher.similarity(a, b));
            }
        }
        impostor.sort_by(f64::total_cmp);
        let threshold =
            impostor[((0.999 * impostor.len() as f64) as usize).min(impostor.len() - 1)];
        let mut real = Vec::new();
        let mut real_votes = Vec::new();
        for impressions in fingers.values() {
            let first_keys = ThumbKeys::from_mcc(&impressions[0]);
            for later in &impressions[1..] {
                real.push(matcher.similarity(later, &impressions[0]));
                real_votes.push(thumb_score(&ThumbKeys::from_mcc(later), &first_keys));
            }
        }
        let mut synth = Vec::new();
        let mut synth_votes = Vec::new();
        for (first, made) in synthetic.get(folder).map(Vec::as_slice).unwrap_or(&[]) {
            synth.push(matcher.similarity(made, first));
            synth_votes.push(thumb_score(
                &ThumbKeys::from_mcc(made),
                &ThumbKeys::from_mcc(first),
            ));
        }
        let under = |v: &[f64]| {
            v.iter().filter(|&&s| s <= threshold).count() as f64 / v.len().max(1) as f64
        };
        println!(
            "{folder:<28} real {:>4} pairs: MCC {} | under FMR-1e-3 threshold {:.3} | votes {}",
            real.len(),
            quantiles(&mut real.clone()),
            under(&real),
            quantiles(&mut real_votes)
        );
        println!(
            "{:<28} synth {:>3} pairs: MCC {} | under FMR-1e-3 threshold {:.3} | votes {}",
            "",
            synth.len(),
            quantiles(&mut synth.clone()),
            under(&synth),
            quantiles(&mut synth_votes)
        );
        all_real.extend(real);
        all_synth.extend(synth);
    }
    println!(
        "all real  {:>5} pairs: MCC {}",
        all_real.len(),
        quantiles(&mut all_real)
    );
    println!(
        "all synth {:>5} pairs: MCC {}",
        all_synth.len(),
        quantiles(&mut all_synth)
    );
    Ok(())
}
